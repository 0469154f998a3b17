/*
 * load_daemon.c - tshm-load's side of the daemon: start a private tshmd and
 * stop it, connect the monitor, and watch the daemon's counters, resident
 * set and descriptors before, during and after the load.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "load.h"

/* Wait (10 s at most) for READY=1 on the notify socket @nfd. */
static int
daemon_wait_ready(int nfd, const char *tshmd, const struct load_daemon *d)
{
        struct pollfd p = {.fd = nfd, .events = POLLIN};
        char buf[256];
        ssize_t n;

        for (;;) {
                if (poll(&p, 1, 10000) != 1) {
                        fprintf(stderr, "tshm-load: %s did not report READY=1 in 10 s (log: %s)\n",
                                tshmd, d->log);
                        return -1;
                }
                n = recv(nfd, buf, sizeof(buf) - 1, 0);
                if (n > 0) {
                        buf[n] = '\0';
                        if (strstr(buf, "READY=1") != NULL) {
                                return 0;
                        }
                }
        }
}

int
load_daemon_start(struct load_daemon *d, const char *tshmd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char notify[128];
        int nfd, logfd, rv;

        snprintf(d->dir, sizeof(d->dir), "/tmp/tshm-load-XXXXXX");
        if (mkdtemp(d->dir) == NULL) {
                perror("tshm-load: mkdtemp");
                return -1;
        }
        snprintf(d->socket, sizeof(d->socket), "%s/tshm.sock", d->dir);
        snprintf(d->log, sizeof(d->log), "%s/tshmd.log", d->dir);
        snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
        snprintf(d->prefix, sizeof(d->prefix), "tshmload%d", (int)getpid());
        snprintf(notify, sizeof(notify), "%s/notify", d->dir);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        memcpy(sa.sun_path, notify, strlen(notify) + 1);
        if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("tshm-load: notify socket");
                return -1;
        }
        d->pid = fork();
        if (d->pid < 0) {
                perror("tshm-load: fork");
                return -1;
        }
        if (d->pid == 0) {
                logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (logfd >= 0) {
                        (void)dup2(logfd, STDERR_FILENO);
                }
                (void)setenv("NOTIFY_SOCKET", notify, 1);
                (void)unsetenv("LISTEN_FDS");
                execl(tshmd, tshmd, "--foreground", "--socket", d->socket, "--shm-prefix",
                      d->prefix, "--state-dir", d->state, (char *)NULL);
                _exit(127);
        }
        rv = daemon_wait_ready(nfd, tshmd, d);
        (void)close(nfd);
        return rv;
}

/* Remove the daemon's objects left in /dev/shm. */
static void
daemon_remove_shm(const struct load_daemon *d)
{
        char path[300];
        struct dirent *de;
        size_t plen = strlen(d->prefix);
        DIR *dir;

        dir = opendir("/dev/shm");
        while (dir != NULL && (de = readdir(dir)) != NULL) {
                if (strncmp(de->d_name, d->prefix, plen) == 0 && de->d_name[plen] == '.') {
                        snprintf(path, sizeof(path), "/%s", de->d_name);
                        (void)shm_unlink(path);
                }
        }
        if (dir != NULL) {
                (void)closedir(dir);
        }
}

/* Remove the daemon's directory: its log, sockets and state. */
static void
daemon_remove_dir(const struct load_daemon *d)
{
        char path[300];

        snprintf(path, sizeof(path), "%s/tshmd.log", d->dir);
        (void)unlink(path);
        snprintf(path, sizeof(path), "%s/notify", d->dir);
        (void)unlink(path);
        snprintf(path, sizeof(path), "%s/tshm.sock", d->dir);
        (void)unlink(path);
        snprintf(path, sizeof(path), "%s/%s.key", d->state, d->prefix);
        (void)unlink(path);
        snprintf(path, sizeof(path), "%s/%s.lock", d->state, d->prefix);
        (void)unlink(path);
        (void)rmdir(d->state);
        (void)rmdir(d->dir);
}

bool
load_daemon_stop(struct load_daemon *d)
{
        int status = 0, i;
        bool ok = false;

        if (d->pid <= 0) {
                return true;
        }
        (void)kill(d->pid, SIGTERM);
        for (i = 0; i < 1000; i++) {
                if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                        ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                        break;
                }
                load_sleep_ms(10);
        }
        if (i == 1000) {
                fprintf(stderr, "tshm-load: tshmd did not exit 10 s after SIGTERM; killing it\n");
                (void)kill(d->pid, SIGKILL);
                (void)waitpid(d->pid, &status, 0);
        } else if (!ok) {
                fprintf(stderr, "tshm-load: tshmd exited with status %#x (log: %s)\n", status,
                        d->log);
        }
        daemon_remove_shm(d);
        if (ok) {
                daemon_remove_dir(d);
        }
        return ok;
}

