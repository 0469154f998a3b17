"""twohost.py - two tshmd "hosts" on one machine, for the mirror tests
(issue 15, docs/remote.md).

Two variants with one interface:

- Loopback (any user): two daemons on 127.0.0.1, each with its own socket,
  state directory, shm prefix and peer port. No link to cut.
- Netns (root, with a working `ip netns`): two network namespaces joined by a
  veth pair, 10.X.Y.1 and 10.X.Y.2/24, one daemon in each; link_down() and
  link_up() cut and restore the veth. Names carry the pid and a serial, so
  that parallel runs never collide, and close() removes everything, even
  after a failure (the fixture calls it; an atexit hook is the backstop).

Each host (.a, .b) has: socket, peer ("IP:PORT", what the other daemon
dials), secret (the shared secret file), start(extra=()), kill9(),
restart(extra=()), stop(), run(argv, **kw) (a command in its namespace, with
TSHM_SOCKET set to its daemon), tshm(*args) (the CLI, likewise), log().

TSHMD and TSHM_CLI come from the environment (ctest sets them, as for
tests/adversarial).
"""

import atexit
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

TSHMD = os.environ.get("TSHMD")
TSHM_CLI = os.environ.get("TSHM_CLI")

# In every shm prefix: a pid comes round again (objects of killed runs).
RUN_TAG = secrets.token_hex(3)
_serial = itertools.count()


def netns_usable():
    """Whether this process can make network namespaces and veth pairs:
    root, with ip(8) from iproute2."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    name = f"tshmprobe{os.getpid()}x{next(_serial)}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return False
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return True


def tool_env(**extra):
    """The environment for tshmd, the CLI and other native tools started by
    a test: ours, less what makes python run under a sanitizer (the ASan
    runtime preloaded for the module: an instrumented binary links its own),
    with TSHMD_ASAN_OPTIONS as its ASAN_OPTIONS when set (tests/CMakeLists.txt)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if "TSHMD_ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["TSHMD_ASAN_OPTIONS"]
    env.update(extra)
    return env


def _free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _ip(*args, check=True):
    res = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20)
    if check and res.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {res.stderr.strip()}")
    return res


class Host:
    """One daemon: its directory, socket, state dir, prefix and peer port,
    and the namespace it runs in (None: this one)."""

    def __init__(self, label, root, secret, listen_ip, port, netns=None):
        self.label = label
        self.dir = os.path.join(root, label)
        os.mkdir(self.dir, 0o700)
        self.socket = os.path.join(self.dir, "s.sock")
        self.state_dir = os.path.join(self.dir, "state")
        os.mkdir(self.state_dir, 0o700)
        self.log_path = os.path.join(self.dir, "tshmd.log")
        self.prefix = f"tshmrem{os.getpid()}{RUN_TAG}x{next(_serial)}{label}"
        self.secret = secret
        self.ip = listen_ip
        self.port = port
        self.peer = f"{listen_ip}:{port}"
        self.netns = netns
        self.proc = None
        self.extra = []

    def _wrap(self, argv):
        if self.netns is None:
            return list(argv)
        return ["ip", "netns", "exec", self.netns, *argv]

    def argv(self, extra=()):
        return [TSHMD, "--foreground", "--socket", self.socket, "--socket-mode", "0666",
                "--shm-prefix", self.prefix, "--state-dir", self.state_dir,
                "--peer-listen", self.peer, "--peer-secret", self.secret,
                "--peer-uid", str(os.geteuid()), *extra]

    def start(self, extra=None, ready_timeout=20):
        """Start tshmd (with @extra flags, else those of the last start) and
        wait for READY=1. Returns the seconds it took."""
        if extra is not None:
            self.extra = list(extra)
        assert self.proc is None or self.proc.poll() is not None, "already running"
        notify_path = os.path.join(self.dir, "notify")
        if os.path.exists(notify_path):
            os.unlink(notify_path)
        # A path socket: reachable from another network namespace.
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = tool_env(NOTIFY_SOCKET=notify_path)
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self._wrap(self.argv(self.extra)), stdout=log,
                                         stderr=log, env=env, cwd=self.dir)
        notify.settimeout(0.1)
        try:
            while True:
                try:
                    if b"READY=1" in notify.recv(4096):
                        return time.monotonic() - t0
                except socket.timeout:
                    pass
                if self.proc.poll() is not None:
                    raise AssertionError(f"tshmd {self.label} exited with "
                                         f"{self.proc.returncode}:\n{self.log()}")
                if time.monotonic() - t0 > ready_timeout:
                    raise AssertionError(f"tshmd {self.label}: no READY=1 in "
                                         f"{ready_timeout} s:\n{self.log()}")
        finally:
            notify.close()
            os.unlink(notify_path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL, as a crash: no cleanup by the daemon."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=20)

    def stop(self):
        """SIGTERM, and wait; returns the exit status (None if not running)."""
        if not self.alive():
            return None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
            raise AssertionError(f"tshmd {self.label} ignored SIGTERM:\n{self.log()}")

    def restart(self, extra=None):
        self.stop()
        return self.start(extra)

    def run(self, argv, **kw):
        """subprocess.run of @argv in this host's namespace, talking to its
        daemon (TSHM_SOCKET); text output captured unless told otherwise."""
        env = tool_env(TSHM_SOCKET=self.socket)
        env.update(kw.pop("env", {}))
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 30)
        return subprocess.run(self._wrap(argv), env=env, **kw)

    def tshm(self, *args, **kw):
        return self.run([TSHM_CLI, *args], **kw)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        self.kill9()
        # The daemon's own shm objects (its prefix is this run's alone).
        try:
            for n in os.listdir("/dev/shm"):
                if n.startswith(self.prefix + "."):
                    os.unlink(os.path.join("/dev/shm", n))
        except OSError:
            pass


