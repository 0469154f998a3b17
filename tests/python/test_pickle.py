"""Handles cross processes: Client, Segment, Stream and Subscriber pickle by
socket, name and access, so multiprocessing spawn and forkserver children get
working handles of their own; Frames and Loans refuse; and handles inherited
over fork() refuse in the child rather than share the parent's position."""

import multiprocessing
import os
import pickle

import numpy as np
import pytest

import sharework
import tshm


def test_handles_pickle_by_name(client, name):
    seg = client.create(name, (2, 3), "float32")
    seg.numpy()[:] = 4
    c2 = pickle.loads(pickle.dumps(client))
    assert isinstance(c2, tshm.Client) and c2.socket == client.socket
    # A Client of its own each time: closing it ends nothing else, not the
    # connection that unpickled handles share.
    c3 = pickle.loads(pickle.dumps(client))
    assert c3 is not c2
    c2.close()
    s2 = pickle.loads(pickle.dumps(seg))
    assert isinstance(s2, tshm.Segment) and s2.writable and s2.name == name
    assert s2.shape == (2, 3) and (s2.numpy() == 4).all()
    s2.numpy()[0, 0] = 9
    assert seg.numpy()[0, 0] == 9  # the same segment
    ro = pickle.loads(pickle.dumps(client.open(name)))
    assert not ro.writable and ro.numpy()[0, 0] == 9
    c3.close()
    assert pickle.loads(pickle.dumps(seg)).numpy()[0, 0] == 9  # still served
    seg.close()
    with pytest.raises(tshm.ClosedError):
        pickle.dumps(seg)
    c3 = tshm.connect(client.socket)
    c3.close()
    with pytest.raises(tshm.ClosedError):
        pickle.dumps(c3)
    client.unlink(name)


def test_frames_and_loans_refuse_to_pickle(client, name):
    st = client.stream_create(name, 4, "int32", slots=2)
    sub = client.sub_open(name)
    loan = st.loan(timeout=1)
    with pytest.raises(TypeError, match="Pickle the Stream"):
        pickle.dumps(loan)
    loan.publish()
    frame = sub.take(timeout=1)
    with pytest.raises(TypeError, match="Pickle the Subscriber"):
        pickle.dumps(frame)
    frame.release()
    sub2 = pickle.loads(pickle.dumps(sub))
    assert isinstance(sub2, tshm.Subscriber) and sub2 is not sub
    assert client.stat(name)["stream"]["subscribers"] == 2
    st2 = pickle.loads(pickle.dumps(st))
    assert isinstance(st2, tshm.Stream) and st2.writable
    for h in (sub2, st2, sub, st):
        h.close()
    client.unlink(name)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_segment_and_client_cross_spawn_and_forkserver(daemon, client, name, method):
    seg = client.create(name, 3, "float64")
    seg.numpy()[:] = [1, 2, 3]
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(1) as pool:
        before, writable, pid = pool.apply(sharework.segment_add, (seg, 10.0))
        assert pid != os.getpid()
        assert before == [1.0, 2.0, 3.0] and writable
        assert seg.numpy().tolist() == [11.0, 12.0, 13.0]  # the child's write
        seg.numpy()[:] = 0
        before, _, _ = pool.apply(sharework.segment_add, (seg, 1.0))
        assert before == [0.0, 0.0, 0.0]  # the parent's write, seen there
        # A read-only handle arrives read-only.
        with pytest.raises(ValueError, match="read-only"):
            pool.apply(sharework.segment_add, (client.open(name), 1.0))
        sock, names = pool.apply(sharework.client_list, (client,))
        assert sock == daemon.socket and name in names
    assert seg.numpy().tolist() == [1.0, 1.0, 1.0]
    seg.close()
    client.unlink(name)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_stream_and_subscriber_cross_spawn(daemon, client, name, method):
    st = client.stream_create(name, 2, "int64", slots=4)
    sub = client.sub_open(name)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(1) as pool:
        assert pool.apply(sharework.stream_publish, (st, 5)) == 2
        with sub.take(timeout=5) as a:
            assert a.tolist() == [5, 5]
        # A pickled Subscriber is a new subscription: frames published before
        # it joined are not its, the next one is.
        with st.loan(timeout=1) as a:
            a[:] = 6
        m = ctx.Manager()
        ready, go = m.Event(), m.Event()
        res = pool.apply_async(sharework.subscriber_take, (sub, ready, go))
        assert ready.wait(30)
        with st.loan(timeout=1) as a:
            a[:] = 7
        go.set()
        assert res.get(30) == ("none", [7, 7])
        m.shutdown()
    # The parent's own subscription kept its place.
    with sub.take(timeout=1) as a:
        assert a.tolist() == [6, 6]
    sub.close()
    st.close()
    client.unlink(name)


