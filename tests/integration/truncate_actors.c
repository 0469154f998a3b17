/*
 * truncate_actors.c - the actors of the truncation tests (truncate_actors.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include <msgpack.h>

#include "tshm.h"

#include "fixture.h"
#include "header.h"
#include "proto.h"

#include "truncate_actors.h"

uint64_t
now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
sleep_ms(unsigned ms)
{
        struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};

        (void)nanosleep(&ts, NULL);
}

/* Wait until *@word is at least @want, up to WAIT_MS. */
bool
wait_word(const uint32_t *word, uint32_t want)
{
        uint64_t deadline = now_ms() + WAIT_MS;

        while (__atomic_load_n(word, __ATOMIC_ACQUIRE) < want) {
                if (now_ms() > deadline) {
                        return false;
                }
                sleep_ms(1);
        }
        return true;
}

struct board *
board_new(void)
{
        struct board *b =
            mmap(NULL, sizeof(*b), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        ck_assert(b != MAP_FAILED);
        memset(b, 0, sizeof(*b));
        return b;
}

void
post(uint32_t *word)
{
        __atomic_fetch_add(word, 1, __ATOMIC_RELEASE);
}

/* Fork an actor that runs @fn as @uid and exits with what it returns (0:
 * all went as it should). It dies with the test process. */
pid_t
actor(uid_t uid, int (*fn)(const struct tshmd_fixture *, struct board *),
      const struct tshmd_fixture *f, struct board *b)
{
        pid_t pid = tshm_test_fork();

        if (pid == 0) {
                (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0) {
                        _exit(100);
                }
                _exit(fn(f, b));
        }
        return pid;
}

/* Whether @pid still runs (it is not reaped here). */
bool
actor_running(pid_t pid)
{
        siginfo_t si;

        memset(&si, 0, sizeof(si));
        return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

/* Reap @pid (up to WAIT_MS, then kill it) and say whether it exited 0. */
bool
actor_ok(pid_t pid, const char *who)
{
        uint64_t deadline = now_ms() + WAIT_MS;
        int status = 0;
        pid_t got;

        while ((got = waitpid(pid, &status, WNOHANG)) == 0 && now_ms() < deadline) {
                sleep_ms(5);
        }
        if (got < 0) {
                fprintf(stderr, "%s: cannot reap it: %s\n", who, strerror(errno));
                return false;
        }
        if (got == 0) {
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, &status, 0);
                fprintf(stderr, "%s: still running after %d ms, killed\n", who, WAIT_MS);
                return false;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                return true;
        }
        if (WIFSIGNALED(status)) {
                fprintf(stderr, "%s: killed by signal %d (%s)\n", who, WTERMSIG(status),
                        strsignal(WTERMSIG(status)));
        } else {
                fprintf(stderr, "%s: exit %d\n", who, WEXITSTATUS(status));
        }
        return false;
}

/* tshmd is still running (not reaped: fixture_stop does that), and serves
 * a new client. */
void
assert_daemon_serves(struct tshmd_fixture *f)
{
        siginfo_t si;
        tshm_client *c;
        tshm_seg *s;
        uint64_t n = 16;

        memset(&si, 0, sizeof(si));
        ck_assert_int_eq(waitid(P_PID, (id_t)f->pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
        ck_assert_msg(si.si_pid == 0, "tshmd is gone: %s %d",
                      si.si_code == CLD_EXITED ? "exit" : "signal", si.si_status);
        c = fixture_connect(f);
        ck_assert_int_eq(tshm_create(c, "after", TSHM_DTYPE_UINT8, 1, &n, 0600, 0, &s), 0);
        ck_assert_int_eq(tshm_close(s), 0);
        ck_assert_int_eq(tshm_unlink(c, "after"), 0);
        tshm_disconnect(c);
}

/* The raw protocol, as a hostile client speaks it. Each returns -1 on any
 * failure (these run in actors, where ck_assert cannot report). */

int
raw_connect(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0) {
                return -1;
        }
        /* A path too long for sun_path would connect to another one. */
        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >= sizeof(sa.sun_path) ||
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                (void)close(fd);
                return -1;
        }
        return fd;
}

/* Send @req, receive its reply and the descriptor riding on it, if any,
 * into *@ret_fd. Returns 0, 1 for an error reply (tshmd answered), or -1
 * (the connection failed). */
int
raw_call(int sock, const struct tshm__req *req, int *ret_fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } ctl;
        uint8_t buf[1024];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        struct pollfd p = {.fd = sock, .events = POLLIN};
        struct tshm__reply reply;
        struct cmsghdr *cm;
        msgpack_sbuffer sb;
        ssize_t n;
        int rv;

        msgpack_sbuffer_init(&sb);
        rv = tshm__req_encode(req, &sb);
        if (rv == 0 && send(sock, sb.data, sb.size, MSG_NOSIGNAL) != (ssize_t)sb.size) {
                rv = -1;
        }
        msgpack_sbuffer_destroy(&sb);
        if (rv != 0 || poll(&p, 1, WAIT_MS) != 1) {
                return -1;
        }
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        /* Replies to these requests are far below 1 KiB and come whole. */
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n <= 4 || tshm__get_be32(buf) != (uint32_t)n - 4 ||
            tshm__reply_decode(buf + 4, (size_t)n - 4, req->op, &reply) != 0) {
                return -1;
        }
        if (reply.status != 0) {
                return 1;
        }
        for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && ret_fd != NULL) {
                        memcpy(ret_fd, CMSG_DATA(cm), sizeof(*ret_fd));
                }
        }
        return 0;
}

int
raw_hello(int sock)
{
        struct tshm__req hello = {.op = TSHM_OP_HELLO, .id = 1, .version = TSHM_PROTO_VERSION};

        return raw_call(sock, &hello, NULL) == 0 ? 0 : -1;
}

/* An O_RDWR descriptor of @name, kept (libtshm would close it). Returns
 * it, or -2 if tshmd refused, or -1 if the connection failed. */
int
raw_open_rdwr(int sock, const char *name, uint64_t id)
{
        struct tshm__req open = {.op = TSHM_OP_OPEN, .id = id, .writable = true};
        int fd = -1, rv;

        snprintf(open.name, sizeof(open.name), "%s", name);
        if ((rv = raw_call(sock, &open, &fd)) != 0) {
                return rv > 0 ? -2 : -1;
        }
        return fd;
}

/* The hostile loop: every descriptor cut to nothing, then every one grown
 * back, until the parent says stop or @ms pass, so that each object is
 * empty about half of the time. Growing back is the attacker's own doing
 * (tshmd's guard does it too). */
int
truncate_loop(struct board *b, const int *fds, int n, off_t size, unsigned ms)
{
        uint64_t deadline = now_ms() + ms;
        int i;

        post(&b->attacking);
        while (now_ms() < deadline && __atomic_load_n(&b->stop, __ATOMIC_ACQUIRE) == 0) {
                for (i = 0; i < n; i++) {
                        if (ftruncate(fds[i], 0) < 0) {
                                return 20;
                        }
                }
                for (i = 0; i < n; i++) {
                        if (ftruncate(fds[i], size) < 0) {
                                return 21;
                        }
                }
                __atomic_fetch_add(&b->cuts, (uint64_t)n, __ATOMIC_RELAXED);
        }
        return 0;
}

void
seg_name(char *buf, size_t len, int i)
{
        snprintf(buf, len, "t%d", i);
}
