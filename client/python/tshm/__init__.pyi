"""Type stubs for the tshm package (client/python/tshm; the calls are in tshm._tshm).

Named N-d arrays in shared memory, seen as numpy arrays and torch tensors by
every process at once, zero-copy. See help(tshm) for the overview.

Decisions the types cannot say:
- Every view (ndarray, tensor, memoryview, DLPack capsule) keeps the mapping
  alive by itself: Segment.close(), Client.close() and unlink() never
  invalidate one; the memory is unmapped when the last view is gone.
- Read-only segments (open(..., writable=False), the default) give read-only
  numpy arrays and memoryviews. torch has no read-only tensors (nor DLPack 0.6
  a read-only flag), so .torch() and __dlpack__() of a read-only segment, and
  Frame.torch(), view a private copy-on-write mapping instead: in-place ops
  work and stay in this process (the kernel copies each page on its first
  write); a page not written keeps showing the producer's writes, a page once
  written no longer does. One such mapping per read-only Segment handle.
- bfloat16: .torch() gives torch.bfloat16; .numpy() raises DtypeError unless
  bfloat16_as_uint16=True; .dtype is numpy.dtype('V2').
- bool: no DLPack 0.6 code, so __dlpack__() raises DtypeError; numpy views and
  .torch() (through torch.from_numpy) work.
- uint16/uint32/uint64: .torch() raises DtypeError when torch lacks the dtype
  (torch 1.13 does); __dlpack__() exports them for numpy.from_dlpack.
- Publish and wait: seg.write() brackets an update (a seqlock in the segment
  header); seg.wait(seq) sleeps on a futex until a newer version; seg.snapshot()
  copies one whole version. Versions are 2, 4, 6, ...; odd while written.
- Streams: Client.stream_create() gives a Stream (producer); stream.loan() and
  sub.take() act at once (waiting up to their timeout) and return a Loan or a
  Frame, context managers whose __enter__ gives the slot as an ndarray (writable
  for a Loan, read-only for a Frame) and whose __exit__ publishes / releases.
  Frame numbers (Loan.seq, Frame.seq) count 1, 2, ...; a stream's .seq is twice
  the frames published. Frame.torch() gives a private copy-on-write tensor of
  the slot (as read-only segments do), the frame only while it is held;
  Loan.torch() gives a tensor over the slot.
- Blocking waits (wait, write, snapshot, loan, take, wait_any) release the GIL
  and wake every 100 ms to check signals, so Ctrl-C interrupts them.
- Many sources: wait_any() sleeps on several segments, streams and
  subscribers at once. asyncio: `await x.wait_async(seq)` and
  `await sub.take_async()` never block the event loop (a thread per waiting
  await waits; the call itself runs on the loop with timeout 0), and a
  cancelled take_async() has taken nothing.
- Clients do not survive fork(): a child must connect again (the module-level
  functions do so themselves). After a daemon restart a client's next call
  connects again by itself (libtshm); mappings are never affected. Streams,
  Subscribers, Loans and Frames inherited over fork raise ConnectError in the
  child when used (take, loan, publish, release), never moving the parent's
  cursor or loan; Segments and every view keep working there (memory).
- Pickling: Client, Segment, Stream and Subscriber pickle by socket path, name
  and access, and the receiver opens its own (handles through one Client per
  socket and process; an unpickled Client is a new connection of its own):
  multiprocessing spawn/forkserver, torch.multiprocessing and DataLoader
  workers can be handed them. An unpickled Subscriber is a new subscription
  as deep, whose first frame is the next published. The receiver opens with
  its own rights. A closed handle raises ClosedError; Frame and Loan raise
  TypeError.
- torch.multiprocessing: once tshm made a tensor, a tensor viewing an array
  segment crosses ForkingPickler (torch.multiprocessing queues, DataLoader
  workers) as a reference to the segment, not a copy: writes are seen both
  ways. A read-only or copy-on-write tensor crosses read-only (the receiver
  gets its own private view; local private writes do not travel). The segment
  is opened by name on unpickling. Tensors over stream slots (Frame.torch(),
  Loan.torch()) raise TypeError: the slot may be the next frame's by the time
  a queue pickles them; send t.clone(). tshm.torch's batches passed on from
  the training process cross as copies. tensor_origin(t) says which segment,
  and where, a tensor views.
- Tensor groups: Client.group_create() makes an unpublished group (invisible
  to everyone else, removed if its last view or its client's connection goes
  first) that publish() makes visible whole; group_open() opens a published
  one. save_state_dict()/save_arrays() do create, copy and publish;
  load_state_dict()/load_arrays() return zero-copy views in group order
  (read-only: copy-on-write tensors, non-writeable arrays). Tensor names are
  any str (UTF-8 in the group). Group tensors cross torch.multiprocessing as
  references, like segment tensors (tensor_origin() names the group and the
  byte offset from its first data byte).
"""

