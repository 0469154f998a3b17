"""torch tensors of tshm segments: read-only segments and frames give
copy-on-write tensors whose in-place ops cannot crash and reach no other
process; tensors over segments cross torch.multiprocessing queues and
DataLoader workers as references to the segment (zero-copy, writes seen both
ways), other tensors the torch way."""

import os
import signal
import time

import numpy as np
import pytest

import sharework
import tshm
from conftest import spawn

torch = pytest.importorskip("torch")
import torch.multiprocessing as tmp  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def test_inplace_ops_on_read_only_tensor_in_a_child(daemon, client, name):
    n = 4 * PAGE // 4  # four pages of float32
    seg = client.create(name, n, "float32")
    a = seg.numpy()
    a[:] = 1
    other = client.open(name).torch()  # another reader, in this process
    child = spawn(f"""
        import torch
        seg = tshm.open({name!r})
        t = seg.torch()
        q = {PAGE // 4}
        t[:q].add_(1); t[:q].mul_(3); t[5] = -1; t[q:2 * q].zero_()
        print('ops', float(t[0]), float(t[5]), float(t[q]), float(t[2 * q]), flush=True)
        input()
        # Pages 2 and 3 were never written here: they follow the producer;
        # pages 0 and 1 are this process's own now.
        print('after', float(t[0]), float(t[q]), float(t[2 * q]), float(t[3 * q]), flush=True)
        print('origin', tshm.tensor_origin(t[q:]), flush=True)
    """, daemon)
    assert child.expect("ops ") == "6.0 -1.0 0.0 1.0"
    # The segment and every other reader are unchanged.
    assert (a == 1).all() and (other == 1).all()
    a[:] = 9  # the producer writes every page
    child.send("")
    assert child.expect("after ") == "6.0 0.0 9.0 9.0"
    origin = child.expect("origin ")
    assert f"name='{name}'" in origin and "writable=False" in origin and \
        f"offset={PAGE}" in origin
    child.finish()
    assert (a == 9).all() and (other == 9).all()
    seg.close()
    client.unlink(name)


