/*
 * test_oom.c - the daemon's op handlers with the Nth allocation failing
 * (alloc.h), for N = 1, 2, ... until the op makes fewer than N: each run
 * answers TSHM_ENOMEM (or succeeds: an allocation whose failure costs
 * nothing), and a failed one leaves the registry, the budgets, the session
 * and /dev/shm exactly as they were. No socket: a server, a loop, and a
 * session with a forged peer, as in test_ops.c. Under ASan, nothing leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "server_fixture.h"
#include "tshmd.h"

#define OWNER 1000u

static struct tshmd_config cfg;
static struct tshmd_server srv;
static uv_loop_t loop;
static const struct tshmd_peer owner = {.pid = 0, .uid = OWNER, .gid = OWNER};

/* What a pending create handed in. */
static struct {
        int calls;
        int rv;
        uint64_t handle;
} done;

/* Encode the reply as conn.c does, still under the walk (a success that
 * cannot be encoded is undone and answered TSHM_ENOMEM), then disarm and
 * decode it as libtshm does; the handle of a success in *ret_handle.
 * Returns the status the frame carries. */
static int
send_reply(struct tshmd_reply *rep, int rv, uint32_t op, uint64_t *ret_handle)
{
        struct tshmd_frame f;
        struct tshm__reply r;

        ck_assert_int_eq(tshmd_reply_encode(rep, rv, &f), 0);
        tshm__alloc_fail_at(0); /* the walk covers the op, not the test's decoding */
        tshmd_reply_dispose(rep);
        ck_assert_int_eq(tshm__reply_decode(f.buf + 4, f.len - 4, op, &r), 0);
        ck_assert_int_eq(r.status, f.status);
        if (f.status == 0 && (op == TSHM_OP_CREATE || op == TSHM_OP_STREAM_CREATE ||
                              op == TSHM_OP_OPEN || op == TSHM_OP_ATTACH)) {
                ck_assert_int_ge(f.fd, 0);
        }
        if (ret_handle != NULL) {
                *ret_handle = r.handle;
        }
        tshm__free(r.infos);
        tshm__free(f.buf);
        if (f.fd >= 0) {
                (void)close(f.fd);
        }
        return f.status;
}

static void
on_complete(struct tshmd_session *ses, int rv, struct tshmd_reply *rep)
{
        (void)ses;
        done.calls++;
        done.rv = send_reply(rep, rv, TSHM_OP_CREATE, &done.handle);
}

static void
setup(void)
{
        server_fixture_init(&srv, &cfg, &loop, "oom");
        memset(&done, 0, sizeof(done));
}

static void
teardown(void)
{
        server_fixture_done(&srv, &loop);
}

/* What a failed op must leave as it found. */
struct snap {
        uint64_t segments, bytes, opens, serial_segs, usage_bytes, usage_segs;
        unsigned nusage, nnamed, pending;
        uint32_t nhandles, subscribers;
        const struct tshmd_ephemeral *ephemerals;
};

static void
snap_take(struct tshmd_session *ses, const char *stream, struct snap *s)
{
        struct tshmd_seg *seg = stream != NULL ? tshmd_registry_find(&srv.reg, stream) : NULL;

        memset(s, 0, sizeof(*s));
        s->segments = srv.reg.segments;
        s->bytes = srv.reg.bytes;
        s->opens = srv.reg.opens;
        s->nusage = HASH_COUNT(srv.reg.usage);
        s->nnamed = HASH_COUNT(srv.reg.by_name);
        tshmd_registry_usage(&srv.reg, OWNER, &s->usage_bytes, &s->usage_segs);
        s->nhandles = ses->nhandles;
        s->pending = ses->pending;
        s->ephemerals = ses->ephemerals;
        s->subscribers = seg != NULL ? seg->subscribers : 0;
}

static void
snap_check(struct tshmd_session *ses, const char *stream, const struct snap *before)
{
        struct snap now;

        snap_take(ses, stream, &now);
        ck_assert_uint_eq(now.segments, before->segments);
        ck_assert_uint_eq(now.bytes, before->bytes);
        ck_assert_uint_eq(now.opens, before->opens);
        ck_assert_uint_eq(now.nusage, before->nusage);
        ck_assert_uint_eq(now.nnamed, before->nnamed);
        ck_assert_uint_eq(now.usage_bytes, before->usage_bytes);
        ck_assert_uint_eq(now.usage_segs, before->usage_segs);
        ck_assert_uint_eq(now.nhandles, before->nhandles);
        ck_assert_uint_eq(now.pending, before->pending);
        ck_assert_ptr_eq(now.ephemerals, before->ephemerals);
        ck_assert_uint_eq(now.subscribers, before->subscribers);
}

/* No object of that name under the prefix in /dev/shm. */
static void
check_no_object(const char *name)
{
        char objname[128];
        int fd;

        ck_assert_int_eq(tshmd_shm_objname(cfg.shm_prefix, name, objname, sizeof(objname)), 0);
        fd = shm_open(objname, O_RDONLY, 0);
        if (fd >= 0) {
                (void)close(fd);
        }
        ck_assert_msg(fd < 0 && errno == ENOENT, "object '%s' left behind", objname);
}

