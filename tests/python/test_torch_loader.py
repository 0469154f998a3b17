"""tshm.torch: DataLoader workers hand batches to the training process through slots of
tshm memory, by reference; a slot is reused only once every tensor of its batch is gone."""

import collections
import os
import signal
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import tshm  # noqa: E402
import tshm.torch  # noqa: E402

Pair = collections.namedtuple("Pair", "a b")


# Under ASan (its runtime preloaded into python), a worker forked while one
# of the parent's threads (a queue's feeder) holds LLVM 14's allocator lock
# hangs in its first malloc: the toolchain's, not tshm's. There the workers
# start from a forkserver, a single-threaded parent, and the explicit fork
# case is left to the gcc build, which runs it as everywhere.
UNDER_ASAN = "asan" in os.environ.get("LD_PRELOAD", "")
if UNDER_ASAN:
    torch.multiprocessing.set_start_method("forkserver", force=True)


class Seq(torch.utils.data.Dataset):
    """Sample i: a float32 row full of i, and the label i."""

    def __init__(self, n=640, width=128, kind="tuple"):
        self.n, self.width, self.kind = n, width, kind

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        row = torch.full((self.width,), float(i))
        if self.kind == "dict":
            return {"x": row, "y": i, "np": np.full(3, i, dtype=np.int16)}
        if self.kind == "namedtuple":
            return Pair(row, float(i))
        return row, i


def tshm_ranges():
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            if "tshm-batch." in line:
                a, b = (int(x, 16) for x in line.split()[0].split("-"))
                out.append((a, b))
    return out


def in_tshm(t, ranges=None):
    ranges = tshm_ranges() if ranges is None else ranges
    return any(a <= t.data_ptr() < b for a, b in ranges)


@pytest.fixture(autouse=True)
def socket_env(daemon, monkeypatch):
    monkeypatch.setenv("TSHM_SOCKET", daemon.socket)


@pytest.mark.parametrize("ctx", ["fork", "spawn", "forkserver"])
def test_batches_arrive_by_reference_in_order(ctx, client):
    if ctx == "fork" and UNDER_ASAN:
        pytest.skip("ASan's allocator hangs a child forked from a threaded parent "
                    "(LLVM 14); the gcc build runs this case")
    before = set(tshm_ranges())
    dl = tshm.torch.DataLoader(Seq(), batch_size=64, num_workers=2, multiprocessing_context=ctx)
    seen = 0
    for k, (x, y) in enumerate(dl):
        assert x.shape == (64, 128) and x.dtype == torch.float32
        assert y.dtype == torch.int64 and y.tolist() == list(range(64 * k, 64 * k + 64))
        assert torch.equal(x[:, 0], y.float()) and torch.equal(x[:, -1], y.float())
        ranges = tshm_ranges()
        assert in_tshm(x, ranges) and in_tshm(y, ranges), "a batch crossed as a copy"
        seen += 1
    assert seen == 10
    # The slots were reused: each worker made a few, not one per batch.
    assert len(set(tshm_ranges()) - before) <= 2 * (6 + 1)


def test_other_batch_structures(client):
    dl = tshm.torch.DataLoader(Seq(kind="dict"), batch_size=8, num_workers=2)
    for k, b in enumerate(dl):
        assert set(b) == {"x", "y", "np"}
        assert b["np"].dtype == torch.int16 and b["np"].shape == (8, 3)
        assert b["y"].tolist() == list(range(8 * k, 8 * k + 8))
        assert all(in_tshm(b[key]) for key in b)
    dl = tshm.torch.DataLoader(Seq(kind="namedtuple"), batch_size=8, num_workers=2)
    for k, b in enumerate(dl):
        assert isinstance(b, Pair) and b.b.dtype == torch.float64
        assert b.b.tolist() == [float(i) for i in range(8 * k, 8 * k + 8)]
        assert in_tshm(b.a) and in_tshm(b.b)


def doubling_collate(samples):
    # At module level: a forkserver's workers (under ASan) unpickle it.
    return torch.stack([s[0] for s in samples]) * 2, tuple(s[1] for s in samples)


def test_a_users_collate_fn_is_copied_into_a_slot(client):
    dl = tshm.torch.DataLoader(Seq(), batch_size=16, num_workers=2, collate_fn=doubling_collate)
    for k, (x, ys) in enumerate(dl):
        assert isinstance(ys, tuple) and ys == tuple(range(16 * k, 16 * k + 16))
        assert x[:, 0].tolist() == [2.0 * y for y in ys]
        assert in_tshm(x)


