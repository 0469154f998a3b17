/*
 * daemon.c - what tshm-bench owns: a temporary directory, its own tshmd, the
 * child processes it forks and the shm objects under its prefix. Cleanup
 * runs at exit and from signal handlers, so it uses async-signal-safe calls
 * only (no stdio, no opendir, no malloc).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_CHILDREN 64
#define READY_TIMEOUT_MS 10000

static struct bench_env *cleanup_env;
static pid_t cleanup_owner;
static volatile sig_atomic_t cleanup_done;
static volatile pid_t cleanup_children[MAX_CHILDREN];
static const int cleanup_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* Append @s to @dst (capacity @cap, NUL-terminated); async-signal-safe. */
static void
path_cat(char *dst, size_t cap, const char *s)
{
        size_t n = strlen(dst);

        while (*s != '\0' && n + 1 < cap) {
                dst[n++] = *s++;
        }
        dst[n] = '\0';
}

/* Count the daemon's objects <shm dir>/<prefix>.<name>, and with @remove
 * unlink them and the floors' objects (<prefix>.~...) too. getdents64 rather
 * than opendir: this runs in signal handlers. */
static int
shm_scan(const struct bench_env *env, bool remove)
{
        const char *prefix = env->prefix;
        char buf[8192], path[320 + sizeof(env->shm_dir)];
        size_t plen = strlen(prefix), off;
        int fd, count = 0;
        ssize_t n;

        fd = open(env->shm_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                return 0;
        }
        while ((n = getdents64(fd, buf, sizeof(buf))) > 0) {
                for (off = 0; off < (size_t)n;) {
                        const char *name = buf + off + offsetof(struct dirent64, d_name);
                        unsigned short reclen;

                        memcpy(&reclen, buf + off + offsetof(struct dirent64, d_reclen),
                               sizeof(reclen));
                        off += reclen;
                        if (strncmp(name, prefix, plen) != 0 || name[plen] != '.') {
                                continue;
                        }
                        /* Segments only: "<prefix>..key" is the daemon's own. */
                        if (name[plen + 1] != '~' && name[plen + 1] != '.') {
                                count++;
                        }
                        if (remove) {
                                path[0] = '\0';
                                path_cat(path, sizeof(path), env->shm_dir);
                                path_cat(path, sizeof(path), name);
                                (void)unlink(path);
                        }
                }
        }
        (void)close(fd);
        return count;
}

/* SIGTERM, up to 5 s for a clean exit, then SIGKILL. Returns the status. */
static int
daemon_kill_wait(pid_t pid)
{
        struct timespec ts = {0, 10000000L}; /* 10 ms */
        int i, status = 0;
        pid_t r;

        (void)kill(pid, SIGTERM);
        for (i = 0; i < 500; i++) {
                r = waitpid(pid, &status, WNOHANG);
                if (r == pid || (r < 0 && errno != EINTR)) {
                        return r == pid ? status : -1;
                }
                (void)nanosleep(&ts, NULL);
        }
        (void)kill(pid, SIGKILL);
        while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
        }
        return r == pid ? status : -1;
}

static void
cleanup_run(void)
{
        struct bench_env *env = cleanup_env;
        size_t i;

        if (env == NULL || cleanup_done || getpid() != cleanup_owner) {
                return;
        }
        cleanup_done = 1;
        for (i = 0; i < MAX_CHILDREN; i++) {
                pid_t pid = cleanup_children[i];
                if (pid > 0) {
                        (void)kill(pid, SIGKILL);
                        (void)waitpid(pid, NULL, 0);
                        cleanup_children[i] = 0;
                }
        }
        if (env->daemon > 0) {
                (void)daemon_kill_wait(env->daemon);
                env->daemon = 0;
        }
        (void)shm_scan(env, true);
        (void)unlink(env->socket);
        (void)unlink(env->notify);
        (void)unlink(env->log);
        (void)unlink(env->clierr);
        (void)unlink(env->echo);
        (void)unlink(env->state_files[0]);
        (void)unlink(env->state_files[1]);
        (void)rmdir(env->state);
        (void)rmdir(env->dir);
}

