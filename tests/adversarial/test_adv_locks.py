"""Hostile local users (issue 10), what a hostile writer forges in shared
memory: lock words, the subscriber table, and an unlinked segment it cuts.

The actors, and what every test asserts beside its own outcome: conftest.py.

Table of contents: test -> the class of issue 10 it proves
  class 4  a forged lock word expires by time
    test_c4_forged_lock_words_expire
    test_c4_forged_lock_expires_across_restart
  class 5  who holds a subscriber entry is the daemon's record
    test_c5_forged_subscriber_table
    test_c5_zeroed_sleeper_count
  class 6  the resize defence covers unlinked but mapped segments
    test_c6_truncate_after_unlink_under_a_reader
"""

import subprocess
import time

from conftest import (ACTOR, Hostile, actor_run, assert_serving, client_env, finish, py,
                      py_spawn, LEASE_S, make, array_4f8)


# ---------------------------------------------------------------- class 4

FORGED_LOCKS = {
    "pid 1, lease 0": "lock=1 lock_pid=1 lease_until=0",
    "pid 1, lease in 11 days": "lock=1 lock_pid=1 lease_until=mono+1000000000",
    "contended, pid 1, far lease": "lock=0x80000001 lock_pid=1 lease_until=0x7fffffffffffffff",
}

WRITER = """
    seg = tshm.connect().open({name!r}, writable=True)
    t0, c0 = time.monotonic(), cpu()
    with seg.write(timeout={timeout}):
        seg.numpy()[:] = [7, 7, 7, 7]
    print('took %.2f cpu %.2f' % (time.monotonic() - t0, cpu() - c0), flush=True)
"""


def _forge_and_write(users, daemon, names, restart=False):
    for name, fields in names.items():
        array_4f8(users, daemon, name)
        h = Hostile(users["hostile"], daemon, name)
        h.cmd(f"set {fields}")
        h.close()
    if restart:
        daemon.stop()
        daemon.start()
    bound = LEASE_S + 5
    writers = {name: py_spawn(users["owner"], daemon,
                              WRITER.format(name=name, timeout=bound + 3))
               for name in names}
    for name, w in writers.items():
        out, _ = finish(w, f"the writer of {name!r} (lock {names[name]})", timeout=bound + 15)
        took, cpu = float(out.split()[1]), float(out.split()[3])
        assert took <= bound, f"{name}: the lock was broken after {took} s (bound {bound})"
        # Waiting out a lease sleeps; it does not spin.
        assert cpu < took / 2 + 1, f"{name}: the writer used {cpu} s of CPU in {took} s"
    res = py(users["reader"], daemon, f"""
        c = tshm.connect()
        for n in {list(names)!r}:
            assert c.open(n).snapshot(timeout=2).tolist() == [7, 7, 7, 7], n
    """)
    assert res.returncode == 0


def test_c4_forged_lock_words_expire(users, daemon):
    """Lock words forged by a writer (held by pid 1, lease 0 or far in the
    future, contended bit set) are broken by the next writer within the
    documented lease (TSHM_WRITE_LEASE_MS) plus slack."""
    names = {f"c4-{i}": f for i, f in enumerate(FORGED_LOCKS.values())}
    _forge_and_write(users, daemon, names)
    assert_serving(daemon, users["reader"])


def test_c4_forged_lock_expires_across_restart(users, daemon):
    """The same after tshmd restarts (and adopts the segments as they are)."""
    names = {"c4r-0": FORGED_LOCKS["pid 1, lease 0"],
             "c4r-1": FORGED_LOCKS["pid 1, lease in 11 days"]}
    _forge_and_write(users, daemon, names, restart=True)
    assert_serving(daemon, users["reader"])


# ---------------------------------------------------------------- class 5


