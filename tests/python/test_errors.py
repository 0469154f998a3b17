"""Bad arguments and failures raise the documented exceptions, each a
tshm.Error and the builtin that fits, with the library's message."""

import errno
import os
import textwrap

import numpy as np
import pytest

import tshm
from conftest import Daemon, python

HIERARCHY = {
    tshm.NotFoundError: FileNotFoundError,
    tshm.ExistsError: FileExistsError,
    tshm.PermissionDeniedError: PermissionError,
    tshm.ConnectError: ConnectionError,
    tshm.InvalidError: ValueError,
    tshm.ClosedError: ValueError,
    tshm.ReadOnlyError: ValueError,
    tshm.DtypeError: TypeError,
    tshm.NoSpaceError: OSError,
    tshm.LimitError: tshm.Error,
    tshm.NoMemoryError: MemoryError,
}


@pytest.mark.parametrize("cls,builtin", HIERARCHY.items())
def test_hierarchy(cls, builtin):
    assert issubclass(cls, tshm.Error) and issubclass(cls, builtin)
    assert issubclass(tshm.Error, Exception)
    assert cls.__doc__


BAD_NAMES = ["", ".hidden", "a/b", "x" * 201, "sp ace", "nul\0l", "é", "..", "."]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names(client, bad):
    for call in (lambda: client.create(bad, 1), lambda: client.open(bad),
                 lambda: client.unlink(bad), lambda: client.stat(bad),
                 lambda: client.from_numpy(bad, [1])):
        with pytest.raises(tshm.InvalidError, match="bad segment name") as e:
            call()
        assert isinstance(e.value, ValueError) and e.value.code == -4004


def test_name_must_be_a_str(client):
    with pytest.raises(TypeError):
        client.open(b"bytes")
    with pytest.raises(TypeError):
        client.create(None, 1)


def test_longest_name_is_fine(client):
    n = "n" * 200
    client.create(n, 1).close()
    client.unlink(n)


@pytest.mark.parametrize("bad", ["float128", "int128", ">f4", "<U4", "O", "", "torch.float32",
                                 object, "f8x", None, np.dtype("datetime64[s]"),
                                 np.dtype([("a", "<i4")])])
def test_bad_dtypes(client, name, bad):
    with pytest.raises(tshm.InvalidError, match="unknown dtype") as e:
        client.create(name, 1, bad)
    assert isinstance(e.value, ValueError) and e.value.code == -4005


@pytest.mark.parametrize("bad", [-1, (2, -3), (1,) * 33, (2**62, 2**62), (2**64,), "2x-1",
                                 "abc", (2**63, 1)])
def test_bad_shapes(client, name, bad):
    with pytest.raises(tshm.InvalidError, match="bad shape") as e:
        client.create(name, bad)
    assert isinstance(e.value, ValueError) and e.value.code == -4006


@pytest.mark.parametrize("bad", [(1.5,), 2.0, object(), None, ("3",)])
def test_shape_of_the_wrong_type(client, name, bad):
    with pytest.raises(TypeError):
        client.create(name, bad)


@pytest.mark.parametrize("bad", [-1, 0o1000, 0o7777])
def test_bad_modes(client, name, bad):
    with pytest.raises(tshm.InvalidError, match="mode"):
        client.create(name, 1, mode=bad)


def test_not_found(client, name):
    for call in (lambda: client.open(name), lambda: client.unlink(name),
                 lambda: client.stat(name)):
        with pytest.raises(FileNotFoundError) as e:
            call()
        assert isinstance(e.value, tshm.NotFoundError)
        assert e.value.errno == errno.ENOENT and e.value.code == -errno.ENOENT
        assert str(e.value) == f"no segment with that name: '{name}'" or name in str(e.value)


def test_exists(client, name):
    client.create(name, 1)
    with pytest.raises(FileExistsError) as e:
        client.create(name, 1)
    assert isinstance(e.value, tshm.ExistsError) and e.value.errno == errno.EEXIST
    assert "already exists" in str(e.value)
    client.unlink(name)


