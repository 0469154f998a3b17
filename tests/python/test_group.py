"""Tensor groups from Python: tshm.Group (Client.group_create/group_open),
tshm.save_state_dict / load_state_dict / save_arrays / load_arrays, and
tshm.torch.assign_state_dict. A group is invisible until published, a writer
that dies first leaves nothing, loads are zero-copy, and read-only loads give
copy-on-write tensors that no in-place op can crash or leak through."""

import gc
import json
import os
import pickle
import signal
import sys
import time

import numpy as np
import pytest

import sharework
import tshm
from conftest import python, shm_mapped, spawn

torch = pytest.importorskip("torch")
import tshm.torch  # noqa: E402
import torch.multiprocessing as tmp  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")

TORCH_DTYPES = [torch.bool, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8,
                torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64,
                torch.complex128]
NUMPY_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128"]


def sample(dtype, shape, seed):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_complex:
        return torch.randn(shape, dtype=dtype, generator=g)
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=g) * 100).to(dtype)
    lo = 0 if dtype == torch.uint8 else -100
    return torch.randint(lo, 100, shape, generator=g, dtype=dtype)


def test_every_torch_dtype_round_trips(client, name):
    sd = {}
    for i, dt in enumerate(TORCH_DTYPES):
        sd[f"t{i}.{str(dt)[6:]}"] = sample(dt, (3, 5), i)
        sd[f"scalar.{str(dt)[6:]}"] = sample(dt, (), 100 + i)
        sd[f"empty.{str(dt)[6:]}"] = sample(dt, (0, 4), 200 + i)
    g = tshm.save_state_dict(name, sd, client=client)
    assert g.published and g.writable and len(g) == len(sd) and g.keys() == list(sd)
    other = tshm.connect(client.socket)
    got = tshm.load_state_dict(name, client=other)
    assert list(got) == list(sd)
    for k, t in sd.items():
        assert got[k].dtype == t.dtype and got[k].shape == t.shape, k
        assert torch.equal(got[k], t), k
        assert got[k].is_contiguous()
    # numpy sees the same bytes, bfloat16 aside.
    arrays = tshm.load_arrays
    with pytest.raises(TypeError, match="bfloat16"):
        arrays(name, client=other)
    r = other.group_open(name)
    for k, t in sd.items():
        if t.dtype != torch.bfloat16:
            np.testing.assert_array_equal(r.array(k), t.numpy())
    assert r.array("t7.bfloat16", bfloat16_as_uint16=True).dtype == np.uint16
    with pytest.raises(tshm.DtypeError, match="bfloat16"):
        r.array("t7.bfloat16")
    info = client.stat(name)
    assert info["kind"] == "group" and info["tensors"] == len(sd)
    assert info["nbytes"] == g.nbytes
    g.close()
    client.unlink(name)
    other.close()


def test_every_numpy_dtype_round_trips(client, name):
    arrays = {}
    for i, dt in enumerate(NUMPY_DTYPES):
        a = (np.arange(24) * (i + 1) - 7).astype(dt).reshape(2, 3, 4)
        arrays[f"a.{dt}"] = a.transpose(2, 0, 1)[:, ::-1]  # strided input
        arrays[f"s.{dt}"] = np.array(3, dtype=dt)
        arrays[f"e.{dt}"] = np.zeros((5, 0), dtype=dt)
    g = tshm.save_arrays(name, arrays, client=client, metadata={"k": "v"})
    got = tshm.load_arrays(name, client=client)
    assert list(got) == list(arrays)
    for k, a in arrays.items():
        assert got[k].dtype == a.dtype and got[k].shape == a.shape, k
        np.testing.assert_array_equal(got[k], a)
        assert got[k].flags.c_contiguous and not got[k].flags.writeable
        with pytest.raises(ValueError):
            got[k].flags.writeable = True
    # A writable load writes through to every reader.
    w = tshm.load_arrays(name, client=client, writable=True)
    w["a.int32"][0, 0, 0] = 12345
    assert got["a.int32"][0, 0, 0] == 12345
    # torch has no uint16/32/64: load_state_dict says so.
    with pytest.raises(tshm.DtypeError, match="uint16, which this torch has no dtype for: use g.array"):
        tshm.load_state_dict(name, client=client)
    assert tshm.group_metadata(name, client=client) == {"k": "v"}
    g.close()
    client.unlink(name)


