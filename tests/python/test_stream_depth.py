"""Subscribers that hold several frames at once (sub_open(depth=)) and that
start at the newest frame (start='newest'): the 'block' producer waits
exactly until the oldest held frame is released; an overwritten held frame
is torn at its release; a subscriber killed with -9 holding frames stops
holding the producer back."""

import multiprocessing
import os
import signal
import threading
import time

import pytest

import tshm


def publish(st, first, last):
    for k in range(first, last + 1):
        with st.loan(timeout=5) as a:
            a[:] = k


def can_publish(st, k, timeout):
    """Whether the producer gets its next slot within timeout; fills it with k."""
    try:
        loan = st.loan(timeout=timeout)
    except tshm.TimeoutError:
        return False
    loan.array[:] = k
    assert loan.publish() == k
    return True


def wait_for(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_depth_block_waits_for_the_oldest(client, name):
    st = client.stream_create(name, 8, "int32", slots=4, policy="block")
    with client.sub_open(name, depth=3) as sub:
        assert sub.depth == 3 and sub.held == 0
        publish(st, 1, 3)
        f1, f2, f3 = (sub.take(timeout=1) for _ in range(3))
        assert [f.seq for f in (f1, f2, f3)] == [1, 2, 3] and sub.held == 3
        assert (f2.array == 2).all() and (f3.array == 3).all()
        with pytest.raises(tshm.InvalidError, match="holds 3 frames already, its depth"):
            sub.take(timeout=0)
        assert can_publish(st, 4, 1)  # a free slot
        assert not can_publish(st, 5, 0.1)  # frame 1's slot
        f2.release()  # not the oldest: nothing changes for the producer
        assert sub.held == 2 and not f2.held
        f2.release()  # idempotent
        assert not can_publish(st, 5, 0.1)
        with f1 as a:  # still valid, and released on leaving
            assert (a == 1).all()
        assert can_publish(st, 5, 1) and can_publish(st, 6, 1)
        assert not can_publish(st, 7, 0.1)  # frame 3's slot, still held
        f3.release()
        assert sub.held == 0 and can_publish(st, 7, 1)
        # Frame 8 would reuse frame 4's slot, which it has not taken yet.
        assert not can_publish(st, 8, 0.1)
        with sub.take(timeout=1) as a:
            assert (a == 4).all()
        assert can_publish(st, 8, 1)
    st.close()
    client.unlink(name)


def test_depth_overwrite_torn_on_release(client, name):
    st = client.stream_create(name, 8, "int32", slots=4, policy="overwrite")
    sub = client.sub_open(name, depth=3)
    publish(st, 1, 3)
    frames = [sub.take(timeout=1) for _ in range(3)]
    publish(st, 4, 5)  # frame 5 takes frame 1's slot
    frames[1].release()
    with pytest.raises(tshm.TornError):
        frames[0].release()
    assert sub.held == 1
    frames[2].release()
    with sub.take(timeout=1) as a:
        assert (a == 4).all()
    assert sub.missed == 0
    sub.close()
    st.close()
    client.unlink(name)


def test_depth_and_start_refused(client, name):
    st = client.stream_create(name, 8, "int32", slots=4)
    with pytest.raises(tshm.InvalidError, match="may hold 3 frames at most"):
        client.sub_open(name, depth=4)
    for bad in (0, -1, 1 << 40):
        with pytest.raises(tshm.InvalidError, match="depth"):
            client.sub_open(name, depth=bad)
    with pytest.raises(ValueError, match="'next' or 'newest'"):
        client.sub_open(name, start="oldest")
    with pytest.raises(TypeError):
        client.sub_open(name, 2)  # depth is keyword-only
    assert client.stat(name)["stream"]["subscribers"] == 0
    with client.sub_open(name) as sub:
        assert sub.depth == 1 and sub.held == 0
        publish(st, 1, 2)
        fr = sub.take(timeout=1)
        assert sub.held == 1
        with pytest.raises(tshm.InvalidError, match=r"holds a frame already \(depth 1\)"):
            sub.take(timeout=0)
        fr.release()
    st.close()
    client.unlink(name)


@pytest.mark.parametrize("policy", ["block", "overwrite"])
def test_newest_start(client, name, policy):
    st = client.stream_create(name, 8, "int32", slots=4, policy=policy)
    publish(st, 1, 6)
    sub = client.sub_open(name, start="newest")
    publish(st, 7, 9)
    if policy == "block":
        # The newest frame is held from the join on: 7 to 9 go, 10 would
        # reuse its slot.
        assert not can_publish(st, 10, 0.1)
    with sub.take(timeout=1) as a:
        assert (a == 6).all()
    with sub.take(timeout=1) as a:
        assert (a == 7).all() and sub.missed == 0
    sub.close()
    if policy == "overwrite":
        # Its slot reused before the first take: the next frame still there.
        sub = client.sub_open(name, start="newest")  # at 9
        publish(st, 10, 13)  # 13 takes 9's slot
        fr = sub.take(timeout=1)
        assert fr.seq == 10 and fr.missed == 1
        fr.release()
        sub.close()
    st.close()
    client.unlink(name)


@pytest.mark.parametrize("policy", ["block", "overwrite"])
def test_newest_start_on_an_empty_stream(daemon, name, policy, monkeypatch):
    monkeypatch.setenv("TSHM_SOCKET", daemon.socket)  # the module-level calls' client
    st = tshm.stream_create(name, 8, "int32", slots=2, policy=policy)
    sub = tshm.sub_open(name, depth=1, start="newest")
    with pytest.raises(tshm.TimeoutError):
        sub.take(timeout=0)
    publish(st, 1, 2)
    for k in (1, 2):
        with sub.take(timeout=1) as a:
            assert (a == k).all()
    sub.close()
    st.close()
    tshm.unlink(name)


def test_release_on_one_thread_while_another_takes(client, name):
    st = client.stream_create(name, 8, "int32", slots=3, policy="block")
    sub = client.sub_open(name, depth=2)
    publish(st, 1, 3)
    f1 = sub.take(timeout=1)
    for k in (2, 3):
        with sub.take(timeout=1) as a:
            assert (a == k).all()
    got = []
    taker = threading.Thread(target=lambda: got.append(sub.take(timeout=10)))
    taker.start()
    time.sleep(0.1)
    assert not can_publish(st, 4, 0.1)  # frame 1's slot
    f1.release()  # while the taker waits for frame 4
    assert can_publish(st, 4, 5)
    taker.join(timeout=20)
    assert not taker.is_alive() and got[0].seq == 4 and (got[0].array == 4).all()
    got[0].release()
    sub.close()
    st.close()
    client.unlink(name)


def hold_three(socket, name, conn):
    """A multiprocessing child: subscribe with depth 3, hold three frames."""
    c = tshm.connect(socket)
    sub = c.sub_open(name, depth=3)
    conn.send("ready")
    frames = [sub.take(timeout=30) for _ in range(3)]
    conn.send([f.seq for f in frames] + [sub.held])
    time.sleep(3600)


def test_child_killed_holding_three_frames(daemon, client, name):
    st = client.stream_create(name, 8, "int32", slots=4, policy="block")
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=hold_three, args=(daemon.socket, name, theirs))
    child.start()
    try:
        assert ours.poll(60) and ours.recv() == "ready"
        publish(st, 1, 4)
        assert ours.poll(30) and ours.recv() == [1, 2, 3, 3]
        assert not can_publish(st, 5, 0.2)
        os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL
        assert can_publish(st, 5, 10)
        publish(st, 6, 12)  # nothing holds it back any more
        wait_for(lambda: client.stat(name)["stream"]["subscribers"] == 0)
    finally:
        if child.is_alive():
            child.kill()
    st.close()
    client.unlink(name)
