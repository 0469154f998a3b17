#!/usr/bin/env python3
"""bench_mirror.py - issue 15: a segment and a stream mirrored to another
tshmd over UCX, beside UCX's own floor (ucx_perftest) on the same link, in
one run.

    bench_mirror.py [--build DIR] [--runs N] [--quick] [--tls TLS] [--poll-us N]
                    [--reader-spin-us N] [--markdown FILE] [--json FILE]

Starts two tshmd of its own from DIR (default build/; use a Release build):
B listens for peers on 127.0.0.1 (--peer-listen), A mirrors to it; both
share a fresh secret. Both daemons, and ucx_perftest, run with
UCX_TLS=TLS (default tcp: the path two hosts take; two processes on one
host would otherwise move the bytes through shared memory).

Bandwidth: a stream of 8 slots (block policy) of 1 MiB frames, and one of
4 slots of 64 MiB frames, mirrored from A to B. A producer process on A
publishes frames flat out (each filled with its number); a subscriber
process on B takes them and checks each one is whole (every element its
number) and in order. Timed at B after a warm-up, as ucx_perftest times
after its own (-w, a tenth of its messages): the first tenth of the frames
(at least 4, which fill each slot once) are not timed; the bandwidth of a
run is the rest's (frames - 1) x frame size / the time from the first of
them to the last. The warm-up's own time is reported (cold_ms: a new
connection's TCP window grows over its first hundreds of MB). The floor is
ucx_perftest -t ucp_am_bw -s SIZE over the same transport (its "overall"
MB/s), run before each run.

Latency: a 4 KiB array on A; a writer publishes a version every 2 ms with
CLOCK_REALTIME in its first 8 bytes; a reader process on B waits for each
version of the copy and takes the time it wakes minus that stamp (one
clock: both daemons are on this host); it stops at the writer's last
version (a mirror may skip versions). The floor is ucx_perftest -t
ucp_am_lat -s 4096 (its one-way median, half of a round trip), which
polls; the same with -E sleep (both ends asleep between messages, as a
mirror's threads are by default) is reported beside it, not as the target.

--poll-us N: both daemons run with --peer-poll-us N (their peer threads
poll rather than sleep for N us after each version or frame);
--reader-spin-us N: the far reader spins N us before it sleeps in a wait
(TSHM_SPIN_NS). Settings for hosts with a core to spare per poller.

Reported: medians over the runs and p99 (of the frames' arrival gaps, and
of the latency samples), and ratios to the floors of the same run. Targets
(issue 15): 1 MiB and 64 MiB frames at >= 0.8x the floor's bandwidth; a
4 KiB version at the far consumer within 2x the floor's latency. With the
bandwidth: the CPU time per frame of the sending and receiving daemons, the
producer and the consumer (from /proc and process_time), and the CPUs busy
on the whole (their sum over the wall time) - a mirror's four parties need
CPU where ucx_perftest's floor has two.
"""
import argparse
import json
import multiprocessing as mp
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python import Daemon, median, pct  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def perftest(test, size, iters, warmup, tls, extra=()):
    """Run ucx_perftest's server and client on 127.0.0.1 (both with @extra
    flags); returns the client's 'Final:' row as floats. A server that
    exits before its client connects (its port taken meanwhile) is tried
    again on another port, three times in all."""
    for attempt in range(3):
        try:
            return _perftest_once(test, size, iters, warmup, tls, extra)
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _perftest_once(test, size, iters, warmup, tls, extra):
    port = free_port()
    env = dict(os.environ, UCX_TLS=tls)
    srv = subprocess.Popen(["ucx_perftest", "-p", str(port), *extra], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = ""
    try:
        # The server takes one connection for its own exchange: no probing
        # it; the client tries again while the server is not up yet.
        for _ in range(50):
            time.sleep(0.1)
            res = subprocess.run(["ucx_perftest", "127.0.0.1", "-p", str(port), "-t", test,
                                  "-s", str(size), "-n", str(iters), "-w", str(warmup),
                                  *extra],
                                 env=env, capture_output=True, text=True, timeout=300)
            out = res.stdout
            if "Final:" in out or srv.poll() is not None:
                break
    finally:
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
    row = [ln for ln in out.splitlines() if ln.startswith("Final:")]
    if not row:
        raise RuntimeError(f"ucx_perftest {test}: no Final row:\n{out}")
    return [float(x) for x in row[-1].split()[1:]]


def _consumer(sock, name, frames, ready, out):
    import numpy as np
    import tshm
    c = tshm.connect(sock)
    sub = c.sub_open(name)
    ready.set()
    arrivals = []
    expect = None
    bad = 0
    cpu0 = time.process_time()
    for _ in range(frames):
        with sub.take(timeout=60) as f:
            a = np.asarray(f)
            t = time.perf_counter_ns()
            v = int(a[0])
            if a[-1] != v or (expect is not None and v != expect):
                bad += 1
            expect = v + 1
            arrivals.append(t)
    out.put((arrivals, bad, time.process_time() - cpu0))


def cpu_seconds(pid):
    """User and system CPU time of process @pid (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mirror_live(a, b, name):
    """Mirror @name from A to B and wait until it is live and B has the copy."""
    import tshm
    with tshm.connect(a.socket) as ca:
        ca.mirror(name, a.peer_target, name)
        deadline = time.monotonic() + 30
        while not any(m["name"] == name and m["state"] == "live" for m in ca.mirrors()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the mirror of {name} did not go live in 30 s")
            time.sleep(0.05)


def drop(a, b, name):
    """Stop the mirror of @name, unlink it on A and its copy on B."""
    import tshm
    with tshm.connect(a.socket) as ca, tshm.connect(b.socket) as cb:
        ca.mirror_stop(name)
        ca.unlink(name)
        cb.unlink(name)


def bandwidth_run(a, b, size, frames, tag):
    """One run: returns (bytes/s after the warm-up, per-frame gaps in ns
    after it, bad frames, the warm-up's ns, CPU seconds per frame of each
    party and the CPUs busy on the whole, over all the frames)."""
    import tshm
    ca = tshm.connect(a.socket)
    n = size // 8
    name = f"bw{size}{tag}"
    s = ca.stream_create(name, (n,), "int64", slots=8 if size < (32 << 20) else 4,
                         policy="block", mode=0o644)
    mirror_live(a, b, name)
    ctx = mp.get_context("spawn")
    ready_c, out = ctx.Event(), ctx.Queue()
    cons = ctx.Process(target=_consumer, args=(b.socket, name, frames, ready_c, out))
    cons.start()
    ready_c.wait(60)
    time.sleep(0.3)  # the subscription reaches the far stream before frames flow
    cpu_a, cpu_b, cpu_p, t0 = cpu_seconds(a.proc.pid), cpu_seconds(b.proc.pid), \
        time.process_time(), time.monotonic()
    for i in range(1, frames + 1):
        with s.loan(timeout=60) as arr:
            arr[:1] = i
            arr[-1:] = i
    cpu_p = time.process_time() - cpu_p
    arrivals, bad, cpu_c = out.get(timeout=600)
    wall = time.monotonic() - t0
    cpu = {"sender": cpu_seconds(a.proc.pid) - cpu_a, "receiver": cpu_seconds(b.proc.pid) - cpu_b,
           "producer": cpu_p, "consumer": cpu_c}
    busy = sum(cpu.values()) / wall
    cpu = {k: v / frames for k, v in cpu.items()}
    cons.join(60)
    s.close()
    drop(a, b, name)
    warm = max(4, frames // 10)
    cold_ns = arrivals[warm] - arrivals[0]
    arrivals = arrivals[warm:]
    gaps = [y - x for x, y in zip(arrivals, arrivals[1:])]
    secs = (arrivals[-1] - arrivals[0]) / 1e9
    return (len(arrivals) - 1) * size / secs, gaps, bad, cold_ns, cpu, busy


def _lat_reader(sock, name, count, ready, out, spin_ns):
    if spin_ns:
        os.environ["TSHM_SPIN_NS"] = str(spin_ns)  # read by libtshm once, at first use
    import numpy as np
    import tshm
    c = tshm.connect(sock)
    seg = c.open(name)
    a = seg.numpy().view(np.int64)
    ready.set()
    seen = seg.seq
    lat = []
    # Until the writer's last version (a[1] set): a mirror may skip
    # versions (the newest whole one is sent), so fewer may arrive.
    while len(lat) < count:
        seq = seg.wait(seen, timeout=10)
        now = time.time_ns()
        while True:
            try:
                with seg.read():
                    stamp, last = int(a[0]), int(a[1])
                break
            except tshm.TornError:  # the next version came meanwhile
                now = None
        if now is None:
            continue  # not this version's time: no sample
        seen = seq
        if last:
            break
        lat.append(now - stamp)
    out.put(lat)


def latency_run(a, b, count, spin_ns=0):
    import numpy as np
    import tshm
    ca = tshm.connect(a.socket)
    name = "lat4k"
    seg = ca.create(name, (512,), "int64", mode=0o644)
    mirror_live(a, b, name)
    ctx = mp.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    r = ctx.Process(target=_lat_reader, args=(b.socket, name, count, ready, out, spin_ns))
    r.start()
    ready.wait(60)
    time.sleep(0.5)
    arr = seg.numpy()
    for _ in range(count + 50):
        with seg.write():
            arr[0] = time.time_ns()
        time.sleep(0.002)
        if not r.is_alive():
            break
    with seg.write():
        arr[1] = 1
    lat = out.get(timeout=60)
    r.join(30)
    seg.close()
    drop(a, b, name)
    return lat


class Peer(Daemon):
    def __init__(self, tshmd, secret, listen=None, tls="tcp", poll_us=0):
        extra = ["--peer-secret", secret, "--peer-poll-us", str(poll_us)]
        if listen:
            extra += ["--peer-listen", listen]
        super().__init__(tshmd, extra=extra, env_extra={"UCX_TLS": tls})
        self.peer_target = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tls", default="tcp")
    ap.add_argument("--poll-us", type=int, default=0, help="both daemons' --peer-poll-us")
    ap.add_argument("--reader-spin-us", type=int, default=0,
                    help="the far reader's spin before it sleeps (TSHM_SPIN_NS), latency case")
    ap.add_argument("--markdown")
    ap.add_argument("--json")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.build, "client", "python"))
    tshmd = os.path.join(args.build, "daemon", "tshmd")
    runs = 1 if args.quick else args.runs
    sizes = [(1 << 20, 128 if args.quick else 1000), (64 << 20, 12 if args.quick else 40)]
    lat_count = 200 if args.quick else 2000

    tmp = tempfile.mkdtemp(prefix="tshm-bench-mirror-")
    secret = os.path.join(tmp, "secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, secrets.token_hex(32).encode())
    os.close(fd)
    port = free_port()
    b = Peer(tshmd, secret, listen=f"127.0.0.1:{port}", tls=args.tls, poll_us=args.poll_us)
    a = Peer(tshmd, secret, tls=args.tls, poll_us=args.poll_us)
    a.peer_target = f"127.0.0.1:{port}"
    results = {"tls": args.tls, "runs": runs, "poll_us": args.poll_us,
               "reader_spin_us": args.reader_spin_us, "bandwidth": {}, "latency": {}}
    try:
        for size, frames in sizes:
            bws, floors, gaps, colds, cpus, busys, bad = [], [], [], [], [], [], 0
            for run in range(runs):
                # Enough messages that its start-up does not count: 2 GiB
                # (at least 32 messages), after a warm-up of a tenth.
                iters = max(32, (2 << 30) // size)
                fl = perftest("ucp_am_bw", size, iters, max(4, iters // 10), args.tls)
                # Final: iters, overhead p50/avg/overall (us), bandwidth
                # avg/overall (MB/s, MB = 2^20 bytes), rate avg/overall.
                floors.append(fl[5] * (1 << 20))
                bw, g, nbad, cold, cpu, busy = bandwidth_run(a, b, size, frames, run)
                colds.append(cold / 1e6)
                cpus.append(cpu)
                busys.append(busy)
                bws.append(bw)
                gaps += g
                bad += nbad
            results["bandwidth"][size] = {
                "tshm_Bps_median": median(bws), "floor_Bps_median": median(floors),
                "ratio": median(bws) / median(floors),
                "gap_us_median": median(gaps) / 1e3, "gap_us_p99": pct(gaps, 99) / 1e3,
                "cold_ms_median": median(colds), "bad_frames": bad, "frames": frames * runs,
                # Where the CPU goes (us per frame, medians over the runs),
                # and how many of the host's CPUs were busy on the whole.
                "cpu_us_per_frame": {k: median([c[k] for c in cpus]) * 1e6 for k in cpus[0]},
                "cpus_busy": median(busys)}
        lats, lfloor, lsleep = [], [], []
        for run in range(runs):
            fl = perftest("ucp_am_lat", 4096, 20000, 2000, args.tls)
            lfloor.append(fl[1])  # 50th percentile, us (one way)
            # For reference, not the target: the same with both ends
            # asleep between messages (-E sleep), as a default mirror is.
            lsleep.append(perftest("ucp_am_lat", 4096, 20000, 2000, args.tls,
                                   ("-E", "sleep"))[1])
            lats += latency_run(a, b, lat_count, args.reader_spin_us * 1000)
        results["latency"] = {
            "tshm_us_median": median(lats) / 1e3, "tshm_us_p99": pct(lats, 99) / 1e3,
            "floor_us_median": median(lfloor), "floor_sleep_us_median": median(lsleep),
            "samples": len(lats), "ratio": (median(lats) / 1e3) / median(lfloor)}
    finally:
        a.stop()
        b.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| what | tshm median | p99 | floor (ucx_perftest) | ratio |\n|---|---|---|---|---|\n")
            for size, r in results["bandwidth"].items():
                f.write(f"| {size >> 20} MiB frames | {r['tshm_Bps_median'] / 1e6:.0f} MB/s | "
                        f"gap {r['gap_us_p99']:.0f} us | {r['floor_Bps_median'] / 1e6:.0f} MB/s | "
                        f"{r['ratio']:.2f}x |\n")
            r = results["latency"]
            f.write(f"| 4 KiB version | {r['tshm_us_median']:.1f} us | {r['tshm_us_p99']:.1f} us "
                    f"| {r['floor_us_median']:.1f} us (asleep: {r['floor_sleep_us_median']:.1f} us) "
                    f"| {r['ratio']:.2f}x |\n")


if __name__ == "__main__":
    main()
