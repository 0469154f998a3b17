"""A Python process killed with -9 while it holds segments and views leaves
no reference behind: the daemon drops its handles with its connection."""

import signal
import time

import pytest

from conftest import spawn


def wait_for(pred, timeout=20.0):
    """Poll `pred` until it holds; the daemon notices a dead peer when its
    socket reports EOF, which is prompt but asynchronous."""
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.parametrize("views", ["none", "numpy", "torch+capsule+memoryview"])
def test_kill_9_leaves_no_open_handle(fresh_daemon, name, views):
    c = fresh_daemon.client()
    c.create(name, (128, 128), "float32").close()
    child = spawn(f"""
        segs = [tshm.open({name!r}, writable=True) for _ in range(3)]
        segs.append(tshm.open({name!r}))
        segs.append(tshm.create({name!r} + '-own', 10))
        keep = []
        if {views!r} == 'numpy':
            keep = [s.numpy() for s in segs]
        elif {views!r} != 'none':
            import torch
            keep = [segs[0].torch(), segs[1].__dlpack__(), memoryview(segs[2]),
                    segs[3].numpy(), torch.from_dlpack(segs[4])]
            for s in segs:
                s.close()          # only the views hold the mappings now
        print('holding', flush=True)
        sys.stdin.readline()
    """, fresh_daemon)
    assert child.expect() == "holding"
    assert c.stat(name)["opens"] == 4
    assert c.daemon_stat()["opens"] == 5 and c.daemon_stat()["clients"] == 2
    child.proc.send_signal(signal.SIGKILL)
    assert child.proc.wait(timeout=30) == -signal.SIGKILL
    wait_for(lambda: c.daemon_stat()["clients"] == 1)
    assert c.stat(name)["opens"] == 0
    assert c.stat(name + "-own")["opens"] == 0  # the segment itself stays
    assert c.daemon_stat()["opens"] == 0
    c.unlink(name)
    c.unlink(name + "-own")
    c.close()