static void
cleanup_at_exit(void)
{
        sigset_t all;

        /* A signal now would cut this cleanup short: hold them. */
        (void)sigfillset(&all);
        (void)sigprocmask(SIG_BLOCK, &all, NULL);
        cleanup_run();
}

static void
cleanup_on_signal(int sig)
{
        cleanup_run();
        (void)signal(sig, SIG_DFL);
        (void)raise(sig);
}

int
bench_env_init(struct bench_env *env, const char *shm_dir)
{
        struct sigaction sa;
        size_t i;

        memset(env, 0, sizeof(*env));
        env->shm_dir_given = shm_dir != NULL;
        snprintf(env->shm_dir, sizeof(env->shm_dir), "%s/", shm_dir != NULL ? shm_dir : "/dev/shm");
        snprintf(env->dir, sizeof(env->dir), "/tmp/tshm-bench-XXXXXX");
        if (mkdtemp(env->dir) == NULL) {
                fprintf(stderr, "tshm-bench: mkdtemp: %s\n", strerror(errno));
                return -1;
        }
        snprintf(env->socket, sizeof(env->socket), "%s/s.sock", env->dir);
        snprintf(env->notify, sizeof(env->notify), "%s/notify", env->dir);
        snprintf(env->log, sizeof(env->log), "%s/tshmd.log", env->dir);
        snprintf(env->clierr, sizeof(env->clierr), "%s/cli.err", env->dir);
        snprintf(env->echo, sizeof(env->echo), "%s/echo.sock", env->dir);
        snprintf(env->prefix, sizeof(env->prefix), "bench%d", (int)getpid());
        /* Paths made now: cleanup runs in a signal handler too. */
        snprintf(env->state, sizeof(env->state), "%s/state", env->dir);
        snprintf(env->state_files[0], sizeof(env->state_files[0]), "%s/%s.key", env->state,
                 env->prefix);
        snprintf(env->state_files[1], sizeof(env->state_files[1]), "%s/%s.lock", env->state,
                 env->prefix);
        cleanup_env = env;
        cleanup_owner = getpid();
        if (atexit(cleanup_at_exit) != 0) {
                fprintf(stderr, "tshm-bench: atexit failed\n");
                return -1;
        }
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = cleanup_on_signal;
        (void)sigfillset(&sa.sa_mask);
        for (i = 0; i < sizeof(cleanup_signals) / sizeof(cleanup_signals[0]); i++) {
                (void)sigaction(cleanup_signals[i], &sa, NULL);
        }
        /* A dead peer must be an EPIPE here, not the end of the benchmark. */
        (void)signal(SIGPIPE, SIG_IGN);
        return 0;
}

static pid_t
fork_child(bool track)
{
        sigset_t all, old;
        size_t i;
        pid_t pid;

        /* No signal between fork and registering: cleanup must know the
         * child to kill it. */
        (void)sigfillset(&all);
        (void)sigprocmask(SIG_BLOCK, &all, &old);
        pid = fork();
        if (pid == 0) {
                for (i = 0; i < sizeof(cleanup_signals) / sizeof(cleanup_signals[0]); i++) {
                        (void)signal(cleanup_signals[i], SIG_DFL);
                }
                (void)signal(SIGPIPE, SIG_DFL);
        } else if (pid > 0 && track) {
                for (i = 0; i < MAX_CHILDREN; i++) {
                        if (cleanup_children[i] == 0) {
                                cleanup_children[i] = pid;
                                break;
                        }
                }
        }
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        return pid;
}

pid_t
bench_fork(void)
{
        return fork_child(true);
}

int
bench_reap(pid_t pid)
{
        int status = 0;
        size_t i;
        pid_t r;

        while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
        }
        for (i = 0; i < MAX_CHILDREN; i++) {
                if (cleanup_children[i] == pid) {
                        cleanup_children[i] = 0;
                }
        }
        return r == pid ? status : -1;
}

