#!/usr/bin/env python3
"""bench_python.py - what it costs to get at a shared array from Python with
tshm, against tshm's C open and the alternatives a Python user has today, all
measured in one run on one machine.

    bench_python.py [--build DIR] [--iterations N] [--placement P] [--markdown FILE]

DIR is a configured and built tree (default: build/; use an optimised one,
e.g. cmake -B build-rel -DCMAKE_BUILD_TYPE=RelWithDebInfo). The script starts
its own tshmd (DIR/daemon/tshmd) on a private socket, compiles c_open.c with
cc against DIR's libtshm, and imports tshm from DIR/client/python. It prints
a Markdown table of median and p99 latencies; --markdown also writes it to
FILE. Like tshm-bench, it measures three placements (--placement picks one):
"same" pins the daemon and every process to CPU 0, which shows the software's
own cost; "split" puts the daemon on CPU 0 and the clients on CPU 1, which
adds what a cross-CPU wake-up costs; "unpinned" is what users get. Never run
as a test: numbers depend on the machine.

Rows:
- C tshm_open: c_open.c, the C baseline, in a process of its own; and the
  same call made through ctypes from the benchmark's Python process, so that
  the binding's own cost is the difference of two rows of one process.
- tshm open() + .numpy(): Client.open() and an ndarray view (4x4 float32, and
  64 MiB), timed together, as a Python process gets at a named array.
- tshm open(writable) + .torch(): the same for a 64 MiB torch tensor.
- tshm hand-off: one process sends a segment name through a
  multiprocessing Pipe; the other opens it and makes a tensor. Timed from
  send to tensor, across processes.
- multiprocessing.shared_memory: SharedMemory(name) + np.ndarray on its buffer.
- torch.multiprocessing Queue: put a 64 MiB tensor that is already in shared
  memory (share_memory_()); timed from put to the tensor in the receiver.
- pickle through a pipe: a 64 MiB ndarray sent through a multiprocessing
  Pipe (pickled, copied, unpickled); timed from send to array in the receiver.
"""

import argparse
import datetime
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

