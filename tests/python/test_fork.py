"""Processes made by fork() and by multiprocessing's 'spawn' start method."""

import multiprocessing
import os

import numpy as np
import pytest

import tshm
from conftest import python


def test_fork_child_cannot_use_the_parents_client(daemon, client, name):
    seg = client.create(name, 4, "int32")
    a = seg.numpy()
    opens = client.stat(name)["opens"]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never raise
        try:
            msg = "no error"
            try:
                client.list()
            except tshm.ConnectError as e:
                msg = str(e)
            a[:] = 3  # the inherited mapping is MAP_SHARED: the parent sees it
            seg.close()
            del a
            os.write(w, msg.encode())
        finally:
            os._exit(0)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    assert os.waitpid(pid, 0)[1] == 0
    assert "fork" in msg and "connect" in msg
    # The child's cleanup sent nothing on our socket: our handles and our
    # replies are intact.
    assert client.stat(name)["opens"] == opens
    assert a.tolist() == [3] * 4
    client.unlink(name)


def test_module_functions_reconnect_in_a_fork_child(daemon, name):
    res = python(f"""
        tshm.create({name!r}, 2).close()
        pid = os.fork()
        if pid == 0:
            try:
                seg = tshm.open({name!r}, writable=True)   # a new default client
                seg.numpy()[:] = 5
                seg.close()
                os._exit(0)
            except BaseException as e:
                print('child:', e, flush=True)
                os._exit(1)
        assert os.waitpid(pid, 0)[1] == 0
        print(tshm.open({name!r}).numpy().tolist(), tshm.stat({name!r})['opens'])
        tshm.unlink({name!r})
    """, daemon)
    assert res.stdout.strip() == "[5.0, 5.0] 0"


def test_multiprocessing_spawn_workers_share_the_segment(daemon, client, name):
    pytest.importorskip("torch")
    import mpworkers

    seg = client.create(name, (2, 2), "float32")
    a = seg.numpy()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        sums = pool.starmap(mpworkers.add_through_torch, [(daemon.socket, name, 1.0)] * 3)
        assert sorted(sums)[-1] == 12.0  # the last of three adds saw the others
        assert a.tolist() == [[3.0, 3.0], [3.0, 3.0]]
        a[:] = np.array([[1, 2], [3, 4]])
        got = pool.starmap(mpworkers.read_through_numpy, [(daemon.socket, name)] * 3)
        assert got == [[[1.0, 2.0], [3.0, 4.0]]] * 3
    seg.close()
    client.unlink(name)
