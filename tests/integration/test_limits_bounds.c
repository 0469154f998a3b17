/*
 * test_limits_bounds.c - hostile local users against what else tshmd bounds
 * for them: metadata of segments they may not read, a daemon at
 * --max-clients, and a writer that keeps rewriting a header (the journal).
 * Every actor but the fixture's runs as its own unprivileged uid; needs root
 * to switch identities, skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <msgpack.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "limits_actors.h"
#include "proto.h"

/* ---- metadata of private segments ---- */

static int
owner_makes(const struct tshmd_fixture *f, const void *arg)
{
        tshm_client *c;
        tshm_seg *s;

        (void)arg;
        if (tshm_connect(f->socket, &c) < 0 ||
            tshm_create(c, "priv", TSHM_DTYPE_INT32, 1, (uint64_t[]){7}, 0600, 0, &s) < 0) {
                return 1;
        }
        tshm_close(s);
        if (tshm_create(c, "pub", TSHM_DTYPE_INT32, 1, (uint64_t[]){7}, 0644, 0, &s) < 0) {
                return 2;
        }
        tshm_close(s);
        if (tshm_stream_create(c, "privs", TSHM_DTYPE_UINT8, 1, (uint64_t[]){16}, 4,
                               TSHM_STREAM_OVERWRITE, 0600, 0, &s) < 0) {
                return 3;
        }
        tshm_close(s);
        tshm_disconnect(c);
        return 0;
}

/* Which of priv, pub, privs the list shows: bits 1, 2, 4. */
static int
listed(tshm_client *c)
{
        tshm_info *infos;
        size_t n, i;
        int bits = 0;

        if (tshm_list(c, NULL, &infos, &n) < 0) {
                return -1;
        }
        for (i = 0; i < n; i++) {
                bits |= strcmp(infos[i].name, "priv") == 0    ? 1
                        : strcmp(infos[i].name, "pub") == 0   ? 2
                        : strcmp(infos[i].name, "privs") == 0 ? 4
                                                              : 8;
        }
        tshm_list_free(infos);
        return bits;
}

static int
other_looks(const struct tshmd_fixture *f, const void *arg)
{
        tshm_stream_info st;
        tshm_client *c;
        tshm_info info;
        tshm_seg *s;
        char owner[16];

        (void)arg;
        if (tshm_connect(f->socket, &c) < 0) {
                return 1;
        }
        if (listed(c) != 2) {
                fprintf(stderr, "another user lists %d\n", listed(c));
                return 2;
        }
        memset(&info, 0xa5, sizeof(info));
        if (tshm_stat(c, "priv", &info) != TSHM_EACCES || info.owner_uid != 0xa5a5a5a5u) {
                return 3;
        }
        if (tshm_stat(c, "privs", &info) != TSHM_EACCES ||
            tshm_stream_stat(c, "privs", &st) != TSHM_EACCES) {
                return 4;
        }
        /* Nor does a refused open tell the mode or the owner. */
        snprintf(owner, sizeof(owner), "%u", OWNER_UID);
        if (tshm_open(c, "priv", TSHM_OPEN_RDONLY, &s) != TSHM_EACCES ||
            strstr(tshm_errmsg(c), "0600") != NULL || strstr(tshm_errmsg(c), owner) != NULL) {
                fprintf(stderr, "open refused with: %s\n", tshm_errmsg(c));
                return 5;
        }
        /* Nor a refused unlink, chmod or chown. */
        if (tshm_unlink(c, "priv") != TSHM_EACCES || strstr(tshm_errmsg(c), owner) != NULL) {
                fprintf(stderr, "unlink refused with: %s\n", tshm_errmsg(c));
                return 7;
        }
        if (tshm_chmod(c, "priv", 0644) != TSHM_EACCES || strstr(tshm_errmsg(c), owner) != NULL) {
                fprintf(stderr, "chmod refused with: %s\n", tshm_errmsg(c));
                return 8;
        }
        if (tshm_stat(c, "pub", &info) != 0 || info.owner_uid != OWNER_UID) {
                return 6;
        }
        tshm_disconnect(c);
        return 0;
}

static int
owner_looks(const struct tshmd_fixture *f, const void *arg)
{
        tshm_stream_info st;
        tshm_client *c;
        tshm_info info;

        (void)arg;
        if (tshm_connect(f->socket, &c) < 0) {
                return 1;
        }
        if (listed(c) != 7 || tshm_stat(c, "priv", &info) != 0 || info.mode != 0600 ||
            tshm_stream_stat(c, "privs", &st) != 0 || st.slots != 4) {
                return 2;
        }
        tshm_disconnect(c);
        return 0;
}

