/*
 * test_cmdline.c - what a newcomer meets on tshmd's command line (issue 11,
 * section 4): a flag given on the command line wins over the --config file,
 * at start wherever --config stands and after every SIGHUP; a bad value
 * names what is allowed; a user without XDG_RUNTIME_DIR and without
 * --socket is told what to do, with the usage/config exit status 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

static void
write_file(const char *path, const char *text)
{
        FILE *fp = fopen(path, "w");

        ck_assert_ptr_nonnull(fp);
        ck_assert_int_ge(fputs(text, fp), 0);
        ck_assert_int_eq(fclose(fp), 0);
}

/* How many times @text is in tshmd's log. */
static int
log_count(const struct tshmd_fixture *f, const char *text)
{
        char line[1024];
        FILE *fp = fopen(f->log, "r");
        int n = 0;

        while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
                n += strstr(line, text) != NULL;
        }
        if (fp != NULL) {
                fclose(fp);
        }
        return n;
}

/* Wait up to 5 s for the log to hold @text @n times. */
static bool
log_wait(const struct tshmd_fixture *f, const char *text, int n)
{
        struct timespec ts = {0, 10 * 1000L * 1000};
        int i;

        for (i = 0; i < 500; i++) {
                if (log_count(f, text) >= n) {
                        return true;
                }
                nanosleep(&ts, NULL);
        }
        return false;
}

/* Create @n segments "s0".."s(n-1)"; the status of the last create. */
static int
create_n(tshm_client *c, int n)
{
        char name[16];
        tshm_seg *s;
        int i, rv = 0;

        for (i = 0; i < n && rv == 0; i++) {
                snprintf(name, sizeof(name), "s%d", i);
                rv = tshm_create(c, name, TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &s);
                if (rv == 0) {
                        tshm_close(s);
                }
        }
        return rv;
}

static void
unlink_n(tshm_client *c, int n)
{
        char name[16];
        int i;

        for (i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "s%d", i);
                (void)tshm_unlink(c, name);
        }
}

START_TEST(test_cmdline_flags_win_over_the_file_and_on_reload)
{
        struct tshmd_fixture f;
        char path[128];
        /* The flag stands before --config: the file must not undo it. */
        const char *extra[] = {"--max-segments", "3", "--config", path, NULL};
        tshm_client *c;
        tshm_seg *a, *b;

        snprintf(path, sizeof(path), "/tmp/tshm-test-cmdline-%d.conf", (int)getpid());
        write_file(path, "max-segments = 1\nmax-opens = 2\n");
        fixture_start(&f, extra);
        c = fixture_connect(&f);
        ck_assert_int_eq(create_n(c, 3), 0);
        unlink_n(c, 3);
        ck_assert_int_eq(create_n(c, 4), TSHM_ELIMIT);
        unlink_n(c, 4);

        /* SIGHUP: the file's max-segments is still overruled by the flag,
         * while a setting only the file names does apply. */
        write_file(path, "max-segments = 1\nmax-opens = 1\nlog-level = info\n");
        ck_assert_int_eq(kill(f.pid, SIGHUP), 0);
        ck_assert_msg(log_wait(&f, "SIGHUP: reloaded", 1), "no reload logged");
        ck_assert_msg(log_wait(&f, "max-segments 3,", 1), "SIGHUP let the file override a flag");
        ck_assert_msg(log_wait(&f, "max-opens 1", 1), "SIGHUP did not apply the file");
        tshm_disconnect(c);
        c = fixture_connect(&f);
        ck_assert_int_eq(create_n(c, 3), 0);
        unlink_n(c, 3);
        tshm_disconnect(c);

        /* A line taken out of the file gives the setting back to its
         * default on the next SIGHUP; it does not keep the last file's. */
        write_file(path, "max-segments = 1\n");
        ck_assert_int_eq(kill(f.pid, SIGHUP), 0);
        ck_assert_msg(log_wait(&f, "SIGHUP: reloaded", 2), "no second reload logged");
        ck_assert_msg(log_wait(&f, "max-opens 65536", 1),
                      "a setting taken out of the file kept the file's old value");
        c = fixture_connect(&f);
        /* Two handles open at once: max-opens is not 1 any more. */
        ck_assert_int_eq(tshm_create(c, "s0", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &a), 0);
        ck_assert_int_eq(tshm_create(c, "s1", TSHM_DTYPE_UINT8, 0, NULL, 0, 0, &b), 0);
        tshm_close(a);
        tshm_close(b);
        unlink_n(c, 2);
        tshm_disconnect(c);
        fixture_teardown(&f);
        unlink(path);
}
END_TEST