def test_strided_and_odd_tensors_are_copied_contiguous(client, name):
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    sd = {"transposed": base.transpose(0, 2), "sliced": base[:, 1:3, ::2],
          "expanded": torch.ones(3).expand(4, 3), "conj": torch.tensor([1 + 2j]).conj(),
          "grad": torch.ones(2, requires_grad=True) * 2}
    g = tshm.save_state_dict(name, sd, client=client)
    got = tshm.load_state_dict(name, client=client)
    for k, t in sd.items():
        assert torch.equal(got[k], t.detach().resolve_conj()), k
        assert got[k].is_contiguous() and not got[k].requires_grad
    g.close()
    client.unlink(name)


def test_names_keep_order_and_any_characters(client, name):
    names = ["z.last/first", "a b  c", "läyer.0/wéight", "日本語", "x.y.z", "/", ".", "0", "ü" * 300,
             "emoji 🦀 name", "tab\tand\nnewline"]
    g = tshm.save_arrays(name, {n: np.full(2, i, "int16") for i, n in enumerate(names)},
                         client=client)
    r = client.group_open(name)
    assert r.keys() == names and list(r) == names and len(r) == len(names)
    for i, n in enumerate(names):
        assert n in r and r.array(n).tolist() == [i, i]
        assert n.encode() in r  # bytes name the same tensor
    assert "zz" not in r and "a b c" not in r and "nul\0" not in r and 5 not in r
    with pytest.raises(KeyError):
        r.array("missing")
    with pytest.raises(KeyError):
        r.torch("a b")
    with pytest.raises(tshm.InvalidError):
        client.group_create(name + "x", [("a", "int8", 1), ("a", "int8", 2)])
    with pytest.raises(tshm.InvalidError):
        client.group_create(name + "x", [("bad\0name", "int8", 1)])
    with pytest.raises(tshm.InvalidError):
        client.group_create(name + "x", [("", "int8", 1)])
    with pytest.raises(tshm.InvalidError):
        client.group_create(name + "x", [("long", "int8", 1), ("n" * 1025, "int8", 1)])
    assert not [s for s in client.list() if s["name"] == name + "x"]
    r.close()
    g.close()
    client.unlink(name)


def test_ten_thousand_tensors(client, name):
    n = 10_000
    sd = {f"layers.{i}.weight": torch.full((i % 7 + 1,), float(i)) for i in range(n)}
    t0 = time.perf_counter()
    g = tshm.save_state_dict(name, sd, client=client)
    t1 = time.perf_counter()
    got = tshm.load_state_dict(name, client=client)
    t2 = time.perf_counter()
    print(f"\n10,000 tensors: save {t1 - t0:.3f} s, load {t2 - t1:.3f} s", file=sys.stderr)
    assert len(got) == n and list(got) == list(sd)
    for i in (0, 1, 4999, 9999):
        k = f"layers.{i}.weight"
        assert torch.equal(got[k], sd[k])
    assert client.stat(name)["tensors"] == n
    g.close()
    client.unlink(name)


def test_half_written_group_is_invisible(daemon, client, name):
    g = client.group_create(name, [("w", "float32", (4, PAGE)), ("b", "int64", 3)])
    assert not g.published and g.writable
    g.array("w")[:2] = 1.5
    other = daemon.client()
    with pytest.raises(tshm.NotFoundError):
        other.group_open(name)
    with pytest.raises(tshm.NotFoundError):
        other.open(name)
    with pytest.raises(tshm.NotFoundError):
        other.stat(name)
    with pytest.raises(tshm.NotFoundError):
        tshm.load_state_dict(name, client=other)
    assert name not in [s["name"] for s in other.list()]
    # The name is taken, though.
    with pytest.raises(tshm.ExistsError):
        other.group_create(name, [("x", "int8", 1)])
    with pytest.raises(tshm.ExistsError):
        other.create(name, 1)
    g.torch("b")[:] = torch.tensor([1, 2, 3])
    g.publish()
    assert g.published
    with pytest.raises(tshm.InvalidError, match="published already"):
        g.publish()
    assert [s["kind"] for s in other.list() if s["name"] == name] == ["group"]
    got = tshm.load_state_dict(name, client=other)
    assert got["b"].tolist() == [1, 2, 3] and float(got["w"][1, 0]) == 1.5
    assert float(got["w"][2, 0]) == 0.0
    with pytest.raises(tshm.InvalidError, match="published already"):
        other.group_open(name).publish()
    # A plain open of a group gives its bytes.
    seg = other.open(name)
    assert seg.dtype == np.uint8 and seg.shape == (g.nbytes,)
    assert g.segment.shape == (g.nbytes,) and g.segment.writable
    g.close()
    client.unlink(name)
    other.close()


