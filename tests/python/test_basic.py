"""The Client and Segment surface: attributes, list/stat/daemon_stat, context
managers, the module-level functions, and help()."""

import json
import os
import pydoc
import subprocess

import numpy as np
import pytest

import tshm
from conftest import TSHM_CLI, native_env, python


def test_connect_gives_a_client_with_its_socket(daemon):
    with tshm.connect(daemon.socket) as c:
        assert isinstance(c, tshm.Client)
        assert c.socket == daemon.socket
        assert not c.closed
        assert daemon.socket in repr(c)
    assert c.closed
    assert "closed" in repr(c)


def test_connect_takes_a_pathlike(daemon):
    import pathlib

    with tshm.connect(pathlib.Path(daemon.socket)) as c:
        assert c.socket == daemon.socket


def test_connect_uses_tshm_socket_from_the_environment(daemon, monkeypatch):
    monkeypatch.setenv("TSHM_SOCKET", daemon.socket)
    with tshm.connect() as c:
        assert c.socket == daemon.socket


def test_client_and_segment_cannot_be_instantiated_directly():
    with pytest.raises(TypeError):
        tshm.Client()
    with pytest.raises(TypeError):
        tshm.Segment()


def test_create_describes_the_segment(client, name):
    seg = client.create(name, (3, 4), "float32")
    assert seg.name == name
    assert seg.dtype == np.dtype("float32")
    assert seg.dtype_name == "float32"
    assert seg.shape == (3, 4)
    assert seg.strides == (16, 4)
    assert seg.ndim == 2
    assert seg.itemsize == 4
    assert seg.nbytes == 48
    assert seg.writable is True
    assert seg.closed is False
    assert seg.seq == 0
    assert repr(seg) == f"<tshm.Segment {name!r} float32 (3, 4) rw>"
    assert (seg.numpy() == 0).all()  # zero-filled
    client.unlink(name)


def test_create_defaults_to_float32(client, name):
    seg = client.create(name, 5)
    assert seg.dtype == np.float32 and seg.shape == (5,)
    client.unlink(name)


@pytest.mark.parametrize("shape,expect", [(7, (7,)), ((2, 3), (2, 3)), ([2, 3], (2, 3)),
                                          ("2x3", (2, 3)), ("2,3", (2, 3)), ((), ()),
                                          ("scalar", ()), (np.int64(4), (4,)),
                                          ((np.int32(2), 5), (2, 5))])
def test_shape_spellings(client, name, shape, expect):
    seg = client.create(name, shape, "int8")
    assert seg.shape == expect
    client.unlink(name)


@pytest.mark.parametrize("dtype,expect", [
    ("float64", "float64"), ("<f8", "float64"), ("=i4", "int32"), ("|b1", "bool"),
    (np.float16, "float16"), (np.dtype("complex64"), "complex64"), (bool, "bool"),
    (np.uint64, "uint64"), ("bfloat16", "bfloat16"), ("double", "float64"),
])
def test_dtype_spellings(client, name, dtype, expect):
    seg = client.create(name, 2, dtype)
    assert seg.dtype_name == expect
    client.unlink(name)


def test_torch_dtypes_are_accepted(client, name):
    torch = pytest.importorskip("torch")
    for tdt, expect in [(torch.bfloat16, "bfloat16"), (torch.float32, "float32"),
                        (torch.bool, "bool"), (torch.complex128, "complex128"),
                        (torch.int16, "int16")]:
        seg = client.create(name, 2, tdt)
        assert seg.dtype_name == expect
        seg.close()
        client.unlink(name)


def test_open_is_read_only_by_default(client, name):
    client.create(name, 3)
    ro = client.open(name)
    rw = client.open(name, writable=True)
    assert ro.writable is False and rw.writable is True
    assert repr(ro).endswith(" ro>")
    client.unlink(name)


def test_mode_is_applied(client, name):
    client.create(name, 1, mode=0o640)
    assert client.stat(name)["mode"] == "0640"
    client.unlink(name)


def test_list_and_stat_have_the_keys_of_tshm_ls_json(client, name):
    seg = client.create(name, (2, 3), "int16", mode=0o644)
    entries = [e for e in client.list() if e["name"] == name]
    assert len(entries) == 1
    e = entries[0]
    assert set(e) == {"name", "dtype", "shape", "nbytes", "size", "owner", "group", "mode",
                      "opens", "created", "created_ns", "kind", "backing", "page_size"}
    assert e["backing"] == "tmpfs" and e["page_size"] == os.sysconf("SC_PAGESIZE")
    assert e["dtype"] == "int16" and e["shape"] == [2, 3] and e["nbytes"] == 12
    assert e["owner"] == os.getuid() and e["mode"] == "0644" and e["opens"] == 1
    assert e["size"] >= 12 and e["created"].endswith("Z") and e["created_ns"] > 0
    assert e["kind"] == "array"
    assert client.stat(name) == e
    seg.close()
    assert client.stat(name)["opens"] == 0
    client.unlink(name)


@pytest.mark.skipif(not TSHM_CLI or not os.access(TSHM_CLI or "", os.X_OK),
                    reason="TSHM_CLI (the tshm command) not given")
def test_list_equals_the_cli_json(daemon, client, name):
    client.create(name, (4,), "uint8").close()
    out = subprocess.run([TSHM_CLI, "--socket", daemon.socket, "ls", "--json"],
                         capture_output=True, text=True, check=True, env=native_env()).stdout
    assert json.loads(out) == client.list()
    client.unlink(name)


