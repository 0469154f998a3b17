/*
 * test_limits.c - hostile local users against what tshmd holds for them:
 * clients that never read their replies (memory), metadata of segments they
 * may not read, a daemon at --max-clients, and a writer that keeps rewriting
 * a header (the journal). Every actor but the fixture's runs as its own
 * unprivileged uid; needs root to switch identities, skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
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

#define OWNER_UID 60031
#define OTHER_UID 60032
#define VICTIM_UID 60033
#define ATTACKER_UID 60034 /* and up, one per attacking uid */

/* Under AddressSanitizer (redzones, a quarantine of freed memory) or
 * valgrind the resident set says nothing about tshmd's own allocations: the
 * floods still run and the victim must still be served, but the memory
 * bounds are not judged. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_MEANINGFUL() false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_MEANINGFUL() false
#endif
#endif
#ifndef RSS_MEANINGFUL
#define RSS_MEANINGFUL()                                                                           \
        (getenv("TSHM_TEST_VALGRIND") == NULL || strcmp(getenv("TSHM_TEST_VALGRIND"), "1") != 0)
#endif

static int
become(uid_t uid)
{
        return setgroups(0, NULL) || setgid(uid) || setuid(uid) ? -1 : 0;
}

static int64_t
now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
}

/* tshmd's resident set in KiB (VmRSS of /proc/PID/status). */
static long
rss_kib(pid_t pid)
{
        char path[64], line[256];
        long kib = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        while (fgets(line, sizeof(line), f) != NULL) {
                if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
                        break;
                }
        }
        fclose(f);
        ck_assert_int_ge(kib, 0);
        return kib;
}

/* Lines of tshmd's log that contain @needle. */
static int
log_count(const struct tshmd_fixture *f, const char *needle)
{
        char line[1024];
        int n = 0;
        FILE *log = fopen(f->log, "r");

        while (log != NULL && fgets(line, sizeof(line), log) != NULL) {
                n += strstr(line, needle) != NULL;
        }
        if (log != NULL) {
                fclose(log);
        }
        return n;
}

static pid_t
fork_as(uid_t uid, int (*fn)(const struct tshmd_fixture *, const void *),
        const struct tshmd_fixture *f, const void *arg)
{
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                _exit(become(uid) < 0 ? 100 : fn(f, arg));
        }
        return pid;
}

static int
reap(pid_t pid)
{
        int status = 0;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + (WTERMSIG(status) & 31);
}

static int
raw_connect(const struct tshmd_fixture *f)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0) {
                return -1;
        }
        memcpy(sa.sun_path, f->socket, strlen(f->socket) + 1);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Append the frame of @req to @sb. */
static void
encode(struct tshm__req *req, msgpack_sbuffer *sb)
{
        msgpack_sbuffer one;

        msgpack_sbuffer_init(&one);
        if (tshm__req_encode(req, &one) == 0) {
                msgpack_sbuffer_write(sb, one.data, one.size);
        }
        msgpack_sbuffer_destroy(&one);
}

/* ---- slow readers ---- */

#define NPUB 200 /* segments every attacker may list: list replies of ~25 KiB */

struct attack {
        int ready_fd;      /* write a byte here once the flood is over */
        int release_fd;    /* EOF here: hang up */
        int parent_fds[2]; /* the parent's ends, closed in the child */
        long flood_ms;
        bool small; /* only requests with small replies: no list */
};

/* A client that pipelines requests of every kind as fast as the socket
 * takes them and never reads a reply. */
