"""Writes are visible across processes at once, through numpy and torch, in
both directions: each process keeps one view and never re-opens, so what it
sees comes through the shared mapping."""

import numpy as np
import pytest

from conftest import spawn

pytest.importorskip("torch")

# A child holding one view of the segment: 'write X' fills it with X, 'read'
# prints the sum, the first and the last element.
CHILD = """
    import torch
    seg = tshm.open({name!r}, writable={writable})
    v = seg.torch() if {kind!r} == 'torch' else seg.numpy()
    assert ({kind!r} == 'torch') == isinstance(v, torch.Tensor)
    print('ready', flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(' ')
        if cmd == 'write':
            if {kind!r} == 'torch':
                v.fill_(float(arg))
            else:
                v[...] = float(arg)
            print('ok', flush=True)
        elif cmd == 'read':
            flat = v.reshape(-1)
            print('val', float(flat.sum()), float(flat[0]), float(flat[-1]), flush=True)
"""


def child(daemon, name, kind, writable):
    c = spawn(CHILD.format(name=name, kind=kind, writable=writable), daemon)
    assert c.expect() == "ready"
    return c


def read(c):
    total, first, last = map(float, c.expect("val ").split())
    return total, first, last


@pytest.mark.parametrize("writer,reader", [("numpy", "torch"), ("torch", "numpy")])
def test_one_writer_three_readers(daemon, client, name, writer, reader):
    import torch

    seg = client.create(name, (64, 64), "float32")
    n = 64 * 64
    w = child(daemon, name, writer, True)
    # torch views need a writable open (see .torch()); numpy readers stay
    # read-only.
    readers = [child(daemon, name, reader, reader == "torch") for _ in range(3)]
    mine = seg.torch() if reader == "torch" else seg.numpy()
    for k in (1.0, 2.5, -3.0):
        w.send(f"write {k}")
        assert w.expect() == "ok"
        for r in readers:
            r.send("read")
            assert read(r) == (k * n, k, k)
        assert float(mine.sum()) == k * n
        if reader == "torch":
            assert isinstance(mine, torch.Tensor)
    for c in [w] + readers:
        c.finish()
    seg.close()
    client.unlink(name)


def test_every_process_writes_and_every_process_sees(daemon, client, name):
    """Four processes, two numpy and two torch views, take turns writing; after
    each write all of them, and this one, see the same bytes."""
    seg = client.create(name, (8, 16), "float64")
    kids = [child(daemon, name, kind, True) for kind in ("numpy", "torch", "numpy", "torch")]
    mine = seg.numpy()
    for i, writer in enumerate(kids):
        k = float(i + 1) * 1.25
        writer.send(f"write {k}")
        assert writer.expect() == "ok"
        for c in kids:
            c.send("read")
            assert read(c) == (k * 128, k, k)
        assert (mine == k).all()
    # And this process writes through torch; the children see it.
    seg.torch().fill_(42.0)
    for c in kids:
        c.send("read")
        assert read(c) == (42.0 * 128, 42.0, 42.0)
        c.finish()
    seg.close()
    client.unlink(name)


def test_a_write_lands_in_place_without_reopening(daemon, client, name):
    """The reader's array object stays the same; only the bytes under it
    change, element by element."""
    seg = client.create(name, 1000, "int64")
    r = spawn(f"""
        seg = tshm.open({name!r})
        a = seg.numpy()
        assert not a.flags.writeable
        print('ready', flush=True)
        for line in sys.stdin:
            i = int(line)
            print(int(a[i]), flush=True)
    """, daemon)
    assert r.expect() == "ready"
    t = seg.torch()
    for i in (0, 1, 499, 999):
        t[i] = i * 1000 + 7
        r.send(str(i))
        assert int(r.expect()) == i * 1000 + 7
    r.finish()
    seg.close()
    client.unlink(name)


def test_numpy_array_passed_to_torch_from_numpy_shares_memory(daemon, client, name):
    """The seed's torch.from_numpy story, across processes."""
    import torch

    seg = client.create(name, (4, 4), "float32")
    a = seg.numpy()
    t = torch.from_numpy(a)
    r = spawn(f"""
        import torch
        seg = tshm.open({name!r}, writable=True)
        t = torch.from_numpy(seg.numpy())
        t += 1                       # through torch, in the other process
        print('done', flush=True)
    """, daemon)
    assert r.expect() == "done"
    r.finish()
    assert (a == 1).all() and bool((t == 1).all())
    a[0, 0] = 5
    assert float(t[0, 0]) == 5
    seg.close()
    client.unlink(name)


def test_seq_is_shared(daemon, client, name):
    seg = client.create(name, 1)
    other = client.open(name)
    assert seg.seq == other.seq == 0
    np.testing.assert_equal(other.numpy(), seg.numpy())
    client.unlink(name)
