#!/usr/bin/env python3
"""bench_weights.py - issue 14: one model's weights to 4 inference workers,
with tshm groups and the three ways a PyTorch user has today, in one run.

    bench_weights.py [--build DIR] [--size MB] [--runs N] [--quick]
                     [--markdown FILE] [--json FILE]

Starts its own tshmd from DIR (default build/; use a Release build) with its
segments in /dev/shm, imports tshm from DIR/client/python, and starts 4
worker processes with the "spawn" method (torch.multiprocessing) before any
clock; each has imported torch and tshm and answered. Every process runs
torch.set_num_threads(1) and fixes glibc's mmap threshold at 1 MiB
(mallopt), so that a freed tensor goes back to the kernel and one run's
memory is not the next one's.

The model (fixed seed): an embedding (2W x W) and 16 square layers (W x W,
no bias), 17 float32 tensors; W = 2048 by default (--size 300: 301,989,888
bytes, 4.2M parameters a layer). Inference: 8 tokens through the embedding
and the 16 layers (tanh after each), which reads every layer's every byte.

Each run starts with the loader's model in its own ordinary memory (a fresh
clone of the base state, made before the clock). It is timed from "the
loader starts sharing it" to "every worker has its weights in its own
module (built on the meta device: no memory behind it) and has run one
forward pass", which it reports on a shared Queue; the loader checks every
output against its own. Then, while every worker holds its weights, the
loader reads /proc/PID/smaps_rollup of all 6 processes (loader, 4 workers,
tshmd) and the size of every shared-memory object any of them maps or holds
open (plus the run's named files): memory = the sum of (Pss - Pss_Shmem)
plus the shared-memory objects' allocated bytes (each counted once, whether
mapped or not), less the same taken before the run's model was made.
Memory / model size is 1.00 for one copy of the weights.

Ways (in an order rotating every run, after a warm-up run of each):
- tshm: tshm.save_state_dict(name, state, ephemeral=True) (one group, one
  copy), the name through each worker's Queue; a worker does
  tshm.load_state_dict(name) + tshm.torch.assign_state_dict(module, ...);
  the loader, once the names are sent, swaps its own parameters for the
  Group's views (group.torch(key)) the same way, so that its private copy
  is freed (as share_memory() does).
- share_memory: model.share_memory(), then model.state_dict() put on each
  worker's torch.multiprocessing Queue (spawn context, torch's default
  file_descriptor strategy); the worker puts the tensors it gets into its
  module as Parameters (no copy).
- torch.load: torch.save(state_dict, file in /dev/shm), the path through
  the Queues; each worker torch.load()s it (a private copy each) and puts
  the tensors into its module. The loader keeps its model, and the file
  stays until the run ends: both count.
- memmap: the loader writes every tensor's raw bytes into one file in
  /dev/shm (each at a 64-byte boundary), sends (path, index); a worker does
  np.memmap(path, mode="c") and torch.from_numpy() of each slice (one
  shared copy, copy-on-write); the loader swaps its own parameters for the
  same views once the index is sent.
Floors, once per run in the same process: memcpy (Tensor.copy_() of every
tensor into preallocated, already-touched tensors) and shm copy (open a
new file in /dev/shm, ftruncate, mmap with MAP_POPULATE, copy every tensor
in: one shared copy made with raw system calls, its pages allocated).

Reported: medians of the runs and p99 (with 5 runs, p99 is the max), ratios
to both floors and to the tshm row. --quick: an 8 MB model, 1 run, no
warm-up (a smoke run: its numbers mean little). Never a test: the numbers
depend on the machine.
"""

import argparse
import ctypes
import datetime
import gc
import json
import math
import mmap
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python import Daemon, machine, median, pct, smaps_rollup  # noqa: E402

WORKERS = 4
LAYERS = 16
TOKENS = [3, 1, 4, 1, 5, 9, 2, 6]
ALIGN = 64
SHM_DIR = "/dev/shm"
now = time.perf_counter_ns  # CLOCK_MONOTONIC: comparable across processes
T0 = time.monotonic()
WAYS = ["tshm", "share_memory", "torch.load", "memmap"]
LABELS = {
    "tshm": "tshm: `save_state_dict()`; workers `load_state_dict()` + `assign_state_dict()`",
    "share_memory": "torch: `model.share_memory()`, `state_dict()` through a Queue (spawn, "
                    "file_descriptor)",
    "torch.load": "torch: `torch.save()` to /dev/shm, `torch.load()` in each worker",
    "memmap": "numpy: raw file in /dev/shm, `np.memmap(mode=\"c\")` + `torch.from_numpy()`",
}
ONE_COPY = {"tshm", "share_memory", "memmap"}  # the ways meant to keep one copy


