"""Hostile local users (issue 10): each attack class, reproduced by an
unprivileged hostile user against a private tshmd, with its outcome asserted.

Actors, each a user of its own (made with useradd by conftest.py; the suite
runs as root, as CI does, and is skipped otherwise):
  tshmadv-daemon   runs tshmd (as the packaged service runs as 'tshm')
  tshmadv-owner    creates the segments, mode 0664 and group tshmadv
  tshmadv-hostile  a member of tshmadv: a writer of the owner's segments,
                   and any local user (files in /dev/shm, the socket)
  tshmadv-reader   not a member: reads only
The hostile moves Python cannot make are done by tshm-adv-actor (actor.c).

What every test asserts, beside its own outcome: tshmd is alive and serving
others (a fresh client as another uid creates, writes, opens and stats); each
victim exits normally, with correct data or a clear typed error
(tshm.Error subclasses; TSHM_E* codes in C), within a bounded time.

Table of contents: test -> the class of issue 10 it proves
  class 1  tshmd never faults on client-truncatable memory
    test_c1_truncation_beside_stat_unlink_and_close
  class 2  readers bound every access by the geometry validated at open
    test_c2_data_size_raised_python_snapshot
    test_c2_data_size_raised_cli_watch_and_cat
    test_c2_array_geometry_rewritten[shape|ndim|strides]
    test_c2_stream_geometry_rewritten[strides|ring]
  class 3  out-of-range counters are torn or a timeout, never an error code
    test_c3_seq_out_of_range_python[2**63|2**63+2|2**64-2]
    test_c3_seq_out_of_range_c
    test_c3_stream_counter_out_of_range[2**63+2|2**64-2|frame 2**40] (Python and C)
  class 4  a forged lock word expires by time
    test_c4_forged_lock_words_expire
    test_c4_forged_lock_expires_across_restart
  class 5  who holds a subscriber entry is the daemon's record
    test_c5_forged_subscriber_table
  class 6  the resize defence covers unlinked but mapped segments
    test_c6_truncate_after_unlink_under_a_reader
  class 7  restart adoption trusts nothing it did not make
    test_c7_planted_before_start[chosen key and a forged root segment|fifo|empty object]
    test_c7_empty_key
    test_c7_header_copy_and_grown_segment_across_restart
  class 8  slow readers cannot exhaust tshmd's memory
    test_c8_pipelined_list_without_reading
  class 9  private segments' metadata is private
    test_c9_private_metadata
  class 10 clients and daemons that fight
    test_c10_refused_client_gets_limit_error
    test_c10_second_daemon_refuses_to_start
    test_c10_repair_log_is_bounded
"""

import os
import re
import signal
import subprocess
import time

import pytest

from conftest import (ACTOR, SANITIZER, TSHM_CLI, Actor, Daemon, Hostile, actor_run,
                      assert_serving, cli, client_env, finish, native_env, py, py_spawn)

LEASE_S = 10.0  # TSHM_WRITE_LEASE_MS
CPU_BOUND = 0.5  # s of CPU a victim may use in a 1 s timeout
MIB = 1024


def make(users, daemon, code):
    """Run setup @code as the owner (segments get group tshmadv)."""
    return py(users["owner"], daemon, code)


def array_4f8(users, daemon, name, values=(1.0, 2.0, 3.0, 4.0), mode=0o664):
    make(users, daemon, f"""
        c = tshm.connect()
        seg = c.create({name!r}, 4, 'float64', mode={mode:#o})
        with seg.write():
            seg.numpy()[:] = {list(values)!r}
    """)


# ---------------------------------------------------------------- class 1


