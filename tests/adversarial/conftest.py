"""Fixtures of the adversarial suite: the unprivileged users, a private tshmd
running as a user of its own (as the packaged service runs as 'tshm'), and
helpers that run each actor as its own uid with bounded time.

ctest passes TSHMD, TSHM_CLI, TSHM_ADV_ACTOR and PYTHONPATH (the built
module); TSHM_ADV_SANITIZER=1 in the ASan+UBSan build.

Hostile local users (issue 10): each attack class, reproduced by an
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
The tests are split by what the attacker goes after: test_adv_memory.py
(classes 1-3), test_adv_locks.py (4-6), test_adv_daemon.py (7-10).
"""

import glob
import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

TSHMD = os.environ.get("TSHMD")
TSHM_CLI = os.environ.get("TSHM_CLI")
ACTOR = os.environ.get("TSHM_ADV_ACTOR")
SANITIZER = os.environ.get("TSHM_ADV_SANITIZER") == "1"

for _var, _val in (("TSHMD", TSHMD), ("TSHM_CLI", TSHM_CLI), ("TSHM_ADV_ACTOR", ACTOR)):
    if not _val or not os.access(_val, os.X_OK):
        raise pytest.UsageError(f"set {_var} (ctest does) and PYTHONPATH to the built module")

import tshm  # noqa: E402,F401  (after the check, for a clear message)

GROUP = "tshmadv"
USERS = ("tshmadv-owner", "tshmadv-reader", "tshmadv-hostile", "tshmadv-daemon")


class Actor:
    """One unprivileged identity: uid, primary gid, supplementary groups."""

    def __init__(self, name, uid, gid, groups=()):
        self.name, self.uid, self.gid, self.groups = name, uid, gid, list(groups)

    def ids(self):
        return {"user": self.uid, "group": self.gid, "extra_groups": self.groups}

    def __repr__(self):
        return f"<{self.name} uid={self.uid}>"


def _ensure_users():
    if not shutil.which("useradd") or not shutil.which("groupadd"):
        pytest.skip("the adversarial suite needs useradd and groupadd (package passwd)")
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", GROUP], check=True, timeout=30)
    for name in USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                            "--shell", "/usr/sbin/nologin", name], check=True, timeout=30)
    gid = grp.getgrnam(GROUP).gr_gid
    pw = {n: pwd.getpwnam(n) for n in USERS}
    # The owner works in the shared group (its segments get that group); the
    # hostile user is a member, so a mode 0664 segment is writable to it;
    # the reader is not, so it may only read.
    return {
        "owner": Actor("owner", pw["tshmadv-owner"].pw_uid, gid),
        "reader": Actor("reader", pw["tshmadv-reader"].pw_uid, pw["tshmadv-reader"].pw_gid),
        "hostile": Actor("hostile", pw["tshmadv-hostile"].pw_uid,
                         pw["tshmadv-hostile"].pw_gid, [gid]),
        "daemon": Actor("daemon", pw["tshmadv-daemon"].pw_uid, pw["tshmadv-daemon"].pw_gid),
        "gid": gid,
    }


@pytest.fixture(scope="session")
def users():
    if os.getuid() != 0:
        pytest.skip(f"the adversarial suite runs as root, to add its users and run each actor "
                    f"as its own uid (running as uid {os.getuid()}); CI runs it as root")
    return _ensure_users()


def tshmd_has_flag(flag):
    res = subprocess.run([TSHMD, "--help"], capture_output=True, text=True, timeout=10,
                         env=native_env())
    return flag in res.stdout


# In every shm prefix: a pid comes round again (objects of killed runs).
RUN_TAG = secrets.token_hex(3)
_serial = 0


