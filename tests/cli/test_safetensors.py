#!/usr/bin/env python3
"""'tshm load' and 'tshm save' of .safetensors files, against a real tshmd.

The files are made here by an independent writer (json + struct, following
the format's description, no tshm code), and what tshm puts in shared memory
is read back from the /dev/shm object through the header's data_offset
(PROTOCOL.md section 7) and the offsets 'tshm info --json' reports.

Usage: test_safetensors.py TSHMD TSHM MKGROUP
"""
import json
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time

TSHMD, TSHM, MKGROUP = sys.argv[1:4]
work = tempfile.mkdtemp(prefix="tshm-st-")
prefix = "tshmst%d" % os.getpid()
env = dict(os.environ, TSHM_SOCKET=os.path.join(work, "tshm.sock"))
failures = []
checks = 0

ITEM = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8,
        "F16": 2, "BF16": 2, "F32": 4, "F64": 8}
NUMPY = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "I16": "int16", "U16": "uint16",
         "I32": "int32", "U32": "uint32", "I64": "int64", "U64": "uint64", "F16": "float16",
         "BF16": "bfloat16", "F32": "float32", "F64": "float64"}


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def tshm(*args, **kw):
    return subprocess.run([TSHM, *args], env=env, capture_output=True, text=True, **kw)


def nbytes(dtype, shape):
    n = ITEM[dtype]
    for d in shape:
        n *= d
    return n


def rand_bytes(rng, n, dtype):
    if dtype == "BOOL":
        return bytes(rng.randrange(2) for _ in range(n))
    return bytes(rng.randrange(256) for _ in range(n))


def st_file(tensors, meta=None, data_order=None, meta_last=False, dumps=None, pad=8):
    """The bytes of a safetensors file: tensors is [(name, dtype, shape, raw)],
    listed in the header in that order; data_order (indices) is the order of
    their bytes in the data area (default: the same)."""
    order = data_order if data_order is not None else range(len(tensors))
    offs, data = {}, b""
    for i in order:
        offs[i] = (len(data), len(data) + len(tensors[i][3]))
        data += tensors[i][3]
    hdr = {}
    if meta is not None and not meta_last:
        hdr["__metadata__"] = meta
    for i, (name, dtype, shape, _) in enumerate(tensors):
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": list(offs[i])}
    if meta is not None and meta_last:
        hdr["__metadata__"] = meta
    text = (dumps or (lambda h: json.dumps(h, separators=(",", ":"), ensure_ascii=False)))(hdr)
    h = text.encode()
    if pad:
        h += b" " * (-len(h) % pad)
    return struct.pack("<Q", len(h)) + h + data


def header_of(blob):
    """The JSON header of a safetensors file's bytes."""
    return blob[8:8 + struct.unpack_from("<Q", blob)[0]]


def raw_file(header_bytes, data=b"", length=None):
    n = len(header_bytes) if length is None else length
    return struct.pack("<Q", n) + header_bytes + data


def write(name, blob):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(blob)
    return path


def listed():
    r = tshm("ls", "--json")
    return {row["name"]: row for row in json.loads(r.stdout)} if r.returncode == 0 else None


def shm_object(name):
    return "/dev/shm/%s.%s" % (prefix, name)


def group_bytes(name):
    """The group's data area, read from its /dev/shm object."""
    with open(shm_object(name), "rb") as f:
        blob = f.read()
    data_offset = struct.unpack_from("<Q", blob, 16)[0]
    return blob[data_offset:]


def check_values(name, tensors, what):
    """Each tensor's bytes in shared memory are the file's."""
    r = tshm("info", name, "--json")
    check(r.returncode == 0, "%s: info --json exited %d: %s" % (what, r.returncode, r.stderr))
    if r.returncode != 0:
        return
    info = json.loads(r.stdout)
    check(info["kind"] == "group" and len(info["tensors"]) == len(tensors),
          "%s: info --json: %s tensors, kind %s" % (what, len(info["tensors"]), info["kind"]))
    area = group_bytes(name)
    by_name = {t["name"]: t for t in info["tensors"]}
    for tname, dtype, shape, raw in tensors:
        t = by_name.get(tname)
        check(t is not None, "%s: tensor %r missing from info" % (what, tname))
        if t is None:
            continue
        check(t["dtype"] == NUMPY[dtype] and t["shape"] == shape and t["nbytes"] == len(raw),
              "%s: tensor %r described as %s" % (what, tname, t))
        check(t["offset"] % 64 == 0, "%s: tensor %r at offset %d" % (what, tname, t["offset"]))
        check(area[t["offset"]:t["offset"] + len(raw)] == raw,
              "%s: tensor %r has other bytes in shared memory" % (what, tname))


