#!/usr/bin/env python3
"""consumer.py - the numpy side of a round trip between two processes.

Opens NAME (written by producer.py through torch) read-only and NAME.ctl
read-write. It sleeps in data.wait() until the producer publishes a round,
copies that version whole with data.snapshot(), checks and prints it, and
acknowledges the round by writing its number into NAME.ctl through numpy
inside `with ctl.write():`, which wakes the producer. It exits when the
producer unlinks NAME (data.wait() raises NotFoundError).

    consumer.py NAME                (socket: $TSHM_SOCKET or tshmd's default)
"""

import os
import sys

import numpy as np

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
        sys.exit("usage: consumer.py NAME")
    name, pid = sys.argv[1], os.getpid()
    ensure(name, (4, 4), "float32")
    ensure(name + ".ctl", 1, "int64")
    data = tshm.open(name)           # read-only: its numpy() is not writeable
    ctl = tshm.open(name + ".ctl", writable=True)
    c = ctl.numpy()                  # an ndarray over the shared cell
    base = np.arange(16, dtype=np.float32).reshape(4, 4) / 100
    seq, seen = 0, 0
    while True:
        try:
            seq = data.wait(seq, timeout=TIMEOUT_S)   # sleeps until a new version
        except tshm.NotFoundError:   # the producer unlinked it: done
            break
        k = seq // 2                 # versions 2, 4, 6, ... are rounds 1, 2, 3, ...
        a = data.snapshot()          # a copy of one whole version, never torn
        if not np.array_equal(a, base + k):
            sys.exit(f"consumer: round {k} reads {a.tolist()}")
        row = " ".join(f"{x:.2f}" for x in a[0].tolist())
        print(f"consumer (pid {pid}, numpy): sees round {k}, row 0 = {row}", flush=True)
        with ctl.write():            # on exit: publish, wake the producer
            c[0] = k
        seen += 1
    print(f"consumer (pid {pid}): saw {seen} rounds, each whole")


if __name__ == "__main__":
    main()
