/*
 * test_ops.c - the daemon's op handlers, run with no socket: a server with
 * a registry and a loop, sessions with forged credentials. Most replies are
 * encoded as conn.c encodes them and decoded as a client decodes them, so
 * the wire stays checked; some tests judge the typed reply a handler fills.
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

#include "tshmd.h"

#define OWNER 1000u
#define OTHER 2000u
#define MEMBER 3000u /* in OWNER's group */

static struct tshmd_config cfg;
static struct tshmd_server srv;
static uv_loop_t loop;
static gid_t member_groups[] = {OWNER};
static const struct tshmd_peer owner = {.pid = 0, .uid = OWNER, .gid = OWNER};
static const struct tshmd_peer other = {.pid = 0, .uid = OTHER, .gid = OTHER};
static const struct tshmd_peer member = {
    .pid = 0, .uid = MEMBER, .gid = MEMBER, .groups = member_groups, .ngroups = 1};
static const struct tshmd_peer root = {.pid = 0, .uid = 0, .gid = 0};

/* What an off-loop create handed in (the session's complete callback). */
static struct {
        int calls;
        int rv;
        struct tshm__reply r;
        int fd;
} done;

static void decode(struct tshmd_reply *rep, int rv, uint32_t op, struct tshm__reply *out,
                   int *ret_fd);

static void
on_complete(struct tshmd_session *ses, int rv, struct tshmd_reply *rep)
{
        (void)ses;
        done.calls++;
        done.rv = rv;
        decode(rep, rv, TSHM_OP_CREATE, &done.r, &done.fd);
}

static void
setup(void)
{
        tshmd_log_init(LOG_CRIT, false);
        tshmd_config_defaults(&cfg);
        (void)snprintf(cfg.shm_prefix, sizeof(cfg.shm_prefix), "tshm-test-ops-%d", (int)getpid());
        cfg.max_opens = 8;
        memset(&srv, 0, sizeof(srv));
        ck_assert_int_eq(uv_loop_init(&loop), 0);
        srv.loop = &loop;
        srv.cfg = &cfg;
        srv.guard_fd = srv.state_fd = srv.lock_fd = srv.listen_fd = -1;
        tshmd_registry_init(&srv.reg);
        tshmd_registry_on_free(&srv.reg, tshmd_guard_forget);
        tshmd_stream_init(&srv.reg);
        memset(&done, 0, sizeof(done));
        done.fd = -1;
}

static void
teardown(void)
{
        struct tshmd_seg *seg, *tmp;

        HASH_ITER(hh, srv.reg.by_name, seg, tmp)
        {
                char objname[128];

                tshmd_seg_objname(&srv, seg, objname, sizeof(objname));
                (void)tshmd_shm_unlink(objname);
        }
        tshmd_registry_done(&srv.reg);
        ck_assert_int_eq(uv_loop_close(&loop), 0);
        if (done.fd >= 0) {
                (void)close(done.fd);
        }
}

/* Encode @rep as conn.c does and decode the frame as libtshm does. */
static void
decode(struct tshmd_reply *rep, int rv, uint32_t op, struct tshm__reply *out, int *ret_fd)
{
        struct tshmd_frame f;

        ck_assert_int_eq(tshmd_reply_encode(rep, rv, &f), 0);
        ck_assert_int_eq(f.status, rv < 0 ? rv : 0);
        ck_assert_uint_eq(tshm__get_be32(f.buf), f.len - 4);
        memset(out, 0, sizeof(*out));
        ck_assert_int_eq(tshm__reply_decode(f.buf + 4, f.len - 4, op, out), 0);
        ck_assert_uint_eq(out->id, rep->id);
        ck_assert_int_eq(out->status, rv < 0 ? rv : 0);
        tshm__free(f.buf);
        if (ret_fd != NULL) {
                *ret_fd = f.fd;
        } else if (f.fd >= 0) {
                (void)close(f.fd);
        }
        tshmd_reply_dispose(rep);
}