def test_fork_child_refuses_inherited_subscriber_and_stream(client, name):
    st = client.stream_create(name, 1, "int32", slots=8)
    sub = client.sub_open(name)
    for v in (1, 2, 3, 4):
        with st.loan(timeout=1) as a:
            a[:] = v
    held = sub.take(timeout=1)
    assert held.seq == 1
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: every use that moves shared state must raise
        os.close(r)
        out = []
        for what, f in (("take", lambda: sub.take(timeout=0)),
                        ("release", held.release),
                        ("loan", lambda: st.loan(timeout=0))):
            try:
                f()
                out.append(f"{what} worked")
            except tshm.ConnectError as e:
                ok = "open it again" in str(e) and "pickl" in str(e)
                out.append(f"{what} ConnectError {ok}")
            except BaseException as e:  # noqa: BLE001
                out.append(f"{what} {type(e).__name__}")
        # Views are memory, and keep working.
        out.append(f"view {held.numpy().tolist()}")
        os.write(w, "\n".join(out).encode())
        os._exit(0)  # dealloc must not release the parent's frame either
    os.close(w)
    with os.fdopen(r) as f:
        got = f.read().splitlines()
    assert os.waitpid(pid, 0)[1] == 0
    assert got == ["take ConnectError True", "release ConnectError True",
                   "loan ConnectError True", "view [1]"], got
    # The parent's frame is still held, and its cursor did not move.
    assert held.held
    held.release()
    for want in (2, 3, 4):
        with sub.take(timeout=1) as a:
            assert a.tolist() == [want]
    with st.loan(timeout=1) as a:
        a[:] = 5
    with sub.take(timeout=1) as a:
        assert a.tolist() == [5]
    sub.close()
    st.close()
    client.unlink(name)


def test_fork_child_exiting_normally_leaves_the_parent_frame(daemon, client, name):
    """A child that simply exits (running finalizers) moves nothing either."""
    st = client.stream_create(name, 1, "int32", slots=4, policy="block")
    sub = client.sub_open(name)
    for v in (1, 2):
        with st.loan(timeout=1) as a:
            a[:] = v
    frame = sub.take(timeout=1)
    loan = st.loan(timeout=1)
    pid = os.fork()
    if pid == 0:
        del frame, loan, sub, st  # deallocs in the child
        import gc
        gc.collect()
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert frame.held and loan.active
    loan.array[:] = 3
    assert loan.publish() == 3
    frame.release()
    with sub.take(timeout=1) as a:
        assert a.tolist() == [2]
    sub.close()
    st.close()
    client.unlink(name)


def test_fork_keeps_segment_views(client, name):
    seg = client.create(name, 2, "float32")
    t_ro = client.open(name)
    a = seg.numpy()
    pid = os.fork()
    if pid == 0:
        a[:] = 3  # a writable segment's views are shared memory in the child
        ok = float(t_ro.numpy().sum()) == 6.0
        os._exit(0 if ok else 1)
    assert os.waitpid(pid, 0)[1] == 0
    assert np.array_equal(a, [3, 3])
    seg.close()
    client.unlink(name)
