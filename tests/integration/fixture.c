/*
 * fixture.c - see fixture.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "fixture.h"

#ifndef TSHMD_PATH
#error "TSHMD_PATH must name the tshmd binary"
#endif

static bool
under_valgrind(void)
{
        const char *v = getenv("TSHM_TEST_VALGRIND");

        return v != NULL && strcmp(v, "1") == 0;
}

/* Bind a datagram socket at @path for NOTIFY_SOCKET. */
static int
fixture_notify_socket(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int nfd;

        (void)unlink(path);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(nfd, 0);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        ck_assert_int_eq(bind(nfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return nfd;
}

/* tshmd's command line for @f, on @socket, with @extra; returns argc. */
static int
fixture_argv(const struct tshmd_fixture *f, const char *socket, const char *const *extra,
             const char **argv, int max)
{
        int argc = 0;

        /* TSHM_TEST_VALGRIND=1 runs the daemon under memcheck: any error or
         * definite leak makes it exit 97, which fixture_stop() refuses. */
        if (under_valgrind()) {
                argv[argc++] = "valgrind";
                argv[argc++] = "--quiet";
                argv[argc++] = "--error-exitcode=97";
                argv[argc++] = "--leak-check=full";
                argv[argc++] = "--errors-for-leak-kinds=definite";
                argv[argc++] = "--child-silent-after-fork=yes";
        }
        argv[argc++] = TSHMD_PATH;
        argv[argc++] = "--foreground";
        argv[argc++] = "--socket";
        argv[argc++] = socket;
        argv[argc++] = "--shm-prefix";
        argv[argc++] = f->prefix;
        argv[argc++] = "--socket-mode";
        argv[argc++] = "0666";
        /* A state directory of its own: the seal key and the lock of the
         * prefix, kept across fixture_restart(). */
        argv[argc++] = "--state-dir";
        argv[argc++] = f->state;
        while (extra != NULL && *extra != NULL && argc < max - 1) {
                argv[argc++] = *extra++;
        }
        argv[argc] = NULL;
        return argc;
}

/* In a child about to exec tshmd: close every descriptor but stdin, stdout
 * and stderr. The test process holds check's message file (shared with the
 * check runner, offset and all), client sockets and segments; a daemon that
 * inherited them would keep them open for its lifetime, and anything it
 * wrote to one would land in the test's own channels. */
static void
fixture_close_inherited(void)
{
        (void)close_range(3, ~0u, 0);
}

static void
fixture_spawn(struct tshmd_fixture *f, const char *const *extra)
{
        char notify[128], buf[256];
        const char *argv[40];
        struct pollfd p;
        int nfd, logfd;
        ssize_t n;

        snprintf(notify, sizeof(notify), "%s/notify", f->dir);
        nfd = fixture_notify_socket(notify);
        (void)fixture_argv(f, f->socket, extra, argv, 40);
        f->pid = tshm_test_fork();
        if (f->pid == 0) {
                logfd = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (logfd >= 0) {
                        (void)dup2(logfd, STDERR_FILENO);
                }
                fixture_close_inherited();
                if (f->nofile > 0) {
                        struct rlimit rl = {f->nofile, f->nofile};
                        (void)setrlimit(RLIMIT_NOFILE, &rl);
                }
                (void)setenv("NOTIFY_SOCKET", notify, 1);
                (void)unsetenv("JOURNAL_STREAM");
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        p.fd = nfd;
        p.events = POLLIN;
        for (;;) {
                ck_assert_msg(poll(&p, 1, under_valgrind() ? 60000 : 10000) == 1,
                              "tshmd did not report READY=1 in time");
                n = recv(nfd, buf, sizeof(buf) - 1, 0);
                ck_assert_int_gt(n, 0);
                buf[n] = '\0';
                if (strstr(buf, "READY=1") != NULL) {
                        break;
                }
        }
        (void)close(nfd);
}

void
fixture_start(struct tshmd_fixture *f, const char *const *extra)
{
        fixture_start_nofile(f, extra, 0);
}

void
fixture_start_nofile(struct tshmd_fixture *f, const char *const *extra, unsigned nofile)
{
        fixture_prepare(f);
        f->nofile = nofile;
        fixture_spawn(f, extra);
}

void
fixture_prepare(struct tshmd_fixture *f)
{
        static int serial;

        memset(f, 0, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/tshm-test-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(f->dir));
        (void)chmod(f->dir, 0755);
        snprintf(f->socket, sizeof(f->socket), "%s/tshm.sock", f->dir);
        snprintf(f->log, sizeof(f->log), "%s/tshmd.log", f->dir);
        snprintf(f->state, sizeof(f->state), "%s/state", f->dir);
        /* The directory's random tail in the prefix too: a pid comes round
         * again, and an object left in /dev/shm by a run that was killed
         * must not collide with this one's. */
        snprintf(f->prefix, sizeof(f->prefix), "tshmtest%dn%d%s", (int)getpid(), serial++,
                 f->dir + strlen("/tmp/tshm-test-"));
}

void
fixture_restart(struct tshmd_fixture *f, const char *const *extra)
{
        fixture_spawn(f, extra);
}

const char *
fixture_start_fails(const struct tshmd_fixture *f, const char *socket, const char *const *extra)
{
        static char out[4096];
        char notify[128], log[160], buf[256];
        const char *argv[40];
        struct pollfd p;
        int nfd, fd, status = 0, i;
        ssize_t n;
        pid_t pid;

        snprintf(notify, sizeof(notify), "%s/notify2", f->dir);
        snprintf(log, sizeof(log), "%s/tshmd2.log", f->dir);
        (void)unlink(log);
        nfd = fixture_notify_socket(notify);
        (void)fixture_argv(f, socket != NULL ? socket : f->socket, extra, argv, 40);
        pid = tshm_test_fork();
        if (pid == 0) {
                fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (fd >= 0) {
                        (void)dup2(fd, STDERR_FILENO);
                }
                fixture_close_inherited();
                (void)setenv("NOTIFY_SOCKET", notify, 1);
                (void)unsetenv("JOURNAL_STREAM");
                execvp(argv[0], (char *const *)argv);
                _exit(127);
        }
        /* It must end by itself, and never say it is ready. */
        p.fd = nfd;
        p.events = POLLIN;
        for (i = 0; i < (under_valgrind() ? 600 : 100); i++) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        break;
                }
                if (poll(&p, 1, 100) == 1 && (n = recv(nfd, buf, sizeof(buf) - 1, 0)) > 0) {
                        buf[n] = '\0';
                        if (strstr(buf, "READY=1") != NULL) {
                                (void)kill(pid, SIGKILL);
                                (void)waitpid(pid, &status, 0);
                                ck_abort_msg("a tshmd that should have refused to start is ready");
                        }
                }
        }
        if (i == (under_valgrind() ? 600 : 100)) {
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, &status, 0);
                ck_abort_msg("a tshmd that should have refused to start still runs after 10 s");
        }
        (void)close(nfd);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
                      "tshmd should have exited non-zero (status %#x)", status);
        out[0] = '\0';
        fd = open(log, O_RDONLY);
        if (fd >= 0) {
                n = read(fd, out, sizeof(out) - 1);
                out[n > 0 ? n : 0] = '\0';
                (void)close(fd);
        }
        return out;
}

