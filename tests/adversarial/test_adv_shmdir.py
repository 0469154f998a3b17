"""Hostile local users (issue 10) against a --shm-dir (issue 12): the
huge-page tmpfs that run-tshm-huge.mount makes is sticky and world-writable,
as /dev/shm is, so every defence that relies on /dev/shm's sticky bit must
hold there too.

The actors, and what every test asserts beside its own outcome: conftest.py.

  test_shmdir_hostile_neighbour
    planted objects under the prefix (a symbolic link to the victim's file, a
    FIFO, a file squatting a segment's name) are not adopted, followed or
    served; the hostile uid cannot read, remove, rename or replace a
    victim's segment object; the victim reads its data intact, through a
    restart too
  test_shmdir_full
    the hostile uid fills the tmpfs: the victim's create fails with
    NoSpaceError naming the directory, nothing is left behind, the victim's
    existing data is intact, and tshmd keeps serving
  test_shmdir_punched_holes_refilled
    a hostile writer frees pages of a segment without changing its size
    (fallocate PUNCH_HOLE), which on a full tmpfs or a taken hugetlbfs pool
    would make readers fault: tshmd allocates them again, the victim's
    reader is unharmed, tshmd keeps serving
  test_shmdir_hugetlbfs_cut_under_reader
    on hugetlbfs (whole pages, no write()), a hostile writer truncates a
    segment in a loop while a victim of another uid reads it: the victim
    never dies of SIGBUS, tshmd puts the size back and keeps serving
"""

import os
import subprocess
import tempfile
import time

import pytest

from conftest import Daemon, Hostile, assert_serving, py, py_spawn, finish

MOUNT_OPTS = "mode=1777,nosuid,nodev,noexec,huge=within_size,size={size}"


@pytest.fixture()
def huge_dir():
    """A tmpfs mounted as run-tshm-huge.mount mounts one (size 64 MiB)."""
    d = tempfile.mkdtemp(prefix="tshm-adv-shmdir-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", MOUNT_OPTS.format(size="64m"), "tshm-adv",
                    d], check=True)
    yield d
    subprocess.run(["umount", d], check=True)
    os.rmdir(d)


def _as(actor, code):
    """Run @code as @actor (no daemon): returns the CompletedProcess."""
    return subprocess.run(["/usr/bin/python3", "-c", "import os, errno\n" + code],
                          capture_output=True, text=True, timeout=20, cwd="/", **actor.ids())


def test_shmdir_hostile_neighbour(users, huge_dir):
    hostile, owner, reader = users["hostile"], users["owner"], users["reader"]
    # A first run makes the daemon's seal key; then it stops, as for an
    # upgrade, and the hostile uid plants while no daemon runs.
    d = Daemon(users["daemon"], extra=["--shm-dir", huge_dir])
    d.stop()
    p = d.prefix
    # Planted while no daemon runs: a link to a file of the victim's
    # daemon user, a FIFO, and a plain file squatting a name.
    res = _as(hostile, f"""
os.symlink('/etc/passwd', '{huge_dir}/{p}.link')
os.mkfifo('{huge_dir}/{p}.fifo', 0o666)
open('{huge_dir}/{p}.squat', 'wb').write(b'x' * 8192)
""")
    assert res.returncode == 0, res.stderr
    try:
        assert d.start(wait_ready=False, ready_timeout=5) is not None, d.log()[-3000:]
        py(owner, d, """
            c = tshm.connect()
            names = [i['name'] for i in c.list()]
            assert not set(names) & {'link', 'fifo', 'squat'}, names
            for n in ('link', 'fifo', 'squat'):
                try:
                    c.open(n)
                    raise AssertionError('served: ' + n)
                except tshm.NotFoundError:
                    pass
            # A name the hostile squats cannot be created over its file.
            try:
                c.create('squat', 4, 'uint8')
                raise AssertionError('created over a planted file')
            except tshm.ExistsError:
                pass
            s = c.create('v', (4, 1024, 1024), 'uint8', mode=0o644)
            s.numpy()[...] = 42
            info = c.stat('v')
            assert info['backing'] in ('tmpfs', 'tmpfs-huge'), info
        """)
        # The victim's object, attacked by path in the shared directory.
        obj = f"{huge_dir}/{p}.v"
        res = _as(hostile, f"""
def refused(fn, *a):
    try:
        fn(*a)
    except OSError as e:
        return e.errno in (errno.EACCES, errno.EPERM)
    return False
ok = [refused(open, '{obj}', 'rb'), refused(open, '{obj}', 'r+b'),
      refused(os.unlink, '{obj}'),
      refused(os.rename, '{obj}', '{huge_dir}/mine'),
      refused(os.rename, '{huge_dir}/{p}.squat', '{obj}'),
      refused(os.truncate, '{obj}', 0)]
print(ok)
assert all(ok), ok
""")
        assert res.returncode == 0, res.stdout + res.stderr
        # The victim's data, then across a restart on the same directory.
        check = """
            c = tshm.connect()
            a = c.open('v').numpy()
            assert a.shape == (4, 1024, 1024) and (a == 42).all()
            print('intact')
        """
        assert "intact" in py(reader, d, check).stdout
        d.stop()
        assert d.start(wait_ready=False, ready_timeout=5) is not None, d.log()[-3000:]
        assert "intact" in py(reader, d, check).stdout
        assert_serving(d, reader)
        py(owner, d, "tshm.connect().unlink('v')")
        assert not os.path.exists(obj)
        d.stop()
    finally:
        d.cleanup()