class Daemon:
    """A private tshmd in the foreground as @user: its own socket (mode 0666,
    so every actor can connect), shm prefix and state directory (when tshmd
    has --state-dir)."""

    def __init__(self, user, extra=(), prefix=None, wait_ready=True, ready_timeout=20):
        global _serial
        self.user = user
        self.dir = tempfile.mkdtemp(prefix="tshm-adv-")
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, user.uid, user.gid)
        self.socket = os.path.join(self.dir, "s.sock")
        self.log_path = os.path.join(self.dir, "tshmd.log")
        self.prefix = prefix or f"tshmadv{os.getpid()}{RUN_TAG}x{_serial}"
        _serial += 1
        self.state_dir = None
        if tshmd_has_flag("--state-dir"):
            self.state_dir = os.path.join(self.dir, "state")
            os.mkdir(self.state_dir, 0o700)
            os.chown(self.state_dir, user.uid, user.gid)
        self.extra = list(extra)
        self.proc = None
        # Seconds to READY=1, or None when it did not come (wait_ready=False).
        self.ready_s = self.start(wait_ready=wait_ready, ready_timeout=ready_timeout)

    def argv(self, socket_path=None):
        argv = [TSHMD, "--foreground", "--socket", socket_path or self.socket,
                "--shm-prefix", self.prefix, "--socket-mode", "0666"]
        if self.state_dir:
            argv += ["--state-dir", self.state_dir]
        return argv + self.extra

    def spawn(self, argv, notify_path=None):
        env = native_env(PATH=os.environ.get("PATH", "/usr/bin:/bin"), keep=False)
        if notify_path:
            env["NOTIFY_SOCKET"] = notify_path
        log = open(self.log_path, "ab")
        try:
            return subprocess.Popen(argv, stdout=log, stderr=log, env=env, cwd=self.dir,
                                    **self.user.ids())
        finally:
            log.close()

    def start(self, wait_ready=True, ready_timeout=20):
        """Start tshmd; with @wait_ready, wait for READY=1 (failing after
        @ready_timeout s). Returns how long it took, or None when not ready."""
        notify_path = os.path.join(self.dir, "notify")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        os.chmod(notify_path, 0o666)
        t0 = time.monotonic()
        self.proc = self.spawn(self.argv(), notify_path)
        notify.settimeout(0.1)
        try:
            while True:
                try:
                    if b"READY=1" in notify.recv(4096):
                        return time.monotonic() - t0
                except socket.timeout:
                    pass
                if self.proc.poll() is not None:
                    if wait_ready:
                        raise AssertionError(f"tshmd exited with {self.proc.returncode}:\n"
                                             + self.log())
                    return None
                if time.monotonic() - t0 > ready_timeout:
                    if wait_ready:
                        raise AssertionError(f"tshmd did not report READY=1 in "
                                             f"{ready_timeout} s:\n" + self.log())
                    return None
        finally:
            notify.close()
            os.unlink(notify_path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        assert self.alive(), (f"tshmd died (status {self.proc.returncode}, "
                              f"{_signame(self.proc.returncode)}):\n" + self.log()[-4000:])

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def env(self, **extra):
        env = dict(os.environ)
        env["TSHM_SOCKET"] = self.socket
        env.update(extra)
        return env

    def stop(self, check=True):
        """SIGTERM and reap; with @check, require exit 0 and no sanitizer
        report. Segments stay in /dev/shm (a restart adopts them)."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("tshmd ignored SIGTERM for 20 s:\n" + self.log())
        log = self.log()
        if check:
            assert rc == 0, f"tshmd exited with {rc} ({_signame(rc)}):\n{log[-4000:]}"
            assert "Sanitizer" not in log and "runtime error:" not in log, log[-4000:]

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in glob.glob(f"/dev/shm/{self.prefix}.*"):
            try:
                os.unlink(f)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _signame(rc):
    if rc is not None and rc < 0:
        try:
            return signal.Signals(-rc).name
        except ValueError:
            pass
    return "no signal"


@pytest.fixture()
def daemon(users):
    d = Daemon(users["daemon"])
    yield d
    try:
        d.stop()
    finally:
        d.cleanup()


def native_env(keep=True, **extra):
    """The environment of a C program of this build (tshmd, the CLI, the
    actor): without the sanitizer runtime preloaded into Python, with the
    ASan options meant for programs that link it."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"} if keep else {}
    if "TSHMD_ASAN_OPTIONS" in os.environ:
        env["ASAN_OPTIONS"] = os.environ["TSHMD_ASAN_OPTIONS"]
    if "UBSAN_OPTIONS" in os.environ:
        env["UBSAN_OPTIONS"] = os.environ["UBSAN_OPTIONS"]
    env.update(extra)
    return env


def client_env(daemon):
    """The environment of a C client (CLI, actor) of @daemon: no leak check
    (these are the victims and attackers, not the daemon under test)."""
    env = native_env(TSHM_SOCKET=daemon.socket)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
    return env


