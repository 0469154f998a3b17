"""Every dtype round-trips: the same bytes through every kind of view, in this
process and in another, in both directions; and the dtypes a consumer lacks
fail with a clear DtypeError instead of a wrong type."""

import hashlib
import json

import numpy as np
import pytest

import tshm
from conftest import python

torch = pytest.importorskip("torch")

NUMPY_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float16", "float32", "float64", "complex64", "complex128"]
ALL_DTYPES = NUMPY_DTYPES[:10] + ["bfloat16"] + NUMPY_DTYPES[10:]
TORCH_DTYPES = {
    "bool": torch.bool, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32,
    "int64": torch.int64, "uint8": torch.uint8, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64,
    "complex64": torch.complex64, "complex128": torch.complex128,
}
TORCH_LACKS = [d for d in ("uint16", "uint32", "uint64") if not hasattr(torch, d)]
SHAPE = (3, 5, 7)


def raw(seg):
    """The segment's bytes, through a byte-level view of its mapping."""
    if seg.dtype_name == "bfloat16":
        return seg.numpy(bfloat16_as_uint16=True).tobytes()
    return bytes(memoryview(seg))


def pattern(dtype, seed):
    """Valid values for `dtype`, as the bytes of a C-contiguous array."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(SHAPE))
    if dtype == "bool":
        return rng.integers(0, 2, n).astype(np.bool_).tobytes()
    if dtype == "bfloat16":
        return torch.from_numpy(rng.standard_normal(n).astype(np.float32)).bfloat16() \
            .view(torch.int16).numpy().tobytes()
    a = rng.integers(0, 256, n * np.dtype(dtype).itemsize, dtype=np.uint8)
    return a.tobytes()  # any bit pattern, NaN payloads included


def write(seg, data):
    if seg.dtype_name == "bfloat16":
        t = torch.from_numpy(np.frombuffer(data, np.int16).copy()).view(torch.bfloat16)
        seg.torch().copy_(t.reshape(seg.shape))
    elif seg.dtype_name in TORCH_DTYPES:
        src = np.frombuffer(data, seg.dtype).reshape(seg.shape)
        seg.torch().copy_(torch.from_numpy(src.copy()))
    else:
        seg.numpy()[...] = np.frombuffer(data, seg.dtype).reshape(seg.shape)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_views_agree_in_process(client, name, dtype):
    seg = client.create(name, SHAPE, dtype)
    data = pattern(dtype, 1)
    write(seg, data)
    assert raw(seg) == data
    if dtype != "bfloat16":
        a = seg.numpy()
        assert a.dtype == np.dtype(dtype) and a.shape == SHAPE and a.tobytes() == data
        assert np.asarray(seg).tobytes() == data
        mv = memoryview(seg)
        assert mv.shape == SHAPE and mv.itemsize == np.dtype(dtype).itemsize
        assert np.asarray(mv).tobytes() == data
        if dtype != "bool":
            assert np.from_dlpack(seg).tobytes() == data
    if dtype in TORCH_DTYPES:
        t = seg.torch()
        assert t.dtype == TORCH_DTYPES[dtype] and tuple(t.shape) == SHAPE
        # torch's own reading of the bytes equals the segment's
        if dtype == "bfloat16":
            assert t.view(torch.int16).numpy().tobytes() == data
        else:
            assert t.numpy().tobytes() == data
            assert torch.from_numpy(seg.numpy()).numpy().tobytes() == data
        if dtype != "bool":
            d = torch.from_dlpack(seg)
            assert d.data_ptr() == t.data_ptr() and d.dtype == t.dtype
            assert (d.view(torch.int16) if dtype == "bfloat16" else d).numpy().tobytes() == data
    client.unlink(name)


def test_every_dtype_crosses_processes_both_ways(daemon, client, name):
    segs, sent = {}, {}
    for i, dt in enumerate(ALL_DTYPES):
        segs[dt] = client.create(f"{name}-{dt}", SHAPE, dt)
        sent[dt] = pattern(dt, 100 + i)
        write(segs[dt], sent[dt])
    # The child reads every segment through numpy (or torch for bfloat16) and
    # through torch where torch has the dtype, reports digests, then writes
    # a pattern of its own into each.
    code = f"""
        import hashlib, json, torch
        DTYPES = {ALL_DTYPES!r}
        TORCHABLE = {sorted(TORCH_DTYPES)!r}
        out = {{}}
        for i, dt in enumerate(DTYPES):
            seg = tshm.open({name!r} + '-' + dt, writable=True)
            assert seg.dtype_name == dt
            d = {{}}
            if dt == 'bfloat16':
                d['numpy'] = seg.numpy(bfloat16_as_uint16=True).tobytes()
                d['torch'] = seg.torch().view(torch.int16).numpy().tobytes()
            else:
                d['numpy'] = seg.numpy().tobytes()
                d['buffer'] = bytes(memoryview(seg))
                if dt in TORCHABLE:
                    d['torch'] = seg.torch().numpy().tobytes()
            out[dt] = {{k: hashlib.sha256(v).hexdigest() for k, v in d.items()}}
            # Now write back: torch where it can, numpy otherwise.
            rng = np.random.default_rng(1000 + i)
            n = seg.nbytes
            if dt == 'bool':
                new = rng.integers(0, 2, n).astype(np.bool_)
            else:
                new = rng.integers(0, 256, n, dtype=np.uint8)
            if dt in TORCHABLE:
                t = seg.torch()
                src = torch.from_numpy(new.view(np.uint8).copy())
                if dt == 'bool':
                    t.copy_(src.bool().reshape(t.shape))
                else:
                    t.view(torch.uint8).reshape(-1).copy_(src)   # same bytes, torch's hands
            else:
                seg.numpy().view(np.uint8).reshape(-1)[:] = new
            out[dt]['back'] = hashlib.sha256(new.tobytes()).hexdigest()
        print(json.dumps(out))
    """
    got = json.loads(python(code, daemon).stdout)
    for dt in ALL_DTYPES:
        want = hashlib.sha256(sent[dt]).hexdigest()
        for view, digest in got[dt].items():
            if view != "back":
                assert digest == want, (dt, view)
        assert hashlib.sha256(raw(segs[dt])).hexdigest() == got[dt]["back"], dt
        segs[dt].close()
        client.unlink(f"{name}-{dt}")


def test_bfloat16_numpy_says_to_use_torch(client, name):
    seg = client.create(name, 4, "bfloat16")
    assert seg.dtype == np.dtype("V2") and seg.dtype_name == "bfloat16"
    with pytest.raises(tshm.DtypeError, match=r"\.torch\(\)") as e:
        seg.numpy()
    assert isinstance(e.value, TypeError) and isinstance(e.value, tshm.Error)
    with pytest.raises(TypeError, match="bfloat16"):
        np.asarray(seg)
    with pytest.raises(TypeError, match="bfloat16"):
        seg.__array_interface__
    with pytest.raises(BufferError, match="bfloat16"):
        memoryview(seg)
    t = seg.torch()
    assert t.dtype == torch.bfloat16
    t[:] = torch.tensor([1.0, -2.0, 0.5, 3.0])
    bits = seg.numpy(bfloat16_as_uint16=True)
    assert bits.dtype == np.uint16
    assert bits.tolist() == t.view(torch.int16).numpy().view(np.uint16).tolist()
    assert torch.from_dlpack(seg).dtype == torch.bfloat16
    client.unlink(name)


def test_bool_goes_through_numpy_not_dlpack(client, name):
    seg = client.create(name, (2, 2), "bool")
    with pytest.raises(tshm.DtypeError, match="DLPack"):
        seg.__dlpack__()
    with pytest.raises(TypeError):
        torch.from_dlpack(seg)
    t = seg.torch()
    assert t.dtype == torch.bool
    t[0, 1] = True
    assert seg.numpy().tolist() == [[False, True], [False, False]]
    assert np.asarray(seg).dtype == np.bool_ and memoryview(seg).format == "?"
    client.unlink(name)


@pytest.mark.parametrize("dtype", TORCH_LACKS)
def test_torch_without_unsigned_dtype_raises(client, name, dtype):
    seg = client.create(name, 3, dtype)
    with pytest.raises(tshm.DtypeError, match=dtype) as e:
        seg.torch()
    assert isinstance(e.value, TypeError)
    # numpy reads it, through every route
    seg.numpy()[:] = [1, 2, np.iinfo(dtype).max]
    assert np.from_dlpack(seg).tolist() == [1, 2, np.iinfo(dtype).max]
    assert np.asarray(seg).dtype == np.dtype(dtype)
    client.unlink(name)


@pytest.mark.parametrize("dtype,fmt", [("bool", "?"), ("int8", "b"), ("int16", "h"),
                                       ("int32", "i"), ("int64", "q"), ("uint8", "B"),
                                       ("uint16", "H"), ("uint32", "I"), ("uint64", "Q"),
                                       ("float16", "e"), ("float32", "f"), ("float64", "d"),
                                       ("complex64", "Zf"), ("complex128", "Zd")])
def test_buffer_formats(client, name, dtype, fmt):
    seg = client.create(name, (2, 3), dtype)
    mv = memoryview(seg)
    assert mv.format == fmt and mv.shape == (2, 3) and mv.strides == seg.strides
    assert mv.nbytes == seg.nbytes and not mv.readonly
    mv.release()
    client.unlink(name)
