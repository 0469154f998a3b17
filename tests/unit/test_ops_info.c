/*
 * test_ops_info.c - the handlers that change rights (chmod, chown), describe
 * (stat, list, daemon_stat), collect (gc) and attach to streams, run with no
 * socket (ops_fixture.c).
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
int
main(void)
{
        Suite *s = suite_create("ops_info");

        tshm_test_each(s, 0, setup, teardown,
                       TSHM_TESTS(test_ops_chmod_chown, test_ops_stat_list_visibility,
                                  test_ops_stream_attach, test_ops_daemon_stat, test_ops_gc));
        return tshm_test_run(s);
}