static void
daemon_exec(const struct bench_env *env, const char *path)
{
        const char *argv[] = {
            path,        "--foreground", "--socket", env->socket,   "--shm-prefix",
            env->prefix, "--state-dir",  env->state, "--log-level", "warning",
            NULL,        NULL,           NULL};
        int fd;

        if (env->shm_dir_given) {
                argv[10] = "--shm-dir";
                argv[11] = env->shm_dir;
        }

        fd = open(env->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
                (void)dup2(fd, STDERR_FILENO);
        }
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void)dup2(fd, STDOUT_FILENO);
        }
        (void)setenv("NOTIFY_SOCKET", env->notify, 1);
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("JOURNAL_STREAM");
        execv(path, (char *const *)argv);
        fprintf(stderr, "tshm-bench: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
}

/* Wait for READY=1 on @nfd, giving up when the daemon dies or after 10 s. */
static int
daemon_wait_ready(struct bench_env *env, int nfd)
{
        struct pollfd p = {.fd = nfd, .events = POLLIN};
        uint64_t deadline = bench_now_ns() + (uint64_t)READY_TIMEOUT_MS * 1000000u;
        char buf[256];
        int status;
        ssize_t n;

        while (bench_now_ns() < deadline) {
                if (waitpid(env->daemon, &status, WNOHANG) == env->daemon) {
                        env->daemon = 0;
                        fprintf(stderr, "tshm-bench: tshmd exited before it was ready (%#x)\n",
                                status);
                        return -1;
                }
                if (poll(&p, 1, 100) != 1) {
                        continue;
                }
                n = recv(nfd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
                if (n <= 0) {
                        continue;
                }
                buf[n] = '\0';
                if (strstr(buf, "READY=1") != NULL) {
                        return 0;
                }
        }
        fprintf(stderr, "tshm-bench: tshmd did not report READY=1 in %d s\n",
                READY_TIMEOUT_MS / 1000);
        return -1;
}

int
bench_daemon_start(struct bench_env *env, const char *tshmd_path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        pid_t pid;
        int nfd, rv;

        if (access(tshmd_path, X_OK) != 0) {
                fprintf(stderr, "tshm-bench: %s: %s (use --tshmd PATH)\n", tshmd_path,
                        strerror(errno));
                return -1;
        }
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (nfd < 0 || strlen(env->notify) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "tshm-bench: notify socket: %s\n", strerror(errno));
                goto fail;
        }
        memcpy(sa.sun_path, env->notify, strlen(env->notify) + 1);
        if (bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                fprintf(stderr, "tshm-bench: bind %s: %s\n", env->notify, strerror(errno));
                goto fail;
        }
        pid = fork_child(false);
        if (pid < 0) {
                fprintf(stderr, "tshm-bench: fork: %s\n", strerror(errno));
                goto fail;
        }
        if (pid == 0) {
                daemon_exec(env, tshmd_path);
        }
        env->daemon = pid;
        rv = daemon_wait_ready(env, nfd);
        (void)close(nfd);
        if (rv < 0) {
                bench_daemon_show_log(env);
        }
        return rv;
fail:
        if (nfd >= 0) {
                (void)close(nfd);
        }
        return -1;
}

int
bench_daemon_stop(struct bench_env *env)
{
        int status;

        if (env->daemon <= 0) {
                return -1;
        }
        status = daemon_kill_wait(env->daemon);
        env->daemon = 0;
        return status;
}

void
bench_daemon_show_log(const struct bench_env *env)
{
        char line[512];
        FILE *f = fopen(env->log, "r");
        int n = 0;

        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
                if (n++ < 40) {
                        fprintf(stderr, "  tshmd: %s", line);
                }
        }
        if (n > 40) {
                fprintf(stderr, "  tshmd: ... %d more lines in its log\n", n - 40);
        }
        if (f != NULL) {
                fclose(f);
        }
}

long
bench_proc_kib(pid_t pid, const char *field)
{
        char path[64], line[256];
        size_t flen = strlen(field);
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "r");
        if (f == NULL) {
                return -1;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
                if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
                        kib = strtol(line + flen + 1, NULL, 10);
                        break;
                }
        }
        fclose(f);
        return kib;
}

int
bench_count_objects(const struct bench_env *env)
{
        return shm_scan(env, false);
}
