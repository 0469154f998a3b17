"""Populating mappings (issue 12) through the binding: open/create with
populate=None/True/False, Segment.populate() of a slice, bounds.

Residency is the mapping's own page tables ("Rss" of its /proc/self/smaps
entry): the daemon's fallocate puts every page in the page cache at create,
so mincore() would call them all resident whatever the client did."""

import numpy as np
import pytest

import tshm

MiB = 1 << 20
# Fault-around and the header page: the slack of an "only this slice" check.
SLACK = 128 * 1024


def rss(seg):
    """Bytes of seg's mapping in this process's page tables."""
    addr = seg.numpy().__array_interface__["data"][0]
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(" ", 1)[0]
            if "-" in head and ":" not in head:
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= addr < hi
            elif inside and line.startswith("Rss:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no smaps entry holds {addr:#x}")


def test_default_populates_small_segments(client, name):
    assert tshm.POPULATE_AUTO_MAX == 1 << 30
    w = client.create(name, 8 * MiB, "uint8")
    assert rss(w) >= 8 * MiB
    r = client.open(name)
    assert rss(r) >= 8 * MiB
    rw = client.open(name, writable=True, populate=True)
    assert rss(rw) >= 8 * MiB
    n = client.open(name, populate=False)
    assert rss(n) <= SLACK
    for s in (n, rw, r, w):
        s.close()
    client.unlink(name)


def test_populate_false_then_a_slice(client, name):
    w = client.create(name, 32 * MiB, "uint8", populate=False)
    assert rss(w) <= SLACK
    r = client.open(name, populate=False)
    assert rss(r) <= SLACK
    before = rss(r)
    r.populate(10 * MiB, 14 * MiB)
    grown = rss(r) - before
    assert 4 * MiB <= grown <= 4 * MiB + SLACK
    before = rss(w)
    w.populate(stop=2 * MiB)
    grown = rss(w) - before
    assert 2 * MiB <= grown <= 2 * MiB + SLACK
    # The data is what it was: populating changes nothing.
    w.numpy()[: 2 * MiB] = 7
    assert int(r.numpy()[: 2 * MiB].sum()) == 7 * 2 * MiB
    r.populate()
    assert rss(r) >= 32 * MiB
    r.populate(32 * MiB)  # an empty range at the end
    with pytest.raises(tshm.InvalidError):
        r.populate(0, 32 * MiB + 1)
    with pytest.raises(tshm.InvalidError):
        r.populate(5, 4)
    with pytest.raises(OverflowError):
        r.populate(-1)
    r.close()
    with pytest.raises(tshm.ClosedError):
        r.populate()
    w.close()
    client.unlink(name)


def test_populate_argument_is_checked(client, name):
    class Bad:
        def __bool__(self):
            raise RuntimeError("no truth")

    with pytest.raises(RuntimeError):
        client.create(name, 16, populate=Bad())
    with pytest.raises(tshm.NotFoundError):
        client.open(name, populate=True)
    # populate=1 / 0 are truthy / falsy like a bool.
    s = client.create(name, 4 * MiB, "uint8", populate=0)
    assert rss(s) <= SLACK
    s.close()
    s = client.open(name, populate=1)
    assert rss(s) >= 4 * MiB
    s.close()
    client.unlink(name)


def test_from_numpy_populates(client, name):
    s = client.from_numpy(name, np.ones(4 * MiB, dtype=np.uint8))
    assert rss(s) >= 4 * MiB
    assert int(s.numpy().sum()) == 4 * MiB
    s.close()
    client.unlink(name)
