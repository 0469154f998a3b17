#!/usr/bin/env python3
"""bench_torch.py - issue 13: the three PyTorch workloads, tshm beside what a
PyTorch engineer uses today, in one run on one machine.

    bench_torch.py [--build DIR] [--quick] [--only a,b,c] [--shm-dir DIR | --huge]
                   [--markdown FILE]

Starts its own tshmd from DIR (default build/; use a Release build; --shm-dir
DIR or --huge as in bench_populate.py, for tshm's segments only), imports
tshm from DIR/client/python, and starts every process with the "spawn"
method (torch.multiprocessing; each worker is started, has imported what it
needs and answered before any clock starts). --quick: fewer batches, runs
and seconds, for a smoke run (under a minute); the default is the full run
(a few minutes). Never a test: the numbers depend on the machine.

A. Data loading: 2 producer workers -> the main process, batches of 64x128
   float32 ("small", 32 KiB) and 32x3x224x224 float32 ("large", 18.4 MiB),
   at most 4 batches in flight per worker. A worker makes each batch by
   copying a prepared tensor of its own (the "decoded data") and stamping the
   batch's number in element 0; the main process sums every batch (reads
   every byte) and checks that every number came once. Ways (WAYS):
   - torch.multiprocessing Queue (maxsize 8): the worker clones its tensor
     and put()s it (torch's default file_descriptor sharing: the storage is
     moved into a fresh shared-memory file and its descriptor passed);
   - torch DataLoader(num_workers=2, batch_size=None, prefetch_factor=4,
     persistent_workers=True) over a Dataset whose __getitem__ returns the
     clone;
   - SharedMemory pool: one multiprocessing.shared_memory.SharedMemory of 4
     slots per worker, made once; slot numbers go back and forth through
     SimpleQueues (per-worker free queue, one shared ready queue): the
     strongest pre-allocated pool written by hand with the standard library;
   - tshm stream: one tshm stream per worker (4 slots, block policy); the
     worker loan()s, fills the slot through torch.from_numpy() and publishes;
     the main process takes from the workers' subscriptions in turn and
     releases. This is today's API; tshm.torch (a DataLoader batch pool,
     not written yet) is to be added as a further row: see WAYS below.
   Floor: Tensor.copy_() of one batch into a preallocated tensor, in this
   process; a second reference row is the main process's own work (the sum).
   Reported: batches/s (median of the runs; a run is N batches), the
   interval between batches at the consumer (p50/p99, all runs pooled), and
   ratios to the floor and to the best alternative.

B. Shared weights: a publisher and 4 inference workers (started before the
   clock); the model is bench_model.py's (17 float32 tensors, 288 MB).
   Timed from "the publisher starts sharing its model (ordinary tensors)"
   to "every worker has built its parameters and run one forward pass (one
   token) whose output matches the publisher's". Ways:
   - torch: model.share_memory(), then model.state_dict() through each
     worker's torch.multiprocessing Queue (file_descriptor sharing);
   - tshm: Client.from_numpy() per parameter, the publisher's parameters then
     replaced by the segments' tensors (as share_memory() does); the list of
     names through the same Queues; each worker opens every segment
     read-only and makes a tensor of it (ro_tensor(): seg.torch() when it
     works on a read-only segment, else torch.from_numpy(seg.numpy()) with
     the not-writable warning silenced).
   Floor: clone the state in process. PSS: /proc/PID/smaps_rollup of the 4
   workers and the publisher (and tshmd for tshm) when all are ready, less
   the same before the run's model was made, against the model's size.

C. Latest frame: 1 producer (this process) -> 3 consumer processes, frames
   of 480x640x3 uint8 and of 4 KiB, each behind a 64-byte header (frame
   number, publish time), first at a fixed rate, then flat out. A consumer
   waits for a newer frame, then copies it whole (consistent). Ways:
   - floor: the publish time sent as 8+ bytes through one multiprocessing
     Pipe per consumer (a raw pipe wake-up, no frame);
   - SharedMemory + multiprocessing.Condition: the frame and a version
     counter in a SharedMemory; the producer writes under the Condition and
     notify_all()s; a consumer waits for a new version and copies under it;
   - tshm segment: seg.write() / seg.wait() + seg.snapshot();
   - tshm stream, overwrite policy, 4 slots: loan / publish, take / copy /
     release (each frame in order, not only the latest).
   Reported: wake-up latency (publish time -> the consumer's wait returned)
   and delivered latency (-> its copy is made), p50/p99 over the 3
   consumers; frames delivered/s per consumer flat out.
"""

import argparse
import datetime
import gc
import os
import struct
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model import SHAPES  # noqa: E402
from bench_python import (Daemon, ShmDir, add_shm_dir_args, machine, median,  # noqa: E402
                          pct, smaps_rollup)

NOT_WRITABLE = "The given NumPy array is not writable"
now = time.perf_counter_ns  # CLOCK_MONOTONIC: comparable across processes
T0 = time.monotonic()


def quiet_readonly():
    """torch.from_numpy() of a read-only ndarray warns once per call site;
    the tensors made here from read-only arrays are only read."""
    warnings.filterwarnings("ignore", message=NOT_WRITABLE)


def pss_rss(pid):
    """(Pss, Rss) of a process in bytes, from /proc/PID/smaps_rollup."""
    got = smaps_rollup(pid)
    return np.array([got["Pss"], got["Rss"]])


# ---------------------------------------------------------------------------
# A. Data loading
# ---------------------------------------------------------------------------

A_WORKERS = 2
A_SLOTS = 4  # batches in flight per worker, every way
A_SIZES = {"small": (64, 128), "large": (32, 3, 224, 224)}


def make_src(torch, shape, seed):
    """A worker's "decoded data": what it copies into each batch."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def consume(t):
    """The main process's work per batch: read every byte (a sum) and return
    the batch's number (element 0)."""
    t.sum()
    return int(t.view(-1)[0])