def test_daemon_stat_has_the_keys_of_tshm_stats_json(daemon, client):
    st = client.daemon_stat()
    assert set(st) == {"segments", "bytes", "max_bytes", "clients", "opens", "requests",
                       "uptime_s", "shm_free", "pid", "proto"}
    assert st["pid"] == daemon.proc.pid
    assert st["clients"] >= 1 and st["proto"] >= 1 and isinstance(st["uptime_s"], float)


def test_segment_context_manager_closes(client, name):
    with client.create(name, 3) as seg:
        assert not seg.closed
    assert seg.closed
    assert repr(seg).endswith(" closed>")
    # The description stays readable after close.
    assert seg.name == name and seg.shape == (3,) and seg.nbytes == 12
    client.unlink(name)


def test_from_numpy_copies_an_array(client, name):
    src = np.arange(24, dtype=np.int32).reshape(2, 3, 4)[:, ::2, 1:]  # not contiguous
    seg = client.from_numpy(name, src, mode=0o600)
    assert seg.shape == src.shape and seg.dtype == src.dtype and seg.writable
    np.testing.assert_array_equal(seg.numpy(), src)
    seg.close()
    np.testing.assert_array_equal(client.open(name).numpy(), src)
    client.unlink(name)


def test_from_numpy_takes_lists_scalars_and_bool(client, name):
    seg = client.from_numpy(name, [[True, False], [False, True]])
    assert seg.dtype == np.bool_ and seg.numpy().tolist() == [[True, False], [False, True]]
    client.unlink(name)
    seg = client.from_numpy(name, np.float64(2.5))
    assert seg.shape == () and seg.numpy()[()] == 2.5
    client.unlink(name)


def test_from_numpy_refuses_what_tshm_cannot_hold(client, name):
    for bad in (np.array(["a"]), np.array([1.0], dtype=">f8"), np.array([object()]),
                np.zeros(2, dtype="datetime64[ns]")):
        with pytest.raises(tshm.InvalidError):
            client.from_numpy(name, bad)
    with pytest.raises(tshm.NotFoundError):
        client.stat(name)  # nothing was left behind


def test_module_level_functions_use_a_lazy_default_client(daemon, name):
    out = python(f"""
        import tshm
        seg = tshm.create({name!r}, (2, 2), 'int32')
        seg.numpy()[:] = 7
        r = tshm.open({name!r})
        assert r.numpy().sum() == 28
        assert any(e['name'] == {name!r} for e in tshm.list())
        assert tshm.stat({name!r})['opens'] == 2
        assert tshm.daemon_stat()['segments'] >= 1
        f = tshm.from_numpy({name!r} + 'b', np.ones(3))
        tshm.unlink({name!r} + 'b')
        tshm.unlink({name!r})
        try:
            tshm.open({name!r})
        except FileNotFoundError:
            print('gone')
    """, daemon)
    assert out.stdout.strip() == "gone"


def test_clients_survive_a_daemon_restart(fresh_daemon, name):
    """libtshm connects again by itself after a restart; segments mapped
    before stay mapped, and their views keep working."""
    child_code = f"""
        import tshm, sys
        c = tshm.connect()
        seg = c.create({name!r}, 4)
        a = seg.numpy()
        tshm.list()                   # the default client is connected too
        print('created', flush=True)
        sys.stdin.readline()          # the daemon restarts meanwhile
        a[:] = 3                      # the mapping never depended on the daemon
        print(len(tshm.list()), c.stat({name!r})['opens'], flush=True)
        seg.close()                   # its handle died with the old daemon
        del a
        print(c.stat({name!r})['opens'], flush=True)
    """
    from conftest import spawn

    child = spawn(child_code, fresh_daemon)
    assert child.expect() == "created"
    fresh_daemon.proc.send_signal(15)
    assert fresh_daemon.proc.wait(timeout=20) == 0
    fresh_daemon._start()
    child.send("go")
    assert child.expect() == "1 0"  # adopted from /dev/shm; no open handle
    assert child.expect() == "0"
    child.finish()
    c = fresh_daemon.client()
    assert c.open(name).numpy().tolist() == [3.0] * 4
    c.unlink(name)
    c.close()


def test_a_call_fails_when_the_daemon_stays_down(fresh_daemon, name):
    c = fresh_daemon.client()
    seg = c.create(name, 2)
    fresh_daemon.proc.send_signal(15)
    assert fresh_daemon.proc.wait(timeout=20) == 0
    with pytest.raises(ConnectionError) as e:
        c.list()
    assert isinstance(e.value, tshm.ConnectError)
    seg.numpy()[:] = 1  # still mapped
    fresh_daemon._start()
    assert c.stat(name)["opens"] == 0  # and the client is back
    c.unlink(name)
    c.close()


def test_help_reads_well():
    text = pydoc.render_doc(tshm, renderer=pydoc.plaintext)
    for word in ("connect", "Segment", "Client", "numpy", "torch", "ReadOnlyError", "fork"):
        assert word in text
    for obj in (tshm, tshm.connect, tshm.create, tshm.open, tshm.list, tshm.unlink,
                tshm.Client, tshm.Segment, tshm.Error):
        assert obj.__doc__ and len(obj.__doc__) > 20, obj
    public = [n for n in dir(tshm.Segment) + dir(tshm.Client) if not n.startswith("_")]
    for n in public:
        obj = getattr(tshm.Segment, n, None) or getattr(tshm.Client, n)
        assert obj.__doc__, n


def test_version():
    assert tshm.__version__.count(".") == 2
    assert tshm.NAME_MAX == 200 and tshm.MAX_NDIM == 32
