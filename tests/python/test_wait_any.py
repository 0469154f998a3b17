"""tshm.wait_any(): one wait over segments, streams and subscribers that
other processes publish to; it returns exactly the ready sources, the same
objects in the order given, through futex_waitv and through the fallback."""

import multiprocessing
import threading
import time

import pytest

import tshm
import waitworkers

SEGS = ("wa_seg0", "wa_seg1", "wa_seg2")
STREAMS = ("wa_st0", "wa_st1")


@pytest.fixture(params=["futex_waitv", "fallback"])
def path(request):
    """Both sleeping paths of libtshm: futex_waitv, and the fallback that
    sleeps on one word and polls (forced, as on a kernel without it)."""
    tshm._tshm._wait_any_fallback(request.param == "fallback")
    yield request.param
    tshm._tshm._wait_any_fallback(False)


@pytest.fixture()
def sources(client):
    segs = [client.create(n, 4, "float32") for n in SEGS]
    streams = [client.stream_create(n, 4, "float32", slots=4) for n in STREAMS]
    subs = [client.sub_open(n) for n in STREAMS]
    yield segs, streams, subs
    for h in subs + streams + segs:
        h.close()
    for n in SEGS + STREAMS:
        client.unlink(n)


def run_child(daemon, **kw):
    ctx = multiprocessing.get_context("spawn")
    p = ctx.Process(target=waitworkers.publish, args=(daemon.socket,), kwargs=kw)
    p.start()
    return p


def join(p):
    p.join(60)
    assert p.exitcode == 0


def test_returns_exactly_the_ready_sources(daemon, sources, path):
    segs, streams, subs = sources
    srcs = [(segs[0], 0), (segs[1], 0), (segs[2], 0), subs[0], subs[1]]
    # Published before the wait: returned at once, exactly those two.
    join(run_child(daemon, segs=[SEGS[1]], streams=[STREAMS[0]]))
    got = tshm.wait_any(srcs, timeout=10)
    assert got == [srcs[1], srcs[3]]
    assert got[0] is srcs[1] and got[1] is subs[0]
    # Published while it sleeps: it wakes for that one alone.
    with subs[0].take(timeout=0):
        pass
    srcs[1] = (segs[1], 2)
    p = run_child(daemon, segs=[SEGS[2]], delay=0.3)
    got = tshm.wait_any(srcs, timeout=30)
    join(p)
    assert got == [srcs[2]]
    srcs[2] = (segs[2], segs[2].wait(0, 0))
    p = run_child(daemon, streams=[STREAMS[1]], delay=0.3)
    assert tshm.wait_any(srcs, timeout=30) == [subs[1]]
    join(p)
    with subs[1].take(timeout=0) as a:
        assert (a == 1).all()


def test_bare_segment_waits_for_the_next_version(daemon, sources, path):
    segs, streams, subs = sources
    with segs[0].write():
        pass
    # seq 2 now: a bare segment means "newer than 2", a tuple says itself.
    with pytest.raises(tshm.TimeoutError):
        tshm.wait_any([segs[0], streams[0]], timeout=0.05)
    assert tshm.wait_any([segs[0], (segs[0], 0)], timeout=0) == [(segs[0], 0)]
    p = run_child(daemon, segs=[SEGS[0]], streams=[STREAMS[0]], delay=0.2)
    got = tshm.wait_any([segs[1], segs[0], streams[0]], timeout=30)
    join(p)
    assert got and set(map(id, got)) <= {id(segs[0]), id(streams[0])}
    # A Subscriber in a tuple stands for its stream's counter.
    assert tshm.wait_any([(subs[0], 0)], timeout=0) == [(subs[0], 0)]


def test_timeout(sources, path):
    segs, streams, subs = sources
    t0 = time.monotonic()
    with pytest.raises(tshm.TimeoutError, match="none of 3 sources was ready within 0.3 s") as ei:
        tshm.wait_any([segs[0], (segs[1], 0), subs[0]], timeout=0.3)
    assert time.monotonic() - t0 >= 0.3
    assert isinstance(ei.value, TimeoutError) and ei.value.code == -110
    with pytest.raises(tshm.TimeoutError):
        tshm.wait_any([subs[1]], timeout=0)