def test_c1_truncation_beside_stat_unlink_and_close(users, daemon):
    """ftruncate(fd, 0) loops by a writer beside stat of a stream, unlink and
    the close of writable handles (the hostile's own segments, and a stream of
    the owner's it may write): tshmd is never killed."""
    make(users, daemon, """
        c = tshm.connect()
        c.stream_create('c1-stream', 1024, 'uint8', slots=4, mode=0o664)
    """)
    hostile = Hostile(users["hostile"], daemon, "c1-stream")
    churn = subprocess.Popen([ACTOR, daemon.socket, "churn", "4"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd="/", env=client_env(daemon),
                             **users["hostile"].ids())
    hostile.send("loop 4 0")
    # Another user keeps using the daemon meanwhile, the stream's stat too.
    res = py(users["reader"], daemon, """
        c = tshm.connect()
        end = time.monotonic() + 3.5
        n = 0
        while time.monotonic() < end:
            c.stat('c1-stream')
            c.list()
            c.daemon_stat()
            n += 1
            time.sleep(0.01)
        print('rounds', n)
    """, timeout=30)
    assert "rounds" in res.stdout
    hostile.answer()
    hostile.close()
    out, err = finish(churn, "the hostile churn", timeout=30)
    assert "rounds" in out, out + err
    assert_serving(daemon, users["reader"])


# ---------------------------------------------------------------- class 2

READ_LOOP = """
    c = tshm.connect()
    end = time.monotonic() + {secs}
    good = typed = 0
    while time.monotonic() < end:
        try:
            seg = c.open({name!r})
        except tshm.Error as e:
            typed += 1
            continue
        try:
            snap = seg.snapshot(timeout=1)
            view = seg.numpy()
            for a in (snap, view):
                assert a.nbytes == int(np.prod(a.shape)) * a.itemsize
                if {strict}:
                    assert a.shape == (4,) and a.dtype == np.float64, (a.shape, a.dtype)
                if a.shape == (4,) and a.dtype == np.float64 and a.strides == (8,):
                    assert a.tolist() == [1.0, 2.0, 3.0, 4.0], a.tolist()
                else:
                    assert {strict} is False, (a.shape, a.strides)
                    float(a.sum())  # touches every element it claims
            good += 1
        except tshm.Error:
            typed += 1
        seg.close()
    print('good', good, 'typed', typed)
"""


def test_c2_data_size_raised_python_snapshot(users, daemon):
    """A writer raises data_size past what the shape needs (inside the
    mapping, so the header still validates): the Python reader's snapshot()
    and view keep the shape's size and the right values."""
    array_4f8(users, daemon, "c2-size")
    hostile = Hostile(users["hostile"], daemon, "c2-size")
    hostile.send("scribble 3.5 data_size=4096")
    res = py(users["reader"], daemon,
             READ_LOOP.format(secs=3, name="c2-size", strict=True), timeout=15)
    assert "good" in res.stdout
    hostile.answer()
    hostile.close()
    assert_serving(daemon, users["reader"])


def test_c2_data_size_raised_cli_watch_and_cat(users, daemon):
    """The same, read by 'tshm watch' (which copied data_size bytes into a
    stack buffer) and 'tshm cat': they exit normally, printing the right
    values or a clear error."""
    array_4f8(users, daemon, "c2-cli")
    hostile = Hostile(users["hostile"], daemon, "c2-cli")
    hostile.send("scribble 4 data_size=4096")
    time.sleep(0.2)
    publisher = py_spawn(users["owner"], daemon, """
        seg = tshm.connect().open('c2-cli', writable=True)
        end = time.monotonic() + 3.5
        while time.monotonic() < end:
            with seg.write(timeout=5):
                seg.numpy()[:] = [1, 2, 3, 4]
            time.sleep(0.05)
    """)
    watch = subprocess.Popen([TSHM_CLI, "--socket", daemon.socket, "watch", "c2-cli"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                             env=client_env(daemon), **users["reader"].ids())
    cats = []
    for _ in range(10):
        r = cli(users["reader"], daemon, ["cat", "c2-cli"], timeout=20)
        cats.append(r)
        time.sleep(0.1)
    time.sleep(1)
    watch.send_signal(signal.SIGINT)
    try:
        out, err = watch.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        watch.kill()
        out, err = watch.communicate()
        raise AssertionError(f"tshm watch ignored SIGINT for 10 s\n{out}\n{err}")
    finish(publisher, "the owner's publisher")
    hostile.answer()
    hostile.close()
    # Interrupted, watch finishes and dies of the signal, as a shell expects.
    assert watch.returncode in (0, 1, -signal.SIGINT), (f"tshm watch exited {watch.returncode}"
                                                        f"\n{out}\n{err}")
    assert "smashing" not in err and "Sanitizer" not in err, err
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and "torn" not in fields[2] and "overlapping" not in fields[2]:
            assert re.fullmatch(r"\[1\.? +2\.? +3\.? +4\.?\]", fields[2].strip()), line
    for r in cats:
        assert r.returncode in (0, 1), f"tshm cat exited {r.returncode}\n{r.stdout}\n{r.stderr}"
        assert "Sanitizer" not in r.stderr, r.stderr
        if r.returncode == 0:
            assert re.fullmatch(r"\[1\.? +2\.? +3\.? +4\.?\]\n?", r.stdout), r.stdout
        else:
            assert r.stderr.strip(), "tshm cat failed without saying why"
    assert_serving(daemon, users["reader"])


ARRAY_GEOMETRY = {
    # A bigger array claimed over the page the data lives in.
    "shape": "shape0=512 data_size=4096",
    "ndim": "ndim=2 shape0=2 shape1=2 stride0=16 stride1=8",
    # Strides that spread 4 elements over the data page.
    "strides": "stride0=1024 data_size=4096",
}


@pytest.mark.parametrize("case", ARRAY_GEOMETRY)
def test_c2_array_geometry_rewritten(users, daemon, case):
    """A writer rewrites ndim, shape or strides (valid within the mapping):
    the reader does not crash, and what it reads is consistent with the
    geometry it validated (never sized by one field and shaped by another)."""
    name = f"c2-geo-{case}"
    array_4f8(users, daemon, name)
    hostile = Hostile(users["hostile"], daemon, name)
    hostile.send(f"scribble 2.5 {ARRAY_GEOMETRY[case]}")
    res = py(users["reader"], daemon, READ_LOOP.format(secs=2, name=name, strict=False),
             timeout=15)
    assert "good" in res.stdout
    hostile.answer()
    hostile.close()
    assert_serving(daemon, users["reader"])


# A stream of 4 frames of 512 int64 (4096 bytes, the slot stride): its ring
# fills its pages exactly, so a frame view past its slot leaves the mapping.
STREAM_GEOMETRY = {
    # 511 * 32 + 8 <= 16384 (the ring): checked against the ring, not a slot.
    "strides": "stride0=32",
    # A smaller ring that still validates.
    "ring": "slots=2 data_size=8192",
}


@pytest.mark.parametrize("case", STREAM_GEOMETRY)
def test_c2_stream_geometry_rewritten(users, daemon, case):
    """A writer rewrites a stream's strides or ring geometry before a
    subscriber and a producer open it: neither reads or writes outside its
    mapping; each frame is right or the call fails with a typed error."""
    name = f"c2-stream-{case}"
    make(users, daemon, f"""
        tshm.connect().stream_create({name!r}, 512, 'int64', slots=4, mode=0o664)
    """)
    hostile = Hostile(users["hostile"], daemon, name)
    hostile.send(f"scribble 5 {STREAM_GEOMETRY[case]}")
    time.sleep(0.2)
    sub = py_spawn(users["reader"], daemon, f"""
        c = tshm.connect()
        try:
            sub = c.sub_open({name!r})
        except tshm.Error as e:
            print('typed', type(e).__name__, flush=True)
            sys.exit(0)
        print('ready', flush=True)
        for k in range(1, 9):
            try:
                with sub.take(timeout=3) as a:
                    assert a.shape == (512,), a.shape
                    assert (a == k).all(), (k, a[:4], a[-4:])
            except tshm.Error as e:
                print('typed', type(e).__name__, flush=True)
                break
        print('done', flush=True)
    """)
    first = sub.stdout.readline()
    prod = py(users["owner"], daemon, f"""
        try:
            st = tshm.connect().stream_open({name!r}, writable=True)
        except tshm.Error as e:
            print('typed', type(e).__name__)
            sys.exit(0)
        for k in range(1, 9):
            try:
                with st.loan(timeout=3) as a:
                    assert a.shape == (512,)
                    a[:] = k
            except tshm.Error as e:
                print('typed', type(e).__name__)
                break
        print('published')
    """, timeout=40, check=False)
    out, err = finish(sub, "the subscriber", timeout=40)
    assert first.strip() in ("ready",) or first.startswith("typed"), first + out + err
    assert prod.returncode == 0, (f"the producer exited {prod.returncode}\n{prod.stdout}\n"
                                  f"{prod.stderr}")
    hostile.answer()
    hostile.close()
    assert_serving(daemon, users["reader"])


# ---------------------------------------------------------------- class 3

SEQS = {"2**63": 2**63, "2**63+2": 2**63 + 2, "2**64-2": 2**64 - 2}

SEQ_VICTIM = """
    seg = tshm.connect().open({name!r})
    for what, call in [('wait', lambda: seg.wait(0, timeout=1)),
                       ('wait2', lambda: seg.wait(2, timeout=1)),
                       ('snapshot', lambda: seg.snapshot(timeout=1))]:
        t0 = cpu()
        try:
            r = call()
            out = 'value %r' % (r if what != 'snapshot' else r.tolist(),)
        except tshm.TornError:
            out = 'torn'
        except tshm.TimeoutError:
            out = 'timeout'
        except BaseException as e:
            out = 'other %s: %s' % (type(e).__name__, e)
        print(what, '|', out, '|', '%.3f' % (cpu() - t0), flush=True)
"""


def _check_victim_lines(out, nlines):
    lines = [line for line in out.splitlines() if "|" in line]
    assert len(lines) == nlines, out
    for line in lines:
        what, outcome, cpu = (x.strip() for x in line.split("|"))
        assert outcome in ("torn", "timeout"), f"{what}: {outcome} (want TornError or timeout)"
        assert float(cpu) < CPU_BOUND, f"{what} used {cpu} s of CPU in a 1 s timeout (spin)"


@pytest.mark.parametrize("seq", SEQS)
def test_c3_seq_out_of_range_python(users, daemon, seq):
    """A writer stores a seq of 2**63 or more: wait() and snapshot() raise
    TornError or time out, never SystemError, a bogus version or a spin."""
    name = "c3-" + seq.replace("*", "p").replace("+", "a").replace("-", "m")
    array_4f8(users, daemon, name)
    hostile = Hostile(users["hostile"], daemon, name)
    hostile.cmd(f"set seq={SEQS[seq]}")
    res = py(users["reader"], daemon, SEQ_VICTIM.format(name=name), timeout=30)
    _check_victim_lines(res.stdout, 3)
    hostile.close()
    assert_serving(daemon, users["reader"])


def test_c3_seq_out_of_range_c(users, daemon):
    """The same in C: tshm_wait and tshm_read_begin return TSHM_ETORN or
    TSHM_ETIMEDOUT, never a negative non-error or a huge version."""
    array_4f8(users, daemon, "c3-c")
    hostile = Hostile(users["hostile"], daemon, "c3-c")
    for seq in SEQS.values():
        hostile.cmd(f"set seq={seq}")
        res = actor_run(users["reader"], daemon, ["victim-wait", "c3-c"], timeout=30)
        assert res.returncode == 0, f"C victim exited {res.returncode}\n{res.stdout}{res.stderr}"
        lines = res.stdout.splitlines()
        assert len(lines) == 2, res.stdout + res.stderr
        for line in lines:
            what, rv, name, _, cpu = line.split()
            assert name in ("ETORN", "ETIMEDOUT"), f"seq {seq:#x}: {line}"
            assert float(cpu) < CPU_BOUND, f"seq {seq:#x}: {line} (spin)"
    hostile.close()
    assert_serving(daemon, users["reader"])


STREAM_SEQS = {"2**63+2": 2**63 + 2, "2**64-2": 2**64 - 2, "frame 2**40": 2 * 2**40}


@pytest.mark.parametrize("seq", STREAM_SEQS)
def test_c3_stream_counter_out_of_range(users, daemon, seq):
    """A stream's counter forged out of range under subscribers (Python and
    C) that joined before: take() raises TornError or times out, without a
    spin."""
    name = "c3-stream-" + str(list(STREAM_SEQS).index(seq))
    make(users, daemon, f"""
        st = tshm.connect().stream_create({name!r}, 4, 'int64', slots=4, mode=0o664,
                                          policy='overwrite')
        with st.loan() as a:
            a[:] = 1
    """)
    pysub = py_spawn(users["reader"], daemon, f"""
        sub = tshm.connect().sub_open({name!r})
        print('subscribed', flush=True)
        sys.stdin.readline()
        for what in ('take', 'take2'):
            t0 = cpu()
            try:
                f = sub.take(timeout=1)
                out = 'value seq %d' % f.seq
                f.release()
            except tshm.TornError:
                out = 'torn'
            except tshm.TimeoutError:
                out = 'timeout'
            except BaseException as e:
                out = 'other %s: %s' % (type(e).__name__, e)
            print(what, '|', out, '|', '%.3f' % (cpu() - t0), flush=True)
    """)
    csub = subprocess.Popen([ACTOR, daemon.socket, "victim-take", name], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                            env=client_env(daemon), **users["reader"].ids())
    assert pysub.stdout.readline().startswith("subscribed")
    assert csub.stdout.readline().startswith("subscribed")
    hostile = Hostile(users["hostile"], daemon, name)
    hostile.cmd(f"set seq={STREAM_SEQS[seq]}")
    for p in (pysub, csub):
        p.stdin.write("go\n")
        p.stdin.flush()
    out, _ = finish(pysub, "the Python subscriber", timeout=20)
    _check_victim_lines(out, 2)
    out, err = finish(csub, "the C subscriber", timeout=20)
    what, rv, ename, _, fseq, _, cpu = out.split()
    assert ename in ("ETORN", "ETIMEDOUT"), out
    assert float(cpu) < CPU_BOUND, out
    hostile.close()
    assert_serving(daemon, users["reader"])


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


# ---------------------------------------------------------------- class 7

CHOSEN_KEY = "41" * 16


def _plant(users, prefix, kinds):
    """Plant @kinds under @prefix as the hostile user, before tshmd starts."""
    hostile = users["hostile"]
    code = []
    if "key" in kinds:
        code.append(f"open('/dev/shm/{prefix}..key', 'wb').write(bytes.fromhex({CHOSEN_KEY!r}))")
    if "empty-key" in kinds:
        code.append(f"open('/dev/shm/{prefix}..key', 'wb').close()")
    if "fifo" in kinds:
        code.append(f"os.mkfifo('/dev/shm/{prefix}.fifo', 0o666)")
    if "empty" in kinds:
        code.append(f"open('/dev/shm/{prefix}.empty', 'wb').close()")
    if "symlink" in kinds:
        code.append(f"os.symlink('/dev/shm/{prefix}.forged', '/dev/shm/{prefix}.link')")
    if code:
        subprocess.run(["/usr/bin/python3", "-c", "import os\n" + "\n".join(code)], check=True,
                       timeout=20, cwd="/", **hostile.ids())
    if "forged" in kinds:
        res = subprocess.run([ACTOR, "-", "plant", "forged", prefix, CHOSEN_KEY, "0", "0666"],
                             capture_output=True, text=True, timeout=20, cwd="/",
                             env=client_env(_NoDaemon()), **hostile.ids())
        assert res.returncode == 0, res.stdout + res.stderr


class _NoDaemon:
    socket = "/nonexistent"


PLANTS = {
    "chosen key and a forged root segment": ("key", "forged", "symlink"),
    "fifo": ("fifo",),
    "empty object": ("empty",),
}


@pytest.mark.parametrize("case", PLANTS)
def test_c7_planted_before_start(users, case):
    """Objects planted under the prefix before tshmd first starts: it starts
    and listens within a few seconds and adopts none of them."""
    prefix = f"tshmadvp{os.getpid()}x{list(PLANTS).index(case)}"
    for f in os.listdir("/dev/shm"):
        if f.startswith(prefix + "."):
            os.unlink("/dev/shm/" + f)
    _plant(users, prefix, PLANTS[case])
    d = None
    try:
        d = Daemon(users["daemon"], prefix=prefix, wait_ready=False, ready_timeout=5)
        if d.ready_s is None:
            raise AssertionError("tshmd did not start within 5 s on a prefix with planted "
                                 "objects:\n" + d.log()[-3000:])
        res = py(users["reader"], d, """
            c = tshm.connect()
            names = [i['name'] for i in c.list()]
            print('names', names)
            for n in ('forged', 'fifo', 'empty', 'link'):
                assert n not in names, n
                try:
                    c.stat(n)
                    raise AssertionError('adopted: ' + n)
                except tshm.NotFoundError:
                    pass
                try:
                    c.open(n)
                    raise AssertionError('served: ' + n)
                except tshm.NotFoundError:
                    pass
        """, timeout=20)
        assert res.returncode == 0
        assert_serving(d, users["reader"])
        d.stop()
    finally:
        if d is not None:
            d.cleanup()


def test_c7_empty_key(users):
    """An empty seal key planted before the first start: tshmd starts (it
    neither recurses nor trusts it) and serves."""
    prefix = f"tshmadvk{os.getpid()}"
    _plant(users, prefix, ("empty-key",))
    d = None
    try:
        d = Daemon(users["daemon"], prefix=prefix, wait_ready=False, ready_timeout=5)
        assert d.ready_s is not None, ("tshmd did not start within 5 s on an empty key:\n"
                                       + d.log()[-3000:])
        assert_serving(d, users["reader"])
        d.stop()
    finally:
        if d is not None:
            d.cleanup()


def test_c7_header_copy_and_grown_segment_across_restart(users):
    """While tshmd is down: a copy of a real sealed header on a file the
    attacker owns, put where the (unlinked) original was, and a live segment
    grown to 100 GiB through a descriptor kept from before. After the
    restart neither is adopted as it stands, and the budget still admits a
    new segment."""
    d = Daemon(users["daemon"], extra=["--max-bytes", "64M"])
    try:
        array_4f8(users, d, "victim", mode=0o644)
        array_4f8(users, d, "grown")
        reader_copy = Hostile(users["hostile"], d, "victim", writable=False)
        copy = f"/dev/shm/tshmadv-copy-{os.getpid()}"
        reader_copy.cmd(f"dump {copy}")
        reader_copy.close()
        grower = Hostile(users["hostile"], d, "grown")
        make(users, d, "tshm.connect().unlink('victim')")
        d.stop()
        # The attacker puts its copy in place and grows the other.
        subprocess.run(["/usr/bin/python3", "-c",
                        f"import os; os.chmod({copy!r}, 0o666); "
                        f"os.rename({copy!r}, '/dev/shm/{d.prefix}.victim')"],
                       check=True, timeout=20, cwd="/", **users["hostile"].ids())
        grower.cmd(f"trunc {100 << 30}")
        took = d.start(wait_ready=False, ready_timeout=10)
        assert took is not None and took < 5, ("tshmd did not start within 5 s:\n"
                                                + d.log()[-3000:])
        res = py(users["reader"], d, """
            c = tshm.connect()
            try:
                c.stat('victim')
                raise AssertionError("adopted the attacker's copy of 'victim'")
            except tshm.NotFoundError:
                pass
            try:
                st = c.stat('grown')
                assert st['size'] < 1 << 20, 'adopted grown to %d bytes' % st['size']
            except tshm.NotFoundError:
                pass
        """, timeout=20)
        assert res.returncode == 0
        make(users, d, """
            c = tshm.connect()
            c.create('after-restart', 1 << 20, 'uint8').close()
            c.unlink('after-restart')
        """)
        grower.close()
        assert_serving(d, users["reader"])
        d.stop()
    finally:
        d.cleanup()
        try:
            os.unlink(f"/dev/shm/tshmadv-copy-{os.getpid()}")
        except OSError:
            pass


# ---------------------------------------------------------------- class 8


def test_c8_pipelined_list_without_reading(users, daemon):
    """Four connections pipeline 'list' and never read a reply: tshmd's
    memory stays bounded, others are served meanwhile, and the memory comes
    back when they go."""
    make(users, daemon, """
        c = tshm.connect()
        for i in range(300):
            c.create('c8-%03d-' % i + 'x' * 150, 1, mode=0o644)
    """)
    time.sleep(0.2)
    base = daemon.rss_kb()
    attacker = subprocess.Popen([ACTOR, daemon.socket, "pipeline", "4", "5"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd="/",
                                env=client_env(daemon), **users["hostile"].ids())
    peak = base
    t0 = time.monotonic()
    served = None
    while time.monotonic() - t0 < 5.5:
        daemon.assert_alive()
        peak = max(peak, daemon.rss_kb())
        if served is None and time.monotonic() - t0 > 2:
            served = py(users["reader"], daemon, """
                c = tshm.connect()
                assert len(c.list()) >= 300
                print('served')
            """, timeout=20, check=False)
            peak = max(peak, daemon.rss_kb())
        time.sleep(0.1)
    line = attacker.stdout.readline()
    peak = max(peak, daemon.rss_kb())
    attacker.stdin.close()
    attacker.wait(timeout=20)
    time.sleep(2)
    after = daemon.rss_kb()
    grow_bound = (512 if SANITIZER else 128) * MIB
    assert served is not None and served.returncode == 0, (
        "another client was not served during the flood:\n"
        + (served.stdout + served.stderr if served else ""))
    assert peak - base < grow_bound, (f"tshmd grew from {base} to {peak} KiB under pipelined "
                                      f"list requests ({line.strip()})")
    if not SANITIZER:  # ASan keeps freed memory in quarantine
        assert after - base < 32 * MIB, (f"tshmd kept {after - base} KiB after the slow "
                                         f"readers left (base {base}, peak {peak})")
    assert_serving(daemon, users["reader"])


# ---------------------------------------------------------------- class 9


def test_c9_private_metadata(users, daemon):
    """A user sees in list and stat only what it may read: a mode 0600
    segment (and stream) of the owner is absent from the hostile user's list,
    and its stat fails with a typed error; the owner and root see it."""
    make(users, daemon, """
        c = tshm.connect()
        c.create('c9-private', (3, 5), 'float32', mode=0o600)
        c.stream_create('c9-private-stream', 4, 'int64', slots=4, mode=0o600)
        c.create('c9-public', 4, mode=0o644)
    """)
    code = """
        c = tshm.connect()
        names = [i['name'] for i in c.list()]
        print('list', sorted(names))
        for n in ('c9-private', 'c9-private-stream'):
            try:
                st = c.stat(n)
                print('stat', n, 'shown')
            except (PermissionError, tshm.NotFoundError) as e:
                assert isinstance(e, tshm.Error)
                print('stat', n, 'refused', type(e).__name__)
    """
    res = py(users["hostile"], daemon, code)
    assert "c9-public" in res.stdout
    assert "'c9-private'" not in res.stdout and "'c9-private-stream'" not in res.stdout, \
        f"the hostile user lists private segments:\n{res.stdout}"
    assert "shown" not in res.stdout, f"the hostile user stats private segments:\n{res.stdout}"
    ls = cli(users["hostile"], daemon, ["ls"])
    assert ls.returncode == 0 and "c9-public" in ls.stdout, ls.stdout + ls.stderr
    assert "c9-private" not in ls.stdout, f"'tshm ls' shows private segments:\n{ls.stdout}"
    for who in (users["owner"], Actor("root", 0, 0)):
        res = py(who, daemon, code)
        assert "'c9-private'" in res.stdout and "refused" not in res.stdout, (who, res.stdout)
    assert_serving(daemon, users["reader"])


# ---------------------------------------------------------------- class 10


def test_c10_refused_client_gets_limit_error(users):
    """At --max-clients a refused client gets LimitError within its
    TSHM_TIMEOUT_MS (plus slack), 'tshm ls' fails as fast with a clear
    message, and a flood of refusals leaves a bounded number of log lines."""
    d = Daemon(users["daemon"], extra=["--max-clients", "3"])
    try:
        holder = py_spawn(users["reader"], d, """
            cs = [tshm.connect() for _ in range(3)]
            for c in cs:
                c.daemon_stat()
            print('held', flush=True)
            sys.stdin.readline()
        """)
        assert holder.stdout.readline().startswith("held")
        res = py(users["hostile"], d, """
            os.environ['TSHM_TIMEOUT_MS'] = '2000'
            t0 = time.monotonic()
            try:
                c = tshm.connect()
                c.list()
                print('served')
            except tshm.Error as e:
                print('refused', type(e).__name__, '%.2f' % (time.monotonic() - t0), e)
        """, timeout=15)
        words = res.stdout.split()
        assert words[0] == "refused" and words[1] == "LimitError", res.stdout
        assert float(words[2]) < 2 + 3, res.stdout
        t0 = time.monotonic()
        ls = cli(users["hostile"], d, ["ls"], timeout=30, env={"TSHM_TIMEOUT_MS": "2000"})
        assert time.monotonic() - t0 < 2 + 4, "tshm ls ignored TSHM_TIMEOUT_MS"
        assert ls.returncode != 0 and "limit" in ls.stderr.lower(), ls.stdout + ls.stderr
        lines_before = len(d.log().splitlines())
        subprocess.run(["/usr/bin/python3", "-c", f"""
import socket
for _ in range(300):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect({d.socket!r})
    except OSError:
        pass
    s.close()
"""], check=True, timeout=30, cwd="/", **users["hostile"].ids())
        time.sleep(0.5)
        added = len(d.log().splitlines()) - lines_before
        assert added <= 30, f"{added} log lines for 300 refused connections"
        holder.stdin.write("done\n")
        holder.stdin.flush()
        finish(holder, "the holder")
        assert_serving(d, users["reader"])
        d.stop()
    finally:
        d.cleanup()


def test_c10_second_daemon_refuses_to_start(users, daemon):
    """A second tshmd with the same uid, prefix (and state directory) refuses
    to start, naming the running one; the first one's segments are intact."""
    array_4f8(users, daemon, "c10-first")
    other = os.path.join(daemon.dir, "second.sock")
    log = os.path.join(daemon.dir, "second.log")
    with open(log, "wb") as f:
        second = subprocess.Popen(daemon.argv(socket_path=other), stdout=f, stderr=f,
                                  env=native_env(keep=False, PATH="/usr/bin:/bin"),
                                  cwd=daemon.dir, **users["daemon"].ids())
    try:
        rc = second.wait(timeout=10)
    except subprocess.TimeoutExpired:
        second.kill()
        second.wait()
        rc = None
    with open(log, errors="replace") as f:
        text = f.read()
    assert rc is not None, f"a second tshmd on prefix {daemon.prefix} started and ran:\n{text}"
    assert rc != 0, f"the second tshmd exited 0:\n{text}"
    assert str(daemon.proc.pid) in text or daemon.socket in text, (
        f"the second tshmd does not name the first (pid {daemon.proc.pid}, "
        f"{daemon.socket}):\n{text}")
    res = py(users["reader"], daemon, """
        assert tshm.connect().open('c10-first').snapshot().tolist() == [1, 2, 3, 4]
    """)
    assert res.returncode == 0
    assert_serving(daemon, users["reader"])


def test_c10_repair_log_is_bounded(users, daemon):
    """A writer that keeps rewriting a sealed header field while others
    open the segment: tshmd repairs it each time, but logs a bounded number
    of lines."""
    array_4f8(users, daemon, "c10-repair")
    hostile = Hostile(users["hostile"], daemon, "c10-repair")
    before = len(daemon.log().splitlines())
    hostile.send("scribble 3 mode=0777 owner_uid=0")
    res = py(users["reader"], daemon, """
        c = tshm.connect()
        end = time.monotonic() + 2.5
        n = 0
        while time.monotonic() < end:
            try:
                c.open('c10-repair').close()
            except tshm.Error:
                pass
            n += 1
        print('opens', n)
    """, timeout=30)
    hostile.answer()
    hostile.close()
    added = len(daemon.log().splitlines()) - before
    assert added <= 40, f"{added} log lines for {res.stdout.strip()} opens of a scribbled header"
    assert_serving(daemon, users["reader"])
