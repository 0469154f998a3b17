"""A view outlives seg.close(), client.close() and unlink(), in any order; the
mapping goes (checked in /proc/self/maps) exactly when the last view does,
and the daemon's handle with it."""

import gc
import itertools
import threading

import numpy as np
import pytest

import tshm
from conftest import shm_mapped

torch = pytest.importorskip("torch")


def mapped(daemon, name):
    return shm_mapped(f"/{daemon.prefix}.{name}")


VIEWS = {
    "numpy": lambda seg: seg.numpy(),
    "asarray": lambda seg: np.asarray(seg),
    "memoryview": lambda seg: memoryview(seg),
    "array_interface": lambda seg: np.asarray(type("W", (), {
        "__array_interface__": seg.__array_interface__})()),
    "torch": lambda seg: seg.torch(),
    "from_dlpack": lambda seg: torch.from_dlpack(seg),
    "torch_from_numpy": lambda seg: torch.from_numpy(seg.numpy()),
    "capsule": lambda seg: seg.__dlpack__(),
    "np_from_dlpack": lambda seg: np.from_dlpack(seg),
}


def first(view):
    """Read element 0 through `view`, whatever kind it is."""
    if type(view).__name__ == "PyCapsule":
        return None  # opaque until consumed
    if isinstance(view, memoryview):
        return view[0]
    return float(view.reshape(-1)[0])


@pytest.mark.parametrize("kind", sorted(VIEWS))
def test_view_keeps_the_mapping_until_it_dies(daemon, name, kind):
    c = daemon.client()
    seg = c.create(name, 16, "float32")
    seg.numpy()[:] = 7.0
    view = VIEWS[kind](seg)
    seg.close()
    c.unlink(name)
    c.close()
    gc.collect()
    # Closed, unlinked, disconnected: the view still reads the memory.
    assert mapped(daemon, name) == 1
    assert first(view) in (7.0, None)
    if kind == "capsule":
        view = torch.from_dlpack(view)  # consumed after all that
        assert float(view[3]) == 7.0
    del view
    gc.collect()
    assert mapped(daemon, name) == 0


@pytest.mark.parametrize("order", list(itertools.permutations(
    ["close_seg", "close_client", "unlink", "del_views"])))
def test_every_order_of_close_unlink_and_delete(daemon, name, order):
    c = daemon.client()
    seg = c.create(name, (4, 4), "float64")
    views = [f(seg) for f in VIEWS.values()]
    other = daemon.client()  # watches the segment's handles
    assert other.stat(name)["opens"] == 1
    for step in order:
        if step == "close_seg":
            seg.close()
        elif step == "close_client":
            c.close()
        elif step == "unlink":
            c.unlink(name) if not c.closed else other.unlink(name)
        else:
            for mv in [v for v in views if isinstance(v, memoryview)]:
                mv[0, 0] = 1.5  # still writable whatever came before
            del mv
            views.clear()
        gc.collect()
    del seg
    gc.collect()
    assert mapped(daemon, name) == 0
    with pytest.raises(tshm.NotFoundError):
        other.stat(name)
    other.close()


def test_daemon_handle_lives_as_long_as_the_views(daemon, client, name):
    seg = client.create(name, 8)
    a = seg.numpy()
    seg.close()
    assert client.stat(name)["opens"] == 1  # the array still holds the open
    del a
    gc.collect()
    assert client.stat(name)["opens"] == 0
    client.unlink(name)


def test_client_close_drops_daemon_handles_but_keeps_the_memory(daemon, name):
    c = daemon.client()
    seg = c.create(name, 8, "int32")
    t = seg.torch()
    c.close()
    watcher = daemon.client()
    assert watcher.stat(name)["opens"] == 0  # the connection is gone
    t += 5
    assert seg.numpy().tolist() == [5] * 8  # the Segment itself still maps it
    with pytest.raises(tshm.ClosedError):
        c.open(name)
    watcher.unlink(name)
    del t, seg
    gc.collect()
    assert mapped(daemon, name) == 0
    watcher.close()


def test_unlinked_name_can_be_reused_while_old_views_live(client, name):
    old = client.create(name, 4, "int64")
    a = old.numpy()
    a[:] = 1
    client.unlink(name)
    new = client.create(name, 4, "int64")
    new.numpy()[:] = 2
    assert a.tolist() == [1] * 4 and new.numpy().tolist() == [2] * 4
    client.unlink(name)


def test_memoryview_defers_close(daemon, client, name):
    seg = client.create(name, 4, "uint8")
    mv = memoryview(seg)
    seg.close()
    assert seg.closed
    with pytest.raises(tshm.ClosedError):
        memoryview(seg)
    with pytest.raises(tshm.ClosedError):
        seg.numpy()
    with pytest.raises(tshm.ClosedError):
        seg.torch()
    with pytest.raises(tshm.ClosedError):
        seg.__dlpack__()
    with pytest.raises(tshm.ClosedError):
        seg.__array_interface__
    with pytest.raises(tshm.ClosedError):
        seg.seq
    mv[1] = 9
    assert mapped(daemon, name) == 1
    mv.release()
    assert mapped(daemon, name) == 0
    seg.close()  # idempotent
    client.unlink(name)


def test_unconsumed_capsule_releases_the_mapping(daemon, client, name):
    seg = client.create(name, 4)
    caps = [seg.__dlpack__() for _ in range(3)]
    seg.close()
    assert mapped(daemon, name) == 1
    del caps
    assert mapped(daemon, name) == 0
    client.unlink(name)


def test_tensor_freed_on_another_thread(daemon, client, name):
    seg = client.create(name, 1024, "float32")
    tensors = [seg.torch() for _ in range(8)] + [torch.from_dlpack(seg) for _ in range(8)]
    seg.close()

    def drop(ts):
        for t in ts:
            t.add_(1)
        ts.clear()

    threads = [threading.Thread(target=drop, args=([tensors.pop() for _ in range(4)],))
               for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not tensors
    gc.collect()
    assert mapped(daemon, name) == 0
    assert client.stat(name)["opens"] == 0
    client.unlink(name)


def test_tensor_views_of_views(daemon, client, name):
    seg = client.create(name, (4, 4), "float32")
    t = seg.torch()[1:3, ::2]  # a strided view of the view
    a = seg.numpy()[::2]
    del seg
    gc.collect()
    t.fill_(1)
    assert mapped(daemon, name) == 1
    del a
    gc.collect()
    assert mapped(daemon, name) == 1
    assert float(t.sum()) == 4
    del t
    gc.collect()
    assert mapped(daemon, name) == 0
    client.unlink(name)
