/*
 * test_gc.c - ephemeral segments and garbage collection: an ephemeral
 * segment goes with its creator, at once or at the next restart; gc reports
 * stale objects and removes them only when asked.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

/* A child that creates @name (ephemeral or not), says so on @pfd, and
 * waits to be killed. */
static pid_t
creator(const struct tshmd_fixture *f, const char *name, unsigned flags)
{
        int pfd[2];
        char ok;
        pid_t pid;

        ck_assert_int_eq(pipe(pfd), 0);
        pid = tshm_test_fork();
        if (pid == 0) {
                tshm_client *c;
                tshm_seg *s;
                if (tshm_connect(f->socket, &c) < 0 ||
                    tshm_create(c, name, TSHM_DTYPE_INT32, 1, (uint64_t[]){16}, 0, flags, &s) < 0) {
                        _exit(1);
                }
                (void)!write(pfd[1], "k", 1);
                pause();
                _exit(0);
        }
        close(pfd[1]);
        ck_assert_int_eq(read(pfd[0], &ok, 1), 1);
        close(pfd[0]);
        return pid;
}

static void
kill_wait(pid_t pid)
{
        int status;

        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}

/* Wait up to 5 s for @name to exist (@want) or not. */
static bool
wait_exists(tshm_client *c, const char *name, bool want)
{
        struct timespec ts = {0, 10 * 1000L * 1000};
        tshm_info info;
        int i;

        for (i = 0; i < 500; i++) {
                if ((tshm_stat(c, name, &info) == 0) == want) {
                        return true;
                }
                nanosleep(&ts, NULL);
        }
        return false;
}

START_TEST(test_gc_ephemeral_goes_with_its_creator)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_info info;
        tshm_seg *mine;
        pid_t eph, pers;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        eph = creator(&f, "eph", TSHM_CREATE_EPHEMERAL);
        pers = creator(&f, "pers", 0);
        ck_assert_int_eq(tshm_stat(c, "eph", &info), 0);
        ck_assert_uint_eq(info.flags, TSHM_CREATE_EPHEMERAL);
        ck_assert_int_eq(tshm_stat(c, "pers", &info), 0);
        ck_assert_uint_eq(info.flags, 0);
        /* A mapping of it outlives it. */
        ck_assert_int_eq(tshm_open(c, "eph", TSHM_OPEN_RDONLY, &mine), 0);
        kill_wait(eph);
        kill_wait(pers);
        ck_assert_msg(wait_exists(c, "eph", false), "ephemeral segment outlived its creator");
        ck_assert_int_eq(tshm_stat(c, "pers", &info), 0);
        ck_assert_int_eq(((const int32_t *)tshm_seg_data(mine))[15], 0);
        tshm_close(mine);
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_gc_ephemeral_collected_at_restart)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_info info;
        pid_t alive, dead;
        int status;

        fixture_start(&f, NULL);
        alive = creator(&f, "alive", TSHM_CREATE_EPHEMERAL);
        dead = creator(&f, "dead", TSHM_CREATE_EPHEMERAL);
        /* The daemon dies without a word; one creator dies meanwhile. */
        ck_assert_int_eq(kill(f.pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(f.pid, &status, 0), f.pid);
        f.pid = 0;
        kill_wait(dead);
        ck_assert_int_eq(fixture_count_objects(&f), 2);
        fixture_restart(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(c, "alive", &info), 0);
        ck_assert_int_eq(tshm_stat(c, "dead", &info), TSHM_ENOENT);
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        /* Once its creator is gone too, gc finds it. */
        kill_wait(alive);
        {
                tshm_gc_entry *g;
                size_t n;
                ck_assert_int_eq(tshm_gc(c, 1, &g, &n), 0);
                ck_assert_uint_eq(n, 1);
                ck_assert_ptr_nonnull(strstr(g[0].object, ".alive"));
                ck_assert_ptr_nonnull(strstr(g[0].reason, "creator is gone"));
                ck_assert_int_eq(g[0].removed, 1);
                tshm_gc_free(g);
        }
        ck_assert_int_eq(tshm_stat(c, "alive", &info), TSHM_ENOENT);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_gc_reports_then_removes_stale_objects)
{
        struct tshmd_fixture f;
        char junk[128];
        tshm_gc_entry *g;
        tshm_client *c;
        tshm_seg *s;
        size_t n;
        int fd, status;
        pid_t pid;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "live", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), 0);
        tshm_close(s);
        /* An object under the prefix with no valid header. */
        snprintf(junk, sizeof(junk), "/%s.junk", f.prefix);
        fd = shm_open(junk, O_RDWR | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "not a header", 12), 12);
        close(fd);
        /* A dry run reports and keeps it. */
        ck_assert_int_eq(tshm_gc(c, 0, &g, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_str_eq(g[0].object, junk);
        ck_assert_int_eq(g[0].removed, 0);
        tshm_gc_free(g);
        ck_assert_int_eq(fixture_count_objects(&f), 2);
        /* Only root or the daemon's user may collect. */
        if (geteuid() == 0) {
                pid = tshm_test_fork();
                if (pid == 0) {
                        tshm_client *cc;
                        if (setgid(65534) < 0 || setuid(65534) < 0 ||
                            tshm_connect(f.socket, &cc) < 0) {
                                _exit(99);
                        }
                        _exit(tshm_gc(cc, 1, &g, &n) == TSHM_EACCES ? 0 : 1);
                }
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        ck_assert_int_eq(tshm_gc(c, 1, &g, &n), 0);
        ck_assert_uint_eq(n, 1);
        ck_assert_int_eq(g[0].removed, 1);
        tshm_gc_free(g);
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        ck_assert_int_eq(tshm_gc(c, 1, &g, &n), 0);
        ck_assert_uint_eq(n, 0);
        ck_assert_ptr_null(g);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_gc_unfinished_create_does_not_block_the_name)
{
        struct tshmd_fixture f;
        char tmp[128];
        tshm_client *c;
        tshm_seg *s;
        int fd, status;

        fixture_start(&f, NULL);
        /* What a daemon killed in the middle of a create leaves. */
        snprintf(tmp, sizeof(tmp), "/%s..new.cut", f.prefix);
        fd = shm_open(tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(kill(f.pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(f.pid, &status, 0), f.pid);
        f.pid = 0;
        fixture_restart(&f, NULL);
        ck_assert_int_eq(shm_open(tmp, O_RDONLY, 0), -1);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "cut", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s), 0);
        tshm_close(s);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("gc");

        tshm_test_case(s, "gc", 120,
                       TSHM_TESTS(test_gc_ephemeral_goes_with_its_creator,
                                  test_gc_ephemeral_collected_at_restart,
                                  test_gc_reports_then_removes_stale_objects,
                                  test_gc_unfinished_create_does_not_block_the_name));
        return tshm_test_run(s);
}
