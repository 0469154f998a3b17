"""test_mirror.py - issue 15: segments and streams mirrored between two tshmd
over UCX (docs/remote.md), on two "hosts" (two network namespaces over a veth
pair, as root) and on loopback: the far copy follows the source, every
version it shows whole and in order, through kill -9 of either daemon and a
link that goes down; it is made with the source's geometry, read-only,
owned by the receiver's --peer-uid; a mirror needs read access; a copy never
writes over a segment of the receiving host.

In the netns variant the daemons use UCX's TCP transport (UCX_TLS=tcp), the
path two hosts take: on one machine UCX would otherwise find shared memory.
"""
import json
import os
import subprocess
import threading
import time

import numpy as np
import pytest

import tshm
import twohost

DTYPES = ["float32", "int64", "uint8", "float64", "int16"]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def mirror_of(client, name, incoming=False):
    for m in client.mirrors():
        if m["name"] == name and (m["direction"] == "in") == incoming:
            return m
    return None


def state_is(sock, name, state, incoming=False):
    def pred():
        try:
            with tshm.connect(sock) as c:
                m = mirror_of(c, name, incoming)
        except tshm.Error:
            return None
        return m if m is not None and m["state"] == state else None
    return pred


def copy_opens(client, name):
    try:
        client.stat(name)
        return True
    except tshm.NotFoundError:
        return False


@pytest.fixture
def hosts(two_hosts, monkeypatch):
    if two_hosts.netns:
        monkeypatch.setenv("UCX_TLS", "tcp")
    two_hosts.start()
    return two_hosts


def mirror(hosts, name, remote=None):
    with tshm.connect(hosts.a.socket) as ca:
        ca.mirror(name, hosts.b.peer, remote)
    return wait_for(state_is(hosts.a.socket, name, "live"), 30, f"{name}'s mirror to go live")


def wait_value(seg, value, timeout=20):
    """Wait until the copy @seg holds @value everywhere; each version seen on
    the way must be whole (one value throughout) and not older."""
    last = -1
    deadline = time.monotonic() + timeout
    while True:
        a = seg.snapshot(timeout=5)
        vals = np.unique(a)
        assert len(vals) == 1, f"a version of {seg.name} mixes values: {vals[:8]}"
        v = vals[0].item()
        assert v >= last, f"{seg.name} went back from {last} to {v}"
        last = v
        if v == value:
            return
        assert time.monotonic() < deadline, f"{seg.name} stuck at {v}, not {value}"
        try:
            seg.wait(seg.seq, timeout=0.5)
        except tshm.TimeoutError:
            pass


def test_arrays_follow(hosts):
    """Arrays of several dtypes: every version seen on the far side is whole,
    versions never go back, and the last one arrives; the copy has the
    source's dtype and shape, is read-only and owned by --peer-uid; both
    daemons list the mirror (tshm mirror --list, tshm ls --json)."""
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    segs = {}
    for dt in DTYPES:
        segs[dt] = ca.create(f"arr.{dt}", (48, 33), dt, mode=0o640)
        mirror(hosts, f"arr.{dt}")
    copies = {dt: cb.open(f"arr.{dt}") for dt in DTYPES}
    done = threading.Event()
    errors = []

    def watch(seg):
        try:
            wait_value(seg, 40, timeout=30)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    watchers = [threading.Thread(target=watch, args=(c,)) for c in copies.values()]
    for t in watchers:
        t.start()
    for v in range(1, 41):
        for dt, s in segs.items():
            a = s.numpy()
            with s.write():
                a[...] = v
        time.sleep(0.002)
    for t in watchers:
        t.join(60)
    done.set()
    assert not errors, errors
    for dt, c in copies.items():
        info = cb.stat(f"arr.{dt}")
        assert c.dtype_name == dt and c.shape == (48, 33)
        assert info["mode"] == "0440", info["mode"]
        assert info["owner"] == os.geteuid()
        assert not c.writable
        out = mirror_of(ca, f"arr.{dt}")
        assert out["state"] == "live" and out["sent"] >= 1 and out["peer"] == hosts.b.peer
        inc = mirror_of(cb, f"arr.{dt}", incoming=True)
        assert inc["state"] == "live" and inc["sent"] == out["sent"]
    ls = json.loads(hosts.b.tshm("ls", "--json", check=True).stdout)
    row = [r for r in ls if r["name"] == "arr.float32"][0]
    assert row["mirrors"][0]["direction"] == "in" and row["mirrors"][0]["state"] == "live"
    lst = hosts.a.tshm("mirror", "--list", check=True).stdout
    assert "arr.int64" in lst and hosts.b.peer in lst and "live" in lst


