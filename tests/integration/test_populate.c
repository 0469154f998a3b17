/*
 * test_populate.c - populating mappings (issue 12): an open or create that
 * populates leaves every page of the mapping in this process's page tables,
 * for read-only and writable handles; one told not to leaves a fresh
 * segment's pages out; tshm_seg_populate() adds only the slice it is given
 * and checks its bounds; the touch fallback changes no data; and a populate
 * that fails (the object was truncated under the mapping) returns
 * TSHM_ENOMEM without a signal, the segment usable afterwards.
 *
 * What is observable: the daemon's fallocate puts every page in the page
 * cache at create, so mincore() calls them all resident whatever the client
 * did. The mapping's own page-table residency is what populating changes: the
 * "Rss" of its /proc/self/smaps entry.
 *
 * Linked with libtshm's static library for tshm__seg_touch() (the fallback).
 */
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "internal.h"

#define MiB ((uint64_t)1024 * 1024)
/* Pages a touch may map beside the one touched (fault-around), and the
 * header page: the slack of an "only this slice" check. */
#define SLACK ((uint64_t)128 * 1024)

FIXTURE_PER_TEST(f)

/* Send tshmd @sig and wait until /proc says its state is @state. */
static void
stop_daemon(int sig, char state)
{
        char path[64], buf[256], *p;
        int i;

        ck_assert_int_eq(kill(f.pid, sig), 0);
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)f.pid);
        for (i = 0; i < 5000; i++) {
                FILE *fp = fopen(path, "r");

                ck_assert_ptr_nonnull(fp);
                p = fgets(buf, sizeof(buf), fp);
                fclose(fp);
                /* "pid (comm) S ...": the state follows the last ')'. */
                if (p != NULL && (p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
                    (p[2] == state || (state == 'S' && p[2] != 'T' && p[2] != 't'))) {
                        return;
                }
                usleep(1000);
        }
        ck_abort_msg("tshmd did not reach state %c", state);
}

/* Bytes of the mapping that holds @addr that are in this process's page
 * tables (smaps "Rss"). */
static uint64_t
rss_of(const void *addr)
{
        return fixture_smaps_bytes(addr, "Rss");
}

static tshm_seg *
make(tshm_client *c, const char *name, uint64_t nbytes, unsigned flags)
{
        tshm_seg *s = NULL;

        ck_assert_int_eq(
            tshm_create(c, name, TSHM_DTYPE_UINT8, 1, (uint64_t[]){nbytes}, 0, flags, &s), 0);
        return s;
}