class Way:
    """One way of getting batches from the workers to the main process.

    Main side: setup(h, shape, tag) before the runs, run(h, n) a generator
    yielding n batches as tensors (each valid until the next is asked for),
    teardown(h) after. Ways that use the benchmark's own worker pair
    (generic = True) also give the worker side, static methods that run in
    the workers: wsetup(w, res, shape, args, client) -> state,
    wproduce(state, src, ids) (make and hand over batches ids, in order;
    each by copying src and stamping its number), wteardown(state)."""

    label = "?"
    tshm = False  # a tshm row (compared with the best alternative)
    pool = False  # a pre-allocated pool (the large-batch target's reference)
    generic = False

    def setup(self, h, shape, tag):
        pass

    def teardown(self, h):
        pass


class GenericWay(Way):
    generic = True

    def setup(self, h, shape, tag):
        args = self.msetup(h, shape, tag)
        h.wsetup(self.key, shape, args)

    def run(self, h, n):
        h.go(self.key, n)
        yield from self.batches(h, n)

    def teardown(self, h):
        h.wteardown(self.key)
        self.mteardown(h)

    def msetup(self, h, shape, tag):
        return [None] * A_WORKERS

    def mteardown(self, h):
        pass

    @staticmethod
    def wteardown(state):
        pass


class QueueWay(GenericWay):
    key = "queue"
    label = "torch.multiprocessing Queue of tensors (file_descriptor)"

    @staticmethod
    def wsetup(w, res, shape, args, client):
        return res["tq"]

    @staticmethod
    def wproduce(q, src, ids):
        for i in ids:
            t = src.clone()
            t.view(-1)[0] = i
            q.put(t)
            del t

    def batches(self, h, n):
        q = h.res["tq"]
        for _ in range(n):
            yield q.get(timeout=120)


class ShmPoolWay(GenericWay):
    key = "shmpool"
    label = "SharedMemory pool (4 slots/worker, slot numbers through SimpleQueues)"
    pool = True

    def msetup(self, h, shape, tag):
        import torch
        from multiprocessing import shared_memory

        nbytes = int(np.prod(shape)) * 4
        self.shms = [shared_memory.SharedMemory(create=True, size=nbytes * A_SLOTS)
                     for _ in range(A_WORKERS)]
        self.views = [[torch.frombuffer(s.buf, dtype=torch.float32, count=int(np.prod(shape)),
                                        offset=k * nbytes).view(shape) for k in range(A_SLOTS)]
                      for s in self.shms]
        for w in range(A_WORKERS):
            for k in range(A_SLOTS):
                h.res["free"][w].put(k)
        return [{"name": s.name, "nbytes": nbytes} for s in self.shms]

    @staticmethod
    def wsetup(w, res, shape, args, client):
        import torch
        from multiprocessing import shared_memory

        # Registered again with the resource tracker the spawned workers
        # share with the main process, which unlinks it (and unregisters).
        shm = shared_memory.SharedMemory(args["name"])
        nb = args["nbytes"]
        views = [torch.frombuffer(shm.buf, dtype=torch.float32, count=nb // 4,
                                  offset=k * nb).view(shape) for k in range(A_SLOTS)]
        return {"shm": shm, "views": views, "free": res["free"][w], "ready": res["ready"],
                "w": w}

    @staticmethod
    def wproduce(st, src, ids):
        views, free, ready, w = st["views"], st["free"], st["ready"], st["w"]
        for i in ids:
            k = free.get()
            v = views[k]
            v.copy_(src)
            v.view(-1)[0] = i
            ready.put((w, k))

    @staticmethod
    def wteardown(st):
        shm = st["shm"]
        st.clear()
        gc.collect()
        shm.close()

    def batches(self, h, n):
        ready, free = h.res["ready"], h.res["free"]
        for _ in range(n):
            w, k = ready.get()
            yield self.views[w][k]
            free[w].put(k)

    def mteardown(self, h):
        self.views = None
        gc.collect()
        for s in self.shms:
            s.close()
            s.unlink()
        for q in h.res["free"]:  # the slots numbers the workers did not take
            while not q.empty():
                q.get()


class TshmStreamWay(GenericWay):
    key = "tshm-stream"
    label = "tshm stream per worker (4 slots, block): loan/publish, take/release"
    tshm = True
    pool = True

    def msetup(self, h, shape, tag):
        self.names = [f"a.{tag}.{w}" for w in range(A_WORKERS)]
        self.streams = [h.client.stream_create(nm, shape, "float32", slots=A_SLOTS,
                                               policy="block") for nm in self.names]
        self.subs = [h.client.sub_open(nm) for nm in self.names]
        return [{"name": nm} for nm in self.names]

    @staticmethod
    def wsetup(w, res, shape, args, client):
        return client.stream_open(args["name"])

    @staticmethod
    def wproduce(stream, src, ids):
        import torch

        for i in ids:
            with stream.loan() as a:
                t = torch.from_numpy(a)
                t.copy_(src)
                t.view(-1)[0] = i

    @staticmethod
    def wteardown(stream):
        stream.close()

    def batches(self, h, n):
        import torch

        subs = self.subs
        for j in range(n):  # worker w makes batches w, w + 2, ...: take in turn
            with subs[j % A_WORKERS].take(timeout=120) as a:
                yield torch.from_numpy(a)

    def mteardown(self, h):
        for s in self.subs + self.streams:
            s.close()
        for nm in self.names:
            h.client.unlink(nm)


