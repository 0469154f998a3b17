"""How tshm objects cross process boundaries (pickle, multiprocessing, torch).

Handles (Client, Segment, Stream, Subscriber, Group) pickle as what opens them again:
the daemon's socket path, the name and the access. The functions here are what
their __reduce__ names; the receiving process opens its own handle through one
Client per socket (kept in _clients, made again after fork).

Tensors: torch.multiprocessing registers reducers on
multiprocessing.reduction.ForkingPickler for torch.Tensor and
torch.nn.Parameter, which copy a CPU tensor's storage into torch's own shared
memory; a tensor over a tshm segment would then be a copy, no longer seeing
the segment's writes. install() wraps them (tshm calls it when it makes its
first tensor, no call needed from users): a tensor whose bytes lie in an array
segment this process has mapped pickles as (socket, name, access, byte offset,
dtype, shape, strides, requires_grad) and is rebuilt in the receiver as a view
of the same segment; every other tensor goes to torch's reducer unchanged.

- A read-only or private (copy-on-write) tensor travels read-only: the
  receiver opens the segment read-only and views its own private mapping.
  Writes made in the sender's private pages do not travel (they are the
  sender's alone); the receiver sees the segment as it is.
- The receiver keeps one open per (socket, name, access) while any tensor
  rebuilt from it lives (a weak reference to their shared storage), so 1000
  tensors over one segment cost one open; the tensors keep the mapping alive,
  and the last one gone closes it.
- The segment is opened by name when the receiver unpickles: if it was
  unlinked meanwhile that raises NotFoundError. While a tensor rebuilt from
  it lives in the receiver, the receiver keeps that mapping: a new segment
  that took the name meanwhile is not seen there until they are all gone
  (then it is, or InvalidError when the view does not fit it).
- Tensors over a stream's slots (Frame.torch(), Loan.torch()) are refused
  with TypeError: the slot is reused once the frame is released or the loan
  published, which may come before a queue's feeder thread pickles the
  tensor, so no copy made then could be trusted. Send t.clone().
- Tensors over tshm.torch's batch slots (segments named tshm-batch.*) that
  the training process sends on cross as copies, made at pickling while the
  queue still holds the tensor (and so the slot).
- A tensor of a tensor group (Group.torch(), tshm.load_state_dict()) crosses
  the same way: the group's mapping is indexed too, the receiver opens the
  group by name as a plain segment (its bytes) and views the tensor's offset.
- A conjugate or negative view (t.conj() of a complex tensor) crosses as a
  reference with its bit, and is rebuilt as the same view.

tensor_origin(t) is the lookup, public for helpers built on it (tshm.torch).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, NamedTuple

from tshm import _tshm


class TensorOrigin(NamedTuple):
    """Where a tensor's bytes live: tshm.tensor_origin(t)."""

    socket: str
    """The socket of the daemon that serves the segment."""
    name: str
    """The segment's name."""
    writable: bool
    """True when writes through the tensor reach the segment (a read-write
    open); False for a read-only segment's private copy-on-write view."""
    offset: int
    """Byte offset of the tensor's first element from the segment's first data
    byte."""


def _span(shape, stride, itemsize: int) -> int:
    """Bytes from the first element to just past the last (0 when empty)."""
    if any(n == 0 for n in shape):
        return 0
    return (sum((n - 1) * s for n, s in zip(shape, stride)) + 1) * itemsize


def tensor_origin(tensor: Any) -> TensorOrigin | None:
    """The tshm array segment a CPU tensor views, and where in it; None when it
    views none (or not only one: a tensor copied elsewhere, a stream frame).
    Negative strides do not occur in torch; sparse and non-CPU tensors give
    None."""
    found = _locate(tensor)
    if found is None or found[5] == "frame":
        return None
    socket, name, writable, offset, _mapping, _kind = found
    return TensorOrigin(socket, name, writable, offset)


def _locate(tensor):
    """_Mapping._locate() for a strided CPU tensor, else None."""
    import torch

    if tensor.layout != torch.strided or tensor.device.type != "cpu":
        return None
    shape, stride = tuple(tensor.shape), tuple(tensor.stride())
    if any(s < 0 for s in stride):
        return None
    return _tshm._Mapping._locate(tensor.data_ptr(), _span(shape, stride, tensor.element_size()))


# Handles in this process, one Client per socket; a fork child starts afresh
# (a connection does not survive fork).
_lock = threading.Lock()
_clients: dict[str, Any] = {}
_clients_pid = os.getpid()


def _connect(socket: str):
    global _clients_pid
    with _lock:
        if _clients_pid != os.getpid():
            _clients.clear()
            _clients_pid = os.getpid()
        c = _clients.get(socket)
        if c is None or c.closed:
            c = _tshm.connect(socket)
            _clients[socket] = c
        return c


def _client(socket: str):
    """An unpickled Client: a connection of its own, which the receiver may
    close without ending the handles _connect's shared one serves."""
    return _tshm.connect(socket)


def _open(socket: str, name: str, writable: bool):
    return _connect(socket).open(name, writable=writable)