def test_unpublished_group_goes_with_its_last_view(daemon, client, name):
    g = client.group_create(name, [("a", "int32", 8)])
    a = g.array("a")
    g.close()
    with pytest.raises(tshm.ClosedError):
        g.array("a")
    a[:] = 3  # the view still works
    with pytest.raises(tshm.ExistsError):
        client.group_create(name, [("x", "int8", 1)])
    del a
    gc.collect()
    # Closing the last hold removed the unpublished group: the name is free.
    g2 = client.group_create(name, [("x", "int8", 1)])
    g2.close()


def test_failed_save_leaves_nothing(client, name):
    sd = {"ok": torch.ones(3), "bad": torch.empty(3, device="meta"), "after": torch.ones(2)}
    with pytest.raises((RuntimeError, NotImplementedError)):
        tshm.save_state_dict(name, sd, client=client)
    assert name not in [s["name"] for s in client.list()]
    # The name is free again at once.
    tshm.save_state_dict(name, {"ok": torch.ones(3)}, client=client).close()
    with pytest.raises(tshm.ExistsError):
        tshm.save_state_dict(name, {"ok": torch.ones(3)}, client=client)
    client.unlink(name)
    with pytest.raises(TypeError, match="sparse|dense"):
        tshm.save_state_dict(name, {"s": torch.eye(2).to_sparse()}, client=client)
    with pytest.raises(TypeError, match="str"):
        tshm.save_state_dict(name, {1: torch.ones(1)}, client=client)
    with pytest.raises(TypeError, match="metadata"):
        tshm.save_state_dict(name, {"a": torch.ones(1)}, client=client, metadata={"a": 1})
    with pytest.raises(tshm.InvalidError):
        tshm.save_arrays(name, {"o": np.array([object()])}, client=client)
    assert name not in [s["name"] for s in client.list()]


def test_kill_9_mid_fill_leaves_nothing(fresh_daemon, name):
    client = fresh_daemon.client()
    # save_state_dict, stopped after its first tensor (its copy loop made
    # slow), is killed there.
    child = spawn(f"""
        import torch
        import tshm._group as tg
        fill = tg._fill
        def slow_fill(group, names, sources):
            fill(group, names[:1], sources[:1])
            print("filling", flush=True)
            time.sleep(600)
        tg._fill = slow_fill
        tshm.save_state_dict({name!r}, {{"w%d" % i: torch.ones(256, 1024) for i in range(8)}})
    """, fresh_daemon)
    assert child.expect() == "filling"
    objects = [f for f in os.listdir("/dev/shm") if f.startswith(fresh_daemon.prefix + ".")]
    assert objects  # the group's, unpublished
    assert name not in [s["name"] for s in client.list()]
    os.kill(child.proc.pid, signal.SIGKILL)
    child.proc.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [f for f in os.listdir("/dev/shm") if f.startswith(fresh_daemon.prefix + ".")]
        if not left:
            break
        time.sleep(0.05)
    assert not left
    assert client.list() == [] and client.daemon_stat()["segments"] == 0
    # The name is free.
    tshm.save_arrays(name, {"a": np.ones(2)}, client=client).close()
    client.unlink(name)
    client.close()


