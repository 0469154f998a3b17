/*
 * test_fault_resize.c - a writer that truncates a segment must not crash the
 * other processes that map it.
 *
 * libtshm closes its descriptor once it has mapped a segment, so the attacker
 * here speaks the protocol itself, as a hostile client would, and keeps the
 * O_RDWR descriptor the daemon sends: then ftruncate(fd, 0), again and again,
 * while a reader child, which maps the segment through libtshm (tshm_open),
 * reads every page in a loop. The reader must never die of SIGBUS.
 *
 * Two defences meet here. tshmd (daemon/guard.c) restores the size when
 * inotify reports the change, 0.2-4 ms after the truncate; a reader touching
 * a cut page in that window faults. libtshm's SIGBUS handler (client/sigbus.c)
 * recognises a fault inside one of its mappings, waits and retries until the
 * size is back. Without the handler the reader died in about half of the
 * truncations; with it, none may die, and the report says how many faults
 * the handler absorbed (read through tshm__sigbus_stats, exported by libtshm
 * for tests but not API).
 *
 * A reader that dies is counted and replaced, so that a failure says how
 * often it happened.
 *
 * TSHM_STRESS_RESIZE_ROUNDS (default 200) truncations.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
#include "proto.h"
#include "stress.h"

/* Under AddressSanitizer (handle_sigbus=1, its default) the handler libtshm
 * chains to is ASan's, which reports the fault and, with abort_on_error=1,
 * ends with SIGABRT rather than SIGBUS. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(UNDER_ASAN)
#define UNDER_ASAN 1
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define DATA_BYTES (8u << 20)
#define OBJECT_BYTES (DATA_BYTES + 4096u)
#define WAIT_MS 30000

/* Progress shared with the reader. */
struct reader_state {
        uint64_t passes;   /* (atomic) full passes over every page */
        uint64_t absorbed; /* (atomic) faults libtshm's handler absorbed, so far */
        uint64_t episodes; /* (atomic) fault episodes (one per truncation hit) */
        uint32_t stop;     /* (atomic) */
};

/* Exported by libtshm for tests, not API (client/sigbus.c). */
void tshm__sigbus_stats(uint64_t *ret_absorbed, uint64_t *ret_episodes, int *ret_installed);

static int
raw_connect(const struct tshmd_fixture *f)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        memcpy(sa.sun_path, f->socket, strlen(f->socket) + 1);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* The descriptor that came with a message, or -1. */
static int
raw_take_fd(struct msghdr *mh)
{
        struct cmsghdr *cm;
        int fd = -1;

        for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
                }
        }
        return fd;
}

/* Send @req and receive one reply frame, and the descriptor riding on it. */
static void
raw_call(int sock, const struct tshm__req *req, struct tshm__reply *reply, int *ret_fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } ctl;
        uint8_t buf[1024];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        struct pollfd p = {.fd = sock, .events = POLLIN};
        msgpack_sbuffer sb;
        ssize_t n;
        int fd = -1;

        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(req, &sb), 0);
        ck_assert_int_eq(send(sock, sb.data, sb.size, MSG_NOSIGNAL), (ssize_t)sb.size);
        msgpack_sbuffer_destroy(&sb);
        ck_assert_int_eq(poll(&p, 1, WAIT_MS), 1);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        /* Replies to these requests are far below 1 KiB and come whole. */
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        ck_assert_int_gt(n, 4);
        ck_assert_int_eq(tshm__get_be32(buf), (uint32_t)n - 4);
        ck_assert_int_eq(tshm__reply_decode(buf + 4, (size_t)n - 4, req->op, reply), 0);
        ck_assert_int_eq(reply->status, 0);
        fd = raw_take_fd(&mh);
        if (ret_fd != NULL) {
                *ret_fd = fd;
        } else if (fd >= 0) {
                (void)close(fd);
        }
}

/* A raw connection holding an O_RDWR descriptor of @name. */
static int
raw_open_rdwr(int sock, const char *name)
{
        struct tshm__req hello = {.op = TSHM_OP_HELLO, .id = 1, .version = TSHM_PROTO_VERSION};
        struct tshm__req open = {.op = TSHM_OP_OPEN, .id = 2, .writable = true};
        struct tshm__reply reply;
        int fd = -1;

        raw_call(sock, &hello, &reply, NULL);
        snprintf(open.name, sizeof(open.name), "%s", name);
        raw_call(sock, &open, &reply, &fd);
        ck_assert_int_ge(fd, 0);
        return fd;
}