void
fixture_stop(struct tshmd_fixture *f)
{
        char line[512];
        FILE *log;
        int status = 0;

        if (f->pid <= 0) {
                return;
        }
        ck_assert_int_eq(kill(f->pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
        f->pid = 0;
        log = fopen(f->log, "r");
        while (log != NULL && fgets(line, sizeof(line), log) != NULL) {
                ck_assert_msg(strstr(line, "Sanitizer") == NULL &&
                                  strstr(line, "runtime error") == NULL,
                              "sanitizer report in tshmd's log: %s", line);
        }
        if (log != NULL) {
                fclose(log);
        }
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "tshmd did not exit 0 on SIGTERM (status %#x)", status);
}

void
fixture_teardown(struct tshmd_fixture *f)
{
        char path[300];
        struct dirent *de;
        size_t plen = strlen(f->prefix);
        DIR *d;

        fixture_stop(f);
        d = opendir("/dev/shm");
        while (d != NULL && (de = readdir(d)) != NULL) {
                if (strncmp(de->d_name, f->prefix, plen) == 0 && de->d_name[plen] == '.') {
                        snprintf(path, sizeof(path), "/%s", de->d_name);
                        (void)shm_unlink(path);
                }
        }
        if (d != NULL) {
                closedir(d);
        }
        snprintf(path, sizeof(path), "rm -rf '%s'", f->dir);
        (void)!system(path);
}

tshm_client *
fixture_connect(const struct tshmd_fixture *f)
{
        tshm_client *c = NULL;
        int rv = tshm_connect(f->socket, &c);

        ck_assert_msg(rv == 0, "connect: %s", tshm_strerror(rv));
        return c;
}

int
fixture_count_objects(const struct tshmd_fixture *f)
{
        size_t plen = strlen(f->prefix);
        struct dirent *de;
        int n = 0;
        DIR *d = opendir("/dev/shm");

        /* Segments' objects, not the daemon's own ("<prefix>..key"). */
        while (d != NULL && (de = readdir(d)) != NULL) {
                if (strncmp(de->d_name, f->prefix, plen) == 0 && de->d_name[plen] == '.' &&
                    de->d_name[plen + 1] != '.') {
                        n++;
                }
        }
        if (d != NULL) {
                closedir(d);
        }
        return n;
}

bool
fixture_wait_opens(tshm_client *c, const char *name, uint32_t opens)
{
        struct timespec ts = {0, 10 * 1000L * 1000};
        tshm_info info;
        int i;

        for (i = 0; i < 500; i++) {
                if (tshm_stat(c, name, &info) == 0 && info.opens == opens) {
                        return true;
                }
                nanosleep(&ts, NULL);
        }
        return false;
}

/* The smaps field @key of the mapping that holds @addr, in bytes. */
uint64_t
fixture_smaps_bytes(const void *addr, const char *key)
{
        uintptr_t a = (uintptr_t)addr, lo, hi;
        size_t klen = strlen(key);
        char line[512];
        bool in = false;
        uint64_t kb = UINT64_MAX;
        FILE *fp = fopen("/proc/self/smaps", "r");

        ck_assert_ptr_nonnull(fp);
        while (fgets(line, sizeof(line), fp) != NULL) {
                if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
                        in = a >= lo && a < hi;
                } else if (in && strncmp(line, key, klen) == 0 && line[klen] == ':' &&
                           sscanf(line + klen + 1, " %" SCNu64 " kB", &kb) == 1) {
                        break;
                }
        }
        fclose(fp);
        ck_assert_msg(kb != UINT64_MAX, "no %s in the smaps entry of %p", key, addr);
        return kb * 1024u;
}