static int
attacker(const struct tshmd_fixture *f, const void *arg)
{
        const struct attack *a = arg;
        struct tshm__req req;
        msgpack_sbuffer batch;
        size_t off = 0;
        int64_t end;
        char byte;
        int fd = raw_connect(f), i;

        close(a->parent_fds[0]);
        close(a->parent_fds[1]);
        if (fd < 0) {
                return 1;
        }
        msgpack_sbuffer_init(&batch);
        memset(&req, 0, sizeof(req));
        req.op = TSHM_OP_HELLO;
        req.version = TSHM_PROTO_VERSION;
        encode(&req, &batch);
        for (i = 0; batch.size < 60000; i++) {
                memset(&req, 0, sizeof(req));
                req.id = (uint64_t)i + 2;
                switch (a->small ? 2 + i % 4 : i % 6) {
                case 0:
                case 1:
                        req.op = TSHM_OP_LIST;
                        req.limit = TSHM_PROTO_LIST_PAGE;
                        break;
                case 2:
                        req.op = TSHM_OP_STAT;
                        strcpy(req.name, "pub0");
                        break;
                case 3:
                        req.op = TSHM_OP_STAT;
                        strcpy(req.name, "nosuch");
                        break;
                case 4:
                        req.op = TSHM_OP_OPEN;
                        strcpy(req.name, "nosuch");
                        break;
                default:
                        req.op = TSHM_OP_HELLO;
                        req.version = TSHM_PROTO_VERSION;
                        break;
                }
                encode(&req, &batch);
        }
        end = now_ms() + a->flood_ms;
        while (now_ms() < end) {
                struct pollfd p = {.fd = fd, .events = POLLOUT};
                ssize_t n =
                    send(fd, batch.data + off, batch.size - off, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (n > 0) {
                        off = (off + (size_t)n) % batch.size;
                        continue;
                }
                if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        break; /* the daemon hung up: also an outcome, judged by the parent */
                }
                (void)poll(&p, 1, 50);
        }
        msgpack_sbuffer_destroy(&batch);
        (void)!write(a->ready_fd, "x", 1);
        (void)!read(a->release_fd, &byte, 1);
        close(fd);
        return 0;
}

/* Another user, served meanwhile: every round trip must succeed. */
static int
victim(const struct tshmd_fixture *f, const void *arg)
{
        const long *ms = arg;
        int64_t end = now_ms() + *ms;
        tshm_client *c;
        tshm_info info, *infos;
        size_t n;
        int rounds = 0;

        /* Served, not fast: under valgrind tshmd runs some 30 times slower,
         * and a round trip waits its turn behind the floods' batches. */
        setenv("TSHM_TIMEOUT_MS", RSS_MEANINGFUL() ? "5000" : "60000", 1);
        if (tshm_connect(f->socket, &c) < 0) {
                return 1;
        }
        /* At least one round, however long it takes (valgrind), then as
         * many as fit while the floods last. */
        do {
                tshm_client *fresh;

                if (tshm_stat(c, "pub0", &info) < 0 || tshm_list(c, &infos, &n) < 0) {
                        return 2;
                }
                tshm_list_free(infos);
                if (n != NPUB) {
                        return 3;
                }
                if (tshm_connect(f->socket, &fresh) < 0) {
                        return 4;
                }
                tshm_disconnect(fresh);
                rounds++;
                sleep_ms(50);
        } while (now_ms() < end);
        tshm_disconnect(c);
        return rounds > 0 ? 0 : 5;
}

/* @nattackers connections, spread over @nuids uids, flood for 3 s (@small:
 * with requests whose replies are small). tshmd's resident set must grow by
 * less than @bound_mib meanwhile, another user is served throughout, and
 * once they hang up it falls back near the start. */