def test_shmdir_full(users, huge_dir):
    hostile, owner = users["hostile"], users["owner"]
    d = Daemon(users["daemon"], extra=["--shm-dir", huge_dir])
    try:
        py(owner, d, """
            c = tshm.connect()
            c.create('keep', 1 << 20, 'uint8').numpy()[...] = 9
        """)
        # The hostile uid takes what is left of the tmpfs.
        res = _as(hostile, f"""
fd = os.open('{huge_dir}/hog', os.O_WRONLY | os.O_CREAT, 0o644)
try:
    while True:
        os.write(fd, b'\\xff' * (1 << 16))
except OSError as e:
    assert e.errno == errno.ENOSPC, e
print('full')
""")
        assert "full" in res.stdout, res.stdout + res.stderr
        res = py(owner, d, f"""
            c = tshm.connect()
            try:
                c.create('big', 16 << 20, 'uint8')
                raise AssertionError('created in a full directory')
            except tshm.NoSpaceError as e:
                print('refused:', e)
                assert {huge_dir!r} in str(e), str(e)
            assert 'big' not in [i['name'] for i in c.list()]
            assert (c.open('keep').numpy() == 9).all()
        """)
        assert "refused" in res.stdout
        assert not [f for f in os.listdir(huge_dir) if f.startswith(d.prefix + ".big")
                    or f.startswith(d.prefix + "..new")]
        os.unlink(f"{huge_dir}/hog")
        assert_serving(d, owner)
        py(owner, d, "tshm.connect().unlink('keep')")
        d.stop()
    finally:
        d.cleanup()


NR_HUGEPAGES = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"


@pytest.fixture()
def hugetlbfs_dir():
    """A hugetlbfs of 2 MiB pages (16 reserved for it), sticky like /dev/shm."""
    with open(NR_HUGEPAGES) as f:
        nr = int(f.read())
    for _ in range(2):
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(nr + 16))
        with open(NR_HUGEPAGES.replace("nr_hugepages", "free_hugepages")) as f:
            if int(f.read()) >= 16:
                break
        # Fragmented memory has no free 2 MiB blocks: compact it, ask again.
        with open("/proc/sys/vm/compact_memory", "w") as f:
            f.write("1")
    else:
        with open(NR_HUGEPAGES, "w") as f:
            f.write(str(nr))
        pytest.skip("the kernel could not reserve 16 pages of 2 MiB")
    d = tempfile.mkdtemp(prefix="tshm-adv-htlb-")
    subprocess.run(["mount", "-t", "hugetlbfs", "-o", "mode=1777,pagesize=2M,size=32M",
                    "tshm-adv-htlb", d], check=True)
    yield d
    subprocess.run(["umount", d], check=True)
    os.rmdir(d)
    with open(NR_HUGEPAGES, "w") as f:
        f.write(str(nr))


def test_shmdir_hugetlbfs_cut_under_reader(users, hugetlbfs_dir):
    hostile, owner, reader = users["hostile"], users["owner"], users["reader"]
    d = Daemon(users["daemon"], extra=["--shm-dir", hugetlbfs_dir])
    try:
        py(owner, d, """
            c = tshm.connect()
            s = c.create('cut', (3, 1024, 1024), 'uint8', mode=0o666)
            s.numpy()[...] = 7
            assert c.stat('cut')['backing'] == 'hugetlbfs'
        """)
        victim = py_spawn(reader, d, """
            c = tshm.connect()
            s = c.open('cut')
            a = s.numpy()
            print('ready', flush=True)
            n, end = 0, time.monotonic() + 3
            while time.monotonic() < end:
                int(a[::4096].sum())   # touches every page, cut or not
                n += 1
            print('reads', n)
        """)
        assert victim.stdout.readline().strip() == "ready"
        hostile = Hostile(hostile, d, "cut")
        hostile.cmd("loop 3 0")
        hostile.close()
        out, _ = finish(victim, "the victim reader", timeout=30)
        assert "reads" in out
        # The size is put back: whole pages, the segment opens and maps.
        res = py(owner, d, """
            c = tshm.connect()
            for _ in range(500):
                if os.stat(%r).st_size == 4 << 20:
                    break
                time.sleep(0.01)
            assert os.stat(%r).st_size == 4 << 20
            s = c.open('cut', writable=True)
            s.numpy()[...] = 9
            assert (c.open('cut').numpy() == 9).all()
            s.close()
            c.unlink('cut')
            print('restored')
        """ % (f"{hugetlbfs_dir}/{d.prefix}.cut", f"{hugetlbfs_dir}/{d.prefix}.cut"))
        assert "restored" in res.stdout
        assert_serving(d, reader)
        d.stop()
    finally:
        d.cleanup()


def test_shmdir_punched_holes_refilled(users, hugetlbfs_dir):
    hostile, owner, reader = users["hostile"], users["owner"], users["reader"]
    d = Daemon(users["daemon"], extra=["--shm-dir", hugetlbfs_dir])
    obj = None
    try:
        py(owner, d, """
            c = tshm.connect()
            c.create('holes', (3, 1024, 1024), 'uint8', mode=0o666).numpy()[...] = 5
        """)
        obj = f"{hugetlbfs_dir}/{d.prefix}.holes"
        whole = os.stat(obj).st_blocks * 512
        assert whole >= os.stat(obj).st_size
        hostile_fd = Hostile(hostile, d, "holes")
        hostile_fd.cmd(f"punch 0 {4 << 20}")
        hostile_fd.close()
        for _ in range(500):
            if os.stat(obj).st_blocks * 512 >= whole:
                break
            time.sleep(0.01)
        assert os.stat(obj).st_blocks * 512 >= whole, "the punched pages were not allocated again"
        res = py(reader, d, """
            a = tshm.connect().open('holes').numpy()
            print('read', int(a[::4096].sum()))
        """)
        assert "read" in res.stdout
        assert_serving(d, reader)
        py(owner, d, "tshm.connect().unlink('holes')")
        d.stop()
    finally:
        d.cleanup()
