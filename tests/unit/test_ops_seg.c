/*
 * test_ops_seg.c - the handlers that make, open, close and unlink segments,
 * and the op table's hello rule, run with no socket (ops_fixture.c).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "ops_fixture.h"

START_TEST(test_ops_create_small)
{
        struct tshmd_session ses;
        struct tshm__req req = req_create("a", 4096, 0640);
        struct tshm__reply r;
        struct tshmd_seg *seg;
        struct stat st;
        int fd = -1;

        tshmd_session_init(&ses, &owner, on_complete);
        ck_assert_int_eq(run(tshmd_create, &ses, &req, &r, &fd), 0);
        ck_assert_uint_eq(r.handle, 1);
        ck_assert(r.has_fd && r.has_geom);
        ck_assert_uint_eq(r.ndim, 1);
        ck_assert_uint_eq(r.shape[0], 4096);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_uint_eq((uint64_t)st.st_size, r.size);
        (void)close(fd);
        seg = tshmd_registry_find(&srv.reg, "a");
        ck_assert_ptr_nonnull(seg);
        ck_assert_uint_eq(seg->state, TSHMD_SEG_READY);
        ck_assert_uint_eq(seg->owner_uid, OWNER);
        ck_assert_uint_eq(seg->mode, 0640);
        ck_assert_uint_eq(seg->opens, 1);
        ck_assert_uint_eq(ses.nhandles, 1);
        /* The name is taken, and the reply says which. */
        ck_assert_int_eq(run(tshmd_create, &ses, &req, &r, NULL), TSHM_EEXIST);
        ck_assert_str_eq(r.error, "'a'");
        req.flags = 0x80;
        (void)snprintf(req.name, sizeof(req.name), "b");
        ck_assert_int_eq(run(tshmd_create, &ses, &req, &r, NULL), TSHM_EINVAL);
        ck_assert_str_eq(r.error, "unknown create flags 0x80");
        tshmd_session_end(&srv, &ses);
        ck_assert_uint_eq(srv.reg.opens, 0);
        ck_assert_ptr_nonnull(tshmd_registry_find(&srv.reg, "a")); /* persistent */
}
END_TEST

START_TEST(test_ops_create_budget_refused)
{
        struct tshmd_session ses;
        struct tshm__req req = req_create("a", 1u << 20, 0600);
        struct tshm__reply r;

        cfg.max_bytes = 4096;
        tshmd_session_init(&ses, &owner, on_complete);
        ck_assert_int_eq(run(tshmd_create, &ses, &req, &r, NULL), TSHM_ENOSPC);
        ck_assert_ptr_nonnull(strstr(r.error, "--max-bytes=4096"));
        ck_assert_ptr_null(tshmd_registry_find(&srv.reg, "a"));
        ck_assert_uint_eq(srv.reg.bytes, 0);
        tshmd_session_end(&srv, &ses);
}
END_TEST

/* A large create runs in the thread pool: the handler says pending, the
 * name is reserved but not openable, and the reply arrives through the
 * session's complete callback once the loop runs. */
START_TEST(test_ops_create_pending)
{
        struct tshmd_session ses;
        struct tshm__req req = req_create("big", 8u << 20, 0600);
        struct tshm__req opn = req_named(TSHM_OP_OPEN, "big");
        struct tshmd_reply rep;
        struct tshm__reply r;
        struct tshmd_seg *seg;
        struct stat st;

        tshmd_session_init(&ses, &owner, on_complete);
        tshmd_reply_init(&rep, req.id);
        ck_assert_int_eq(tshmd_create(&srv, &ses, &req, &rep), TSHMD_PENDING);
        tshmd_reply_dispose(&rep);
        ck_assert_uint_eq(ses.pending, 1);
        seg = tshmd_registry_find(&srv.reg, "big");
        ck_assert_ptr_nonnull(seg);
        ck_assert_uint_eq(seg->state, TSHMD_SEG_CREATING);
        ck_assert_int_eq(run(tshmd_ops_open, &ses, &opn, &r, NULL), TSHM_ENOENT);
        ck_assert_int_eq(run(tshmd_create, &ses, &req, &r, NULL), TSHM_EEXIST);
        ck_assert_int_eq(done.calls, 0);
        ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
        ck_assert_int_eq(done.calls, 1);
        ck_assert_int_eq(done.rv, 0);
        ck_assert_uint_eq(ses.pending, 0);
        ck_assert_uint_eq(done.r.id, req.id);
        ck_assert_uint_eq(done.r.handle, 1);
        ck_assert_int_ge(done.fd, 0);
        ck_assert_int_eq(fstat(done.fd, &st), 0);
        ck_assert_uint_eq((uint64_t)st.st_size, done.r.size);
        ck_assert_uint_eq(seg->state, TSHMD_SEG_READY);
        ck_assert_uint_eq(seg->opens, 1);
        tshmd_session_end(&srv, &ses);
}
END_TEST

