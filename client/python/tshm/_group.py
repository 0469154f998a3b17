"""Tensor groups from Python: a dict of tensors (a model's state_dict) or of
numpy arrays saved as one tshm group, and loaded back zero-copy.

    g = tshm.save_state_dict("llama-7b", model.state_dict())   # process A
    sd = tshm.load_state_dict("llama-7b")                       # process B
    tshm.torch.assign_state_dict(model_b, sd)                   # no copy

save_* makes the group unpublished, copies every tensor into it and publishes
it: nobody sees a half-written group, and one whose writer dies or raises
before publishing is removed. It returns the Group, still open and writable:
an ephemeral group lives as long as the connection that made it (the Group
keeps its client; with client=None that is the process's default client).

load_* opens the group and returns a dict of views, in the group's order. By
default read-only: arrays are not writeable, and tensors view a private
copy-on-write mapping (torch has no read-only tensors), so an in-place op on a
loaded weight copies the pages it touches into this process alone. Every view
keeps the mapping alive; the Group is closed before the dict is returned.

Metadata: a dict[str, str], stored as the JSON text {"__metadata__": {...}},
the convention safetensors headers use (tshm's other tools keep it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from tshm import _tshm


def _torch_tensor_type():
    """torch.Tensor when torch is imported already (never imports it)."""
    torch = sys.modules.get("torch")
    return torch.Tensor if torch is not None else None


def _metadata_text(metadata) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("metadata must be a dict of str to str (stored as JSON), or None")
    return json.dumps({"__metadata__": metadata}, ensure_ascii=False, separators=(",", ":"))


def _specs(items):
    """(name, dtype, shape) per item, and the sources as tensors or arrays."""
    tensor = _torch_tensor_type()
    specs, sources = [], []
    for key, value in items:
        if not isinstance(key, str):
            raise TypeError(f"tensor names must be str, not {type(key).__name__} ({key!r})")
        if tensor is not None and isinstance(value, tensor):
            import torch

            if value.layout != torch.strided:
                raise TypeError(f"tensor {key!r} is {value.layout}: only dense (strided) "
                                "tensors can be saved; call .to_dense() first")
            if value.is_quantized:
                raise TypeError(f"tensor {key!r} is quantized ({value.dtype}), which tshm "
                                "does not hold")
            specs.append((key, value.dtype, tuple(value.shape)))
            sources.append(value)
        else:
            arr = value if isinstance(value, np.ndarray) else np.asarray(value)
            specs.append((key, arr.dtype, arr.shape))
            sources.append(arr)
    return specs, sources


def _fill(group, names, sources) -> None:
    """Copy each source into its tensor of @group. No view of the group is
    left in a local variable: if a copy raises, only the Group holds the
    mapping, and closing it removes the unpublished group at once."""
    tensor = _torch_tensor_type()
    for key, src in zip(names, sources):
        if tensor is not None and isinstance(src, tensor):
            import torch

            with torch.no_grad():
                group.torch(key).copy_(src.detach())
        else:
            np.copyto(group.array(key), src, casting="no")


def _save(name, items, client, mode, ephemeral, metadata):
    items = list(items.items()) if hasattr(items, "items") else list(items)
    specs, sources = _specs(items)
    create = client.group_create if client is not None else _tshm.group_create
    # Every byte is about to be written: populate whatever the size.
    group = create(name, specs, mode=mode, ephemeral=ephemeral,
                   metadata=_metadata_text(metadata), populate=True)
    try:
        _fill(group, [s[0] for s in specs], sources)
        group.publish()
    except BaseException:
        group.close()  # the last hold: the unpublished group is removed
        raise
    return group


def save_state_dict(name: str, state_dict, *, client=None, mode: int = 0o600,
                    ephemeral: bool = False, metadata: dict[str, str] | None = None):
    """Save `state_dict` (a mapping of str to torch tensors; numpy arrays are
    taken too) as the tensor group `name`, in its order: each tensor copied
    C-contiguous (any strides, any device), then the group published whole.
    Returns the open, writable Group (views of it are the saved tensors).

    client: a tshm.Client, or None for the module's default client.
    mode, ephemeral: as Client.create(); an ephemeral group is removed when
    its client's connection closes. metadata: a dict of str to str, stored as
    the JSON text {"__metadata__": metadata}.
    Raises ExistsError when the name is taken, InvalidError for a dtype tshm
    does not hold, TypeError for sparse or quantized tensors; if anything
    fails before publishing, nothing is left behind."""
    return _save(name, state_dict, client, mode, ephemeral, metadata)


def save_arrays(name: str, arrays, *, client=None, mode: int = 0o600, ephemeral: bool = False,
                metadata: dict[str, str] | None = None):
    """save_state_dict() for a mapping of str to numpy arrays (anything
    numpy.asarray takes), without torch."""
    return _save(name, arrays, client, mode, ephemeral, metadata)


def _open(name, client, writable, populate=None):
    if client is not None:
        return client.group_open(name, writable=writable, populate=populate)
    return _tshm.group_open(name, writable=writable, populate=populate)


def load_state_dict(name: str, *, client=None, writable: bool = False) -> dict[str, Any]:
    """The tensors of group `name` as a dict of torch tensors, in the group's
    order, zero-copy. Read-only by default: the tensors view a private
    copy-on-write mapping, so in-place ops work and stay in this process.
    writable=True opens it read-write: writes reach every process. The
    tensors keep the mapping alive; a tensor passed through
    torch.multiprocessing crosses as a reference to the group.
    Raises NotFoundError (no such group, or not published yet), InvalidError
    (not a group), DtypeError for uint16/32/64 (torch 1.13 lacks them: use
    load_arrays)."""
    # Read-only tensors view the private copy-on-write mapping, which is
    # populated when it is made: populating the shared one as well would
    # build every page table twice for nothing.
    with _open(name, client, writable, None if writable else False) as group:
        return {key: group.torch(key) for key in group.keys()}


def load_arrays(name: str, *, client=None, writable: bool = False) -> dict[str, np.ndarray]:
    """The tensors of group `name` as a dict of numpy arrays, in the group's
    order, zero-copy; read-only (not writeable) unless `writable`. bfloat16
    raises DtypeError (numpy has none: use load_state_dict)."""
    with _open(name, client, writable) as group:
        return {key: group.array(key) for key in group.keys()}


def group_metadata(name: str, *, client=None) -> dict[str, str] | None:
    """The "__metadata__" dict stored with group `name` (save_state_dict's
    `metadata`, or a safetensors file's), or None when it has none or its
    metadata is not such JSON."""
    with _open(name, client, False) as group:
        raw = group.metadata
    if raw is None:
        return None
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    meta = obj.get("__metadata__") if isinstance(obj, dict) else None
    return meta if isinstance(meta, dict) else None