PRELUDE = """\
import os, sys, time, resource
import numpy as np
import tshm
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
"""


def py(actor, daemon, code, timeout=30, check=True):
    """Run @code as @actor in a new Python process connected to @daemon.
    Returns the CompletedProcess; with @check, fails unless it exits 0."""
    try:
        res = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                             capture_output=True, text=True, timeout=timeout, cwd="/",
                             env=daemon.env(), **actor.ids())
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{actor.name}'s process did not finish in {timeout} s (hung or "
                             f"spinning)\n--- stdout\n{e.stdout}\n--- stderr\n{e.stderr}")
    if check:
        assert res.returncode == 0, (f"{actor.name}'s process exited with {res.returncode} "
                                     f"({_signame(res.returncode)})\n--- stdout\n{res.stdout}"
                                     f"\n--- stderr\n{res.stderr}")
    return res


def py_spawn(actor, daemon, code):
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1, cwd="/",
                            env=daemon.env(), **actor.ids())


def finish(proc, who, timeout=30):
    """Wait for @proc and require a normal exit 0; returns (stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{who} did not finish in {timeout} s (hung or spinning)\n"
                             f"--- stdout\n{out}\n--- stderr\n{err}")
    assert proc.returncode == 0, (f"{who} exited with {proc.returncode} "
                                  f"({_signame(proc.returncode)})\n--- stdout\n{out}\n"
                                  f"--- stderr\n{err}")
    return out, err


class Hostile:
    """tshm-adv-actor 'fd NAME': a descriptor of NAME held by an actor,
    driven line by line."""

    def __init__(self, actor, daemon, name, writable=True):
        argv = [ACTOR, daemon.socket, "fd", name] + ([] if writable else ["ro"])
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1, cwd="/",
                                     env=client_env(daemon), **actor.ids())
        line = self.proc.stdout.readline()
        assert line.startswith("ok open"), (f"hostile open of {name!r}: {line!r} "
                                            + self.proc.stderr.read() if not line else line)

    def cmd(self, line):
        """Send one command; returns its answer (without 'ok ')."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ans = self.proc.stdout.readline().strip()
        assert ans.startswith("ok"), f"hostile {line!r}: {ans!r}"
        return ans[3:]

    def send(self, line):
        """Send a command whose answer is read later with answer()."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def answer(self):
        ans = self.proc.stdout.readline().strip()
        assert ans.startswith("ok"), f"hostile: {ans!r}"
        return ans[3:]

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def actor_run(actor, daemon, args, timeout=30, **kw):
    """Run tshm-adv-actor ARGS as @actor; returns the CompletedProcess."""
    try:
        return subprocess.run([ACTOR, daemon.socket] + list(args), capture_output=True,
                              text=True, timeout=timeout, cwd="/", env=client_env(daemon),
                              **actor.ids(), **kw)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"actor {args} as {actor.name} hung for {timeout} s\n"
                             f"--- stdout\n{e.stdout}\n--- stderr\n{e.stderr}")


def cli(actor, daemon, args, timeout=30, **kw):
    """Run the tshm CLI as @actor against @daemon."""
    env = client_env(daemon)
    env.update(kw.pop("env", {}))
    return subprocess.run([TSHM_CLI, "--socket", daemon.socket] + list(args),
                          capture_output=True, text=True, timeout=timeout, cwd="/", env=env,
                          **actor.ids(), **kw)


SERVE_CHECK = """
    name = 'adv-serve-%d-%d' % (os.getpid(), time.monotonic_ns() % 10**9)
    c = tshm.connect()
    seg = c.create(name, 4, 'int32', mode=0o644)
    with seg.write():
        seg.numpy()[:] = [1, 2, 3, 4]
    seg2 = c.open(name)
    assert seg2.snapshot().tolist() == [1, 2, 3, 4]
    assert tuple(c.stat(name)['shape']) == (4,)
    seg.close(); seg2.close()
    c.unlink(name)
    c.close()
    print('served')
"""


def assert_serving(daemon, actor):
    """tshmd is alive and a fresh client as @actor can create, open and stat."""
    daemon.assert_alive()
    res = py(actor, daemon, SERVE_CHECK, timeout=20)
    assert "served" in res.stdout
    daemon.assert_alive()


# ---- shared by the test_adv_*.py files ----

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
