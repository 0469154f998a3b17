/*
 * conn.c - libtshm's side of the socket: connect, send a frame, receive a
 * frame and the descriptor that may ride on it. Blocking, with a deadline;
 * libtshm never links libuv.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

int64_t
tshm__now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
tshm__conn_resolve_path(const char *arg, char *out, size_t outlen)
{
        const char *env = getenv("TSHM_SOCKET");
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        struct stat st;
        int n;

        if (arg != NULL && arg[0] != '\0') {
                n = snprintf(out, outlen, "%s", arg);
        } else if (env != NULL && env[0] != '\0') {
                n = snprintf(out, outlen, "%s", env);
        } else {
                n = -1;
                if (xdg != NULL && xdg[0] != '\0') {
                        n = snprintf(out, outlen, "%s/tshm/tshm.sock", xdg);
                        if (n >= 0 && (size_t)n < outlen && stat(out, &st) != 0) {
                                n = -1; /* not there: fall back to the system socket */
                        }
                }
                if (n < 0) {
                        n = snprintf(out, outlen, "/run/tshm/tshm.sock");
                }
        }
        if (n < 0 || (size_t)n >= outlen) {
                return TSHM_ENAMETOOLONG;
        }
        return 0;
}

/* Wait for @events on @fd until @deadline_ms. */
static int
conn_wait(int fd, short events, int64_t deadline_ms)
{
        struct pollfd p = {.fd = fd, .events = events};
        int64_t left;
        int r;

        for (;;) {
                left = deadline_ms - tshm__now_ms();
                if (left <= 0) {
                        return TSHM_ETIMEDOUT;
                }
                r = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
                if (r > 0) {
                        return 0;
                }
                if (r < 0 && errno != EINTR) {
                        return -errno;
                }
        }
}

int
tshm__conn_connect(const char *path, int timeout_ms, int *ret_fd)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, rv;

        (void)timeout_ms; /* connect() on a Unix socket does not wait for accept */
        if (strlen(path) >= sizeof(sa.sun_path)) {
                return TSHM_ENAMETOOLONG;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                return -errno;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                rv = errno;
                (void)close(fd);
                switch (rv) {
                case ENOENT:
                case ECONNREFUSED:
                case ENOTDIR:
                        return TSHM_ENODAEMON;
                case EAGAIN: /* the listen backlog is full */
                        return TSHM_ETIMEDOUT;
                default:
                        return -rv;
                }
        }
        *ret_fd = fd;
        return 0;
}

int
tshm__conn_send(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
        const uint8_t *p = buf;
        ssize_t n;
        int rv;

        while (len > 0) {
                n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n >= 0) {
                        p += n;
                        len -= (size_t)n;
                        continue;
                }
                if (errno == EINTR) {
                        continue;
                }
                if (errno != EAGAIN) {
                        return errno == EPIPE || errno == ECONNRESET ? TSHM_ECONNRESET : -errno;
                }
                if ((rv = conn_wait(fd, POLLOUT, deadline_ms)) < 0) {
                        return rv;
                }
        }
        return 0;
}

bool
tshm__conn_dead(int fd)
{
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char byte;

        /* Between calls the daemon sends nothing: a readable socket means it
         * hung up (or broke the protocol, which is as good as dead). */
        if (poll(&p, 1, 0) <= 0) {
                return false;
        }
        return (p.revents & (POLLHUP | POLLERR)) != 0 ||
               recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

/* Keep the first descriptor that arrives in *fdslot; close any other, and
 * any that came truncated. */
static void
conn_take_fds(struct msghdr *mh, int *fdslot)
{
        struct cmsghdr *cm;

        for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
                size_t i, n;
                int fds[4];

                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
                        continue;
                }
                n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                if (n > 4) {
                        n = 4;
                }
                memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
                for (i = 0; i < n; i++) {
                        if (*fdslot < 0) {
                                *fdslot = fds[i];
                        } else {
                                (void)close(fds[i]);
                        }
                }
        }
}