START_TEST(test_populate_at_open_and_create)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *w, *r, *rw, *n;

        /* 8 MiB is under TSHM_POPULATE_AUTO_MAX: the default populates. */
        w = make(c, "small", 8 * MiB, TSHM_CREATE_DEFAULT);
        ck_assert_uint_ge(rss_of(tshm_seg_data(w)), 8 * MiB);
        r = NULL;
        ck_assert_int_eq(tshm_open(c, "small", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_ptr_ne(tshm_seg_data(r), tshm_seg_data(w));
        ck_assert_uint_ge(rss_of(tshm_seg_data(r)), 8 * MiB);
        ck_assert_int_eq(tshm_open(c, "small", TSHM_OPEN_RDWR | TSHM_OPEN_POPULATE, &rw), 0);
        ck_assert_uint_ge(rss_of(tshm_seg_data(rw)), 8 * MiB);
        /* Told not to: a fresh segment's pages stay out of this mapping's
         * page tables (fallocate put them in the page cache only). */
        ck_assert_int_eq(tshm_open(c, "small", TSHM_OPEN_NOPOPULATE, &n), 0);
        ck_assert_uint_le(rss_of(tshm_seg_data(n)), SLACK);
        tshm_close(n);
        tshm_close(rw);
        tshm_close(r);
        tshm_close(w);

        w = make(c, "fresh", 8 * MiB, TSHM_CREATE_NOPOPULATE);
        ck_assert_uint_le(rss_of(tshm_seg_data(w)), SLACK);
        ck_assert_int_eq(tshm_open(c, "fresh", TSHM_OPEN_RDONLY | TSHM_OPEN_NOPOPULATE, &r), 0);
        ck_assert_uint_le(rss_of(tshm_seg_data(r)), SLACK);
        ck_assert_int_eq(tshm_open(c, "fresh", TSHM_OPEN_POPULATE, &n), 0);
        ck_assert_uint_ge(rss_of(tshm_seg_data(n)), 8 * MiB);
        tshm_close(n);
        tshm_close(r);
        tshm_close(w);

        /* Both flags at once are refused; so are unknown ones. */
        ck_assert_int_eq(tshm_open(c, "fresh", TSHM_OPEN_POPULATE | TSHM_OPEN_NOPOPULATE, &r),
                         TSHM_EINVAL);
        ck_assert_int_eq(tshm_create(c, "both", TSHM_DTYPE_UINT8, 1, (uint64_t[]){16}, 0,
                                     TSHM_CREATE_POPULATE | TSHM_CREATE_NOPOPULATE, &r),
                         TSHM_EINVAL);
        ck_assert_int_eq(tshm_create(c, "both", TSHM_DTYPE_UINT8, 1, (uint64_t[]){16}, 0, 8u, &r),
                         TSHM_EINVAL);
        /* The populate flags stay in this process: the daemon records only
         * the segment's own. */
        w = make(c, "eph", 4096, TSHM_CREATE_EPHEMERAL | TSHM_CREATE_POPULATE);
        {
                tshm_info info;

                ck_assert_int_eq(tshm_stat(c, "eph", &info), 0);
                ck_assert_uint_eq(info.flags, TSHM_CREATE_EPHEMERAL);
        }
        tshm_close(w);
        tshm_disconnect(c);
}
END_TEST

START_TEST(test_populate_slice)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *w, *r;
        uint64_t before, after;

        w = make(c, "big", 32 * MiB, TSHM_CREATE_NOPOPULATE);
        ck_assert_int_eq(tshm_open(c, "big", TSHM_OPEN_NOPOPULATE, &r), 0);
        /* A reader's slice: 4 MiB from 10 MiB, and no more. */
        before = rss_of(tshm_seg_data(r));
        ck_assert_int_eq(tshm_seg_populate(r, 10 * MiB, 4 * MiB), 0);
        after = rss_of(tshm_seg_data(r));
        ck_assert_uint_ge(after - before, 4 * MiB);
        ck_assert_uint_le(after - before, 4 * MiB + SLACK);
        /* A writer's (populated for writing), unaligned: the whole pages
         * around it. */
        before = rss_of(tshm_seg_data(w));
        ck_assert_int_eq(tshm_seg_populate(w, 1 * MiB + 100, 2 * MiB), 0);
        after = rss_of(tshm_seg_data(w));
        ck_assert_uint_ge(after - before, 2 * MiB);
        ck_assert_uint_le(after - before, 2 * MiB + SLACK);
        /* Again: nothing more. */
        ck_assert_int_eq(tshm_seg_populate(w, 1 * MiB + 100, 2 * MiB), 0);
        ck_assert_uint_eq(rss_of(tshm_seg_data(w)), after);

        /* Bounds: data-relative, within nbytes. */
        ck_assert_int_eq(tshm_seg_populate(r, 0, 32 * MiB), 0);
        ck_assert_uint_ge(rss_of(tshm_seg_data(r)), 32 * MiB);
        ck_assert_int_eq(tshm_seg_populate(r, 32 * MiB, 0), 0);
        ck_assert_int_eq(tshm_seg_populate(r, 0, 32 * MiB + 1), TSHM_EINVAL);
        ck_assert_int_eq(tshm_seg_populate(r, 32 * MiB, 1), TSHM_EINVAL);
        ck_assert_int_eq(tshm_seg_populate(r, 32 * MiB + 1, 0), TSHM_EINVAL);
        ck_assert_int_eq(tshm_seg_populate(r, 1, UINT64_MAX), TSHM_EINVAL);
        ck_assert_int_eq(tshm_seg_populate(NULL, 0, 0), TSHM_EINVAL);
        tshm_close(r);
        tshm_close(w);
        tshm_disconnect(c);
}
END_TEST

