#!/usr/bin/env python3
"""producer.py - the torch side of a round trip between two processes.

Creates two segments: NAME, a 4x4 float32 array the producer writes through
a torch tensor, and NAME.ctl, two int64 cells [round, ack]. Each round it
fills the array in place, publishes the round number, and waits until the
consumer (consumer.py, another process) acknowledges it by writing the round
into the ack cell through numpy, which the producer reads through torch.
Nothing is copied or sent: both processes map the same pages. (The round and
ack cells are plain stores and loads, enough for a demo on x86-64; a real
protocol would use atomics or a notification channel.)

    producer.py NAME [ROUNDS]       (socket: $TSHM_SOCKET or tshmd's default)

Start consumer.py with the same NAME before or after this; run with
PYTHONPATH pointing at the built module (build/client/python) or install it.
"""

import os
import sys
import time

import torch

import tshm

TIMEOUT_S = 30


def wait_for(pred, what):
    deadline = time.monotonic() + TIMEOUT_S
    while not pred():
        if time.monotonic() > deadline:
            sys.exit(f"producer: timed out waiting for {what}")
        time.sleep(0.001)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: producer.py NAME [ROUNDS]")
    name, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    pid = os.getpid()
    # The control segment first: the consumer opens the data once this exists.
    data = tshm.create(name, (4, 4), "float32", mode=0o644)
    ctl = tshm.create(name + ".ctl", 2, "int64", mode=0o666)
    try:
        t = data.torch()             # a torch.Tensor over the shared pages
        c = ctl.torch()              # [round, ack]
        base = torch.arange(16, dtype=torch.float32).reshape(4, 4) / 100
        for k in range(1, rounds + 1):
            t.copy_(base + k)        # in place: the consumer's ndarray sees it
            c[0] = k                 # publish: round k is in
            row = " ".join(f"{x:.2f}" for x in t[0].tolist())
            print(f"producer (pid {pid}, torch): wrote round {k}, row 0 = {row}", flush=True)
            wait_for(lambda: int(c[1]) == k, f"the ack of round {k}")
            print(f"producer (pid {pid}, torch): consumer acknowledged round {int(c[1])}",
                  flush=True)
        c[0] = -1                    # tell the consumer we are done
        wait_for(lambda: int(c[1]) == -1, "the consumer to finish")
    finally:
        tshm.unlink(name)
        tshm.unlink(name + ".ctl")
    print(f"producer (pid {pid}): {rounds} rounds crossed both ways, zero-copy")


if __name__ == "__main__":
    main()