static void
slow_readers(int nattackers, int nuids, bool small, long bound_mib)
{
        struct tshmd_fixture f;
        struct attack a = {.flood_ms = 3000, .small = small};
        long victim_ms = 3500, start, peak = 0, now;
        pid_t pids[32], vpid;
        int ready[2], release[2], i, got = 0;
        tshm_client *c;
        tshm_seg *s;
        char name[32];
        char byte;

        if (geteuid() != 0) {
                return;
        }
        ck_assert_int_le(nattackers, 32);
        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        for (i = 0; i < NPUB; i++) {
                snprintf(name, sizeof(name), "pub%d", i);
                ck_assert_int_eq(
                    tshm_create(c, name, TSHM_DTYPE_FLOAT32, 2, (uint64_t[]){3, 4}, 0644, 0, &s),
                    0);
                tshm_close(s);
        }
        tshm_disconnect(c);
        start = rss_kib(f.pid);
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(release, O_CLOEXEC), 0);
        a.ready_fd = ready[1];
        a.release_fd = release[0];
        a.parent_fds[0] = ready[0];
        a.parent_fds[1] = release[1];
        for (i = 0; i < nattackers; i++) {
                pids[i] = fork_as((uid_t)(ATTACKER_UID + i % nuids), attacker, &f, &a);
        }
        vpid = fork_as(VICTIM_UID, victim, &f, &victim_ms);
        close(ready[1]);
        close(release[0]);
        /* Sample while they flood, and once they have stopped sending. */
        while (got < nattackers) {
                struct pollfd p = {.fd = ready[0], .events = POLLIN};
                now = rss_kib(f.pid);
                peak = now > peak ? now : peak;
                if (poll(&p, 1, 100) == 1) {
                        ck_assert_int_eq(read(ready[0], &byte, 1), 1);
                        got++;
                }
        }
        now = rss_kib(f.pid);
        peak = now > peak ? now : peak;
        ck_assert_int_eq(reap(vpid), 0);
        ck_assert_msg(!RSS_MEANINGFUL() || peak - start < bound_mib * 1024,
                      "tshmd grew from %ld KiB to %ld KiB under %d slow readers", start, peak,
                      nattackers);
        /* They go; what their queues held goes back to the system. */
        close(release[1]);
        for (i = 0; i < nattackers; i++) {
                ck_assert_int_eq(reap(pids[i]), 0);
        }
        close(ready[0]);
        for (i = 0; i < 100 && (now = rss_kib(f.pid)) - start >= 4 * 1024 && RSS_MEANINGFUL();
             i++) {
                sleep_ms(50);
        }
        ck_assert_msg(!RSS_MEANINGFUL() || now - start < 8 * 1024,
                      "tshmd kept %ld KiB after the slow readers left (started at %ld, peak %ld)",
                      now, start, peak);
        fprintf(stderr, "slow readers (%d conns, %d uids%s): rss %ld KiB -> peak %ld -> %ld\n",
                nattackers, nuids, small ? ", small replies" : "", start, peak, now);
        fixture_teardown(&f);
}

/* Four connections that never read: the per-connection limit. */
START_TEST(test_limits_slow_readers)
{
        slow_readers(4, 2, false, 64);
}
END_TEST

/* Small replies cost more than their bytes (a buffer, a queue entry):
 * counting only the payload would let each connection hold hundreds of MiB. */
START_TEST(test_limits_slow_readers_small_replies)
{
        slow_readers(4, 2, true, 64);
}
END_TEST

/* Twelve connections of one uid: 12 x 4 MiB would be 48 MiB; the per-uid
 * limit (16 MiB) holds them to far less. */
START_TEST(test_limits_slow_readers_one_uid)
{
        slow_readers(12, 1, false, 32);
}
END_TEST

/* ---- metadata of private segments ---- */

static int
owner_makes(const struct tshmd_fixture *f, const void *arg)
{
        tshm_client *c;
        tshm_seg *s;

        (void)arg;
        if (tshm_connect(f->socket, &c) < 0 ||
            tshm_create(c, "priv", TSHM_DTYPE_INT32, 1, (uint64_t[]){7}, 0600, 0, &s) < 0) {
                return 1;
        }
        tshm_close(s);
        if (tshm_create(c, "pub", TSHM_DTYPE_INT32, 1, (uint64_t[]){7}, 0644, 0, &s) < 0) {
                return 2;
        }
        tshm_close(s);
        if (tshm_stream_create(c, "privs", TSHM_DTYPE_UINT8, 1, (uint64_t[]){16}, 4,
                               TSHM_STREAM_OVERWRITE, 0600, 0, &s) < 0) {
                return 3;
        }
        tshm_close(s);
        tshm_disconnect(c);
        return 0;
}