/* One run of an op under the walk: 0 or what it failed with. */
typedef int (*walk_op_fn)(struct tshmd_session *ses, void *arg);

/* One step of walk(): an op that met no failure must have worked; one that
 * failed must say ENOMEM and have left @ses, the registry and /dev/shm as
 * they were. */
static void
walk_judge(struct tshmd_session *ses, int rv, bool hit, const char *stream, const char *created,
           const struct snap *before)
{
        if (!hit) {
                /* The op made fewer than n allocations: it works. */
                ck_assert_int_eq(rv, 0);
        } else if (rv != 0) {
                ck_assert_int_eq(rv, TSHM_ENOMEM);
                snap_check(ses, stream, before);
                if (created != NULL) {
                        ck_assert_ptr_null(tshmd_registry_find(&srv.reg, created));
                        check_no_object(created);
                }
        }
}

/* Remove what a successful step created, so that the next step starts from
 * the same state. */
static void
walk_forget(int rv, const char *created)
{
        struct tshmd_seg *seg;

        if (rv == 0 && created != NULL && (seg = tshmd_registry_find(&srv.reg, created)) != NULL) {
                ck_assert_int_eq(tshmd_seg_remove(&srv, seg), 0);
        }
}

/* Walk @op: fail allocation 1, 2, ... of it until it makes fewer; returns
 * how many runs hit a failure. @stream (or NULL) is a stream whose
 * subscriber count is part of the state; @created (or NULL) the name a
 * successful run creates, removed again after it. @prep (or NULL) runs
 * first in each run's session, unwalked (the handles an op needs). */
static unsigned
walk(walk_op_fn op, void *arg, walk_op_fn prep, const char *stream, const char *created)
{
        unsigned hits = 0;
        uint64_t n;

        for (n = 1;; n++) {
                struct tshmd_session ses;
                struct snap before;
                uint64_t failures;
                bool hit;
                int rv;

                ck_assert_uint_lt(n, 1000); /* an op that never stops allocating */
                tshmd_session_init(&ses, &owner, NULL);
                if (prep != NULL) {
                        ck_assert_int_eq(prep(&ses, arg), 0);
                }
                snap_take(&ses, stream, &before);
                failures = tshm__alloc_failures();
                tshm__alloc_fail_at(n);
                rv = op(&ses, arg);
                tshm__alloc_fail_at(0);
                hit = tshm__alloc_failures() != failures;
                walk_judge(&ses, rv, hit, stream, created, &before);
                hits += hit ? 1 : 0;
                tshmd_session_end(&srv, &ses);
                walk_forget(rv, created);
                if (!hit) {
                        return hits;
                }
        }
}

/* Run @fn and encode its reply as conn.c would, both under the walk. */
static int
run(tshmd_handler_fn fn, struct tshmd_session *ses, const struct tshm__req *req,
    uint64_t *ret_handle)
{
        struct tshmd_reply rep;
        int rv;

        tshmd_reply_init(&rep, req->id);
        rv = fn(&srv, ses, req, &rep);
        if (rv == TSHMD_PENDING) {
                /* Still armed: the completion is part of the op
                 * (on_complete disarms). */
                tshmd_reply_dispose(&rep);
                done.calls = 0;
                ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
                ck_assert_int_eq(done.calls, 1);
                if (ret_handle != NULL) {
                        *ret_handle = done.handle;
                }
                return done.rv;
        }
        return send_reply(&rep, rv, req->op, ret_handle);
}

static struct tshm__req
req_create(const char *name, uint64_t n)
{
        struct tshm__req req = {.op = TSHM_OP_CREATE, .id = 7, .dtype = TSHM_DTYPE_UINT8};

        req.ndim = 1;
        req.shape[0] = n;
        req.mode = 0600;
        (void)snprintf(req.name, sizeof(req.name), "%s", name);
        return req;
}

static int
op_create(struct tshmd_session *ses, void *arg)
{
        ses->complete = on_complete;
        return run(tshmd_create, ses, arg, NULL);
}

static unsigned
walk_create(struct tshm__req *req)
{
        unsigned hits = walk(op_create, req, NULL, NULL, req->name);

        /* Made once more after the walk, it is there and openable. */
        {
                struct tshmd_session ses;

                tshmd_session_init(&ses, &owner, on_complete);
                ck_assert_int_eq(run(tshmd_create, &ses, req, NULL), 0);
                ck_assert_ptr_nonnull(tshmd_registry_find(&srv.reg, req->name));
                tshmd_session_end(&srv, &ses);
        }
        return hits;
}

START_TEST(test_oom_create)
{
        struct tshm__req req = req_create("a", 4096);

        ck_assert_uint_ge(walk_create(&req), 8);
}
END_TEST

START_TEST(test_oom_create_ephemeral)
{
        struct tshm__req req = req_create("e", 4096);

        req.flags = TSHM_CREATE_EPHEMERAL;
        ck_assert_uint_ge(walk_create(&req), 9);
}
END_TEST