class BatchDataset:
    """Map-style dataset: item i is one whole batch (the worker's clone of
    its data, stamped i)."""

    def __init__(self, shape, n):
        self.shape, self.n, self.src = shape, n, None

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        import torch

        if self.src is None:
            info = torch.utils.data.get_worker_info()
            self.src = make_src(torch, self.shape, 100 + (info.id if info else 0))
        t = self.src.clone()
        t.view(-1)[0] = i
        return t


class DataLoaderWay(Way):
    key = "dataloader"
    label = "torch DataLoader(num_workers=2, prefetch_factor=4)"

    def setup(self, h, shape, tag):
        import torch

        self.dl = torch.utils.data.DataLoader(
            BatchDataset(shape, h.n), batch_size=None, num_workers=A_WORKERS,
            prefetch_factor=A_SLOTS, persistent_workers=True, multiprocessing_context="spawn")
        # Start the workers now, before any clock (persistent: every run's
        # iter() resets the same workers).
        next(iter(self.dl))

    def run(self, h, n):
        assert n == len(self.dl.dataset)
        yield from self.dl

    def teardown(self, h):
        it = getattr(self.dl, "_iterator", None)
        if it is not None:
            it._shutdown_workers()
        self.dl = None
        gc.collect()


# The ways of workload A, in the tables' order. tshm rows are compared with
# the best of the others (tshm = False), and, for large batches, with the
# best pre-allocated pool (pool = True).
#
class TshmLoaderWay(DataLoaderWay):
    """tshm.torch.DataLoader: the same loader and dataset as DataLoaderWay;
    each worker copies its batch into one of its reused tshm slots, which
    reaches this process by reference."""

    key = "tshm_loader"
    label = "tshm.torch.DataLoader(num_workers=2, prefetch_factor=4)"
    tshm = True
    pool = True

    def setup(self, h, shape, tag):
        import tshm.torch

        # Its spawned workers connect through the default client.
        os.environ["TSHM_SOCKET"] = h.sock
        self.dl = tshm.torch.DataLoader(
            BatchDataset(shape, h.n), batch_size=None, num_workers=A_WORKERS,
            prefetch_factor=A_SLOTS, persistent_workers=True, multiprocessing_context="spawn",
            slots=A_SLOTS + 2)
        next(iter(self.dl))


WAYS = [QueueWay(), DataLoaderWay(), ShmPoolWay(), TshmStreamWay(), TshmLoaderWay()]
GENERIC = {w.key: type(w) for w in WAYS if w.generic}


def _a_worker(w, sock, res):
    """One of the benchmark's own 2 data-loading workers: commands from
    res["ctrl"][w]: ("setup", key, shape, args), ("go", key, ids),
    ("teardown", key), ("stop",)."""
    import torch

    torch.set_num_threads(1)
    quiet_readonly()
    client = None
    states, srcs = {}, {}
    ctrl, reply = res["ctrl"][w], res["reply"]
    reply.put(("up", w))
    while True:
        msg = ctrl.get()
        if msg[0] == "stop":
            break
        key = msg[1]
        cls = GENERIC[key]
        if msg[0] == "setup":
            if client is None and sock:
                import tshm

                client = tshm.connect(sock)
            shape = msg[2]
            srcs[key] = make_src(torch, shape, 100 + w)
            states[key] = cls.wsetup(w, res, shape, msg[3], client)
            reply.put(("setup", w))
        elif msg[0] == "go":
            cls.wproduce(states[key], srcs[key], msg[2])
        elif msg[0] == "teardown":
            cls.wteardown(states.pop(key))
            srcs.pop(key)
            reply.put(("teardown", w))
    if client is not None:
        client.close()


class AHarness:
    def __init__(self, mp, sock, client):
        self.client, self.sock = client, sock
        self.res = {"ctrl": [mp.SimpleQueue() for _ in range(A_WORKERS)],
                    "reply": mp.SimpleQueue(),
                    "tq": mp.Queue(maxsize=A_WORKERS * A_SLOTS),
                    "free": [mp.SimpleQueue() for _ in range(A_WORKERS)],
                    "ready": mp.SimpleQueue()}
        self.procs = [mp.Process(target=_a_worker, args=(w, sock, self.res), daemon=True)
                      for w in range(A_WORKERS)]
        for p in self.procs:
            p.start()
        self._replies("up")

    def _replies(self, tag):
        for _ in range(A_WORKERS):
            msg = self.res["reply"].get()
            if msg[0] != tag:
                raise RuntimeError(f"worker answered {msg}, expected {tag}")

    def wsetup(self, key, shape, args):
        for w in range(A_WORKERS):
            self.res["ctrl"][w].put(("setup", key, shape, args[w]))
        self._replies("setup")

    def go(self, key, n):
        for w in range(A_WORKERS):
            self.res["ctrl"][w].put(("go", key, list(range(w, n, A_WORKERS))))

    def wteardown(self, key):
        for w in range(A_WORKERS):
            self.res["ctrl"][w].put(("teardown", key))
        self._replies("teardown")

    def stop(self):
        for w in range(A_WORKERS):
            self.res["ctrl"][w].put(("stop",))
        for p in self.procs:
            p.join(timeout=30)


def time_way(way, h, n):
    """One run: n batches; returns (elapsed ns, the intervals between batches
    at the consumer)."""
    seen = []
    stamps = []
    t0 = now()
    for t in way.run(h, n):
        seen.append(consume(t))
        stamps.append(now())
        del t
    if sorted(seen) != list(range(n)):
        raise RuntimeError(f"{way.label}: batches came wrong ({len(seen)} of {n}, "
                           f"{len(set(seen))} distinct)")
    return stamps[-1] - t0, [b - a for a, b in zip([t0] + stamps, stamps)]


def time_floor(torch, shape, n):
    src = make_src(torch, shape, 1)
    dst = torch.empty(shape)
    dst.copy_(src)
    lat = []
    for _ in range(n):
        t0 = now()
        dst.copy_(src)
        lat.append(now() - t0)
    sums = []
    for _ in range(n):
        t0 = now()
        consume(dst)
        sums.append(now() - t0)
    return lat, sums


