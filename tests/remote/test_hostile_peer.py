"""A hostile peer on tshmd's --peer-listen port (issue 15, docs/remote.md).

tshm-evil-peer (tshm-evil-peer.c) connects over UCX to a victim tshmd on
127.0.0.1 and breaks the peer protocol one way per mode; each test asserts
what the victim's host sees:
- the daemon still serves: `tshm ls` and `tshm info` work, and a local
  client's segment keeps its bytes and its version;
- without the secret nothing is made: no copy appears;
- with the secret, a peer never writes over a local segment (takeover), never
  gets a copy it cannot have (huge), and nothing half-sent or misframed is
  published (bad-length, commit-wrong-seq, torn-commit: the copy stays at
  version 0, all zero), while a correct version is (ok, the positive control);
- after a flood of silent connections, a legitimate peer gets through again
  within seconds;
- the daemon's log says why it dropped each link.
And a daemon given a --peer-secret it must not trust (readable by others,
owned by another user, too short), or --peer-listen without one, refuses to
start, saying why.

ctest passes TSHMD, TSHM_CLI, TSHM_EVIL_PEER and PYTHONPATH (the built
module); TSHMD_ASAN_OPTIONS in a sanitizer build. Runs as root (as CI does):
the takeover victim belongs to another user.
"""

import errno
import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import numpy as np
import pytest

TSHMD = os.environ.get("TSHMD")
TSHM_CLI = os.environ.get("TSHM_CLI")
EVIL = os.environ.get("TSHM_EVIL_PEER")

for _var, _val in (("TSHMD", TSHMD), ("TSHM_CLI", TSHM_CLI), ("TSHM_EVIL_PEER", EVIL)):
    if not _val or not os.access(_val, os.X_OK):
        raise pytest.UsageError(f"set {_var} (ctest does) and PYTHONPATH to the built module")

import tshm  # noqa: E402  (after the check, for a clear message)

# The one switch: True passes --peer-listen/--peer-secret on the command line
# (the flags of daemon/config.c); False passes them through XP_LISTEN and
# XP_SECRET, a local hack in daemon/main.c used before the flags landed.
USE_PEER_FLAGS = os.environ.get("TSHM_PEER_ENV_HACK") != "1"

NOBODY = 65534
ELEMS = 1024  # tshm-evil-peer's arrays: int32[1024], 4 KiB
KEEP = np.arange(ELEMS, dtype=np.int32) * 5 + 1
VICTIM = np.arange(ELEMS, dtype=np.int32) * 3 + 2