def consume(sub, n, out, sleep=0.0, timeout=15):
    """Take frames until @n were taken or none came for @timeout s: append
    (first element, whole?) for each; a frame the far producer reused while
    held (overwrite) counts as torn there, not as ours."""
    while len(out) < n:
        try:
            with sub.take(timeout=timeout) as f:
                a = np.asarray(f)
                out.append((int(a[0]), bool((a == a[0]).all())))
            if sleep:
                time.sleep(sleep)
        except tshm.TimeoutError:
            return
        except tshm.TornError:
            out.append((None, True))


def test_stream_block_every_frame_in_order(hosts):
    """A block-policy stream: the far subscriber gets every frame, in order,
    each whole (small frames, copied out, and 256 KiB ones, sent from the
    slot)."""
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    for n, frames in ((1024, 400), (65536, 120)):
        name = f"cam{n}"
        s = ca.stream_create(name, (n,), "int32", slots=8, policy="block", mode=0o644)
        mirror(hosts, name)
        sub = cb.sub_open(name)
        got = []
        t = threading.Thread(target=consume, args=(sub, frames, got))
        t.start()
        time.sleep(0.2)
        for i in range(1, frames + 1):
            with s.loan(timeout=20) as a:
                a[:] = i
        t.join(60)
        assert [v for v, _ in got] == list(range(1, frames + 1))
        assert all(w for _, w in got)
        m = wait_for(lambda: (lambda m: m if m["sent"] == frames else None)(
            mirror_of(ca, name)), 10, "the sender to count every frame")
        assert m["dropped"] == 0


def test_stream_block_backpressure_reaches_the_producer(hosts):
    """Block policy end to end: a far subscriber that holds a frame stops the
    source's producer after a bounded number of frames (the far ring, the
    mirror's window and the source ring), and letting go of it lets the
    producer on; every frame still arrives, in order."""
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    for n in (256, 65536):  # frames copied out, and frames sent from the slot
        name = f"bp{n}"
        s = ca.stream_create(name, (n,), "int32", slots=4, policy="block", mode=0o644)
        mirror(hosts, name)
        sub = cb.sub_open(name)
        published = 0
        held = None
        for i in range(1, 40):
            try:
                with s.loan(timeout=1.0) as a:
                    a[:] = i
                published = i
            except tshm.TimeoutError:
                break
            if held is None:
                held = sub.take(timeout=10)
                first = np.asarray(held.__enter__())[0]
        assert first == 1
        # Bounded: 4 far slots, 3 in the mirror's window, 4 source slots.
        assert 4 <= published <= 4 + 3 + 4 + 1, published
        held.__exit__(None, None, None)
        got = [(1, True)]
        t = threading.Thread(target=consume, args=(sub, 39, got))
        t.start()
        for i in range(published + 1, 40):
            with s.loan(timeout=20) as a:
                a[:] = i
        t.join(60)
        assert [v for v, _ in got] == list(range(1, 40)) and all(w for _, w in got)


def test_stream_overwrite_counts_losses(hosts):
    """An overwrite stream whose producer outruns the link: what arrives is
    whole and in increasing order, the last frame arrives, and what was lost
    is counted (the mirror's dropped, the far subscriber's missed)."""
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    s = ca.stream_create("fast", (262144,), "int32", slots=4, policy="overwrite", mode=0o644)
    mirror(hosts, "fast")
    sub = cb.sub_open("fast")
    got = []
    t = threading.Thread(target=consume, args=(sub, 10**6, got, 0.001, 3))
    t.start()
    time.sleep(0.2)
    for i in range(1, 301):
        with s.loan() as a:
            a[:] = i
    t.join(60)
    vals = [v for v, _ in got if v is not None]
    assert vals and vals[-1] == 300, vals[-5:]
    assert all(x < y for x, y in zip(vals, vals[1:]))
    assert all(w for _, w in got)
    m = mirror_of(ca, "fast")
    assert m["dropped"] + sub.missed > 0 and len(vals) < 300