def workload_a(torch, mp, sock, client, cfg):
    h = AHarness(mp, sock, client)
    results = {}
    try:
        for size, shape in A_SIZES.items():
            n = h.n = cfg["a_n"][size]
            for way in WAYS:
                way.setup(h, shape, size)
            rates = {w.label: [] for w in WAYS}
            ivals = {w.label: [] for w in WAYS}
            fl_rates, fl_lat, sum_rates, sum_lat = [], [], [], []
            try:
                w = cfg["warmup"]
                for run in range(cfg["a_runs"] + w):  # the first w runs are warm-ups
                    k = run % len(WAYS)
                    for way in WAYS[k:] + WAYS[:k]:
                        el, iv = time_way(way, h, n)
                        if run >= w:
                            rates[way.label].append(n / (el / 1e9))
                            ivals[way.label] += iv
                    fl, sm = time_floor(torch, shape, n)
                    if run >= w:
                        fl_rates.append(1e9 / median(fl))
                        fl_lat += fl
                        sum_rates.append(1e9 / median(sm))
                        sum_lat += sm
            finally:
                for way in WAYS:
                    way.teardown(h)
            results[size] = {"n": n, "rates": rates, "ivals": ivals,
                             "floor": (fl_rates, fl_lat), "sum": (sum_rates, sum_lat)}
            print(f"A {size}: done at {time.monotonic() - T0:.0f} s", file=sys.stderr,
                  flush=True)
    finally:
        h.stop()
    return results


