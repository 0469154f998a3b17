"""Worker functions for multiprocessing tests (spawn start method): they must
be importable by the child, so they live outside the test modules."""

import tshm


def add_through_torch(socket, name, value):
    with tshm.connect(socket) as c, c.open(name, writable=True) as seg:
        t = seg.torch()
        t += value
        return float(t.sum())


def read_through_numpy(socket, name):
    with tshm.connect(socket) as c, c.open(name) as seg:
        return seg.numpy().tolist()