def test_no_daemon_says_how_to_start_one(tmp_path):
    sock = str(tmp_path / "nobody.sock")
    with pytest.raises(ConnectionError) as e:
        tshm.connect(sock)
    assert isinstance(e.value, tshm.ConnectError) and e.value.code == -4009
    msg = str(e.value)
    assert sock in msg and "tshmd" in msg and "start" in msg.lower() and "TSHM_SOCKET" in msg


def test_no_daemon_for_the_default_client(daemon, tmp_path):
    code = """
        try:
            tshm.open('x')
        except ConnectionError as e:
            print(type(e).__name__, e)
    """
    env_sock = str(tmp_path / "none.sock")
    res = python(code, daemon, env=dict(daemon.env(), TSHM_SOCKET=env_sock))
    assert res.stdout.startswith("ConnectError cannot reach tshmd at")
    assert env_sock in res.stdout


def test_socket_path_too_long():
    with pytest.raises(tshm.InvalidError) as e:
        tshm.connect("/tmp/" + "s" * 200)
    assert e.value.code == -errno.ENAMETOOLONG


def test_closed_client(daemon, name):
    c = daemon.client()
    c.close()
    c.close()  # idempotent
    for call in (lambda: c.create(name, 1), lambda: c.open(name), lambda: c.list(),
                 lambda: c.daemon_stat(), lambda: c.unlink(name), lambda: c.stat(name),
                 lambda: c.from_numpy(name, [1])):
        with pytest.raises(tshm.ClosedError, match="client is closed"):
            call()


def test_dlpack_stream_must_be_none(client, name):
    seg = client.create(name, 1)
    with pytest.raises(tshm.InvalidError):
        seg.__dlpack__(stream=1)
    assert seg.__dlpack_device__() == (1, 0)
    client.unlink(name)


def test_no_space_is_an_oserror_with_enospc(name):
    d = Daemon(["--max-bytes", "1M"])
    try:
        c = d.client()
        with pytest.raises(OSError) as e:
            c.create(name, 2 << 20, "uint8")
        assert isinstance(e.value, tshm.NoSpaceError) and e.value.errno == errno.ENOSPC
        assert str(e.value).startswith("no space")
        c.close()
    finally:
        d.stop()


def test_limit(name):
    d = Daemon(["--max-segments", "1"])
    try:
        c = d.client()
        c.create(name + "a", 1)
        with pytest.raises(tshm.LimitError, match="limit"):
            c.create(name + "b", 1)
        c.close()
    finally:
        d.stop()


@pytest.fixture()
def as_nobody(daemon):
    if os.getuid() != 0:
        pytest.skip("PermissionError tests need root, to run a child as uid 65534 "
                    f"(running as uid {os.getuid()})")

    def run(code):
        return python("os.setgid(65534)\nos.setuid(65534)\n" + textwrap.dedent(code), daemon)

    return run


def test_permission_denied(client, name, as_nobody):
    client.create(name + "-private", 1)                  # 0600, root's
    client.create(name + "-public", 1, mode=0o644)       # others may read
    res = as_nobody(f"""
        import errno
        for what, f in [
            ('open private', lambda: tshm.open({name!r} + '-private')),
            ('write public', lambda: tshm.open({name!r} + '-public', writable=True)),
            ('unlink public', lambda: tshm.unlink({name!r} + '-public')),
        ]:
            try:
                f()
                print(what, 'ALLOWED')
            except PermissionError as e:
                assert isinstance(e, tshm.PermissionDeniedError) and e.errno == errno.EACCES
                print(what, 'denied')
        seg = tshm.open({name!r} + '-public')
        print('read public', seg.numpy().tolist())
    """)
    assert res.stdout.splitlines() == ["open private denied", "write public denied",
                                       "unlink public denied", "read public [0.0]"]
    client.unlink(name + "-private")
    client.unlink(name + "-public")


def test_error_messages_carry_the_daemons_detail(client, name):
    client.create(name, 1)
    with pytest.raises(tshm.ExistsError) as e:
        client.create(name, 1)
    assert name in str(e.value)
    client.unlink(name)