import builtins
import os
from types import TracebackType
from typing import (
    Any,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Literal,
    NamedTuple,
    NotRequired,
    Sequence,
    SupportsIndex,
    TypedDict,
    TypeVar,
    Union,
    overload,
)

import numpy as np
import numpy.typing as npt

__version__: str
NAME_MAX: int  # 200: characters in a segment name
MAX_NDIM: int  # 32: dimensions of an array
POPULATE_AUTO_MAX: int  # 1 GiB: the largest segment open/create populate by default

# A dtype: a name ('float32', 'bool', 'bfloat16', ...), an array-interface
# string ('<f4'), a numpy dtype or scalar type, or a torch.dtype.
DTypeLike = Union[str, np.dtype[Any], type, Any]
# A shape: an int, a sequence of ints (() for 0-d), or a str like '3x4'.
ShapeLike = Union[SupportsIndex, Sequence[SupportsIndex], str]

class StreamInfo(TypedDict):
    """A stream's ring as the daemon reports it (SegmentInfo['stream'])."""

    slots: int
    policy: Literal["block", "overwrite"]
    subscribers: int  # live subscriptions
    frames: int  # published so far

class SegmentInfo(TypedDict):
    """One segment as the daemon describes it: the keys and values of
    'tshm ls --json'."""

    name: str
    dtype: str
    shape: builtins.list[int]
    nbytes: int
    size: int  # bytes of the shm object: header plus data
    owner: int  # uid of the creator
    group: int  # its gid
    mode: str  # permission bits in octal, e.g. '0600'
    opens: int  # open handles, all clients together
    created: str  # ISO 8601 UTC, nanoseconds
    created_ns: int
    kind: Literal["array", "stream", "group"]
    backing: Literal["tmpfs", "tmpfs-huge", "hugetlbfs", "unknown"]  # /dev/shm or --shm-dir
    page_size: int  # bytes of its pages: 4096, or 2 MiB on a huge-page tmpfs; 0 unknown
    stream: NotRequired[StreamInfo]  # only for a stream
    tensors: NotRequired[int]  # only for a tensor group: how many it holds

class DaemonInfo(TypedDict):
    """The daemon's counters: the keys of 'tshm stats --json'."""

    segments: int
    bytes: int
    max_bytes: int
    clients: int
    opens: int
    requests: int
    uptime_s: float
    shm_free: int
    pid: int
    proto: int

class MirrorInfo(TypedDict):
    """One mirror: the keys of 'tshm mirror --list --json'."""

    name: str
    remote: str
    peer: str
    direction: Literal["out", "in"]
    stream: bool
    state: Literal["connecting", "live", "stale", "failed"]
    sent: int
    dropped: int
    lag_ns: int
    seq: int
    reconnects: int
    error: str

class Error(Exception):
    """Base of every error tshm raises; .code is the negative TSHM_E* value
    from libtshm, or None."""

    code: int | None

class NotFoundError(Error, FileNotFoundError):
    """No segment has that name (TSHM_ENOENT)."""

class ExistsError(Error, FileExistsError):
    """A segment with that name already exists (TSHM_EEXIST)."""

class PermissionDeniedError(Error, PermissionError):
    """Owner and mode forbid it (TSHM_EACCES)."""