/* Run @fn for @ses and keep its typed reply in @rep (the caller disposes
 * of it). Returns what the handler returned. */
static int
handle(tshmd_handler_fn fn, struct tshmd_session *ses, const struct tshm__req *req,
       struct tshmd_reply *rep)
{
        int rv;

        tshmd_reply_init(rep, req->id);
        rv = fn(&srv, ses, req, rep);
        ck_assert_int_ne(rv, TSHMD_PENDING);
        ck_assert_uint_eq(rep->id, req->id);
        return rv;
}

/* Run @fn for @ses; the decoded reply in @out, its descriptor in *ret_fd
 * (NULL: closed). Returns what the handler returned. */
static int
run(tshmd_handler_fn fn, struct tshmd_session *ses, const struct tshm__req *req,
    struct tshm__reply *out, int *ret_fd)
{
        struct tshmd_reply rep;
        int rv;

        tshmd_reply_init(&rep, req->id);
        rv = fn(&srv, ses, req, &rep);
        ck_assert_int_ne(rv, TSHMD_PENDING);
        decode(&rep, rv, req->op, out, ret_fd);
        return rv;
}

static struct tshm__req
req_create(const char *name, uint64_t n, uint32_t mode)
{
        struct tshm__req req = {.op = TSHM_OP_CREATE, .id = 7, .dtype = TSHM_DTYPE_UINT8};

        req.ndim = 1;
        req.shape[0] = n;
        req.mode = mode;
        (void)snprintf(req.name, sizeof(req.name), "%s", name);
        return req;
}

static struct tshm__req
req_named(uint32_t op, const char *name)
{
        struct tshm__req req = {
            .op = op, .id = 9, .owner = TSHM_ID_UNCHANGED, .group = TSHM_ID_UNCHANGED};

        (void)snprintf(req.name, sizeof(req.name), "%s", name);
        return req;
}

/* Create @name (small: on the loop) for @ses; returns its handle. */
static uint64_t
make(struct tshmd_session *ses, const char *name, uint32_t mode)
{
        struct tshm__req req = req_create(name, 4096, mode);
        struct tshm__reply r;

        ck_assert_int_eq(run(tshmd_create, ses, &req, &r, NULL), 0);
        return r.handle;
}

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