def native_env(**extra):
    """The environment of a C program of this build: no sanitizer runtime
    preloaded (python's), the ASan options meant for programs that link it."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    if "TSHMD_ASAN_OPTIONS" in os.environ:
        env["ASAN_OPTIONS"] = os.environ["TSHMD_ASAN_OPTIONS"]
    env.update(extra)
    return env


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_secret(path, data=None, mode=0o600):
    with open(path, "wb") as f:
        f.write(data if data is not None else os.urandom(24).hex().encode() + b"\n")
    os.chmod(path, mode)
    return path


# In every shm prefix: a pid comes round again (objects of killed runs).
RUN_TAG = secrets.token_hex(3)
_serial = 0


class Victim:
    """A private tshmd in the foreground, as this user, with its own socket,
    shm prefix and state directory, and peer settings @listen / @secret."""

    def __init__(self, listen=None, secret=None):
        global _serial
        self.dir = tempfile.mkdtemp(prefix="tshm-evil-")
        self.socket = os.path.join(self.dir, "s.sock")
        self.log_path = os.path.join(self.dir, "tshmd.log")
        self.prefix = f"tshmevil{os.getpid()}{RUN_TAG}x{_serial}"
        _serial += 1
        self.state_dir = os.path.join(self.dir, "state")
        self.listen, self.secret = listen, secret
        argv = [TSHMD, "--foreground", "--log-level", "info", "--socket", self.socket,
                "--shm-prefix", self.prefix, "--state-dir", self.state_dir]
        env = native_env()
        for flag, value, var in (("--peer-listen", listen, "XP_LISTEN"),
                                 ("--peer-secret", secret, "XP_SECRET")):
            if value is None:
                continue
            if USE_PEER_FLAGS:
                argv += [flag, value]
            else:
                env[var] = value
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env, cwd=self.dir)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_for_log(self, pattern, since=0, timeout=10):
        """The match of regex @pattern in the log after offset @since,
        waiting up to @timeout s for it; None if it never came."""
        end = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log()[since:])
            if m or time.monotonic() > end:
                return m
            time.sleep(0.05)

    def wait_listening(self, timeout=20):
        m = self.wait_for_log(r"peer: listening on", timeout=timeout)
        assert m, "tshmd never listened for peers:\n" + self.log()[-4000:]
        end = time.monotonic() + timeout
        while not os.path.exists(self.socket):
            assert self.alive() and time.monotonic() < end, self.log()[-4000:]
            time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def cli(self, *args, check=True):
        res = subprocess.run([TSHM_CLI, "--socket", self.socket, *args], capture_output=True,
                             text=True, timeout=30, env=native_env())
        if check:
            assert res.returncode == 0, f"tshm {' '.join(args)}: {res.stderr}"
        return res

    def stop(self):
        """SIGTERM; require exit 0 and no sanitizer report."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("tshmd ignored SIGTERM for 30 s:\n" + self.log()[-4000:])
        log = self.log()
        assert self.proc.returncode == 0, f"tshmd exited with {self.proc.returncode}:\n" + log[-4000:]
        assert "Sanitizer" not in log and "runtime error:" not in log, log[-8000:]

    def cleanup(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        for f in glob.glob(f"/dev/shm/{self.prefix}.*"):
            try:
                os.unlink(f)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Host:
    """The victim's host: the daemon, its secret, and a local client whose
    segments no peer may touch."""

    def __init__(self):
        self.port = free_port()
        self.secret_dir = tempfile.mkdtemp(prefix="tshm-evil-secret-")
        self.secret = write_secret(os.path.join(self.secret_dir, "secret"))
        self.daemon = Victim(listen=f"127.0.0.1:{self.port}", secret=self.secret)
        self.daemon.wait_listening()
        self.client = tshm.connect(self.daemon.socket)
        self.keeper = self.client.from_numpy("keeper", KEEP, mode=0o644)
        self.keeper_seq = self.keeper.seq
        self.client.from_numpy("victim", VICTIM, mode=0o644).close()
        if os.getuid() == 0:
            self.daemon.cli("chown", str(NOBODY), "victim")
        self.victim_seq = self.client.open("victim").seq

    def names(self):
        return sorted(i["name"] for i in self.client.list())

    def evil(self, mode, name="evil-unauth", secret=True, timeout=60):
        """Run tshm-evil-peer; its JSON line."""
        argv = [EVIL, f"127.0.0.1:{self.port}", mode]
        argv += [self.secret if secret else "-", name]
        env = native_env()
        if "ASAN_OPTIONS" in env:  # the attacker's own leaks are not the point
            env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        assert res.returncode == 0, f"tshm-evil-peer {mode}: rc {res.returncode}\n{res.stderr}"
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out["mode"] == mode
        return out

    def assert_serving(self):
        """The daemon is up, answers `tshm ls` and `tshm info`, and the
        local client's segment keeps its bytes and version."""
        d = self.daemon
        assert d.alive(), "tshmd died:\n" + d.log()[-4000:]
        listed = json.loads(d.cli("ls", "--json").stdout)
        assert {"keeper", "victim"} <= {s["name"] for s in listed}
        info = json.loads(d.cli("info", "keeper", "--json").stdout)
        assert info["owner"] == os.getuid() and info["dtype"] == "int32"
        assert self.keeper.seq == self.keeper_seq
        np.testing.assert_array_equal(self.keeper.numpy(), KEEP)
        # A fresh local client still gets its work done.
        with tshm.connect(d.socket) as c:
            s = c.create("fresh", (4,), "int32")
            s.numpy()[:] = 9  # writable: opened read-write by create()
            s.close()
            np.testing.assert_array_equal(c.open("fresh").numpy(), [9, 9, 9, 9])
            c.unlink("fresh")

    def copy(self, name):
        """(seq, data, stat) of the copy @name."""
        seg = self.client.open(name)
        try:
            return seg.seq, seg.numpy().copy(), self.client.stat(name)
        finally:
            seg.close()

    def close(self):
        try:
            self.keeper.close()
            self.client.close()
            self.daemon.stop()
        finally:
            self.daemon.cleanup()
            shutil.rmtree(self.secret_dir, ignore_errors=True)


# A victim per test: tshmd rate-limits each log line (10 per 5 s per call
# site), and every test counts the lines that say why its links were dropped.
@pytest.fixture()
def host():
    h = Host()
    try:
        yield h
    finally:
        h.close()


def attack(host, mode, log_pattern, name="evil-unauth", secret=True, count=1):
    """Run @mode; require the daemon to log @log_pattern (@count times) and
    keep serving. Returns the evil peer's report."""
    since = len(host.daemon.log())
    out = host.evil(mode, name=name, secret=secret)
    end = time.monotonic() + 10
    while len(re.findall(log_pattern, host.daemon.log()[since:])) < count:
        assert time.monotonic() < end, (
            f"{mode}: no '{log_pattern}' (x{count}) in tshmd's log:\n" + host.daemon.log()[since:])
        time.sleep(0.05)
    host.assert_serving()
    return out


# Without the secret: dropped, and nothing made.

UNAUTH = [
    # mode, what the daemon logs, how many times
    ("open-without-hello", r"broke the protocol \(message 3\); dropping it", 1),
    ("bad-mac", r"failed authentication; dropping it", 1),
    ("reflect", r"failed authentication; dropping it", 1),
    ("wrong-direction", r"broke the protocol \(message [247]\); dropping it", 6),
    ("data-before-auth", r"broke the protocol \(message 5\); dropping it", 3),
    ("payload-on-hello", r"a payload where none belongs; dropping the link", 2),
]


@pytest.mark.parametrize("mode,pattern,count", UNAUTH, ids=[u[0] for u in UNAUTH])
def test_unauthenticated(host, mode, pattern, count):
    before = host.names()
    out = attack(host, mode, pattern, secret=mode in ("bad-mac", "reflect"), count=count)
    assert out["dropped"] is True, out
    assert out.get("opened_status") is None, out
    if mode in ("bad-mac", "reflect"):
        # The daemon proved it holds the secret, and the peer did not.
        assert out["challenge"] is True and out["challenge_mac_ok"] is True, out
        assert out["ep_error"] is True, out
    if mode == "open-without-hello":
        assert out["challenge"] is False and out["ep_error"] is True, out
    if mode == "payload-on-hello":
        assert out["challenge"] is False, out
    assert host.names() == before, "a peer without the secret made a copy"


def test_garbage(host):
    before = host.names()
    # Eight random headers and a 6000-byte one, on the ids the daemon
    # handles: each logs why (the line is rate-limited: at least 8 show).
    out = attack(host, "garbage", r"peer: message \d+: .*; dropping the link", count=8)
    assert out["dropped"] is True, out
    for entry in out["per_id"]:
        if 1 <= entry["id"] <= 8:
            # Dropped at once (UCX saw the close), not merely unanswered.
            assert entry["ep_error"] is True, entry
        else:
            # An id nobody handles: dropped, or ignored by a link that
            # still says CHALLENGE to a HELLO. Either way tshmd lives
            # (attack() checked it serves).
            assert entry["ep_error"] or entry["live"], entry
    assert out["unknown_ids_dropped_or_ignored"] is True, out
    assert host.names() == before


# With the secret, but hostile.

def test_takeover(host):
    if os.getuid() != 0:
        pytest.skip("the victim segment must belong to another user: needs root (CI is)")
    since = len(host.daemon.log())
    out = attack(host, "takeover", r"refusing [^ ]+'s copy 'victim'", name="victim")
    assert out["opened_status"] == -errno.EEXIST, out
    assert "exists here" in out["opened_error"], out
    # The DATA it sent anyway is a protocol break: dropped, not written.
    assert out["dropped"] is True and out["ep_error"] is True, out
    assert host.daemon.wait_for_log(r"broke the protocol \(message 5\)", since)
    seq, data, st = host.copy("victim")
    np.testing.assert_array_equal(data, VICTIM)
    assert seq == host.victim_seq
    assert st["owner"] == NOBODY and st["mode"] == "0644", st


def test_regrow_after_the_copy_is_unlinked(host):
    """A peer's copy unlinked on the victim while its link stays up, and the
    same name opened again at once on a new link, 64 times larger: the new
    copy is made for the new size and holds the version sent (in a
    sanitizer build an overflow of a buffer of the old size aborts tshmd,
    which assert_serving reports), and the daemon serves on."""
    argv = [EVIL, f"127.0.0.1:{host.port}", "regrow", host.secret, "evil-regrow"]
    env = native_env()
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1", "detect_leaks=0")
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "ready"
        host.client.unlink("evil-regrow")
        p.stdin.write("go\n")
        p.stdin.flush()
        out = json.loads(p.stdout.readline())
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out["opened_status"] == 0, out
    end = time.monotonic() + 10
    while True:
        seq, data, st = host.copy("evil-regrow")
        if data.size == 1024 * 64 and (data == 2).all():
            break
        assert time.monotonic() < end, (data.size, data[:4], st)
        time.sleep(0.05)
    host.assert_serving()


def test_huge(host):
    out = attack(host, "huge", r"refusing [^ ]+'s copy 'evil-huge'", name="evil-huge")
    assert isinstance(out["opened_status"], int) and out["opened_status"] < 0, out
    assert "evil-huge" not in host.names()


@pytest.mark.parametrize("mode,pattern,count", [
    ("bad-length", r"broke the protocol \(message 5\); dropping it", 2),
    ("commit-wrong-seq", r"broke the protocol \(message 6\); dropping it", 1),
    ("torn-commit", r"the copy 'evil-torn-commit' from [^ ]+ is stale", 1),
])
def test_nothing_published(host, mode, pattern, count):
    name = f"evil-{mode}"
    out = attack(host, mode, pattern, name=name, count=count)
    assert out["opened_status"] == 0, out
    if mode == "torn-commit":
        # Acknowledged (the sender may go on), not published.
        assert out["dropped"] is False and out["acked"] == 2, out
    else:
        assert out["dropped"] is True and out["ep_error"] is True and out["acked"] is None, out
    if mode == "bad-length":
        assert out["dropped_8"] is True and out["dropped_1m"] is True, out
    seq, data, st = host.copy(name)
    assert seq == 0, f"{mode}: the copy was published (seq {seq})"
    assert not data.any(), f"{mode}: bytes reached the copy"
    assert st["owner"] == os.geteuid() and st["mode"] == "0444", st


def test_ok_publishes(host):
    out = attack(host, "ok", r"keeping 'evil-ok' in step", name="evil-ok")
    assert out["opened_status"] == 0 and out["acked"] == 2 and out["dropped"] is False, out
    seq, data, st = host.copy("evil-ok")
    assert seq == 2
    np.testing.assert_array_equal(data, np.full(ELEMS, 7, np.int32))
    assert st["owner"] == os.geteuid() and st["mode"] == "0444", st


def test_flood_then_legitimate(host):
    out = attack(host, "flood", r"connections not yet authenticated .*; refusing another")
    # At most 8 from one address wait to authenticate at once (64 in all);
    # the others are refused, and a silent one is dropped after 2 s.
    assert out["connections"] == 100 and out["refused"] == 100 - 8, out
    t0 = time.monotonic()
    while True:
        ok = host.evil("ok", name="evil-after-flood")
        if ok["acked"] == 2 or time.monotonic() - t0 > 5:
            break
        time.sleep(0.2)
    assert ok["acked"] == 2 and ok["opened_status"] == 0, (ok, host.daemon.log()[-3000:])
    seq, data, _ = host.copy("evil-after-flood")
    assert seq == 2 and (data == 7).all()
    host.assert_serving()


def test_no_takeover_of_the_daemon_users_segment(host):
    """A segment of the copies' owner (--peer-uid, by default the daemon's
    own user) with a copy's geometry is still not a copy: an authenticated
    peer's OPEN for it is refused and its bytes stay."""
    mine = host.client.create("daemons-own", (ELEMS,), "int32", mode=0o600)
    with mine.write():
        mine.numpy()[:] = 5
    out = host.evil("ok", name="daemons-own")
    assert out["opened_status"] == -17, out  # TSHM_EEXIST
    assert (mine.numpy() == 5).all() and mine.seq == 2
    assert host.client.stat("daemons-own")["owner"] == os.geteuid()
    host.assert_serving()


def test_data_flood_is_cut_off(host):
    """An authenticated sender that never waits for ACKs (1000 versions back
    to back) has its link dropped, not queued in the receiver's memory."""
    out = attack(host, "data-flood", r"does not wait for acknowledgements", name="flooded")
    assert out["dropped"] is True and out["ep_error"] is True, out
    seq, data, _ = host.copy("flooded")
    # Whatever was published before the cut (maybe nothing) is whole.
    assert len(set(data.tolist())) == 1 and seq % 2 == 0


# A secret the daemon must not trust: it refuses to start.

def refused(argv_secret, listen=True, timeout=20):
    """Start a daemon with @argv_secret; require it to exit non-zero in
    @timeout s. Returns its log."""
    d = Victim(listen=f"127.0.0.1:{free_port()}" if listen else None, secret=argv_secret)
    try:
        try:
            d.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("tshmd started with a secret it must refuse:\n" + d.log())
        assert d.proc.returncode != 0, d.log()
        assert not os.path.exists(d.socket) or d.cli("ls", check=False).returncode != 0
        return d.log()
    finally:
        d.cleanup()


def test_untrusted_secret_refused(tmp_path):
    readable = write_secret(str(tmp_path / "readable"), mode=0o644)
    log = refused(readable)
    assert "readable" in log and re.search(r"0644|permission|mode", log), log

    short = write_secret(str(tmp_path / "short"), data=b"12345678\n")
    log = refused(short)
    assert "short" in log and re.search(r"16|bytes|short", log), log

    missing = str(tmp_path / "missing")
    log = refused(missing)
    assert "missing" in log, log

    if os.getuid() == 0:
        theirs = write_secret(str(tmp_path / "theirs"))
        os.chown(theirs, NOBODY, NOBODY)
        log = refused(theirs)
        assert "theirs" in log and re.search(rf"uid {NOBODY}|owne", log), log


def test_listen_without_secret_refused():
    d = Victim(listen=f"127.0.0.1:{free_port()}", secret=None)
    try:
        try:
            d.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise AssertionError("tshmd listened for peers without a secret:\n" + d.log())
        assert d.proc.returncode != 0
        assert "--peer-secret" in d.log(), d.log()
    finally:
        d.cleanup()
