/*
 * workers.c - client processes that connect first, start together, and
 * report a count. Each message on the result pipe is one struct, smaller
 * than PIPE_BUF, so writes from different children never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

struct workers_msg {
        int64_t count;
        int32_t status; /* 0 or a TSHM_E* code */
        int32_t worker;
};

static void
workers_send(int fd, unsigned idx, int status, uint64_t count)
{
        struct workers_msg m = {.count = (int64_t)count, .status = status, .worker = (int)idx};

        if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m)) {
                _exit(2);
        }
}

static void
workers_child(const char *socket, unsigned idx, unsigned n, bench_work_fn fn, void *arg, int go,
              int res)
{
        tshm_client *c = NULL;
        uint64_t count = 0;
        ssize_t r;
        char b;
        int rv;

        /* No socket: @fn makes its own connection (the echo floor). */
        rv = socket != NULL ? tshm_connect(socket, &c) : 0;
        workers_send(res, idx, rv, 0);
        if (rv < 0) {
                _exit(1);
        }
        /* The parent closes its end to start everyone at once: EOF is go. */
        while ((r = read(go, &b, 1)) < 0 && errno == EINTR) {
        }
        rv = fn(c, idx, n, arg, &count);
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: worker %u: %s (%s)\n", idx, tshm_strerror(rv),
                        c != NULL ? tshm_errmsg(c) : "-");
        }
        workers_send(res, idx, rv, count);
        tshm_disconnect(c);
        _exit(rv < 0 ? 1 : 0);
}

/* Read one message from each of @n workers; returns 0, or the first error. */
static int
workers_collect(int res, unsigned n, uint64_t *ret_total)
{
        struct workers_msg m;
        uint64_t total = 0;
        unsigned i;
        ssize_t r;
        int rv = 0;

        for (i = 0; i < n; i++) {
                while ((r = read(res, &m, sizeof(m))) < 0 && errno == EINTR) {
                }
                if (r != (ssize_t)sizeof(m)) {
                        fprintf(stderr, "tshm-bench: a worker died without reporting\n");
                        return TSHM_EIO;
                }
                if (m.status < 0 && rv == 0) {
                        fprintf(stderr, "tshm-bench: worker %d failed: %s\n", (int)m.worker,
                                tshm_strerror(m.status));
                        rv = m.status;
                }
                total += (uint64_t)m.count;
        }
        *ret_total = total;
        return rv;
}

static int
workers_spawn(const char *socket, unsigned n, bench_work_fn fn, void *arg, const int go[2],
              const int res[2], pid_t *pids)
{
        unsigned i;

        for (i = 0; i < n; i++) {
                pids[i] = bench_fork();
                if (pids[i] < 0) {
                        fprintf(stderr, "tshm-bench: fork: %s\n", strerror(errno));
                        return -1;
                }
                if (pids[i] == 0) {
                        (void)close(go[1]);
                        (void)close(res[0]);
                        workers_child(socket, i, n, fn, arg, go[0], res[1]);
                }
        }
        return 0;
}

int
bench_workers_run(const char *socket, unsigned n, bench_work_fn fn, void *arg, uint64_t *ret_total,
                  double *ret_seconds)
{
        pid_t pids[BENCH_MAX_WORKERS] = {0};
        int go[2] = {-1, -1}, res[2] = {-1, -1}, rv = TSHM_EIO;
        uint64_t t0, total;
        unsigned i;

        if (n == 0 || n > BENCH_MAX_WORKERS || pipe2(go, O_CLOEXEC) < 0 ||
            pipe2(res, O_CLOEXEC) < 0) {
                fprintf(stderr, "tshm-bench: workers: %s\n", strerror(errno));
                goto out;
        }
        if (workers_spawn(socket, n, fn, arg, go, res, pids) < 0) {
                goto out;
        }
        (void)close(res[1]);
        res[1] = -1;
        (void)close(go[0]);
        go[0] = -1;
        if ((rv = workers_collect(res[0], n, &total)) < 0) {
                goto out; /* not all connected: they are killed below */
        }
        t0 = bench_now_ns();
        (void)close(go[1]);
        go[1] = -1;
        rv = workers_collect(res[0], n, &total);
        *ret_seconds = (double)(bench_now_ns() - t0) / 1e9;
        *ret_total = total;
out:
        for (i = 0; i < n && i < BENCH_MAX_WORKERS; i++) {
                if (pids[i] > 0) {
                        if (rv < 0) {
                                (void)kill(pids[i], SIGKILL);
                        }
                        (void)bench_reap(pids[i]);
                }
        }
        for (i = 0; i < 2; i++) {
                if (go[i] >= 0) {
                        (void)close(go[i]);
                }
                if (res[i] >= 0) {
                        (void)close(res[i]);
                }
        }
        return rv;
}
