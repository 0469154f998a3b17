#!/usr/bin/env python3
"""A DataLoader whose workers hand batches to the training loop zero-copy,
next to the plain DataLoader.

    python3 examples/dataloader.py [BATCHES] [--batch 64x128]

Needs a running tshmd (TSHM_SOCKET, or the default socket) and PYTHONPATH
pointing at the built package (build/client/python) or tshm installed.

The two loaders differ by one name: torch.utils.data.DataLoader, and
tshm.torch.DataLoader, which takes the same arguments. With the plain one,
each worker stacks a batch into new torch shared memory and the training
process maps it again; with tshm's, each worker stacks it into one of a few
tshm segments it reuses, and the training process gets a view of it.
"""

import argparse
import time

import torch
import torch.utils.data

import tshm.torch


class Samples(torch.utils.data.Dataset):
    """Sample i: a tensor full of i (the shape of one row of a batch), and label i."""

    def __init__(self, n, shape):
        self.n, self.shape = n, shape

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full(self.shape, float(i % 1000)), i


def run(loader_cls, args):
    shape = tuple(int(d) for d in args.batch.split("x"))
    ds = Samples(args.batches * shape[0], shape[1:])
    loader = loader_cls(ds, batch_size=shape[0], num_workers=2, persistent_workers=True)
    for _ in loader:  # warm up: start the workers once
        break
    t0 = time.perf_counter()
    total = 0.0
    n = 0
    for x, y in loader:
        total += float(x[:, ..., 0].sum())  # the training step would go here
        assert float(x.reshape(shape[0], -1)[0, 0]) == float(y[0] % 1000)
        n += 1
    dt = time.perf_counter() - t0
    return n / dt, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("batches", nargs="?", type=int, default=200)
    ap.add_argument("--batch", default="64x128", help="a batch's shape, e.g. 32x3x224x224")
    args = ap.parse_args()
    plain, t1 = run(torch.utils.data.DataLoader, args)
    shared, t2 = run(tshm.torch.DataLoader, args)
    assert t1 == t2, "both loaders delivered the same batches"
    print(f"torch.utils.data.DataLoader: {plain:8.1f} batches/s")
    print(f"tshm.torch.DataLoader:       {shared:8.1f} batches/s  ({shared / plain:.2f}x)")


if __name__ == "__main__":
    main()