def process_setup():
    """In every process: one thread for torch, a fixed mmap threshold."""
    import torch

    torch.set_num_threads(1)
    M_MMAP_THRESHOLD = -3
    ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 << 20)
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


def width_for(size_mb):
    """The width W (a multiple of 64) whose model is closest to size_mb MB:
    16 W^2 + 2 W^2 float32."""
    return max(64, int(round(math.sqrt(size_mb * 1e6 / (18 * 4)) / 64)) * 64)


def make_net(torch, width, device=None):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(2 * width, width, device=device)
            self.layers = nn.ModuleList(nn.Linear(width, width, bias=False, device=device)
                                        for _ in range(LAYERS))

        def forward(self, tokens):
            x = self.embed(tokens)
            for layer in self.layers:
                x = torch.tanh(layer(x))
            return x

    return Net()


def forward(torch, net):
    with torch.no_grad():
        return net(torch.tensor(TOKENS)).numpy().copy()


def plain_assign(torch, module, state):
    """Put state's tensors into module as its parameters, no copy (what the
    non-tshm ways use; tshm's own is tshm.torch.assign_state_dict)."""
    for key, t in state.items():
        owner, _, leaf = key.rpartition(".")
        mod = module.get_submodule(owner) if owner else module
        mod._parameters[leaf] = torch.nn.Parameter(t, requires_grad=False)


def raw_index(state):
    """[(key, offset, shape)] of the raw file: each tensor at the next
    ALIGN boundary; and the file's size."""
    index, off = [], 0
    for key, t in state.items():
        index.append((key, off, tuple(t.shape)))
        off = (off + t.numel() * 4 + ALIGN - 1) // ALIGN * ALIGN
    return index, off


def write_raw(path, state):
    """Write state's tensors into a new file at path as raw_index() places
    them; returns the index. (A function: no loop variable outlives it to
    keep a tensor of the loader's private copy alive.)"""
    index, size = raw_index(state)
    with open(path, "wb") as f:
        f.truncate(size)
        for (_, off, _), t in zip(index, state.values()):
            f.seek(off)
            f.write(memoryview(t.numpy()).cast("B"))
    return index


def memmap_state(torch, path, index):
    mm = np.memmap(path, dtype=np.uint8, mode="c")
    return {key: torch.from_numpy(mm[off:off + 4 * int(np.prod(shape))].view(np.float32)
                                  .reshape(shape)) for key, off, shape in index}


def worker(idx, sock, width, inq, outq):
    """A worker: ("go", way, run, payload) -> build its module on the meta
    device, attach the weights, one forward pass, ("ready", idx, run,
    output); hold everything until ("release",) -> ("released", idx)."""
    process_setup()
    import torch

    import tshm
    import tshm.torch

    client = tshm.connect(sock)
    outq.put(("up", idx, os.getpid()))
    net = state = msg = None
    while True:
        msg = inq.get()
        if msg[0] == "stop":
            break
        if msg[0] == "release":
            net = state = msg = payload = None
            gc.collect()
            outq.put(("released", idx))
            continue
        _, way, run, payload = msg
        t_got = now()
        net = make_net(torch, width, device="meta")
        if way == "tshm":
            state = tshm.load_state_dict(payload, client=client)
            tshm.torch.assign_state_dict(net, state)
        else:
            if way == "share_memory":
                state = payload
            elif way == "torch.load":
                state = torch.load(payload)
            else:
                state = memmap_state(torch, *payload)
            plain_assign(torch, net, state)
        t_att = now()
        out = forward(torch, net)
        outq.put(("ready", idx, run, out, (t_got, t_att, now())))
    client.close()


def is_shm(path):
    return path.startswith(SHM_DIR + "/") or path.startswith("/memfd:") or path.startswith("/SYSV")


