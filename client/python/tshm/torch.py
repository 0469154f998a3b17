"""DataLoader batches that reach the training loop zero-copy.

    import tshm.torch
    loader = tshm.torch.DataLoader(dataset, batch_size=64, num_workers=2)
    for x, y in loader:      # x, y: tensors over tshm memory the worker filled
        ...

A plain torch DataLoader's worker stacks every batch into a fresh block of
torch's own shared memory, and the training process maps each block again
(a new file, a descriptor over a socket, mmap and page faults, every batch).
Here each worker owns a small pool of tshm segments ("slots"), stacks a
batch straight into a free slot, and what crosses the queue is a reference
(segment name, offset, shape, strides): the training process maps each slot
once, so a batch costs no allocation, no copy and no page fault there.

A slot is busy from the moment the worker fills it until every tensor of
that batch in the training process is gone (views and slices included: the
release rides on the tensor's storage, see _Lease); then it is reused.
When every slot is busy for longer than `wait` seconds (the training loop
holds on to many batches, e.g. list(loader)), that batch takes torch's own
path instead: never a deadlock, never a batch overwritten while in use.

Works with any start method (fork, spawn, forkserver), persistent workers,
pin_memory (which copies into pinned memory as usual) and batches that are
tensors, numpy arrays, or tuples, lists and dicts of them (other leaves go
through torch's default_collate). A worker killed with -9 takes its slots'
names with it (they are ephemeral to its connection); batches already in the
training process stay valid. Memory order: the worker reads a slot's flag
and only then writes the slot; the training process clears the flag under
the control segment's writer lock after its last use (a release store), so a
slot is never refilled while read on x86-64 or any other ordered CPU.
"""

import collections.abc
import os
import threading
import time
import uuid
import weakref
from multiprocessing.reduction import ForkingPickler

import numpy as np
import torch
import torch.utils.data
from torch.utils.data._utils.collate import default_collate, default_convert

import tshm
from tshm import _reduce

__all__ = ["Collate", "DataLoader", "assign_state_dict"]

# Slots a worker may have at most (the control segment's size), and the
# alignment of each tensor inside a slot (a cache line, and more than any
# dtype needs).
_MAX_SLOTS = 256
_ALIGN = 64


def _round_up(n, a=_ALIGN):
    return (n + a - 1) // a * a


def _is_array_leaf(x):
    return isinstance(x, torch.Tensor) or (
        isinstance(x, np.ndarray) and x.dtype.kind not in "USOV")


def _as_tensor(x):
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))