def _stream_open(socket: str, name: str, writable: bool):
    return _connect(socket).stream_open(name, writable=writable)


def _sub_open(socket: str, name: str, depth: int = 1):
    return _connect(socket).sub_open(name, depth=depth)


def _group_open(socket: str, name: str, writable: bool):
    return _connect(socket).group_open(name, writable=writable)


# (pid, socket, name, writable) -> a weak reference to the storage of a uint8
# tensor over the whole segment, which every tensor rebuilt from it shares (and
# so keeps alive, with the mapping). A weak reference to the storage, as torch's
# own shared_cache keeps: the Python tensor object may go while its storage
# lives on in views.
_bases: dict = {}


def _storage(t):
    return t.untyped_storage() if hasattr(t, "untyped_storage") else t.storage()


def _base(socket: str, name: str, writable: bool):
    import torch
    from torch.multiprocessing.reductions import StorageWeakRef

    key = (os.getpid(), socket, name, writable)
    with _lock:
        ref = _bases.get(key)
        st = torch.UntypedStorage._new_with_weak_ptr(ref.cdata) if ref is not None else None
    if st is not None:
        return torch.empty(0, dtype=torch.uint8).set_(st)
    seg = _open(socket, name, writable)
    try:
        base = seg._torch_bytes()
    finally:
        seg.close()  # the tensor holds the mapping
    with _lock:
        for k in [k for k, r in _bases.items() if r.expired()]:
            del _bases[k]
        _bases[key] = StorageWeakRef(_storage(base))
    return base


def _rebuild(kind: str, socket: str, name: str, writable: bool, offset: int, dtype, shape,
             stride, requires_grad: bool, conj: bool = False, neg: bool = False):
    import torch

    itemsize = torch.empty((), dtype=dtype).element_size()
    span = _span(shape, stride, itemsize)
    if span == 0:  # nothing to view: no need to open the segment
        t = torch.empty(shape, dtype=dtype)
        return torch.nn.Parameter(t, requires_grad=requires_grad) if kind == "parameter" \
            else t.requires_grad_(requires_grad)
    base = _base(socket, name, writable)
    if offset + span > base.numel() or offset % itemsize != 0:
        raise _tshm.InvalidError(
            f"segment {name!r} ({base.numel()} bytes) no longer holds the tensor sent "
            f"({span} bytes at offset {offset}): was it unlinked and made again?")
    t = base[offset:offset + span].view(dtype).as_strided(shape, stride)
    if conj:
        t = t.conj()
    if neg:
        t = torch._neg_view(t)
    if kind == "parameter":
        return torch.nn.Parameter(t, requires_grad=requires_grad)
    if requires_grad:
        t.requires_grad_(True)
    return t


# tshm.torch names its batch slots so (see its pool).
BATCH_PREFIX = "tshm-batch."

_installed = False


def install() -> None:
    """Wrap torch.multiprocessing's ForkingPickler reducers for torch.Tensor and
    torch.nn.Parameter (idempotent). tshm calls it when it makes its first
    tensor."""
    global _installed
    if _installed:
        return
    import torch
    import torch.multiprocessing  # noqa: F401  (registers torch's reducers)
    from multiprocessing.reduction import ForkingPickler

    for cls, kind in ((torch.Tensor, "tensor"), (torch.nn.Parameter, "parameter")):
        orig = ForkingPickler._extra_reducers.get(cls)
        if getattr(orig, "_tshm", False):
            continue
        ForkingPickler.register(cls, _make_reducer(orig, kind))
    _installed = True


def _make_reducer(orig, kind: str):
    import torch

    def reduce_tensor(t):
        # torch refuses a non-leaf tensor that requires grad; let it say so.
        if not (t.requires_grad and not t.is_leaf):
            found = _locate(t)
            if found is not None and found[5] == "frame":
                raise TypeError(
                    "a tensor over a stream's slot (Frame.torch() or Loan.torch()) cannot "
                    "cross processes: the slot is reused once the frame is released (or the "
                    "loan published), maybe before the queue pickles it; send t.clone()")
            if found is not None and found[1].startswith(BATCH_PREFIX):
                # A batch of tshm.torch's in the training process: the queue
                # holds this tensor (and so its slot) until it is pickled,
                # now; a reference would outlive the slot.
                c = t.detach().clone()
                t = torch.nn.Parameter(c, t.requires_grad) if kind == "parameter" \
                    else c.requires_grad_(t.requires_grad)
            elif found is not None:
                socket, name, writable, offset, _m, _k = found
                return (_rebuild, (kind, socket, name, writable, offset, t.dtype,
                                   tuple(t.shape), tuple(t.stride()), t.requires_grad,
                                   t.is_conj(), t.is_neg()))
        if orig is None:  # no torch reducer: pickle's own way
            return t.__reduce_ex__(2)
        return orig(t)

    reduce_tensor._tshm = True  # type: ignore[attr-defined]
    reduce_tensor._tshm_orig = orig  # type: ignore[attr-defined]
    return reduce_tensor