def test_inplace_ops_on_frame_tensor_in_a_child(daemon, client, name):
    st = client.stream_create(name, (2, PAGE // 8), "float64", slots=4)
    ready = spawn(f"""
        import torch
        sub = tshm.sub_open({name!r})
        print('ready', flush=True)
        with sub.take(timeout=30) as f:
            pass
        frame = sub.take(timeout=30)
        t = frame.torch()
        t.add_(1); t[0].mul_(2); t[1, 3] = 100; t[1, :2].zero_()
        print('frame', float(t[0, 0]), float(t[1, 3]), float(t[1, 0]), float(t[1, 5]),
              bool((frame.numpy() == 4).all()), flush=True)
        frame.release()
    """, daemon)
    other = client.sub_open(name)
    assert ready.expect("ready") == ""
    for v in (3, 4):
        with st.loan(timeout=5) as a:
            a[:] = v
    assert ready.expect("frame ") == "10.0 100.0 0.0 5.0 True"
    ready.finish()
    # Another subscriber sees the frames as published.
    for v in (3, 4):
        with other.take(timeout=5) as a:
            assert (a == v).all()
    other.close()
    st.close()
    client.unlink(name)


def test_frame_tensor_after_release_follows_the_slot(client, name):
    """As the ndarray views: the tensor is the frame only while it is held."""
    st = client.stream_create(name, 2 * PAGE // 4, "int32", slots=2, policy="overwrite")
    sub = client.sub_open(name)
    with st.loan(timeout=1) as a:
        a[:] = 1
    frame = sub.take(timeout=1)
    t = frame.torch()
    t[0] = 50  # a private copy of the first page
    frame.release()
    for v in (2, 3):  # frame 3 reuses frame 1's slot
        with st.loan(timeout=1) as a:
            a[:] = v
    assert int(t[0]) == 50 and int(t[1]) == 1  # the page written stays ours
    assert int(t[PAGE // 4]) == 3  # the other follows the slot
    sub.close()
    st.close()
    client.unlink(name)


def test_read_only_tensor_survives_a_hostile_truncate(daemon, client, name):
    """A private mapping's unwritten pages are the object's: a truncate is
    absorbed as for shared mappings (the daemon restores the size)."""
    n = 8 * PAGE
    seg = client.create(name, n, "uint8")
    seg.numpy()[:] = 7
    t = client.open(name).torch()
    t[:PAGE] = 1  # one private page
    paths = [p for p in os.listdir("/dev/shm") if p.endswith(f".{name}") or name in p]
    assert paths, os.listdir("/dev/shm")
    fd = os.open(os.path.join("/dev/shm", paths[0]), os.O_RDWR)
    try:
        os.ftruncate(fd, PAGE)
        # Would SIGBUS past the cut without libtshm's handler: it waits for
        # the daemon to restore the size. The kernel drops the private copies
        # past the cut too, so they read as the object's bytes again (zeros
        # past the cut, as for shared mappings).
        total = int(t.sum())
    finally:
        os.close(fd)
    assert total <= 7 * n
    # Still a private mapping: writes stay here.
    t.fill_(5)
    assert int(t.sum()) == 5 * n and not (seg.numpy() == 5).any()
    client.unlink(name)


def test_tensor_crosses_a_torch_queue_zero_copy(daemon, client, name):
    seg = client.create(name, (4, 8), "float32")
    a = seg.numpy()
    t = seg.torch()
    assert tshm.tensor_origin(t[1:3]) == (daemon.socket, name, True, 32)
    ctx = tmp.get_context("spawn")
    inq, outq, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    p = ctx.Process(target=sharework.queue_receiver, args=(inq, outq, go))
    p.start()
    inq.put(t[1:3])
    inq.put(torch.arange(3.0))  # not tshm's: crosses the torch way
    shared, shape, other, not_tshm = outq.get(timeout=60)
    assert shared and tuple(shape) == (2, 8)
    assert other == [0.0, 1.0, 2.0] and not_tshm
    # The receiver's write is in the segment.
    assert (a[1:3] == 7).all() and (a[0] == 0).all() and (a[3] == 0).all()
    a[2, 0] = -5  # and ours is in its tensor
    go.set()
    got = outq.get(timeout=60)
    assert got[1][0] == -5.0 and got[0][0] == 7.0
    p.join(60)
    assert p.exitcode == 0
    seg.close()
    client.unlink(name)


def test_read_only_and_private_tensors_cross_read_only(daemon, client, name):
    from multiprocessing.reduction import ForkingPickler
    import pickle

    seg = client.create(name, 8, "int64")
    seg.numpy()[:] = 3
    ro = client.open(name).torch()
    ro[0] = 100  # private to this tensor's process
    origin = tshm.tensor_origin(ro[2:])
    assert origin == (daemon.socket, name, False, 16)
    t2 = pickle.loads(ForkingPickler.dumps(ro[2:]))
    # A read-only reference: the receiver views the segment privately.
    assert tshm.tensor_origin(t2).writable is False
    assert t2.tolist() == [3] * 6
    t2.fill_(1)
    assert (seg.numpy() == 3).all()
    # Local private writes do not travel.
    assert pickle.loads(ForkingPickler.dumps(ro))[0] == 3
    # Parameters keep their type and requires_grad.
    p = torch.nn.Parameter(client.open(name, writable=True).torch().double())
    assert tshm.tensor_origin(p) is None  # a copy: .double() converted
    client.unlink(name)
    fseg = client.create(name, 8, "float32")
    w = torch.nn.Parameter(fseg.torch()[1:5])
    w2 = pickle.loads(ForkingPickler.dumps(w))
    assert isinstance(w2, torch.nn.Parameter) and w2.requires_grad
    assert tshm.tensor_origin(w2) == (daemon.socket, name, True, 4)
    with torch.no_grad():
        w2.add_(2)
    assert fseg.numpy().tolist() == [0, 2, 2, 2, 2, 0, 0, 0]
    client.unlink(name)


def test_one_open_per_segment_and_no_leak_after_kill(fresh_daemon, name):
    client = fresh_daemon.client()
    seg = client.create(name, (1000, 4), "float32")
    t = seg.torch()
    opens0 = client.stat(name)["opens"]
    ctx = tmp.get_context("spawn")
    inq, outq = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=sharework.queue_hold, args=(inq, outq, 1000))
    p.start()
    for i in range(1000):
        inq.put(t[i])
    n, names = outq.get(timeout=120)
    assert n == 1000 and names == [name]
    # 1000 tensors over one segment: one more open (and one more client).
    assert client.stat(name)["opens"] == opens0 + 1
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    deadline = time.monotonic() + 10
    while client.stat(name)["opens"] != opens0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.stat(name)["opens"] == opens0
    st = client.daemon_stat()
    assert st["clients"] == 1 and st["opens"] == opens0
    seg.close()
    del t
    client.unlink(name)
    assert not [f for f in os.listdir("/dev/shm") if name in f]
    client.close()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_workers_return_segment_views(daemon, client, name, method):
    from torch.utils.data import DataLoader

    seg = client.create(name, (6, 16), "float32")
    a = seg.numpy()
    a[:] = np.arange(6, dtype=np.float32)[:, None]
    ds = sharework.SegmentRows(daemon.socket, name, 6)
    loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=method)
    rows = list(loader)
    assert [float(r[0]) for r in rows] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    for i, r in enumerate(rows):
        assert tshm.tensor_origin(r) == (daemon.socket, name, True, i * 64)
    a[4, 0] = 44  # zero-copy: the main process's tensors see the segment
    assert float(rows[4][0]) == 44.0
    rows[5][1] = 55
    assert a[5, 1] == 55
    seg.close()
    client.unlink(name)


def test_slot_tensors_refuse_to_cross_and_clones_do(client, name):
    # A frame's slot is reused once it is released, and a loan's once it is
    # published, maybe before a queue's feeder thread pickles the tensor:
    # refused, with what to do instead.
    from multiprocessing.reduction import ForkingPickler
    import pickle

    st = client.stream_create(name, (2, 3), "float32", slots=2)
    sub = client.sub_open(name)
    loan = st.loan(timeout=1)
    with pytest.raises(TypeError, match="clone"):
        ForkingPickler.dumps(loan.torch())
    loan.numpy()[:] = 5
    loan.publish()
    frame = sub.take(timeout=1)
    t = frame.torch()
    ptr = t.data_ptr()
    assert tshm.tensor_origin(t) is None  # a slot is no segment to refer to
    with pytest.raises(TypeError, match="clone"):
        ForkingPickler.dumps(t[1])
    sub_t = pickle.loads(ForkingPickler.dumps(t[1].clone()))
    assert sub_t.tolist() == [5.0, 5.0, 5.0]
    assert t.data_ptr() == ptr and (t == torch.from_numpy(frame.numpy())).all()
    frame.release()
    sub.close()
    st.close()
    client.unlink(name)


def test_conjugate_and_negative_views_cross_as_such(client, name):
    from multiprocessing.reduction import ForkingPickler
    import pickle

    seg = client.create(name, 3, "complex64")
    seg.numpy()[:] = [1 + 2j, 3 - 1j, 0.5j]
    t = seg.torch()
    c = pickle.loads(ForkingPickler.dumps(t.conj()))
    assert c.is_conj() and c.tolist() == [1 - 2j, 3 + 1j, -0.5j]
    n = pickle.loads(ForkingPickler.dumps(torch._neg_view(t)))
    assert n.tolist() == [-1 - 2j, -3 + 1j, -0.5j]
    seg.numpy()[0] = 7  # still views of the segment
    assert c[0] == 7 and n[0] == -7
    seg.close()
    client.unlink(name)


def test_a_frame_tensor_does_not_keep_a_closed_subscriber_joined(client, name):
    st = client.stream_create(name, 1024, "int32", slots=2, policy="block")
    sub = client.sub_open(name)
    with st.loan(timeout=1) as a:
        a[:] = 1
    f = sub.take(timeout=1)
    t = f.torch()
    f.release()
    sub.close()
    del f, sub
    import gc
    gc.collect()
    # The block producer runs on: the subscription ended though t lives.
    for k in range(2, 8):
        with st.loan(timeout=5) as a:
            a[:] = k
    assert client.stat(name)["stream"]["subscribers"] == 0
    assert int(t[5]) in (1, 3, 5, 7)  # a view of its slot, still mapped
    st.close()
    client.unlink(name)


@pytest.mark.parametrize("frame_bytes", [1000, 4096 + 8])
def test_frames_that_share_pages_keep_their_own_bytes(client, name, frame_bytes):
    # Slots are 64-byte aligned, not page aligned: in-place writes to one
    # frame's tensor must not show in, nor be dropped from, a neighbour's.
    st = client.stream_create(name, frame_bytes, "uint8", slots=4)
    sub = client.sub_open(name, depth=2)
    frames = []
    for k in range(1, 9):
        with st.loan(timeout=5) as a:
            a[:] = k
        f = sub.take(timeout=5)
        t = f.torch()
        assert bool((t == k).all()), (k, t[:4])
        t[:8] = 200 + k
        frames.append((f, t, k))
        if len(frames) == 2:
            (f0, t0, k0), _ = frames
            assert int(t0[0]) == 200 + k0 and int(t0[100]) == k0
            f0.release()
            frames.pop(0)
    frames[0][0].release()
    sub.close()
    st.close()
    client.unlink(name)


@pytest.mark.parametrize("shape", [0, (3, 0), 1, 3])
def test_small_and_empty_read_only_segments_give_tensors(client, name, shape):
    w = client.create(name, shape, "int16")
    w.numpy()[...] = 2
    t = client.open(name).torch()
    assert t.shape == tuple(w.shape) and (t == 2).all()
    t.add_(1)
    assert (w.numpy() == 2).all()
    client.unlink(name)


def test_a_slot_written_through_a_frame_tensor_comes_back_clean(client, name):
    # One private mapping of the ring serves every frame's tensor; the pages
    # a tensor wrote in a slot are dropped before that slot's next frame is
    # handed out, and pages of other slots are left alone.
    st = client.stream_create(name, (3, 1024), "int32", slots=3)
    sub = client.sub_open(name)
    for k in range(1, 10):
        with st.loan() as a:
            a[...] = k
        f = sub.take(timeout=5)
        t = f.torch()
        assert f.seq == k and bool((t == k).all()), (k, t[:, 0])
        if k % 2:
            t[1].fill_(-1)        # one page of the slot's three
            t[0, 0] = -2
        assert int(t[1, 5]) == (-1 if k % 2 else k) and int(t[2, 5]) == k
        f.release()
    with st.loan() as a:
        a[...] = 99
    assert sub.take(timeout=5).numpy()[1, 0] == 99   # the shared view never saw -1
    maps = [line for line in open("/proc/self/maps") if name in line and " rw-p " in line]
    assert len(maps) == 1, maps  # one private mapping for all nine frames
    sub.close()
    st.close()
    client.unlink(name)
