#!/usr/bin/env python3
"""One copy of a model's weights, shared by every inference process.

    python3 examples/share_weights.py [--layers 8] [--width 512] [--workers 4]
                                      [--name NAME]

Needs a running tshmd (TSHM_SOCKET, or the default socket) and PYTHONPATH
pointing at the built package (build/client/python) or tshm installed.

This process (the loader) builds a small transformer-ish model with a fixed
seed, computes a reference output, and publishes the model's state_dict as
one tshm group with tshm.save_state_dict(); then it swaps its own parameters
for the group's tensors, so that its private copy is freed. Each worker
(started with "spawn": it shares nothing with the loader but the name) builds
the same architecture on the "meta" device (no memory for the weights at
all), attaches the group with tshm.load_state_dict() (zero-copy, read-only,
copy-on-write tensors) and puts those tensors into its module with
tshm.torch.assign_state_dict() (no copy), runs the same input, and sends its
output back. Every process then reports its memory from
/proc/self/smaps_rollup while all are alive: RSS counts a shared page once
per process that maps it, PSS divides it among them, and "shm" is the part
of the PSS that is shared memory (the weights). However many workers, the
weights are in memory once.

The group is ephemeral: tshmd removes it when the loader's connection ends
(when it exits, even if it is killed); the workers' mappings stay valid
until they let go. Exits 0 only if every worker's output is bit for bit the
loader's.
"""

import argparse
import hashlib
import multiprocessing as mp
import os
import sys

import torch
import torch.nn as nn

import tshm
import tshm.torch

SEED = 14
TOKENS = [3, 1, 4, 1, 5, 9, 2, 6]  # the input every process runs


class Block(nn.Module):
    """Pre-norm MLP block: x + fc2(gelu(fc1(norm(x))))."""

    def __init__(self, width, device):
        super().__init__()
        self.norm = nn.LayerNorm(width, device=device)
        self.fc1 = nn.Linear(width, 4 * width, device=device)
        self.fc2 = nn.Linear(4 * width, width, device=device)

    def forward(self, x):
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm(x))))


class Model(nn.Module):
    """Token embedding, `layers` blocks, a final norm and an output head.
    device="meta" builds the structure with no memory behind the weights."""

    def __init__(self, layers, width, vocab=1000, device=None):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, device=device)
        self.blocks = nn.ModuleList(Block(width, device) for _ in range(layers))
        self.norm = nn.LayerNorm(width, device=device)
        self.head = nn.Linear(width, vocab, bias=False, device=device)

    def forward(self, tokens):
        x = self.embed(tokens)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))


def infer(model):
    """The output for TOKENS and its checksum (SHA-256 of its bytes)."""
    with torch.no_grad():
        out = model(torch.tensor(TOKENS)).contiguous()
    return hashlib.sha256(out.numpy().tobytes()).hexdigest()[:16]


def memory():
    """(RSS, PSS, PSS of shared memory) of this process in bytes."""
    got = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                got[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return got["Rss"], got["Pss"], got.get("Pss_Shmem", 0)


def mib(n):
    return f"{n / 2**20:7.1f} MiB"


def worker(idx, args, results, attached, measured):
    torch.set_num_threads(1)  # 4 workers side by side: one thread each
    model = Model(args.layers, args.width, device="meta")
    weights = tshm.load_state_dict(args.name)
    missing, unexpected = tshm.torch.assign_state_dict(model, weights)
    # No copy: every parameter is the group's memory itself.
    shared = all(t.data_ptr() == weights[k].data_ptr() for k, t in model.state_dict().items())
    checksum = infer(model)
    attached.wait()  # every process has its weights: now the PSS means something
    results.put((idx, checksum, shared, list(missing) + list(unexpected), memory()))
    measured.wait()  # hold the weights until every process has measured


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--name", default=f"share_weights.{os.getpid()}")
    args = ap.parse_args()

    torch.manual_seed(SEED)
    model = Model(args.layers, args.width).eval()
    reference = infer(model)
    state = model.state_dict()
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    group = tshm.save_state_dict(args.name, state, ephemeral=True)
    try:
        # The loader uses the shared copy too; its private tensors go.
        del state
        tshm.torch.assign_state_dict(model, tshm.load_state_dict(args.name))
        assert infer(model) == reference
        print(f"loader: model of {len(model.state_dict())} tensors, {nbytes:,} bytes "
              f"({mib(nbytes).strip()}), published as group '{args.name}'; "
              f"reference output {reference}")

        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        attached = ctx.Barrier(args.workers + 1)
        measured = ctx.Barrier(args.workers + 1)
        procs = [ctx.Process(target=worker, args=(i, args, results, attached, measured))
                 for i in range(args.workers)]
        for p in procs:
            p.start()
        attached.wait(timeout=300)
        mine = memory()
        got = sorted(results.get(timeout=300) for _ in procs)
        measured.wait(timeout=300)
        for p in procs:
            p.join(timeout=60)
    finally:
        group.close()

    ok = True
    for idx, checksum, shared, leftovers, (rss, pss, shm) in got:
        same = checksum == reference and shared and not leftovers
        ok &= same
        print(f"worker {idx}: output {checksum} ({'matches' if same else 'DIFFERS'}"
              f"{'' if shared else ', weights copied'}), rss {mib(rss)}, pss {mib(pss)}, "
              f"shm {mib(shm)}")
    rss, pss, shm = mine
    print(f"loader:   rss {mib(rss)}, pss {mib(pss)}, shm {mib(shm)}")
    workers_pss = sum(r[4][1] for r in got)
    all_shm = shm + sum(r[4][2] for r in got)
    print(f"workers' PSS together: {mib(workers_pss).strip()}; shared memory in the PSS of "
          f"all {len(got) + 1} processes: {mib(all_shm).strip()} (the model: "
          f"{mib(nbytes).strip()})")
    ok &= len(got) == args.workers and all(p.exitcode == 0 for p in procs)
    print(f"{len(got)} workers: {'every output matches the loader' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
