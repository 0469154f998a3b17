/*
 * The one main() of tshm's check-based tests (unit, integration, fault).
 *
 * Each test file builds its Suite from TCases and returns tshm_test_run(s)
 * from main(); what differs between files (timeouts, fixtures, loop tests, a
 * skip before anything runs) stays in the file, next to the tests it is for.
 *
 *     Suite *s = suite_create("restore");
 *
 *     tshm_test_case(s, "restore", 60, TSHM_TESTS(test_restore_named, test_restore_cut));
 *     return tshm_test_run(s);
 *
 * Header-only: the tests are separate executables with nothing else in
 * common to link, and every function here is a few lines.
 */
#ifndef TSHM_TESTS_CHECK_MAIN_H
#define TSHM_TESTS_CHECK_MAIN_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A NULL-terminated list of tests (the names START_TEST defines), for the
 * calls below. */
#define TSHM_TESTS(...) ((const TTest *const[]){__VA_ARGS__, NULL})

/*
 * One TCase named @name holding @tests, added to @s. @timeout is in seconds;
 * 0 keeps check's default (4 s, or CK_DEFAULT_TIMEOUT). Returns the TCase so
 * the caller can add a fixture or a loop test to it.
 */
static inline TCase *
tshm_test_case(Suite *s, const char *name, double timeout, const TTest *const *tests)
{
        TCase *tc = tcase_create(name);

        if (timeout > 0) {
                tcase_set_timeout(tc, timeout);
        }
        for (; *tests != NULL; tests++) {
                tcase_add_test(tc, *tests);
        }
        suite_add_tcase(s, tc);
        return tc;
}

/*
 * One TCase per test, each named for its test (so a timeout or a crash names
 * the test, and CK_RUN_CASE can pick one), with @timeout as above and a
 * checked fixture (@setup and @teardown, either NULL) run in each test's
 * forked child around it.
 */
static inline void
tshm_test_each(Suite *s, double timeout, SFun setup, SFun teardown, const TTest *const *tests)
{
        for (; *tests != NULL; tests++) {
                const TTest *one[] = {*tests, NULL};
                TCase *tc = tshm_test_case(s, (*tests)->name, timeout, one);

                if (setup != NULL || teardown != NULL) {
                        tcase_add_checked_fixture(tc, setup, teardown);
                }
        }
}

/*
 * One TCase named for @test, with @timeout as above, running it once for
 * each _i in [@start, @end) (check's loop test). Returns the TCase.
 */
static inline TCase *
tshm_test_loop(Suite *s, double timeout, const TTest *test, int start, int end)
{
        const TTest *none[] = {NULL};
        TCase *tc = tshm_test_case(s, test->name, timeout, none);

        tcase_add_loop_test(tc, test, start, end);
        return tc;
}

/*
 * Runs every test of @s (check's default fork mode and output, CK_NORMAL),
 * frees it and returns main()'s exit status: EXIT_SUCCESS when no test failed.
 */
/*
 * In a child of a test: point check's message file at /dev/null. The file
 * (an unlinked /tmp/check_XXXXXX, or under $TEMP) is shared with the test
 * and check's runner, offset and all: every ck_assert records its place in
 * it, even one that passes, so a child calling check (a helper with an
 * assertion in it, say) writes beside its parent, and one killed in the
 * middle of a record leaves the runner reading garbage ("Bad message type
 * arg ..."). Children must not call check; this makes one that does
 * harmless: its records go nowhere, and an assertion that fails still ends
 * it with a non-zero status, which the parent sees.
 */
static inline void
tshm_test_detach_check(void)
{
        char link[PATH_MAX];
        struct dirent *e;
        DIR *d = opendir("/proc/self/fd");
        int null;

        if (d == NULL) {
                _exit(125);
        }
        null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null < 0) {
                _exit(125);
        }
        while ((e = readdir(d)) != NULL) {
                const char *base;
                ssize_t n;

                n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
                if (n <= 0) {
                        continue;
                }
                link[n] = '\0';
                base = strrchr(link, '/');
                base = base != NULL ? base + 1 : link;
                if (strncmp(base, "check_", 6) == 0 && strstr(base, " (deleted)") != NULL &&
                    dup2(null, atoi(e->d_name)) < 0) {
                        _exit(125);
                }
        }
        closedir(d);
        close(null);
}

/* fork() for a test: aborts the test when it fails (use it instead of
 * ck_assert on fork()'s result), and detaches the child from check's
 * message file (above). */
static inline pid_t
tshm_test_fork(void)
{
        pid_t pid = fork();

        if (pid < 0) {
                ck_abort_msg("fork: %s", strerror(errno));
        }
        if (pid == 0) {
                tshm_test_detach_check();
        }
        return pid;
}

static inline int
tshm_test_run(Suite *s)
{
        SRunner *sr = srunner_create(s);
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
