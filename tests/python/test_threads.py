"""Threads: a client shared by threads, calls that release the GIL while
they wait, and closes racing with views dying on other threads."""

import gc
import signal
import threading
import time

import pytest

import tshm


def test_threads_share_a_client(daemon, client, name):
    client.create(name, 256, "float32").close()
    errors = []

    def work():
        try:
            for _ in range(300):
                with client.open(name, writable=True) as seg:
                    a = seg.numpy()
                    a[0] += 0  # touch
                client.stat(name)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    gc.collect()
    assert client.stat(name)["opens"] == 0
    client.unlink(name)


def test_a_waiting_call_releases_the_gil(fresh_daemon, name):
    c = fresh_daemon.client()
    done = threading.Event()
    result = []

    def call():
        result.append(len(c.list()))
        done.set()

    fresh_daemon.proc.send_signal(signal.SIGSTOP)  # the daemon cannot answer
    try:
        t = threading.Thread(target=call)
        t.start()
        # This thread keeps running Python code while the other waits.
        spins = 0
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            spins += 1
        assert not done.is_set()
        assert spins > 1000
    finally:
        fresh_daemon.proc.send_signal(signal.SIGCONT)
    t.join(timeout=30)
    assert done.is_set() and result == [0]
    c.close()


def test_client_close_races_with_views_dying(daemon, name):
    for round_ in range(200):
        c = daemon.client()
        segs = [c.create(f"{name}-{i}", 8) for i in range(4)]
        views = [s.numpy() for s in segs]
        for s in segs:
            s.close()
        del segs
        start = threading.Barrier(2)

        def drop():
            start.wait()
            views.clear()  # each last view closes its mapping (tshm_close)

        t = threading.Thread(target=drop)
        t.start()
        start.wait()
        c.close()
        t.join()
        w = daemon.client()
        for i in range(4):
            w.unlink(f"{name}-{i}")
        w.close()
