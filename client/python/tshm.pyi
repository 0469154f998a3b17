"""Type stubs for the tshm extension module (client/python).

Named N-d arrays in shared memory, seen as numpy arrays and torch tensors by
every process at once, zero-copy. See help(tshm) for the overview.

Decisions the types cannot say:
- Every view (ndarray, tensor, memoryview, DLPack capsule) keeps the mapping
  alive by itself: Segment.close(), Client.close() and unlink() never
  invalidate one; the memory is unmapped when the last view is gone.
- Read-only segments (open(..., writable=False), the default) give read-only
  numpy arrays and memoryviews; .torch() and __dlpack__() raise ReadOnlyError
  because torch has no read-only tensors and DLPack 0.6 no read-only flag.
- bfloat16: .torch() gives torch.bfloat16; .numpy() raises DtypeError unless
  bfloat16_as_uint16=True; .dtype is numpy.dtype('V2').
- bool: no DLPack 0.6 code, so __dlpack__() raises DtypeError; numpy views and
  .torch() (through torch.from_numpy) work.
- uint16/uint32/uint64: .torch() raises DtypeError when torch lacks the dtype
  (torch 1.13 does); __dlpack__() exports them for numpy.from_dlpack.
- Clients do not survive fork(): a child must connect again (the module-level
  functions do so themselves). After a daemon restart a client's next call
  connects again by itself (libtshm); mappings are never affected.
"""

import builtins
import os
from types import TracebackType
from typing import Any, Literal, Sequence, SupportsIndex, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str
NAME_MAX: int  # 200: characters in a segment name
MAX_NDIM: int  # 32: dimensions of an array

# A dtype: a name ('float32', 'bool', 'bfloat16', ...), an array-interface
# string ('<f4'), a numpy dtype or scalar type, or a torch.dtype.
DTypeLike = Union[str, np.dtype[Any], type, Any]
# A shape: an int, a sequence of ints (() for 0-d), or a str like '3x4'.
ShapeLike = Union[SupportsIndex, Sequence[SupportsIndex], str]

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

class DaemonStats(TypedDict):
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
    """.torch() or __dlpack__() on a read-only segment."""

class DtypeError(Error, TypeError):
    """The consumer has no type for the segment's dtype (numpy: bfloat16;
    DLPack 0.6: bool; torch 1.13: uint16/32/64)."""

class NoSpaceError(Error, OSError):
    """The daemon's budget or /dev/shm is full (TSHM_ENOSPC)."""

class LimitError(Error):
    """A count limit of the daemon was reached (TSHM_ELIMIT, TSHM_ETOOBIG)."""

class NoMemoryError(Error, MemoryError):
    """Out of memory (TSHM_ENOMEM)."""

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
        """The header's sequence counter (acquire load)."""
    @property
    def __array_interface__(self) -> dict[str, Any]: ...
    def numpy(self, *, bfloat16_as_uint16: bool = False) -> npt.NDArray[Any]:
        """An ndarray view, read-only for a read-only segment; its base keeps
        the mapping alive. bfloat16 raises DtypeError unless
        bfloat16_as_uint16=True (a uint16 view of the raw bits)."""
    def torch(self) -> Any:
        """A torch.Tensor view (CPU). Raises ReadOnlyError for a read-only
        segment, DtypeError for uint16/32/64 when torch lacks them,
        ImportError without torch."""
    def __dlpack__(self, *, stream: None = None) -> Any:
        """A DLPack 0.6 'dltensor' capsule. Raises ReadOnlyError for a
        read-only segment, DtypeError for bool."""
    def __dlpack_device__(self) -> tuple[Literal[1], Literal[0]]: ...
    def __array__(
        self, dtype: DTypeLike | None = None, copy: bool | None = None
    ) -> npt.NDArray[Any]: ...
    def __buffer__(self, flags: int) -> memoryview:
        """Buffer protocol (memoryview(seg)): typed, with format and shape;
        read-only for a read-only segment; BufferError for bfloat16."""
    def close(self) -> None:
        """Drop this object's hold on the mapping; views stay valid."""
    def __enter__(self) -> "Segment": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

class Client:
    """A connection to tshmd (tshm.connect()). Thread-safe; every call that
    waits for the daemon releases the GIL."""

    @property
    def socket(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    def create(
        self, name: str, shape: ShapeLike, dtype: DTypeLike = "float32", mode: int = 0o600
    ) -> Segment:
        """A new zero-filled segment, opened read-write."""
    def open(self, name: str, writable: bool = False) -> Segment: ...
    def from_numpy(self, name: str, array: npt.ArrayLike, mode: int = 0o600) -> Segment:
        """A new segment holding a copy of `array`."""
    def list(self) -> builtins.list[SegmentInfo]: ...
    def stat(self, name: str) -> SegmentInfo: ...
    def unlink(self, name: str) -> None: ...
    def stats(self) -> DaemonStats: ...
    def close(self) -> None:
        """Close the connection; segments and views stay usable."""
    def __enter__(self) -> "Client": ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

def connect(socket: str | os.PathLike[str] | None = None) -> Client:
    """Connect to tshmd: `socket`, else $TSHM_SOCKET, else
    $XDG_RUNTIME_DIR/tshm/tshm.sock if it exists, else /run/tshm/tshm.sock."""

# The module-level functions use a default client, connected on first use.
def create(
    name: str, shape: ShapeLike, dtype: DTypeLike = "float32", mode: int = 0o600
) -> Segment: ...
def open(name: str, writable: bool = False) -> Segment: ...
def from_numpy(name: str, array: npt.ArrayLike, mode: int = 0o600) -> Segment: ...
def list() -> builtins.list[SegmentInfo]: ...
def stat(name: str) -> SegmentInfo: ...
def unlink(name: str) -> None: ...
def stats() -> DaemonStats: ...