def shm_bytes(pids, paths):
    """Allocated bytes of every shared-memory object that one of pids maps
    or holds open, or that is one of paths; each object once."""
    objs = {}

    def add(st):
        objs[(st.st_dev, st.st_ino)] = st.st_blocks * 512

    for pid in pids:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and is_shm(parts[5].strip()):
                    try:
                        add(os.stat(f"/proc/{pid}/map_files/{parts[0]}"))
                    except OSError:
                        pass
        fds = f"/proc/{pid}/fd"
        for fd in os.listdir(fds):
            try:
                if is_shm(os.readlink(f"{fds}/{fd}")):
                    add(os.stat(f"{fds}/{fd}"))
            except OSError:
                pass
    for p in paths:
        try:
            add(os.stat(p))
        except OSError:
            pass
    return sum(objs.values())


class Bench:
    def __init__(self, torch, tshm, mp, daemon, width):
        self.torch, self.tshm, self.daemon, self.width = torch, tshm, daemon, width
        self.client = tshm.connect(daemon.socket)
        gen = torch.Generator().manual_seed(14)
        net = make_net(torch, width, device="meta")
        self.base = {k: torch.randn(p.shape, generator=gen) / math.sqrt(width)
                     for k, p in net.state_dict().items()}
        self.nbytes = sum(t.numel() * 4 for t in self.base.values())
        ref = make_net(torch, width, device="meta")
        plain_assign(torch, ref, self.base)
        self.expect = forward(torch, ref)
        del ref
        # The memcpy floor's destination, touched once.
        self.floor_dst = {k: torch.empty_like(t).copy_(t) for k, t in self.base.items()}
        self.inqs = [mp.Queue() for _ in range(WORKERS)]
        self.outq = mp.Queue()
        self.procs = [mp.Process(target=worker, args=(i, daemon.socket, width, q, self.outq),
                                 daemon=True) for i, q in enumerate(self.inqs)]
        for p in self.procs:
            p.start()
        self.pids = [None] * WORKERS
        for _ in self.procs:
            tag, idx, pid = self.outq.get(timeout=300)
            self.pids[idx] = pid
        self.exact = True

    def memory(self, paths=()):
        pids = [os.getpid(), self.daemon.proc.pid] + self.pids
        rolls = [smaps_rollup(p) for p in pids]
        private = [r["Pss"] - r.get("Pss_Shmem", 0) for r in rolls]
        return np.array([sum(private) + shm_bytes(pids, paths), sum(private[2:]),
                         sum(r["Rss"] for r in rolls)])

    def make_model(self):
        net = make_net(self.torch, self.width, device="meta")
        plain_assign(self.torch, net, {k: t.clone() for k, t in self.base.items()})
        return net

    def send(self, way, run, payload):
        for q in self.inqs:
            q.put(("go", way, run, payload))

    def collect(self, way, run, t0):
        """Wait for every worker's output; returns each one's (message
        received, attached, forward done) in ns since t0."""
        steps = []
        for _ in self.procs:
            tag, idx, r, out, ts = self.outq.get(timeout=300)
            steps.append((ts[0] - t0, ts[1] - ts[0], ts[2] - ts[1]))
            if tag != "ready" or r != run or not np.allclose(out, self.expect, rtol=1e-5,
                                                             atol=1e-6):
                raise RuntimeError(f"{way}: worker {idx}, run {run}: {tag} {r}, output differs")
            self.exact &= bool(np.array_equal(out, self.expect))
        return steps

    def release(self):
        for q in self.inqs:
            q.put(("release",))
        for _ in self.procs:
            assert self.outq.get(timeout=300)[0] == "released"

    def run(self, way, run):
        """One run of a way: (publish ns, all ready ns, memory at ready less
        before, each worker's steps as collect() gives them)."""
        torch, tshm = self.torch, self.tshm
        path = os.path.join(SHM_DIR, f"bench_weights.{os.getpid()}.{run}")
        name = f"w{run}.{way}"
        gc.collect()
        base = self.memory()
        model = self.make_model()
        group = None
        gc.collect()
        t0 = now()
        if way == "tshm":
            sd = model.state_dict()
            group = tshm.save_state_dict(name, sd, client=self.client, ephemeral=True)
            t1 = now()
            self.send(way, run, name)
            del sd
            # The Group's own (writable) views: no second mapping.
            tshm.torch.assign_state_dict(model, {k: group.torch(k) for k in group.keys()})
        elif way == "share_memory":
            model.share_memory()
            t1 = now()
            sd = model.state_dict()
            self.send(way, run, sd)
            del sd
        elif way == "torch.load":
            torch.save(model.state_dict(), path)
            t1 = now()
            self.send(way, run, path)
        else:
            sd = model.state_dict()
            index = write_raw(path, sd)
            t1 = now()
            self.send(way, run, (path, index))
            del sd
            plain_assign(torch, model, memmap_state(torch, path, index))
        steps = self.collect(way, run, t0)
        t2 = now()
        mem = self.memory([path]) - base
        self.release()
        del model
        if group is not None:  # ephemeral: removed at the latest when self.client goes
            group.close()
            self.client.unlink(name)
        if os.path.exists(path):
            os.unlink(path)
        gc.collect()
        return t1 - t0, t2 - t0, mem, steps

    def floor_memcpy(self):
        t0 = now()
        for k, t in self.base.items():
            self.floor_dst[k].copy_(t)
        return now() - t0

    def floor_shm(self):
        torch = self.torch
        path = os.path.join(SHM_DIR, f"bench_weights.{os.getpid()}.floor")
        index, size = raw_index(self.base)
        t0 = now()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.ftruncate(fd, size)
        m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        buf = np.frombuffer(m, dtype=np.uint8)
        for (_, off, shape), t in zip(index, self.base.values()):
            torch.from_numpy(buf[off:off + t.numel() * 4].view(np.float32)).copy_(t.view(-1))
        t1 = now()
        del buf
        m.close()
        os.close(fd)
        os.unlink(path)
        return t1 - t0

    def stop(self):
        for q in self.inqs:
            q.put(("stop",))
        for p in self.procs:
            p.join(timeout=30)
        self.client.close()


