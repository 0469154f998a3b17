"""Publishing a model's state (issue 12): 17 torch tensors of mixed dtypes and
shapes, one segment each, read by 4 other processes, as
bench/python/bench_model.py does it, checked for what users rely on: every
reader sees exactly the producer's bytes, sees the producer's later writes
(the memory is shared, not copied), and nothing is left once the segments
are unlinked. Not timed."""

import glob
import hashlib
import json

import numpy as np
import pytest

from conftest import spawn

torch = pytest.importorskip("torch")

READERS = 4

# What a model's state_dict holds beside float32 weights: half-precision
# copies, buffers (int64 counters and ids, float64 statistics, a bool mask),
# quantised weights, a 0-d counter, and one tensor of 8 MiB.
STATE = [
    ("embed.weight", torch.float32, (1000, 64)),
    ("embed.weight_fp16", torch.float16, (300, 64)),
    ("attn.qkv.weight", torch.bfloat16, (192, 64)),
    ("attn.qkv.bias", torch.bfloat16, (192,)),
    ("ln.weight", torch.float32, (64,)),
    ("ln.bias", torch.float32, (64,)),
    ("bn.running_mean", torch.float64, (64,)),
    ("bn.running_var", torch.float64, (64,)),
    ("bn.num_batches_tracked", torch.int64, ()),
    ("position_ids", torch.int64, (1, 512)),
    ("attn.mask", torch.bool, (512, 512)),
    ("quant.weight", torch.int8, (128, 64)),
    ("quant.zero_point", torch.uint8, (128,)),
    ("quant.scale", torch.float32, (128, 1)),
    ("rotary.freqs", torch.complex64, (256, 32)),
    ("counts", torch.int16, (3, 5, 7)),
    ("head.weight", torch.float32, (2048, 1024)),
]

READER = """
import hashlib, json
c = tshm.connect()
names = sys.stdin.readline().split()
segs = [c.open(n) for n in names]
arrays = [s.numpy(bfloat16_as_uint16=s.dtype_name == "bfloat16") for s in segs]
print("meta " + json.dumps([[s.dtype_name, list(s.shape), s.writable] for s in segs]))
def sums():
    print("sums " + " ".join(hashlib.sha256(a.tobytes()).hexdigest() for a in arrays))
sums()
sys.stdin.readline()
sums()  # the same arrays: no second open
sys.stdin.readline()
del arrays
for s in segs:
    s.close()
c.close()
print("closed")
"""


def make_state():
    g = torch.Generator().manual_seed(12)
    state = {}
    for name, dtype, shape in STATE:
        if dtype == torch.bool:
            t = torch.rand(shape, generator=g) < 0.5
        elif dtype.is_complex:
            t = torch.randn(shape, generator=g, dtype=dtype)
        elif dtype.is_floating_point:
            t = torch.randn(shape, generator=g).to(dtype)
        else:
            t = torch.randint(-100 if dtype != torch.uint8 else 0, 100, shape, generator=g,
                              dtype=dtype)
        state[name] = t
    return state


def raw(t):
    """The tensor's bytes, as a segment of its dtype holds them."""
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.contiguous().numpy().tobytes()


def publish(client, prefix, state):
    """One segment per tensor, as bench_model.py publishes: from_numpy() of
    the tensor's numpy view; bfloat16, which numpy lacks, created with the
    torch dtype and filled through .torch(). Returns the producer's
    (writable) segments."""
    segs = []
    for name, t in state.items():
        if t.dtype == torch.bfloat16:
            seg = client.create(f"{prefix}{name}", tuple(t.shape), t.dtype)
            seg.torch().copy_(t)
        else:
            seg = client.from_numpy(f"{prefix}{name}", t.numpy())
        assert seg.writable
        segs.append(seg)
    return segs


def test_model_state_to_four_readers(fresh_daemon):
    daemon = fresh_daemon
    client = daemon.client()
    state = make_state()
    assert len(state) == 17
    prefix = "model."
    segs = publish(client, prefix, state)
    names = [f"{prefix}{n}" for n in state]
    # The daemon's segment files, wherever the fixture puts them.
    files = f"{getattr(daemon, 'shm_dir', None) or '/dev/shm'}/{daemon.prefix}.*"
    assert len(glob.glob(files)) == 17
    want_meta = [[s.dtype_name, list(t.shape), False] for s, t in zip(segs, state.values())]
    assert [m[0] for m in want_meta] == [str(t.dtype)[6:] for t in state.values()]
    want = [hashlib.sha256(raw(t)).hexdigest() for t in state.values()]

    readers = [spawn(READER, daemon) for _ in range(READERS)]
    for r in readers:
        r.send(" ".join(names))
    for r in readers:
        assert json.loads(r.expect("meta ")) == want_meta
        assert r.expect("sums ").split() == want

    # Zero-copy: flip a bit in the first and the last byte of every
    # segment through the producer's own views; readers look again at the
    # arrays they already hold.
    after = []
    for seg, t in zip(segs, state.values()):
        b = seg.numpy(bfloat16_as_uint16=seg.dtype_name == "bfloat16").reshape(-1).view(np.uint8)
        b[0] ^= 1
        b[-1] ^= 1
        expect = bytearray(raw(t))
        expect[0] ^= 1
        expect[-1] ^= 1
        after.append(hashlib.sha256(bytes(expect)).hexdigest())
    del b  # a view keeps its mapping (and the daemon's open) alive
    assert after != want
    for r in readers:
        r.send("again")
    for r in readers:
        assert r.expect("sums ").split() == after

    st = client.daemon_stat()
    assert st["segments"] == 17 and st["opens"] == 17 * (READERS + 1)
    for r in readers:
        r.send("close")
    for r in readers:
        r.expect("closed")
        r.finish()
    for seg, name in zip(segs, names):
        seg.close()
        client.unlink(name)
    assert [s["name"] for s in client.list()] == []
    st = client.daemon_stat()
    assert (st["segments"], st["bytes"], st["opens"]) == (0, 0, 0)
    assert glob.glob(files) == []
    client.close()
