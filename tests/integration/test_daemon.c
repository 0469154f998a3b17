/*
 * test_daemon.c - libtshm against a real tshmd, with several real processes.
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
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
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
        pid = fork();
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
        pid = fork();
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
        ck_assert_uint_eq(st.bytes, 2 * 8192);
        ck_assert_int_eq(tshm_close(old), 0);
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        ck_assert_uint_eq(st.bytes, 8192);
        ck_assert_uint_eq(st.segments, 1);
        tshm_close(fresh);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_budget_gives_no_space)
{
        static const char *const extra[] = {"--max-bytes", "64K", NULL};
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *a, *b;

        fixture_start(&f, extra);
        c = fixture_connect(&f);
        /* 40 KiB of data + a 4 KiB header page fit in 64 KiB; twice do not. */
        ck_assert_int_eq(tshm_create(c, "a", TSHM_DTYPE_UINT8, 1, (uint64_t[]){40960}, 0, 0, &a),
                         0);
        ck_assert_int_eq(tshm_create(c, "b", TSHM_DTYPE_UINT8, 1, (uint64_t[]){40960}, 0, 0, &b),
                         TSHM_ENOSPC);
        ck_assert_msg(strstr(tshm_errmsg(c), "--max-bytes=65536") != NULL &&
                          strstr(tshm_errmsg(c), "45056 in use") != NULL &&
                          strstr(tshm_errmsg(c), "45056 asked") != NULL,
                      "unclear message: %s", tshm_errmsg(c));
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        ck_assert_int_eq(tshm_create(c, "c", TSHM_DTYPE_UINT8, 1, (uint64_t[]){1000}, 0, 0, &b), 0);
        tshm_close(a);
        tshm_close(b);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_per_uid_budgets)
{
        static const char *const extra[] = {"--max-segments-per-uid", "2", "--max-bytes-per-uid",
                                            "32K", NULL};
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s;

        fixture_start(&f, extra);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "big", TSHM_DTYPE_UINT8, 1, (uint64_t[]){40000}, 0, 0, &s),
                         TSHM_ENOSPC);
        ck_assert_msg(strstr(tshm_errmsg(c), "--max-bytes-per-uid=32768, 0 in use, 45056 asked"),
                      "unclear message: %s", tshm_errmsg(c));
        ck_assert_int_eq(tshm_create(c, "a", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), 0);
        tshm_close(s);
        ck_assert_int_eq(tshm_create(c, "b", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), 0);
        tshm_close(s);
        ck_assert_int_eq(tshm_create(c, "c", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), TSHM_ELIMIT);
        ck_assert_ptr_nonnull(strstr(tshm_errmsg(c), "--max-segments-per-uid=2, 2 owned"));
        ck_assert_int_eq(tshm_unlink(c, "a"), 0);
        ck_assert_int_eq(tshm_create(c, "c", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), 0);
        tshm_close(s);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

static void
write_file(const char *path, const char *text)
{
        FILE *fp = fopen(path, "w");

        ck_assert_ptr_nonnull(fp);
        ck_assert_int_ge(fputs(text, fp), 0);
        ck_assert_int_eq(fclose(fp), 0);
}

/* Wait up to 5 s for @text in tshmd's log. */
static bool
log_has(const struct tshmd_fixture *f, const char *text)
{
        struct timespec ts = {0, 10 * 1000 * 1000};
        char line[1024];
        bool found = false;
        int i;

        for (i = 0; i < 500 && !found; i++) {
                FILE *fp = fopen(f->log, "r");
                while (fp != NULL && !found && fgets(line, sizeof(line), fp) != NULL) {
                        found = strstr(line, text) != NULL;
                }
                if (fp != NULL) {
                        fclose(fp);
                }
                if (!found) {
                        nanosleep(&ts, NULL);
                }
        }
        return found;
}

/* Create "probe", retrying for up to 5 s until it gives @want (a reload is
 * asynchronous), then remove it if it was made. */