START_TEST(test_cmdline_bad_values_name_the_allowed_ones)
{
        struct tshmd_fixture f;
        const char *level[] = {"--log-level", "loud", NULL};
        const char *clients[] = {"--max-clients", "lots", NULL};
        char path[128], conf[160];
        const char *fromfile[] = {"--config", conf, NULL};
        const char *err;

        fixture_prepare(&f);
        err = fixture_start_fails(&f, NULL, level);
        ck_assert_msg(strstr(err, "'loud'") != NULL &&
                          strstr(err, "error, warning, notice, info, debug") != NULL,
                      "a bad --log-level does not list the levels: %s", err);
        err = fixture_start_fails(&f, NULL, clients);
        ck_assert_msg(strstr(err, "--max-clients") != NULL && strstr(err, "a number") != NULL,
                      "a bad --max-clients does not say what is expected: %s", err);
        /* The file's errors say the same. */
        snprintf(path, sizeof(path), "%s/bad.conf", f.dir);
        snprintf(conf, sizeof(conf), "%s", path);
        write_file(path, "log-level = chatty\n");
        err = fixture_start_fails(&f, NULL, fromfile);
        ck_assert_msg(strstr(err, "'chatty'") != NULL &&
                          strstr(err, "error, warning, notice, info, debug") != NULL,
                      "a bad log-level in the file does not list the levels: %s", err);
        /* Peers (docs/remote.md): a port out of range and an unknown user
         * are refused at start with the form that is expected. */
        {
                const char *port[] = {"--peer-listen", "10.0.0.1:70000", NULL};
                const char *user[] = {"--peer-uid", "no-such-user-tshm", NULL};

                err = fixture_start_fails(&f, NULL, port);
                ck_assert_msg(strstr(err, "'10.0.0.1:70000'") != NULL &&
                                  strstr(err, "--peer-listen") != NULL &&
                                  strstr(err, "PORT 1 to 65535") != NULL,
                              "a bad --peer-listen does not say what is expected: %s", err);
                err = fixture_start_fails(&f, NULL, user);
                ck_assert_msg(strstr(err, "--peer-uid") != NULL &&
                                  strstr(err, "an existing user's name, or a uid") != NULL,
                              "a bad --peer-uid does not say what is expected: %s", err);
                write_file(path, "peer-listen = [::1]\n");
                err = fixture_start_fails(&f, NULL, fromfile);
                ck_assert_msg(strstr(err, "'[::1]'") != NULL && strstr(err, "peer-listen") != NULL,
                              "a bad peer-listen in the file is not refused: %s", err);
        }
        fixture_teardown(&f);
}
END_TEST

/* tshmd as a user other than root (nobody, when the test runs as root),
 * with no XDG_RUNTIME_DIR and no --socket: it must say what to do and exit
 * 2, not fail on /run/tshm's permissions. */
START_TEST(test_cmdline_no_runtime_dir_says_what_to_do)
{
        struct tshmd_fixture f;
        char state[128], out[4096], prefix[48];
        int p[2], status = 0, i;
        ssize_t n, got = 0;
        uid_t uid = geteuid() == 0 ? 65534 : geteuid();
        pid_t pid;

        fixture_prepare(&f);
        snprintf(state, sizeof(state), "%s/userstate", f.dir);
        snprintf(prefix, sizeof(prefix), "%s-u", f.prefix);
        ck_assert_int_eq(mkdir(state, 0700), 0);
        ck_assert_int_eq(chown(state, uid, (gid_t)-1), 0);
        ck_assert_int_eq(pipe(p), 0);
        pid = tshm_test_fork();
        if (pid == 0) {
                (void)dup2(p[1], STDERR_FILENO);
                if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0)) {
                        _exit(126);
                }
                (void)clearenv();
                (void)setenv("PATH", "/usr/bin:/bin", 1);
                (void)setenv("HOME", f.dir, 1);
                execl(TSHMD_PATH, TSHMD_PATH, "--foreground", "--state-dir", state, "--shm-prefix",
                      prefix, (char *)NULL);
                _exit(127);
        }
        (void)close(p[1]);
        for (;;) {
                struct pollfd pf = {.fd = p[0], .events = POLLIN};
                ck_assert_msg(poll(&pf, 1, 10000) == 1, "tshmd neither exited nor wrote");
                n = read(p[0], out + got, sizeof(out) - 1 - (size_t)got);
                if (n <= 0) {
                        break;
                }
                got += n;
        }
        out[got] = '\0';
        (void)close(p[0]);
        for (i = 0; i < 100 && waitpid(pid, &status, WNOHANG) != pid; i++) {
                nanosleep(&(struct timespec){0, 100 * 1000L * 1000}, NULL);
        }
        if (i == 100) {
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, &status, 0);
                ck_abort_msg("tshmd without a runtime directory still runs: %s", out);
        }
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2,
                      "exit status %#x, not 2; stderr: %s", status, out);
        ck_assert_msg(strstr(out, "XDG_RUNTIME_DIR") != NULL && strstr(out, "--socket") != NULL &&
                          strstr(out, "systemctl") != NULL,
                      "no hint of what to do: %s", out);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("cmdline");

        tshm_test_case(s, "cmdline", 60,
                       TSHM_TESTS(test_cmdline_flags_win_over_the_file_and_on_reload,
                                  test_cmdline_bad_values_name_the_allowed_ones,
                                  test_cmdline_no_runtime_dir_says_what_to_do));
        return tshm_test_run(s);
}