START_TEST(test_populate_stream_ring)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s;

        /* A stream's range is its ring: 8 slots of 1 MiB from slot 0. */
        ck_assert_int_eq(tshm_stream_create(c, "ring", TSHM_DTYPE_UINT8, 1, (uint64_t[]){MiB}, 8,
                                            TSHM_STREAM_BLOCK, 0, TSHM_CREATE_NOPOPULATE, &s),
                         0);
        ck_assert_uint_le(rss_of(tshm_seg_data(s)), SLACK);
        ck_assert_int_eq(tshm_seg_populate(s, 7 * MiB, MiB), 0);
        ck_assert_uint_ge(rss_of(tshm_seg_data(s)), MiB);
        ck_assert_int_eq(tshm_seg_populate(s, 0, 64 * MiB), TSHM_EINVAL);
        /* A subscriber's mapping of the ring is populated whole, as an
         * open's is by default. */
        {
                tshm_sub *sub;

                ck_assert_int_eq(tshm_sub_open(c, "ring", &sub), 0);
                ck_assert_uint_ge(rss_of(tshm_seg_data(tshm_sub_seg(sub))), 8 * MiB);
                ck_assert_int_eq(tshm_sub_close(sub), 0);
        }
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

START_TEST(test_touch_fallback_keeps_data)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *w, *r;
        uint8_t *d, *want;
        size_t i;

        w = make(c, "touch", 4 * MiB, TSHM_CREATE_NOPOPULATE);
        d = tshm_seg_data(w);
        /* Fill through a second mapping, so that @w's stays unpopulated. */
        ck_assert_int_eq(tshm_open(c, "touch", TSHM_OPEN_RDWR | TSHM_OPEN_NOPOPULATE, &r), 0);
        want = malloc(4 * MiB);
        ck_assert_ptr_nonnull(want);
        for (i = 0; i < 4 * MiB; i++) {
                want[i] = (uint8_t)(i * 7 + 3);
        }
        memcpy(tshm_seg_data(r), want, 4 * MiB);
        ck_assert_uint_le(rss_of(d), SLACK);
        tshm__seg_touch(d, 4 * MiB, true);
        ck_assert_uint_ge(rss_of(d), 4 * MiB);
        ck_assert(memcmp(d, want, 4 * MiB) == 0);
        free(want);
        tshm_close(r);
        tshm_close(w);
        tshm_disconnect(c);
}
END_TEST

START_TEST(test_populate_failure_is_an_error)
{
        tshm_client *c = fixture_connect(&f);
        char path[256];
        tshm_seg *w, *r;
        struct stat st;
        int fd;

        w = make(c, "cut", 4 * MiB, TSHM_CREATE_NOPOPULATE);
        ck_assert_int_eq(tshm_open(c, "cut", TSHM_OPEN_NOPOPULATE, &r), 0);
        snprintf(path, sizeof(path), "/dev/shm/%s.cut", f.prefix);
        fd = open(path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        /* tshmd restores a cut object's size: stopped, it cannot, and the
         * cut stays until this test undoes it. */
        stop_daemon(SIGSTOP, 'T');
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        ck_assert_int_eq(tshm_seg_populate(r, 0, 4 * MiB), TSHM_ENOMEM);
        ck_assert_int_eq(tshm_seg_populate(r, 2 * MiB, 4096), TSHM_ENOMEM);
        /* The object back at its size: the same handle populates and
         * reads. */
        ck_assert_int_eq(ftruncate(fd, st.st_size), 0);
        ck_assert_int_eq(tshm_seg_populate(r, 0, 4 * MiB), 0);
        ck_assert_uint_ge(rss_of(tshm_seg_data(r)), 4 * MiB);
        ck_assert_uint_eq(((const uint8_t *)tshm_seg_data(r))[4 * MiB - 1], 0);
        stop_daemon(SIGCONT, 'S');
        close(fd);
        tshm_close(r);
        tshm_close(w);
        tshm_disconnect(c);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("populate");
        TCase *tc;

        tc = tshm_test_case(s, "populate", 60,
                            TSHM_TESTS(test_populate_at_open_and_create, test_populate_slice,
                                       test_populate_stream_ring, test_touch_fallback_keeps_data,
                                       test_populate_failure_is_an_error));
        tcase_add_checked_fixture(tc, setup, teardown);
        return tshm_test_run(s);
}
