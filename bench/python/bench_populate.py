#!/usr/bin/env python3
"""bench_populate.py - issue 12's data-path table: what a fresh tshm mapping
costs against the same bytes in process, with populating off (before) and
at its default (after), all in one run.

    bench_populate.py [--build DIR] [--runs N] [--sizes MiB,...] [--shm-dir DIR | --huge]
                      [--markdown FILE]

Starts its own tshmd from DIR (default build/), with --shm-dir DIR if given,
or with --huge on a tmpfs mounted with huge=within_size in a fresh temporary
directory (needs root; unmounted at the end); imports tshm from
DIR/client/python. For each size (float32; default 64 and 512 MiB):
- create + fill: Client.create() and .numpy().fill(1.0), with populate=False
  and populate=None (the default: whole segments up to 1 GiB); the floor is
  np.empty() + fill in this process (fresh anonymous memory each run).
- open + read all: another process (one per variant, started before the
  clock) opens the segment and reads every byte (ndarray.max()), each run
  a fresh mapping; the floor is .max() of the same bytes hot in this
  process's own array.
- plain file, no tshm: the same two with a file of the same directory,
  mapped by hand (ftruncate + posix_fallocate + mmap + MADV_POPULATE_WRITE +
  fill; mmap + MADV_POPULATE_READ + max in another process): what any
  shared memory in that directory costs, so that tshm's own part is the
  difference.
Prints medians and p99 in ms, each median's ratio to its floor, and the page
size each mapping got (/proc/PID/smaps of the floor's array, the created
segment and the reader's mapping). Never a
test: the numbers depend on the machine.
"""

import argparse
import mmap
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python import Daemon, ShmDir, add_shm_dir_args, machine, page_size_of  # noqa: E402

MiB = 1 << 20

READER = r"""
import mmap, os, sys, time
import numpy as np
import tshm
from bench_python import page_size_of
sock, name, runs, pop = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
out = []
if pop == "plain":  # name is a file: mmap + MADV_POPULATE_READ, no tshm
    fd = os.open(name, os.O_RDONLY)
    size = os.fstat(fd).st_size
    for _ in range(runs + 1):
        t0 = time.perf_counter_ns()
        m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        m.madvise(22)  # MADV_POPULATE_READ
        a = np.frombuffer(m, np.float32)
        a.max()
        out.append(time.perf_counter_ns() - t0)
        page = page_size_of(a.ctypes.data)
        del a
        m.close()
else:
    populate = {"off": False, "default": None}[pop]
    c = tshm.connect(sock)
    for _ in range(runs + 1):  # the first is a warm-up
        t0 = time.perf_counter_ns()
        s = c.open(name, populate=populate)
        s.numpy().max()
        out.append(time.perf_counter_ns() - t0)
        page = page_size_of(s.numpy().__array_interface__["data"][0])
        s.close()
print(" ".join(str(x) for x in out[1:]))
print(page)
"""