def test_c5_zeroed_sleeper_count(users, daemon):
    """A read-only subscriber keeps the table's sleeper count at 0 while
    others sleep: publishers then skip the wake-up, but a subscriber asleep
    in tshm_sub_take() with no timeout still gets every frame (a counted
    sleep looks again every 50 ms)."""
    make(users, daemon, """
        tshm.connect().stream_create('c5z', 4, 'int64', slots=4, policy='overwrite', mode=0o664)
    """)
    hostile = subprocess.Popen([ACTOR, daemon.socket, "zero-sleepers", "c5z", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd="/", env=client_env(daemon), **users["hostile"].ids())
    try:
        first = hostile.stdout.readline()
        assert first.startswith("ok zeroing"), first + hostile.stderr.read()
        # The victim is C: it waits with no timeout (Python's waits are
        # sliced), so a wake-up lost for good hangs it.
        sub = subprocess.Popen([ACTOR, daemon.socket, "victim-frames", "c5z", "20"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd="/", env=client_env(daemon), **users["reader"].ids())
        first = sub.stdout.readline()
        assert first.startswith("subscribed"), first + sub.stderr.read()
        py(users["owner"], daemon, """
            st = tshm.connect().stream_open('c5z', writable=True)
            for k in range(1, 21):
                time.sleep(0.1)   # the reader is asleep by then
                with st.loan(timeout=3) as a:
                    a[:] = k
        """, timeout=60)
        out, err = finish(sub, "the subscriber", timeout=30)
        assert "took 20" in out, out + err
    finally:
        hostile.kill()
        hostile.wait()
    assert_serving(daemon, users["reader"])


def test_c5_forged_subscriber_table(users, daemon):
    """A read-only subscriber marks every entry of the subscriber table
    active (cursor 0) and exits: new subscribers still subscribe, and a
    block-policy producer does not wait for entries nobody holds."""
    make(users, daemon, """
        tshm.connect().stream_create('c5', 4, 'int64', slots=4, mode=0o664)
    """)
    res = actor_run(users["hostile"], daemon, ["fill-subtable", "c5"], timeout=20)
    assert res.returncode == 0 and "ok filled" in res.stdout, res.stdout + res.stderr
    # Who holds an entry is the daemon's roster, which nobody else can write.
    assert "roster refused" in res.stdout, res.stdout
    time.sleep(0.3)  # the daemon sees the connection go
    sub = py_spawn(users["reader"], daemon, """
        c = tshm.connect()
        subs = [c.sub_open('c5') for _ in range(3)]
        print('subscribed', flush=True)
        for k in range(1, 11):
            for s in subs:
                with s.take(timeout=10) as a:
                    assert (a == k).all(), (k, a)
        print('took all', flush=True)
    """)
    first = sub.stdout.readline()
    if not first.startswith("subscribed"):
        out, err = sub.communicate(timeout=30)
        raise AssertionError(f"a new subscriber was refused after the table was forged:\n"
                             f"{first}{out}{err}")
    prod = py(users["owner"], daemon, """
        st = tshm.connect().stream_open('c5', writable=True)
        for k in range(1, 11):
            t0 = cpu()
            with st.loan(timeout=3) as a:
                a[:] = k
        print('published')
    """, timeout=60, check=False)
    finish(sub, "the subscriber", timeout=30)
    assert prod.returncode == 0, (f"the block producer stalled on forged entries:\n"
                                  f"{prod.stdout}{prod.stderr}")
    # With nobody subscribed, the producer runs past the ring.
    prod = py(users["owner"], daemon, """
        st = tshm.connect().stream_open('c5', writable=True)
        for k in range(11):
            with st.loan(timeout=3) as a:
                a[:] = k
    """, timeout=60, check=False)
    assert prod.returncode == 0, (f"the block producer stalled with no subscriber:\n"
                                  f"{prod.stdout}{prod.stderr}")
    assert_serving(daemon, users["reader"])


# ---------------------------------------------------------------- class 6


def test_c6_truncate_after_unlink_under_a_reader(users, daemon):
    """A writer keeps a descriptor, the name is unlinked, then it truncates
    the object again and again while a reader touches every page: the reader
    lives and reads what was written (or the zeros a cut leaves); tshmd
    lives."""
    make(users, daemon, """
        c = tshm.connect()
        seg = c.create('c6', 1 << 20, 'uint8', mode=0o664)
        with seg.write():
            seg.numpy()[:] = np.arange(1 << 20, dtype=np.uint64).astype(np.uint8)
    """)
    reader = py_spawn(users["reader"], daemon, """
        seg = tshm.connect().open('c6')
        a = seg.numpy()
        want = np.arange(1 << 20, dtype=np.uint64).astype(np.uint8)
        print('ready', flush=True)
        sys.stdin.readline()
        end = time.monotonic() + 4
        n = 0
        # A cut drops the pages' contents (tmpfs), so a page reads as it
        # was written or as zeros; never anything else, and never a fault.
        while time.monotonic() < end:
            page = a[::4096]  # one byte of every page
            assert ((page == want[::4096]) | (page == 0)).all()
            n += 1
        assert ((a == want) | (a == 0)).all()
        print('passes', n, flush=True)
    """)
    assert reader.stdout.readline().startswith("ready")
    hostile = Hostile(users["hostile"], daemon, "c6")
    make(users, daemon, "tshm.connect().unlink('c6')")
    reader.stdin.write("go\n")
    reader.stdin.flush()
    hostile.cmd("loop 3 0")
    hostile.close()
    out, err = finish(reader, "the reader of an unlinked, truncated segment", timeout=40)
    assert "passes" in out
    assert_serving(daemon, users["reader"])
