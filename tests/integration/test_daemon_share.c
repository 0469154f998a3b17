/*
 * test_daemon_share.c - libtshm against a real tshmd, with several real
 * processes sharing segments: writes seen by all, read-only maps, kill -9,
 * unlink while mapped, a restart that adopts segments, mode bits.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static const uint64_t shape_3x4[2] = {3, 4};

/* Run @fn in a child process with its own connection; returns its exit
 * status (0 on success). */
static int
in_child(const struct tshmd_fixture *f, int (*fn)(tshm_client *c, void *arg), void *arg)
{
        int status = 0;
        pid_t pid = tshm_test_fork();

        if (pid == 0) {
                tshm_client *c = NULL;
                int rv = tshm_connect(f->socket, &c);
                if (rv < 0) {
                        _exit(100);
                }
                rv = fn(c, arg);
                tshm_disconnect(c);
                _exit(rv);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return status;
}

static int
child_create(tshm_client *c, void *arg)
{
        tshm_seg *s;
        (void)arg;
        if (tshm_create(c, "shared", TSHM_DTYPE_FLOAT32, 2, shape_3x4, 0644, 0, &s) < 0) {
                return 1;
        }
        return tshm_close(s) < 0 ? 2 : 0;
}

static int
child_write(tshm_client *c, void *arg)
{
        tshm_seg *s;
        float *d;
        int i;
        (void)arg;
        if (tshm_open(c, "shared", TSHM_OPEN_RDWR, &s) < 0) {
                return 1;
        }
        d = tshm_seg_data(s);
        for (i = 0; i < 12; i++) {
                d[i] = (float)i * 1.5f;
        }
        return tshm_close(s) < 0 ? 2 : 0;
}

static int
child_read(tshm_client *c, void *arg)
{
        tshm_seg *s;
        const float *d;
        int i, bad = 0;
        (void)arg;
        if (tshm_open(c, "shared", TSHM_OPEN_RDONLY, &s) < 0) {
                return 1;
        }
        d = tshm_seg_data(s);
        for (i = 0; i < 12; i++) {
                bad |= d[i] != (float)i * 1.5f;
        }
        if (tshm_seg_ndim(s) != 2 || tshm_seg_shape(s)[0] != 3 || tshm_seg_shape(s)[1] != 4 ||
            tshm_seg_strides(s)[0] != 16 || tshm_seg_strides(s)[1] != 4 ||
            tshm_seg_dtype(s) != TSHM_DTYPE_FLOAT32 || tshm_seg_writable(s)) {
                bad = 1;
        }
        tshm_close(s);
        return bad ? 3 : 0;
}

START_TEST(test_daemon_three_processes_share_writes)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *mine;
        float *d;

        fixture_start(&f, NULL);
        ck_assert_int_eq(in_child(&f, child_create, NULL), 0);
        c = fixture_connect(&f);
        /* The parent maps it too, before the write, and sees it land. */
        ck_assert_int_eq(tshm_open(c, "shared", TSHM_OPEN_RDONLY, &mine), 0);
        d = tshm_seg_data(mine);
        ck_assert(d[11] == 0.0f);
        ck_assert_int_eq(in_child(&f, child_write, NULL), 0);
        ck_assert(d[11] == 16.5f);
        ck_assert_int_eq(in_child(&f, child_read, NULL), 0);
        ck_assert_int_eq(tshm_close(mine), 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_read_only_cannot_write)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s, *ro;
        int status = 0;
        pid_t pid;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "ro", TSHM_DTYPE_INT32, 2, shape_3x4, 0, 0, &s), 0);
        ck_assert_int_eq(tshm_open(c, "ro", TSHM_OPEN_RDONLY, &ro), 0);
        /* The descriptor was O_RDONLY: the kernel refuses to make the
         * mapping writable, and a write faults. */
        ck_assert_int_eq(mprotect((char *)tshm_seg_data(ro) - 4096, 4096, PROT_READ | PROT_WRITE),
                         -1);
        ck_assert_int_eq(errno, EACCES);
        pid = tshm_test_fork();
        if (pid == 0) {
                ((volatile int32_t *)tshm_seg_data(ro))[0] = 7;
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        /* The write faults. Under AddressSanitizer its SEGV handler reports
         * the fault and aborts instead. */
        ck_assert(WIFSIGNALED(status) &&
                  (WTERMSIG(status) == SIGSEGV || (UNDER_ASAN && WTERMSIG(status) == SIGABRT)));
        ck_assert_int_eq(((int32_t *)tshm_seg_data(s))[0], 0);
        tshm_close(ro);
        tshm_close(s);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_kill9_drops_references)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s;
        int pfd[2], status;
        char ok;
        pid_t pid;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "held", TSHM_DTYPE_UINT8, 1, (uint64_t[]){100}, 0, 0, &s),
                         0);
        ck_assert_int_eq(pipe(pfd), 0);
        pid = tshm_test_fork();
        if (pid == 0) {
                tshm_client *cc;
                tshm_seg *h[3];
                int i;
                if (tshm_connect(f.socket, &cc) < 0) {
                        _exit(1);
                }
                for (i = 0; i < 3; i++) {
                        if (tshm_open(cc, "held", i == 0, &h[i]) < 0) {
                                _exit(2);
                        }
                }
                (void)!write(pfd[1], "k", 1);
                pause();
                _exit(0);
        }
        ck_assert_int_eq(read(pfd[0], &ok, 1), 1);
        ck_assert(fixture_wait_opens(c, "held", 4));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(fixture_wait_opens(c, "held", 1), "the killed client's opens remain");
        tshm_close(s);
        ck_assert(fixture_wait_opens(c, "held", 0));
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_unlink_while_mapped)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *old, *fresh;
        tshm_info info;
        tshm_daemon_info st;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "u", TSHM_DTYPE_INT64, 1, (uint64_t[]){8}, 0, 0, &old), 0);
        ((int64_t *)tshm_seg_data(old))[7] = 77;
        ck_assert_int_eq(tshm_unlink(c, "u"), 0);
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        ck_assert_int_eq(tshm_stat(c, "u", &info), TSHM_ENOENT);
        ck_assert_int_eq(tshm_unlink(c, "u"), TSHM_ENOENT);
        /* The old mapping keeps working; the name is free for a new one. */
        ck_assert_int_eq(((int64_t *)tshm_seg_data(old))[7], 77);
        ck_assert_int_eq(tshm_create(c, "u", TSHM_DTYPE_INT64, 1, (uint64_t[]){8}, 0, 0, &fresh),
                         0);
        ck_assert_int_eq(((int64_t *)tshm_seg_data(fresh))[7], 0);
        ((int64_t *)tshm_seg_data(old))[0] = 5;
        ck_assert_int_eq(((int64_t *)tshm_seg_data(fresh))[0], 0);
        /* The unlinked one still counts against the budget until closed. */
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        ck_assert_uint_eq(st.bytes, 2ull * 8192);
        ck_assert_int_eq(tshm_close(old), 0);
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        ck_assert_uint_eq(st.bytes, 8192);
        ck_assert_uint_eq(st.segments, 1);
        tshm_close(fresh);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_restart_adopts_segments)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s;
        tshm_info info;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "keep", TSHM_DTYPE_FLOAT64, 2, shape_3x4, 0640, 0, &s), 0);
        ((double *)tshm_seg_data(s))[11] = 3.25;
        fixture_stop(&f);
        /* The mapping outlives the client and the daemon. */
        ck_assert(((double *)tshm_seg_data(s))[11] == 3.25);
        fixture_restart(&f, NULL);
        /* The same client goes on: libtshm connects again by itself. */
        ck_assert_int_eq(tshm_stat(c, "keep", &info), 0);
        ck_assert_int_eq(info.dtype, TSHM_DTYPE_FLOAT64);
        ck_assert_uint_eq(info.ndim, 2);
        ck_assert_uint_eq(info.shape[1], 4);
        ck_assert_uint_eq(info.mode, 0640);
        tshm_close(s);
        ck_assert_int_eq(tshm_open(c, "keep", 0, &s), 0);
        ck_assert(((double *)tshm_seg_data(s))[11] == 3.25);
        tshm_close(s);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* As another user: the segment's mode decides. */