def test_receiver_killed_resumes(hosts):
    """kill -9 of the receiving daemon mid-stream: the sender says stale,
    keeps its producer going (its subscription is dropped while the link is
    down), and resumes once the receiver is back: the newest version of the
    array and new frames arrive, whole and in order."""
    ca = tshm.connect(hosts.a.socket)
    arr = ca.create("k.arr", (4096,), "int64", mode=0o644)
    st = ca.stream_create("k.st", (4096,), "int64", slots=8, policy="block", mode=0o644)
    mirror(hosts, "k.arr")
    mirror(hosts, "k.st")
    stop = threading.Event()
    sent = [0]

    def produce():
        i = 0
        while not stop.is_set():
            i += 1
            with st.loan(timeout=30) as a:
                a[:] = i
            sent[0] = i
            time.sleep(0.005)

    p = threading.Thread(target=produce)
    p.start()
    try:
        with arr.write():
            arr.numpy()[:] = 1
        with tshm.connect(hosts.b.socket) as cb:
            wait_value(cb.open("k.arr"), 1)
        hosts.b.kill9()
        wait_for(state_is(hosts.a.socket, "k.st", "stale"), 15, "the sender to say stale")
        before = sent[0]
        time.sleep(0.5)
        assert sent[0] > before, "the producer is held back while the link is down"
        with arr.write():
            arr.numpy()[:] = 2
        hosts.b.restart()
        wait_for(state_is(hosts.a.socket, "k.st", "live"), 40, "the stream's mirror to resume")
        wait_for(state_is(hosts.a.socket, "k.arr", "live"), 40, "the array's mirror to resume")
        cb = tshm.connect(hosts.b.socket)
        wait_value(cb.open("k.arr"), 2)
        sub = cb.sub_open("k.st")
        got = []
        consume(sub, 20, got)
        vals = [v for v, _ in got]
        assert len(vals) == 20 and all(w for _, w in got)
        assert all(y == x + 1 for x, y in zip(vals, vals[1:])), vals
        assert mirror_of(ca, "k.st")["reconnects"] >= 1
    finally:
        stop.set()
        p.join(30)


def test_sender_killed_resumes(hosts):
    """kill -9 of the sending daemon: the copy says stale and keeps its last
    whole version; the restarted sender resumes the mirror by itself (saved
    in its state directory) and the next version arrives."""
    ca = tshm.connect(hosts.a.socket)
    arr = ca.create("s.arr", (1000,), "float64", mode=0o644)
    mirror(hosts, "s.arr")
    a = arr.numpy()
    with arr.write():
        a[:] = 3
    cb = tshm.connect(hosts.b.socket)
    copy = cb.open("s.arr")
    wait_value(copy, 3)
    hosts.a.kill9()
    wait_for(state_is(hosts.b.socket, "s.arr", "stale", incoming=True), 15,
             "the copy to say stale")
    assert np.all(copy.snapshot() == 3)
    hosts.a.restart()
    wait_for(state_is(hosts.a.socket, "s.arr", "live"), 40, "the mirror to resume")
    with arr.write():
        a[:] = 4
    wait_value(copy, 4)
    wait_for(state_is(hosts.b.socket, "s.arr", "live", incoming=True), 10, "the copy live")


