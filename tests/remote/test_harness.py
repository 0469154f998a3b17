"""The two-host harness itself: two daemons start, each answers `tshm ls`
in its own namespace and only there, and the netns variant's link_down()
and link_up() cut and restore the connectivity between the namespaces."""

import os
import subprocess
import sys
import time

import twohost


def _listener(host):
    """A TCP listener on @host's peer address, in its namespace (the
    daemons do not listen yet without the peer thread, so the harness
    checks the wire with its own)."""
    code = ("import socket,sys,time\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(({host.ip!r}, {host.port + 1})); s.listen(8)\n"
            "print('up', flush=True)\n"
            "while True:\n"
            "    c,_=s.accept(); c.close()\n")
    argv = [sys.executable, "-c", code]
    if host.netns is not None:
        argv = ["ip", "netns", "exec", host.netns, *argv]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "up"
    return p


def test_two_daemons_answer_in_their_namespaces(two_hosts):
    h = two_hosts
    h.start()
    assert h.a.socket != h.b.socket and h.a.prefix != h.b.prefix
    assert h.a.peer != h.b.peer
    for host in (h.a, h.b):
        res = host.tshm("ls")
        assert res.returncode == 0, f"tshm ls on {host.label}: {res.stderr}\n{host.log()}"
    # A segment made on a is listed by a, not by b: two daemons, not one.
    res = h.a.tshm("create", "harness_probe", "float32", "4")
    assert res.returncode == 0, res.stderr
    assert "harness_probe" in h.a.tshm("ls").stdout
    assert "harness_probe" not in h.b.tshm("ls").stdout
    # kill -9 and a start again: the daemon comes back and adopts its segment.
    h.a.kill9()
    assert not h.a.alive()
    h.a.start()
    assert "harness_probe" in h.a.tshm("ls").stdout
    h.b.restart()
    assert h.b.tshm("ls").returncode == 0


def test_link_down_and_up(two_hosts):
    h = two_hosts
    if not h.netns:
        # Loopback: both reach each other, and there is no link to cut.
        p = _listener(h.b)
        try:
            assert twohost.tcp_reachable(h.a, h.b.ip, h.b.port + 1)
        finally:
            p.kill()
            p.wait()
        return
    p = _listener(h.b)
    try:
        assert twohost.tcp_reachable(h.a, h.b.ip, h.b.port + 1)
        h.link_down()
        assert not twohost.tcp_reachable(h.a, h.b.ip, h.b.port + 1, timeout=1.0)
        h.link_up()
        deadline = time.monotonic() + 10
        while not twohost.tcp_reachable(h.a, h.b.ip, h.b.port + 1):
            assert time.monotonic() < deadline, "no connectivity after link_up()"
            time.sleep(0.2)
    finally:
        p.kill()
        p.wait()


def test_teardown_leaves_nothing():
    if os.geteuid() != 0 or not twohost.netns_usable():
        # The loopback variant: only files and processes to remove.
        h = twohost.TwoHosts(netns=False)
        root = h.root
        h.close()
        assert not os.path.exists(root)
        return
    h = twohost.TwoHosts(netns=True)
    ns = (h.a.netns, h.b.netns)
    veth = h._veth
    h.close()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for n in ns:
        assert n not in listed
    links = subprocess.run(["ip", "link", "show"], capture_output=True, text=True).stdout
    assert veth[0] not in links and veth[1] not in links
    h.close()  # twice is fine
