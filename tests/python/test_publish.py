"""Publish and wait: seg.write(), seg.wait(), seg.snapshot(), TornError,
writers killed in the middle of a write, unlinks and Ctrl-C during a wait."""

import signal
import threading
import time

import numpy as np
import pytest

import tshm
from conftest import python, spawn


def test_wait_returns_at_once_when_a_newer_version_exists(client, name):
    seg = client.create(name, 16, "int64")
    assert seg.seq == 0 and seg.publish_time is None
    with seg.write():
        pass
    assert seg.seq == 2
    assert seg.wait(0) == 2
    assert seg.wait(0, timeout=0) == 2
    assert seg.wait(1, timeout=None) == 2
    seg.close()
    client.unlink(name)


def test_wait_times_out_and_timeout_zero_only_checks(client, name):
    seg = client.create(name, 4)
    with pytest.raises(tshm.TimeoutError) as ei:
        seg.wait(0, timeout=0)
    e = ei.value
    assert isinstance(e, TimeoutError) and isinstance(e, tshm.Error)
    assert e.code == -110 and "no version after 0 was published" in str(e)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        seg.wait(seg.seq, timeout=0.2)
    assert time.monotonic() - t0 >= 0.19
    with pytest.raises(tshm.InvalidError):
        seg.wait(0, timeout=-1)
    with pytest.raises(tshm.InvalidError):
        seg.wait(-2)
    with pytest.raises(TypeError):
        seg.wait(0, timeout="soon")
    seg.close()
    with pytest.raises(tshm.ClosedError):
        seg.wait(0, timeout=0)
    client.unlink(name)


def test_write_publishes_even_numbers(client, name):
    seg = client.create(name, 8, "int32")
    a = seg.numpy()
    seqs, times = [], []
    w = seg.write(timeout=1.0)
    assert isinstance(w, tshm.Write) and w.seq is None and not w.active
    for k in (1, 2, 3):
        before = time.time()
        with w as entered:
            assert entered is w and w.active
            assert seg.seq % 2 == 1  # odd while a write is in progress
            a[:] = k
        assert not w.active
        seqs.append(w.seq)
        assert seg.seq == w.seq
        assert before - 1 <= seg.publish_time <= time.time() + 1
        times.append(seg.publish_time)
        assert (seg.snapshot() == k).all()
    assert seqs == [2, 4, 6]
    assert times == sorted(times)
    # One write at a time per handle: nesting is an error, not a deadlock.
    with seg.write():
        with pytest.raises(tshm.InvalidError, match="already"):
            with seg.write():
                pass
    assert seg.seq == 8
    with pytest.raises(tshm.InvalidError):
        w.__exit__(None, None, None)  # not in progress
    seg.close()
    ro = client.open(name)
    with pytest.raises(tshm.PermissionDeniedError) as ei:
        ro.write()
    assert isinstance(ei.value, PermissionError) and "read-only" in str(ei.value)
    ro.close()
    client.unlink(name)


def test_write_lock_is_shared_by_handles_and_times_out(client, name):
    seg = client.create(name, 4)
    other = client.open(name, writable=True)
    with seg.write():
        with pytest.raises(tshm.TimeoutError, match="another writer did not release"):
            with other.write(timeout=0.1):
                pass
        with pytest.raises(tshm.TimeoutError, match="a writer did not finish"):
            seg.snapshot(timeout=0.1)
        with pytest.raises(TimeoutError):
            other.snapshot(timeout=0)
    with other.write(timeout=1):
        pass
    assert seg.seq == 4
    seg.close()
    other.close()
    client.unlink(name)


def test_exception_in_write_publishes_torn(client, name):
    seg = client.create(name, 1000, "int64")
    a = seg.numpy()
    with seg.write():
        a[:] = 1
    with pytest.raises(RuntimeError, match="boom"):
        with seg.write():
            a[:500] = 2
            raise RuntimeError("boom")
    assert seg.seq == 4
    with pytest.raises(tshm.TornError) as ei:
        seg.snapshot()
    e = ei.value
    assert isinstance(e, tshm.Error) and e.code == -4011 and e.seq == 4
    assert "version 4 is torn" in str(e)
    assert e.array is not a and (e.array[:500] == 2).all() and (e.array[500:] == 1).all()
    assert seg.wait(2) == 4  # a torn version is still a version
    with seg.write():
        a[:] = 3
    snap = seg.snapshot()
    assert (snap == 3).all() and snap.flags.owndata and snap.flags.writeable
    assert tshm.TornError.array is None and tshm.TornError.seq is None
    seg.close()
    client.unlink(name)