static int
child_as_nobody(tshm_client *c, void *arg)
{
        tshm_seg *s;
        int rv;
        (void)arg;
        rv = tshm_open(c, "private", 0, &s);
        if (rv != TSHM_EACCES) {
                return 1;
        }
        if (tshm_open(c, "readable", TSHM_OPEN_RDONLY, &s) < 0) {
                return 2;
        }
        tshm_close(s);
        if (tshm_open(c, "readable", TSHM_OPEN_RDWR, &s) != TSHM_EACCES) {
                return 3;
        }
        if (tshm_unlink(c, "readable") != TSHM_EACCES) {
                return 4;
        }
        return 0;
}

START_TEST(test_daemon_mode_bits_are_enforced)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *a, *b;
        int status;
        pid_t pid;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: the permission test needs root to switch uid\n");
                return;
        }
        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "private", TSHM_DTYPE_UINT8, 0, NULL, 0600, 0, &a), 0);
        ck_assert_int_eq(tshm_create(c, "readable", TSHM_DTYPE_UINT8, 0, NULL, 0644, 0, &b), 0);
        pid = tshm_test_fork();
        if (pid == 0) {
                tshm_client *cc;
                if (setgid(65534) < 0 || setuid(65534) < 0 || tshm_connect(f.socket, &cc) < 0) {
                        _exit(99);
                }
                status = child_as_nobody(cc, NULL);
                tshm_disconnect(cc);
                _exit(status);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
        tshm_close(a);
        tshm_close(b);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("daemon_share");

        tshm_test_case(s, "share", 60, TSHM_TESTS(test_daemon_three_processes_share_writes));
        tshm_test_case(s, "read_only", 60, TSHM_TESTS(test_daemon_read_only_cannot_write));
        tshm_test_case(s, "kill9", 60, TSHM_TESTS(test_daemon_kill9_drops_references));
        tshm_test_case(s, "unlink", 60, TSHM_TESTS(test_daemon_unlink_while_mapped));
        tshm_test_case(s, "restart", 60, TSHM_TESTS(test_daemon_restart_adopts_segments));
        tshm_test_case(s, "modes", 60, TSHM_TESTS(test_daemon_mode_bits_are_enforced));
        return tshm_test_run(s);
}