START_TEST(test_limits_private_metadata)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_info info;
        tshm_daemon_info stats;

        if (geteuid() != 0) {
                return;
        }
        fixture_start(&f, NULL);
        ck_assert_int_eq(reap(fork_as(OWNER_UID, owner_makes, &f, NULL)), 0);
        ck_assert_int_eq(reap(fork_as(OTHER_UID, other_looks, &f, NULL)), 0);
        ck_assert_int_eq(reap(fork_as(OWNER_UID, owner_looks, &f, NULL)), 0);
        /* Root sees everything; the global counters stay for everyone. */
        c = fixture_connect(&f);
        ck_assert_int_eq(listed(c), 7);
        ck_assert_int_eq(tshm_stat(c, "priv", &info), 0);
        ck_assert_uint_eq(info.owner_uid, OWNER_UID);
        ck_assert_int_eq(tshm_daemon_stat(c, &stats), 0);
        ck_assert_uint_eq(stats.segments, 3);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* ---- a daemon at --max-clients ---- */

/* A refused client learns why (TSHM_ELIMIT) within its timeout, every time,
 * without retrying. */
static int
refused(const struct tshmd_fixture *f, const void *arg)
{
        const int *tries = arg;
        tshm_client *c = NULL;
        int64_t t0;
        int i, rv;

        setenv("TSHM_TIMEOUT_MS", "2000", 1);
        for (i = 0; i < *tries; i++) {
                t0 = now_ms();
                rv = tshm_connect(f->socket, &c);
                if (rv != TSHM_ELIMIT) {
                        fprintf(stderr, "refused connect %d: %s\n", i, tshm_err_name(rv));
                        return 1;
                }
                if (now_ms() - t0 >= 5000) {
                        fprintf(stderr, "refused connect %d took %lld ms\n", i,
                                (long long)(now_ms() - t0));
                        return 2;
                }
        }
        return 0;
}

START_TEST(test_limits_max_clients)
{
        const char *const extra[] = {"--max-clients", "3", NULL};
        struct tshmd_fixture f;
        tshm_client *held[3], *c;
        int one = 1, many = 200, i, lines;

        if (geteuid() != 0) {
                return;
        }
        fixture_start(&f, extra);
        for (i = 0; i < 3; i++) {
                held[i] = fixture_connect(&f);
        }
        ck_assert_int_eq(reap(fork_as(OTHER_UID, refused, &f, &one)), 0);
        ck_assert_int_eq(reap(fork_as(OTHER_UID, refused, &f, &many)), 0);
        /* 201 refusals, a bounded number of lines in the journal. */
        lines = log_count(&f, "client limit");
        ck_assert_int_ge(lines, 1);
        ck_assert_msg(lines <= 30, "%d log lines for 201 refused clients", lines);
        /* The clients it holds are served; one leaves and another gets in. */
        ck_assert_int_eq(tshm_daemon_stat(held[0], &(tshm_daemon_info){0}), 0);
        tshm_disconnect(held[2]);
        for (i = 0; i < 200; i++) {
                if (tshm_connect(f.socket, &c) == 0) {
                        break;
                }
                sleep_ms(10);
        }
        ck_assert_int_lt(i, 200);
        tshm_disconnect(c);
        tshm_disconnect(held[0]);
        tshm_disconnect(held[1]);
        fixture_teardown(&f);
}
END_TEST

/* ---- a writer that keeps rewriting a header ---- */

START_TEST(test_limits_header_repairs_log_bounded)
{
        struct tshmd_fixture f;
        char objname[128];
        uint32_t mode = 0666;
        tshm_client *c;
        tshm_seg *s, *r;
        int fd, i, lines;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "t", TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0600, 0, &s), 0);
        tshm_close(s);
        snprintf(objname, sizeof(objname), "/%s.t", f.prefix);
        fd = shm_open(objname, O_RDWR, 0);
        ck_assert_int_ge(fd, 0);
        /* Rewrite the sealed mode (offset 44, PROTOCOL.md) before each open:
         * every open finds it changed and repairs it. */
        for (i = 0; i < 1000; i++) {
                ck_assert_int_eq(pwrite(fd, &mode, sizeof(mode), 44), (ssize_t)sizeof(mode));
                ck_assert_int_eq(tshm_open(c, "t", TSHM_OPEN_RDONLY, &r), 0);
                tshm_close(r);
        }
        close(fd);
        lines = log_count(&f, "was changed by a client");
        ck_assert_int_ge(lines, 1);
        ck_assert_msg(lines <= 30, "%d log lines for 1000 repairs", lines);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("limits_bounds");

        tshm_test_case(s, "limits", 120,
                       TSHM_TESTS(test_limits_private_metadata, test_limits_max_clients,
                                  test_limits_header_repairs_log_bounded));
        return tshm_test_run(s);
}
