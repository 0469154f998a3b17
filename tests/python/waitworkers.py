"""Worker functions for the wait_any and asyncio tests (multiprocessing,
spawn start method): they must be importable by the child, so they live
outside the test modules."""

import time

import tshm


def publish(socket, segs=(), streams=(), delay=0.0):
    """After `delay` seconds, publish one version on each segment in `segs`
    and one frame on each stream in `streams`, through a connection of this
    process's own."""
    with tshm.connect(socket) as c:
        handles = [c.open(n, writable=True) for n in segs]
        producers = [c.stream_open(n) for n in streams]
        time.sleep(delay)
        for h in handles:
            with h.write():
                h.numpy()[...] = 1
        for p in producers:
            with p.loan(timeout=10) as a:
                a[...] = 1
        for h in handles + producers:
            h.close()


def produce(socket, streams, count, go, pace=0.002):
    """Once `go` is set, publish `count` frames on each stream, frame k
    holding k everywhere, every `pace` seconds."""
    with tshm.connect(socket) as c:
        producers = [c.stream_open(n) for n in streams]
        if not go.wait(60):
            raise RuntimeError("never told to go")
        for k in range(1, count + 1):
            for p in producers:
                with p.loan(timeout=30) as a:
                    a[...] = k
            time.sleep(pace)
        for p in producers:
            p.close()