/* Read what is there, up to @len bytes, into @buf, collecting descriptors;
 * waits until @deadline_ms for at least one byte. @wait_first polls before
 * reading: right after a request the reply cannot be there yet, and a
 * recvmsg that fails with EAGAIN would be a wasted system call. Returns the
 * number of bytes read or an error. */
static ssize_t
conn_read_some(int fd, uint8_t *buf, size_t len, int64_t deadline_ms, bool wait_first, int *fdslot)
{
        union {
                char buf[CMSG_SPACE(4 * sizeof(int))];
                struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = buf, .iov_len = len};
        struct msghdr mh;
        ssize_t n;
        int rv;

        for (;;) {
                if (wait_first && (rv = conn_wait(fd, POLLIN, deadline_ms)) < 0) {
                        return rv;
                }
                wait_first = true;
                memset(&mh, 0, sizeof(mh));
                mh.msg_iov = &iov;
                mh.msg_iovlen = 1;
                mh.msg_control = ctl.buf;
                mh.msg_controllen = sizeof(ctl.buf);
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (n > 0) {
                        conn_take_fds(&mh, fdslot);
                        /* The kernel dropped a descriptor the daemon sent:
                         * this process has no slot left (RLIMIT_NOFILE). */
                        if ((mh.msg_flags & MSG_CTRUNC) != 0 && *fdslot < 0) {
                                *fdslot = TSHM__CONN_FD_DROPPED;
                        }
                        return n;
                }
                if (n == 0) {
                        return TSHM_ECONNRESET;
                }
                if (errno != EINTR && errno != EAGAIN) {
                        return errno == ECONNRESET ? TSHM_ECONNRESET : -errno;
                }
        }
}

/* Read and drop the @left bytes of a frame there was no memory for. */
static int
conn_drain(int fd, uint8_t *buf, size_t buflen, size_t left, int64_t deadline_ms, int *fdslot)
{
        while (left > 0) {
                ssize_t n = conn_read_some(fd, buf, left < buflen ? left : buflen, deadline_ms,
                                           false, fdslot);
                if (n < 0) {
                        return (int)n;
                }
                left -= (size_t)n;
        }
        return TSHM_ENOMEM;
}

int
tshm__conn_recv(int fd, uint32_t max, int64_t deadline_ms, uint8_t buf[TSHM__CONN_BUF],
                uint8_t **ret_payload, size_t *ret_len, int *ret_fd)
{
        uint8_t *payload = NULL;
        size_t have = 0, got;
        uint32_t len;
        ssize_t n;
        int got_fd = -1, rv;

        /* Most replies fit in @buf: one poll and one recvmsg, no allocation. */
        while (have < 4) {
                n = conn_read_some(fd, buf + have, TSHM__CONN_BUF - have, deadline_ms, have == 0,
                                   &got_fd);
                if (n < 0) {
                        rv = (int)n;
                        goto fail;
                }
                have += (size_t)n;
        }
        len = tshm__get_be32(buf);
        /* The daemon sends one reply per request: more bytes than this
         * frame cannot be anything but a protocol violation. */
        if (len > max || have - 4 > len) {
                rv = TSHM_EPROTO;
                goto fail;
        }
        got = have - 4;
        if (len <= TSHM__CONN_BUF - 4) {
                payload = buf + 4;
        } else if ((payload = tshm__malloc(len)) != NULL) {
                memcpy(payload, buf + 4, got);
        } else {
                rv = conn_drain(fd, buf, TSHM__CONN_BUF, len - got, deadline_ms, &got_fd);
                goto fail;
        }
        while (got < len) {
                n = conn_read_some(fd, payload + got, len - got, deadline_ms, false, &got_fd);
                if (n < 0) {
                        rv = (int)n;
                        goto fail;
                }
                got += (size_t)n;
        }
        *ret_payload = payload;
        *ret_len = len;
        *ret_fd = got_fd;
        return 0;
fail:
        if (payload != buf + 4) {
                tshm__free(payload);
        }
        if (got_fd >= 0) {
                (void)close(got_fd);
        }
        return rv;
}