class TwoHosts:
    """Two hosts. @netns: in two network namespaces over a veth pair (root),
    else both on 127.0.0.1."""

    def __init__(self, netns=False):
        self.netns = netns
        self.root = tempfile.mkdtemp(prefix="tshm-remote-")
        os.chmod(self.root, 0o755)
        self.secret = os.path.join(self.root, "peer.key")
        # As docs/remote.md tells: owner-only, 32 random bytes.
        fd = os.open(self.secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)
        self._ns = []
        self._veth = None
        atexit.register(self.close)
        try:
            if netns:
                self._make_netns()
            else:
                self.a = Host("a", self.root, self.secret, "127.0.0.1", _free_port())
                self.b = Host("b", self.root, self.secret, "127.0.0.1", _free_port())
        except BaseException:
            self.close()
            raise

    def _make_netns(self):
        n = next(_serial)
        tag = f"{os.getpid()}x{n}"
        # 10.X.Y.0/24 from the pid: namespaces are separate anyway, but
        # distinct subnets keep a leaked pair from looking like a live one.
        x, y = (os.getpid() >> 8) & 0xFF, (os.getpid() + n) & 0xFF
        ns_a, ns_b = f"tshm-a{tag}", f"tshm-b{tag}"
        # Interface names: at most 15 bytes.
        veth_a, veth_b = f"tva{tag}"[:15], f"tvb{tag}"[:15]
        for ns in (ns_a, ns_b):
            _ip("netns", "add", ns)
            self._ns.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        self._veth = (veth_a, veth_b)
        _ip("link", "set", veth_a, "netns", ns_a)
        _ip("link", "set", veth_b, "netns", ns_b)
        ip_a, ip_b = f"10.{x}.{y}.1", f"10.{x}.{y}.2"
        for ns, dev, ip in ((ns_a, veth_a, ip_a), (ns_b, veth_b, ip_b)):
            _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
        self.a = Host("a", self.root, self.secret, ip_a, 7070, netns=ns_a)
        self.b = Host("b", self.root, self.secret, ip_b, 7070, netns=ns_b)

    def link_down(self):
        """Cut the wire: both ends of the veth down (netns variant only)."""
        assert self.netns, "the loopback variant has no link to cut"
        _ip("-n", self.a.netns, "link", "set", self._veth[0], "down")
        _ip("-n", self.b.netns, "link", "set", self._veth[1], "down")

    def link_up(self):
        assert self.netns, "the loopback variant has no link to cut"
        for host, dev in ((self.a, self._veth[0]), (self.b, self._veth[1])):
            _ip("-n", host.netns, "link", "set", dev, "up")
            # The address comes back with the link; its route too.
        for host in (self.a, self.b):
            deadline = time.monotonic() + 10
            while "state UP" not in _ip("-n", host.netns, "link", "show").stdout:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the veth in {host.netns} did not come up")
                time.sleep(0.05)

    def start(self, extra=()):
        self.a.start(extra)
        self.b.start(extra)

    def close(self):
        """Kill both daemons, delete the namespaces (which deletes the veth
        pair) and the files. Safe to call more than once."""
        for h in (getattr(self, "a", None), getattr(self, "b", None)):
            if h is not None:
                h.cleanup()
        if self._veth is not None:
            # Normally gone with its namespace; a pair never moved is not.
            _ip("link", "del", self._veth[0], check=False)
            self._veth = None
        while self._ns:
            _ip("netns", "del", self._ns.pop(), check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def tcp_reachable(src, host, port, timeout=1.0):
    """Whether @src (a Host) can open a TCP connection to @host:@port, from
    its namespace: the harness's ping (there is no ping(8) here)."""
    code = ("import socket,sys\n"
            "try:\n"
            f"    socket.create_connection(({host!r}, {port}), timeout={timeout}).close()\n"
            "except OSError:\n"
            "    sys.exit(1)\n")
    return src.run([shutil.which("python3") or "/usr/bin/python3", "-c", code],
                   timeout=timeout + 20).returncode == 0