START_TEST(test_ops_chmod_chown)
{
        struct tshmd_session own, oth, adm;
        struct tshm__req chm = req_named(TSHM_OP_CHMOD, "a");
        struct tshm__req cho = req_named(TSHM_OP_CHOWN, "a");
        struct tshm__reply r;
        struct tshmd_seg *seg;
        uint64_t bytes, segs;

        tshmd_session_init(&own, &owner, on_complete);
        tshmd_session_init(&oth, &other, on_complete);
        tshmd_session_init(&adm, &root, on_complete);
        (void)make(&own, "a", 0600);
        seg = tshmd_registry_find(&srv.reg, "a");
        chm.mode = 0644;
        ck_assert_int_eq(run(tshmd_ops_chmod, &oth, &chm, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "only the owner may change 'a'");
        ck_assert_uint_eq(seg->mode, 0600);
        cho.owner = OTHER;
        ck_assert_int_eq(run(tshmd_ops_chown, &own, &cho, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "only root may give 'a' to another user");
        cho.owner = TSHM_ID_UNCHANGED;
        cho.group = 4242;
        ck_assert_int_eq(run(tshmd_ops_chown, &own, &cho, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "uid 1000 is not in group 4242");
        ck_assert_uint_eq(seg->owner_gid, OWNER);
        ck_assert_int_eq(run(tshmd_ops_chmod, &own, &chm, &r, NULL), 0);
        ck_assert_uint_eq(seg->mode, 0644);
        /* Root gives it away: the budget charges move with it. */
        cho.owner = OTHER;
        cho.group = OTHER;
        ck_assert_int_eq(run(tshmd_ops_chown, &adm, &cho, &r, NULL), 0);
        ck_assert_uint_eq(seg->owner_uid, OTHER);
        ck_assert_uint_eq(seg->owner_gid, OTHER);
        tshmd_registry_usage(&srv.reg, OTHER, &bytes, &segs);
        ck_assert_uint_eq(segs, 1);
        ck_assert_uint_eq(bytes, seg->size);
        tshmd_registry_usage(&srv.reg, OWNER, &bytes, &segs);
        ck_assert_uint_eq(segs, 0);
        /* The old owner is now a stranger to it. */
        ck_assert_int_eq(run(tshmd_ops_chmod, &own, &chm, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "only the owner (uid 2000) may change 'a'");
        tshmd_session_end(&srv, &own);
        tshmd_session_end(&srv, &oth);
        tshmd_session_end(&srv, &adm);
}
END_TEST

START_TEST(test_ops_stat_list_visibility)
{
        struct tshmd_session own, oth;
        struct tshm__req sreq = req_named(TSHM_OP_STAT, "a");
        struct tshm__req list = {.op = TSHM_OP_LIST, .id = 5};
        struct tshm__reply r;

        tshmd_session_init(&own, &owner, on_complete);
        tshmd_session_init(&oth, &other, on_complete);
        (void)make(&own, "a", 0600);
        (void)make(&own, "b", 0644);
        ck_assert_int_eq(run(tshmd_ops_stat, &oth, &sreq, &r, NULL), TSHM_EACCES);
        ck_assert_str_eq(r.error, "'a': read access denied");
        ck_assert_int_eq(run(tshmd_ops_stat, &own, &sreq, &r, NULL), 0);
        ck_assert_str_eq(r.info.name, "a");
        ck_assert_uint_eq(r.info.mode, 0600);
        ck_assert_uint_eq(r.info.owner_uid, OWNER);
        ck_assert_uint_eq(r.info.opens, 1);
        ck_assert_int_eq(run(tshmd_ops_list, &oth, &list, &r, NULL), 0);
        ck_assert_uint_eq(r.ninfos, 1);
        ck_assert_str_eq(r.infos[0].name, "b");
        ck_assert_uint_eq(r.next_cursor, 0);
        free(r.infos);
        ck_assert_int_eq(run(tshmd_ops_list, &own, &list, &r, NULL), 0);
        ck_assert_uint_eq(r.ninfos, 2);
        free(r.infos);
        /* A page of one resumes after the serial of the last one sent. */
        list.limit = 1;
        ck_assert_int_eq(run(tshmd_ops_list, &own, &list, &r, NULL), 0);
        ck_assert_uint_eq(r.ninfos, 1);
        ck_assert_str_eq(r.infos[0].name, "a");
        ck_assert_uint_ne(r.next_cursor, 0);
        free(r.infos);
        list.cursor = r.next_cursor;
        ck_assert_int_eq(run(tshmd_ops_list, &own, &list, &r, NULL), 0);
        ck_assert_uint_eq(r.ninfos, 1);
        ck_assert_str_eq(r.infos[0].name, "b");
        ck_assert_uint_eq(r.next_cursor, 0);
        free(r.infos);
        tshmd_session_end(&srv, &own);
        tshmd_session_end(&srv, &oth);
}
END_TEST

START_TEST(test_ops_stream_attach)
{
        struct tshmd_session ses;
        struct tshm__req create = req_create("s", 64, 0600);
        struct tshm__req attach = {.op = TSHM_OP_ATTACH, .id = 6};
        struct tshm__req sreq = req_named(TSHM_OP_STAT, "s");
        struct tshm__req cls = {.op = TSHM_OP_CLOSE, .id = 8};
        struct tshm__reply r;
        uint64_t array;
        int fd = -1;

        tshmd_session_init(&ses, &owner, on_complete);
        create.op = TSHM_OP_STREAM_CREATE;
        create.slots = 4;
        create.policy = TSHM_STREAM_BLOCK;
        ck_assert_int_eq(run(tshmd_create, &ses, &create, &r, NULL), 0);
        ck_assert_uint_eq(r.slots, 4);
        attach.handle = r.handle;
        array = make(&ses, "a", 0600);
        attach.subscribe = true;
        ck_assert_int_eq(run(tshmd_ops_attach, &ses, &attach, &r, &fd), 0);
        ck_assert_uint_eq(r.handle, 0); /* the subscriber entry */
        ck_assert_uint_eq(r.size, TSHM_CUR_SIZE);
        ck_assert_int_ge(fd, 0);
        ck_assert_ptr_ne(mmap(NULL, TSHM_CUR_SIZE, PROT_READ, MAP_SHARED, fd, 0), MAP_FAILED);
        (void)close(fd);
        ck_assert_int_eq(run(tshmd_ops_attach, &ses, &attach, &r, NULL), TSHM_EINVAL);
        ck_assert_str_eq(r.error, "handle 1 already subscribes to 's'");
        ck_assert_int_eq(run(tshmd_ops_stat, &ses, &sreq, &r, NULL), 0);
        ck_assert(r.has_stream);
        ck_assert_uint_eq(r.stream.subscribers, 1);
        ck_assert_uint_eq(r.stream.slots, 4);
        /* Closing the handle ends its subscription. */
        cls.handle = attach.handle;
        ck_assert_int_eq(run(tshmd_ops_close, &ses, &cls, &r, NULL), 0);
        ck_assert_uint_eq(tshmd_registry_find(&srv.reg, "s")->subscribers, 0);
        ck_assert_int_eq(run(tshmd_ops_attach, &ses, &attach, &r, NULL), TSHM_EBADF);
        attach.handle = array;
        ck_assert_int_eq(run(tshmd_ops_attach, &ses, &attach, &r, NULL), TSHM_EINVAL);
        ck_assert_str_eq(r.error, "'a' is an array, not a stream");
        tshmd_session_end(&srv, &ses);
}
END_TEST

/* The typed replies handlers fill, and their undo: what conn.c runs when a
 * success cannot be sent takes the op back. */
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

START_TEST(test_ops_daemon_stat)
{
        struct tshmd_session ses;
        struct tshm__req req = {.op = TSHM_OP_DAEMON_STAT, .id = 11};
        struct tshmd_reply rep;
        struct tshm__reply r;

        cfg.max_bytes = 1u << 30;
        srv.nconns = 3;
        srv.requests = 42;
        tshmd_session_init(&ses, &owner, on_complete);
        (void)make(&ses, "a", 0600);
        (void)make(&ses, "b", 0600);
        ck_assert_int_eq(handle(tshmd_ops_daemon_stat, &ses, &req, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_DAEMON);
        ck_assert_uint_eq(rep.u.daemon.segments, 2);
        ck_assert_uint_eq(rep.u.daemon.bytes, srv.reg.bytes);
        ck_assert_uint_gt(rep.u.daemon.bytes, 0);
        ck_assert_uint_eq(rep.u.daemon.max_bytes, 1u << 30);
        ck_assert_uint_eq(rep.u.daemon.clients, 3);
        ck_assert_uint_eq(rep.u.daemon.opens, 2);
        ck_assert_uint_eq(rep.u.daemon.requests, 42);
        ck_assert_uint_eq(rep.u.daemon.pid, (uint32_t)getpid());
        ck_assert_uint_eq(rep.u.daemon.proto, TSHM_PROTO_VERSION);
        tshmd_reply_dispose(&rep);
        /* On the wire as well. */
        ck_assert_int_eq(run(tshmd_ops_daemon_stat, &ses, &req, &r, NULL), 0);
        ck_assert_uint_eq(r.daemon.segments, 2);
        ck_assert_uint_eq(r.daemon.opens, 2);
        ck_assert_uint_eq(r.daemon.pid, (uint32_t)getpid());
        ck_assert_uint_eq(r.daemon.proto, TSHM_PROTO_VERSION);
        tshmd_session_end(&srv, &ses);
}
END_TEST

/* An object under the prefix that the registry does not know. */
static void
plant(const char *name)
{
        char objname[128];
        int fd;

        ck_assert_int_eq(tshmd_shm_objname(cfg.shm_prefix, name, objname, sizeof(objname)), 0);
        fd = shm_open(objname, O_RDWR | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 4096), 0);
        (void)close(fd);
}

static bool
object_exists(const char *name)
{
        char objname[128];
        int fd;

        ck_assert_int_eq(tshmd_shm_objname(cfg.shm_prefix, name, objname, sizeof(objname)), 0);
        fd = shm_open(objname, O_RDONLY, 0);
        if (fd >= 0) {
                (void)close(fd);
        }
        return fd >= 0;
}

/* gc lists what the registry does not know, removes it when asked, and is
 * root's (or the daemon's user's) alone. */
START_TEST(test_ops_gc)
{
        struct tshmd_session own, adm;
        struct tshm__req req = {.op = TSHM_OP_GC, .id = 12};
        struct tshmd_reply rep;
        struct tshm__reply r;
        char want[128];

        tshmd_session_init(&own, &owner, on_complete);
        tshmd_session_init(&adm, &root, on_complete);
        (void)make(&own, "a", 0600); /* registered: not stale */
        plant("junk");
        (void)snprintf(want, sizeof(want), "/%s.junk", cfg.shm_prefix);
        if (geteuid() != OWNER) {
                ck_assert_int_eq(run(tshmd_ops_gc, &own, &req, &r, NULL), TSHM_EACCES);
                ck_assert_ptr_nonnull(strstr(r.error, "only root or uid"));
        }
        ck_assert_int_eq(handle(tshmd_ops_gc, &adm, &req, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_GC);
        ck_assert_uint_eq(rep.u.gc.count, 1);
        ck_assert_str_eq(rep.u.gc.items[0].object, want);
        ck_assert_ptr_nonnull(strstr(rep.u.gc.items[0].reason, "not registered"));
        ck_assert(!rep.u.gc.items[0].removed);
        tshmd_reply_dispose(&rep);
        ck_assert(object_exists("junk"));
        /* Removed when asked, and said so on the wire. */
        req.remove = true;
        ck_assert_int_eq(run(tshmd_ops_gc, &adm, &req, &r, NULL), 0);
        ck_assert_uint_eq(r.ngc, 1);
        ck_assert_str_eq(r.gc[0].object, want);
        ck_assert_int_eq(r.gc[0].removed, 1);
        free(r.gc);
        ck_assert(!object_exists("junk"));
        ck_assert(object_exists("a"));
        ck_assert_ptr_nonnull(tshmd_registry_find(&srv.reg, "a"));
        /* Nothing left to find. */
        ck_assert_int_eq(handle(tshmd_ops_gc, &adm, &req, &rep), 0);
        ck_assert_uint_eq(rep.u.gc.count, 0);
        tshmd_reply_dispose(&rep);
        tshmd_session_end(&srv, &own);
        tshmd_session_end(&srv, &adm);
}
END_TEST

/* Dispatch through the table: only hello before hello, and a version it
 * cannot speak closes the connection. */
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

int
main(void)
{
        Suite *s = suite_create("ops");

        tshm_test_each(s, 0, setup, teardown,
                       TSHM_TESTS(test_ops_create_small, test_ops_create_budget_refused,
                                  test_ops_create_pending, test_ops_create_pending_client_gone,
                                  test_ops_open_refusals, test_ops_open_handle_limit,
                                  test_ops_close, test_ops_unlink, test_ops_chmod_chown,
                                  test_ops_stat_list_visibility, test_ops_stream_attach,
                                  test_ops_typed_replies, test_ops_daemon_stat, test_ops_gc,
                                  test_ops_dispatch_hello_first));
        return tshm_test_run(s);
}