def plain_create_fill(path, n):
    """What create + fill costs with no tshm: a file in the same directory,
    sized and allocated (ftruncate, posix_fallocate, as tshmd does),
    mapped, populated for writing (MADV_POPULATE_WRITE) and filled."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, n * 4)
        os.posix_fallocate(fd, 0, n * 4)
        m = mmap.mmap(fd, n * 4)
        m.madvise(23)  # MADV_POPULATE_WRITE
        a = np.frombuffer(m, np.float32)
        a.fill(1.0)
        return m, a
    finally:
        os.close(fd)


def stats_ms(ns):
    s = sorted(ns)
    n = len(s)
    return s[n // 2] / 1e6, s[min(n - 1, (n * 99) // 100)] / 1e6


def run_size(tshm, client, sock, shm_dir, mib, runs, pages):
    n = mib * MiB // 4
    rows = {}
    plain = os.path.join(shm_dir, f"tshmbench-plain-{os.getpid()}")
    # Floors first and last would differ on a noisy host: interleave them.
    fill_floor, fill = [], {"off": [], "default": [], "plain": []}
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        a = np.empty(n, dtype=np.float32)
        a.fill(1.0)
        fill_floor.append(time.perf_counter_ns() - t0)
        pages.setdefault("floor (np.empty)", set()).add(page_size_of(a.ctypes.data))
        del a
        for pop, arg in (("off", False), ("default", None)):
            name = f"bench_pop_{mib}_{pop}"
            t0 = time.perf_counter_ns()
            s = client.create(name, n, "float32", populate=arg)
            s.numpy().fill(1.0)
            fill[pop].append(time.perf_counter_ns() - t0)
            pages.setdefault("created segment", set()).add(
                page_size_of(s.numpy().ctypes.data))
            s.close()
            client.unlink(name)
        t0 = time.perf_counter_ns()
        m, a = plain_create_fill(plain, n)
        fill["plain"].append(time.perf_counter_ns() - t0)
        pages.setdefault("plain file", set()).add(page_size_of(a.ctypes.data))
        del a
        m.close()
        os.unlink(plain)
    rows["create + fill"] = (fill_floor, fill)

    hot = np.empty(n, dtype=np.float32)
    hot.fill(1.0)
    hot.max()
    read_floor = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        hot.max()
        read_floor.append(time.perf_counter_ns() - t0)
    del hot
    name = f"bench_pop_{mib}_read"
    s = client.create(name, n, "float32")
    s.numpy().fill(1.0)
    m, a = plain_create_fill(plain, n)
    del a
    m.close()
    read = {}
    for pop in ("off", "default", "plain"):
        out = subprocess.run([sys.executable, "-c", READER, sock,
                              plain if pop == "plain" else name, str(runs), pop],
                             check=True, capture_output=True, text=True,
                             env=dict(os.environ)).stdout.splitlines()
        read[pop] = [int(x) for x in out[0].split()]
        pages.setdefault("reader's mapping", set()).add(out[1])
    s.close()
    client.unlink(name)
    os.unlink(plain)
    rows["open (other process) + read all"] = (read_floor, read)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--sizes", default="64,512")
    add_shm_dir_args(ap)
    ap.add_argument("--markdown")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    moddir = os.path.join(build, "client", "python")
    sys.path.insert(0, moddir)
    os.environ["PYTHONPATH"] = (moddir + os.pathsep + os.path.dirname(os.path.abspath(__file__))
                                + os.pathsep + os.environ.get("PYTHONPATH", ""))
    import tshm

    shm = ShmDir(args.shm_dir, args.huge)
    pages = {}
    lines = [f"Machine: {machine()}", f"Segments in {shm.describe()}; {args.runs} runs each; "
             "times in ms (median / p99); ratio: median over the floor's median, same run.", "",
             "| size | what | floor (in process) | plain file, no tshm | ratio | tshm, populate off "
             "(before) | ratio | tshm, default (after) | ratio |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    try:
        d = Daemon(os.path.join(build, "daemon", "tshmd"), shm_dir=shm.path)
    except BaseException:
        shm.close()
        raise
    try:
        client = tshm.connect(d.socket)
        for mib in (int(x) for x in args.sizes.split(",")):
            for what, (floor, t) in run_size(tshm, client, d.socket, d.shm_dir, mib,
                                             args.runs, pages).items():
                fm, fp = stats_ms(floor)
                cells = []
                for k in ("plain", "off", "default"):
                    km, kp = stats_ms(t[k])
                    cells.append(f"{km:.1f} / {kp:.1f} | {km / fm:.2f}x")
                lines.append(f"| {mib} MiB | {what} | {fm:.1f} / {fp:.1f} | " + " | ".join(cells)
                             + " |")
        client.close()
    finally:
        d.stop()
        shm.close()
    lines += ["", "Page size of each mapping (smaps): " + "; ".join(
        f"{k} {', '.join(sorted(v))}" for k, v in sorted(pages.items())) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
