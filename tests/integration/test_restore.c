/*
 * test_restore.c - tshmd puts back the size of a segment a client resized
 * (daemon/guard.c), in the thread pool, while the segment may be unlinked,
 * freed or the daemon stopping.
 *
 * The test runs as the daemon's user, so it opens the shm objects by name
 * in read-write mode and cuts them itself, as a client holding the
 * descriptor tshmd sent would.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

#define BIG (64u << 20) /* large enough that the fallocate takes a while */

/* Open @name's object read-write, as its owner. */
static int
open_object(const struct tshmd_fixture *f, const char *name)
{
        char obj[128];
        int fd;

        snprintf(obj, sizeof(obj), "/%s.%s", f->prefix, name);
        fd = shm_open(obj, O_RDWR | O_CLOEXEC, 0);
        ck_assert_msg(fd >= 0, "shm_open %s: %s", obj, strerror(errno));
        return fd;
}

static uint64_t
object_size(int fd)
{
        struct stat st;

        ck_assert_int_eq(fstat(fd, &st), 0);
        return (uint64_t)st.st_size;
}

/* Wait up to 10 s for the object behind @fd to be @size bytes again. */
static bool
wait_size(int fd, uint64_t size)
{
        struct timespec ts = {0, 5 * 1000L * 1000};
        int i;

        for (i = 0; i < 2000; i++) {
                if (object_size(fd) == size) {
                        return true;
                }
                nanosleep(&ts, NULL);
        }
        return false;
}

/* Wait up to 10 s for @text in tshmd's log. */
static bool
log_has(const struct tshmd_fixture *f, const char *text)
{
        struct timespec ts = {0, 5 * 1000L * 1000};
        char line[1024];
        bool found = false;
        int i;

        for (i = 0; i < 2000 && !found; i++) {
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

static tshm_seg *
create_big(tshm_client *c, const char *name, uint64_t *ret_size)
{
        uint64_t n = BIG;
        tshm_info info;
        tshm_seg *s;

        ck_assert_int_eq(tshm_create(c, name, TSHM_DTYPE_UINT8, 1, &n, 0, 0, &s), 0);
        ck_assert_int_eq(tshm_stat(c, name, &info), 0);
        *ret_size = info.size;
        return s;
}

/* A named segment cut by a client is put back to its size, all reserved. */
START_TEST(test_restore_named)
{
        struct tshmd_fixture f;
        uint64_t size;
        tshm_client *c;
        tshm_seg *s;
        struct stat st;
        int fd;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        s = create_big(c, "cut", &size);
        fd = open_object(&f, "cut");
        ck_assert_int_eq(ftruncate(fd, 4096), 0);
        ck_assert_msg(wait_size(fd, size), "the size was not restored");
        /* The size comes back first, then the pages are reserved; the log
         * line follows both. Every page reserved again, not sparse. */
        ck_assert_msg(log_has(&f, "'cut' was resized to 4096 bytes by a client; restored to"),
                      "no restore logged");
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_uint_ge((uint64_t)st.st_blocks * 512u, size);
        /* Grown: cut back. */
        ck_assert_int_eq(ftruncate(fd, (off_t)size * 2), 0);
        ck_assert_msg(wait_size(fd, size), "a grown object was not cut back");
        (void)close(fd);
        tshm_close(s);
        ck_assert_int_eq(tshm_unlink(c, "cut"), 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* Cut, then unlinked and its last handle closed at once, so that the
 * registry frees the segment while the restore may still run: the restore
 * finishes on its own descriptor, and tshmd goes on serving. */
START_TEST(test_restore_races_unlink_and_free)
{
        struct tshmd_fixture f;
        tshm_daemon_info stats;
        uint64_t size;
        tshm_client *c;
        tshm_seg *s;
        int fd, round;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        for (round = 0; round < 8; round++) {
                s = create_big(c, "gone", &size);
                fd = open_object(&f, "gone");
                ck_assert_int_eq(ftruncate(fd, 0), 0);
                ck_assert_int_eq(tshm_unlink(c, "gone"), 0);
                tshm_close(s);
                /* Whichever came first, the restore (through the name's
                 * event) or the free: the object is whole once more, or
                 * was never seen cut. Either way tshmd serves. */
                ck_assert_int_eq(tshm_daemon_stat(c, &stats), 0);
                (void)close(fd);
        }
        ck_assert_int_eq(tshm_daemon_stat(c, &stats), 0);
        ck_assert_uint_eq(stats.segments, 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* Unlinked while a handle stays open: tshmd keeps the object's descriptor
 * and restores it through the inode's watch. */
START_TEST(test_restore_unlinked_kept)
{
        struct tshmd_fixture f;
        uint64_t size;
        tshm_client *c;
        tshm_seg *s;
        int fd;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        s = create_big(c, "kept", &size);
        fd = open_object(&f, "kept");
        ck_assert_int_eq(tshm_unlink(c, "kept"), 0);
        ck_assert_int_eq(ftruncate(fd, 4096), 0);
        ck_assert_msg(wait_size(fd, size), "the unlinked object was not restored");
        tshm_close(s);
        (void)close(fd);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* A client cutting in a loop: restores do not pile up (one per object at a
 * time), tshmd answers meanwhile, and the size is back once it stops. */
START_TEST(test_restore_cut_in_a_loop)
{
        struct tshmd_fixture f;
        struct timespec ts = {0, 200 * 1000L};
        tshm_daemon_info stats;
        uint64_t size;
        tshm_client *c;
        tshm_seg *s;
        int fd, i;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        s = create_big(c, "loop", &size);
        fd = open_object(&f, "loop");
        for (i = 0; i < 400; i++) {
                ck_assert_int_eq(ftruncate(fd, (off_t)(i % 2 == 0 ? 0 : 8192)), 0);
                if (i % 50 == 0) {
                        ck_assert_int_eq(tshm_daemon_stat(c, &stats), 0);
                }
                nanosleep(&ts, NULL);
        }
        ck_assert_msg(wait_size(fd, size), "the size was not restored after the loop");
        (void)close(fd);
        tshm_close(s);
        ck_assert_int_eq(tshm_unlink(c, "loop"), 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* SIGTERM while restores may be running: a clean stop, exit 0 (the
 * fixture's teardown requires it, and no sanitizer report). */
START_TEST(test_restore_stop_while_pending)
{
        struct tshmd_fixture f;
        uint64_t size;
        tshm_client *c;
        tshm_seg *s[4];
        char name[16];
        int fd, i;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        for (i = 0; i < 4; i++) {
                snprintf(name, sizeof(name), "stop%d", i);
                s[i] = create_big(c, name, &size);
        }
        for (i = 0; i < 4; i++) {
                snprintf(name, sizeof(name), "stop%d", i);
                fd = open_object(&f, name);
                ck_assert_int_eq(ftruncate(fd, 0), 0);
                (void)close(fd);
        }
        fixture_stop(&f);
        for (i = 0; i < 4; i++) {
                tshm_close(s[i]);
        }
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("restore");

        tshm_test_case(s, "restore", 60,
                       TSHM_TESTS(test_restore_named, test_restore_races_unlink_and_free,
                                  test_restore_unlinked_kept, test_restore_cut_in_a_loop,
                                  test_restore_stop_while_pending));
        return tshm_test_run(s);
}