def report_a(res, cfg):
    lines = ["### A. Data loading: 2 workers -> main process, 4 batches in flight per worker",
             "",
             f"{cfg['a_runs']} runs (+{cfg['warmup']} warm-up) per way, the ways in an "
             "order rotating every run; a run is N batches; batches/s is the median of the runs "
             "(min-max in brackets); the interval is the time between two batches "
             "at the consumer (get + sum + give back), all runs pooled.", ""]
    verdicts = []
    for size, r in res.items():
        shape = A_SIZES[size]
        nbytes = int(np.prod(shape)) * 4
        fl = median(r["floor"][0])
        alts = [w for w in WAYS if not w.tshm]
        best_alt = max(alts, key=lambda w: median(r["rates"][w.label]))
        pools = [w for w in WAYS if w.pool and not w.tshm]
        best_pool = max(pools, key=lambda w: median(r["rates"][w.label]))
        ba = median(r["rates"][best_alt.label])
        bp = median(r["rates"][best_pool.label])
        lines += [f"#### {size}: {'x'.join(map(str, shape))} float32 "
                  f"({nbytes / 2**20:.2f} MiB), N = {r['n']}", "",
                  "| way | batches/s | GB/s | interval p50 / p99 (ms) | vs floor | "
                  "vs best alternative |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]

        def row(label, rates, lat, is_floor=False):
            m = median(rates)
            vs_alt = f"{m / ba:.2f}x"
            lines.append(f"| {label} | {m:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | "
                         f"{m * nbytes / 1e9:.2f} | {pct(lat, 50) / 1e6:.3f} / "
                         f"{pct(lat, 99) / 1e6:.3f} | {m / fl:.3f}x | "
                         f"{'' if is_floor else vs_alt} |")

        row("floor: `Tensor.copy_()` into a preallocated tensor, in process",
            *r["floor"], True)
        row("reference: the consumer's own work (sum + read the number), in process",
            *r["sum"], True)
        for w in WAYS:
            row(w.label + (" **(tshm)**" if w.tshm else ""), r["rates"][w.label],
                r["ivals"][w.label])
        lines.append("")
        for w in WAYS:
            if not w.tshm:
                continue
            m = median(r["rates"][w.label])
            if size == "small":
                ok = m / ba >= 3
                verdicts.append(f"- A small, {w.label}: {m / ba:.2f}x the best alternative "
                                f"({best_alt.label}); target >= 3x: "
                                f"{'met' if ok else 'MISSED'}.")
            else:
                ok = m / bp >= 1.0
                verdicts.append(f"- A large, {w.label}: {m / bp:.2f}x the best pre-allocated "
                                f"pool ({best_pool.label}), {m / ba:.2f}x the best "
                                f"alternative; target >= 1.0x: {'met' if ok else 'MISSED'}.")
    return lines, verdicts


# ---------------------------------------------------------------------------
# B. Shared weights
# ---------------------------------------------------------------------------

B_WORKERS = 4
D = 1024


def ro_tensor(seg):
    """A tensor over a read-only tshm segment, and how it was made.
    seg.torch() where it works on a read-only segment (the copy-on-write
    change); until then torch.from_numpy() of the read-only ndarray (torch
    warns that it is not writable; the workers only read it)."""
    import torch

    import tshm

    try:
        return seg.torch(), "seg.torch()"
    except tshm.ReadOnlyError:
        return torch.from_numpy(seg.numpy()), "torch.from_numpy(seg.numpy())"


def forward(torch, p, tok=7):
    """One token through the one-block model: what "can run inference"
    means here. Touches every matrix (the embeddings: one row each)."""
    F = torch.nn.functional
    x = (p["tok_embed_weight"][tok] + p["pos_embed_weight"][0])[None]
    h = F.layer_norm(x, (D,), p["block_ln1_weight"], p["block_ln1_bias"])
    qkv = F.linear(h, p["block_attn_qkv_weight"], p["block_attn_qkv_bias"])
    v = qkv[:, 2 * D:]  # one token: attention gives its own value
    x = x + F.linear(v, p["block_attn_out_weight"], p["block_attn_out_bias"])
    h = F.layer_norm(x, (D,), p["block_ln2_weight"], p["block_ln2_bias"])
    x = x + F.linear(F.gelu(F.linear(h, p["block_mlp_fc1_weight"], p["block_mlp_fc1_bias"])),
                     p["block_mlp_fc2_weight"], p["block_mlp_fc2_bias"])
    x = F.layer_norm(x, (D,), p["ln_f_weight"], p["ln_f_bias"])
    return F.linear(x, p["lm_head_weight"])


def _b_worker(idx, sock, inq, outq):
    """An inference worker: ("torch", run, state_dict) or ("tshm", run,
    [(key, name)]): build the parameters, run forward(), answer ("ready",
    idx, run, output sum, how the tensors were made); hold them until
    ("release",)."""
    import torch

    import tshm

    torch.set_num_threads(1)
    quiet_readonly()
    client = tshm.connect(sock)
    outq.put(("up", idx, os.getpid()))
    params, segs = None, []
    payload = None
    while True:
        msg = inq.get()
        if msg[0] == "stop":
            break
        if msg[0] == "release":
            params = msg = payload = None  # nothing of the run's model stays mapped
            for s in segs:
                s.close()
            segs = []
            gc.collect()
            outq.put(("released", idx))
            continue
        kind, run, payload = msg
        how = "state_dict from the Queue"
        if kind == "tshm":
            params = {}
            for key, name in payload:
                segs.append(client.open(name))
                params[key], how = ro_tensor(segs[-1])
        else:
            params = payload
        with torch.no_grad():
            out = forward(torch, params)
        outq.put(("ready", idx, run, float(out.sum()), how))
    client.close()


class BBench:
    def __init__(self, torch, tshm, mp, daemon):
        self.torch, self.tshm, self.daemon = torch, tshm, daemon
        self.client = tshm.connect(daemon.socket)
        gen = torch.Generator().manual_seed(13)
        self.base = {name.replace(".", "_"): torch.rand(shape, generator=gen) / 32
                     for name, shape in SHAPES}
        with torch.no_grad():
            self.expect = float(forward(torch, self.base).sum())
        self.nbytes = sum(t.numel() * 4 for t in self.base.values())
        self.inqs = [mp.Queue() for _ in range(B_WORKERS)]
        self.outq = mp.Queue()
        self.procs = [mp.Process(target=_b_worker, args=(i, daemon.socket, q, self.outq),
                                 daemon=True) for i, q in enumerate(self.inqs)]
        for p in self.procs:
            p.start()
        self.pids = [None] * B_WORKERS
        for _ in self.procs:
            tag, idx, pid = self.outq.get(timeout=180)
            self.pids[idx] = pid
        self.how = set()

    def pss(self, with_daemon):
        pids = self.pids + [os.getpid()] + ([self.daemon.proc.pid] if with_daemon else [])
        return sum(pss_rss(p) for p in pids)

    def make_model(self):
        m = self.torch.nn.Module()
        for key, t in self.base.items():
            m.register_parameter(key, self.torch.nn.Parameter(t.clone(), requires_grad=False))
        return m

    def _collect(self, run):
        for _ in self.procs:
            tag, idx, r, s, how = self.outq.get(timeout=180)
            if tag != "ready" or r != run or abs(s - self.expect) > 1e-3 * max(1, abs(s)):
                raise RuntimeError(f"worker {idx}, run {run}: {tag} {r} output sum {s}, "
                                   f"expected {self.expect}")
            self.how.add(how)

    def _release(self):
        for q in self.inqs:
            q.put(("release",))
        for _ in self.procs:
            assert self.outq.get(timeout=180)[0] == "released"

    def run_torch(self, run):
        gc.collect()
        base = self.pss(False)
        model = self.make_model()
        gc.collect()
        t0 = now()
        model.share_memory()
        t1 = now()
        sd = model.state_dict()
        for q in self.inqs:
            q.put(("torch", run, sd))
        self._collect(run)
        t2 = now()
        mem = self.pss(False) - base
        del sd
        self._release()
        del model
        gc.collect()
        return t1 - t0, t2 - t0, mem

    def run_tshm(self, run):
        gc.collect()
        base = self.pss(True)
        model = self.make_model()
        gc.collect()
        t0 = now()
        names, segs = [], []
        for i, (key, p) in enumerate(model.named_parameters()):
            name = f"b{run}.{i}"
            segs.append(self.client.from_numpy(name, p.detach().numpy()))
            p.data = segs[-1].torch()  # the private copy goes, as with share_memory()
            names.append((key, name))
        t1 = now()
        for q in self.inqs:
            q.put(("tshm", run, names))
        self._collect(run)
        t2 = now()
        mem = self.pss(True) - base
        self._release()
        del model
        gc.collect()
        for s, (_, name) in zip(segs, names):
            s.close()
            self.client.unlink(name)
        return t1 - t0, t2 - t0, mem

    def run_floor(self):
        gc.collect()
        t0 = now()
        copies = [t.clone() for t in self.base.values()]
        t1 = now()
        del copies
        return t1 - t0

    def stop(self):
        for q in self.inqs:
            q.put(("stop",))
        for p in self.procs:
            p.join(timeout=30)
        self.client.close()


def workload_b(torch, tshm, mp, daemon, cfg):
    b = BBench(torch, tshm, mp, daemon)
    t = {"floor": [], "torch": [], "tshm": []}
    pub = {"torch": [], "tshm": []}
    pss = {"torch": [], "tshm": []}
    try:
        w = cfg["warmup"]
        for run in range(cfg["b_runs"] + w):  # the first w runs are warm-ups
            order = ["torch", "tshm"] if run % 2 else ["tshm", "torch"]
            for kind in order:
                fl = b.run_floor()
                p, total, m = (b.run_torch if kind == "torch" else b.run_tshm)(run)
                if run >= w:
                    t["floor"].append(fl)
                    t[kind].append(total)
                    pub[kind].append(p)
                    pss[kind].append(m)
    finally:
        b.stop()
    print(f"B: done at {time.monotonic() - T0:.0f} s", file=sys.stderr, flush=True)
    return {"t": t, "pub": pub, "pss": pss, "nbytes": b.nbytes, "how": sorted(b.how)}


def report_b(r, cfg):
    ms = {k: (median(v) / 1e6, pct(v, 99) / 1e6) for k, v in r["t"].items()}
    fl = ms["floor"][0]
    nb = r["nbytes"]
    lines = [f"### B. Shared weights: publisher + {B_WORKERS} inference workers, "
             f"{len(SHAPES)} float32 tensors, {nb:,} bytes", "",
             f"{cfg['b_runs']} runs (+{cfg['warmup']} warm-up), the two ways alternating, "
             "each after a floor run; times in ms, median / p99; ready = every worker has "
             "built its parameters and run one forward pass. PSS: the processes' Pss when all are "
             "ready, less the same before the run's model was made (the workers, the "
             "publisher; tshm also tshmd), median of the runs.", "",
             "| way | share (publisher) | all workers ready | ready vs floor | "
             "ready vs tshm | PSS (MB) | PSS / model size | Rss (MB) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
             f"| floor: clone the state in process | | {fl:.1f} / {ms['floor'][1]:.1f} | "
             "1.00x | | | | |"]
    labels = {"torch": "torch: `model.share_memory()`, `state_dict()` through a Queue",
              "tshm": "tshm: `from_numpy()` per parameter, names through a Queue, "
                      "read-only open"}
    pss = {k: median([m[0] for m in v]) for k, v in r["pss"].items()}
    for kind in ("torch", "tshm"):
        pm = median(r["pub"][kind]) / 1e6
        pp = pct(r["pub"][kind], 99) / 1e6
        am, ap = ms[kind]
        rss = median([m[1] for m in r["pss"][kind]])
        lines.append(f"| {labels[kind]} | {pm:.1f} / {pp:.1f} | {am:.1f} / {ap:.1f} | "
                     f"{am / fl:.2f}x | {am / ms['tshm'][0]:.2f}x | {pss[kind] / 1e6:.0f} | "
                     f"{pss[kind] / nb:.2f} | {rss / 1e6:.0f} |")
    lines += ["", f"Workers' tensors: {', '.join(r['how'])}. Rss (the same difference, "
              "summed over the processes) counts a shared page once per process that "
              "has it mapped.", ""]
    ratio = ms["torch"][0] / ms["tshm"][0]
    verdicts = [f"- B: ready time torch / tshm {ratio:.2f}x; PSS / model size torch "
                f"{pss['torch'] / nb:.2f}, tshm {pss['tshm'] / nb:.2f}."]
    return lines, verdicts


# ---------------------------------------------------------------------------
# C. Latest frame
# ---------------------------------------------------------------------------

C_CONSUMERS = 3
C_SIZES = {"480x640x3 uint8": 480 * 640 * 3, "4 KiB": 4096}
HDR = 64  # frame number, publish time, phase, stop: int64 each, then padding
C_METHODS = ["pipe", "cond", "tshm-seg", "tshm-stream"]
C_LABELS = {"pipe": "floor: publish time through a Pipe per consumer (no frame)",
            "cond": "SharedMemory + Condition.notify_all(), version counter",
            "tshm-seg": "tshm segment: `write()` / `wait()` + `snapshot()`",
            "tshm-stream": "tshm stream, overwrite, 4 slots: loan / take + copy + release"}


def _c_consumer(idx, method, size, args, outq):
    quiet_readonly()
    recs, torn, errors, missed = [], 0, 0, 0
    if method == "pipe":
        conn = args["conns"][idx]
        outq.put(("up", idx))
        while True:
            b = conn.recv_bytes()
            t = now()
            fno, stamp, phase, stop = struct.unpack("<qqqq", b[:32])
            if stop:
                break
            recs.append((phase, fno, t - stamp, t - stamp))
    elif method == "cond":
        from multiprocessing import shared_memory

        shm = shared_memory.SharedMemory(args["name"])
        buf = np.ndarray((HDR + size,), np.uint8, buffer=shm.buf)
        hdr = buf[:32].view(np.int64)
        cond = args["cond"]
        last = 0
        outq.put(("up", idx))
        while True:
            with cond:
                while int(hdr[0]) == last:
                    cond.wait(1.0)
                t = now()
                copy = buf.copy()
            t2 = now()
            fno, stamp, phase, stop = (int(x) for x in copy[:32].view(np.int64))
            last = fno
            if stop:
                break
            recs.append((phase, fno, t - stamp, t2 - stamp))
        del buf, hdr
        shm.close()
    else:
        import tshm

        client = tshm.connect(args["sock"])
        if method == "tshm-seg":
            seg = client.open(args["name"])
            last, seen = 0, 0
            outq.put(("up", idx))
            while True:
                try:
                    seq = seg.wait(last, timeout=1.0)
                except tshm.TimeoutError:
                    continue
                t = now()
                try:
                    copy = seg.snapshot(timeout=1.0)
                except (tshm.TornError, tshm.TimeoutError):
                    errors += 1
                    last = seq
                    continue
                t2 = now()
                last = seq
                fno, stamp, phase, stop = (int(x) for x in copy[:32].view(np.int64))
                if stop:
                    break
                if fno != seen:  # a snapshot newer than seq, seen again: not twice
                    recs.append((phase, fno, t - stamp, t2 - stamp))
                    seen = fno
            seg.close()
        else:
            sub = client.sub_open(args["name"])
            outq.put(("up", idx))
            while True:
                try:
                    f = sub.take(timeout=1.0)
                except tshm.TimeoutError:
                    continue
                t = now()
                copy = f.array.copy()
                try:
                    f.release()
                except tshm.TornError:
                    torn += 1
                    continue
                t2 = now()
                fno, stamp, phase, stop = (int(x) for x in copy[:32].view(np.int64))
                if stop:
                    break
                recs.append((phase, fno, t - stamp, t2 - stamp))
            missed = sub.missed
            sub.close()
        client.close()
    outq.put(("done", idx, np.array(recs, dtype=np.int64).reshape(-1, 4), torn, errors,
              missed))


class CProducer:
    """The producer side of one method: publish(fno, phase, stop)."""

    def __init__(self, method, size, mp, client, sock, tag):
        self.method, self.size = method, size
        self.src = np.random.default_rng(3).integers(0, 256, size, dtype=np.uint8)
        self.args = {"sock": sock}
        self.cleanup = []
        if method == "pipe":
            pairs = [mp.Pipe(duplex=False) for _ in range(C_CONSUMERS)]
            self.args["conns"] = [r for r, _ in pairs]
            self.conns = [w for _, w in pairs]
        elif method == "cond":
            from multiprocessing import shared_memory

            self.shm = shared_memory.SharedMemory(create=True, size=HDR + size)
            self.buf = np.ndarray((HDR + size,), np.uint8, buffer=self.shm.buf)
            self.buf[:] = 0
            self.hdr = self.buf[:32].view(np.int64)
            self.cond = mp.Condition()
            self.args.update(name=self.shm.name, cond=self.cond)
        elif method == "tshm-seg":
            self.name = f"c.seg.{tag}"
            self.seg = client.create(self.name, (HDR + size,), "uint8")
            self.arr = self.seg.numpy()
            self.hdr = self.arr[:32].view(np.int64)
            self.args["name"] = self.name
        else:
            self.name = f"c.stream.{tag}"
            self.stream = client.stream_create(self.name, (HDR + size,), "uint8", slots=4,
                                               policy="overwrite")
            self.args["name"] = self.name
        self.client = client

    def publish(self, fno, phase, stop):
        m = self.method
        if m == "pipe":
            hdr = struct.pack("<qqqq", fno, now(), phase, stop)
            for c in self.conns:
                c.send_bytes(hdr)
        elif m == "cond":
            with self.cond:
                self.buf[HDR:] = self.src
                self.buf[HDR] = fno & 255
                self.hdr[2], self.hdr[3] = phase, stop
                self.hdr[1] = now()
                self.hdr[0] = fno
                self.cond.notify_all()
        elif m == "tshm-seg":
            with self.seg.write():
                self.arr[HDR:] = self.src
                self.arr[HDR] = fno & 255
                h = self.hdr
                h[0], h[2], h[3] = fno, phase, stop
                h[1] = now()
        else:
            with self.stream.loan() as a:
                a[HDR:] = self.src
                a[HDR] = fno & 255
                h = a[:32].view(np.int64)
                h[0], h[2], h[3] = fno, phase, stop
                h[1] = now()

    def close(self):
        if self.method == "cond":
            del self.buf, self.hdr
            self.shm.close()
            self.shm.unlink()
        elif self.method == "tshm-seg":
            del self.arr, self.hdr
            self.seg.close()
            self.client.unlink(self.name)
        elif self.method == "tshm-stream":
            self.stream.close()
            self.client.unlink(self.name)


def c_session(method, size, mp, client, sock, tag, cfg):
    prod = CProducer(method, size, mp, client, sock, tag)
    outq = mp.Queue()
    procs = [mp.Process(target=_c_consumer, args=(i, method, size, prod.args, outq),
                        daemon=True) for i in range(C_CONSUMERS)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            assert outq.get(timeout=120)[0] == "up"
        time.sleep(0.05)
        fno = 0
        period = 1e9 / cfg["c_rate"]
        # Phase 0: fixed rate.
        t0 = now()
        k = 0
        while True:
            due = t0 + k * period
            if due - t0 >= cfg["c_fixed_s"] * 1e9:
                break
            delay = due - now()
            if delay > 0:
                time.sleep(delay / 1e9)
            fno += 1
            prod.publish(fno, 0, 0)
            k += 1
        fixed_n = fno
        time.sleep(cfg["c_pause"])  # let them drain
        # Phase 1: flat out.
        t1 = now()
        end = t1 + cfg["c_flat_s"] * 1e9
        while now() < end:
            fno += 1
            prod.publish(fno, 1, 0)
        t2 = now()
        flat_n = fno - fixed_n
        time.sleep(cfg["c_pause"])
        prod.publish(fno + 1, 1, 1)
        outs = []
        for _ in procs:
            msg = outq.get(timeout=120)
            assert msg[0] == "done"
            outs.append(msg)
        for p in procs:
            p.join(timeout=30)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        prod.close()
    return {"fixed_n": fixed_n, "flat_n": flat_n, "flat_s": (t2 - t1) / 1e9,
            "recs": [o[2] for o in outs], "torn": sum(o[3] for o in outs),
            "errors": sum(o[4] for o in outs), "missed": sum(o[5] for o in outs)}


def workload_c(mp, client, sock, cfg):
    res = {}
    for size_label, size in C_SIZES.items():
        for i, method in enumerate(C_METHODS):
            res[(size_label, method)] = c_session(method, size, mp, client, sock,
                                                  f"{size}.{i}", cfg)
        print(f"C {size_label}: done at {time.monotonic() - T0:.0f} s", file=sys.stderr,
              flush=True)
    return res


def report_c(res, cfg):
    lines = [f"### C. Latest frame: 1 producer -> {C_CONSUMERS} consumers", "",
             f"Fixed rate: {cfg['c_rate']} frames/s for {cfg['c_fixed_s']} s; flat out: "
             f"{cfg['c_flat_s']} s. Latencies in µs from the publish time in the header "
             "(taken just before the publish) to the consumer's wait returning (wake) and "
             "to its copy being made (delivered), p50 / p99 over the 3 consumers; "
             "delivered/s: the frames a consumer copied, median of the 3 (min).", ""]
    verdicts = []
    for size_label in C_SIZES:
        lines += [f"#### {size_label} frames", "",
                  "| way | fixed: wake p50 / p99 | fixed: delivered p50 / p99 | "
                  "fixed: frames seen | wake p50 vs floor | flat: published/s | "
                  "flat: delivered/s per consumer | flat: delivered p50 / p99 | "
                  "flat vs Condition | notes |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        floor_wake = None
        cond_rate = None
        stats = {}
        for method in C_METHODS:
            r = res[(size_label, method)]
            fixed = [rec[rec[:, 0] == 0] for rec in r["recs"]]
            flat = [rec[rec[:, 0] == 1] for rec in r["recs"]]
            fw = np.concatenate([f[:, 2] for f in fixed]).tolist()
            fd = np.concatenate([f[:, 3] for f in fixed]).tolist()
            ld = np.concatenate([f[:, 3] for f in flat]).tolist()
            seen = sum(len(f) for f in fixed) / (C_CONSUMERS * max(1, r["fixed_n"]))
            rates = [len(np.unique(f[:, 1])) / r["flat_s"] for f in flat]
            stats[method] = (median(fw), median(rates))
            if method == "pipe":
                floor_wake = median(fw)
            if method == "cond":
                cond_rate = median(rates)
            notes = []
            if r["torn"]:
                notes.append(f"{r['torn']} torn at release")
            if r["errors"]:
                notes.append(f"{r['errors']} snapshots failed")
            if r["missed"]:
                notes.append(f"{r['missed']} missed")
            flat_vs = "" if method == "pipe" or not cond_rate else \
                f"{median(rates) / cond_rate:.2f}x"
            lines.append(
                f"| {C_LABELS[method]} | {pct(fw, 50) / 1e3:.1f} / {pct(fw, 99) / 1e3:.1f} | "
                f"{pct(fd, 50) / 1e3:.1f} / {pct(fd, 99) / 1e3:.1f} | {100 * seen:.1f}% | "
                f"{median(fw) / floor_wake:.2f}x | {r['flat_n'] / r['flat_s']:,.0f} | "
                f"{median(rates):,.0f} ({min(rates):,.0f}) | "
                f"{pct(ld, 50) / 1e3:.1f} / {pct(ld, 99) / 1e3:.1f} | {flat_vs} | "
                f"{'; '.join(notes)} |")
        lines.append("")
        for method in ("tshm-seg", "tshm-stream"):
            w, rate = stats[method]
            cw, cr = stats["cond"]
            verdicts.append(f"- C {size_label}, {C_LABELS[method]}: flat-out delivered/s "
                            f"{rate / cr:.2f}x Condition's, fixed-rate wake p50 "
                            f"{cw / w:.2f}x faster; target >= 2x: "
                            f"{'met' if rate / cr >= 2 else 'MISSED'}.")
    return lines, verdicts


# ---------------------------------------------------------------------------

CONFIGS = {
    "full": {"warmup": 1, "a_n": {"small": 2000, "large": 60}, "a_runs": 5, "b_runs": 5,
             "c_rate": 200, "c_fixed_s": 2.0, "c_flat_s": 2.0, "c_pause": 0.2},
    "quick": {"warmup": 0, "a_n": {"small": 200, "large": 6}, "a_runs": 1, "b_runs": 1,
              "c_rate": 200, "c_fixed_s": 0.3, "c_flat_s": 0.2, "c_pause": 0.05},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    ap.add_argument("--only", default="a,b,c", help="which workloads: a, b, c, comma separated")
    add_shm_dir_args(ap)
    ap.add_argument("--markdown", help="also write the tables to this file")
    args = ap.parse_args()
    only = set(args.only.split(","))
    cfg = CONFIGS["quick" if args.quick else "full"]
    build = os.path.abspath(args.build)
    moddir = os.path.join(build, "client", "python")
    sys.path.insert(0, moddir)
    os.environ["PYTHONPATH"] = moddir + os.pathsep + os.environ.get("PYTHONPATH", "")
    import torch
    import torch.multiprocessing as tmp

    import tshm

    torch.set_num_threads(1)
    quiet_readonly()
    mp = tmp.get_context("spawn")
    shm = ShmDir(args.shm_dir, args.huge)
    lines = [f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC on {machine()}; "
             f"build `{os.path.basename(build)}`; {'--quick' if args.quick else 'full run'}; "
             f"tshm segments in {shm.describe()}; every process started with spawn, "
             "torch.set_num_threads(1) in each.", ""]
    print(lines[0], flush=True)
    verdicts = []
    d = Daemon(os.path.join(build, "daemon", "tshmd"), shm_dir=shm.path)
    try:
        client = tshm.connect(d.socket)
        if "a" in only:
            ln, v = report_a(workload_a(torch, mp, d.socket, client, cfg), cfg)
            lines += ln
            verdicts += v
            print("\n".join(ln), flush=True)
        if "b" in only:
            ln, v = report_b(workload_b(torch, tshm, mp, d, cfg), cfg)
            lines += ln
            verdicts += v
            print("\n".join(ln), flush=True)
        if "c" in only:
            ln, v = report_c(workload_c(mp, client, d.socket, cfg), cfg)
            lines += ln
            verdicts += v
            print("\n".join(ln), flush=True)
        client.close()
    finally:
        d.stop()
        shm.close()
    tail = ["Targets (medians):"] + verdicts + ["",
                                                f"Whole run: {time.monotonic() - T0:.0f} s."]
    print("\n".join(tail))
    lines += tail
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