/* The client leaves while its create runs: an ephemeral segment goes as
 * soon as it is made, a persistent one stays, and neither holds a handle. */
START_TEST(test_ops_create_pending_client_gone)
{
        struct tshmd_session ses;
        struct tshm__req eph = req_create("eph", 8u << 20, 0600);
        struct tshm__req keep = req_create("keep", 8u << 20, 0600);
        struct tshmd_reply rep;

        eph.flags = TSHM_CREATE_EPHEMERAL;
        tshmd_session_init(&ses, &owner, on_complete);
        tshmd_reply_init(&rep, 1);
        ck_assert_int_eq(tshmd_create(&srv, &ses, &eph, &rep), TSHMD_PENDING);
        ck_assert_int_eq(tshmd_create(&srv, &ses, &keep, &rep), TSHMD_PENDING);
        tshmd_reply_dispose(&rep);
        tshmd_session_end(&srv, &ses);
        ck_assert(ses.gone);
        ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
        ck_assert_int_eq(done.calls, 2);
        ck_assert_uint_eq(ses.pending, 0);
        ck_assert_uint_eq(ses.nhandles, 0);
        ck_assert_ptr_null(tshmd_registry_find(&srv.reg, "eph"));
        ck_assert_ptr_nonnull(tshmd_registry_find(&srv.reg, "keep"));
        ck_assert_uint_eq(srv.reg.opens, 0);
        ck_assert_uint_eq(srv.reg.segments, 1);
}
END_TEST