class ConnectError(Error, ConnectionError):
    """No daemon answers, the connection broke, or a Client is used in a
    child of fork(); the message says how to start tshmd."""

class InvalidError(Error, ValueError):
    """A bad name, dtype, shape, mode or socket path."""

class ClosedError(Error, ValueError):
    """The Segment or Client was closed."""

class ReadOnlyError(Error, ValueError):
    """Kept for compatibility; nothing raises it now (read-only segments give
    copy-on-write tensors)."""

class DtypeError(Error, TypeError):
    """The consumer has no type for the segment's dtype (numpy: bfloat16;
    DLPack 0.6: bool; torch 1.13: uint16/32/64)."""

class NoSpaceError(Error, OSError):
    """The daemon's budget or /dev/shm is full (TSHM_ENOSPC)."""

class LimitError(Error):
    """A count limit of the daemon was reached (TSHM_ELIMIT, TSHM_ETOOBIG)."""

class NoMemoryError(Error, MemoryError):
    """Out of memory (TSHM_ENOMEM)."""

class TimeoutError(Error, builtins.TimeoutError):
    """A wait ran out its timeout: Segment.wait/write/snapshot, Stream.loan,
    Subscriber.take (TSHM_ETIMEDOUT). Also the builtin TimeoutError."""

class TornError(Error):
    """Torn data (TSHM_ETORN): a writer died or raised inside write() in the
    middle of this version. From snapshot(): .array is the copy made and .seq
    the torn version; the next complete write clears it. Leaving write() or
    publishing a Loan raises it (.array and .seq None) when the lease ran out
    and another writer broke the lock. Frame.release() raises it when an
    'overwrite' producer reused the slot while it was held."""

    array: npt.NDArray[Any] | None
    seq: int | None

class Write:
    """One update of a segment (Segment.write()). __enter__ takes the writer
    lock (up to the timeout) and returns this Write; __exit__ publishes the
    next even seq, or a torn version after an exception (which propagates)."""

    @property
    def seq(self) -> int | None:
        """The version published last by this Write, or None."""
    @property
    def active(self) -> bool: ...
    @property
    def segment(self) -> "Segment": ...
    def __enter__(self) -> "Write": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

class Read:
    """A consistent in-place read (Segment.read()). __enter__ waits while a
    write is in progress and returns a read-only view; __exit__ raises
    TornError when a write overlapped the block (read again) or the version
    was left torn by a writer."""

    @property
    def seq(self) -> int | None:
        """The version read, or None before the block is entered."""
    def __enter__(self) -> npt.NDArray[Any]: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

