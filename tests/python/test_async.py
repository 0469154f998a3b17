"""asyncio: wait_async() on Segment, Stream and Subscriber, and
Subscriber.take_async(), fed by producers in other processes. The event
loop keeps running other tasks while they wait; a cancelled take_async()
has taken nothing; cancellation returns at once and leaves no thread
behind; 100 concurrent awaits do not wait for one another's turn."""

import asyncio
import multiprocessing
import threading
import time

import pytest

import tshm
import waitworkers


from tshm import _aio


def aio_threads():
    return [t for t in threading.enumerate() if t.name == "tshm-aio-wait"]


def no_aio_threads_left(timeout=5.0):
    """Every waiter thread is back in the pool within a slice of its await
    ending (cancelled or not)."""
    deadline = time.monotonic() + timeout
    while _aio.busy_threads():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_take_async_three_streams_from_another_process(daemon, client):
    names = ["aio_st0", "aio_st1", "aio_st2"]
    count = 40
    streams = [client.stream_create(n, 8, "int32", slots=4) for n in names]
    subs = [client.sub_open(n) for n in names]
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    p = ctx.Process(target=waitworkers.produce, args=(daemon.socket, names, count, go))
    p.start()

    async def consume(sub):
        seqs = []
        for _ in range(count):
            frame = await sub.take_async(timeout=60)
            with frame as a:
                assert (a == frame.seq).all()
            seqs.append(frame.seq)
        return seqs

    async def main():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        t = asyncio.create_task(ticker())
        go.set()
        got = await asyncio.gather(*(consume(s) for s in subs))
        done.set()
        await t
        return got, ticks

    got, ticks = asyncio.run(main())
    p.join(60)
    assert p.exitcode == 0
    assert got == [list(range(1, count + 1))] * 3
    # The loop ran the ticker while the takes waited (the producer paces
    # its frames 2 ms apart: 40 of them take 80 ms at least).
    assert ticks >= 3
    assert no_aio_threads_left()
    for h in subs + streams:
        h.close()


def test_wait_async_on_segment_stream_and_subscriber(daemon, client):
    seg = client.create("aio_seg", 4)
    st = client.stream_create("aio_st", 4, "float32")
    sub = client.sub_open("aio_st")
    ctx = multiprocessing.get_context("spawn")

    async def main():
        p = ctx.Process(target=waitworkers.publish, args=(daemon.socket,),
                        kwargs={"segs": ["aio_seg"], "streams": ["aio_st"], "delay": 0.2})
        p.start()
        got = await asyncio.gather(seg.wait_async(0, timeout=30), st.wait_async(0),
                                   sub.wait_async(0, 30))
        p.join(60)
        assert p.exitcode == 0
        return got

    assert asyncio.run(main()) == [2, 2, 2]
    # At once when there is one; timeouts as wait() words them.
    assert asyncio.run(seg.wait_async(0)) == 2
    t0 = time.monotonic()
    with pytest.raises(tshm.TimeoutError, match="no version after 2 was published within 0.2 s"):
        asyncio.run(seg.wait_async(2, timeout=0.2))
    assert time.monotonic() - t0 >= 0.2
    with sub.take(timeout=0):
        pass
    with pytest.raises(tshm.TimeoutError, match="no frame was published within 0.1 s") as ei:
        asyncio.run(sub.take_async(timeout=0.1))
    assert isinstance(ei.value, TimeoutError) and ei.value.code == -110
    with pytest.raises(tshm.TimeoutError):
        asyncio.run(sub.take_async(timeout=0))
    with pytest.raises(tshm.InvalidError):
        asyncio.run(seg.wait_async(0, timeout=-1))
    with pytest.raises(tshm.InvalidError):
        asyncio.run(seg.wait_async(-1))
    # Unlinked: what wait() raises.
    client.unlink("aio_st")
    with pytest.raises(tshm.NotFoundError):
        asyncio.run(sub.take_async(timeout=10))
    assert no_aio_threads_left()
    for h in (sub, st, seg):
        h.close()
    client.unlink("aio_seg")


