"""Streams: a producer loans, fills and publishes slots; subscribers in other
processes take every frame in order (block policy) or skip what was
overwritten (overwrite policy); dead subscribers and producers are cleaned
up by the daemon."""

import signal
import time

import numpy as np
import pytest

import tshm
from conftest import spawn


def wait_for(pred, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_loan_take_and_attributes(client, name):
    st = client.stream_create(name, (2, 3), "int32", slots=3)
    assert isinstance(st, tshm.Stream) and st.shape == (2, 3) and st.nbytes == 24
    assert st.seq == 0 and st.writable and st.publish_time is None
    assert client.stat(name)["stream"] == {"slots": 3, "policy": "block", "subscribers": 0,
                                           "frames": 0}
    assert client.stat(name)["kind"] == "stream"
    with client.sub_open(name) as sub:
        assert isinstance(sub, tshm.Subscriber)
        assert client.stat(name)["stream"]["subscribers"] == 1
        t0 = time.time()
        with st.loan() as a:
            assert isinstance(a, np.ndarray) and a.flags.writeable
            a[:] = 5
        loan = st.loan(timeout=1)
        assert isinstance(loan, tshm.Loan) and loan.seq is None and loan.active
        loan.array[:] = 6
        assert loan.publish() == 2 and loan.seq == 2 and not loan.active
        with pytest.raises(RuntimeError):
            with st.loan() as a:
                a[:] = 99
                raise RuntimeError("discarded")
        assert st.seq == 4 and st.wait(0) == 4 and sub.seq == 4
        frame = sub.take(timeout=1)
        assert isinstance(frame, tshm.Frame) and frame.held
        assert frame.seq == 1 and frame.missed == 0
        assert abs(frame.timestamp - t0) < 5 and frame.timestamp_ns // 10**9 == int(frame.timestamp)
        with frame as a:
            assert (a == 5).all() and not a.flags.writeable
            with pytest.raises(tshm.InvalidError, match="holds a frame"):
                sub.take(timeout=0)
            t = frame.torch()  # a private copy-on-write view of the slot
            t.add_(1)
            assert (t == 6).all() and (a == 5).all()
        assert not frame.held
        with sub.take(timeout=0) as a:
            assert (a == 6).all()
        with pytest.raises(tshm.TimeoutError, match="no frame was published"):
            sub.take(timeout=0.1)
        with pytest.raises(TimeoutError):
            sub.take(timeout=0)
        assert sub.missed == 0
    with pytest.raises(tshm.InvalidError, match="is a stream"):
        client.open(name)
    client.create(name + "-a", 4).close()
    with pytest.raises(tshm.InvalidError, match="not a stream"):
        client.stream_open(name + "-a")
    client.unlink(name + "-a")
    ro = client.stream_open(name, writable=False)
    with pytest.raises(tshm.PermissionDeniedError):
        ro.loan()
    assert ro.seq == 4
    ro.close()
    with pytest.raises(tshm.InvalidError):
        client.stream_create(name + "-b", 4, slots=1)
    with pytest.raises(tshm.InvalidError):
        client.stream_create(name + "-b", 4, policy="drop")
    st.close()
    client.unlink(name)


def test_loan_torch_view(client, name):
    torch = pytest.importorskip("torch")
    st = client.stream_create(name, 8, "bfloat16", slots=2)
    sub = client.sub_open(name)
    loan = st.loan()
    with pytest.raises(tshm.DtypeError):
        with loan:
            pass  # numpy has no bfloat16: the loan is given back
    assert not loan.active
    loan = st.loan()
    t = loan.torch()
    assert t.dtype == torch.bfloat16
    t.fill_(1.5)
    assert loan.publish() == 1
    f = sub.take(timeout=1)
    assert (f.numpy(bfloat16_as_uint16=True) == 0x3FC0).all()  # 1.5 in bfloat16
    f.release()
    sub.close()
    st.close()
    client.unlink(name)


BLOCK_SUB = """
    sub = tshm.sub_open({name!r})
    print('ready', flush=True)
    expect = 1
    for _ in range({frames}):
        fr = sub.take(timeout=30)
        with fr as a:
            if fr.seq != expect or fr.missed != 0 or not (a == fr.seq).all():
                print('bad', fr.seq, expect, fr.missed, int(a[0]), flush=True)
                sys.exit(1)
        expect += 1
    try:
        sub.take(timeout=0.2)
        print('extra frame', flush=True)
        sys.exit(1)
    except tshm.TimeoutError:
        pass
    print('ok', expect - 1, sub.missed, flush=True)
"""


def test_block_delivers_every_frame_once_in_order(daemon, client, name):
    frames = 2000
    st = client.stream_create(name, 1024, "int32", slots=4, policy="block")
    subs = [spawn(BLOCK_SUB.format(name=name, frames=frames), daemon) for _ in range(3)]
    for s in subs:
        assert s.expect() == "ready"
    t0 = time.monotonic()
    for k in range(1, frames + 1):
        with st.loan(timeout=30) as a:
            a[:] = k
    for s in subs:
        assert s.expect("ok ") == f"{frames} 0"
        s.finish()
    print(f"\nblock: {frames} frames to 3 subscribers in {time.monotonic() - t0:.2f} s")
    assert client.stat(name)["stream"]["frames"] == frames
    st.close()
    client.unlink(name)


SLOW_SUB = """
    sub = tshm.sub_open({name!r})
    print('ready', sub.seq, flush=True)
    received = torn = 0
    last = 0
    while True:
        fr = sub.take(timeout=30)
        try:
            with fr as a:
                v = int(a[0])
                ok = (a == v).all() and v == fr.seq
        except tshm.TornError:
            torn += 1
            ok = True
        if not ok or fr.seq <= last:
            print('bad', fr.seq, last, flush=True)
            sys.exit(1)
        received += 1
        last = fr.seq
        if fr.seq == {last_frame}:
            break
        time.sleep(0.002)  # slow: the producer laps it
    print('ok', received, sub.missed, torn, flush=True)
"""


def test_overwrite_slow_subscriber_counts_add_up(daemon, client, name):
    before, after = 100, 2000
    st = client.stream_create(name, 256, "int64", slots=4, policy="overwrite")
    for k in range(1, before + 1):
        with st.loan(timeout=0) as a:  # never waits, nobody to wait for anyway
            a[:] = k
    sub = spawn(SLOW_SUB.format(name=name, last_frame=before + after), daemon)
    assert sub.expect("ready ") == str(2 * before)
    for k in range(before + 1, before + after + 1):
        with st.loan(timeout=0) as a:
            a[:] = k
        time.sleep(0.0005)  # about a quarter of the subscriber's pace
    received, missed, torn = map(int, sub.expect("ok ").split())
    sub.finish()
    print(f"\noverwrite: {after} frames after joining: {received} received ({torn} torn on "
          f"release), {missed} missed")
    assert received + missed == after
    assert missed > 0
    st.close()
    client.unlink(name)


HOLDER = """
    sub = tshm.sub_open({name!r})
    print('ready', flush=True)
    fr = sub.take(timeout=30)
    fr.__enter__()
    print('holding', fr.seq, flush=True)
    time.sleep(3600)
"""


def test_subscriber_killed_mid_take_stops_holding_the_producer(daemon, client, name):
    st = client.stream_create(name, 16, "uint8", slots=2, policy="block")
    holder = spawn(HOLDER.format(name=name), daemon)
    assert holder.expect() == "ready"
    for k in (1, 2):
        with st.loan(timeout=5) as a:
            a[:] = k
    assert holder.expect("holding ") == "1"
    with pytest.raises(tshm.TimeoutError, match="no slot came free"):
        st.loan(timeout=0.2)  # frame 3 needs slot 1, which the holder has
    holder.proc.send_signal(signal.SIGKILL)
    assert holder.proc.wait(timeout=30) == -signal.SIGKILL
    with st.loan(timeout=10) as a:
        a[:] = 3
    assert st.seq == 6
    wait_for(lambda: client.stat(name)["stream"]["subscribers"] == 0)
    st.close()
    client.unlink(name)


PRODUCER = """
    st = tshm.stream_open({name!r})
    loan = st.loan(timeout=30)
    loan.array[:8] = 77
    print('half', flush=True)
    time.sleep(3600)
"""


def test_producer_killed_then_a_new_producer_continues(daemon, client, name):
    st = client.stream_create(name, 16, "int16", slots=4, policy="block")
    sub = client.sub_open(name)
    with st.loan() as a:
        a[:] = 1
    st.close()
    dead = spawn(PRODUCER.format(name=name), daemon)
    assert dead.expect() == "half"
    dead.proc.send_signal(signal.SIGKILL)
    assert dead.proc.wait(timeout=30) == -signal.SIGKILL
    new = client.stream_open(name)
    for k in (2, 3):
        with new.loan(timeout=10) as a:  # takes the lock the dead one left
            a[:] = k
    got = []
    for _ in range(3):
        with sub.take(timeout=5) as a:
            got.append((int(a[0]), int(a[-1])))
    assert got == [(1, 1), (2, 2), (3, 3)]  # the half-filled frame never appears
    with pytest.raises(tshm.TimeoutError):
        sub.take(timeout=0)
    sub.close()
    new.close()
    client.unlink(name)


def test_take_on_an_unlinked_stream(daemon, client, name):
    st = client.stream_create(name, 4, slots=2)
    sub = client.sub_open(name)
    with st.loan() as a:
        a[:] = 1
    client.unlink(name)
    with sub.take(timeout=1) as a:  # what was published is still taken
        assert (a == 1).all()
    with pytest.raises(tshm.NotFoundError, match="was unlinked"):
        sub.take(timeout=5)
    sub.close()
    st.close()


def test_ctrl_c_interrupts_take(daemon, client, name):
    from conftest import python
    client.stream_create(name, 4, slots=2).close()
    res = python(f"""
        import signal, threading
        sub = tshm.sub_open({name!r})
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            sub.take()
        except KeyboardInterrupt:
            print('interrupted')
    """, daemon, timeout=60)
    assert res.stdout.strip() == "interrupted"
    client.unlink(name)
