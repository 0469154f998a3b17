"""Hostile local users (issue 10), memory a hostile writer can cut or rewrite:
truncated objects under tshmd, geometry and counters readers must bound.

The actors, and what every test asserts beside its own outcome: conftest.py.

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
"""

import re
import signal
import subprocess
import time

import pytest

from conftest import (ACTOR, TSHM_CLI, Hostile, actor_run, assert_serving, cli, client_env, finish,
                      py, py_spawn, CPU_BOUND, make, array_4f8)


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