def test_dropped_write_is_aborted(client, name):
    seg = client.create(name, 4)
    w = seg.write()
    w.__enter__()
    del w  # never exited: the dealloc gives the write up as torn
    assert seg.seq == 2
    with pytest.raises(tshm.TornError):
        seg.snapshot()
    with seg.write(timeout=1):
        pass
    seg.snapshot()
    seg.close()
    client.unlink(name)


def test_close_inside_write_keeps_the_mapping(client, name):
    seg = client.create(name, 4)
    w = seg.write()
    with w:
        seg.close()
    assert w.seq == 2
    with client.open(name) as ro:
        assert ro.seq == 2
    client.unlink(name)


WRITER = """
    seg = tshm.open({name!r}, writable=True)
    a = seg.numpy()
    with seg.write():
        a[: a.size // 2] = 7
        print('half', flush=True)
        time.sleep(3600)
"""


def test_writer_killed_mid_write_leaves_a_torn_version(daemon, client, name):
    seg = client.create(name, 1000, "int64")
    a = seg.numpy()
    with seg.write():
        a[:] = 1
    child = spawn(WRITER.format(name=name), daemon)
    assert child.expect() == "half"
    assert seg.seq == 3
    child.proc.send_signal(signal.SIGKILL)
    assert child.proc.wait(timeout=30) == -signal.SIGKILL
    # The daemon breaks the lock when the connection closes (or this writer
    # does, finding the holder gone); either way within a bounded time.
    with pytest.raises(tshm.TornError) as ei:
        seg.snapshot(timeout=10)
    assert ei.value.seq == 4
    assert (ei.value.array[:500] == 7).all() and (ei.value.array[500:] == 1).all()
    with seg.write(timeout=10) as w:
        a[:] = 9
    assert w.seq == 6
    assert (seg.snapshot() == 9).all()
    seg.close()
    client.unlink(name)


def test_next_writer_breaks_the_lock_of_a_dead_thread(client, name):
    """A thread that began a write and exited: the daemon cannot know (the
    connection lives on); the next writer finds the holder gone."""
    seg = client.create(name, 100, "int16")
    a = seg.numpy()
    holder = client.open(name, writable=True)
    kept = []

    def begin_and_die():
        w = holder.write()
        w.__enter__()
        a[:50] = 5
        kept.append(w)

    t = threading.Thread(target=begin_and_die)
    t.start()
    t.join()
    assert seg.seq == 1
    with seg.write(timeout=10) as w:
        pass
    assert w.seq == 4  # the broken version was 2
    assert (seg.snapshot() == a).all()
    kept.clear()  # its abort finds the lock taken from it: nothing happens
    assert seg.seq == 4
    seg.close()
    holder.close()
    client.unlink(name)


WAITER = """
    seg = tshm.open({name!r})
    seq = seg.seq
    print('ready', seq, flush=True)
    for _ in range(3):
        seq = seg.wait(seq, timeout=30)
        print('got', seq, int(seg.snapshot()[0]), flush=True)
"""


def test_wait_wakes_across_processes(daemon, client, name):
    seg = client.create(name, 4, "int64")
    a = seg.numpy()
    kids = [spawn(WAITER.format(name=name), daemon) for _ in range(2)]
    for k in kids:
        assert k.expect("ready ") == "0"
    for n in (1, 2, 3):
        time.sleep(0.05)  # let them sleep in the futex
        with seg.write():
            a[:] = n
        for k in kids:
            assert k.expect("got ") == f"{2 * n} {n}"
    for k in kids:
        k.finish()
    seg.close()
    client.unlink(name)


def test_wait_on_an_unlinked_segment_raises_not_found(daemon, client, name):
    seg = client.create(name, 4)
    with seg.write():
        pass
    other = daemon.client()
    timer = threading.Timer(0.2, other.unlink, (name,))
    timer.start()
    with pytest.raises(tshm.NotFoundError) as ei:
        seg.wait(2, timeout=30)
    timer.join()
    assert str(ei.value) == f"segment '{name}' was unlinked"
    assert isinstance(ei.value, FileNotFoundError) and ei.value.code == -2
    # Once unlinked: at once, unless a newer version is there.
    with pytest.raises(tshm.NotFoundError):
        seg.wait(2)
    assert seg.wait(0) == 2
    other.close()
    seg.close()


