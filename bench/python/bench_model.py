#!/usr/bin/env python3
"""bench_model.py - issue 12: publish a model's state (17 float32 tensors,
288 MB) from one process to 4 reader processes, with tshm (one segment per
tensor) and with torch's model.share_memory() + torch.multiprocessing
Queues, alternating in one run.

    bench_model.py [--build DIR] [--runs N] [--readers N] [--shm-dir DIR | --huge]
                   [--markdown FILE]

Starts its own tshmd from DIR (default build/; --shm-dir DIR or --huge as in
bench_populate.py), imports tshm from DIR/client/python, and spawns the
readers (torch.multiprocessing, start method "spawn") before the clock. Each
run starts from a fresh copy of the state in the producer's own memory (an
nn.Module whose parameters are ordinary tensors), made before the clock, and
is timed from "the producer starts publishing" to "every reader has mapped
every tensor, read every byte of it (a 64-bit word sum) and sent the sums
back, and the producer has checked them against the state's":

- tshm: for each tensor Client.from_numpy(name, tensor.numpy()) (create,
  populate, copy), then the list of names through each reader's Queue; a
  reader opens each (read-only; populated at open) and sums it. A second
  row sends each name as soon as its tensor is published, so that the
  readers read while the producer goes on.
- torch: model.share_memory() (moves every parameter into /dev/shm, one copy),
  then model.state_dict() put on each reader's Queue (the file_descriptor
  sharing strategy, torch's default); a reader gets it and sums every tensor.
- floor (in process): clone every tensor of the state once.

The readers keep what they got until the producer's next message, and the
segments, shared storages and clones are dropped between runs, untimed. Each
timed publish comes right after a floor run (which frees a state's worth of
ordinary memory), in an order that rotates every run, so that none profits
from memory the one before it freed. Both ways tell the readers through the
same kind of Queue and answer through one shared Queue. Prints medians and
p99 in ms, and the ratios (BENCH_MODEL_DEBUG=1: each reader also tells on
stderr how long its last message took). Never a test: the numbers depend on
the machine.
"""

import argparse
import gc
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_python import Daemon, ShmDir, add_shm_dir_args, machine, page_size_of  # noqa: E402

D = 1024  # model width
VOCAB = 28000
CTX = 2048
# (name, shape): a one-block transformer's parameters, 7 matrices and 10
# vectors; 72,039,424 float32 = 288,157,696 bytes (274.8 MiB).
SHAPES = [
    ("tok_embed.weight", (VOCAB, D)),
    ("pos_embed.weight", (CTX, D)),
    ("block.ln1.weight", (D,)),
    ("block.ln1.bias", (D,)),
    ("block.attn.qkv.weight", (3 * D, D)),
    ("block.attn.qkv.bias", (3 * D,)),
    ("block.attn.out.weight", (D, D)),
    ("block.attn.out.bias", (D,)),
    ("block.ln2.weight", (D,)),
    ("block.ln2.bias", (D,)),
    ("block.mlp.fc1.weight", (4 * D, D)),
    ("block.mlp.fc1.bias", (4 * D,)),
    ("block.mlp.fc2.weight", (D, 4 * D)),
    ("block.mlp.fc2.bias", (D,)),
    ("ln_f.weight", (D,)),
    ("ln_f.bias", (D,)),
    ("lm_head.weight", (VOCAB, D)),
]


def checksum(arr):
    """A 64-bit sum of every byte of a C-contiguous ndarray, read as
    little-endian 64-bit words (the tail bytes, if any, as one more); reads
    each byte once."""
    b = arr.reshape(-1).view(np.uint8)
    n8 = b.size // 8 * 8
    s = int(np.add.reduce(b[:n8].view(np.uint64))) if n8 else 0
    return (s + int.from_bytes(b[n8:].tobytes(), "little")) % (1 << 64)


