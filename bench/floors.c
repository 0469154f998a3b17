/*
 * floors.c - what the kernel costs without tshm, measured in the same run as
 * tshm's calls so that they share the machine's noise:
 *   a. shm_open(O_CREAT) + ftruncate + mmap + munmap + close + shm_unlink of
 *      a 4 KiB + 64 B object, the raw work behind create+close+unlink;
 *   b. a 16-byte round trip over a Unix stream socket to an echo process;
 *   c. a 16-byte round trip whose reply carries a shm object's descriptor
 *      (SCM_RIGHTS), which the client maps (8 KiB, read-only), unmaps and
 *      closes: the raw work behind an open.
 * Both servers are forked processes doing blocking reads and writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define FLOOR_MSG 16
#define FLOOR_SHM_SIZE (4096 + 64)
#define FLOOR_FD_SIZE 8192

static int
floor_fail(const char *what)
{
        int rv = -errno;

        fprintf(stderr, "tshm-bench: floor: %s: %s\n", what, strerror(errno));
        return rv < 0 ? rv : TSHM_EIO;
}

static int
floor_read_full(int fd, void *buf, size_t len)
{
        uint8_t *p = buf;
        ssize_t n;

        while (len > 0) {
                n = read(fd, p, len);
                if (n < 0 && errno == EINTR) {
                        continue;
                }
                if (n <= 0) {
                        return -1;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

static int
floor_send_fd(int sock, const void *buf, size_t len, int fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } ctl;
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        struct cmsghdr *cm;

        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* The server: answer each 16-byte request with 16 bytes, and with @passfd
 * when it is a descriptor, until the client hangs up. */
static void
floor_serve(int sock, int passfd)
{
        uint8_t msg[FLOOR_MSG];

        while (floor_read_full(sock, msg, sizeof(msg)) == 0) {
                if (passfd >= 0 ? floor_send_fd(sock, msg, sizeof(msg), passfd) < 0
                                : write(sock, msg, sizeof(msg)) != (ssize_t)sizeof(msg)) {
                        _exit(1);
                }
        }
        _exit(0);
}

static int
floor_server_start(const cpu_set_t *cpus, int passfd, int *ret_sock, pid_t *ret_pid)
{
        int sv[2];
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                return floor_fail("socketpair");
        }
        pid = bench_fork();
        if (pid < 0) {
                (void)close(sv[0]);
                (void)close(sv[1]);
                return floor_fail("fork");
        }
        if (pid == 0) {
                (void)close(sv[0]);
                if (sched_setaffinity(0, sizeof(*cpus), cpus) < 0) {
                        _exit(1);
                }
                floor_serve(sv[1], passfd);
        }
        (void)close(sv[1]);
        *ret_sock = sv[0];
        *ret_pid = pid;
        return 0;
}

/* The object whose descriptor server c hands out: made, sized, reopened
 * read-only (as tshmd hands out read-only opens) and unlinked at once. */
static int
floor_make_object(const struct bench_env *env)
{
        char name[80];
        int rw, ro = -1;

        snprintf(name, sizeof(name), "/%s.~floor-c", env->prefix);
        rw = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (rw < 0) {
                return floor_fail("shm_open");
        }
        if (ftruncate(rw, FLOOR_FD_SIZE) == 0) {
                ro = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
        }
        if (ro < 0) {
                ro = floor_fail("ftruncate/shm_open");
        }
        (void)shm_unlink(name);
        (void)close(rw);
        return ro;
}

int
bench_floors_setup(struct bench_ctx *ctx)
{
        int ro, rv;

        ctx->rtt_sock = ctx->fd_sock = -1;
        ctx->rtt_pid = ctx->fd_pid = 0;
        snprintf(ctx->shm_name, sizeof(ctx->shm_name), "/%s.~floor-a", ctx->env->prefix);
        if ((rv = floor_server_start(&ctx->server_cpus, -1, &ctx->rtt_sock, &ctx->rtt_pid)) < 0) {
                return rv;
        }
        if ((ro = floor_make_object(ctx->env)) < 0) {
                return ro;
        }
        rv = floor_server_start(&ctx->server_cpus, ro, &ctx->fd_sock, &ctx->fd_pid);
        (void)close(ro); /* the server holds its own copy */
        return rv;
}