class Segment:
    """One opened segment; its views share memory with every process that
    opened it. Description attributes stay readable after close(); anything
    that needs the memory raises ClosedError then."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> np.dtype[Any]:
        """numpy dtype; numpy.dtype('V2') for bfloat16."""
    @property
    def dtype_name(self) -> str:
        """'float32', 'bfloat16', ..."""
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def strides(self) -> tuple[int, ...]:
        """In bytes; the data is C-contiguous."""
    @property
    def ndim(self) -> int: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def writable(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def seq(self) -> int:
        """The header's sequence counter (acquire load): the version last
        published (0, 2, 4, ...), odd while a write is in progress."""
    @property
    def publish_time(self) -> float | None:
        """When the current version was published (seconds since the epoch),
        or None."""
    @property
    def spin_us(self) -> float | None:
        """How long wait() and snapshot() spin before sleeping (microseconds);
        None until set (libtshm's default). Settable, per handle."""
    @spin_us.setter
    def spin_us(self, value: float) -> None: ...
    def write(self, timeout: float | None = None) -> Write:
        """A context manager for one update: `with seg.write(): a[:] = x`.
        PermissionDeniedError on a read-only segment."""
    def wait(self, after_seq: int, timeout: float | None = None) -> int:
        """Wait for a version newer than after_seq and return its seq; at once
        if there is one. timeout in seconds (None: forever, 0: just check).
        TimeoutError on timeout; NotFoundError ("segment 'NAME' was
        unlinked") when the segment is unlinked."""
    def wait_async(
        self, after_seq: int, timeout: float | None = None
    ) -> Coroutine[Any, Any, int]:
        """async wait(): `seq = await seg.wait_async(seq)` without blocking
        the event loop; cancelling the awaiting task ends it at once."""
    @overload
    def snapshot(
        self,
        timeout: float | None = 1.0,
        *,
        bfloat16_as_uint16: bool = False,
        return_seq: Literal[False] = False,
    ) -> npt.NDArray[Any]:
        """A copy that is one whole version (never torn by a concurrent write).
        TornError (.array, .seq) for a torn version; TimeoutError when no
        whole version could be copied within timeout."""
    @overload
    def snapshot(
        self,
        timeout: float | None = 1.0,
        *,
        bfloat16_as_uint16: bool = False,
        return_seq: Literal[True],
    ) -> tuple[npt.NDArray[Any], int]:
        """(copy, the version it holds)."""
    def read(self, timeout: float | None = 1.0, *, bfloat16_as_uint16: bool = False) -> Read:
        """`with seg.read() as a:` a zero-copy consistent read; TornError at
        exit when a write overlapped it (read again)."""
    @property
    def __array_interface__(self) -> dict[str, Any]: ...
    def numpy(self, *, bfloat16_as_uint16: bool = False) -> npt.NDArray[Any]:
        """An ndarray view, read-only for a read-only segment; its base keeps
        the mapping alive. bfloat16 raises DtypeError unless
        bfloat16_as_uint16=True (a uint16 view of the raw bits)."""
    def torch(self) -> Any:
        """A torch.Tensor view (CPU); for a read-only segment, of a private
        copy-on-write mapping (in-place writes stay in this process). Raises
        DtypeError for uint16/32/64 when torch lacks them, ImportError without
        torch."""
    def __dlpack__(self, *, stream: None = None) -> Any:
        """A DLPack 0.6 'dltensor' capsule (private copy-on-write for a
        read-only segment, as .torch()). Raises DtypeError for bool."""
    def __dlpack_device__(self) -> tuple[Literal[1], Literal[0]]: ...
    def __array__(
        self, dtype: DTypeLike | None = None, copy: bool | None = None
    ) -> npt.NDArray[Any]: ...
    def __buffer__(self, flags: int) -> memoryview:
        """Buffer protocol (memoryview(seg)): typed, with format and shape;
        read-only for a read-only segment; BufferError for bfloat16."""
    def populate(self, start: int = 0, stop: int | None = None) -> None:
        """Fault in the pages that hold data bytes [start, stop) (stop
        None: to the end), for writing if writable; copies nothing.
        InvalidError beyond nbytes, NoMemoryError if the kernel cannot (the
        segment stays usable)."""
    def close(self) -> None:
        """Drop this object's hold on the mapping; views stay valid."""
    def __enter__(self) -> "Segment": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class Loan:
    """A stream slot loaned to fill (Stream.loan()). __enter__ returns the
    slot as a writable ndarray; __exit__ publishes it (discards it after an
    exception). A Loan dropped while out is discarded."""

    @property
    def array(self) -> npt.NDArray[Any]: ...
    @property
    def seq(self) -> int | None:
        """The frame number once published (1, 2, ...), else None."""
    @property
    def active(self) -> bool: ...
    def publish(self) -> int:
        """Publish the slot as the next frame; returns its frame number."""
    def discard(self) -> None: ...
    def numpy(self, *, bfloat16_as_uint16: bool = False) -> npt.NDArray[Any]: ...
    def torch(self) -> Any:
        """A tensor over the slot (DLPack), as Segment.torch(). It cannot be
        pickled to another process (TypeError): send a clone()."""
    def __enter__(self) -> npt.NDArray[Any]: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

class Frame:
    """A frame a subscriber holds (Subscriber.take()). __enter__ returns it as
    a read-only ndarray over its slot; __exit__ releases it (TornError when an
    'overwrite' producer reused the slot meanwhile, unless an exception is on
    its way). A Frame dropped while held is released."""

    @property
    def array(self) -> npt.NDArray[Any]:
        """Read-only view of the slot; valid while held (copy what you keep)."""
    @property
    def seq(self) -> int:
        """The frame number: 1 for the first published."""
    @property
    def timestamp(self) -> float:
        """Publish time, seconds since the epoch."""
    @property
    def timestamp_ns(self) -> int: ...
    @property
    def missed(self) -> int:
        """Frames skipped just before this one ('overwrite' policy)."""
    @property
    def held(self) -> bool: ...
    def release(self) -> None:
        """Release this frame, in any order among those held (idempotent)."""
    def numpy(self, *, bfloat16_as_uint16: bool = False) -> npt.NDArray[Any]: ...
    def torch(self) -> Any:
        """A tensor over a private copy-on-write mapping of the slot: in-place
        writes stay in this process. The frame only while held (after release
        unwritten pages follow the slot's reuse, and the next tensor of the
        same slot drops what this one wrote): clone() what you keep or send
        to another process (pickling it raises TypeError)."""
    def __enter__(self) -> npt.NDArray[Any]: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]: ...

