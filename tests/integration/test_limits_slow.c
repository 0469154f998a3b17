/*
 * test_limits_slow.c - hostile local users against the memory tshmd holds for
 * them: clients that never read their replies, per uid and in all, while a
 * victim must still be served. Every actor but the fixture's runs as its own
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
#include <msgpack.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "limits_actors.h"
#include "proto.h"

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

                if (tshm_stat(c, "pub0", &info) < 0 || tshm_list(c, NULL, &infos, &n) < 0) {
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

/* The segments the attackers list (and the victim counts): NPUB small arrays. */
static void
slow_publish(const struct tshmd_fixture *f)
{
        tshm_client *c = fixture_connect(f);
        tshm_seg *s;
        char name[32];
        int i;

        for (i = 0; i < NPUB; i++) {
                snprintf(name, sizeof(name), "pub%d", i);
                ck_assert_int_eq(
                    tshm_create(c, name, TSHM_DTYPE_FLOAT32, 2, (uint64_t[]){3, 4}, 0644, 0, &s),
                    0);
                tshm_close(s);
        }
        tshm_disconnect(c);
}

/* Sample the daemon's RSS while @n attackers flood, until each has said on
 * @ready_fd that it stopped sending, and once more after; returns the peak,
 * at least @peak. */
static long
slow_sample_peak(pid_t daemon, int ready_fd, int n, long peak)
{
        long now;
        int got = 0;
        char byte;

        while (got < n) {
                struct pollfd p = {.fd = ready_fd, .events = POLLIN};
                now = rss_kib(daemon);
                peak = now > peak ? now : peak;
                if (poll(&p, 1, 100) == 1) {
                        ck_assert_int_eq(read(ready_fd, &byte, 1), 1);
                        got++;
                }
        }
        now = rss_kib(daemon);
        return now > peak ? now : peak;
}

/* The daemon's RSS once it has given back what the queues held (up to 5 s
 * for it to fall under @start + 4 MiB). */
static long
slow_settled_rss(pid_t daemon, long start)
{
        long now = rss_kib(daemon);
        int i;

        for (i = 0; i < 100 && now - start >= 4L * 1024 && RSS_MEANINGFUL(); i++) {
                sleep_ms(50);
                now = rss_kib(daemon);
        }
        return now;
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
        long victim_ms = 3500, start, peak, now;
        pid_t pids[32], vpid;
        int ready[2], release[2], i;

        if (geteuid() != 0) {
                return;
        }
        ck_assert_int_le(nattackers, 32);
        fixture_start(&f, NULL);
        slow_publish(&f);
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
        peak = slow_sample_peak(f.pid, ready[0], nattackers, 0);
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
        now = slow_settled_rss(f.pid, start);
        ck_assert_msg(!RSS_MEANINGFUL() || now - start < 8L * 1024,
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
        Suite *s = suite_create("limits_slow");

        tshm_test_case(s, "limits", 120,
                       TSHM_TESTS(test_limits_slow_readers, test_limits_slow_readers_small_replies,
                                  test_limits_slow_readers_one_uid,
                                  test_limits_slow_readers_global));
        return tshm_test_run(s);
}