void
bench_floors_teardown(struct bench_ctx *ctx)
{
        if (ctx->rtt_sock >= 0) {
                (void)close(ctx->rtt_sock);
                ctx->rtt_sock = -1;
        }
        if (ctx->fd_sock >= 0) {
                (void)close(ctx->fd_sock);
                ctx->fd_sock = -1;
        }
        if (ctx->rtt_pid > 0) {
                (void)bench_reap(ctx->rtt_pid);
                ctx->rtt_pid = 0;
        }
        if (ctx->fd_pid > 0) {
                (void)bench_reap(ctx->fd_pid);
                ctx->fd_pid = 0;
        }
}

int
bench_floor_shm_step(struct bench_ctx *ctx, bool record)
{
        uint64_t t0 = bench_now_ns();
        void *map;
        int fd, rv = 0;

        fd = shm_open(ctx->shm_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                return floor_fail("shm_open");
        }
        if (ftruncate(fd, FLOOR_SHM_SIZE) < 0) {
                rv = floor_fail("ftruncate");
                goto out;
        }
        map = mmap(NULL, FLOOR_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                rv = floor_fail("mmap");
                goto out;
        }
        (void)munmap(map, FLOOR_SHM_SIZE);
out:
        (void)close(fd);
        (void)shm_unlink(ctx->shm_name);
        if (rv == 0 && record) {
                bench_samples_add(&ctx->s[LAT_FLOOR_SHM], bench_now_ns() - t0);
        }
        return rv;
}

int
bench_floor_rtt_step(struct bench_ctx *ctx, bool record)
{
        uint8_t msg[FLOOR_MSG] = {1};
        uint64_t t0 = bench_now_ns();

        if (write(ctx->rtt_sock, msg, sizeof(msg)) != (ssize_t)sizeof(msg) ||
            floor_read_full(ctx->rtt_sock, msg, sizeof(msg)) < 0) {
                return floor_fail("echo round trip");
        }
        if (record) {
                bench_samples_add(&ctx->s[LAT_FLOOR_RTT], bench_now_ns() - t0);
        }
        return 0;
}

/* Receive the 16-byte reply and the descriptor riding on it. */
static int
floor_recv_fd(int sock, int *ret_fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } ctl;
        uint8_t msg[FLOOR_MSG];
        struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        struct cmsghdr *cm;
        int fd = -1;
        ssize_t n;

        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        while ((n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
        }
        cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
        if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        }
        /* The server writes 16 bytes at once: a short read would be news. */
        if (n != (ssize_t)sizeof(msg) || fd < 0) {
                if (fd >= 0) {
                        (void)close(fd);
                }
                errno = n < 0 ? errno : EPROTO;
                return -1;
        }
        *ret_fd = fd;
        return 0;
}

static int
floor_fd_once(struct bench_ctx *ctx, bool touch, bool record, enum bench_lat_id id)
{
        uint8_t msg[FLOOR_MSG] = {2};
        uint64_t t0 = bench_now_ns();
        volatile const uint8_t *map;
        int fd;

        if (write(ctx->fd_sock, msg, sizeof(msg)) != (ssize_t)sizeof(msg) ||
            floor_recv_fd(ctx->fd_sock, &fd) < 0) {
                return floor_fail("fd round trip");
        }
        map = mmap(NULL, FLOOR_FD_SIZE, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                (void)close(fd);
                return floor_fail("mmap");
        }
        if (touch) {
                (void)map[0]; /* fault the first page in, as tshm_open reads its header */
        }
        (void)munmap((void *)map, FLOOR_FD_SIZE);
        (void)close(fd);
        if (record) {
                bench_samples_add(&ctx->s[id], bench_now_ns() - t0);
        }
        return 0;
}

int
bench_floor_fd_step(struct bench_ctx *ctx, bool record)
{
        return floor_fd_once(ctx, false, record, LAT_FLOOR_FD);
}

int
bench_floor_fd_touch_step(struct bench_ctx *ctx, bool record)
{
        return floor_fd_once(ctx, true, record, LAT_FLOOR_FD_TOUCH);
}