/* Which of priv, pub, privs the list shows: bits 1, 2, 4. */
static int
listed(tshm_client *c)
{
        tshm_info *infos;
        size_t n, i;
        int bits = 0;

        if (tshm_list(c, &infos, &n) < 0) {
                return -1;
        }
        for (i = 0; i < n; i++) {
                bits |= strcmp(infos[i].name, "priv") == 0    ? 1
                        : strcmp(infos[i].name, "pub") == 0   ? 2
                        : strcmp(infos[i].name, "privs") == 0 ? 4
                                                              : 8;
        }
        tshm_list_free(infos);
        return bits;
}

static int
other_looks(const struct tshmd_fixture *f, const void *arg)
{
        tshm_stream_info st;
        tshm_client *c;
        tshm_info info;
        tshm_seg *s;
        char owner[16];

        (void)arg;
        if (tshm_connect(f->socket, &c) < 0) {
                return 1;
        }
        if (listed(c) != 2) {
                fprintf(stderr, "another user lists %d\n", listed(c));
                return 2;
        }
        memset(&info, 0xa5, sizeof(info));
        if (tshm_stat(c, "priv", &info) != TSHM_EACCES || info.owner_uid != 0xa5a5a5a5u) {
                return 3;
        }
        if (tshm_stat(c, "privs", &info) != TSHM_EACCES ||
            tshm_stream_stat(c, "privs", &st) != TSHM_EACCES) {
                return 4;
        }
        /* Nor does a refused open tell the mode or the owner. */
        snprintf(owner, sizeof(owner), "%u", OWNER_UID);
        if (tshm_open(c, "priv", TSHM_OPEN_RDONLY, &s) != TSHM_EACCES ||
            strstr(tshm_errmsg(c), "0600") != NULL || strstr(tshm_errmsg(c), owner) != NULL) {
                fprintf(stderr, "open refused with: %s\n", tshm_errmsg(c));
                return 5;
        }
        /* Nor a refused unlink, chmod or chown. */
        if (tshm_unlink(c, "priv") != TSHM_EACCES || strstr(tshm_errmsg(c), owner) != NULL) {
                fprintf(stderr, "unlink refused with: %s\n", tshm_errmsg(c));
                return 7;
        }
        if (tshm_chmod(c, "priv", 0644) != TSHM_EACCES || strstr(tshm_errmsg(c), owner) != NULL) {
                fprintf(stderr, "chmod refused with: %s\n", tshm_errmsg(c));
                return 8;
        }
        if (tshm_stat(c, "pub", &info) != 0 || info.owner_uid != OWNER_UID) {
                return 6;
        }
        tshm_disconnect(c);
        return 0;
}

static int
owner_looks(const struct tshmd_fixture *f, const void *arg)
{
        tshm_stream_info st;
        tshm_client *c;
        tshm_info info;

        (void)arg;
        if (tshm_connect(f->socket, &c) < 0) {
                return 1;
        }
        if (listed(c) != 7 || tshm_stat(c, "priv", &info) != 0 || info.mode != 0600 ||
            tshm_stream_stat(c, "privs", &st) != 0 || st.slots != 4) {
                return 2;
        }
        tshm_disconnect(c);
        return 0;
}

START_TEST(test_limits_private_metadata)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_info info;
        tshm_daemon_info stats;

        if (geteuid() != 0) {
                return;
        }
        fixture_start(&f, NULL);
        ck_assert_int_eq(reap(fork_as(OWNER_UID, owner_makes, &f, NULL)), 0);
        ck_assert_int_eq(reap(fork_as(OTHER_UID, other_looks, &f, NULL)), 0);
        ck_assert_int_eq(reap(fork_as(OWNER_UID, owner_looks, &f, NULL)), 0);
        /* Root sees everything; the global counters stay for everyone. */
        c = fixture_connect(&f);
        ck_assert_int_eq(listed(c), 7);
        ck_assert_int_eq(tshm_stat(c, "priv", &info), 0);
        ck_assert_uint_eq(info.owner_uid, OWNER_UID);
        ck_assert_int_eq(tshm_daemon_stat(c, &stats), 0);
        ck_assert_uint_eq(stats.segments, 3);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* ---- a daemon at --max-clients ---- */

/* A refused client learns why (TSHM_ELIMIT) within its timeout, every time,
 * without retrying. */