def test_unlinked_by_another_process(daemon, client, name):
    seg = client.create(name, 4)
    waiter = spawn(f"""
        seg = tshm.open({name!r})
        print('ready', flush=True)
        try:
            seg.wait(0)
        except tshm.NotFoundError as e:
            print('raised', e, flush=True)
    """, daemon)
    assert waiter.expect() == "ready"
    time.sleep(0.1)
    client.unlink(name)
    assert waiter.expect("raised ") == f"segment '{name}' was unlinked"
    waiter.finish()
    seg.close()


@pytest.mark.parametrize("what", ["wait", "write", "snapshot"])
def test_ctrl_c_interrupts_a_wait(daemon, client, name, what):
    client.create(name, 4).close()
    res = python(f"""
        import signal, threading
        seg = tshm.open({name!r}, writable=True)
        holder = tshm.open({name!r}, writable=True)
        if {what!r} != 'wait':
            w = holder.write()
            w.__enter__()  # holds the lock: the call below waits for it
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        t0 = time.monotonic()
        try:
            if {what!r} == 'wait':
                seg.wait(seg.seq)
            elif {what!r} == 'write':
                with seg.write():
                    pass
            else:
                seg.snapshot(timeout=None)
        except KeyboardInterrupt:
            print('interrupted', round(time.monotonic() - t0, 1))
    """, daemon, timeout=60)
    assert res.stdout.startswith("interrupted"), res.stdout + res.stderr
    client.unlink(name)


def test_spin_and_publish_time(client, name):
    seg = client.create(name, 4)
    assert seg.spin_us is None
    seg.spin_us = 20
    assert seg.spin_us == 20.0
    seg.spin_us = 0
    assert seg.spin_us == 0.0
    with pytest.raises(tshm.InvalidError):
        seg.spin_us = -1
    with pytest.raises(TypeError):
        del seg.spin_us
    t0 = time.time()
    with seg.write():
        pass
    assert abs(seg.publish_time - t0) < 5
    seg.close()
    with pytest.raises(tshm.ClosedError):
        seg.publish_time
    client.unlink(name)


def test_wait_releases_the_gil(client, name):
    seg = client.create(name, 4)
    done = []

    def waiter():
        done.append(seg.wait(0, timeout=10))

    t = threading.Thread(target=waiter)
    t.start()
    spins, deadline = 0, time.monotonic() + 0.2
    while time.monotonic() < deadline:
        spins += 1
    assert spins > 1000 and not done
    with seg.write():
        pass
    t.join(timeout=10)
    assert done == [2]
    seg.close()
    client.unlink(name)


@pytest.mark.parametrize("dtype", ["bfloat16", "bool", "complex64"])
def test_snapshot_dtypes(client, name, dtype):
    seg = client.create(name, (3, 5), dtype)
    if dtype == "bfloat16":
        with pytest.raises(tshm.DtypeError):
            seg.snapshot()
        s = seg.snapshot(bfloat16_as_uint16=True)
        assert s.dtype == np.uint16
    else:
        s = seg.snapshot()
        assert s.dtype == seg.dtype
    assert s.shape == (3, 5)
    seg.close()
    client.unlink(name)


@pytest.mark.parametrize(
    "forged",
    [2**62 + 2, 2**63, 2**64 - 110, 2**64 - 2, 2**64 - 1],
    ids=["2^62+2", "2^63", "-ETIMEDOUT", "2^64-2", "2^64-1"],
)
def test_forged_counter_is_torn_not_a_version(client, name, forged):
    """A writer that stores a counter no version can have (issue 10, class 3):
    wait() and snapshot() raise TornError at once, never return it as a seq,
    never SystemError, and never spin (the -ETIMEDOUT value used to make the
    sliced wait loop forever at full CPU)."""
    import ctypes
    import resource

    seg = client.create(name, 4, "float32", mode=0o644)
    reader = client.open(name)
    data = seg.numpy().__array_interface__["data"][0]
    # The header is the page before the data; seq is at byte 64 of it.
    ctypes.c_uint64.from_address(data - 4096 + 64).value = forged
    cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    t0 = time.monotonic()
    with pytest.raises(tshm.TornError):
        reader.wait(0, timeout=2.0)
    with pytest.raises(tshm.TornError) as ei:
        reader.snapshot(timeout=2.0)
    assert ei.value.seq is None and ei.value.array is None
    with pytest.raises(tshm.TornError):
        with seg.write(timeout=2.0):
            pass
    assert time.monotonic() - t0 < 1.5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu0 < 1.0
    reader.close()
    seg.close()
    client.unlink(name)
