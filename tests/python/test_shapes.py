"""Shapes and strides, 0-d and empty arrays, through every view."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

SHAPES = [(), (1,), (5,), (0,), (3, 4), (3, 0, 2), (2, 3, 4, 5), (1, 1, 1), (7, 1, 3),
          (1,) * 32, (2,) * 10]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", ["int8", "float64", "complex64"])
def test_shape_and_strides_through_every_view(client, name, shape, dtype):
    seg = client.create(name, shape, dtype)
    expect = np.zeros(shape, dtype)
    # C-contiguous strides; an extent of 0 counts as 1 (as numpy computes
    # them; they mean nothing for an empty array anyway)
    cstrides = tuple(int(np.prod([max(d, 1) for d in shape[i + 1:]])) * expect.itemsize
                     for i in range(len(shape)))
    assert seg.shape == expect.shape and seg.strides == cstrides
    assert seg.ndim == len(shape) and seg.nbytes == expect.nbytes
    a = seg.numpy()
    a[...] = np.arange(expect.size).reshape(shape).astype(dtype)
    assert a.shape == shape and a.flags.c_contiguous
    assert a.strides == cstrides or a.size == 0
    mv = memoryview(seg)
    assert mv.shape == shape and mv.strides == cstrides and mv.ndim == len(shape)
    assert mv.c_contiguous and mv.nbytes == expect.nbytes
    np.testing.assert_array_equal(np.asarray(mv), a)
    mv.release()
    for t in (seg.torch(), torch.from_dlpack(seg)):
        assert tuple(t.shape) == shape
        # DLPack strides count elements
        assert tuple(t.stride()) == tuple(s // expect.itemsize for s in cstrides) or \
            t.numel() == 0
        np.testing.assert_array_equal(t.numpy(), a)
    n = np.from_dlpack(seg)
    assert n.shape == shape
    np.testing.assert_array_equal(n, a)
    client.unlink(name)


def test_zero_d_views(client, name):
    seg = client.create(name, (), "float32")
    seg.numpy()[()] = 2.5
    assert np.asarray(seg).shape == () and float(np.asarray(seg)) == 2.5
    t = seg.torch()
    assert t.dim() == 0 and float(t) == 2.5
    t.fill_(4.0)
    assert memoryview(seg).shape == () and memoryview(seg)[()] == 4.0
    assert seg.__array_interface__["shape"] == ()
    client.unlink(name)


def test_empty_views(client, name):
    seg = client.create(name, (4, 0), "int32")
    assert seg.nbytes == 0
    assert seg.numpy().size == 0 and seg.torch().numel() == 0
    assert bytes(memoryview(seg)) == b""
    assert np.asarray(seg).shape == (4, 0)
    client.unlink(name)


def test_strided_slices_write_through(client, name):
    seg = client.create(name, (4, 6), "int16")
    t = seg.torch()
    t[:, ::2] = 1        # a strided torch view of the segment
    a = seg.numpy()
    a[::2, 1::2] = 2     # a strided numpy view
    want = np.zeros((4, 6), np.int16)
    want[:, ::2] = 1
    want[::2, 1::2] = 2
    np.testing.assert_array_equal(a, want)
    np.testing.assert_array_equal(t.numpy(), want)
    client.unlink(name)
