/*
 * test_fault_shm.c - a really full /dev/shm. The test process moves into a
 * private mount namespace with a 4 MiB tmpfs on /dev/shm, so the tshmd the
 * fixture starts (and the test's clients) see only that; it creates segments
 * until the daemon says ENOSPC, then writes every byte of every segment that
 * was created, through fresh opens and through the creator's mappings. Pages
 * are reserved at create, so none of the writers may die of SIGBUS.
 *
 * The namespace is made in the test process itself rather than in a child
 * that execs tshmd: the fixture then starts tshmd as usual, and the test's
 * own view of /dev/shm (object counts, cleanup) is the daemon's. Needs root;
 * skipped (with the reason) otherwise or where unshare or mount is refused.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "stress.h"

#define SEGS_MAX 512

/* Enter a private mount namespace with a small tmpfs on /dev/shm. Returns
 * false (after printing why) when the test must be skipped. */
static bool
shm_private_tmpfs(void)
{
        if (geteuid() != 0) {
                printf("fault_full_shm: skipped: needs root to unshare a mount namespace\n");
                return false;
        }
        if (unshare(CLONE_NEWNS) < 0) {
                printf("fault_full_shm: skipped: unshare(CLONE_NEWNS): %s\n", strerror(errno));
                return false;
        }
        /* Nothing mounted here may propagate back to the host. */
        if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                printf("fault_full_shm: skipped: making / private: %s\n", strerror(errno));
                return false;
        }
        if (mount("tshm-stress", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=1777") <
            0) {
                printf("fault_full_shm: skipped: mounting a tmpfs on /dev/shm: %s\n",
                       strerror(errno));
                return false;
        }
        return true;
}

/* Write every byte of every segment through fresh read-write opens, and
 * read it back. Runs in a child: a SIGBUS kills only it. */
static int
writer_fresh(const char *socket, char (*names)[16], size_t n)
{
        tshm_client *c;
        tshm_seg *s;
        uint8_t *d;
        uint64_t j;
        size_t i;

        if (tshm_connect(socket, &c) < 0) {
                return 2;
        }
        for (i = 0; i < n; i++) {
                if (tshm_open(c, names[i], TSHM_OPEN_RDWR, &s) < 0) {
                        return 3;
                }
                d = tshm_seg_data(s);
                memset(d, 0xa5, (size_t)tshm_seg_nbytes(s));
                for (j = 0; j < tshm_seg_nbytes(s); j++) {
                        if (d[j] != 0xa5) {
                                return 4;
                        }
                }
                (void)tshm_close(s);
        }
        tshm_disconnect(c);
        return 0;
}

static void
run_writer(int (*fn)(void *), void *arg, const char *what)
{
        char sbuf[96];
        int status;
        pid_t pid = tshm_test_fork();

        if (pid == 0) {
                _exit(fn(arg));
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the %s writer %s (a SIGBUS means a page of a created segment was not "
                      "reserved)",
                      what, stress_status_str(status, sbuf, sizeof(sbuf)));
}

struct shm_state {
        const struct tshmd_fixture *f;
        char names[SEGS_MAX][16];
        tshm_seg *segs[SEGS_MAX];
        size_t n;
};

static int
writer_fresh_fn(void *arg)
{
        struct shm_state *st = arg;

        return writer_fresh(st->f->socket, st->names, st->n);
}

/* Through the mappings the creator made, inherited by fork. */
static int
writer_inherited_fn(void *arg)
{
        struct shm_state *st = arg;
        size_t i;

        for (i = 0; i < st->n; i++) {
                memset(tshm_seg_data(st->segs[i]), 0x5a, (size_t)tshm_seg_nbytes(st->segs[i]));
        }
        return 0;
}

/* Create segments of @bytes until the daemon refuses with ENOSPC. */
static unsigned
fill_with(tshm_client *c, struct shm_state *st, uint64_t bytes)
{
        unsigned made = 0;
        int rv;

        for (;;) {
                ck_assert_uint_lt(st->n, SEGS_MAX);
                snprintf(st->names[st->n], sizeof(st->names[0]), "f%03zu", st->n);
                rv = tshm_create(c, st->names[st->n], TSHM_DTYPE_UINT8, 1, &bytes, 0, 0,
                                 &st->segs[st->n]);
                if (rv < 0) {
                        break;
                }
                st->n++;
                made++;
        }
        ck_assert_msg(rv == TSHM_ENOSPC, "create of %llu bytes: %s (%s), not ENOSPC",
                      (unsigned long long)bytes, tshm_err_name(rv), tshm_errmsg(c));
        ck_assert_msg(strstr(tshm_errmsg(c), "/dev/shm") != NULL,
                      "the ENOSPC message does not name /dev/shm: %s", tshm_errmsg(c));
        /* A refused create leaves no object behind. */
        ck_assert_int_eq(fixture_count_objects(st->f), (int)st->n);
        printf("fault_full_shm: %u segments of %llu bytes, then ENOSPC: %s\n", made,
               (unsigned long long)bytes, tshm_errmsg(c));
        return made;
}

START_TEST(test_fault_shm_full_dev_shm)
{
        /* Object sizes (data plus the 4 KiB header page): 256 KiB, 64 KiB,
         * 16 KiB, 8 KiB, filling what each larger size left. */
        static const uint64_t sizes[] = {252u << 10, 60u << 10, 12u << 10, 4096, 1};
        struct tshmd_fixture f;
        struct shm_state *st;
        struct statvfs vfs;
        tshm_client *c;
        tshm_daemon_info stats;
        size_t i;

        if (!shm_private_tmpfs()) {
                return;
        }
        ck_assert_int_eq(statvfs("/dev/shm", &vfs), 0);
        printf("fault_full_shm: private /dev/shm of %llu bytes\n",
               (unsigned long long)vfs.f_blocks * vfs.f_frsize);
        st = calloc(1, sizeof(*st));
        ck_assert_ptr_nonnull(st);
        fixture_start(&f, NULL);
        stress_sentinel_track(&f);
        st->f = &f;
        c = fixture_connect(&f);
        for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                (void)fill_with(c, st, sizes[i]);
        }
        ck_assert_uint_gt(st->n, 0);
        ck_assert_int_eq(tshm_daemon_stat(c, &stats), 0);
        ck_assert_uint_eq(stats.segments, st->n);
        printf("fault_full_shm: %zu segments, %llu bytes; /dev/shm has %llu bytes free\n", st->n,
               (unsigned long long)stats.bytes, (unsigned long long)stats.shm_free);
        /* Every byte of every segment, twice over. */
        run_writer(writer_fresh_fn, st, "fresh-open");
        run_writer(writer_inherited_fn, st, "inherited-mapping");
        for (i = 0; i < st->n; i++) {
                const uint8_t *d = tshm_seg_data(st->segs[i]);
                uint64_t nb = tshm_seg_nbytes(st->segs[i]);
                ck_assert(nb == 0 || (d[0] == 0x5a && d[nb - 1] == 0x5a));
                ck_assert_int_eq(tshm_close(st->segs[i]), 0);
                ck_assert_int_eq(tshm_unlink(c, st->names[i]), 0);
        }
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        stress_assert_serves(c);
        tshm_disconnect(c);
        fixture_teardown(&f);
        free(st);
        printf("fault_full_shm: passed\n");
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("fault_shm");
        TCase *tc;

        stress_sentinel_init();
        tc = tshm_test_case(s, "full", 120, TSHM_TESTS(test_fault_shm_full_dev_shm));
        tcase_add_unchecked_fixture(tc, NULL, stress_sentinel_cleanup);
        return tshm_test_run(s);
}
