/*
 * test_creator.c - the guard that decides whether an ephemeral segment's
 * creator is still alive (daemon/gc.c): a restarted tshmd collects an
 * ephemeral segment only once its creator is gone, and a pid alone is not
 * enough, since pids are reused: the process's start time must match too.
 */
#include <check.h>

#include "check_main.h"
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tshmd.h"

START_TEST(test_creator_alive_needs_pid_and_start)
{
        pid_t me = getpid();
        uint64_t start = tshmd_gc_start_time(me);

        ck_assert_uint_ne(start, 0);
        ck_assert(tshmd_gc_creator_alive((uint32_t)me, start));
        /* The same pid with another start time is another process. */
        ck_assert(!tshmd_gc_creator_alive((uint32_t)me, start + 1));
        ck_assert(!tshmd_gc_creator_alive((uint32_t)me, start - 1));
        /* A header with no creator recorded names nobody alive. */
        ck_assert(!tshmd_gc_creator_alive((uint32_t)me, 0));
        ck_assert(!tshmd_gc_creator_alive(0, start));
}
END_TEST

START_TEST(test_creator_gone_after_exit)
{
        uint64_t start;
        int status;
        pid_t pid;

        pid = tshm_test_fork();
        if (pid == 0) {
                pause();
                _exit(0);
        }
        start = tshmd_gc_start_time(pid);
        ck_assert_uint_ne(start, 0);
        ck_assert(tshmd_gc_creator_alive((uint32_t)pid, start));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(!tshmd_gc_creator_alive((uint32_t)pid, start));
        ck_assert_uint_eq(tshmd_gc_start_time(pid), 0);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("creator");

        tshm_test_case(
            s, "creator", 0,
            TSHM_TESTS(test_creator_alive_needs_pid_and_start, test_creator_gone_after_exit));
        return tshm_test_run(s);
}
