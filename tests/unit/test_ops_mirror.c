/*
 * test_ops_mirror.c - the mirror handlers (ops_mirror.c) on a server with no
 * peers configured (srv.peers NULL: peer.c answers TSHM_ENOTSUP and lists
 * none), run with no socket (ops_fixture.c): the rights are checked on the
 * requester before the peer thread would be asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"

#include "ops_fixture.h"

static struct tshm__req
req_mirror(const char *name, const char *peer, bool stop)
{
        struct tshm__req req = req_named(TSHM_OP_MIRROR, name);

        (void)snprintf(req.peer, sizeof(req.peer), "%s", peer);
        req.stop = stop;
        return req;
}

START_TEST(test_ops_mirror_start_rights)
{
        struct tshmd_session own, oth, adm;
        struct tshm__req req = req_mirror("a", "gpu-box:7070", false);
        struct tshm__reply r;

        tshmd_session_init(&own, &owner, on_complete);
        tshmd_session_init(&oth, &other, on_complete);
        tshmd_session_init(&adm, &root, on_complete);
        /* No such segment: ENOENT, named, before anything else. */
        ck_assert_int_eq(run(tshmd_ops_mirror, &own, &req, &r, NULL), TSHM_ENOENT);
        ck_assert_ptr_nonnull(strstr(r.error, "'a'"));
        (void)make(&own, "a", 0600);
        /* A mirror needs read access, on the requester's credentials. */
        ck_assert_int_eq(run(tshmd_ops_mirror, &oth, &req, &r, NULL), TSHM_EACCES);
        ck_assert_ptr_nonnull(strstr(r.error, "read access denied"));
        /* The owner and root pass the checks; with no peers configured
         * the peer layer answers that mirrors are off. */
        ck_assert_int_eq(run(tshmd_ops_mirror, &own, &req, &r, NULL), TSHM_ENOTSUP);
        ck_assert_int_eq(run(tshmd_ops_mirror, &adm, &req, &r, NULL), TSHM_ENOTSUP);
        /* Readable by others: they may mirror it too. */
        (void)make(&own, "b", 0644);
        req = req_mirror("b", "gpu-box:7070", false);
        ck_assert_int_eq(run(tshmd_ops_mirror, &oth, &req, &r, NULL), TSHM_ENOTSUP);
        tshmd_session_end(&srv, &own);
        tshmd_session_end(&srv, &oth);
        tshmd_session_end(&srv, &adm);
}
END_TEST

START_TEST(test_ops_mirror_stop_rights)
{
        struct tshmd_session own, oth, adm;
        struct tshm__req req = req_mirror("a", "", true);
        struct tshm__reply r;

        tshmd_session_init(&own, &owner, on_complete);
        tshmd_session_init(&oth, &other, on_complete);
        tshmd_session_init(&adm, &root, on_complete);
        /* A segment that is gone: only root or the daemon's user may stop
         * what might still be mirrored under its name. */
        ck_assert_int_eq(run(tshmd_ops_mirror, &oth, &req, &r, NULL), TSHM_ENOENT);
        ck_assert_int_eq(run(tshmd_ops_mirror, &adm, &req, &r, NULL), TSHM_ENOTSUP);
        (void)make(&own, "a", 0600);
        ck_assert_int_eq(run(tshmd_ops_mirror, &oth, &req, &r, NULL), TSHM_EACCES);
        ck_assert_ptr_nonnull(strstr(r.error, "'a'"));
        ck_assert_int_eq(run(tshmd_ops_mirror, &own, &req, &r, NULL), TSHM_ENOTSUP);
        ck_assert_int_eq(run(tshmd_ops_mirror, &adm, &req, &r, NULL), TSHM_ENOTSUP);
        /* A reader passes the checks here; the peer layer then lets him
         * stop only a mirror he started (tests/remote/test_mirror.py). */
        (void)make(&own, "b", 0644);
        req = req_mirror("b", "", true);
        ck_assert_int_eq(run(tshmd_ops_mirror, &oth, &req, &r, NULL), TSHM_ENOTSUP);
        tshmd_session_end(&srv, &own);
        tshmd_session_end(&srv, &oth);
        tshmd_session_end(&srv, &adm);
}
END_TEST

START_TEST(test_ops_mirror_list_without_peers)
{
        struct tshmd_session own;
        struct tshm__req req = {.op = TSHM_OP_MIRRORS, .id = 9};
        struct tshmd_reply rep;
        struct tshm__reply r;

        tshmd_session_init(&own, &owner, on_complete);
        (void)make(&own, "a", 0600);
        ck_assert_int_eq(handle(tshmd_ops_mirrors, &own, &req, &rep), 0);
        ck_assert_int_eq(rep.kind, TSHMD_REPLY_MIRRORS);
        ck_assert_uint_eq(rep.u.mirrors.count, 0);
        tshmd_reply_dispose(&rep);
        /* On the wire: an empty array, as libtshm decodes it. */
        ck_assert_int_eq(run(tshmd_ops_mirrors, &own, &req, &r, NULL), 0);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.id, 9);
        ck_assert_uint_eq(r.nmirrors, 0);
        ck_assert_ptr_null(r.mirrors);
        tshmd_session_end(&srv, &own);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("ops_mirror");

        tshm_test_each(s, 0, setup, teardown,
                       TSHM_TESTS(test_ops_mirror_start_rights, test_ops_mirror_stop_rights,
                                  test_ops_mirror_list_without_peers));
        return tshm_test_run(s);
}