def round_trip(gname, blob, tensors, what):
    path = write(gname + ".safetensors", blob)
    out = os.path.join(work, gname + ".out.safetensors")
    r = tshm("load", gname, path)
    check(r.returncode == 0 and r.stderr == "", "%s: load exited %d: %s" % (what, r.returncode, r.stderr))
    if r.returncode != 0:
        return
    check_values(gname, tensors, what)
    r = tshm("save", gname, out)
    check(r.returncode == 0, "%s: save exited %d: %s" % (what, r.returncode, r.stderr))
    check(os.path.exists(out) and open(out, "rb").read() == blob,
          "%s: the saved file differs from the loaded one" % what)
    check(not os.path.exists(out + ".tmp"), "%s: the temporary file is left" % what)


def start_daemon():
    d = subprocess.Popen([TSHMD, "--foreground", "--shm-prefix", prefix, "--state-dir",
                          os.path.join(work, "state")], env=env, stderr=open(os.path.join(work, "tshmd.log"), "w"))
    for _ in range(500):
        if tshm("stats").returncode == 0:
            return d
        time.sleep(0.02)
    raise SystemExit("tshmd did not start")


def every_dtype(rng):
    tensors = []
    for i, dt in enumerate(ITEM):
        shape = [[3, 2], [5], [], [1, 1, 3]][i % 4]
        tensors.append(("t.%s" % dt.lower(), dt, shape, rand_bytes(rng, nbytes(dt, shape), dt)))
    # 0-d, empty (several at the same offset), and unaligned offsets: an
    # odd-sized tensor first puts the rest at odd offsets.
    tensors.insert(0, ("odd", "U8", [3], b"\x01\x02\x03"))
    tensors += [("empty", "F32", [0, 4], b""), ("empty2", "I64", [2, 0], b""),
                ("scalar", "F64", [], struct.pack("<d", 2.5))]
    return tensors


def test_round_trips(rng):
    tensors = every_dtype(rng)
    round_trip("alltypes", st_file(tensors, meta={"format": "pt", "note": "é \"q\" \n"}), tensors,
               "every dtype")
    # Odd spacing and key order: indented, __metadata__ last, data in another
    # order than the keys, keys inside entries reordered, no padding.
    def indented(h):
        h = {k: ({"shape": v["shape"], "data_offsets": v["data_offsets"], "dtype": v["dtype"]}
                 if k != "__metadata__" else v) for k, v in h.items()}
        return json.dumps(h, indent=3) + "\n"
    order = list(reversed(range(len(tensors))))
    round_trip("odd", st_file(tensors, meta={"a": "b"}, meta_last=True, data_order=order,
                              dumps=indented, pad=0), tensors, "odd spacing and order")
    round_trip("nometa", st_file(tensors[:2]), tensors[:2], "no metadata")
    round_trip("none", st_file([], meta={"only": "metadata"}), [], "no tensors")
    names = [("w\u00e9ird \"name\"\twith\\ctl\x01", "U8", [2], b"ab"), ("/.:[]{}", "I16", [1], b"zz")]
    round_trip("names", st_file(names), names, "names that need escaping")
    many = [("layer.%05d.weight" % i, "F16", [i % 3 + 1], rand_bytes(rng, 2 * (i % 3 + 1), "F16"))
            for i in range(10000)]
    round_trip("many", st_file(many, meta={"n": "10000"}), many, "10,000 tensors")
    r = tshm("ls")
    check(r.returncode == 0 and any(line.startswith("many ") and "group, 10000 tensors" in line
                                    for line in r.stdout.splitlines()),
          "ls does not show the group's kind and count: %s" % r.stdout[:500])
    rows = listed()
    check(rows["many"]["kind"] == "group" and rows["many"]["tensors"] == 10000,
          "ls --json of a group: %s" % rows["many"])
    r = tshm("info", "alltypes")
    check(r.returncode == 0 and "tensors: %d" % len(tensors) in r.stdout and
          "\n  odd " in r.stdout and 'metadata: {"format": "pt"' in r.stdout,
          "info of a group: %s" % r.stdout)
    r = tshm("info", "alltypes", "--json")
    d = json.loads(r.stdout)
    check(d["metadata"] == {"format": "pt", "note": "é \"q\" \n"}, "info --json metadata: %s" % d)
    check([t["name"] for t in d["tensors"]] == [t[0] for t in tensors],
          "info --json lists the tensors out of file order")


