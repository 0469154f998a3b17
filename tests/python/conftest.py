"""Fixtures for the tshm Python binding's tests: a real tshmd per test module,
and helpers that run Python code in real, separate processes.

ctest passes TSHMD (the daemon binary) and PYTHONPATH (the built module);
TSHM_CLI (the tshm command) is optional.
"""

import glob
import os
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

if not TSHMD or not os.access(TSHMD, os.X_OK):
    raise pytest.UsageError(
        "set TSHMD to the tshmd binary (ctest does) and PYTHONPATH to the directory of the "
        "built tshm module"
    )

import tshm  # noqa: E402  (after the check, for a clear message)

# In every shm prefix: a pid comes round again (objects of killed runs).
RUN_TAG = secrets.token_hex(3)
_serial = 0


class Daemon:
    """One tshmd in the foreground, on a private socket and shm prefix."""

    def __init__(self, extra=()):
        global _serial
        self.dir = tempfile.mkdtemp(prefix="tshm-py-")
        os.chmod(self.dir, 0o755)  # reachable by a child that dropped root
        self.socket = os.path.join(self.dir, "s.sock")
        self.log = os.path.join(self.dir, "tshmd.log")
        self.prefix = f"pytest{os.getpid()}{RUN_TAG}x{_serial}"
        _serial += 1
        self.extra = list(extra)
        self.proc = None
        self._start()

    def _start(self):
        notify_path = os.path.join(self.dir, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        # A clean environment, as the C integration fixture uses; the
        # sanitizer runtime preloaded into Python for an ASan build must not
        # reach the daemon, which carries its own.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOTIFY_SOCKET": notify_path}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSHMD_ASAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        if "TSHMD_ASAN_OPTIONS" in os.environ:
            env["ASAN_OPTIONS"] = os.environ["TSHMD_ASAN_OPTIONS"]
        # The seal key and the prefix's lock in a state directory of its own,
        # kept across restarts of this daemon.
        argv = [TSHMD, "--foreground", "--socket", self.socket, "--shm-prefix", self.prefix,
                "--socket-mode", "0666", "--state-dir", os.path.join(self.dir, "state")] + self.extra
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(argv, stderr=log, stdout=log, env=env)
        notify.settimeout(0.2)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    msg = notify.recv(4096)
                except socket.timeout:
                    if self.proc.poll() is not None:
                        raise RuntimeError(f"tshmd exited with {self.proc.returncode}:\n"
                                           + self.read_log())
                    if time.monotonic() > deadline:
                        raise RuntimeError("tshmd did not report READY=1 in 20 s:\n"
                                           + self.read_log())
                    continue
                if b"READY=1" in msg:
                    break
        finally:
            notify.close()
            os.unlink(notify_path)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def env(self, **extra):
        """The environment for a child process using this daemon."""
        env = dict(os.environ)
        env["TSHM_SOCKET"] = self.socket
        env.update(extra)
        return env

    def client(self):
        return tshm.connect(self.socket)

    def stop(self):
        """SIGTERM, reap, require exit 0 and no sanitizer report."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("tshmd ignored SIGTERM for 20 s:\n" + self.read_log())
        log = self.read_log()
        for f in glob.glob(f"/dev/shm/{self.prefix}.*"):
            os.unlink(f)
        shutil.rmtree(self.dir, ignore_errors=True)
        assert rc == 0, f"tshmd exited with {rc}:\n{log}"
        assert "Sanitizer" not in log and "runtime error:" not in log, log


@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    d.stop()


@pytest.fixture()
def fresh_daemon():
    """A daemon of the test's own, for tests that count every handle."""
    d = Daemon()
    yield d
    d.stop()


@pytest.fixture()
def client(daemon):
    c = daemon.client()
    yield c
    c.close()


@pytest.fixture()
def name(request):
    """A segment name unique to the test."""
    base = "".join(ch if ch.isalnum() else "_" for ch in request.node.name)
    return f"{base[:150]}-{time.monotonic_ns() % 10**9}"


PRELUDE = """\
import os, sys, time
import numpy as np
import tshm
"""


def native_env(**extra):
    """The environment for a C program of this build (the tshm CLI): without
    the sanitizer runtime preloaded into Python, which it links itself."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if "TSHMD_ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["TSHMD_ASAN_OPTIONS"]
    env.update(extra)
    return env


def python(code, daemon, *, timeout=120, check=True, **popen):
    """Run `code` in a new Python process connected (TSHM_SOCKET) to `daemon`;
    returns the CompletedProcess (stdout and stderr as text)."""
    popen.setdefault("env", daemon.env())
    res = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=timeout, **popen)
    if check and res.returncode != 0:
        raise AssertionError(f"child exited with {res.returncode}\n--- stdout\n{res.stdout}"
                             f"\n--- stderr\n{res.stderr}")
    return res


def spawn(code, daemon, **popen):
    """Start `code` in a new Python process with pipes on stdin and stdout,
    for lock-step conversations; see Child."""
    popen.setdefault("env", daemon.env())
    proc = subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1, **popen)
    return Child(proc)


class Child:
    """A child process spoken to by lines: send() a line, expect() its answer."""

    def __init__(self, proc):
        self.proc = proc

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix=""):
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=30)
            raise AssertionError(f"child exited ({self.proc.returncode}) before answering:\n"
                                 + self.proc.stderr.read())
        line = line.rstrip("\n")
        assert line.startswith(prefix), f"expected {prefix!r}, got {line!r}"
        return line[len(prefix):]

    def finish(self, timeout=60):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=timeout)
        err = self.proc.stderr.read()
        assert rc == 0, f"child exited with {rc}:\n{err}"
        return err


def shm_mapped(path_part):
    """How many mappings of this process name `path_part`."""
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if path_part in line)
