#!/usr/bin/python3
"""The service protocol without systemd as PID 1.

systemd-socket-activate binds a socket and, on the first connection, execs
tshmd with it as descriptor 3 (LISTEN_FDS), the way tshmd.socket does. The
test plays the service manager's NOTIFY_SOCKET: a datagram socket it binds,
with SO_PASSCRED so that each message carries its sender's pid. It checks
that tshmd reports READY=1 (with a STATUS= line) from its own pid once it
serves, that it serves (stats, create, ls, info, rm through the CLI), that
it logs one line per event with journal priority prefixes (JOURNAL_STREAM)
and nothing per request at the default level, that a protocol violation is
logged at warning with the peer's pid and uid, and that SIGTERM gets
STOPPING=1 and exit 0, leaving the inherited socket to its owner. Started
without --foreground, the forked daemon must serve the inherited socket too.

Usage: test_activation.py TSHMD TSHM_CLI   (exit 77: skipped)
"""
import array
import json
import re
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TIMEOUT = 20.0
SKIP = 77


def fail(msg, log=None):
    print(f"FAIL: {msg}", file=sys.stderr)
    if log is not None:
        print("---- daemon stderr ----\n" + log + "-----------------------", file=sys.stderr)
    sys.exit(1)


class Notify:
    """The service manager's end of the sd_notify protocol."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []  # (pid, {key: value})

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _uid, _gid = struct.unpack("iII", payload[:12])
        fields = dict(
            line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        self.messages.append((pid, fields))
        return pid, fields

    def wait_for(self, key, timeout=TIMEOUT):
        """The first message (new or already seen) that sets @key."""
        for pid, fields in self.messages:
            if key in fields:
                return pid, fields
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self._recv(left)
            if got is not None and key in got[1]:
                return got
        return None

    def pending(self):
        return self._recv(0.05)


def run_cli(cli, sock, *args, env):
    return subprocess.run([cli, "--socket", sock, *args], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


class Activated:
    """tshmd behind systemd-socket-activate, in a directory of its own."""

    def __init__(self, activate, tshmd, tmp, tag, extra_env, args, foreground=True):
        self.sock = os.path.join(tmp, f"{tag}.sock")
        self.notify = Notify(os.path.join(tmp, f"{tag}.notify"))
        self.prefix = f"tshmsvc{os.getpid()}{tag}"
        self.errpath = os.path.join(tmp, f"{tag}.err")
        cmd = [activate, "-l", self.sock, "-E", f"NOTIFY_SOCKET={self.notify.path}"]
        for k, v in extra_env.items():
            cmd += ["-E", f"{k}={v}"]
        cmd += [tshmd, *(["--foreground"] if foreground else []), "--shm-prefix", self.prefix,
                "--state-dir", os.path.join(tmp, f"{tag}.state"), *args]
        self.err = open(self.errpath, "w+")
        # A clean environment: systemd-socket-activate passes on only PATH,
        # HOME, TERM, USER and the -E variables anyway.
        self.proc = subprocess.Popen(cmd, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        # Wait for the activator's "Listening on PATH as 3." line, not for
        # the socket file: the file appears at bind(), before listen(), and a
        # connect in between is refused (ECONNREFUSED). Under load that gap
        # was hit now and then ("cannot reach tshmd", with an empty log).
        # The line is printed once bind() and listen() both returned.
        deadline = time.monotonic() + TIMEOUT
        while f"Listening on {self.sock} " not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                fail("systemd-socket-activate did not listen on its socket", self.log())
            time.sleep(0.01)

    def log(self):
        self.err.flush()
        with open(self.errpath) as f:
            return f.read()

    def daemon_lines(self):
        """tshmd's lines: what follows the activator's 'Execing' line."""
        lines = self.log().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("Execing "):
                return lines[i + 1:]
        fail("systemd-socket-activate never execed tshmd", self.log())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("tshmd did not exit within the timeout after SIGTERM", self.log())
        return rc

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for name in os.listdir("/dev/shm"):
            if name.startswith(self.prefix + "."):
                try:
                    os.unlink(os.path.join("/dev/shm", name))
                except OSError:
                    pass
        self.err.close()


def check_sanitizers(d):
    log = d.log()
    for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        if mark in log:
            fail(f"sanitizer report in tshmd's stderr ({mark!r})", log)


def sanitizer_env():
    return {k: v for k, v in os.environ.items()
            if k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")}


def test_journal_run(activate, tshmd, cli, tmp, cli_env):
    """Log level info, JOURNAL_STREAM set: the whole protocol."""
    env = {"JOURNAL_STREAM": "8:12345", **sanitizer_env()}
    d = Activated(activate, tshmd, tmp, "j", env, ["--log-level", "info"])
    try:
        # Nothing runs before the first connection.
        if d.notify.pending() is not None:
            fail("a notification arrived before anyone connected")
        r = run_cli(cli, d.sock, "stats", "--json", env=cli_env)
        if r.returncode != 0:
            fail(f"tshm stats through the activated socket: {r.returncode} {r.stderr!r}", d.log())
        stats = json.loads(r.stdout)

        got = d.notify.wait_for("READY")
        if got is None:
            fail("no READY=1 from tshmd", d.log())
        pid, fields = got
        if fields["READY"] != "1":
            fail(f"READY={fields['READY']!r}")
        if "STATUS" not in fields or not fields["STATUS"]:
            fail(f"READY=1 came without a STATUS= line: {fields!r}")
        # systemd-socket-activate execs in place: the daemon is its pid, and
        # systemd (NotifyAccess=main) accepts messages from that pid only.
        if pid != d.proc.pid:
            fail(f"READY=1 came from pid {pid}, not the daemon's {d.proc.pid}")
        if stats.get("pid") != d.proc.pid:
            fail(f"tshm stats reports pid {stats.get('pid')}, not {d.proc.pid}")

        name = "svcseg"
        for args in (("create", name, "float32", "2x3", "--mode", "0640"), ("ls",),
                     ("info", name), ("cat", name), ("rm", name)):
            r = run_cli(cli, d.sock, *args, env=cli_env)
            if r.returncode != 0:
                fail(f"tshm {' '.join(args)}: exit {r.returncode}: {r.stderr!r}", d.log())
            if args == ("ls",) and name not in r.stdout:
                fail(f"tshm ls does not list {name!r}: {r.stdout!r}")

        # A protocol violation: a frame longer than any request may be.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            s.connect(d.sock)
            s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"x" * 16)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass

        if d.notify.wait_for("STOPPING", timeout=0.01) is not None:
            fail("STOPPING=1 before SIGTERM")
        rc = d.stop()
        if rc != 0:
            fail(f"tshmd exited {rc} after SIGTERM, not 0", d.log())
        got = d.notify.wait_for("STOPPING", timeout=5)
        if got is None or got[1]["STOPPING"] != "1":
            fail("no STOPPING=1 from tshmd on SIGTERM", d.log())
        if not os.path.exists(d.sock):
            fail("tshmd removed the socket it inherited; it belongs to the service manager")
        check_sanitizers(d)

        lines = d.daemon_lines()
        for line in lines:
            if not (len(line) > 3 and line[0] == "<" and line[1] in "01234567" and
                    line[2] == ">"):
                fail(f"a line without a priority prefix under JOURNAL_STREAM: {line!r}", d.log())
        # The peer's pid and uid, in either of the daemon's phrasings
        # ("pid 12 uid 0", "(pid 12, uid 0)").
        me = re.compile(rf"\bpid {os.getpid()}\b.*\buid {os.getuid()}\b")

        def expect(prio, *words):
            for line in lines:
                if line.startswith(f"<{prio}>") and all(
                        w.search(line) if isinstance(w, re.Pattern) else w in line
                        for w in words):
                    return
            fail(f"no <{prio}> line with {words!r}", d.log())

        expect(5, "listening on", d.sock)          # start, notice
        expect(6, "created", f"'{name}'", "uid")   # create, info
        expect(6, "unlink", f"'{name}'", "uid")    # unlink, info
        expect(4, me)                              # protocol violation, warning
        expect(5, "SIGTERM")                       # stop, notice
        expect(5, "stopped")
    finally:
        d.cleanup()


def test_default_level(activate, tshmd, cli, tmp, cli_env):
    """The default level, no JOURNAL_STREAM: plain lines, none per request."""
    d = Activated(activate, tshmd, tmp, "p", sanitizer_env(), [])
    try:
        for args in (("stats",), ("create", "quiet", "int8", "4"), ("ls",), ("info", "quiet"),
                     ("cat", "quiet"), ("stats",), ("rm", "quiet"), ("ls",)):
            r = run_cli(cli, d.sock, *args, env=cli_env)
            if r.returncode != 0:
                fail(f"tshm {' '.join(args)}: exit {r.returncode}: {r.stderr!r}", d.log())
        if d.notify.wait_for("READY") is None:
            fail("no READY=1 from tshmd", d.log())
        rc = d.stop()
        if rc != 0:
            fail(f"tshmd exited {rc} after SIGTERM, not 0", d.log())
        if d.notify.wait_for("STOPPING", timeout=5) is None:
            fail("no STOPPING=1 from tshmd on SIGTERM", d.log())
        check_sanitizers(d)
        lines = d.daemon_lines()
        for line in lines:
            if not line.startswith("tshmd: "):
                fail(f"not a plain 'tshmd: LEVEL: ...' line: {line!r}", d.log())
            if line.startswith(("tshmd: info:", "tshmd: debug:")):
                fail(f"a line below notice at the default level: {line!r}", d.log())
        # Start, SIGTERM and stop: eight requests left no line of their own.
        if len(lines) > 3:
            fail(f"{len(lines)} lines for a start, eight requests and a stop", d.log())
    finally:
        d.cleanup()


def pid_gone(pid, timeout):
    """Whether @pid (not our child: nobody here can wait for it) exits within
    @timeout seconds; a zombie counts as gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_forking(activate, tshmd, cli, tmp, cli_env):
    """Without --foreground (an inetd-style activator, or a Type=forking
    unit): tshmd forks into the background, and the child must serve the
    socket it was given, not bind the default path. The default path is
    pointed into the test's directory (TSHM_SOCKET), where it must not
    appear."""
    fallback = os.path.join(tmp, "f-default.sock")
    env = {"TSHM_SOCKET": fallback, **sanitizer_env()}
    d = Activated(activate, tshmd, tmp, "f", env, [], foreground=False)
    pid = None
    try:
        try:
            r = run_cli(cli, d.sock, "stats", "--json", env=cli_env)
        except subprocess.TimeoutExpired:
            fail("nobody served the activated socket after the fork", d.log())
        if r.returncode != 0:
            fail(f"tshm stats through the activated socket: {r.returncode} {r.stderr!r}", d.log())
        pid = json.loads(r.stdout).get("pid")
        if os.path.exists(fallback):
            fail("the forked tshmd bound the default path instead of using its socket", d.log())
        # The parent exits 0 once the child serves; the child is the daemon.
        try:
            rc = d.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            fail("the parent did not exit after the fork", d.log())
        if rc != 0:
            fail(f"the parent exited {rc}, not 0", d.log())
        if pid == d.proc.pid:
            fail("tshm stats reports the parent's pid: tshmd did not fork")
        got = d.notify.wait_for("READY")
        if got is None or got[0] != pid:
            fail(f"READY=1 did not come from the daemon (pid {pid}): {got!r}", d.log())
        r = run_cli(cli, d.sock, "create", "forked", "int8", "4", env=cli_env)
        if r.returncode != 0:
            fail(f"tshm create: exit {r.returncode}: {r.stderr!r}", d.log())
        os.kill(pid, signal.SIGTERM)
        if not pid_gone(pid, TIMEOUT):
            fail("the forked tshmd did not exit after SIGTERM", d.log())
        pid = None
        if d.notify.wait_for("STOPPING", timeout=5) is None:
            fail("no STOPPING=1 from the forked tshmd on SIGTERM", d.log())
        if not os.path.exists(d.sock):
            fail("tshmd removed the socket it inherited; it belongs to the service manager")
        if os.path.exists(fallback):
            fail("the forked tshmd bound the default path", d.log())
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        d.cleanup()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    tshmd, cli = sys.argv[1], sys.argv[2]
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        print("SKIP: systemd-socket-activate not found (Debian: apt install systemd)")
        return SKIP
    cli_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **sanitizer_env()}
    tmp = tempfile.mkdtemp(prefix="tshm-svc-")
    try:
        test_journal_run(activate, tshmd, cli, tmp, cli_env)
        test_default_level(activate, tshmd, cli, tmp, cli_env)
        test_forking(activate, tshmd, cli, tmp, cli_env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("ok: READY=1 with STATUS=, served, logged, STOPPING=1, exit 0 (twice); "
          "forked without --foreground, served the socket it was given")
    return 0


if __name__ == "__main__":
    sys.exit(main())
