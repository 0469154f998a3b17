#!/usr/bin/env python3
"""Mutation run over the hostile-input checks (issue 10): remove each check
once, rebuild, run the tests meant to pin it, and report the checks whose
removal no test noticed (survivors).

Usage: scripts/mutate.py [BUILD_DIR] [--only NAME...] [--list]
  BUILD_DIR  a gcc Debug build to reuse (default: _build-mut, configured if
             missing). The source tree must have no uncommitted change in the
             files mutated; each file is restored after its mutant, also on
             Ctrl-C.

Each mutant names the file, a snippet that must occur exactly once, what
replaces it (the check removed or made always-true), and a ctest regex of
the tests that should fail. A mutant that does not build is reported as
such (a bad mutant, not a kill). Not part of scripts/test.sh: it rebuilds
once per mutant (several minutes in all); run it when a defence changes.
"""
import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, file, old, new, ctest regex)
MUTANTS = [
    # --- header validation (proto/header.c): geometry exactly what init makes
    ("hdr-data-size-exact", "proto/header.c",
     "hdr->data_offset != want.data_offset ||\n            hdr->data_size != want.data_size ||",
     "hdr->data_offset != want.data_offset ||", "unit_header|fuzz_replay_seg"),
    ("hdr-strides-exact", "proto/header.c",
     "            memcmp(hdr->strides, want.strides, sizeof(hdr->strides)) != 0 ||\n", "",
     "unit_header|fuzz_replay_seg"),
    ("hdr-shape-tail-zero", "proto/header.c",
     "            memcmp(hdr->shape, want.shape, sizeof(hdr->shape)) != 0 ||\n", "",
     "unit_header|fuzz_replay_seg"),
    ("hdr-data-offset", "proto/header.c",
     "hdr->itemsize != want.itemsize || hdr->data_offset != want.data_offset ||",
     "hdr->itemsize != want.itemsize ||", "unit_header|fuzz_replay_seg"),
    ("hdr-itemsize", "proto/header.c",
     "hdr->itemsize != want.itemsize || ", "", "unit_header|fuzz_replay_seg"),
    ("hdr-slot-stride", "proto/header.c",
     "            hdr->slot_stride != want.slot_stride || hdr->ctl_offset != want.ctl_offset ||",
     "            hdr->ctl_offset != want.ctl_offset ||", "unit_header|fuzz_replay_seg"),
    ("hdr-ctl-offset", "proto/header.c",
     " || hdr->ctl_offset != want.ctl_offset ||", " ||", "unit_header|fuzz_replay_seg"),
    ("hdr-frame-bytes", "proto/header.c",
     "            hdr->frame_bytes != want.frame_bytes) {", "            false) {",
     "unit_header|fuzz_replay_seg"),
    ("hdr-slots-policy", "proto/header.c",
     "            hdr->slots != want.slots || hdr->policy != want.policy ||\n", "",
     "unit_header|fuzz_replay_seg"),
    ("hdr-data-in-map", "proto/header.c",
     "if (hdr->data_offset > map_size || hdr->data_size > map_size - hdr->data_offset) {",
     "if (false) {", "unit_header|fuzz_replay_seg"),
    ("hdr-kind", "proto/header.c",
     "if (kind > TSHM_KIND_STREAM || (hdr->flags", "if ((hdr->flags",
     "unit_header|fuzz_replay_seg"),
    ("hdr-unknown-flags", "proto/header.c",
     "(hdr->flags & ~TSHM_HDR_FLAGS_KNOWN) != 0 ||", "", "unit_header|fuzz_replay_seg"),
    ("hdr-mode", "proto/header.c",
     "||\n            hdr->mode > 0777u) {", ") {", "unit_header|fuzz_replay_seg"),
    ("hdr-name-length", "proto/header.c",
     "if (name_len > TSHM_NAME_MAX || hdr->ndim", "if (hdr->ndim",
     "unit_header|fuzz_replay_seg"),
    ("hdr-name-chars", "proto/header.c",
     """        if ((rv = tshm__name_check(spec->name)) < 0) {
                return rv;
        }
        if ((rv = tshm__shape_nbytes""", """        if ((rv = tshm__shape_nbytes""",
     "unit_header|fuzz_replay_seg"),
    ("hdr-array-slots", "proto/header.c",
     "            hdr->slots != want.slots || hdr->policy != want.policy ||\n",
     "            (hdr->slots != want.slots && hdr->slots < 2) || hdr->policy != want.policy ||\n",
     "unit_header|fuzz_replay_seg"),
    ("hdr-stream-needs-slots", "proto/header.c",
     "if (kind == TSHM_KIND_STREAM && hdr->slots == 0) {", "if (false) {",
     "unit_header|fuzz_replay_seg"),
    ("hdr-magic-layout", "proto/header.c",
     "hdr->layout != TSHM_HDR_LAYOUT || hdr->header_size != TSHM_HDR_SIZE",
     "hdr->layout != TSHM_HDR_LAYOUT", "unit_header|fuzz_replay_seg"),
    # --- counters and locks (segsync/sync.c, client/sync.c, client/stream.c)
    ("seq-range-wait", "segsync/sync.c",
     "if (!tshm__seq_ok(s)) {\n                        return TSHM_ETORN;", "if (false) {\n                        return TSHM_ETORN;",
     "integration_forged|python_publish$"),
    ("seq-range-read-begin", "client/sync.c",
     "if (!tshm__seq_ok(s)) {\n                return TSHM_ETORN;\n        }\n        if (!(s & 1u)) {",
     "if (!(s & 1u)) {", "integration_forged|python_publish$"),
    ("seq-range-write-begin", "client/sync.c",
     "if (!tshm__seq_ok(s) || s >= TSHM_SEQ_MAX - 2u) {", "if (false) {",
     "integration_forged|python_publish$"),
    ("odd-seq-repair", "client/sync.c",
     "        if (s & 1u) {\n                /* Odd with the lock free", "        if (false) {\n                /* Odd with the lock free",
     "integration_forged"),
    ("read-retry-odd", "client/sync.c",
     "!= seq || (seq & 1u)) {", "!= seq) {", "integration_forged|integration_publish"),
    ("seq-range-loan", "client/stream.c",
     "if (!tshm__seq_ok(frame) || frame >= TSHM_SEQ_MAX - 2u) {", "if (false) {",
     "integration_forged"),
    ("lock-seen-bound", "segsync/sync.c",
     "} else if (now - seen->since_ns > bound) {",
     "} else if (now - seen->since_ns > bound && false) {", "integration_forged"),
    ("lock-lease-expires", "segsync/sync.c",
     "if (lease != 0 && now > lease) {", "if (lease != 0 && now > lease && false) {",
     "integration_forged|integration_publish"),
    ("lock-holder-gone", "segsync/sync.c",
     "        return tshm__sync_thread_gone(holder);\n}", "        return false;\n}",
     "integration_publish|integration_stream"),
    # --- streams: the roster, the subscriber's own cursor
    ("roster-future-write-seal", "daemon/stream.c",
     "TSHM_ROS_SIZE, F_SEAL_FUTURE_WRITE, &map)", "TSHM_ROS_SIZE, 0, &map)",
     "integration_forged|integration_stream"),
    ("roster-client-seal-check", "client/stream.c",
     "(writable ? 0 : F_SEAL_FUTURE_WRITE)", "0", "integration_forged"),
    ("roster-decides-who-waits", "client/stream.c",
     "if (pid != 0 &&\n                    __atomic_load_n(&cur->subs[i].cursor",
     "if ((pid != 0 || __atomic_load_n(&cur->subs[i].reserved0, __ATOMIC_SEQ_CST) != 0) &&\n                    __atomic_load_n(&cur->subs[i].cursor",
     "integration_forged"),
    ("sub-gone-check", "client/stream.c",
     "!stream_sub_gone(pid)) {", "(!stream_sub_gone(pid) || true)) {", "integration_stream"),
    ("sub-entry-still-ours", "client/stream.c",
     "__atomic_load_n(&r->serial, __ATOMIC_SEQ_CST) != sub->serial) {",
     "false) {", "integration_forged|integration_stream|fuzz_replay_seg_reader"),
    ("sub-own-cursor", "client/stream.c",
     "        frame = sub->next;\n        for (;;) {",
     "        frame = __atomic_load_n(&sub->me->cursor, __ATOMIC_SEQ_CST);\n        for (;;) {",
     "fuzz_replay_seg_reader|integration_forged|integration_stream"),
    ("unlink-wakes", "daemon/sync.c",
     "__atomic_or_fetch(&hdr->state, TSHM_SYNC_UNLINKED, __ATOMIC_SEQ_CST);\n        tshm__sync_bump(hdr);",
     "__atomic_or_fetch(&hdr->state, TSHM_SYNC_UNLINKED, __ATOMIC_SEQ_CST);",
     "integration_publish"),
    # --- restart adoption (daemon/adopt.c, daemon/shm.c): helper-verified too
    ("adopt-regular-file", "daemon/adopt.c",
     "if ((obj->mode & S_IFMT) != S_IFREG) {", "if (false) {",
     "integration_adopt|fuzz_replay_adopt"),
    ("adopt-owner", "daemon/adopt.c", "if (obj->uid != euid) {", "if (obj->uid != euid && false) {",
     "integration_adopt|fuzz_replay_adopt"),
    ("adopt-mode", "daemon/adopt.c", "if ((obj->mode & 07777u) != 0600u) {", "if (false) {",
     "integration_adopt|fuzz_replay_adopt"),
    ("adopt-header-valid", "daemon/adopt.c",
     "if (tshm__hdr_validate(&hdr, obj->size) < 0) {", "if (false) {",
     "integration_adopt|fuzz_replay_adopt|integration_gc"),
    ("adopt-name", "daemon/adopt.c", "if (strcmp(obj->entry + plen + 1, hdr.name) != 0) {",
     "if (false) {", "integration_adopt|fuzz_replay_adopt"),
    ("adopt-size", "daemon/adopt.c",
     "if (!adopt_expected_size(&hdr, &want) || want != obj->size) {",
     "if (!adopt_expected_size(&hdr, &want)) {", "integration_adopt|fuzz_replay_adopt"),
    ("adopt-seal", "daemon/adopt.c", "if (!tshmd_seal_ok(key, &hdr)) {",
     "if (!tshmd_seal_ok(key, &hdr) && false) {",
     "integration_adopt|integration_hostile|fuzz_replay_adopt"),
    ("adopt-nonblock", "daemon/shm.c",
     "O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC", "O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC",
     "integration_adopt"),
    # --- tshmd's own accesses, the resize defence after unlink
    ("hdrmap-guard", "daemon/hdrmap.c",
     "if (hdrmap_active && si->si_code > 0 && a >= hdrmap_lo && a < hdrmap_hi) {",
     "if (hdrmap_active && si->si_code > 0 && a >= hdrmap_lo && a < hdrmap_hi && false) {",
     "unit_hdrmap|integration_truncate"),
    ("hdrmap-range", "daemon/hdrmap.c",
     "if (hdrmap_active && si->si_code > 0 && a >= hdrmap_lo && a < hdrmap_hi) {",
     "if (hdrmap_active && si->si_code > 0 && a != 1) {",
     "unit_hdrmap|integration_truncate"),
    ("guard-keep-unlinked", "daemon/ops.c",
     "                tshmd_guard_keep(srv, seg, objname);\n", "",
     "integration_truncate"),
    # --- clients: queues, metadata, refusals, hash
    ("queue-limit-conn", "daemon/conn.c",
     "if (c->queued < own && (c->uidq", "if ((c->queued < own || true) && (c->uidq",
     "integration_limits"),
    ("queue-limit-uid", "daemon/conn.c",
     "(c->uidq == NULL || c->uidq->queued < TSHMD_QUEUE_MAX_UID)", "true",
     "integration_limits"),
    ("queue-limit-all", "daemon/conn.c",
     "            c->srv->queued < TSHMD_QUEUE_MAX_ALL) {", "            true) {",
     "integration_limits"),
    ("malloc-trim", "daemon/conn.c", "                (void)malloc_trim(0);\n", "",
     "integration_limits"),
    ("stat-private", "daemon/ops.c",
     "        if (!ops_may_see(c, seg)) {\n                tshmd_ops_fail(c, req->id, TSHM_EACCES, \"'%s': read access denied\"",
     "        if (false) {\n                tshmd_ops_fail(c, req->id, TSHM_EACCES, \"'%s': read access denied\"",
     "integration_limits"),
    ("list-private", "daemon/ops.c",
     "if (seg->serial <= req->cursor || seg->state != TSHMD_SEG_READY ||\n                    !ops_may_see(c, seg)) {",
     "if (seg->serial <= req->cursor || seg->state != TSHMD_SEG_READY) {",
     "integration_limits"),
    ("refusal-frame", "daemon/conn.c", "                conn_refuse(fd, srv->cfg->max_clients);\n",
     "                if (false) {\n                        conn_refuse(fd, srv->cfg->max_clients);\n                }\n",
     "integration_limits"),
    ("keyed-hash", "daemon/registry.c",
     "return (unsigned)tshmd_seal_siphash(tshmd_hash_key, key, len);",
     "return (unsigned)tshmd_seal_siphash((const uint8_t[16]){0}, key, len);",
     "unit_registry"),
    ("ephemeral-creator-start", "daemon/gc.c",
     "return pid != 0 && start != 0 && tshmd_gc_start_time((pid_t)pid) == start;",
     "return pid != 0 && start != 1 && tshmd_gc_start_time((pid_t)pid) != 0;",
     "unit_creator|integration_gc"),
]


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def main():
    args = sys.argv[1:]
    build = os.path.join(TOP, "_build-mut")
    only = []
    if args and not args[0].startswith("--"):
        build = os.path.abspath(args.pop(0))
    if args and args[0] == "--list":
        for m in MUTANTS:
            print(f"{m[0]:32} {m[1]:20} {m[4]}")
        return 0
    if args and args[0] == "--only":
        only = args[1:]
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        r = run([os.path.join(TOP, "scripts/build.sh"), build, "-DCMAKE_BUILD_TYPE=Debug",
                 "-DCMAKE_C_COMPILER=gcc", "-DTSHM_BUILD_BENCH=OFF"])
        if r.returncode != 0:
            print(r.stdout)
            return 1
    results = []
    for name, path, old, new, tests in MUTANTS:
        if only and name not in only:
            continue
        full = os.path.join(TOP, path)
        with open(full) as f:
            orig = f.read()
        if orig.count(old) != 1:
            results.append((name, "STALE (snippet not found once)"))
            print(f"{name}: STALE", flush=True)
            continue
        t0 = time.monotonic()
        try:
            with open(full, "w") as f:
                f.write(orig.replace(old, new))
            b = run(["cmake", "--build", build, "-j2"])
            if b.returncode != 0:
                verdict = "does not build"
            else:
                t = run(["ctest", "-R", tests, "--timeout", "300"], cwd=build)
                if "No tests were found" in t.stdout:
                    verdict = "NO TESTS"
                else:
                    verdict = "killed" if t.returncode != 0 else "SURVIVED"
        finally:
            with open(full, "w") as f:
                f.write(orig)
        results.append((name, verdict))
        print(f"{name}: {verdict} ({time.monotonic() - t0:.0f} s)", flush=True)
    run(["cmake", "--build", build, "-j2"])
    survivors = [n for n, v in results if v != "killed"]
    print(f"\n{len(results)} mutants, {len(results) - len(survivors)} killed, "
          f"{len(survivors)} not: {', '.join(survivors) if survivors else 'none'}")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