def expected_fresh(meta_obj, tensors):
    """The header the reference (serde_json) writes: compact, __metadata__
    first, tensors in order, padded to 8."""
    hdr, at = {}, 0
    if meta_obj is not None:
        hdr["__metadata__"] = meta_obj
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [at, at + len(raw)]}
        at += len(raw)
    h = json.dumps(hdr, separators=(",", ":"), ensure_ascii=False).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t[3] for t in tensors)


def mkgroup(name, meta, specs):
    mpath = write(name + ".meta", meta)
    r = subprocess.run([MKGROUP, name, mpath, *specs], env=env, capture_output=True, text=True)
    check(r.returncode == 0, "mkgroup %s: %s" % (name, r.stderr))


def pattern(i, n):
    return bytes((7 * j + 13 * i) & 0xFF for j in range(n))


def test_fresh_headers():
    specs = [("b", "F32", [2, 2]), ("a", "I8", []), ("z\u00e9", "U16", [0])]
    tensors = [(n, dt, s, pattern(i, nbytes(dt, s))) for i, (n, dt, s) in enumerate(specs)]
    args = ["%s:%s:%s" % (n, NUMPY[dt], "x".join(map(str, s)) or "scalar") for n, dt, s in specs]
    cases = [("fr_meta", b'{"__metadata__": {"k": "v", "z\\n": "\\u00e9"}, "other": 1}',
              {"k": "v", "z\n": "\u00e9"}),
             ("fr_text", b"not json at all", None),
             ("fr_none", b"", None),
             # A safetensors header that describes other tensors: not kept.
             ("fr_stale", header_of(st_file([("b", "F32", [4], b"\0" * 16)], meta={"m": "1"})),
              {"m": "1"})]
    for gname, meta, meta_obj in cases:
        mkgroup(gname, meta, args)
        out = os.path.join(work, gname + ".safetensors")
        r = tshm("save", gname, out)
        check(r.returncode == 0, "save %s: %s" % (gname, r.stderr))
        want = expected_fresh(meta_obj, tensors)
        got = open(out, "rb").read() if os.path.exists(out) else b""
        check(got == want, "save %s wrote %r, the reference writes %r" % (gname, got[:200], want[:200]))
    # What safetensors cannot hold is refused, and no file is left.
    for gname, meta, spec, word in [("fr_c64", b"", ["c:complex64:2"], "complex64"),
                                    ("fr_badmeta", b'{"__metadata__": {"n": 1}}', ["a:uint8:1"],
                                     "__metadata__")]:
        mkgroup(gname, meta, spec)
        out = os.path.join(work, gname + ".safetensors")
        r = tshm("save", gname, out)
        check(r.returncode == 1 and word in r.stderr and not os.path.exists(out) and
              not os.path.exists(out + ".tmp"),
              "save %s: exit %d, %s" % (gname, r.returncode, r.stderr))
    r = tshm("create", "plain", "float32", "3")
    r = tshm("save", "plain", os.path.join(work, "plain.safetensors"))
    check(r.returncode == 1 and "not a tensor group" in r.stderr, "save of an array: %s" % r.stderr)