BIG_SHAPE = (4096, 4096)  # float32: 64 MiB
BIG_BYTES = 4096 * 4096 * 4
TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def pct(samples, q):
    """The q-th percentile of samples (nearest rank; q=50 the median, 99 the
    p99, which with fewer than 100 samples is the max)."""
    s = sorted(samples)
    return s[min(len(s) - 1, (len(s) * q) // 100)] if s else float("nan")


def median(xs):
    return pct(xs, 50)


def smaps_rollup(pid):
    """Every kB field of /proc/PID/smaps_rollup (Rss, Pss, Pss_Shmem, ...),
    in bytes."""
    got = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                got[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return got


def stats_us(samples_ns):
    s = sorted(samples_ns)
    n = len(s)
    return s[n // 2] / 1000, s[min(n - 1, (n * 99) // 100)] / 1000, n


class Daemon:
    """A tshmd of the benchmark's own. shm_dir: passed as --shm-dir (the
    segments' directory; None: tshmd's default, /dev/shm); extra: more
    arguments; env_extra: more environment (the daemon gets no other)."""

    started = 0

    def __init__(self, tshmd, cpus=None, shm_dir=None, extra=(), env_extra=None):
        self.dir = tempfile.mkdtemp(prefix="tshm-bench-")
        self.socket = os.path.join(self.dir, "s.sock")
        # One prefix per daemon: a benchmark may run two (bench_mirror.py).
        Daemon.started += 1
        self.prefix = f"tshmbench{os.getpid()}x{Daemon.started}"
        self.shm_dir = shm_dir or "/dev/shm"
        notify_path = os.path.join(self.dir, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NOTIFY_SOCKET": notify_path}
        env.update(env_extra or {})
        argv = [tshmd, "--foreground", "--socket", self.socket, "--shm-prefix", self.prefix,
                "--log-level", "warning", "--state-dir", os.path.join(self.dir, "state")]
        if shm_dir:
            argv += ["--shm-dir", shm_dir]
        argv += list(extra)
        self.proc = subprocess.Popen(argv, env=env,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus))
                                     if cpus else None)
        notify.settimeout(0.2)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    if b"READY=1" in notify.recv(4096):
                        break
                except socket.timeout:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.proc.kill()
                        raise RuntimeError(f"tshmd ({' '.join(argv)}) exited with "
                                           f"{self.proc.wait()} before READY=1 (or took 20 s)")
        finally:
            notify.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        for f in os.listdir(self.shm_dir):
            if f.startswith(self.prefix + "."):
                os.unlink(os.path.join(self.shm_dir, f))
        shutil.rmtree(self.dir, ignore_errors=True)


class ShmDir:
    """Where the benchmark's tshmd puts its segments: --shm-dir DIR as given,
    or with --huge a tmpfs mounted with huge=within_size in a fresh temporary
    directory (mode 1777, needs root), unmounted by close(); else None
    (tshmd's default, /dev/shm)."""

    def __init__(self, shm_dir=None, huge=False, size="2G"):
        self.path = shm_dir
        self.mounted = False
        if huge:
            if shm_dir:
                raise SystemExit("--huge and --shm-dir exclude each other")
            self.path = tempfile.mkdtemp(prefix="tshm-bench-huge-")
            subprocess.run(["mount", "-t", "tmpfs", "-o",
                            f"huge=within_size,size={size},mode=1777", "tshm-bench", self.path],
                           check=True)
            self.mounted = True
            os.chmod(self.path, 0o1777)

    def describe(self):
        """The directory and its tmpfs's huge= option, for the table."""
        path = self.path or "/dev/shm"
        real = os.path.realpath(path)
        opts, best = "", ""
        with open("/proc/mounts") as f:
            for line in f:
                fields = line.split()
                mnt = fields[1].replace("\\040", " ")
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, opts = mnt, fields[3]  # the last mount on a path is on top
        huge = [o for o in opts.split(",") if o.startswith("huge=")] or ["huge=never"]
        return f"{path} ({huge[0]})"

    def close(self):
        if self.mounted:
            subprocess.run(["umount", self.path], check=False)
            os.rmdir(self.path)
            self.mounted = False


def add_shm_dir_args(ap):
    ap.add_argument("--shm-dir", help="passed to tshmd: create the segments in this directory")
    ap.add_argument("--huge", action="store_true",
                    help="mount a huge=within_size tmpfs in a temporary directory (root), run "
                    "tshmd with --shm-dir on it, unmount it at the end")


def page_size_of(addr):
    """How the mapping of this process that holds address addr is backed:
    "2 MiB" when the kernel maps all of it (that is resident) with PMDs,
    "4 KiB" when with none, "mixed (N% 2 MiB)" between; from /proc/self/smaps
    (AnonHugePages, ShmemPmdMapped, FilePmdMapped against Rss)."""
    inside, rss, pmd = False, 0, 0
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(" ", 1)[0]
            if "-" in head and ":" not in head:
                if inside:
                    break
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= addr < hi
            elif inside:
                key = line.split(":", 1)[0]
                if key == "Rss":
                    rss = int(line.split()[1])
                elif key in ("AnonHugePages", "ShmemPmdMapped", "FilePmdMapped"):
                    pmd += int(line.split()[1])
    if rss == 0:
        return "?"
    if pmd == 0:
        return "4 KiB"
    if pmd >= rss - 2048:  # a 4 KiB header page or tail beside the huge ones
        return "2 MiB"
    return f"mixed ({100 * pmd // rss}% 2 MiB)"


def build_c_open(build):
    exe = os.path.join(tempfile.mkdtemp(prefix="tshm-bench-c-"), "c_open")
    libdir = os.path.join(build, "client")
    subprocess.run(["cc", "-O2", "-I", os.path.join(TOP, "include"),
                    os.path.join(TOP, "bench", "python", "c_open.c"), "-L", libdir, "-ltshm",
                    f"-Wl,-rpath,{libdir}", "-o", exe], check=True)
    return exe


def run_c_open(exe, sock, name, n, warm, rw=False):
    out = subprocess.run([exe, sock, name, str(n), str(warm)] + (["rw"] if rw else []),
                         check=True, capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


class CtypesOpen:
    """tshm_open called through ctypes from this Python process: the C call
    in the same process as the Python rows, so that their difference is the
    binding's own cost (ctypes adds about 0.1 µs a call)."""

    def __init__(self, build, sock):
        import ctypes

        self.ct = ctypes
        self.lib = ctypes.CDLL(os.path.join(build, "client", "libtshm.so"))
        self.client = ctypes.c_void_p()
        if self.lib.tshm_connect(sock.encode(), ctypes.byref(self.client)) != 0:
            raise RuntimeError("ctypes tshm_connect failed")

    def bench(self, name, n, warm):
        seg = self.ct.c_void_p()
        ref = self.ct.byref(seg)
        op, close, c, bname = self.lib.tshm_open, self.lib.tshm_close, self.client, name.encode()
        lat = []
        clock = time.perf_counter_ns
        for i in range(n + warm):
            t0 = clock()
            rv = op(c, bname, 0, ref)
            t1 = clock()
            if rv != 0:
                raise RuntimeError(f"ctypes tshm_open: {rv}")
            close(seg)
            if i >= warm:
                lat.append(t1 - t0)
        return lat

    def close(self):
        self.lib.tshm_disconnect(self.client)


def bench_open_numpy(client, name, n, warm):
    lat = []
    clock = time.perf_counter_ns
    for i in range(n + warm):
        t0 = clock()
        seg = client.open(name)
        a = seg.numpy()
        t1 = clock()
        del a
        seg.close()
        if i >= warm:
            lat.append(t1 - t0)
    return lat


def bench_open_only(client, name, n, warm):
    lat = []
    clock = time.perf_counter_ns
    for i in range(n + warm):
        t0 = clock()
        seg = client.open(name)
        t1 = clock()
        seg.close()
        if i >= warm:
            lat.append(t1 - t0)
    return lat


def bench_open_torch(client, name, n, warm):
    lat = []
    clock = time.perf_counter_ns
    for i in range(n + warm):
        t0 = clock()
        seg = client.open(name, writable=True)
        t = seg.torch()
        t1 = clock()
        del t
        seg.close()
        if i >= warm:
            lat.append(t1 - t0)
    return lat


def bench_shared_memory(n, warm):
    from multiprocessing import shared_memory

    owner = shared_memory.SharedMemory(create=True, size=BIG_BYTES)
    lat = []
    clock = time.perf_counter_ns
    try:
        for i in range(n + warm):
            t0 = clock()
            shm = shared_memory.SharedMemory(owner.name)
            a = np.ndarray(BIG_SHAPE, np.float32, buffer=shm.buf)
            t1 = clock()
            del a
            shm.close()
            if i >= warm:
                lat.append(t1 - t0)
    finally:
        owner.close()
        owner.unlink()
    return lat


# Receivers for the cross-process rows; top level so that 'spawn' finds them.

def _tshm_receiver(sock, conn, back, n):
    sys.path[:0] = [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    import tshm

    client = tshm.connect(sock)
    lat = []
    for _ in range(n):
        name, t0 = conn.recv()
        seg = client.open(name, writable=True)
        t = seg.torch()
        lat.append(time.perf_counter_ns() - t0)
        del t
        seg.close()
        back.send(None)
    back.send(lat)


def _queue_receiver(q, back, n):
    lat = []
    for _ in range(n):
        t, t0 = q.get()
        lat.append(time.perf_counter_ns() - t0)
        del t
        back.put(None)
    back.put(lat)


def _pickle_receiver(conn, back, n):
    lat = []
    for _ in range(n):
        t0, a = conn.recv()
        lat.append(time.perf_counter_ns() - t0)
        del a
        back.send(None)
    back.send(lat)


def bench_tshm_handoff(sock, name, n, warm):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    send, recv = ctx.Pipe()
    back_r, back_w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_tshm_receiver, args=(sock, recv, back_w, n + warm))
    p.start()
    for _ in range(n + warm):
        send.send((name, time.perf_counter_ns()))
        back_r.recv()
    lat = back_r.recv()[warm:]
    p.join()
    return lat


def bench_torch_queue(n, warm):
    import torch
    import torch.multiprocessing as tmp

    ctx = tmp.get_context("spawn")
    q, back = ctx.Queue(), ctx.Queue()
    t = torch.zeros(BIG_BYTES // 4).share_memory_()
    p = ctx.Process(target=_queue_receiver, args=(q, back, n + warm))
    p.start()
    for _ in range(n + warm):
        q.put((t, time.perf_counter_ns()))
        back.get()
    lat = back.get()[warm:]
    p.join()
    return lat


def bench_pickle_pipe(n, warm):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    send, recv = ctx.Pipe()
    back_r, back_w = ctx.Pipe(duplex=False)
    a = np.ones(BIG_SHAPE, np.float32)
    p = ctx.Process(target=_pickle_receiver, args=(recv, back_w, n + warm))
    p.start()
    for _ in range(n + warm):
        send.send((time.perf_counter_ns(), a))
        back_r.recv()
    lat = back_r.recv()[warm:]
    p.join()
    return lat


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    return (f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}; Python "
            f"{platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}")


PLACEMENTS = {
    # placement: (CPUs of the daemon, CPUs of this process and its children)
    "same": ({0}, {0}),
    "split": ({0}, {1}),
    "unpinned": (None, None),
}


def run(build, placement, n):
    """Every row in one placement; returns the Markdown lines."""
    import tshm

    dcpus, cpus = PLACEMENTS[placement]
    all_cpus = set(range(os.cpu_count()))
    os.sched_setaffinity(0, cpus or all_cpus)  # children inherit it
    warm = max(100, n // 10)
    slow_n = max(20, n // 50)  # the cross-process rows take milliseconds
    pickle_n = 20
    rounds = 5  # interleave the in-process rows, so that drift hits all alike
    d = Daemon(os.path.join(build, "daemon", "tshmd"), dcpus)
    rows = []
    try:
        c = tshm.connect(d.socket)
        small = c.create("small", (4, 4), "float32")
        big = c.create("big", BIG_SHAPE, "float32")
        big.numpy()[:] = 1  # touch every page once, as a producer would
        exe = build_c_open(build)
        cto = CtypesOpen(build, d.socket)
        inproc = [
            ("C `tshm_open` (4x4 float32)",
             lambda k: run_c_open(exe, d.socket, "small", k, warm)),
            ("C `tshm_open` from this Python process, by ctypes (4x4)",
             lambda k: cto.bench("small", k, warm)),
            ("C `tshm_open` (64 MiB, read-write)",
             lambda k: run_c_open(exe, d.socket, "big", k, warm, rw=True)),
            ("tshm `open()` alone (4x4)", lambda k: bench_open_only(c, "small", k, warm)),
            ("tshm `open()` + `.numpy()` (4x4)", lambda k: bench_open_numpy(c, "small", k, warm)),
            ("tshm `open()` + `.numpy()` (64 MiB)",
             lambda k: bench_open_numpy(c, "big", k, warm)),
            ("tshm `open(writable=True)` + `.torch()` (64 MiB)",
             lambda k: bench_open_torch(c, "big", k, warm)),
            ("`multiprocessing.shared_memory` attach + `np.ndarray` (64 MiB)",
             lambda k: bench_shared_memory(k, warm)),
        ]
        samples = {label: [] for label, _ in inproc}
        for _ in range(rounds):
            for label, f in inproc:
                samples[label] += f(n // rounds)
        rows += [(label, samples[label]) for label, _ in inproc]
        c_small, ct_small, c_big = (samples[inproc[i][0]] for i in range(3))
        py_small = samples[inproc[4][0]]
        py_torch = samples[inproc[6][0]]
        handoff = bench_tshm_handoff(d.socket, "big", slow_n, warm // 10)
        rows.append(("tshm hand-off to another process: name through a Pipe, open + "
                     "`.torch()` (64 MiB)", handoff))
        queue = bench_torch_queue(slow_n, warm // 10)
        rows.append(("`torch.multiprocessing` Queue hand-off of a shared 64 MiB tensor",
                     queue))
        pick = bench_pickle_pipe(pickle_n, 2)
        rows.append(("pickled 64 MiB ndarray through a Pipe", pick))
        cto.close()
        small.close()
        big.close()
        c.close()
    finally:
        d.stop()
        os.sched_setaffinity(0, all_cpus)

    where = {"same": "daemon and every process on CPU 0",
             "split": "daemon on CPU 0, this process and its children on CPU 1",
             "unpinned": "nothing pinned"}[placement]
    lines = [f"### Placement: {placement} ({where})", "",
             f"{n} iterations in {rounds} interleaved rounds after {warm} warm-up ones; "
             f"cross-process rows {slow_n}, pickle {pickle_n}.", "",
             "| operation | p50 (µs) | p99 (µs) | samples |", "| --- | ---: | ---: | ---: |"]
    for label, lat in rows:
        p50, p99, cnt = stats_us(lat)
        lines.append(f"| {label} | {p50:,.1f} | {p99:,.1f} | {cnt} |")
    c50, ct50, cb50 = stats_us(c_small)[0], stats_us(ct_small)[0], stats_us(c_big)[0]
    p50 = stats_us(py_small)[0]
    t50, h50 = stats_us(py_torch)[0], stats_us(handoff)[0]
    q50, k50 = stats_us(queue)[0], stats_us(pick)[0]
    lines += ["", "Targets (p50):",
              f"- `open()` + `.numpy()` ≤ C open + 10 µs: {p50:.1f} µs against "
              f"{c50:.1f} + 10 µs: {'met' if p50 <= c50 + 10 else 'NOT met'} "
              f"({p50 - c50:+.1f} µs); against C called from this process "
              f"{p50 - ct50:+.1f} µs. `open(writable)` + `.torch()` of 64 MiB: "
              f"{t50 - cb50:+.1f} µs over its C open.",
              f"- open + `.torch()` of 64 MiB ≥ 20× faster than the Queue hand-off: "
              f"{q50 / t50:,.1f}× ({t50:.1f} µs against {q50:.1f} µs); as a timed "
              f"cross-process hand-off {q50 / h50:,.1f}× ({h50:.1f} µs): "
              f"{'met' if q50 / t50 >= 20 else 'NOT met'}.",
              f"- ≥ 1000× faster than pickling it: {k50 / t50:,.0f}× "
              f"({k50 / h50:,.0f}× as a hand-off): {'met' if k50 / t50 >= 1000 else 'NOT met'}.",
              ""]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--iterations", type=int, default=10000)
    ap.add_argument("--placement", choices=sorted(PLACEMENTS) + ["all"], default="all")
    ap.add_argument("--markdown", help="also write the tables to this file")
    ap.add_argument("--body-only", help=argparse.SUPPRESS)  # one placement's table, to a file
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    moddir = os.path.join(build, "client", "python")
    sys.path.insert(0, moddir)
    os.environ["PYTHONPATH"] = moddir + ":" + os.environ.get("PYTHONPATH", "")
    if args.body_only:
        with open(args.body_only, "w") as f:
            f.write("\n".join(run(build, args.placement, args.iterations)) + "\n")
        return
    placements = ["same", "split", "unpinned"] if args.placement == "all" else [args.placement]
    if os.cpu_count() < 2:
        placements = [p for p in placements if p != "split"]
    lines = [f"Measured {datetime.date.today().isoformat()} on {machine()}; "
             f"build `{os.path.basename(build)}`.", ""]
    print("\n".join(lines), flush=True)
    for placement in placements:
        if len(placements) == 1:
            part = run(build, placement, args.iterations)
        else:
            # A fresh process per placement: a process that ran on a CPU before
            # pays for it later (munmap shoots down TLBs on every CPU its
            # memory was used on), which would blur the placements.
            out = tempfile.mktemp(prefix="tshm-bench-", suffix=".md")
            subprocess.run([sys.executable, os.path.abspath(__file__), "--build", build,
                            "--iterations", str(args.iterations), "--placement", placement,
                            "--body-only", out], check=True)
            with open(out) as f:
                part = f.read().splitlines()
            os.unlink(out)
        print("\n".join(part), flush=True)
        lines += part
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