def test_held_batches_are_never_overwritten(client):
    # The loop keeps every batch (and a view of one): with 2 slots a worker
    # must not reuse a slot whose batch is still alive; it falls back.
    dl = tshm.torch.DataLoader(Seq(n=64 * 20), batch_size=64, num_workers=2, slots=2, wait=0.01)
    kept = [(x, y) for x, y in dl]
    assert len(kept) == 20
    for k, (x, y) in enumerate(kept):
        assert y.tolist() == list(range(64 * k, 64 * k + 64))
        assert torch.equal(x[:, 5], y.float())


def test_a_view_alone_keeps_its_slot(client):
    dl = tshm.torch.DataLoader(Seq(n=64 * 30), batch_size=64, num_workers=2, slots=2, wait=0.01)
    row = None
    for k, (x, y) in enumerate(dl):
        if k == 1:
            row = x[7]  # the batch itself is dropped; this view is not
        del x, y
    assert row is not None and torch.equal(row, torch.full((128,), 64.0 + 7))


def test_in_place_changes_in_the_loop_stay_with_that_batch(client):
    dl = tshm.torch.DataLoader(Seq(n=64 * 12), batch_size=64, num_workers=2, slots=3)
    for k, (x, y) in enumerate(dl):
        assert torch.equal(x[:, 0], y.float()), "a slot came back with the loop's writes"
        x.mul_(-1)  # the training process may change its batch; the next one is fresh


def test_persistent_workers_and_num_workers_zero(client):
    dl = tshm.torch.DataLoader(Seq(n=256), batch_size=64, num_workers=2, persistent_workers=True)
    for _ in range(2):
        assert [y[0].item() for _, y in dl] == [0, 64, 128, 192]
    plain = tshm.torch.DataLoader(Seq(n=128), batch_size=64, num_workers=0)
    batches = list(plain)
    assert len(batches) == 2 and not in_tshm(batches[0][0])


def test_a_worker_killed_with_9_leaves_nothing(client):
    dl = tshm.torch.DataLoader(Seq(n=64 * 1000), batch_size=64, num_workers=2, timeout=30)
    it = iter(dl)
    x, y = next(it)
    pids = list(it._worker_pids) if hasattr(it, "_worker_pids") else \
        [w.pid for w in it._workers]
    os.kill(pids[0], signal.SIGKILL)
    with pytest.raises(RuntimeError, match="killed|exited"):
        for _ in it:
            pass
    del it, dl
    # The batch already here is intact; the workers' slots are gone from the
    # daemon with their connections.
    assert y[:3].tolist() == [0, 1, 2] and torch.equal(x[:, 0], y.float())
    deadline = time.monotonic() + 20  # the daemon reads each connection's end
    for pid in pids:
        while client.list(prefix=f"tshm-batch.{pid}.") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.list(prefix=f"tshm-batch.{pid}.") == []


class WholeBatches(torch.utils.data.Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return {"x": torch.full((16, 8), float(i)), "n": i}


def test_batch_size_none_copies_whole_batches_into_slots(client):
    dl = tshm.torch.DataLoader(WholeBatches(), batch_size=None, num_workers=2)
    for k, b in enumerate(dl):
        assert b["n"] == k and b["x"].shape == (16, 8) and float(b["x"][3, 3]) == k
        assert in_tshm(b["x"])


def test_a_batch_forwarded_to_another_process_stays_its_own(client):
    # The training process passes batches on (a torch queue to a spawned
    # process) and drops them: they cross as copies, so the worker that
    # refills their slots does not change what the other process holds.
    import sharework
    import torch.multiprocessing as tmp

    ctx = tmp.get_context("spawn")
    inq, outq = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=sharework.batch_keeper, args=(inq, outq))
    p.start()
    dl = tshm.torch.DataLoader(Seq(n=64 * 60), batch_size=64, num_workers=2, slots=2)
    it = iter(dl)
    for _ in range(3):
        x, _y = next(it)
        inq.put(x)
    del x, _y
    first = outq.get(timeout=60)
    for _ in it:  # the workers refill every slot many times over
        pass
    assert outq.get(timeout=60) == first == [0.0, 64.0, 128.0]
    p.join(30)


def test_epochs_without_persistent_workers_do_not_pile_up_mappings(client):
    dl = tshm.torch.DataLoader(Seq(n=64 * 8, width=4096), batch_size=64, num_workers=2)
    counts = []
    for _ in range(4):
        for x, y in dl:
            pass
        del x, y
        counts.append(len(tshm_ranges()))
    # Each epoch's workers are new; the training process lets the last
    # epoch's slots go (their views are gone) rather than keep every one.
    assert counts[-1] <= counts[0] + 2 * (6 + 1), counts