def reader(idx, sock, inq, outq):
    """A reader process. Answers ("ready",), then:
    - ("tshm", run, [names]): open every segment and sum it;
    - ("tshm", run, [name], i, n): the same for tensor i of n, answering
      after the last;
    - ("torch", run, state_dict): sum every tensor;
    answering ("done", idx, run, sums). It holds what it got until
    ("release",), answered with the page size its largest tensor was mapped
    with."""
    import torch  # noqa: F401  (the state unpickles into torch tensors)

    import tshm

    client = tshm.connect(sock)
    held, arrays, sums = [], [], []
    outq.put(("ready", idx))
    while True:
        msg = inq.get()
        if msg[0] == "stop":
            break
        if msg[0] == "release":
            big = max(arrays, key=lambda a: a.nbytes).__array_interface__["data"][0]
            page = page_size_of(big)
            arrays = []
            for s in held if isinstance(held, list) else ():
                s.close()
            held = []
            gc.collect()
            outq.put(("released", idx, page))
            continue
        kind, run, payload = msg[:3]
        t0 = time.perf_counter_ns()
        if kind == "tshm":
            if len(msg) == 3 or msg[3] == 0:
                held, arrays, sums = [], [], []
            for name in payload:
                held.append(client.open(name))
                arrays.append(held[-1].numpy())
                sums.append(checksum(arrays[-1]))
            if len(msg) == 5 and msg[3] + 1 < msg[4]:
                continue
        else:
            held = payload
            arrays = [t.numpy() for t in payload.values()]
            sums = [checksum(a) for a in arrays]
        if os.environ.get("BENCH_MODEL_DEBUG"):
            print(f"reader {idx} {kind}: last message handled in "
                  f"{(time.perf_counter_ns() - t0) / 1e6:.1f} ms", file=sys.stderr)
        outq.put(("done", idx, run, sums))
    client.close()


def make_model(torch, base):
    """A fresh nn.Module holding a copy of base (its parameters: ordinary,
    unshared tensors)."""
    m = torch.nn.Module()
    for name, t in base.items():
        m.register_parameter(name.replace(".", "_"),
                             torch.nn.Parameter(t.clone(), requires_grad=False))
    return m


