/*
 * test_daemon_budget.c - libtshm against a real tshmd: its budgets (total,
 * per uid, reloaded on SIGHUP, a full /dev/shm), the errors it answers and
 * the list and stats it reports.
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
static const uint64_t shape_3x4[2] = {3, 4};

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
        struct timespec ts = {0, 10 * 1000L * 1000};
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
        struct timespec ts = {0, 10 * 1000L * 1000};
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
        ck_assert_int_eq(tshm_list(c, NULL, &all, &n), 0);
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
        /* A prefix: filtered by the daemon, across pages ("seg-0" is every
         * name), in order; "" and NULL are all. */
        ck_assert_int_eq(tshm_list(c, "seg-0", &all, &n), 0);
        ck_assert_uint_eq(n, 4999);
        ck_assert_str_eq(all[0].name, "seg-00000");
        ck_assert_str_eq(all[n - 1].name, "seg-04999");
        tshm_list_free(all);
        ck_assert_int_eq(tshm_list(c, "seg-04", &all, &n), 0);
        ck_assert_uint_eq(n, 1000);
        ck_assert_str_eq(all[0].name, "seg-04000");
        tshm_list_free(all);
        ck_assert_int_eq(tshm_list(c, "seg-0010", &all, &n), 0);
        ck_assert_uint_eq(n, 9); /* seg-00100 is gone */
        ck_assert_str_eq(all[0].name, "seg-00101");
        tshm_list_free(all);
        ck_assert_int_eq(tshm_list(c, "", &all, &n), 0);
        ck_assert_uint_eq(n, 4999);
        tshm_list_free(all);
        ck_assert_int_eq(tshm_list(c, "nothing", &all, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_ptr_null(all);
        ck_assert_int_eq(tshm_list(c, ".seg", &all, &n), TSHM_EBADNAME);
        ck_assert_int_eq(tshm_list(c, "seg 0", &all, &n), TSHM_EBADNAME);
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

int
main(void)
{
        Suite *s = suite_create("daemon_budget");

        tshm_test_case(s, "budget", 60, TSHM_TESTS(test_daemon_budget_gives_no_space));
        tshm_test_case(s, "full_shm", 60, TSHM_TESTS(test_daemon_full_dev_shm_gives_no_space));
        tshm_test_case(s, "per_uid", 60, TSHM_TESTS(test_daemon_per_uid_budgets));
        tshm_test_case(s, "sighup", 60, TSHM_TESTS(test_daemon_sighup_reloads_limits));
        tshm_test_case(s, "errors", 60, TSHM_TESTS(test_daemon_errors_are_specific));
        tshm_test_case(s, "list", 60, TSHM_TESTS(test_daemon_list_pages_and_stats));
        return tshm_test_run(s);
}