def test_link_down_resumes(hosts):
    """The wire cut mid-stream (both ends of the veth down): both sides say
    stale within seconds; with the wire back the mirror resumes and the
    newest version and new frames arrive."""
    if not hosts.netns:
        pytest.skip("the loopback variant has no link to cut (the netns one does)")
    ca = tshm.connect(hosts.a.socket)
    arr = ca.create("l.arr", (2048,), "int32", mode=0o644)
    st = ca.stream_create("l.st", (2048,), "int32", slots=8, policy="overwrite", mode=0o644)
    mirror(hosts, "l.arr")
    mirror(hosts, "l.st")
    with arr.write():
        arr.numpy()[:] = 1
    cb = tshm.connect(hosts.b.socket)
    wait_value(cb.open("l.arr"), 1)
    hosts.link_down()
    for i in range(1, 50):
        with st.loan() as f:
            f[:] = i
        time.sleep(0.01)
    with arr.write():
        arr.numpy()[:] = 2
    wait_for(state_is(hosts.a.socket, "l.arr", "stale"), 20, "the sender to say stale")
    wait_for(state_is(hosts.b.socket, "l.arr", "stale", incoming=True), 20,
             "the copy to say stale")
    hosts.link_up()
    wait_for(state_is(hosts.a.socket, "l.arr", "live"), 40, "the mirror to resume")
    wait_value(cb.open("l.arr"), 2)
    wait_for(state_is(hosts.a.socket, "l.st", "live"), 40, "the stream's mirror to resume")
    sub = cb.sub_open("l.st")
    got = []
    t = threading.Thread(target=consume, args=(sub, 10, got))
    t.start()
    time.sleep(0.3)
    for i in range(100, 110):
        with st.loan() as f:
            f[:] = i
        time.sleep(0.01)
    t.join(30)
    assert [v for v, _ in got] == list(range(100, 110)) and all(w for _, w in got)


def test_mirror_again_after_stop_and_unlink(hosts):
    """Stop a mirror, unlink its source, make it again and mirror it again:
    the new segment's versions (numbered from 2 again) reach the copy (a
    stopped mirror is never taken for the new one)."""
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    for run in range(1, 4):
        s = ca.create("again", (512,), "int64", mode=0o644)
        mirror(hosts, "again")
        for v in range(1, 11):
            with s.write():
                s.numpy()[:] = run * 100 + v
        wait_value(cb.open("again"), run * 100 + 10)
        ca.mirror_stop("again")
        s.close()
        ca.unlink("again")


def test_copy_removed_and_source_grown_under_a_live_mirror(hosts):
    """The copy unlinked on B and the source made again, larger, on A while
    the mirror stays on: the new OPEN may reach B before B's old record has
    seen its copy go. B makes the copy anew with the new geometry, sized
    for it (a staging buffer of the old size was written past its end
    before), and serves on."""
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    n = 8
    s = ca.create("grow", (n,), "int64", mode=0o644)
    mirror(hosts, "grow")
    with s.write():
        s.numpy()[:] = 1
    wait_value(cb.open("grow"), 1)
    for run in range(2, 6):
        n *= 8
        cb.unlink("grow")
        s.close()
        ca.unlink("grow")
        s = ca.create("grow", (n,), "int64", mode=0o644)
        with s.write():
            s.numpy()[:] = run

        def grown():
            try:
                c = cb.open("grow")
            except tshm.NotFoundError:
                return None
            return c if c.shape == (n,) else None
        copy = wait_for(grown, 30, f"the copy of {n} elements")
        wait_value(copy, run)
    assert hosts.b.proc.poll() is None and hosts.a.proc.poll() is None
    with tshm.connect(hosts.b.socket) as c:
        c.create("still.serving", (4,), "int8")


def test_copy_never_writes_over_a_local_segment(hosts):
    """A name taken on the receiver by a segment that is not a copy of that
    geometry: the mirror is refused (stale, with the reason) and the local
    segment keeps its bytes."""
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    mine = cb.create("taken", (8,), "int8", mode=0o644)
    with mine.write():
        mine.numpy()[:] = 42
    src = ca.create("taken", (16,), "float32", mode=0o644)
    with src.write():
        src.numpy()[:] = 7
    ca.mirror("taken", hosts.b.peer)
    m = wait_for(lambda: (lambda m: m if m and "exists" in m["error"] else None)(
        mirror_of(ca, "taken")), 20, "the refusal")
    assert m["state"] in ("stale", "failed")
    assert np.all(mine.numpy() == 42) and cb.stat("taken")["dtype"] == "int8"