def test_spawn_worker_sees_the_owners_writes(daemon, client, name):
    sd = {"w": torch.zeros(3, PAGE // 4), "b": torch.arange(4.0)}
    g = tshm.save_state_dict(name, sd, client=client)
    mine = {k: g.torch(k) for k in g.keys()}
    ctx = tmp.get_context("spawn")
    outq, go = ctx.Queue(), ctx.Event()
    p = ctx.Process(target=sharework.group_load_and_watch, args=(daemon.socket, name, outq, go))
    p.start()
    sums, origins = outq.get(timeout=120)
    assert sums == {"w": 0.0, "b": 6.0}
    assert origins["w"][0] == name and origins["w"][1:] == (False, g.torch("w").data_ptr()
                                                            - g.segment.numpy().ctypes.data)
    mine["w"][1] = 2.0  # the owner writes; the worker's read-only view follows
    mine["b"].mul_(10)
    go.set()
    assert outq.get(timeout=60) == {"w": 2.0 * (PAGE // 4), "b": 60.0}
    p.join(60)
    assert p.exitcode == 0
    g.close()
    client.unlink(name)


def test_group_tensors_cross_torch_queues_as_references(daemon, client, name):
    g = tshm.save_state_dict(name, {"pad": torch.zeros(3), "x": torch.zeros(4, 8)},
                             client=client)
    loaded = tshm.load_state_dict(name, client=client, writable=True)
    x = loaded["x"]
    origin = tshm.tensor_origin(x[1:3])
    assert origin is not None and origin.name == name and origin.writable
    assert origin.offset == g.torch("x").data_ptr() - g.segment.numpy().ctypes.data + 32
    ro = tshm.load_state_dict(name, client=client)["x"]
    assert tshm.tensor_origin(ro)[1:3] == (name, False)
    ctx = tmp.get_context("spawn")
    inq, outq, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    p = ctx.Process(target=sharework.queue_receiver, args=(inq, outq, go))
    p.start()
    inq.put(x[1:3])
    inq.put(torch.arange(3.0))
    shared, shape, other, not_tshm = outq.get(timeout=60)
    assert shared and tuple(shape) == (2, 8)
    # The receiver's write is in the group.
    a = g.array("x")
    assert (a[1:3] == 7).all() and (a[0] == 0).all() and (a[3] == 0).all()
    a[2, 0] = -5
    go.set()
    got = outq.get(timeout=60)
    assert got[1][0] == -5.0 and got[0][0] == 7.0
    p.join(60)
    assert p.exitcode == 0
    # The Group itself pickles as what opens it again.
    g2 = pickle.loads(pickle.dumps(g))
    assert g2.name == name and g2.writable and g2.keys() == ["pad", "x"]
    g.close()
    g2.close()
    client.unlink(name)


def test_read_only_tensors_copy_on_write_in_a_child(daemon, client, name):
    n = 6 * PAGE // 4  # "w" starts past the table of contents, not on a page
    g = tshm.save_state_dict(name, {"w": torch.ones(n), "b": torch.ones(3, dtype=torch.bfloat16),
                                    "m": torch.zeros(2, dtype=torch.bool)}, client=client)
    other = tshm.load_state_dict(name, client=client)  # another reader, in this process
    child = spawn(f"""
        import torch
        sd = tshm.load_state_dict({name!r})
        t = sd["w"]
        q = {PAGE // 4}
        t[:q].add_(1); t[:q].mul_(3); t[5] = -1; t[q:2 * q].zero_()
        sd["b"].add_(2); sd["m"].logical_not_()
        print('ops', float(t[0]), float(t[5]), float(t[q]), float(sd["b"][0]),
              bool(sd["m"][0]), flush=True)
        input()
        print('after', float(t[0]), float(t[q]), float(t[4 * q]), float(t[5 * q]), flush=True)
    """, daemon)
    assert child.expect("ops ") == "6.0 -1.0 0.0 3.0 True"
    # The group and every other reader are unchanged.
    assert (g.array("w") == 1).all() and (other["w"] == 1).all()
    assert (other["b"] == 1).all() and not other["m"].any()
    g.torch("w")[:] = 9  # the owner writes every page
    child.send("")
    # Pages the child wrote are its own now; the others follow the owner.
    assert child.expect("after ") == "6.0 0.0 9.0 9.0"
    child.finish()
    # In-place ops here, on the other reader's tensors, stay here too.
    other["w"].fill_(-3)
    assert (g.array("w") == 9).all()
    assert (tshm.load_state_dict(name, client=client)["w"] == 9).all()
    g.close()
    client.unlink(name)


def test_views_outlive_group_and_client(daemon, name):
    c = daemon.client()
    tshm.save_arrays(name, {"a": np.arange(5)}, client=c).close()
    sd = tshm.load_state_dict(name, client=c)
    arr = tshm.load_arrays(name, client=c)
    g = c.group_open(name)
    t = g.torch("a")
    del g
    c.unlink(name)
    c.close()
    gc.collect()
    assert t.tolist() == [0, 1, 2, 3, 4] and sd["a"].tolist() == [0, 1, 2, 3, 4]
    assert arr["a"].tolist() == [0, 1, 2, 3, 4]


def test_ephemeral_group_lives_as_long_as_its_client(daemon, client, name):
    c = daemon.client()
    g = tshm.save_state_dict(name, {"a": torch.ones(2)}, client=c, ephemeral=True)
    assert tshm.load_state_dict(name, client=client)["a"].tolist() == [1.0, 1.0]
    del g
    gc.collect()
    assert name in [s["name"] for s in client.list()]  # the client lives on
    c.close()
    deadline = time.monotonic() + 10
    while name in [s["name"] for s in client.list()] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert name not in [s["name"] for s in client.list()]


def test_default_client_and_metadata(daemon, name):
    res = python(f"""
        import json, torch
        g = tshm.save_state_dict({name!r}, {{"a": torch.ones(2)}}, metadata={{"fmt": "pt", "ü": "ß"}},
                                 mode=0o640)
        print(json.loads(g.metadata))
        print(tshm.group_metadata({name!r}))
        print(tshm.load_state_dict({name!r})["a"].tolist())
        print(tshm.stat({name!r})["mode"])
        print(tshm.group_open({name!r}).keys())
        g2 = tshm.save_arrays({name!r} + "n", {{"b": [1, 2]}})
        print(tshm.group_metadata({name!r} + "n"), g2.metadata)
        tshm.unlink({name!r}); tshm.unlink({name!r} + "n")
    """, daemon)
    lines = res.stdout.splitlines()
    assert lines[0] == str({"__metadata__": {"fmt": "pt", "ü": "ß"}})
    assert lines[1] == str({"fmt": "pt", "ü": "ß"})
    assert lines[2] == "[1.0, 1.0]" and lines[3] == "0640" and lines[4] == "['a']"
    assert lines[5] == "None None"


def test_metadata_that_is_not_tshm_json(client, name):
    g = client.group_create(name, [], metadata="not json")
    g.publish()
    assert client.group_open(name).metadata == b"not json"
    assert tshm.group_metadata(name, client=client) is None
    assert len(client.group_open(name)) == 0 and tshm.load_state_dict(name, client=client) == {}
    client.unlink(name)
    g = client.group_create(name, [], metadata=json.dumps({"w": {"dtype": "F32"}}).encode())
    g.publish()
    assert tshm.group_metadata(name, client=client) is None
    client.unlink(name)


def test_errors_map_to_tshm_exceptions(daemon, client, name):
    with pytest.raises(tshm.NotFoundError):
        client.group_open(name)
    with pytest.raises(tshm.NotFoundError):
        tshm.load_state_dict(name, client=client)
    client.create(name, 4)
    with pytest.raises(tshm.InvalidError, match="not a tensor group"):
        client.group_open(name)
    with pytest.raises(tshm.ExistsError):
        client.group_create(name, [("a", "int8", 1)])
    client.unlink(name)
    with pytest.raises(tshm.InvalidError):
        client.group_create("bad name", [("a", "int8", 1)])
    with pytest.raises(tshm.InvalidError):
        client.group_create(name, [("a", "float128", 1)])
    with pytest.raises(tshm.InvalidError):
        client.group_create(name, [("a", "int8", (-1,))])
    with pytest.raises(TypeError):
        client.group_create(name, [("a", "int8")])
    with pytest.raises(TypeError):
        client.group_create(name, 5)
    g = client.group_create(name, [("a", "int8", 1)], mode=0o600)
    g.publish()
    if os.getuid() == 0:  # a child as uid 65534 may not open root's 0600 group
        res = python(f"""
            os.setgid(65534); os.setuid(65534)
            try:
                tshm.group_open({name!r})
            except tshm.PermissionDeniedError:
                print("denied")
        """, daemon)
        assert res.stdout.strip() == "denied"
    g.close()
    with pytest.raises(tshm.ClosedError):
        g.torch("a")
    with pytest.raises(tshm.ClosedError):
        g.publish()
    assert g.keys() == ["a"] and "a" in g and g.closed  # the names stay readable
    client.unlink(name)


def test_assign_state_dict_shares_the_groups_storage(client, name):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.ReLU(), torch.nn.Linear(4, 2))
    model.train()
    for _ in range(3):
        model(torch.randn(8, 6))  # running stats move
    model.eval()
    g = tshm.save_state_dict(name, model.state_dict(), client=client)
    torch.manual_seed(1)
    fresh = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4),
                                torch.nn.ReLU(), torch.nn.Linear(4, 2)).eval()
    x = torch.randn(5, 6)
    assert not torch.equal(fresh(x), model(x))
    sd = tshm.load_state_dict(name, client=client)
    res = tshm.torch.assign_state_dict(fresh, sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    for k, v in fresh.state_dict(keep_vars=True).items():
        assert v.data_ptr() == sd[k].data_ptr(), k
    assert isinstance(fresh[0].weight, torch.nn.Parameter) and not fresh[0].weight.requires_grad
    assert fresh[1].running_mean.data_ptr() == sd["1.running_mean"].data_ptr()
    assert "1.num_batches_tracked" in sd and int(fresh[1].num_batches_tracked) == 3
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    # The weights live in the group: a writable load's write shows in the model.
    tshm.load_state_dict(name, client=client, writable=True)["3.bias"].fill_(100.0)
    assert (fresh[3].bias == 100).all()
    g.close()
    client.unlink(name)


def test_a_close_racing_torch_leaves_no_mapping_held(client, name):
    # One thread makes a read-only group's first tensor (its copy-on-write
    # mapping, made with the GIL released) while another closes the group:
    # once the tensors are gone, the closed group holds no open either way.
    import threading
    g = tshm.save_arrays(name, {"a": np.ones(2 << 20, np.float32)}, client=client)
    base = client.stat(name)["opens"]
    for _ in range(30):
        r = client.group_open(name)
        got = []

        def take():
            try:
                got.append(r.torch("a"))
            except tshm.ClosedError:
                got.append(None)  # closed first: nothing made

        t = threading.Thread(target=take)
        t.start()
        r.close()
        t.join()
        assert len(got) == 1 and (got[0] is None or float(got[0][0]) == 1.0)
        got.clear()
        assert client.stat(name)["opens"] == base
        del r
    g.close()
    client.unlink(name)


def test_assign_state_dict_keeps_tied_weights_tied(client, name):
    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Linear(4, 4, bias=False)
            self.head = torch.nn.Linear(4, 4, bias=False)
            self.head.weight = self.emb.weight  # one Parameter, two keys

    torch.manual_seed(0)
    model = Tied()
    tshm.save_state_dict(name, model.state_dict(), client=client)
    fresh = Tied()
    sd = tshm.load_state_dict(name, client=client)
    tshm.torch.assign_state_dict(fresh, sd)
    # As torch's load_state_dict leaves them: one object, under both names.
    assert fresh.head.weight is fresh.emb.weight
    assert fresh.emb.weight.data_ptr() == sd["emb.weight"].data_ptr()
    assert len(list(fresh.parameters())) == 1
    assert torch.equal(fresh.head.weight, model.head.weight)
    client.unlink(name)


def test_assign_state_dict_errors(client, name):
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    before = {k: v.data_ptr() for k, v in m.state_dict().items()}
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    del sd["0.bias"]
    sd["extra.weight"] = torch.ones(1)
    with pytest.raises(RuntimeError) as e:
        tshm.torch.assign_state_dict(m, sd)
    assert 'Missing key(s) in state_dict: "0.bias"' in str(e.value)
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in str(e.value)
    assert {k: v.data_ptr() for k, v in m.state_dict().items()} == before  # nothing assigned
    res = tshm.torch.assign_state_dict(m, sd, strict=False)
    assert res.missing_keys == ["0.bias"] and res.unexpected_keys == ["extra.weight"]
    assert m[0].weight.data_ptr() == sd["0.weight"].data_ptr()
    bad = {k: v.clone() for k, v in m.state_dict().items()}
    bad["0.weight"] = torch.ones(2, 4)
    bad["1.running_var"] = torch.ones(2, dtype=torch.float64)
    with pytest.raises(RuntimeError) as e:
        tshm.torch.assign_state_dict(m, bad, strict=False)
    msg = str(e.value)
    assert "size mismatch for 0.weight" in msg and "dtype mismatch for 1.running_var" in msg
    assert m[0].bias.data_ptr() != bad["0.bias"].data_ptr()  # nothing assigned
    with pytest.raises(RuntimeError, match="not a tensor"):
        tshm.torch.assign_state_dict(m, dict(bad, **{"0.weight": [1.0]}), strict=False)


def test_no_mapping_or_descriptor_left_behind(daemon, client, name):
    g = tshm.save_state_dict(name, {"a": torch.ones(1000), "b": torch.zeros(3, 3)}, client=client)
    g.close()
    gc.collect()
    maps0, fds0 = shm_mapped(daemon.prefix), len(os.listdir("/proc/self/fd"))
    opens0 = client.stat(name)["opens"]
    for _ in range(50):
        sd = tshm.load_state_dict(name, client=client)
        sd["a"].add_(1)  # a private page
        arr = tshm.load_arrays(name, client=client)
        with client.group_open(name) as r:
            seg = r.segment
            t = r.torch("b")
        assert shm_mapped(daemon.prefix) > maps0
        del sd, arr, seg, t, r
    gc.collect()
    assert shm_mapped(daemon.prefix) == maps0
    assert len(os.listdir("/proc/self/fd")) == fds0
    assert client.stat(name)["opens"] == opens0
    client.unlink(name)