class _StreamBase:
    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> np.dtype[Any]: ...
    @property
    def dtype_name(self) -> str: ...
    @property
    def shape(self) -> tuple[int, ...]:
        """One frame's shape."""
    @property
    def ndim(self) -> int: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def nbytes(self) -> int:
        """Bytes of one frame."""
    @property
    def closed(self) -> bool: ...
    @property
    def seq(self) -> int:
        """Twice the number of frames published."""
    @property
    def publish_time(self) -> float | None: ...
    @property
    def spin_us(self) -> float | None: ...
    @spin_us.setter
    def spin_us(self, value: float) -> None: ...
    def wait(self, after_seq: int, timeout: float | None = None) -> int: ...
    def wait_async(
        self, after_seq: int, timeout: float | None = None
    ) -> Coroutine[Any, Any, int]:
        """async wait(), as Segment.wait_async()."""
    def close(self) -> None: ...

class Stream(_StreamBase):
    """A stream's producer handle (Client.stream_create / stream_open)."""

    @property
    def writable(self) -> bool: ...
    def loan(self, timeout: float | None = None) -> Loan:
        """Loan the next slot now (waiting up to timeout for the writer lock
        and, under 'block', for the slowest subscriber)."""
    def __enter__(self) -> "Stream": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class Subscriber(_StreamBase):
    """A subscription to a stream (Client.sub_open); frames come in order
    from the next one published after it joined (or from the newest still in
    the ring, start='newest'), up to depth of them held at once."""

    @property
    def missed(self) -> int:
        """Frames skipped so far ('overwrite' policy)."""
    @property
    def held(self) -> int:
        """Frames held now (taken, not released)."""
    @property
    def depth(self) -> int:
        """Frames it may hold at once (sub_open(depth=))."""
    def take(self, timeout: float | None = None) -> Frame:
        """Take the next frame now, waiting up to timeout (TimeoutError);
        InvalidError when depth frames are held already."""
    def take_async(self, timeout: float | None = None) -> Coroutine[Any, Any, Frame]:
        """async take(): `frame = await sub.take_async()` without blocking the
        event loop. A task cancelled while it awaits has taken nothing: the
        frame stays the next one take() returns."""
    def __enter__(self) -> "Subscriber": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class Group:
    """A tensor group: named tensors, each of its own dtype and shape, in one
    segment (Client.group_create(), Client.group_open()). A created group is
    unpublished (nobody else sees it) until publish(); one never published is
    removed when its last view goes or its client's connection ends. Views
    keep the mapping alive on their own. Read-only groups give read-only
    arrays and private copy-on-write tensors."""

    @property
    def name(self) -> str: ...
    @property
    def published(self) -> bool: ...
    @property
    def writable(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def nbytes(self) -> int:
        """Bytes of the data area: table of contents and every tensor."""
    @property
    def metadata(self) -> bytes | None: ...
    @property
    def segment(self) -> Segment:
        """A Segment over the group's bytes (uint8, 1-d), sharing its mapping."""
    def publish(self) -> None:
        """Make the group visible, whole. InvalidError when published already."""
    def keys(self) -> builtins.list[str]:
        """The tensors' names in the group's order."""
    def array(self, name: str | bytes, *, bfloat16_as_uint16: bool = False) -> npt.NDArray[Any]:
        """A zero-copy ndarray of tensor `name` (read-only for a read-only
        group). KeyError for a missing name; DtypeError for bfloat16."""
    def torch(self, name: str | bytes) -> Any:
        """A zero-copy torch tensor of tensor `name` (copy-on-write for a
        read-only group). KeyError for a missing name."""
    def close(self) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: object) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __enter__(self) -> "Group": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