def hostile_cases():
    ok = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    d8 = b"\0" * 8

    def hdr(obj):
        return json.dumps(obj).encode()

    def one(**kw):
        e = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
        e.update(kw)
        return hdr({"a": e})

    return [
        ("short", b"\x10\0\0", "truncated"),
        ("trunc_header", raw_file(hdr(ok), length=1000), "truncated"),
        ("huge_header", raw_file(hdr(ok) + d8, length=1 << 40), "over the limit"),
        ("header_over_limit", raw_file(hdr(ok) + d8, length=100000001), "over the limit"),
        ("bad_json", raw_file(b'{"a": {"dtype": "F32",', d8), "not valid JSON"),
        ("trailing_json", raw_file(hdr(ok) + b" x", d8), "not valid JSON"),
        ("duplicate", raw_file(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},'
                               b' "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}', d8),
         "duplicate"),
        ("not_object", raw_file(b"[1, 2]", d8), "start with '{'"),
        ("leading_space", raw_file(b" " + hdr(ok), d8), "start with '{'"),
        ("empty_header", raw_file(b"", d8), "start with '{'"),
        ("nul_name", raw_file(b'{"a\\u0000b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}',
                              b"\0"), "not valid JSON"),
        ("out_of_range", raw_file(one(data_offsets=[0, 8]), b"\0" * 4), "out of range"),
        ("data_truncated", raw_file(hdr({"a": {"dtype": "U8", "shape": [100], "data_offsets": [0, 100]}}),
                                    b"\0" * 50), "out of range"),
        ("overlap", raw_file(hdr({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}),
                             b"\0" * 12), "overlap"),
        ("same_range", raw_file(hdr({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                     "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}), d8),
         "overlap"),
        ("hole", raw_file(hdr({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                               "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}),
                          b"\0" * 12), "hole"),
        ("hole_at_start", raw_file(one(data_offsets=[4, 12]), b"\0" * 12), "hole"),
        ("trailing_data", raw_file(hdr(ok), b"\0" * 9), "hole"),
        ("mismatch", raw_file(one(shape=[3]), d8), "span"),
        ("begin_after_end", raw_file(one(data_offsets=[8, 0]), d8), "end before"),
        ("negative", raw_file(one(data_offsets=[-8, 0]), d8), "data_offsets"),
        ("offsets_3", raw_file(one(data_offsets=[0, 4, 8]), d8), "data_offsets"),
        ("float_extent", raw_file(one(shape=[2.0]), d8), "extent"),
        ("too_many_dims", raw_file(one(shape=[1] * 33), d8), "at most 32"),
        ("huge_shape", raw_file(one(shape=[1 << 40, 1 << 40]), d8), "too large"),
        ("unknown_dtype", raw_file(one(dtype="Q7"), d8), "unknown dtype 'Q7'"),
        ("c64", raw_file(one(dtype="C64"), d8), "'C64' has no tshm equivalent"),
        ("f8", raw_file(one(dtype="F8_E4M3", shape=[8]), d8), "'F8_E4M3' has no tshm equivalent"),
        ("dtype_number", raw_file(one(dtype=3), d8), "dtype is not a string"),
        ("unknown_key", raw_file(one(strides=[4]), d8), "unknown key 'strides'"),
        ("missing_key", raw_file(hdr({"a": {"dtype": "F32", "shape": [2]}}), d8), "lacks"),
        ("entry_not_object", raw_file(hdr({"a": [1]}), d8), "not a JSON object"),
        ("name_too_long", raw_file(hdr({"n" * 1025: ok["a"]}), d8), "names are 1 to 1024"),
        ("name_empty", raw_file(hdr({"": ok["a"]}), d8), "names are 1 to 1024"),
        ("meta_not_strings", raw_file(hdr({"__metadata__": {"n": 1}, **ok}), d8), "__metadata__"),
        ("meta_not_object", raw_file(hdr({"__metadata__": "x", **ok}), d8), "__metadata__"),
        ("bad_utf8", raw_file(b'{"\xff": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0"),
         "not valid JSON"),
    ]


def test_hostile():
    before = set(listed())
    for gname, blob, word in hostile_cases():
        path = write(gname + ".safetensors", blob)
        r = tshm("load", gname, path)
        check(r.returncode == 1, "%s: load exited %d, wanted 1: %s" % (gname, r.returncode, r.stderr))
        check(word in r.stderr and path in r.stderr and r.stderr.count("\n") == 1,
              "%s: message does not name the file and the problem (%r): %s" % (gname, word, r.stderr))
        check(not os.path.exists(shm_object(gname)), "%s: left an object in /dev/shm" % gname)
    # A header the reference would read but over what a group keeps as
    # metadata (64 MiB): refused before it is read (the file is sparse).
    path = os.path.join(work, "meta_limit.safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 70000000))
        f.truncate(8 + 70000000)
    r = tshm("load", "meta_limit", path)
    check(r.returncode == 1 and "the most a group keeps as its metadata" in r.stderr and path in r.stderr,
          "a 70 MB header: exit %d, %s" % (r.returncode, r.stderr))
    os.unlink(path)
    check(set(listed()) == before, "hostile files left segments: %s" % (set(listed()) - before))
    # A name too long by one is refused; one at the limit loads.
    name = "n" * 1024
    blob = raw_file(json.dumps({name: {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}).encode(), b"\x05")
    round_trip("longname", blob, [(name, "U8", [1], b"\x05")], "a name of 1024 bytes")


def test_usage_and_clash():
    good = write("good.safetensors", st_file([("x", "U8", [1], b"\x09")]))
    r = tshm("load", "g1", os.path.join(work, "model.bin"))
    check(r.returncode == 2 and "model.bin" in r.stderr and ".safetensors" in r.stderr,
          "load of a .bin: exit %d, %s" % (r.returncode, r.stderr))
    r = tshm("save", "alltypes", os.path.join(work, "out.pt"))
    check(r.returncode == 2 and not os.path.exists(os.path.join(work, "out.pt")),
          "save to a .pt: exit %d, %s" % (r.returncode, r.stderr))
    r = tshm("load", "clash", good, "--mode", "0640")
    check(r.returncode == 0 and listed()["clash"]["mode"] == "0640", "load --mode: %s" % r.stderr)
    r = tshm("load", "clash", good)
    check(r.returncode == 1 and "exists" in r.stderr, "load onto a taken name: %s" % r.stderr)
    r = tshm("load", "nopop", good, "--no-populate")
    check(r.returncode == 0, "load --no-populate: %s" % r.stderr)
    r = tshm("save", "nopop", os.path.join(work, "nopop.safetensors"), "--no-populate")
    check(r.returncode == 0 and open(os.path.join(work, "nopop.safetensors"), "rb").read() ==
          open(good, "rb").read(), "save --no-populate: %s" % r.stderr)
    r = tshm("load", "missing", os.path.join(work, "nosuch.safetensors"))
    check(r.returncode == 1 and "nosuch.safetensors" in r.stderr, "load of a missing file: %s" % r.stderr)


def test_save_never_writes_through_a_link():
    # Another user of a shared directory puts a link where the save's
    # temporary file goes, aiming at a file of the victim's: the save
    # refuses, and the victim's file keeps its bytes.
    victim = write("victim.bin", b"precious")
    r = tshm("create", "linkarr", "uint8", "4")
    check(r.returncode == 0, "create linkarr: %s" % r.stderr)
    for gname, out in (("alltypes", "linked.safetensors"), ("linkarr", "linked.npy")):
        path = os.path.join(work, out)
        os.symlink(victim, path + ".tmp")
        r = tshm("save", gname, path)
        check(r.returncode == 1 and ".tmp" in r.stderr,
              "save %s through a planted link: exit %d, %s" % (out, r.returncode, r.stderr))
        check(open(victim, "rb").read() == b"precious", "the victim's file after save " + out)
        check(not os.path.exists(path), "no %s written" % out)
        os.unlink(path + ".tmp")
        r = tshm("save", gname, path)
        check(r.returncode == 0 and os.path.exists(path) and not os.path.lexists(path + ".tmp"),
              "save %s once the link is gone: %s" % (out, r.stderr))


def big_file(path, size):
    """One U8 tensor of @size bytes, sparse: zeros read fast."""
    h = json.dumps({"w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        f.truncate(8 + len(h) + size)


def test_progress_and_interrupt():
    path = os.path.join(work, "big.safetensors")
    big_file(path, 80 << 20)
    r = tshm("load", "big", path)
    check(r.returncode == 0 and r.stderr == "", "a large load, stderr not a terminal: %d %r" % (r.returncode, r.stderr))
    tshm("rm", "big")
    # On a terminal: bytes done and the rate.
    r = subprocess.run(["script", "-qec", "'%s' load big '%s'" % (TSHM, path), "/dev/null"], env=env,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    check(r.returncode == 0 and "80 MiB / 80 MiB (100%)" in r.stdout and "MB/s" in r.stdout,
          "the progress line on a terminal: %r" % r.stdout[-300:])
    # SIGINT while the data streams in: nothing is published, nothing stays.
    big_file(path, 2 << 30)
    p = subprocess.Popen([TSHM, "load", "huge", path], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 20
    while not os.path.exists(shm_object("huge")) and p.poll() is None and time.time() < deadline:
        time.sleep(0.001)
    # The object exists once the group is made; its 2 GiB take far longer
    # than this to fill, so the signal lands while the data streams in.
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    err = p.communicate()[1]
    check(p.returncode == -signal.SIGINT and "interrupted" in err,
          "load interrupted by SIGINT: exit %d, %s" % (p.returncode, err))
    for _ in range(200):
        if not os.path.exists(shm_object("huge")):
            break
        time.sleep(0.01)
    check(not os.path.exists(shm_object("huge")), "an interrupted load left its object")
    check("huge" not in listed(), "an interrupted load left a segment")
    os.unlink(path)


def main():
    daemon = start_daemon()
    try:
        rng = random.Random(14)
        test_round_trips(rng)
        test_fresh_headers()
        test_hostile()
        test_usage_and_clash()
        test_save_never_writes_through_a_link()
        test_progress_and_interrupt()
    finally:
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait()
        check(rc == 0, "tshmd exited %d on SIGTERM" % rc)
        for f in os.listdir("/dev/shm"):
            if f.startswith(prefix + "."):
                os.unlink("/dev/shm/" + f)
        subprocess.run(["rm", "-rf", work])
    print("%d checks, %d failed" % (checks, len(failures)))
    sys.exit(1 if failures else 0)


main()