START_TEST(test_ops_open_refusals)
{
        struct tshmd_session own, oth, mem, adm;
        struct tshm__req req = req_named(TSHM_OP_OPEN, "a");
        struct tshm__reply r;
        int fd = -1;

        tshmd_session_init(&own, &owner, on_complete);
        tshmd_session_init(&oth, &other, on_complete);
        tshmd_session_init(&mem, &member, on_complete);
        tshmd_session_init(&adm, &root, on_complete);
        (void)make(&own, "a", 0640);
        /* Others may not read it, nor see its mode and owner. */
        ck_assert_int_eq(run(tshmd_ops_open, &oth, &req, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "'a': read access denied");
        /* The group may read it, not write it, and sees why. */
        ck_assert_int_eq(run(tshmd_ops_open, &mem, &req, &r, &fd), 0);
        ck_assert_int_ge(fd, 0);
        (void)close(fd);
        req.writable = true;
        ck_assert_int_eq(run(tshmd_ops_open, &mem, &req, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "'a' is mode 0640, owner 1000: read-write access denied");
        ck_assert_uint_eq(mem.nhandles, 1);
        /* Root may do anything. */
        ck_assert_int_eq(run(tshmd_ops_open, &adm, &req, &r, NULL), 0);
        ck_assert_uint_eq(r.handle, 1);
        /* No such name. */
        req = req_named(TSHM_OP_OPEN, "nope");
        ck_assert_int_eq(run(tshmd_ops_open, &own, &req, &r, NULL), TSHM_ENOENT);
        ck_assert_str_eq(r.error, "'nope'");
        ck_assert_uint_eq(tshmd_registry_find(&srv.reg, "a")->opens, 3);
        tshmd_session_end(&srv, &own);
        tshmd_session_end(&srv, &oth);
        tshmd_session_end(&srv, &mem);
        tshmd_session_end(&srv, &adm);
        ck_assert_uint_eq(srv.reg.opens, 0);
}
END_TEST

START_TEST(test_ops_open_handle_limit)
{
        struct tshmd_session ses;
        struct tshm__req req = req_named(TSHM_OP_OPEN, "a");
        struct tshm__reply r;
        uint32_t i;

        cfg.max_opens = 2;
        tshmd_session_init(&ses, &owner, on_complete);
        (void)make(&ses, "a", 0600);
        ck_assert_int_eq(run(tshmd_ops_open, &ses, &req, &r, NULL), 0);
        for (i = 0; i < 2; i++) {
                ck_assert_int_eq(run(tshmd_ops_open, &ses, &req, &r, NULL), TSHM_ELIMIT);
                ck_assert_str_eq(r.error, "open handle limit: 2 per connection");
        }
        tshmd_session_end(&srv, &ses);
}
END_TEST

START_TEST(test_ops_close)
{
        struct tshmd_session ses;
        struct tshm__req req = {.op = TSHM_OP_CLOSE, .id = 3};
        struct tshm__reply r;

        tshmd_session_init(&ses, &owner, on_complete);
        req.handle = make(&ses, "a", 0600);
        ck_assert_int_eq(run(tshmd_ops_close, &ses, &req, &r, NULL), 0);
        ck_assert_uint_eq(ses.nhandles, 0);
        ck_assert_uint_eq(srv.reg.opens, 0);
        ck_assert_int_eq(run(tshmd_ops_close, &ses, &req, &r, NULL), TSHM_EBADF);
        ck_assert_str_eq(r.error, "no open handle 1 on this connection");
        tshmd_session_end(&srv, &ses);
}
END_TEST

START_TEST(test_ops_unlink)
{
        struct tshmd_session own, oth, mem;
        struct tshm__req req = req_named(TSHM_OP_UNLINK, "a");
        struct tshm__req sreq = req_named(TSHM_OP_STAT, "a");
        struct tshm__req cls = {.op = TSHM_OP_CLOSE, .id = 4};
        struct tshm__reply r;
        struct tshmd_seg *seg;

        tshmd_session_init(&own, &owner, on_complete);
        tshmd_session_init(&oth, &other, on_complete);
        tshmd_session_init(&mem, &member, on_complete);
        cls.handle = make(&own, "a", 0640);
        seg = tshmd_registry_find(&srv.reg, "a");
        ck_assert_int_eq(run(tshmd_ops_unlink, &oth, &req, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "only the owner may unlink 'a'");
        ck_assert_int_eq(run(tshmd_ops_unlink, &mem, &req, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "only the owner (uid 1000) may unlink 'a'");
        ck_assert_int_eq(run(tshmd_ops_unlink, &own, &req, &r, NULL), 0);
        /* The name is gone; the open handle keeps the segment, charged. */
        ck_assert_ptr_null(tshmd_registry_find(&srv.reg, "a"));
        ck_assert_int_eq(run(tshmd_ops_stat, &own, &sreq, &r, NULL), TSHM_ENOENT);
        ck_assert_uint_eq(seg->state, TSHMD_SEG_UNLINKED);
        ck_assert_uint_gt(srv.reg.bytes, 0);
        ck_assert_int_eq(run(tshmd_ops_close, &own, &cls, &r, NULL), 0);
        ck_assert_uint_eq(srv.reg.bytes, 0);
        ck_assert_int_eq(run(tshmd_ops_unlink, &own, &req, &r, NULL), TSHM_ENOENT);
        tshmd_session_end(&srv, &own);
        tshmd_session_end(&srv, &oth);
        tshmd_session_end(&srv, &mem);
}
END_TEST

static int
dispatch(struct tshmd_session *ses, const struct tshm__req *req, struct tshmd_reply *rep)
{
        msgpack_sbuffer sb;
        int rv;

        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(req, &sb), 0);
        tshmd_reply_init(rep, 0);
        rv = tshmd_ops_dispatch(&srv, ses, (const uint8_t *)sb.data + 4, sb.size - 4, rep);
        msgpack_sbuffer_destroy(&sb);
        return rv;
}

START_TEST(test_ops_dispatch_hello_first)
{
        struct tshmd_session ses;
        struct tshm__req sreq = req_named(TSHM_OP_STAT, "a");
        struct tshm__req hello = {.op = TSHM_OP_HELLO, .id = 1, .version = 999};
        struct tshmd_reply rep;
        struct tshm__reply r;

        tshmd_session_init(&ses, &owner, on_complete);
        ck_assert_int_eq(dispatch(&ses, &sreq, &rep), TSHM_EPROTO);
        ck_assert(rep.close);
        ck_assert_uint_eq(rep.id, sreq.id);
        decode(&rep, TSHM_EPROTO, sreq.op, &r, NULL);
        ck_assert_str_eq(r.error, "the first request must be hello");
        ck_assert_int_eq(dispatch(&ses, &hello, &rep), TSHM_EVERSION);
        ck_assert(rep.close);
        tshmd_reply_dispose(&rep);
        ck_assert(!ses.hello);
        hello.version = TSHM_PROTO_VERSION;
        ck_assert_int_eq(dispatch(&ses, &hello, &rep), 0);
        ck_assert(!rep.close);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_HELLO);
        ck_assert_uint_eq(rep.u.hello.version, TSHM_PROTO_VERSION);
        decode(&rep, 0, TSHM_OP_HELLO, &r, NULL);
        ck_assert_uint_eq(r.version, TSHM_PROTO_VERSION);
        ck_assert(ses.hello);
        ck_assert_int_eq(dispatch(&ses, &sreq, &rep), TSHM_ENOENT);
        ck_assert(!rep.close);
        tshmd_reply_dispose(&rep);
        ck_assert_uint_eq(srv.requests, 4);
}
END_TEST

START_TEST(test_ops_typed_replies)
{
        struct tshmd_session ses;
        struct tshm__req mk = req_create("e", 4096, 0600);
        struct tshm__req opn = req_named(TSHM_OP_OPEN, "e");
        struct tshm__req sreq = req_named(TSHM_OP_STAT, "e");
        struct tshm__req list = {.op = TSHM_OP_LIST, .id = 5};
        struct tshm__req cls = {.op = TSHM_OP_CLOSE, .id = 3};
        struct tshmd_reply rep;
        struct tshmd_seg *seg;

        tshmd_session_init(&ses, &owner, on_complete);
        mk.flags = TSHM_CREATE_EPHEMERAL;
        mk.ndim = 2;
        mk.shape[0] = 64;
        mk.shape[1] = 64;
        ck_assert_int_eq(handle(tshmd_create, &ses, &mk, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_SEG);
        ck_assert_uint_eq(rep.u.seg.handle, 1);
        ck_assert_int_eq(rep.u.seg.dtype, TSHM_DTYPE_UINT8);
        ck_assert_uint_eq(rep.u.seg.ndim, 2);
        ck_assert_uint_eq(rep.u.seg.shape[0], 64);
        ck_assert_uint_eq(rep.u.seg.shape[1], 64);
        ck_assert_uint_eq(rep.u.seg.slots, 0);
        ck_assert_int_ge(rep.fd, 0);
        seg = tshmd_registry_find(&srv.reg, "e");
        ck_assert_ptr_nonnull(seg);
        ck_assert_uint_eq(rep.u.seg.size, seg->size);
        ck_assert_ptr_nonnull(ses.ephemerals);
        /* Not sent: the create did not happen. */
        tshmd_reply_undo(&rep);
        tshmd_reply_undo(&rep); /* once only */
        tshmd_reply_dispose(&rep);
        ck_assert_int_eq(rep.fd, -1);
        ck_assert_ptr_null(tshmd_registry_find(&srv.reg, "e"));
        ck_assert_ptr_null(ses.ephemerals);
        ck_assert_uint_eq(ses.nhandles, 0);
        ck_assert_uint_eq(srv.reg.bytes, 0);
        ck_assert_uint_eq(srv.reg.segments, 0);
        /* Made again, then opened: an open not sent closes its handle. */
        mk.flags = 0;
        ck_assert_int_eq(handle(tshmd_create, &ses, &mk, &rep), 0);
        tshmd_reply_dispose(&rep); /* sent: no undo */
        ck_assert_int_eq(handle(tshmd_ops_open, &ses, &opn, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_SEG);
        ck_assert_uint_eq(rep.u.seg.handle, 3); /* ids are not reused */
        ck_assert_uint_eq(ses.nhandles, 2);
        tshmd_reply_undo(&rep);
        tshmd_reply_dispose(&rep);
        ck_assert_uint_eq(ses.nhandles, 1);
        ck_assert_ptr_null(tshmd_session_handle_find(&ses, 3));
        ck_assert_uint_eq(tshmd_registry_find(&srv.reg, "e")->opens, 1);
        ck_assert_int_eq(handle(tshmd_ops_stat, &ses, &sreq, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_STAT);
        ck_assert_str_eq(rep.u.stat.info.name, "e");
        ck_assert_uint_eq(rep.u.stat.info.opens, 1);
        ck_assert(!rep.u.stat.has_stream);
        tshmd_reply_dispose(&rep);
        ck_assert_int_eq(handle(tshmd_ops_list, &ses, &list, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_LIST);
        ck_assert_uint_eq(rep.u.list.count, 1);
        ck_assert_str_eq(rep.u.list.infos[0].name, "e");
        ck_assert_uint_eq(rep.u.list.next, 0);
        tshmd_reply_dispose(&rep); /* frees the array (ASan checks) */
        cls.handle = 2;
        ck_assert_int_eq(handle(tshmd_ops_close, &ses, &cls, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_EMPTY);
        ck_assert_ptr_null(rep.undo.fn);
        tshmd_reply_dispose(&rep);
        tshmd_session_end(&srv, &ses);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("ops_seg");

        tshm_test_each(s, 0, setup, teardown,
                       TSHM_TESTS(test_ops_create_small, test_ops_create_budget_refused,
                                  test_ops_create_pending, test_ops_create_pending_client_gone,
                                  test_ops_open_refusals, test_ops_open_handle_limit,
                                  test_ops_close, test_ops_unlink, test_ops_typed_replies,
                                  test_ops_dispatch_hello_first));
        return tshm_test_run(s);
}