def test_releases_the_gil(sources):
    segs, streams, subs = sources
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        with pytest.raises(tshm.TimeoutError):
            tshm.wait_any([segs[0], subs[0]], timeout=0.5)
    finally:
        stop.set()
        t.join()
    assert len(ticks) >= 5


def test_unlinked_stream_is_ready(client, sources):
    segs, streams, subs = sources
    client.unlink(STREAMS[0])
    assert tshm.wait_any([subs[1], subs[0]], timeout=10) == [subs[0]]
    with pytest.raises(tshm.NotFoundError):
        subs[0].take(timeout=0)
    client.stream_create(STREAMS[0], 4, "float32").close()  # for the fixture's unlink


def test_bad_sources(client, sources):
    segs, streams, subs = sources
    with pytest.raises(tshm.InvalidError, match="1 to 128"):
        tshm.wait_any([])
    with pytest.raises(tshm.InvalidError, match="1 to 128"):
        tshm.wait_any([segs[0]] * 129, timeout=0)
    with pytest.raises(tshm.TimeoutError):  # 128 is allowed
        tshm.wait_any([(segs[0], 100)] * 128, timeout=0.01)
    with pytest.raises(TypeError, match="not int"):
        tshm.wait_any([5])
    with pytest.raises(TypeError):
        tshm.wait_any([(segs[0], 0, 1)])
    with pytest.raises(tshm.InvalidError, match="after_seq"):
        tshm.wait_any([(segs[0], -1)])
    with pytest.raises(TypeError):
        tshm.wait_any(7)
    with pytest.raises(tshm.InvalidError):
        tshm.wait_any([segs[0]], timeout=-1)
    with streams[0].loan() as a:
        a[...] = 0
    frame = subs[0].take(timeout=1)
    with pytest.raises(tshm.InvalidError, match="holds its depth of frames"):
        tshm.wait_any([subs[0]], timeout=0)
    frame.release()
    with pytest.raises(tshm.TimeoutError):
        tshm.wait_any([subs[0]], timeout=0)
    other = client.create("wa_closed", 4)
    other.close()
    with pytest.raises(tshm.ClosedError):
        tshm.wait_any([segs[0], other], timeout=0)
    client.unlink("wa_closed")


def test_ctrl_c_interrupts_wait_any(daemon, sources):
    from conftest import python
    res = python(f"""
        import signal, threading
        seg = tshm.open({SEGS[0]!r})
        sub = tshm.sub_open({STREAMS[0]!r})
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            tshm.wait_any([seg, sub])
        except KeyboardInterrupt:
            print('interrupted')
    """, daemon, timeout=60)
    assert res.stdout.strip() == "interrupted"


def test_fallback_chosen_by_environment(daemon, sources):
    """$TSHM_WAIT_ANY_FALLBACK=1 makes libtshm use the fallback from the
    start, and wait_any works through it."""
    from conftest import python
    code = f"""
        import threading
        seg = tshm.open({SEGS[2]!r})
        w = tshm.open({SEGS[2]!r}, writable=True)
        def publish():
            with w.write():
                pass
        threading.Timer(0.2, publish).start()
        print(tshm.wait_any([tshm.sub_open({STREAMS[1]!r}), seg], timeout=30) == [seg])
        print(tshm._tshm._wait_any_fallback(False))
    """
    res = python(code, daemon, env=daemon.env(TSHM_WAIT_ANY_FALLBACK="1"))
    assert res.stdout.split() == ["True", "True"]
    res = python(code, daemon)
    assert res.stdout.split() == ["True", "False"]


def test_wait_any_on_a_subscriber_below_its_depth(client):
    # A subscriber holding frames, but fewer than its depth, may wait for
    # the next: wait_any says it is ready when one is there to take.
    st = client.stream_create("wa_depth", 4, "int32", slots=4, ephemeral=True)
    sub = client.sub_open("wa_depth", depth=2)
    with st.loan() as a:
        a[...] = 1
    held = sub.take(timeout=1)
    with pytest.raises(tshm.TimeoutError):
        tshm.wait_any([sub], timeout=0.05)
    with st.loan() as a:
        a[...] = 2
    assert tshm.wait_any([sub], timeout=1) == [sub]
    second = sub.take(timeout=0)
    assert second.seq == 2 and sub.held == 2
    with pytest.raises(tshm.InvalidError, match="depth"):
        tshm.wait_any([sub], timeout=0)
    held.release()
    second.release()
    sub.close()
    st.close()