def test_cancelled_take_async_loses_no_frame(client):
    st = client.stream_create("aio_cancel", 4, "int32", slots=4)
    sub = client.sub_open("aio_cancel")
    rounds = 60

    async def main():
        taken = []
        loop = asyncio.get_running_loop()
        for k in range(1, rounds + 1):
            task = asyncio.create_task(sub.take_async(timeout=30))
            # Publish from another thread at about the moment of the cancel,
            # before, at or after it, so every interleaving gets its turn.
            delay = (k % 6) * 0.002

            def publish(n=k):
                time.sleep(delay)
                with st.loan(timeout=10) as a:
                    a[...] = n

            th = threading.Thread(target=publish)
            th.start()
            await asyncio.sleep((k % 4) * 0.002)
            task.cancel()
            try:
                frame = await task
            except asyncio.CancelledError:
                frame = None
            await loop.run_in_executor(None, th.join)
            if frame is None:
                # Cancelled: the frame was not taken, and is the next one.
                frame = sub.take(timeout=10)
            with frame as a:
                assert frame.seq == k and (a == k).all(), (frame.seq, k)
            taken.append(frame.seq)
        return taken

    assert asyncio.run(main()) == list(range(1, rounds + 1))
    with pytest.raises(tshm.TimeoutError):
        sub.take(timeout=0)
    assert no_aio_threads_left()
    sub.close()
    st.close()
    client.unlink("aio_cancel")


def test_cancel_returns_at_once_and_leaves_no_thread(client):
    seg = client.create("aio_quiet", 4)
    sub_st = client.stream_create("aio_quiet_st", 4, "float32")
    sub = client.sub_open("aio_quiet_st")

    async def main():
        tasks = [asyncio.create_task(seg.wait_async(0)) for _ in range(5)]
        tasks += [asyncio.create_task(sub.take_async())]
        await asyncio.sleep(0.2)
        assert len(_aio.busy_threads()) == 6
        t0 = time.monotonic()
        for t in tasks:
            t.cancel()
        res = await asyncio.gather(*tasks, return_exceptions=True)
        took = time.monotonic() - t0
        assert all(isinstance(r, asyncio.CancelledError) for r in res)
        return took

    took = asyncio.run(main())
    assert took < 1.0  # the tasks end at once, not when their threads notice
    assert no_aio_threads_left(timeout=2.0)
    sub.close()
    sub_st.close()
    seg.close()
    client.unlink("aio_quiet")
    client.unlink("aio_quiet_st")


def test_hundred_concurrent_awaits_do_not_starve(client):
    """100 awaits on 100 segments, each in its own waiter thread: the ones
    published to return while the 90 others still wait (a pool of a few
    workers blocked on the first would never get to them)."""
    segs = [client.create(f"aio_h{i}", 1) for i in range(100)]
    writers = [client.open(f"aio_h{i}", writable=True) for i in range(90, 100)]

    async def main():
        tasks = [asyncio.create_task(s.wait_async(0)) for s in segs]
        await asyncio.sleep(0.3)
        for w in writers:
            with w.write():
                pass
        done, pending = await asyncio.wait(tasks[90:], timeout=30)
        assert not pending and all(t.result() == 2 for t in done)
        assert not any(t.done() for t in tasks[:90])
        for t in tasks[:90]:
            t.cancel()
        await asyncio.gather(*tasks[:90], return_exceptions=True)

    asyncio.run(main())
    assert no_aio_threads_left()
    for h in writers + segs:
        h.close()
    for i in range(100):
        client.unlink(f"aio_h{i}")


def test_idle_threads_exit(client, monkeypatch):
    """After a burst of 20 concurrent awaits the pool's threads are reused,
    then exit once idle for IDLE_S: none is left behind."""
    monkeypatch.setattr(_aio, "IDLE_S", 0.3)
    segs = [client.create(f"aio_i{i}", 1) for i in range(20)]

    async def burst():
        tasks = [asyncio.create_task(s.wait_async(0, timeout=0.2)) for s in segs]
        res = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, tshm.TimeoutError) for r in res)

    deadline = time.monotonic() + 20
    while aio_threads():  # the 5 s idle waits of earlier tests' threads
        assert time.monotonic() < deadline
        time.sleep(0.05)
    asyncio.run(burst())
    peak = len(aio_threads())
    assert 1 <= peak <= 20
    asyncio.run(burst())  # the same threads again, not 20 more (a thread that
    # had not yet gone back to the idle pool when the second burst began may
    # be replaced: a few more, under load)
    assert len(aio_threads()) < 2 * peak
    deadline = time.monotonic() + 10
    while aio_threads():
        assert time.monotonic() < deadline, aio_threads()
        time.sleep(0.05)
    for s in segs:
        s.close()
        client.unlink(s.name)


def test_pool_after_fork(client):
    """A child of fork() has none of the parent's waiter threads: its awaits
    start their own instead of queueing for threads that do not exist."""
    import os
    seg = client.create("aio_fork", 1)
    with pytest.raises(tshm.TimeoutError):
        asyncio.run(seg.wait_async(0, timeout=0.05))  # leaves an idle worker
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            asyncio.run(seg.wait_async(0, timeout=0.2))
        except tshm.TimeoutError:
            code = 0
        except BaseException:
            code = 2
        os._exit(code)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the child's await hung")
        time.sleep(0.02)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    seg.close()
    client.unlink("aio_fork")