/* The reader: every page of its mapping, over and over, until told to
 * stop. A fault kills it with SIGBUS, which is what the parent looks for. */
static void
reader_run(const char *socket, struct reader_state *rs)
{
        const volatile uint8_t *d;
        tshm_client *c;
        tshm_seg *s;
        uint64_t i, sum = 0, absorbed, episodes;
        int installed;

        if (tshm_connect(socket, &c) < 0 || tshm_open(c, "victim", TSHM_OPEN_RDONLY, &s) < 0) {
                _exit(2);
        }
        d = tshm_seg_data(s);
        while (__atomic_load_n(&rs->stop, __ATOMIC_ACQUIRE) == 0) {
                for (i = 0; i < DATA_BYTES; i += 4096) {
                        sum += d[i];
                }
                tshm__sigbus_stats(&absorbed, &episodes, &installed);
                if (installed == 0) {
                        _exit(3);
                }
                __atomic_store_n(&rs->absorbed, absorbed, __ATOMIC_RELAXED);
                __atomic_store_n(&rs->episodes, episodes, __ATOMIC_RELAXED);
                __atomic_fetch_add(&rs->passes, 1, __ATOMIC_RELEASE);
        }
        (void)sum;
        (void)tshm_close(s);
        tshm_disconnect(c);
        _exit(0);
}

/* Whether the reader still runs; fills *status once it is gone. */
static bool
reader_alive(pid_t pid, int *status)
{
        return waitpid(pid, status, WNOHANG) == 0;
}

/* Wait until the object is back to its size (or the bound passes). Returns
 * the microseconds it took, or -1. */
static int64_t
wait_restored(int fd)
{
        struct timespec t0, t1;
        struct stat st;
        int64_t deadline = stress_now_ms() + WAIT_MS;

        (void)clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                ck_assert_int_eq(fstat(fd, &st), 0);
                if ((uint64_t)st.st_size == OBJECT_BYTES) {
                        (void)clock_gettime(CLOCK_MONOTONIC, &t1);
                        return (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 +
                               (t1.tv_nsec - t0.tv_nsec) / 1000;
                }
                if (stress_now_ms() >= deadline) {
                        return -1;
                }
                stress_sleep_us(100);
        }
}

/* Wait for the reader to finish @more passes past @from, or to die. */
static bool
wait_passes(struct reader_state *rs, uint64_t from, uint64_t more, pid_t pid, int *status)
{
        int64_t deadline = stress_now_ms() + WAIT_MS;

        while (__atomic_load_n(&rs->passes, __ATOMIC_ACQUIRE) < from + more) {
                if (!reader_alive(pid, status)) {
                        return false;
                }
                ck_assert_msg(stress_now_ms() < deadline, "the reader made no progress");
                stress_sleep_us(200);
        }
        return true;
}

/* Fork a reader and wait for its first full pass. */
static pid_t
reader_start(const struct tshmd_fixture *f, struct reader_state *rs)
{
        char sbuf[96];
        int status = 0;
        pid_t pid, me = getpid();

        __atomic_store_n(&rs->passes, 0, __ATOMIC_RELEASE);
        pid = tshm_test_fork();
        if (pid == 0) {
                stress_child_init(me);
                reader_run(f->socket, rs);
        }
        ck_assert_msg(wait_passes(rs, 0, 1, pid, &status), "a reader %s before any truncate",
                      stress_status_str(status, sbuf, sizeof(sbuf)));
        return pid;
}