static bool
probe_until(tshm_client *c, int want)
{
        struct timespec ts = {0, 10 * 1000 * 1000};
        tshm_seg *s;
        int i, rv = 0;

        for (i = 0; i < 500; i++) {
                rv = tshm_create(c, "probe", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s);
                if (rv == 0) {
                        tshm_close(s);
                        tshm_unlink(c, "probe");
                }
                if (rv == want) {
                        return true;
                }
                nanosleep(&ts, NULL);
        }
        return false;
}

START_TEST(test_daemon_sighup_reloads_limits)
{
        struct tshmd_fixture f;
        char path[128], arg[140];
        const char *extra[3] = {"--config", arg, NULL};
        tshm_client *c;
        tshm_seg *s;

        /* The fixture makes its directory in fixture_start: use /tmp. */
        snprintf(path, sizeof(path), "/tmp/tshm-test-config-%d", (int)getpid());
        snprintf(arg, sizeof(arg), "%s", path);
        write_file(path, "# limits\nmax-segments = 1\nlog-level = info\n");
        fixture_start(&f, extra);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "one", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), 0);
        tshm_close(s);
        ck_assert(probe_until(c, TSHM_ELIMIT));
        write_file(path, "max-segments = 2\nsocket = /ignored/on/reload.sock\n");
        ck_assert_int_eq(kill(f.pid, SIGHUP), 0);
        ck_assert_msg(probe_until(c, 0), "SIGHUP did not raise max-segments");
        /* A bad file changes nothing. */
        write_file(path, "max-segments = 1\nmax-bytes = lots\n");
        ck_assert_int_eq(kill(f.pid, SIGHUP), 0);
        ck_assert_msg(log_has(&f, "keeping the settings in force"), "no reload error logged");
        ck_assert(probe_until(c, 0));
        tshm_disconnect(c);
        fixture_teardown(&f);
        unlink(path);
}
END_TEST