# A tensor of a group to make: (name, dtype, shape).
TensorSpec = tuple[str, DTypeLike, ShapeLike]

class Client:
    """A connection to tshmd (tshm.connect()). Thread-safe; every call that
    waits for the daemon releases the GIL."""

    @property
    def socket(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def create(
        self,
        name: str,
        shape: ShapeLike,
        dtype: DTypeLike = "float32",
        mode: int = 0o600,
        populate: bool | None = None,
        *,
        ephemeral: bool = False,
    ) -> Segment:
        """A new zero-filled segment, opened read-write. populate: fault in
        every page now (True), none (False), or None: segments up to
        POPULATE_AUTO_MAX bytes. ephemeral: removed when this client's
        connection closes."""
    def open(self, name: str, writable: bool = False, populate: bool | None = None) -> Segment:
        """Map an existing segment. populate as for create(); best effort,
        an open never fails for it."""
    def from_numpy(self, name: str, array: npt.ArrayLike, mode: int = 0o600) -> Segment:
        """A new segment holding a copy of `array`."""
    def list(self, prefix: str | None = None) -> builtins.list[SegmentInfo]:
        """Every segment the caller may read (root and owners see all of
        theirs) whose name starts with prefix, oldest first."""
    def stat(self, name: str) -> SegmentInfo:
        """One segment's metadata; PermissionDeniedError if the caller may
        not read it."""
    def unlink(self, name: str) -> None: ...
    def daemon_stat(self) -> DaemonInfo: ...
    def mirror(self, name: str, peer: str, remote: str | None = None) -> None:
        """Keep `remote` (None: `name`) on the daemon at `peer` ("HOST:PORT")
        in step with `name`; tshm.Error (.code -4010, TSHM_ENOTSUP) when the
        daemon has no --peer-secret."""
    def mirror_stop(self, name: str) -> None:
        """Stop mirroring `name`; its copy on the other host stays, stale."""
    def mirrors(self) -> builtins.list[MirrorInfo]:
        """The daemon's mirrors both ways, of segments the caller may read."""
    def stream_create(
        self,
        name: str,
        shape: ShapeLike,
        dtype: DTypeLike = "float32",
        *,
        slots: int = 4,
        policy: Literal["block", "overwrite"] = "block",
        mode: int = 0o600,
        ephemeral: bool = False,
    ) -> Stream: ...
    def stream_open(self, name: str, writable: bool = True) -> Stream: ...
    def sub_open(
        self, name: str, *, depth: int = 1, start: Literal["next", "newest"] = "next"
    ) -> Subscriber: ...
    def group_create(
        self,
        name: str,
        specs: Sequence[TensorSpec],
        *,
        mode: int = 0o600,
        ephemeral: bool = False,
        metadata: bytes | str | None = None,
        populate: bool | None = None,
    ) -> Group:
        """A new, unpublished, writable tensor group: fill it, then publish()."""
    def group_open(
        self, name: str, *, writable: bool = False, populate: bool | None = None
    ) -> Group:
        """Open a published tensor group (read-only by default)."""
    def close(self) -> None:
        """Close the connection; segments and views stay usable."""
    def __enter__(self) -> "Client": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class TensorOrigin(NamedTuple):
    """Where a tensor's bytes live (tensor_origin())."""

    socket: str
    name: str
    writable: bool  # writes through the tensor reach the segment
    offset: int  # bytes from the segment's first data byte

def tensor_origin(tensor: Any) -> TensorOrigin | None:
    """The array segment (mapped in this process) that a CPU tensor views,
    and the byte offset of its first element; None when it views none."""

def connect(socket: str | os.PathLike[str] | None = None) -> Client:
    """Connect to tshmd: `socket`, else $TSHM_SOCKET, else
    $XDG_RUNTIME_DIR/tshm/tshm.sock if it exists, else /run/tshm/tshm.sock.
    LimitError if the daemon serves --max-clients connections already."""

# The module-level functions use a default client, connected on first use.
def create(
    name: str,
    shape: ShapeLike,
    dtype: DTypeLike = "float32",
    mode: int = 0o600,
    populate: bool | None = None,
    *,
    ephemeral: bool = False,
) -> Segment: ...
def open(name: str, writable: bool = False, populate: bool | None = None) -> Segment: ...
def from_numpy(name: str, array: npt.ArrayLike, mode: int = 0o600) -> Segment: ...
def list(prefix: str | None = None) -> builtins.list[SegmentInfo]: ...
def stat(name: str) -> SegmentInfo: ...
def unlink(name: str) -> None: ...
def daemon_stat() -> DaemonInfo: ...
def stream_create(
    name: str,
    shape: ShapeLike,
    dtype: DTypeLike = "float32",
    *,
    slots: int = 4,
    policy: Literal["block", "overwrite"] = "block",
    mode: int = 0o600,
    ephemeral: bool = False,
) -> Stream: ...
def stream_open(name: str, writable: bool = True) -> Stream: ...
def sub_open(
    name: str, *, depth: int = 1, start: Literal["next", "newest"] = "next"
) -> Subscriber: ...
def sub_open(name: str) -> Subscriber: ...
def group_create(
    name: str,
    specs: Sequence[TensorSpec],
    *,
    mode: int = 0o600,
    ephemeral: bool = False,
    metadata: bytes | str | None = None,
    populate: bool | None = None,
) -> Group: ...
def group_open(name: str, *, writable: bool = False, populate: bool | None = None) -> Group: ...

# Tensor groups from dicts (tshm/_group.py). client=None: the default client.
def save_state_dict(
    name: str,
    state_dict: Mapping[str, Any],
    *,
    client: Client | None = None,
    mode: int = 0o600,
    ephemeral: bool = False,
    metadata: dict[str, str] | None = None,
) -> Group:
    """Copy torch tensors (or numpy arrays) into a new group and publish it;
    returns the open, writable Group."""
def load_state_dict(
    name: str, *, client: Client | None = None, writable: bool = False
) -> dict[str, Any]:
    """The group's tensors as torch tensors in its order, zero-copy
    (copy-on-write unless writable)."""
def save_arrays(
    name: str,
    arrays: Mapping[str, npt.ArrayLike],
    *,
    client: Client | None = None,
    mode: int = 0o600,
    ephemeral: bool = False,
    metadata: dict[str, str] | None = None,
) -> Group: ...
def load_arrays(
    name: str, *, client: Client | None = None, writable: bool = False
) -> dict[str, npt.NDArray[Any]]: ...
def group_metadata(name: str, *, client: Client | None = None) -> dict[str, str] | None:
    """The group's "__metadata__" dict, or None."""

# What wait_any() waits on: a Subscriber (its next frame), a
# (segment_or_stream, after_seq) tuple (a version newer than after_seq), or a
# bare Segment/Stream (newer than its seq at the call).
_Source = TypeVar(
    "_Source", bound=Union[Subscriber, Segment, Stream, tuple[Segment | Stream | Subscriber, int]]
)

def wait_any(sources: Iterable[_Source], timeout: float | None = None) -> builtins.list[_Source]:
    """Wait until at least one source is ready; return the ready ones (the
    same objects, in the order given). TimeoutError on timeout; InvalidError
    for no sources, more than 128, or a Subscriber holding a frame. A ready
    source may be one whose call would raise (unlinked, subscription
    dropped): make the call to learn what it has (take(timeout=0); wait()
    with a short timeout, as a write begun since makes it wait for the
    write's end)."""