START_TEST(test_oom_stream_create)
{
        struct tshm__req req = req_create("s", 64);

        req.op = TSHM_OP_STREAM_CREATE;
        req.slots = 4;
        req.policy = TSHM_STREAM_BLOCK;
        ck_assert_uint_ge(walk_create(&req), 8);
}
END_TEST

/* A create in the thread pool: the walk covers the handler and the
 * completion on the loop. */
START_TEST(test_oom_create_pending)
{
        struct tshm__req req = req_create("big", 8u << 20);

        ck_assert_uint_ge(walk_create(&req), 8);
}
END_TEST

static int
op_open(struct tshmd_session *ses, void *arg)
{
        return run(tshmd_ops_open, ses, arg, NULL);
}

START_TEST(test_oom_open)
{
        struct tshm__req mk = req_create("a", 4096);
        struct tshm__req req = {.op = TSHM_OP_OPEN, .id = 9, .writable = true};
        struct tshmd_session ses;

        tshmd_session_init(&ses, &owner, on_complete);
        ck_assert_int_eq(run(tshmd_create, &ses, &mk, NULL), 0);
        tshmd_session_end(&srv, &ses);
        (void)snprintf(req.name, sizeof(req.name), "a");
        ck_assert_uint_ge(walk(op_open, &req, NULL, NULL, NULL), 3);
}
END_TEST

/* Every page of a listing, following the cursor. */
static int
op_list(struct tshmd_session *ses, void *arg)
{
        struct tshm__req req = {.op = TSHM_OP_LIST, .id = 5, .limit = 3};
        unsigned *pages = arg;
        int rv;

        *pages = 0;
        do {
                struct tshmd_reply rep;
                struct tshmd_frame f;
                struct tshm__reply r;

                tshmd_reply_init(&rep, req.id);
                rv = tshmd_ops_list(&srv, ses, &req, &rep);
                ck_assert_int_eq(tshmd_reply_encode(&rep, rv, &f), 0);
                tshmd_reply_dispose(&rep);
                if (f.status < 0) {
                        tshm__free(f.buf);
                        return f.status;
                }
                rv = tshm__reply_decode(f.buf + 4, f.len - 4, TSHM_OP_LIST, &r);
                tshm__free(f.buf);
                if (rv < 0) {
                        return rv;
                }
                tshm__free(r.infos);
                ck_assert_uint_le(r.ninfos, 3);
                req.cursor = r.next_cursor;
                ++*pages;
        } while (req.cursor != 0);
        return 0;
}

START_TEST(test_oom_list)
{
        struct tshmd_session ses;
        unsigned i, pages;

        tshmd_session_init(&ses, &owner, on_complete);
        for (i = 0; i < 8; i++) {
                char name[16];
                struct tshm__req mk;

                (void)snprintf(name, sizeof(name), "seg%u", i);
                mk = req_create(name, 4096);
                ck_assert_int_eq(run(tshmd_create, &ses, &mk, NULL), 0);
        }
        tshmd_session_end(&srv, &ses);
        ck_assert_uint_ge(walk(op_list, &pages, NULL, NULL, NULL), 5);
        ck_assert_uint_eq(pages, 3);
}
END_TEST

/* A session holding an open handle of the stream "s". */
static int
prep_attach(struct tshmd_session *ses, void *arg)
{
        struct tshm__req req = {.op = TSHM_OP_OPEN, .id = 9, .writable = false};
        struct tshm__req *attach = arg;

        (void)snprintf(req.name, sizeof(req.name), "s");
        return run(tshmd_ops_open, ses, &req, &attach->handle);
}

static int
op_attach(struct tshmd_session *ses, void *arg)
{
        return run(tshmd_ops_attach, ses, arg, NULL);
}

START_TEST(test_oom_stream_attach)
{
        struct tshm__req mk = req_create("s", 64);
        struct tshm__req attach = {.op = TSHM_OP_ATTACH, .id = 6, .subscribe = true};
        struct tshmd_session ses;

        mk.op = TSHM_OP_STREAM_CREATE;
        mk.slots = 4;
        mk.policy = TSHM_STREAM_BLOCK;
        tshmd_session_init(&ses, &owner, on_complete);
        ck_assert_int_eq(run(tshmd_create, &ses, &mk, NULL), 0);
        tshmd_session_end(&srv, &ses);
        ck_assert_uint_ge(walk(op_attach, &attach, prep_attach, "s", NULL), 1);
        ck_assert_uint_eq(tshmd_registry_find(&srv.reg, "s")->subscribers, 0);
}
END_TEST

int
main(void)
{
        Suite *s;

        /* As tshmd's main() does: libuv's allocations are in the walk. */
        if (uv_replace_allocator(tshm__malloc, tshm__realloc, tshm__calloc, tshm__free) != 0) {
                return EXIT_FAILURE;
        }
        s = suite_create("oom");
        tshm_test_each(s, 60, setup, teardown,
                       TSHM_TESTS(test_oom_create, test_oom_create_ephemeral,
                                  test_oom_stream_create, test_oom_create_pending, test_oom_open,
                                  test_oom_list, test_oom_stream_attach));
        return tshm_test_run(s);
}
