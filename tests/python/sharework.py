"""Worker functions for the tests of tshm handles and tensors crossing processes
(test_pickle.py, test_torch_share.py): multiprocessing's spawn and forkserver
children import them, so they live outside the test modules."""

import os

import tshm


def segment_add(seg, value):
    """Got a pickled Segment: return what it held, then add `value`."""
    a = seg.numpy()
    before = a.tolist()
    a += value
    return before, seg.writable, os.getpid()


def client_list(client):
    """Got a pickled Client: it works in this process."""
    return client.socket, sorted(s["name"] for s in client.list())


def stream_publish(stream, value):
    """Got a pickled Stream: publish one frame of `value`."""
    with stream.loan(timeout=10) as a:
        a[:] = value
    return stream.seq


def subscriber_take(sub, ready, go):
    """Got a pickled Subscriber: it is a new subscription, which has no frame
    yet (those published before it joined are not its); then take the next."""
    try:
        sub.take(timeout=0)
        first = "took"
    except tshm.TimeoutError:
        first = "none"
    ready.set()
    go.wait(30)
    with sub.take(timeout=10) as a:
        return first, a.tolist()


def queue_receiver(inq, outq, go):
    """torch.multiprocessing: receive tensors, report where they live, write
    to the first, wait for the sender's write, report what it sees."""
    t = inq.get(timeout=60)
    other = inq.get(timeout=60)
    origin = tshm.tensor_origin(t)
    t.fill_(7.0)
    outq.put((origin is not None and origin.writable, t.shape, other.tolist(),
              tshm.tensor_origin(other) is None))
    go.wait(60)
    outq.put(t.tolist())


def queue_hold(inq, outq, n):
    """Receive n tensors over one segment, report the opens it made, and hold
    them until killed."""
    held = [inq.get(timeout=60) for _ in range(n)]
    names = {tshm.tensor_origin(t).name for t in held}
    outq.put((len(held), sorted(names)))
    import time
    while True:
        time.sleep(1)


class SegmentRows:
    """A map-style dataset whose items are tensors viewing rows of a segment."""

    def __init__(self, socket, name, n):
        self.socket, self.name, self.n = socket, name, n
        self.seg = None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.seg is None:
            self.seg = tshm.connect(self.socket).open(self.name, writable=True)
        return self.seg.torch()[i]


def batch_keeper(inq, outq):
    """Got batches (tensors) the training process forwarded from a
    tshm.torch.DataLoader: report their first values now, and again once the
    sender has gone on through many more batches."""
    import time

    kept = [inq.get() for _ in range(3)]
    outq.put([float(t[0, 0]) for t in kept])
    time.sleep(1.5)
    outq.put([float(t[0, 0]) for t in kept])


def group_load_and_watch(socket, name, outq, go):
    """A spawn worker: tshm.load_state_dict() of group `name` (read-only),
    report each tensor's sum, wait for the owner to write, report again."""
    c = tshm.connect(socket)
    sd = tshm.load_state_dict(name, client=c)
    origins = {k: tuple(tshm.tensor_origin(t)[1:]) for k, t in sd.items()}
    outq.put(({k: float(t.double().sum()) for k, t in sd.items()}, origins))
    go.wait(60)
    outq.put({k: float(t.double().sum()) for k, t in sd.items()})