def stats_ms(ns):
    s = sorted(ns)
    n = len(s)
    return s[n // 2] / 1e6, s[min(n - 1, (n * 99) // 100)] / 1e6


class Bench:
    def __init__(self, torch, tshm, mp, sock, nreaders):
        self.torch, self.tshm = torch, tshm
        self.client = tshm.connect(sock)
        gen = torch.Generator().manual_seed(12)
        self.base = {name: torch.rand(shape, generator=gen) for name, shape in SHAPES}
        self.sums = [checksum(t.numpy()) for t in self.base.values()]
        self.inqs = [mp.Queue() for _ in range(nreaders)]
        self.outq = mp.Queue()
        self.procs = [mp.Process(target=reader, args=(i, sock, q, self.outq), daemon=True)
                      for i, q in enumerate(self.inqs)]
        for p in self.procs:
            p.start()
        for _ in self.procs:
            assert self.outq.get(timeout=120)[0] == "ready"
        self.pages = {}

    def _collect(self, run):
        for _ in self.procs:
            tag, idx, r, sums = self.outq.get(timeout=120)
            if tag != "done" or r != run or sums != self.sums:
                raise RuntimeError(f"reader {idx}, run {run}: wrong answer {tag} {r} "
                                   f"(sums {'match' if sums == self.sums else 'DIFFER'})")

    def _release(self, kind):
        for q in self.inqs:
            q.put(("release",))
        for _ in self.procs:
            tag, idx, page = self.outq.get(timeout=120)
            assert tag == "released"
            self.pages.setdefault(f"{kind} readers", set()).add(page)

    def run_tshm(self, run, each):
        """each: send each tensor's name as soon as it is published (the
        readers read it while the producer goes on), else all the names
        once every tensor is published."""
        model = make_model(self.torch, self.base)
        state = [p.detach().numpy() for p in model.parameters()]
        names = [f"m{run}{'e' if each else 'a'}.{i}" for i in range(len(state))]
        gc.collect()
        segs = []
        t0 = time.perf_counter_ns()
        for i, (name, a) in enumerate(zip(names, state)):
            segs.append(self.client.from_numpy(name, a))
            if each:
                for q in self.inqs:
                    q.put(("tshm", run, [name], i, len(names)))
        if not each:
            for q in self.inqs:
                q.put(("tshm", run, names))
        t1 = time.perf_counter_ns()
        self._collect(run)
        t2 = time.perf_counter_ns()
        self.pages.setdefault("tshm producer", set()).add(
            page_size_of(max(segs, key=lambda s: s.nbytes).numpy().__array_interface__["data"][0]))
        self._release("tshm")
        for s, name in zip(segs, names):
            s.close()
            self.client.unlink(name)
        return t1 - t0, t2 - t0

    def run_torch(self, run):
        model = make_model(self.torch, self.base)
        gc.collect()
        t0 = time.perf_counter_ns()
        model.share_memory()
        t1 = time.perf_counter_ns()
        sd = model.state_dict()
        for q in self.inqs:
            q.put(("torch", run, sd))
        self._collect(run)
        t2 = time.perf_counter_ns()
        big = max(sd.values(), key=lambda t: t.numel())
        self.pages.setdefault("torch producer", set()).add(page_size_of(big.data_ptr()))
        del sd, big
        self._release("torch")
        del model
        gc.collect()
        return t1 - t0, t2 - t0

    def run_floor(self):
        state = [t.clone() for t in self.base.values()]
        gc.collect()
        t0 = time.perf_counter_ns()
        copies = [t.clone() for t in state]
        t1 = time.perf_counter_ns()
        big = max(copies, key=lambda t: t.numel())
        self.pages.setdefault("floor (clone)", set()).add(page_size_of(big.data_ptr()))
        del copies, big, state
        return t1 - t0

    def stop(self):
        for q in self.inqs:
            q.put(("stop",))
        for p in self.procs:
            p.join(timeout=30)
        self.client.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--readers", type=int, default=4)
    add_shm_dir_args(ap)
    ap.add_argument("--markdown")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    moddir = os.path.join(build, "client", "python")
    sys.path.insert(0, moddir)
    os.environ["PYTHONPATH"] = moddir + os.pathsep + os.environ.get("PYTHONPATH", "")
    import torch
    import torch.multiprocessing as tmp

    import tshm

    mp = tmp.get_context("spawn")
    nbytes = sum(int(np.prod(s)) * 4 for _, s in SHAPES)
    shm = ShmDir(args.shm_dir, args.huge)
    try:
        d = Daemon(os.path.join(build, "daemon", "tshmd"), shm_dir=shm.path)
        try:
            b = Bench(torch, tshm, mp, d.socket, args.readers)
            kinds = {"tshm": lambda r: b.run_tshm(r, False),
                     "tshm each": lambda r: b.run_tshm(r, True), "torch": b.run_torch}
            t = {k: [] for k in ["floor"] + [x + y for x in kinds for y in ("", " pub")]}
            try:
                for run in range(args.runs + 1):  # run 0 is a warm-up, not counted
                    # Each kind right after the floor, which frees a
                    # state's worth of ordinary memory: what a kind costs
                    # depends on the memory the one before it freed (huge
                    # pages just freed are quick to get again).
                    order = list(kinds)[run % 3:] + list(kinds)[:run % 3]
                    for kind in order:
                        floor = b.run_floor()
                        pub, total = kinds[kind](run)
                        if run:
                            t["floor"].append(floor)
                            t[kind].append(total)
                            t[f"{kind} pub"].append(pub)
            finally:
                b.stop()
            pages = b.pages
        finally:
            d.stop()
        where = shm.describe()
    finally:
        shm.close()

    m = {k: stats_ms(v) for k, v in t.items()}
    fl = m["floor"][0]
    lines = [
        f"Machine: {machine()}",
        f"State: {len(SHAPES)} float32 tensors, {nbytes:,} bytes; {args.readers} readers; "
        f"tshm segments in {where}; {args.runs} runs (+1 warm-up), each kind "
        "after a floor run, in an order rotating every run; times in ms, median / p99.", "",
        "| what | publish (producer) | all readers ready | ratio to floor | ratio to tshm |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| floor: clone the state in process | | {fl:.1f} / {m['floor'][1]:.1f} | 1.00x | |",
    ]
    for kind, label in (("tshm", "tshm: `from_numpy()` per tensor, then the names through "
                                 "a Queue"),
                        ("tshm each", "tshm: `from_numpy()` per tensor, each name through a "
                                      "Queue at once"),
                        ("torch", "torch: `model.share_memory()`, `state_dict()` through a "
                                  "Queue")):
        pm, pp = m[f"{kind} pub"]
        am, ap_ = m[kind]
        lines.append(f"| {label} | {pm:.1f} / {pp:.1f} | {am:.1f} / {ap_:.1f} | {am / fl:.2f}x | "
                     f"{am / m['tshm'][0]:.2f}x |")
    lines += ["", "Page size of the largest tensor's mapping: " + "; ".join(
        f"{k} {', '.join(sorted(v))}" for k, v in sorted(pages.items())) + ".",
        f"torch / tshm, all ready (median): {m['torch'][0] / m['tshm'][0]:.2f}x with the names "
        f"sent at the end, {m['torch'][0] / m['tshm each'][0]:.2f}x with each sent at once "
        "(target: at least 3x)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
