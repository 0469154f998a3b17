"""A read-only segment gives read-only views, and no route writes to it: each
numpy/buffer attempt raises, and torch/DLPack routes (torch has no read-only
tensors) write to a private copy-on-write mapping that no other process sees;
none crashes the process (tried in a child, so that a crash would show as its
exit status rather than kill the test run)."""

import ctypes

import numpy as np
import pytest

import tshm
from conftest import python


def test_numpy_views_are_read_only(client, name):
    client.create(name, (2, 3), "float32")
    seg = client.open(name)
    for a in (seg.numpy(), np.asarray(seg), np.array(seg, copy=False)):
        assert a.flags.writeable is False
        with pytest.raises(ValueError, match="read-only"):
            a[0, 0] = 1
        with pytest.raises(ValueError):
            a.flags.writeable = True
    client.unlink(name)


def test_array_interface_views_are_read_only(client, name):
    client.create(name, 4, "int32")
    seg = client.open(name)

    class Wrapper:
        __array_interface__ = seg.__array_interface__

    a = np.asarray(Wrapper())
    assert a.flags.writeable is False and isinstance(a.base, tshm._Mapping)
    with pytest.raises(ValueError):
        a.flags.writeable = True
    client.unlink(name)


def test_memoryview_is_read_only(client, name):
    client.create(name, 4, "uint8")
    seg = client.open(name)
    mv = memoryview(seg)
    assert mv.readonly
    with pytest.raises(TypeError):
        mv[0] = 1
    with pytest.raises((BufferError, TypeError), match="writable"):
        (ctypes.c_char * 4).from_buffer(seg)
    with pytest.raises(ValueError):
        np.frombuffer(seg, dtype=np.uint8).setflags(write=True)
    client.unlink(name)


def test_torch_and_dlpack_of_read_only_segments_are_private(client, name):
    torch = pytest.importorskip("torch")
    rw = client.create(name, 4, "float32")
    seg = client.open(name)
    t = seg.torch()
    assert t.dtype == torch.float32 and t.shape == (4,)
    # One private mapping per handle: every tensor and capsule of seg views it.
    assert torch.from_dlpack(seg).data_ptr() == t.data_ptr()
    assert np.from_dlpack(seg).ctypes.data == t.data_ptr()
    assert t.data_ptr() != rw.torch().data_ptr()
    t.fill_(3.0)
    assert (t == 3.0).all()
    assert (seg.numpy() == 0).all() and (rw.numpy() == 0).all()
    # A second handle has its own private mapping, untouched by the first's.
    assert (client.open(name).torch() == 0).all()
    # The writable open's writes reach the shared views.
    rw.torch().fill_(2.0)
    assert (seg.numpy() == 2.0).all()
    client.unlink(name)


def test_the_kernel_maps_it_read_only(client, name):
    creator = client.create(name, 4)
    seg = client.open(name)
    seg.numpy()
    with open("/proc/self/maps") as f:
        perms = [line.split()[1] for line in f if f".{name}" in line]
    assert sorted(perms) == ["r--s", "rw-s"]  # ours, and the creator's
    # A tensor of the read-only segment views a private (copy-on-write) map.
    pytest.importorskip("torch")
    t = seg.torch()
    with open("/proc/self/maps") as f:
        perms = [line.split()[1] for line in f if f".{name}" in line]
    assert sorted(perms) == ["r--s", "rw-p", "rw-s"]
    del t
    creator.close()
    client.unlink(name)


def test_no_write_route_crashes(daemon, client, name):
    client.create(name, (3, 3), "float32")
    res = python(f"""
        import ctypes, torch
        seg = tshm.open({name!r})
        tries = {{
            'numpy item': lambda: seg.numpy().__setitem__((0, 0), 1),
            'numpy fill': lambda: seg.numpy().fill(1),
            'numpy flag': lambda: setattr(seg.numpy().flags, 'writeable', True),
            'asarray': lambda: np.asarray(seg).__setitem__(0, 1),
            'ufunc out': lambda: np.add(1, 1, out=seg.numpy()),
            'memoryview': lambda: memoryview(seg).cast('B').__setitem__(0, 1),
            'ctypes': lambda: (ctypes.c_char * seg.nbytes).from_buffer(seg),
            'frombuffer': lambda: np.frombuffer(seg, np.uint8).setflags(write=True),
        }}
        for what, f in tries.items():
            try:
                f()
            except (ValueError, TypeError, BufferError) as e:
                print(what, 'raised', type(e).__name__)
            else:
                print(what, 'WROTE')
        # torch has no read-only tensor: these write, to private pages.
        private = {{
            'torch': lambda: seg.torch().fill_(1),
            'from_dlpack': lambda: torch.from_dlpack(seg).fill_(2),
        }}
        for what, f in private.items():
            f()
            print(what, 'private', float(seg.torch().sum()))
        # numpy (1.24) marks what it takes through DLPack read-only; a later
        # numpy that does not would write to the private mapping.
        try:
            np.from_dlpack(seg).fill(3)
        except ValueError:
            pass
        print('np from_dlpack', float(seg.torch().sum()) in (18.0, 27.0))
        print('alive', float(seg.numpy().sum()))
    """, daemon)
    out = res.stdout.splitlines()
    assert out[-1] == "alive 0.0", res
    assert not [line for line in out if "WROTE" in line], out
    assert out[-4:-1] == ["torch private 9.0", "from_dlpack private 18.0",
                          "np from_dlpack True"], out
    assert len(out) == 12
    assert float(client.open(name).numpy().sum()) == 0
    client.unlink(name)