class _Keep:
    """A value the copy path leaves as it is (see _copy_into)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _plan(batch, other=default_collate):
    """What a batch becomes: a tree whose array leaves are ("leaf", samples,
    shape, dtype, nbytes) and whose other leaves are ("other", value), plus
    the bytes the leaves need in a slot. None when the batch's structure is
    not one this module stacks (the caller then uses default_collate)."""
    elem = batch[0]
    if _is_array_leaf(elem):
        samples = [_as_tensor(b) for b in batch]
        first = samples[0]
        if any(s.shape != first.shape or s.dtype != first.dtype for s in samples):
            return None  # default_collate raises its own clear error for this
        shape = (len(samples),) + tuple(first.shape)
        nbytes = first.element_size() * first.numel() * len(samples)
        return ("leaf", samples, shape, first.dtype, nbytes), _round_up(nbytes)
    if isinstance(elem, (bool, int, float)) and other is default_collate:
        # Labels and the like: what default_collate makes of them
        # (torch.tensor of the batch: int64, float64 or bool) goes in the
        # slot too, or each batch would also cross the torch way.
        t = default_collate(batch)
        nbytes = t.element_size() * t.numel()
        return ("leaf", None, tuple(t.shape), t.dtype, nbytes, t), _round_up(nbytes)
    if isinstance(elem, collections.abc.Mapping):
        out, total = {}, 0
        for k in elem:
            sub = _plan([d[k] for d in batch], other)
            if sub is None:
                return None
            out[k], total = sub[0], total + sub[1]
        return ("map", type(elem), out), total
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        subs = [_plan(list(s), other) for s in zip(*batch)]
        if any(s is None for s in subs):
            return None
        return ("namedtuple", type(elem), [s[0] for s in subs]), sum(s[1] for s in subs)
    if isinstance(elem, (tuple, list)) and not isinstance(elem, str):
        if any(len(e) != len(elem) for e in batch):
            return None
        subs = [_plan(list(s), other) for s in zip(*batch)]
        if any(s is None for s in subs):
            return None
        return ("seq", type(elem), [s[0] for s in subs]), sum(s[1] for s in subs)
    return ("other", other(batch)), 0


def _fill(plan, slot, offset, keep_type=False):
    """Build the batch of @plan in @slot (a uint8 tensor) from @offset on;
    returns (batch, the next free offset). Sequences become lists, as
    default_collate makes them, unless @keep_type."""
    kind = plan[0]
    if kind == "leaf":
        samples, shape, dtype, nbytes = plan[1:5]
        if nbytes == 0:
            return torch.empty(shape, dtype=dtype), offset
        out = slot[offset:offset + nbytes].view(dtype).view(shape)
        if samples is None:
            out.copy_(plan[5])
        else:
            torch.stack(samples, out=out)
        return out, offset + _round_up(nbytes)
    if kind == "map":
        res = {}
        for k, sub in plan[2].items():
            res[k], offset = _fill(sub, slot, offset, keep_type)
        try:
            return plan[1](res), offset
        except TypeError:
            return res, offset
    if kind in ("namedtuple", "seq"):
        items = []
        for sub in plan[2]:
            item, offset = _fill(sub, slot, offset, keep_type)
            items.append(item)
        if kind == "namedtuple":
            return plan[1](*items), offset
        # default_collate turns a batch of tuples into a list of batches.
        return (plan[1](items) if keep_type else items), offset
    return plan[1], offset


class _Slot:
    __slots__ = ("seg", "tensor", "base", "capacity", "gen")


class _Pool:
    """A worker's slots, and the reduction that sends tensors over them by
    reference. One per worker process."""

    def __init__(self, slots, wait_s):
        self.client = tshm.connect()
        self.tag = f"{_reduce.BATCH_PREFIX}{os.getpid()}.{uuid.uuid4().hex[:12]}"
        self.ctl_name = self.tag + ".ctl"
        # flags[i] != 0: slot i holds a batch the training process may use.
        self.ctl = self.client.create(self.ctl_name, _MAX_SLOTS, "int32", ephemeral=True)
        self.flags = self.ctl.numpy()
        self.max_slots = min(max(1, slots), _MAX_SLOTS)
        self.wait_s = wait_s
        self.slots = []
        self.fallbacks = 0  # batches that took torch's path: every slot was busy

    def _alloc(self, i, nbytes):
        s = self.slots[i] if i < len(self.slots) else _Slot()
        s.gen = getattr(s, "gen", 0) + 1
        if i < len(self.slots):
            s.seg.close()
            self.client.unlink(s.seg.name)
        # Room for this batch and a little more, so that a batch a few
        # bytes larger does not make a new segment each time.
        s.capacity = _round_up(max(nbytes, 1) + nbytes // 8, 4096)
        s.seg = self.client.create(f"{self.tag}.{i}.{s.gen}", s.capacity, "uint8",
                                   ephemeral=True)
        s.tensor = s.seg.torch()
        s.base = s.tensor.data_ptr()
        if i == len(self.slots):
            self.slots.append(s)
        return s

    def take(self, nbytes):
        """A free slot (index) with room for @nbytes, marked busy; or None
        when every slot stayed busy for wait_s seconds."""
        deadline = None
        while True:
            seq = self.ctl.seq
            for i, s in enumerate(self.slots):
                if self.flags[i] == 0:
                    if s.capacity < nbytes:
                        self._alloc(i, nbytes)
                    self.flags[i] = 1
                    return i
            if len(self.slots) < self.max_slots:
                i = len(self.slots)
                self._alloc(i, nbytes)
                self.flags[i] = 1
                return i
            now = time.monotonic()
            if deadline is None:
                deadline = now + self.wait_s
            if now >= deadline:
                return None
            try:
                self.ctl.wait(seq, timeout=deadline - now)
            except tshm.TimeoutError:
                pass

    def place(self, planned, keep_type=False):
        """The batch of _plan()'s @planned built in a free slot, or None when
        it needs no slot or none came free in time (the caller's fallback)."""
        if planned is None or planned[1] == 0:
            return None
        i = self.take(planned[1])
        if i is None:
            self.fallbacks += 1
            return None
        try:
            return _fill(planned[0], self.slots[i].tensor, 0, keep_type)[0]
        except BaseException:
            self.flags[i] = 0
            raise

    def collate(self, batch, fallback):
        out = self.place(_plan(batch))
        return fallback(batch) if out is None else out

    def reduce(self, t):
        """(rebuild, args) for a tensor over one of the slots, else None."""
        if t.numel() == 0 or t.device.type != "cpu":
            return None
        ptr = t.data_ptr()
        for i, s in enumerate(self.slots):
            if s.base <= ptr < s.base + s.capacity:
                return (_rebuild, (self.client.socket, s.seg.name, ptr - s.base,
                                   tuple(t.shape), tuple(t.stride()), str(t.dtype).split(".")[1],
                                   self.ctl_name, i, s.gen, t.requires_grad))
        return None


# ---- the worker side ----

_pool = None
_pool_pid = None
_pool_lock = threading.Lock()
_torch_reduce = None


def _reduce_tensor(t):
    r = _pool.reduce(t) if _pool is not None and _pool_pid == os.getpid() else None
    return r if r is not None else _torch_reduce(t)


def _worker_pool(slots, wait_s):
    global _pool, _pool_pid, _torch_reduce
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = _Pool(slots, wait_s)
            _pool_pid = os.getpid()
            # In front of tshm's reducers (which tshm installs with the
            # first tensor it makes, over torch's own): a tensor over a slot
            # crosses as a reference that gives the slot back when its batch
            # is gone; any other tensor as tshm._reduce decides.
            _reduce.install()
            current = ForkingPickler._extra_reducers.get(torch.Tensor)
            if current is not _reduce_tensor:
                _torch_reduce = current
                ForkingPickler.register(torch.Tensor, _reduce_tensor)
        return _pool


# ---- the training-process side ----

# The slots (and control segments) this process has open, by worker:
# (socket, tag) -> {name: Segment}. A worker's entries go when its control
# segment is gone (it exited: its segments were ephemeral), checked when a
# new worker shows up (a new epoch's, without persistent_workers), and a
# slot's older segment when the worker made it anew (a larger batch). Closing
# a handle never invalidates a view (tshm's lifetime rule): the tensors over
# it keep its mapping, and the memory goes with the last of them.
_workers = {}
_refs = weakref.WeakValueDictionary()  # (socket, ctl, slot, gen) -> _SlotRef
_side_lock = threading.Lock()


def _split(name):
    """(tag, slot) of a slot segment TAG.SLOT.GEN; (tag, None) for TAG.ctl."""
    tag, a, b = name.rsplit(".", 2)
    if b == "ctl":
        return name[:-len(".ctl")], None
    return tag, a


def _forget(segs, keep=lambda name: False):
    for n in [n for n in segs if not keep(n)]:
        segs.pop(n).close()


def _open(socket, name, writable):
    tag, slot = _split(name)
    segs = _workers.get((socket, tag))
    if segs is None:
        # A new worker: drop those that are gone.
        c = _reduce._connect(socket)
        for (sock, other), osegs in list(_workers.items()):
            try:
                c.stat(other + ".ctl") if sock == socket else None
            except tshm.NotFoundError:
                _forget(osegs)
                del _workers[(sock, other)]
        segs = _workers[(socket, tag)] = {}
    seg = segs.get(name)
    if seg is None:
        if slot is not None:  # this slot's earlier segments
            _forget(segs, keep=lambda n: _split(n)[1] != slot)
        seg = segs[name] = _reduce._connect(socket).open(name, writable=writable)
    return seg


class _SlotRef:
    """Held by every tensor of one batch; when the last is gone, the slot
    goes back to its worker."""

    __slots__ = ("ctl", "slot", "__weakref__")

    def __init__(self, ctl, slot):
        self.ctl, self.slot = ctl, slot

    def __del__(self):
        try:
            with self.ctl.write(timeout=5):
                self.ctl.numpy()[self.slot] = 0
        except Exception:  # the worker is gone (its segments with it), or shutdown
            pass


class _Lease:
    """An array-interface object over part of a slot that keeps the batch's
    _SlotRef alive: torch.from_numpy(np.asarray(lease)) holds the ndarray,
    which holds the lease, until the tensor's storage is freed (every view of
    it gone), so the release is exact."""

    __slots__ = ("__array_interface__", "ref", "seg")

    def __init__(self, seg, offset, nbytes, ref):
        view = seg.numpy()
        self.seg = view  # keeps the mapping alive
        self.ref = ref
        self.__array_interface__ = {
            "shape": (nbytes,), "typestr": "|u1", "version": 3,
            "data": (view.ctypes.data + offset, False),
        }


def _rebuild(socket, name, offset, shape, stride, dtype, ctl_name, slot, gen, requires_grad):
    with _side_lock:
        seg = _open(socket, name, True)
        key = (socket, ctl_name, slot, gen)
        ref = _refs.get(key)
        if ref is None:
            ref = _SlotRef(_open(socket, ctl_name, True), slot)
            _refs[key] = ref
    tdtype = getattr(torch, dtype)
    itemsize = torch.empty((), dtype=tdtype).element_size()
    span = (1 + sum((n - 1) * s for n, s in zip(shape, stride))) * itemsize
    base = torch.from_numpy(np.asarray(_Lease(seg, offset, span, ref)))
    t = base.view(tdtype).as_strided(shape, stride)
    if requires_grad:
        t.requires_grad_(True)
    return t


# ---- the public side ----

class Collate:
    """A DataLoader collate_fn that stacks each batch into a tshm slot of the
    worker that made it, so the batch reaches the training process by
    reference. In the training process itself (num_workers=0) it is
    `collate_fn` (default: torch's default_collate).

    collate_fn: when given, it makes the batch and its tensors are copied
    into a slot (one copy in the worker, none in the training process);
    when None, the batch is stacked straight into the slot.
    slots: slots per worker (at most 256); a batch finds a slot free when the
    training process dropped an earlier one. DataLoader keeps about
    prefetch_factor batches per worker in flight, and the loop holds one.
    wait: seconds a worker waits for a free slot before it sends that batch
    the torch way (a copy into torch's shared memory) instead.
    Picklable: spawn and forkserver workers get it."""

    def __init__(self, collate_fn=None, *, slots=6, wait=0.05, convert=False):
        self.collate_fn = collate_fn
        self.slots = int(slots)
        self.wait = float(wait)
        # DataLoader(batch_size=None): each call gets one sample, which the
        # dataset made a whole batch (torch then calls default_convert).
        self.convert = convert

    def _fallback(self, batch):
        return (self.collate_fn or (default_convert if self.convert else default_collate))(batch)

    def __call__(self, batch):
        if torch.utils.data.get_worker_info() is None:
            return self._fallback(batch)
        pool = _worker_pool(self.slots, self.wait)
        if self.collate_fn is None and not self.convert:
            return pool.collate(batch, self._fallback)
        return _copy_into(pool, self._fallback(batch))


def _copy_into(pool, made):
    """The batch @made (by a user's collate_fn) copied into a slot."""
    out = pool.place(_plan([made], lambda b: _Keep(b[0])), keep_type=True)
    return made if out is None else _unbatch(out)


def _unbatch(x):
    """Drop the leading dimension of 1 that _plan([made]) added."""
    if isinstance(x, _Keep):
        return x.value
    if isinstance(x, torch.Tensor):
        return x[0]
    if isinstance(x, dict):
        return {k: _unbatch(v) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return type(x)(*(_unbatch(v) for v in x))
    if isinstance(x, (list, tuple)):
        return type(x)(_unbatch(v) for v in x)
    return x


class DataLoader(torch.utils.data.DataLoader):
    """torch.utils.data.DataLoader whose workers hand batches over zero-copy
    (see Collate). Takes the same arguments, and slots and wait of Collate;
    collate_fn, when given, is wrapped. With batch_size=None (the dataset
    makes whole batches) each batch is copied into a slot by its worker.
    With num_workers=0 it is a plain DataLoader."""

    def __init__(self, dataset, *args, collate_fn=None, slots=6, wait=0.05, **kwargs):
        collate = Collate(collate_fn, slots=slots, wait=wait)
        super().__init__(dataset, *args, collate_fn=collate, **kwargs)
        collate.convert = not self._auto_collation


def assign_state_dict(module, state_dict, *, strict=True):
    """Put the tensors of `state_dict` into `module` themselves, without a copy
    (torch 1.13's load_state_dict has no assign=): each parameter becomes
    nn.Parameter(tensor, requires_grad=False) over the very tensor given, and
    each buffer is the tensor given, so that after

        tshm.torch.assign_state_dict(model, tshm.load_state_dict("weights"))

    model.weight.data_ptr() is the group's tensor's: the weights live in the
    group, shared by every process that loaded them (copy-on-write where they
    were loaded read-only). Keys are those of module.state_dict() (parameters
    and persistent buffers). Shapes and dtypes must match the module's: a
    mismatch raises RuntimeError listing every one (nothing is converted, and
    nothing assigned). With `strict`, missing and unexpected keys raise
    RuntimeError too, as load_state_dict does; without, they are reported.
    Returns (missing_keys, unexpected_keys) as load_state_dict does."""
    from torch.nn.modules.module import _IncompatibleKeys

    expected = module.state_dict(keep_vars=True)
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    errors = []
    if strict:
        if unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if missing:
            errors.append("Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in missing) + ".")
    places = []
    for key, value in state_dict.items():
        if key not in expected:
            continue
        have = expected[key]
        path, _, attr = key.rpartition(".")
        owner = module.get_submodule(path) if path else module
        if attr in owner._parameters:
            kind = "param"
        elif attr in owner._buffers:
            kind = "buffer"
        else:
            errors.append(f"cannot assign {key}: it is neither a parameter nor a buffer of "
                          f"{type(owner).__name__} (extra state?)")
            continue
        if not isinstance(value, torch.Tensor):
            errors.append(f"{key} is a {type(value).__name__}, not a tensor")
            continue
        if value.shape != have.shape:
            errors.append(f"size mismatch for {key}: copying a param with shape {value.shape} "
                          f"from checkpoint, the shape in current model is {have.shape}.")
        elif value.dtype != have.dtype:
            errors.append(f"dtype mismatch for {key}: the state_dict's is {value.dtype}, the "
                          f"model's {have.dtype} (assign_state_dict does not convert: call "
                          f"module.to({value.dtype}) first)")
        else:
            places.append((owner, attr, kind, value, have))
    if errors:
        raise RuntimeError(f"Error(s) in assigning state_dict to {type(module).__name__}:\n\t"
                           + "\n\t".join(errors))
    # Tied weights (one Parameter under several keys, as load_state_dict
    # keeps them by copying into it) stay one object: the first key's.
    made = {}
    for owner, attr, kind, value, have in places:
        if kind == "param":
            if id(have) not in made:
                made[id(have)] = torch.nn.Parameter(value, requires_grad=False)
            owner._parameters[attr] = made[id(have)]
        else:
            owner._buffers[attr] = made.setdefault(id(have), value)
    return _IncompatibleKeys(missing, unexpected)
