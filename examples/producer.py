#!/usr/bin/env python3
"""producer.py - the torch side of a round trip between two processes.

Uses two segments: NAME, a 4x4 float32 array this process writes through a
torch tensor, and NAME.ctl, one int64 cell the consumer (consumer.py, another
process) writes its acknowledgements into through numpy. Each round it fills
the array in place inside `with data.write():`, which publishes a new version
and wakes the consumer, then sleeps in ack.wait() until the consumer has
acknowledged it. The array is never sent: both processes map the same pages.
At the end it unlinks both segments, which ends the consumer's wait.

    producer.py NAME [ROUNDS]       (socket: $TSHM_SOCKET or tshmd's default)

Start consumer.py with the same NAME before or after this; run with
PYTHONPATH pointing at the built module (build/client/python) or install it.
"""

import os
import sys

import torch

import tshm

TIMEOUT_S = 30


def ensure(name, shape, dtype):
    """Create NAME unless the other process did already: either may start first."""
    try:
        tshm.create(name, shape, dtype).close()
    except tshm.ExistsError:
        pass


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: producer.py NAME [ROUNDS]")
    name, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    pid = os.getpid()
    ensure(name, (4, 4), "float32")
    ensure(name + ".ctl", 1, "int64")
    data = tshm.open(name, writable=True)
    ack = tshm.open(name + ".ctl")   # read-only here: the consumer writes it
    try:
        t = data.torch()             # a torch.Tensor over the shared pages
        base = torch.arange(16, dtype=torch.float32).reshape(4, 4) / 100
        acked = ack.seq              # the last version of NAME.ctl seen
        for k in range(1, rounds + 1):
            with data.write():       # on exit: publish version 2k, wake the consumer
                t.copy_(base + k)    # in place: no reader sees it half-written
            row = " ".join(f"{x:.2f}" for x in t[0].tolist())
            print(f"producer (pid {pid}, torch): wrote round {k}, row 0 = {row}", flush=True)
            acked = ack.wait(acked, timeout=TIMEOUT_S)   # sleeps until the consumer writes
            print(f"producer (pid {pid}, torch): consumer acknowledged round "
                  f"{int(ack.snapshot()[0])}", flush=True)
    finally:
        tshm.unlink(name)            # the consumer's data.wait() raises NotFoundError
        tshm.unlink(name + ".ctl")
    print(f"producer (pid {pid}): {rounds} rounds crossed both ways, zero-copy")


if __name__ == "__main__":
    main()