START_TEST(test_daemon_full_dev_shm_gives_no_space)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_daemon_info st;
        tshm_seg *s;
        uint64_t n;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        ck_assert_uint_gt(st.shm_free, 0);
        /* Twice what /dev/shm has free: refused at create, nothing left. */
        n = st.shm_free * 2;
        ck_assert_int_eq(tshm_create(c, "huge", TSHM_DTYPE_UINT8, 1, &n, 0, 0, &s), TSHM_ENOSPC);
        ck_assert_ptr_nonnull(strstr(tshm_errmsg(c), "/dev/shm"));
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        ck_assert_uint_eq(st.bytes, 0);
        ck_assert_uint_eq(st.segments, 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_errors_are_specific)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s;
        tshm_info info;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, ".hidden", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s),
                         TSHM_EBADNAME);
        ck_assert_int_eq(tshm_create(c, "a/b", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), TSHM_EBADNAME);
        ck_assert_int_eq(tshm_create(c, "x", (tshm_dtype)99, 0, NULL, 0, 0, &s), TSHM_EBADDTYPE);
        ck_assert_str_eq(tshm_errmsg(c), "dtype 99 is none of tshm_dtype's");
        ck_assert_int_eq(tshm_create(c, "x", TSHM_DTYPE_UINT8, 33, shape_3x4, 0, 0, &s),
                         TSHM_EBADSHAPE);
        ck_assert_str_eq(tshm_errmsg(c), "33 dimensions of uint8: at most 32");
        /* The detail is the shape that is wrong, not the name. */
        ck_assert_int_eq(tshm_create(c, "x", TSHM_DTYPE_FLOAT64, 2,
                                     (uint64_t[]){1ull << 40, 1ull << 40}, 0, 0, &s),
                         TSHM_EBADSHAPE);
        ck_assert_str_eq(tshm_errmsg(c),
                         "shape 1099511627776x1099511627776 of float64: more bytes than fit in "
                         "memory");
        ck_assert_int_eq(tshm_stream_create(c, "x", TSHM_DTYPE_INT16, 3,
                                            (uint64_t[]){0, 1ull << 62, 4}, 4, TSHM_STREAM_BLOCK, 0,
                                            0, &s),
                         TSHM_EBADSHAPE);
        ck_assert_str_eq(tshm_errmsg(c),
                         "shape 0x4611686018427387904x4 of int16: more bytes than fit in memory");
        ck_assert_int_eq(tshm_create(c, "x", TSHM_DTYPE_UINT8, 0, NULL, 01000, 0, &s), TSHM_EINVAL);
        ck_assert_int_eq(tshm_open(c, "missing", 0, &s), TSHM_ENOENT);
        ck_assert_ptr_nonnull(strstr(tshm_errmsg(c), "'missing'"));
        ck_assert_int_eq(tshm_stat(c, "missing", &info), TSHM_ENOENT);
        /* 0-d and empty arrays are fine. */
        ck_assert_int_eq(tshm_create(c, "scalar", TSHM_DTYPE_COMPLEX128, 0, NULL, 0, 0, &s), 0);
        ck_assert_uint_eq(tshm_seg_nbytes(s), 16);
        ck_assert_uint_eq(tshm_seg_ndim(s), 0);
        tshm_close(s);
        ck_assert_int_eq(
            tshm_create(c, "empty", TSHM_DTYPE_FLOAT32, 2, (uint64_t[]){0, 5}, 0, 0, &s), 0);
        ck_assert_uint_eq(tshm_seg_nbytes(s), 0);
        tshm_close(s);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_daemon_list_pages_and_stats)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_info *all;
        tshm_daemon_info st;
        tshm_seg *s;
        char name[32];
        size_t n, i;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        /* More than one list page (4096 entries). */
        for (i = 0; i < 5000; i++) {
                snprintf(name, sizeof(name), "seg-%05zu", i);
                ck_assert_int_eq(
                    tshm_create(c, name, TSHM_DTYPE_INT16, 1, (uint64_t[]){i}, 0, 0, &s), 0);
                ck_assert_int_eq(tshm_close(s), 0);
        }
        ck_assert_int_eq(tshm_unlink(c, "seg-00100"), 0);
        ck_assert_int_eq(tshm_list(c, &all, &n), 0);
        ck_assert_uint_eq(n, 4999);
        for (i = 0; i < n; i++) {
                /* Oldest first, each exactly once. */
                size_t want = i < 100 ? i : i + 1;
                snprintf(name, sizeof(name), "seg-%05zu", want);
                ck_assert_str_eq(all[i].name, name);
                ck_assert_uint_eq(all[i].shape[0], want);
                ck_assert_uint_eq(all[i].nbytes, want * 2);
                ck_assert_uint_eq(all[i].owner_uid, getuid());
                ck_assert_uint_eq(all[i].mode, 0600);
        }
        tshm_list_free(all);
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        ck_assert_uint_eq(st.segments, 4999);
        ck_assert_uint_eq(st.clients, 1);
        ck_assert_uint_eq(st.opens, 0);
        ck_assert_uint_ge(st.requests, 10000);
        ck_assert_int_eq(fixture_count_objects(&f), 4999);
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
        pid = fork();
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

static Suite *
daemon_suite(void)
{
        Suite *s = suite_create("daemon");
        struct {
                const char *name;
                const TTest *test;
        } cases[] = {
            {"share", test_daemon_three_processes_share_writes},
            {"read_only", test_daemon_read_only_cannot_write},
            {"kill9", test_daemon_kill9_drops_references},
            {"unlink", test_daemon_unlink_while_mapped},
            {"budget", test_daemon_budget_gives_no_space},
            {"full_shm", test_daemon_full_dev_shm_gives_no_space},
            {"per_uid", test_daemon_per_uid_budgets},
            {"sighup", test_daemon_sighup_reloads_limits},
            {"errors", test_daemon_errors_are_specific},
            {"list", test_daemon_list_pages_and_stats},
            {"restart", test_daemon_restart_adopts_segments},
            {"modes", test_daemon_mode_bits_are_enforced},
        };
        size_t i;

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                TCase *tc = tcase_create(cases[i].name);
                tcase_set_timeout(tc, 60);
                tcase_add_test(tc, cases[i].test);
                suite_add_tcase(s, tc);
        }
        return s;
}

int
main(void)
{
        SRunner *sr = srunner_create(daemon_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? 0 : 1;
}