def test_mirror_needs_read_access():
    """A user who may not read a segment cannot mirror it (the CLI says
    permission denied); one who may, can, and can stop it."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to act as another user (nobody)")
    h = twohost.TwoHosts(netns=False)
    try:
        h.start()
        # The harness keeps each host's directory to itself; nobody must
        # reach the socket (mode 0666) to be refused by the daemon.
        os.chmod(h.root, 0o755)
        os.chmod(h.a.dir, 0o755)
        with tshm.connect(h.a.socket) as ca:
            ca.create("private", (4,), "int8", mode=0o600)
            ca.create("public", (4,), "int8", mode=0o644)

        def as_nobody(*args):
            return subprocess.run([twohost.TSHM_CLI, "--socket", h.a.socket, *args],
                                  capture_output=True, text=True, timeout=30,
                                  env=twohost.tool_env(),
                                  preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))

        r = as_nobody("mirror", "private", h.b.peer)
        assert r.returncode != 0 and "denied" in r.stderr.lower(), r
        with tshm.connect(h.a.socket) as ca:
            assert mirror_of(ca, "private") is None
        r = as_nobody("mirror", "public", h.b.peer)
        assert r.returncode == 0, r
        r = as_nobody("mirror", "--stop", "public")
        assert r.returncode == 0, r
        # A reader may not stop a mirror another user started.
        with tshm.connect(h.a.socket) as ca:
            ca.mirror("public", h.b.peer, "public.root")
            wait_for(state_is(h.a.socket, "public", "live"), 30, "root's mirror to go live")
            r = as_nobody("mirror", "--stop", "public")
            assert r.returncode != 0 and "only that user" in r.stderr, r
            time.sleep(0.5)
            assert mirror_of(ca, "public")["state"] == "live"
            ca.mirror_stop("public")
            wait_for(lambda: mirror_of(ca, "public") is None, 10, "root's mirror to stop")
        # Read access taken away under a live mirror: it stops sending.
        r = as_nobody("mirror", "public", h.b.peer, "--as", "public2")
        assert r.returncode == 0, r
        wait_for(state_is(h.a.socket, "public", "live"), 30, "the mirror to go live")
        assert h.a.tshm("chmod", "0600", "public").returncode == 0
        with tshm.connect(h.a.socket) as ca:
            m = wait_for(state_is(h.a.socket, "public", "stale"), 10, "the mirror to stop")
            assert "may no longer read" in m["error"], m
            pub = ca.open("public", writable=True)
            with pub.write():
                pub.numpy()[:] = 9
        with tshm.connect(h.b.socket) as cb:
            time.sleep(2)
            assert not (cb.open("public2").numpy() == 9).any()
    finally:
        h.close()


def cpu_seconds(pid):
    """User and system CPU time of process @pid, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_polling_peer_threads(two_hosts, monkeypatch):
    """--peer-poll-us: with both peer threads polling, an array and a
    block-policy stream arrive as without (every frame in order and whole,
    the last version); while they flow the receiving daemon keeps a CPU busy
    (it polls instead of sleeping), and once they stop it sleeps again: an
    idle mirror's pings do not keep it polling."""
    if two_hosts.netns:
        monkeypatch.setenv("UCX_TLS", "tcp")
    hosts = two_hosts
    hosts.start(["--peer-poll-us", "300000"])
    ca, cb = tshm.connect(hosts.a.socket), tshm.connect(hosts.b.socket)
    arr = ca.create("polled", (64,), "int64", mode=0o644)
    mirror(hosts, "polled")
    copy = cb.open("polled")
    s = ca.stream_create("polled.cam", (4096,), "int32", slots=8, policy="block", mode=0o644)
    mirror(hosts, "polled.cam")
    sub = cb.sub_open("polled.cam")
    got = []
    t = threading.Thread(target=consume, args=(sub, 300, got))
    t.start()
    time.sleep(0.2)
    pid = hosts.b.proc.pid
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    for i in range(1, 301):
        with s.loan(timeout=20) as a:
            a[:] = i
        with arr.write():
            arr.numpy()[:] = i
        time.sleep(0.005)
    busy, wall = cpu_seconds(pid) - cpu0, time.monotonic() - t0
    t.join(60)
    assert [v for v, _ in got] == list(range(1, 301))
    assert all(w for _, w in got)
    wait_value(copy, 300)
    # Asleep between messages it would use a few percent of a CPU here.
    assert busy > 0.25 * wall, f"B used {busy:.2f} s of CPU in {wall:.2f} s: not polling"
    time.sleep(1.0)
    cpu0 = cpu_seconds(pid)
    time.sleep(2.0)
    idle = cpu_seconds(pid) - cpu0
    # Polling 0.3 s after each ping (one a second) would be 0.6 s.
    assert idle < 0.2, f"B used {idle:.2f} s of CPU in 2 s with nothing to send: still polling"
