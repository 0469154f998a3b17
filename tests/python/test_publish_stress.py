"""Torn-read stress: one producer process publishes patterned frames (every
element of a 64 KiB int64 array equal to the frame number) as fast as it can,
while three consumer processes copy them with snapshot() and check that each
copy is one whole frame, no newer than what was published, and that frames
never go backwards. Not one torn copy may get through.

As a control, the consumers also copy the live view without the seqlock now
and then, and count how many of those copies mix two frames: that number
shows that writes did overlap the copies (it is reported, not asserted, as
it depends on scheduling).

Run it with `pytest -s` to see the counts."""

import os

from conftest import spawn

ELEMENTS = 8192  # int64: 64 KiB
MIN_FRAMES = int(os.environ.get("TSHM_STRESS_FRAMES", "100000"))
MIN_SECONDS = float(os.environ.get("TSHM_STRESS_SECONDS", "8"))
MAX_SECONDS = 60.0  # a producer slower than this fails the test
STOP = -1  # the last frame's value: consumers stop when they copy it

PRODUCER = """
    seg = tshm.open({name!r}, writable=True)
    a = seg.numpy()
    print('ready', flush=True)
    sys.stdin.readline()
    t0 = time.monotonic()
    n = 0
    while True:
        n += 1
        with seg.write():
            a[:] = n
        if n % 1000 == 0:
            el = time.monotonic() - t0
            if (n >= {min_frames} and el >= {min_seconds}) or el > {max_seconds}:
                break
    el = time.monotonic() - t0
    with seg.write():
        a[:] = {stop}
    print('done', n, round(el, 3), seg.seq, flush=True)
"""

CONSUMER = """
    seg = tshm.open({name!r})
    live = seg.numpy()
    use_wait = {use_wait}
    snaps = distinct = raw = raw_torn = 0
    last = 0
    seq = 0
    print('ready', flush=True)
    t0 = time.monotonic()
    while True:
        if use_wait:
            seq = seg.wait(seq, timeout=30)
        s = seg.snapshot(timeout=30)
        v = int(s[0])
        latest = seg.seq
        snaps += 1
        if not (s == v).all():
            bad = np.unique(s)
            print('torn', v, bad[:10].tolist(), flush=True)
            sys.exit(1)
        if v == {stop}:
            break
        if 2 * v > latest or v < last or (use_wait and 2 * v < seq):
            print('order', v, last, latest, seq, flush=True)
            sys.exit(1)
        distinct += v != last
        last = v
        if snaps % 8 == 0:
            r = live.copy()  # no seqlock: may mix two frames
            raw += 1
            raw_torn += not (r == r[0]).all()
    print('stats', snaps, distinct, raw, raw_torn, round(time.monotonic() - t0, 3), flush=True)
"""


def test_no_torn_snapshot_under_a_fast_producer(daemon, client, name):
    seg = client.create(name, ELEMENTS, "int64")
    consumers = [spawn(CONSUMER.format(name=name, stop=STOP, use_wait=i == 0), daemon)
                 for i in range(3)]
    producer = spawn(PRODUCER.format(name=name, stop=STOP, min_frames=MIN_FRAMES,
                                     min_seconds=MIN_SECONDS, max_seconds=MAX_SECONDS), daemon)
    for c in consumers + [producer]:
        assert c.expect() == "ready"
    producer.send("go")
    frames, seconds, final_seq = producer.expect("done ").split()
    frames, seconds, final_seq = int(frames), float(seconds), int(final_seq)
    producer.finish()
    assert final_seq == 2 * (frames + 1)
    stats = []
    for c in consumers:
        line = c.expect()
        assert line.startswith("stats "), line
        snaps, distinct, raw, raw_torn, secs = line.split()[1:]
        stats.append((int(snaps), int(distinct), int(raw), int(raw_torn), float(secs)))
        c.finish()
    print(f"\nstress: {frames} frames of {ELEMENTS * 8 // 1024} KiB in {seconds:.2f} s "
          f"({frames / seconds:.0f}/s, {os.cpu_count()} CPUs)")
    for i, (snaps, distinct, raw, raw_torn, secs) in enumerate(stats):
        print(f"  consumer {i}{' (wait+snapshot)' if i == 0 else ''}: {snaps} snapshots, "
              f"{distinct} distinct frames, 0 torn; unsynchronised copies: "
              f"{raw_torn} of {raw} torn; {secs:.2f} s")
    assert frames >= MIN_FRAMES, f"only {frames} frames in {seconds} s"
    assert all(s[0] > 0 and s[1] > 0 for s in stats)
    seg.close()
    client.unlink(name)