START_TEST(test_fault_resize_truncate_under_reader)
{
        uint64_t rounds = stress_env_u64("TSHM_STRESS_RESIZE_ROUNDS", 200), round, deaths = 0;
        uint64_t bytes = DATA_BYTES, passes, absorbed = 0, episodes = 0;
        int64_t restore_us, restore_max = 0, restore_sum = 0;
        struct reader_state *rs;
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s;
        char sbuf[96], first[96] = "";
        int sock, fd, status = 0;
        pid_t reader;

        rs = mmap(NULL, sizeof(*rs), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert(rs != MAP_FAILED);
        memset(rs, 0, sizeof(*rs));
        fixture_start(&f, NULL);
        stress_sentinel_track(&f);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "victim", TSHM_DTYPE_UINT8, 1, &bytes, 0600, 0, &s), 0);
        memset(tshm_seg_data(s), 7, DATA_BYTES);
        reader = reader_start(&f, rs);
        sock = raw_connect(&f);
        fd = raw_open_rdwr(sock, "victim");
        for (round = 0; round < rounds; round++) {
                passes = __atomic_load_n(&rs->passes, __ATOMIC_ACQUIRE);
                ck_assert_int_eq(ftruncate(fd, 0), 0);
                restore_us = wait_restored(fd);
                ck_assert_msg(restore_us >= 0, "round %llu: tshmd did not restore the size",
                              (unsigned long long)round);
                restore_sum += restore_us;
                restore_max = restore_us > restore_max ? restore_us : restore_max;
                /* Two full passes after the restore: the reader crossed the
                 * whole window. A reader that died is counted and replaced,
                 * so that the report says how often the window is hit. */
                if (!wait_passes(rs, passes, 2, reader, &status)) {
                        if (deaths++ == 0) {
                                (void)stress_status_str(status, first, sizeof(first));
                        }
                        printf("fault_resize: truncation %llu: the reader %s after %llu passes\n",
                               (unsigned long long)round + 1,
                               stress_status_str(status, sbuf, sizeof(sbuf)),
                               (unsigned long long)__atomic_load_n(&rs->passes, __ATOMIC_ACQUIRE));
                        absorbed += __atomic_load_n(&rs->absorbed, __ATOMIC_RELAXED);
                        episodes += __atomic_load_n(&rs->episodes, __ATOMIC_RELAXED);
                        reader = reader_start(&f, rs);
                }
        }
        __atomic_store_n(&rs->stop, 1, __ATOMIC_RELEASE);
        ck_assert_int_eq(waitpid(reader, &status, 0), reader);
        absorbed += __atomic_load_n(&rs->absorbed, __ATOMIC_RELAXED);
        episodes += __atomic_load_n(&rs->episodes, __ATOMIC_RELAXED);
        printf("fault_resize: %llu truncations to 0 of a %u-byte object; tshmd put the size back "
               "within %lld us on average, %lld us at most (as first seen by fstat); the reader "
               "hit a cut page in %llu truncations, and libtshm absorbed %llu faults; readers "
               "killed: %llu of %llu truncations\n",
               (unsigned long long)rounds, OBJECT_BYTES,
               (long long)(rounds > 0 ? restore_sum / (int64_t)rounds : 0), (long long)restore_max,
               (unsigned long long)episodes, (unsigned long long)absorbed,
               (unsigned long long)deaths, (unsigned long long)rounds);
        ck_assert_msg(deaths == 0,
                      "a reader mapping the segment died in %llu of %llu truncations (the first "
                      "%s): a writer that truncates a segment still crashes the other mappers",
                      (unsigned long long)deaths, (unsigned long long)rounds, first);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the last reader %s",
                      stress_status_str(status, sbuf, sizeof(sbuf)));
        (void)close(fd);
        (void)close(sock);
        ck_assert_int_eq(tshm_close(s), 0);
        stress_assert_serves(c);
        tshm_disconnect(c);
        fixture_teardown(&f);
        (void)munmap(rs, sizeof(*rs));
}
END_TEST

static void
toucher_on_sigbus(int sig, siginfo_t *si, void *uctx)
{
        (void)sig;
        (void)si;
        (void)uctx;
        _exit(42);
}

/* A child that maps "victim" through libtshm, writes a byte to @ready, waits
 * for a byte on @go, then
 * reads the last page of it (or, with @own_handler, installs a SIGBUS handler
 * that exits 42 before mapping anything and faults on a file of its own).
 * Returns the child's pid; never returns in the child. */
