"""Hostile local users against what issue 13 added: listing by prefix, handles
and tensors that cross processes by name, and a victim's copy-on-write frame
tensors, deep subscriptions and wait_any while a writer cuts the stream.

  test_prefix_never_widens_what_a_user_sees
  test_pickled_handle_or_tensor_opens_with_the_receivers_rights
  test_victim_torch_frames_survive_a_stream_cut_in_a_loop
"""

import pickle

from conftest import Hostile, assert_serving, finish, make, py, py_spawn


def test_prefix_never_widens_what_a_user_sees(users, daemon):
    make(users, daemon, """
        c = tshm.connect()
        c.create('advp.secret', 4, mode=0o600)
        c.create('advp.shared', 4, mode=0o644)
    """)
    for who in ("hostile", "reader"):
        res = py(users[who], daemon, """
            c = tshm.connect()
            print(sorted(i['name'] for i in c.list(prefix='advp.')))
            print(sorted(i['name'] for i in c.list(prefix='advp.secret')))
            print('secret' in str([i['name'] for i in c.list(prefix='')]))
        """)
        assert res.stdout.split("\n")[:3] == ["['advp.shared']", "[]", "False"], res.stdout
    assert_serving(daemon, users["reader"])


def test_pickled_handle_or_tensor_opens_with_the_receivers_rights(users, daemon):
    # The owner pickles a handle of a 0600 segment and a tensor over it, as
    # it would to hand them to its own workers. Unpickled by another user,
    # each is an open by name that the daemon refuses: never a view of the
    # owner's memory.
    res = make(users, daemon, """
        import pickle, torch
        from multiprocessing.reduction import ForkingPickler
        seg = tshm.connect().create('advpk.secret', 8, 'float32', mode=0o600)
        seg.torch()[:] = 7
        sys.stdout.write(pickle.dumps(seg).hex() + '\\n')
        sys.stdout.write(bytes(ForkingPickler.dumps(seg.torch()[2:6])).hex() + '\\n')
    """)
    blobs = res.stdout.split()
    assert len(blobs) == 2
    for who in ("hostile", "reader"):
        out = py(users[who], daemon, f"""
            import pickle, torch
            for blob in {blobs!r}:
                try:
                    x = pickle.loads(bytes.fromhex(blob))
                    print('GOT', x)
                except tshm.PermissionDeniedError:
                    print('refused')
        """)
        assert out.stdout.split() == ["refused", "refused"], out.stdout + out.stderr
    # The owner itself gets both back, the tensor still over the segment.
    out = py(users["owner"], daemon, f"""
        import pickle, torch
        seg = pickle.loads(bytes.fromhex({blobs[0]!r}))
        t = pickle.loads(bytes.fromhex({blobs[1]!r}))
        t[0] = 9
        print(seg.numpy().tolist(), tshm.tensor_origin(t).name)
    """)
    assert "[7.0, 7.0, 9.0, 7.0, 7.0, 7.0, 7.0, 7.0] advpk.secret" in out.stdout
    assert_serving(daemon, users["reader"])


def test_victim_torch_frames_survive_a_stream_cut_in_a_loop(users, daemon):
    # A group member with write access cuts the stream to 0 bytes and back,
    # over and over, while the owner produces and a reader holds up to 3
    # frames, makes tensors of them, writes into them in place and waits
    # with wait_any. The reader may see typed errors or odd bytes, never a
    # signal; the daemon keeps serving.
    make(users, daemon, """
        tshm.connect().stream_create('advt.cam', (64, 1024), 'uint8', slots=4,
                                     policy='overwrite', mode=0o664)
    """)
    victim = py_spawn(users["reader"], daemon, """
        import torch
        sub = tshm.connect().sub_open('advt.cam', depth=3)
        print('ready', flush=True)
        held, typed, frames, kinds = [], 0, 0, set()
        end = time.monotonic() + 4
        while time.monotonic() < end:
            try:
                if tshm.wait_any([sub], timeout=0.2):
                    f = sub.take(timeout=0)
                    t = f.torch()
                    t.add_(1)
                    t[0].zero_()
                    float(t.float().mean())
                    held.append(f)
                    frames += 1
                if len(held) == 3:
                    for f in (held[1], held[0], held[2]):
                        try:
                            f.release()
                        except tshm.TornError:
                            pass
                    held = []
            except tshm.TimeoutError:
                pass
            except tshm.Error as e:
                typed += 1
                kinds.add(type(e).__name__ + ': ' + str(e)[:60])
                held = []
        print('frames', frames, 'typed', typed, sorted(kinds), flush=True)
    """)
    assert victim.stdout.readline().strip() == "ready"
    hostile = Hostile(users["hostile"], daemon, "advt.cam")
    hostile.send("loop 4 0")
    prod = py(users["owner"], daemon, """
        c = tshm.connect()
        end = time.monotonic() + 4
        n, st = 0, None
        while time.monotonic() < end:
            try:
                # An open while the object is cut fails its header check:
                # a typed error, and the producer opens again.
                st = st or c.stream_open('advt.cam', writable=True)
                with st.loan(timeout=0.5) as a:
                    a[...] = n % 200
                n += 1
            except tshm.Error:
                st = None
                time.sleep(0.001)
        print('published', n)
    """, timeout=60, check=False)
    out, err = finish(victim, "the victim subscriber", timeout=60)
    assert prod.returncode == 0, prod.stdout + prod.stderr
    print(out, prod.stdout)
    assert "frames" in out, out + err
    hostile.answer()
    hostile.close()
    assert_serving(daemon, users["reader"])