/* The daemon's resident set (KiB) and open descriptors; -1 if unreadable. */
static long
daemon_rss_kib(pid_t pid)
{
        char path[64], line[256];
        long kib = -1;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if ((fp = fopen(path, "r")) == NULL) {
                return -1;
        }
        while (fgets(line, sizeof(line), fp) != NULL) {
                if (strncmp(line, "VmRSS:", 6) == 0) {
                        kib = strtol(line + 6, NULL, 10);
                        break;
                }
        }
        (void)fclose(fp);
        return kib;
}

static long
daemon_fds(pid_t pid)
{
        char path[64];
        struct dirent *de;
        long n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        if ((d = opendir(path)) == NULL) {
                return -1;
        }
        while ((de = readdir(d)) != NULL) {
                n += de->d_name[0] != '.';
        }
        (void)closedir(d);
        return n;
}

void
load_watch_sample(struct load_watch *w)
{
        long rss, fds;

        if (!w->readable) {
                return;
        }
        rss = daemon_rss_kib(w->pid);
        fds = daemon_fds(w->pid);
        w->rss_peak = rss > w->rss_peak ? rss : w->rss_peak;
        w->fds_peak = fds > w->fds_peak ? fds : w->fds_peak;
}

/* After the run: wait (bounded) until the daemon has seen every client go
 * and closed their descriptors, then take the final readings. */
int
load_watch_settle(tshm_client *mon, struct load_watch *w)
{
        int64_t deadline = load_now_ms() + 30000;
        int rv;

        for (;;) {
                w->monitor_calls++;
                if ((rv = tshm_daemon_stat(mon, &w->st1)) < 0) {
                        fprintf(stderr, "tshm-load: stats: %s\n", tshm_strerror(rv));
                        return -1;
                }
                if (w->st1.clients == w->st0.clients && w->st1.opens == w->st0.opens &&
                    w->st1.segments == w->st0.segments &&
                    (!w->readable || daemon_fds(w->pid) == w->fds0)) {
                        break;
                }
                if (load_now_ms() > deadline) {
                        fprintf(stderr,
                                "tshm-load: the daemon did not settle in 30 s: %llu "
                                "clients, %llu opens, %llu segments\n",
                                (unsigned long long)w->st1.clients,
                                (unsigned long long)w->st1.opens,
                                (unsigned long long)w->st1.segments);
                        break;
                }
                load_sleep_ms(20);
        }
        if (w->readable) {
                w->rss1 = daemon_rss_kib(w->pid);
                w->fds1 = daemon_fds(w->pid);
        }
        return 0;
}

/* Connect the monitor and make the shared segment. */
int
load_monitor_open(const char *socket, tshm_client **ret_mon, tshm_seg **ret_shared)
{
        uint64_t one = 4096;
        int rv;

        if ((rv = tshm_connect(socket, ret_mon)) < 0) {
                fprintf(stderr, "tshm-load: connect %s: %s\n", socket, tshm_strerror(rv));
                return -1;
        }
        rv = tshm_create(*ret_mon, "load-shared", TSHM_DTYPE_UINT8, 1, &one, 0644, 0, ret_shared);
        if (rv < 0) {
                fprintf(stderr, "tshm-load: create load-shared: %s: %s\n", tshm_strerror(rv),
                        tshm_errmsg(*ret_mon));
                return -1;
        }
        return 0;
}

/* Take the baseline: the daemon's counters, RSS and descriptors. */
int
load_watch_baseline(tshm_client *mon, struct load_watch *w)
{
        int rv;

        memset(w, 0, sizeof(*w));
        if ((rv = tshm_daemon_stat(mon, &w->st0)) < 0) {
                fprintf(stderr, "tshm-load: stats: %s\n", tshm_strerror(rv));
                return -1;
        }
        w->pid = (pid_t)w->st0.pid;
        w->rss0 = daemon_rss_kib(w->pid);
        w->fds0 = daemon_fds(w->pid);
        w->readable = w->rss0 >= 0 && w->fds0 >= 0;
        w->rss_peak = w->rss0;
        w->fds_peak = w->fds0;
        return 0;
}