static pid_t
toucher_start(const struct tshmd_fixture *f, int ready, int go, bool own_handler)
{
        struct sigaction sa = {.sa_sigaction = toucher_on_sigbus, .sa_flags = SA_SIGINFO};
        const volatile uint8_t *d;
        char path[] = "/tmp/tshm-resize-XXXXXX";
        volatile uint8_t *own;
        tshm_client *c;
        tshm_seg *s;
        pid_t pid, me = getpid();
        char b;
        int fd;

        pid = tshm_test_fork();
        if (pid != 0) {
                return pid;
        }
        stress_child_init(me);
        if (own_handler && sigaction(SIGBUS, &sa, NULL) < 0) {
                _exit(2);
        }
        if (tshm_connect(f->socket, &c) < 0 || tshm_open(c, "victim", TSHM_OPEN_RDONLY, &s) < 0) {
                _exit(2);
        }
        d = tshm_seg_data(s);
        if (write(ready, "r", 1) != 1 || read(go, &b, 1) != 1) {
                _exit(2);
        }
        if (own_handler) {
                /* A fault outside libtshm's mappings: a file of our own, cut
                 * under its mapping. libtshm's handler must pass it on to ours. */
                if ((fd = mkstemp(path)) < 0 || unlink(path) < 0 || ftruncate(fd, 8192) < 0 ||
                    (own = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
                        MAP_FAILED ||
                    ftruncate(fd, 0) < 0) {
                        _exit(2);
                }
                own[4096] = 1;
                _exit(3);
        }
        (void)d[DATA_BYTES - 1];
        _exit(0);
}

/* tshmd cannot restore the size (it is stopped): libtshm's handler gives up
 * after its bound, and the default action kills the reader with SIGBUS. */
START_TEST(test_fault_resize_gives_up_when_never_restored)
{
        uint64_t bytes = DATA_BYTES;
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s;
        int sock, fd, go[2], ready[2], status = 0;
        char sbuf[96];
        pid_t pid;

        fixture_start(&f, NULL);
        stress_sentinel_track(&f);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "victim", TSHM_DTYPE_UINT8, 1, &bytes, 0600, 0, &s), 0);
        sock = raw_connect(&f);
        fd = raw_open_rdwr(sock, "victim");
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        pid = toucher_start(&f, ready[1], go[0], false);
        ck_assert_int_eq(read(ready[0], sbuf, 1), 1); /* mapped, before tshmd stops */
        ck_assert_int_eq(kill(f.pid, SIGSTOP), 0);
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        ck_assert_int_eq(write(go[1], "x", 1), 1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_int_eq(kill(f.pid, SIGCONT), 0);
        ck_assert_msg(WIFSIGNALED(status) && (WTERMSIG(status) == SIGBUS ||
                                              (UNDER_ASAN && WTERMSIG(status) == SIGABRT)),
                      "a reader of a segment that stays cut %s, not killed by SIGBUS",
                      stress_status_str(status, sbuf, sizeof(sbuf)));
        ck_assert_int_ge(wait_restored(fd), 0);
        (void)close(go[0]);
        (void)close(go[1]);
        (void)close(ready[0]);
        (void)close(ready[1]);
        (void)close(fd);
        (void)close(sock);
        ck_assert_int_eq(tshm_close(s), 0);
        stress_assert_serves(c);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* A SIGBUS outside libtshm's mappings reaches the handler installed before
 * libtshm's. */
START_TEST(test_fault_resize_chains_other_faults)
{
        uint64_t bytes = DATA_BYTES;
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s;
        int go[2], ready[2], status = 0;
        char sbuf[96];
        pid_t pid;

        fixture_start(&f, NULL);
        stress_sentinel_track(&f);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "victim", TSHM_DTYPE_UINT8, 1, &bytes, 0600, 0, &s), 0);
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        pid = toucher_start(&f, ready[1], go[0], true);
        ck_assert_int_eq(read(ready[0], sbuf, 1), 1);
        ck_assert_int_eq(write(go[1], "x", 1), 1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 42,
                      "a fault outside tshm's mappings did not reach the earlier handler: the "
                      "child %s",
                      stress_status_str(status, sbuf, sizeof(sbuf)));
        (void)close(go[0]);
        (void)close(go[1]);
        (void)close(ready[0]);
        (void)close(ready[1]);
        ck_assert_int_eq(tshm_close(s), 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("fault_resize");
        TCase *tc;

        stress_sentinel_init();
        tc =
            tshm_test_case(s, "truncate", 280, TSHM_TESTS(test_fault_resize_truncate_under_reader));
        tcase_add_unchecked_fixture(tc, NULL, stress_sentinel_cleanup);
        tc = tshm_test_case(s, "chain", 60,
                            TSHM_TESTS(test_fault_resize_gives_up_when_never_restored,
                                       test_fault_resize_chains_other_faults));
        tcase_add_unchecked_fixture(tc, NULL, stress_sentinel_cleanup);
        return tshm_test_run(s);
}
