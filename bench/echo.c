/*
 * echo.c - the requests/s floor: an echo server shaped like tshmd (one
 * process, one thread, an epoll loop over non-blocking AF_UNIX stream
 * sockets, level-triggered like libuv's polls), answering fixed-size
 * requests of a tshm_stat's size with replies of a tshm_stat reply's size,
 * and clients shaped like libtshm's (one connection each, one request in
 * flight, a blocking write and a blocking read until the whole reply is in).
 * What it leaves out is tshm's own work: msgpack, the op table, the lookup,
 * the reply's allocation and bookkeeping. It is measured in the same run as
 * tshm's requests/s, with as many client processes, so the two share the
 * machine's noise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

/* The sizes of a tshm_stat of "bench-open" on the wire, length prefix
 * included (strace of tshm-bench's load): the request is 4 + 27 bytes, the
 * reply 4 + 128. */
#define ECHO_REQUEST_BYTES BENCH_ECHO_REQUEST_BYTES
#define ECHO_REPLY_BYTES BENCH_ECHO_REPLY_BYTES
#define ECHO_MAX_FD 1024 /* the server drops a connection on a higher descriptor */
#define ECHO_EVENTS 64
#define ECHO_READ_CHUNK 65536 /* as tshmd's */

/* The bytes of a partial request each connection has read. */
static size_t echo_have[ECHO_MAX_FD];

static void
echo_accept(int ep, int lsock)
{
        struct epoll_event ev = {.events = EPOLLIN};
        int fd;

        fd = accept4(lsock, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
                return; /* EAGAIN or a client gone already */
        }
        ev.data.fd = fd;
        if (fd >= ECHO_MAX_FD || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
                (void)close(fd);
                return;
        }
        echo_have[fd] = 0;
}

/* Read what is there and answer every whole request in it with one write.
 * A client has one request in flight, so the replies always fit in the
 * socket's buffer: a short write is a client that broke the rule, dropped. */
static void
echo_serve_conn(int fd)
{
        static uint8_t in[ECHO_READ_CHUNK],
            out[ECHO_READ_CHUNK / ECHO_REQUEST_BYTES * ECHO_REPLY_BYTES];
        size_t nreq;
        ssize_t n;

        n = recv(fd, in, sizeof(in), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                return;
        }
        if (n <= 0) {
                (void)close(fd); /* leaves the epoll set with its last descriptor */
                return;
        }
        echo_have[fd] += (size_t)n;
        nreq = echo_have[fd] / ECHO_REQUEST_BYTES;
        echo_have[fd] %= ECHO_REQUEST_BYTES;
        if (nreq == 0) {
                return;
        }
        /* The reply starts with the request's first bytes, as an echo. */
        memcpy(out, in, (size_t)n < ECHO_REPLY_BYTES ? (size_t)n : ECHO_REPLY_BYTES);
        if (send(fd, out, nreq * ECHO_REPLY_BYTES, MSG_NOSIGNAL) !=
            (ssize_t)(nreq * ECHO_REPLY_BYTES)) {
                (void)close(fd);
        }
}

static void
echo_serve(int lsock)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = lsock}, evs[ECHO_EVENTS];
        int ep, n, i;

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lsock, &ev) < 0) {
                _exit(1);
        }
        for (;;) {
                n = epoll_wait(ep, evs, ECHO_EVENTS, -1);
                if (n < 0 && errno != EINTR) {
                        _exit(1);
                }
                for (i = 0; i < n; i++) {
                        if (evs[i].data.fd == lsock) {
                                echo_accept(ep, lsock);
                        } else {
                                echo_serve_conn(evs[i].data.fd);
                        }
                }
        }
}

static int
echo_fail(const char *what)
{
        int rv = -errno;

        fprintf(stderr, "tshm-bench: echo floor: %s: %s\n", what, strerror(errno));
        return rv < 0 ? rv : TSHM_EIO;
}

/* @path in @sa; TSHM_ENAMETOOLONG if it does not fit. */
static int
echo_addr(const char *path, struct sockaddr_un *sa)
{
        size_t len = strlen(path);

        if (len >= sizeof(sa->sun_path)) {
                return TSHM_ENAMETOOLONG;
        }
        memcpy(sa->sun_path, path, len + 1);
        return 0;
}

int
bench_echo_start(const struct bench_env *env, pid_t *ret_pid)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int lsock;
        pid_t pid;

        if ((lsock = echo_addr(env->echo, &sa)) < 0) {
                return lsock;
        }
        (void)unlink(env->echo);
        lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (lsock < 0) {
                return echo_fail("socket");
        }
        if (bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lsock, 128) < 0) {
                int rv = echo_fail("bind");
                (void)close(lsock);
                return rv;
        }
        pid = bench_fork();
        if (pid < 0) {
                int rv = echo_fail("fork");
                (void)close(lsock);
                return rv;
        }
        if (pid == 0) {
                echo_serve(lsock);
        }
        (void)close(lsock);
        *ret_pid = pid;
        return 0;
}

void
bench_echo_stop(const struct bench_env *env, pid_t pid)
{
        if (pid > 0) {
                (void)kill(pid, SIGKILL);
                (void)bench_reap(pid);
        }
        (void)unlink(env->echo);
}

static int
echo_connect(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd;

        if ((fd = echo_addr(path, &sa)) < 0) {
                return fd;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                return -errno;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int rv = -errno;
                (void)close(fd);
                return rv;
        }
        return fd;
}

static int
echo_read_full(int fd, void *buf, size_t len)
{
        uint8_t *p = buf;
        ssize_t n;

        while (len > 0) {
                n = read(fd, p, len);
                if (n < 0 && errno == EINTR) {
                        continue;
                }
                if (n <= 0) {
                        return n == 0 ? TSHM_EIO : -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* A client of the floor: bench_workers_run's work function, as load.c's is
 * for tshm (@c is NULL: this one has its own connection). */
int
bench_echo_work(tshm_client *c, unsigned idx, unsigned nworkers, void *arg, uint64_t *ret_count)
{
        const struct bench_echo_arg *a = arg;
        uint8_t req[ECHO_REQUEST_BYTES], rep[ECHO_REPLY_BYTES];
        uint64_t deadline, count = 0;
        int fd, rv = 0;

        (void)c;
        (void)nworkers;
        memset(req, (int)idx, sizeof(req));
        if ((fd = echo_connect(a->path)) < 0) {
                return fd;
        }
        deadline = bench_now_ns() + a->duration_ns;
        while (bench_now_ns() < deadline) {
                if (write(fd, req, sizeof(req)) != (ssize_t)sizeof(req)) {
                        rv = TSHM_EIO;
                        break;
                }
                if ((rv = echo_read_full(fd, rep, sizeof(rep))) < 0) {
                        break;
                }
                count++;
        }
        (void)close(fd);
        *ret_count = count;
        return rv;
}