static int
refused(const struct tshmd_fixture *f, const void *arg)
{
        const int *tries = arg;
        tshm_client *c = NULL;
        int64_t t0;
        int i, rv;

        setenv("TSHM_TIMEOUT_MS", "2000", 1);
        for (i = 0; i < *tries; i++) {
                t0 = now_ms();
                rv = tshm_connect(f->socket, &c);
                if (rv != TSHM_ELIMIT) {
                        fprintf(stderr, "refused connect %d: %s\n", i, tshm_err_name(rv));
                        return 1;
                }
                if (now_ms() - t0 >= 5000) {
                        fprintf(stderr, "refused connect %d took %lld ms\n", i,
                                (long long)(now_ms() - t0));
                        return 2;
                }
        }
        return 0;
}

START_TEST(test_limits_max_clients)
{
        const char *const extra[] = {"--max-clients", "3", NULL};
        struct tshmd_fixture f;
        tshm_client *held[3], *c;
        int one = 1, many = 200, i, lines;

        if (geteuid() != 0) {
                return;
        }
        fixture_start(&f, extra);
        for (i = 0; i < 3; i++) {
                held[i] = fixture_connect(&f);
        }
        ck_assert_int_eq(reap(fork_as(OTHER_UID, refused, &f, &one)), 0);
        ck_assert_int_eq(reap(fork_as(OTHER_UID, refused, &f, &many)), 0);
        /* 201 refusals, a bounded number of lines in the journal. */
        lines = log_count(&f, "client limit");
        ck_assert_int_ge(lines, 1);
        ck_assert_msg(lines <= 30, "%d log lines for 201 refused clients", lines);
        /* The clients it holds are served; one leaves and another gets in. */
        ck_assert_int_eq(tshm_daemon_stat(held[0], &(tshm_daemon_info){0}), 0);
        tshm_disconnect(held[2]);
        for (i = 0; i < 200; i++) {
                if (tshm_connect(f.socket, &c) == 0) {
                        break;
                }
                sleep_ms(10);
        }
        ck_assert_int_lt(i, 200);
        tshm_disconnect(c);
        tshm_disconnect(held[0]);
        tshm_disconnect(held[1]);
        fixture_teardown(&f);
}
END_TEST

/* ---- a writer that keeps rewriting a header ---- */

START_TEST(test_limits_header_repairs_log_bounded)
{
        struct tshmd_fixture f;
        char objname[128];
        uint32_t mode = 0666;
        tshm_client *c;
        tshm_seg *s, *r;
        int fd, i, lines;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "t", TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0600, 0, &s), 0);
        tshm_close(s);
        snprintf(objname, sizeof(objname), "/%s.t", f.prefix);
        fd = shm_open(objname, O_RDWR, 0);
        ck_assert_int_ge(fd, 0);
        /* Rewrite the sealed mode (offset 44, PROTOCOL.md) before each open:
         * every open finds it changed and repairs it. */
        for (i = 0; i < 1000; i++) {
                ck_assert_int_eq(pwrite(fd, &mode, sizeof(mode), 44), (ssize_t)sizeof(mode));
                ck_assert_int_eq(tshm_open(c, "t", TSHM_OPEN_RDONLY, &r), 0);
                tshm_close(r);
        }
        close(fd);
        lines = log_count(&f, "was changed by a client");
        ck_assert_int_ge(lines, 1);
        ck_assert_msg(lines <= 30, "%d log lines for 1000 repairs", lines);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* Twenty connections of five uids: 5 x 16 MiB would be 80 MiB; the global
 * limit (64 MiB) holds them below. */
START_TEST(test_limits_slow_readers_global)
{
        slow_readers(20, 5, false, 72);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("limits");

        tshm_test_case(s, "limits", 120,
                       TSHM_TESTS(test_limits_slow_readers, test_limits_slow_readers_small_replies,
                                  test_limits_slow_readers_one_uid, test_limits_slow_readers_global,
                                  test_limits_private_metadata, test_limits_max_clients,
                                  test_limits_header_repairs_log_bounded));
        return tshm_test_run(s);
}
