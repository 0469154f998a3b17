"""Hostile local users (issue 10), the daemon against hostile neighbours:
planted objects at restart, slow readers, private metadata, clients and
daemons that fight.

The actors, and what every test asserts beside its own outcome: conftest.py.

Table of contents: test -> the class of issue 10 it proves
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
import subprocess
import time

import pytest

from conftest import (ACTOR, SANITIZER, Actor, Daemon, Hostile, assert_serving, cli, client_env,
                      finish, native_env, py, py_spawn, MIB, make, array_4f8, RUN_TAG)


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
    prefix = f"tshmadvp{os.getpid()}{RUN_TAG}x{list(PLANTS).index(case)}"
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
    prefix = f"tshmadvk{os.getpid()}{RUN_TAG}"
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
