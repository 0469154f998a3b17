#!/usr/bin/env python3
"""consumer.py - the numpy side of a round trip between two processes.

Opens NAME (made by producer.py) read-only as a numpy array, and NAME.ctl
read-write. Each time the producer publishes a round, it checks the array
(written through torch in the other process), prints it, and acknowledges
the round by writing it into the ack cell through numpy; the producer sees
that through its torch tensor. Exits when the producer says it is done.

    consumer.py NAME                (socket: $TSHM_SOCKET or tshmd's default)
"""

import os
import sys
import time

import numpy as np

import tshm

TIMEOUT_S = 30


def open_when_there(name, writable):
    """The producer may not have created it yet: retry for a while."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            return tshm.open(name, writable=writable)
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: consumer.py NAME")
    name, pid = sys.argv[1], os.getpid()
    ctl = open_when_there(name + ".ctl", writable=True).numpy()   # [round, ack]
    data = open_when_there(name, writable=False)
    a = data.numpy()                 # read-only: a.flags.writeable is False
    assert not a.flags.writeable
    base = np.arange(16, dtype=np.float32).reshape(4, 4) / 100
    seen, deadline = 0, time.monotonic() + TIMEOUT_S
    while True:
        k = int(ctl[0])
        if k == -1:
            ctl[1] = -1              # done: let the producer clean up
            break
        if k != seen and k > 0:
            if not np.array_equal(a, base + k):
                sys.exit(f"consumer: round {k} reads {a.tolist()}")
            row = " ".join(f"{x:.2f}" for x in a[0].tolist())
            print(f"consumer (pid {pid}, numpy): sees round {k}, row 0 = {row}", flush=True)
            ctl[1] = k               # acknowledge through numpy
            seen, deadline = k, time.monotonic() + TIMEOUT_S
        elif time.monotonic() > deadline:
            sys.exit("consumer: timed out waiting for the producer")
        time.sleep(0.001)
    print(f"consumer (pid {pid}): saw {seen} rounds in place")


if __name__ == "__main__":
    main()