def report(r, args, width, nbytes, exact):
    runs = len(r["floor_memcpy"])
    fm, fs = median(r["floor_memcpy"]), median(r["floor_shm"])
    ways = list(r["ready"])
    tt = median(r["ready"]["tshm"]) if "tshm" in ways else None
    p99 = "p99 (the max of the runs)" if runs <= 100 else "p99"
    lines = [
        f"Model: an embedding ({2 * width}x{width}) and {LAYERS} layers ({width}x{width}), "
        f"{LAYERS + 1} float32 tensors, {nbytes:,} bytes ({nbytes / 2**20:.1f} MiB); "
        f"{WORKERS} workers; {runs} runs (+{args.warmup} warm-up), the ways in an order "
        f"rotating every run; times in ms, median / {p99}. Ready: every worker has its weights "
        "and has run one forward pass. Memory: the processes' Pss less Pss_Shmem, plus every "
        "shared-memory object once, at ready, less before the model was made (median).", "",
        "| way | share (loader) | all workers ready | vs memcpy | vs shm copy | vs tshm | "
        "a worker: got / attached / forward | memory (MB) | memory / model | "
        "in workers / model | Rss (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| floor: memcpy (`copy_()` into touched tensors) | | {fm / 1e6:.1f} / "
        f"{pct(r['floor_memcpy'], 99) / 1e6:.1f} | 1.00x | {fm / fs:.2f}x | | | | | | |",
        f"| floor: shm copy (open, ftruncate, mmap populated, copy; /dev/shm) | | {fs / 1e6:.1f} / "
        f"{pct(r['floor_shm'], 99) / 1e6:.1f} | {fs / fm:.2f}x | 1.00x | | | | | | |",
    ]
    summary = {}
    for way in ways:
        pub, ready = r["pub"][way], r["ready"][way]
        mem = np.median(np.array(r["mem"][way]), axis=0)
        m = median(ready)
        summary[way] = {"ready_ms": m / 1e6, "ready_p99_ms": pct(ready, 99) / 1e6,
                        "share_ms": median(pub) / 1e6, "vs_memcpy": m / fm, "vs_shm": m / fs,
                        "vs_tshm": m / tt if tt else None, "memory_ratio": mem[0] / nbytes,
                        "workers_ratio": mem[1] / nbytes, "memory_bytes": int(mem[0])}
        lines.append(f"| {LABELS[way]} | {median(pub) / 1e6:.1f} / {pct(pub, 99) / 1e6:.1f} | "
                     f"{m / 1e6:.1f} / {pct(ready, 99) / 1e6:.1f} | {m / fm:.2f}x | "
                     f"{m / fs:.2f}x | {f'{m / tt:.2f}x' if tt else ''} | "
                     + " / ".join(f"{median([st[i] for st in r['steps'][way]]) / 1e6:.0f}"
                                  for i in range(3))
                     + f" | {mem[0] / 1e6:.0f} | "
                     f"{mem[0] / nbytes:.2f} | {mem[1] / nbytes:.2f} | {mem[2] / 1e6:.0f} |")
    lines += ["", f"Workers' outputs: {'bit for bit' if exact else 'within 1e-5 of'} the "
              "loader's. A worker's steps (ms, median over the workers and runs): its "
              "message received (since the loader started sharing), then its weights in its "
              "module, then its forward pass done. Rss (summed over the processes) counts a "
              "shared page once per process that maps it.", ""]
    if tt is None:
        return lines, summary
    t = summary["tshm"]
    others = [w for w in ways if w in ONE_COPY and w != "tshm"]
    faster = all(summary[w]["ready_ms"] > t["ready_ms"] for w in others)
    lines += [
              f"- memory: tshm {t['memory_ratio']:.2f}x the model; target <= 1.05x: "
              f"{'met' if t['memory_ratio'] <= 1.05 else 'MISSED'}.",
              f"- all ready: tshm {t['ready_ms']:.0f} ms, "
              + ", ".join(f"{w} {summary[w]['ready_ms'] / t['ready_ms']:.2f}x tshm's"
                          for w in others)
              + f"; target faster than every other way that keeps one copy: "
              f"{'met' if faster else 'MISSED'}."]
    return lines, summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--size", type=float, default=300, help="model size in MB (default 300)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="8 MB, 1 run, no warm-up")
    ap.add_argument("--ways", default=",".join(WAYS),
                    help="which ways, comma separated (default: all)")
    ap.add_argument("--markdown", help="also write the table to this file")
    ap.add_argument("--json", help="also write the samples and the summary to this file")
    args = ap.parse_args()
    if args.quick:
        args.size, args.runs = 8, 1
    ways = [w for w in WAYS if w in args.ways.split(",")]
    args.warmup = 0 if args.quick else 1
    build = os.path.abspath(args.build)
    moddir = os.path.join(build, "client", "python")
    sys.path.insert(0, moddir)
    os.environ["PYTHONPATH"] = moddir + os.pathsep + os.environ.get("PYTHONPATH", "")
    process_setup()
    import torch
    import torch.multiprocessing as tmp

    import tshm
    import tshm.torch

    width = width_for(args.size)
    head = (f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC on {machine()}; build "
            f"`{os.path.basename(build)}`; {'--quick' if args.quick else 'full run'}; tshm "
            "segments and files in /dev/shm; workers started with spawn before the clock; "
            "torch.set_num_threads(1) in each process.")
    print(head, flush=True)
    r = {"floor_memcpy": [], "floor_shm": [], "pub": {w: [] for w in ways},
         "ready": {w: [] for w in ways}, "mem": {w: [] for w in ways},
         "steps": {w: [] for w in ways}}
    d = Daemon(os.path.join(build, "daemon", "tshmd"))
    try:
        b = Bench(torch, tshm, tmp.get_context("spawn"), d, width)
        print(f"setup done at {time.monotonic() - T0:.0f} s", file=sys.stderr, flush=True)
        try:
            for run in range(args.runs + args.warmup):  # the first ones are warm-ups
                k = run % len(ways)
                fm, fs = b.floor_memcpy(), b.floor_shm()
                got = {w: b.run(w, run) for w in ways[k:] + ways[:k]}
                if run >= args.warmup:
                    r["floor_memcpy"].append(fm)
                    r["floor_shm"].append(fs)
                    for w, (pub, ready, mem, steps) in got.items():
                        r["steps"][w] += steps
                        r["pub"][w].append(pub)
                        r["ready"][w].append(ready)
                        r["mem"][w].append(mem.tolist())
                print(f"run {run}: done at {time.monotonic() - T0:.0f} s", file=sys.stderr,
                      flush=True)
        finally:
            b.stop()
        nbytes, exact = b.nbytes, b.exact
    finally:
        d.stop()
    lines, summary = report(r, args, width, nbytes, exact)
    lines += ["", f"Whole run: {time.monotonic() - T0:.0f} s."]
    text = "\n".join([head, ""] + lines) + "\n"
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"head": head, "nbytes": nbytes, "width": width, "workers": WORKERS,
                       "samples": r, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
