/*
 * test_truncate_daemon.c - a hostile writer truncates segments under tshmd
 * (issue 10, class 1).
 *
 * A client granted write access gets an O_RDWR descriptor of the shm object
 * and may ftruncate() it at any moment. libtshm closes its descriptor once it
 * has mapped the segment, so the hostile actor here speaks the protocol
 * itself and keeps the descriptor the daemon sends, as an attacker would
 * (truncate_actors.h).
 *
 * tshmd maps a segment's header page to mark it unlinked, to count a
 * stream's frames and to break the writer lock of a process that exited. With
 * the object cut under it, each of these used to kill tshmd with SIGBUS.
 * Each test loops the truncation beside one of them for a bounded time and
 * asserts that tshmd is alive and serves a new client.
 *
 * Each actor is its own process under its own unprivileged uid. Needs root to
 * switch identities; skipped otherwise.
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

/* ---- (a) a stream's stat beside the truncation ---- */

static int
owner_makes_stream(const struct tshmd_fixture *f, struct board *b)
{
        uint64_t n = SMALL_BYTES;
        tshm_client *c;
        tshm_seg *s;

        if (tshm_connect(f->socket, &c) < 0 ||
            tshm_stream_create(c, "s", TSHM_DTYPE_UINT8, 1, &n, 4, TSHM_STREAM_OVERWRITE, 0666, 0,
                               &s) < 0) {
                return 10;
        }
        (void)tshm_close(s);
        tshm_disconnect(c);
        post(&b->created);
        return 0;
}

static int
hostile_cuts_stream(const struct tshmd_fixture *f, struct board *b)
{
        struct stat st;
        int sock, fd;

        if ((sock = raw_connect(f->socket)) < 0 || raw_hello(sock) < 0 ||
            (fd = raw_open_rdwr(sock, "s", 2)) < 0 || fstat(fd, &st) < 0) {
                return 10;
        }
        return truncate_loop(b, &fd, 1, st.st_size, ATTACK_MS);
}

static int
reader_stats_stream(const struct tshmd_fixture *f, struct board *b)
{
        tshm_stream_info info;
        tshm_client *c;
        int rv;

        if (tshm_connect(f->socket, &c) < 0) {
                return 10;
        }
        while (__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE) == 0) {
                /* Whatever the header says, tshmd answers: a dead daemon
                 * is a connection error. */
                if ((rv = tshm_stream_stat(c, "s", &info)) < 0) {
                        fprintf(stderr, "stream stat: %s\n", tshm_err_name(rv));
                        return 11;
                }
                __atomic_fetch_add(&b->stats, 1, __ATOMIC_RELAXED);
        }
        tshm_disconnect(c);
        return 0;
}

START_TEST(test_truncate_beside_stream_stat)
{
        struct tshmd_fixture f;
        struct board *b = board_new();
        pid_t owner, hostile, reader;

        fixture_start(&f, NULL);
        owner = actor(OWNER_UID, owner_makes_stream, &f, b);
        ck_assert(actor_ok(owner, "owner"));
        hostile = actor(HOSTILE_UID, hostile_cuts_stream, &f, b);
        ck_assert(wait_word(&b->attacking, 1));
        reader = actor(READER_UID, reader_stats_stream, &f, b);
        sleep_ms(ATTACK_MS);
        __atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
        ck_assert(actor_ok(hostile, "hostile"));
        ck_assert(actor_ok(reader, "reader"));
        printf("truncate (a): %llu truncations beside %llu stream stats\n",
               (unsigned long long)b->cuts, (unsigned long long)b->stats);
        ck_assert_uint_gt(b->stats, 0);
        assert_daemon_serves(&f);
        fixture_teardown(&f);
}
END_TEST

/* ---- (b) the owner unlinks segments that are being cut ---- */

/* Round after round until the attack's time is up: the owner creates a
 * segment, the hostile actor opens it read-write and cuts it again and
 * again, the owner unlinks it (tshmd marks the header unlinked first). */
static int
owner_makes_and_unlinks(const struct tshmd_fixture *f, struct board *b)
{
        uint64_t n = SMALL_BYTES, deadline = now_ms() + ATTACK_MS;
        tshm_client *c;
        tshm_seg *s;
        char name[16];
        uint32_t r;
        int rv;

        if (tshm_connect(f->socket, &c) < 0) {
                return 10;
        }
        for (r = 0; now_ms() < deadline; r++) {
                seg_name(name, sizeof(name), (int)r);
                if (tshm_create(c, name, TSHM_DTYPE_UINT8, 1, &n, 0666, 0, &s) < 0) {
                        return 11;
                }
                (void)tshm_close(s);
                post(&b->created);
                if (!wait_word(&b->attacking, r + 1)) {
                        return 12;
                }
                if ((rv = tshm_unlink(c, name)) < 0) {
                        fprintf(stderr, "unlink '%s': %s\n", name, tshm_err_name(rv));
                        return 13;
                }
                post(&b->unlinked);
        }
        __atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
        tshm_disconnect(c);
        return 0;
}

static int
hostile_cuts_each(const struct tshmd_fixture *f, struct board *b)
{
        char name[16];
        uint32_t r;
        int sock, fd;

        for (r = 0;; r++) {
                while (__atomic_load_n(&b->created, __ATOMIC_ACQUIRE) < r + 1) {
                        if (__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE) != 0) {
                                return 0;
                        }
                        (void)sched_yield();
                }
                seg_name(name, sizeof(name), (int)r);
                if ((sock = raw_connect(f->socket)) < 0 || raw_hello(sock) < 0 ||
                    (fd = raw_open_rdwr(sock, name, 2)) < 0) {
                        return 10;
                }
                post(&b->attacking);
                while (__atomic_load_n(&b->unlinked, __ATOMIC_ACQUIRE) < r + 1) {
                        if (ftruncate(fd, 0) < 0 || ftruncate(fd, SMALL_OBJECT) < 0) {
                                return 11;
                        }
                        __atomic_fetch_add(&b->cuts, 1, __ATOMIC_RELAXED);
                }
                (void)close(fd);
                (void)close(sock);
        }
}

START_TEST(test_truncate_beside_unlink)
{
        struct tshmd_fixture f;
        struct board *b = board_new();
        pid_t owner, hostile;

        fixture_start(&f, NULL);
        owner = actor(OWNER_UID, owner_makes_and_unlinks, &f, b);
        hostile = actor(HOSTILE_UID, hostile_cuts_each, &f, b);
        ck_assert(actor_ok(owner, "owner"));
        ck_assert(actor_ok(hostile, "hostile"));
        printf("truncate (b): %llu truncations beside %u unlinks\n", (unsigned long long)b->cuts,
               b->unlinked);
        assert_daemon_serves(&f);
        fixture_teardown(&f);
}
END_TEST

/* ---- (c) writers exit holding the lock while their segments are cut ---- */

static int
owner_makes(const struct tshmd_fixture *f, struct board *b)
{
        uint64_t n = SMALL_BYTES;
        tshm_client *c;
        tshm_seg *s;
        char name[16];
        int i;

        if (tshm_connect(f->socket, &c) < 0) {
                return 10;
        }
        for (i = 0; i < NSEGS; i++) {
                seg_name(name, sizeof(name), i);
                if (tshm_create(c, name, TSHM_DTYPE_UINT8, 1, &n, 0666, 0, &s) < 0) {
                        return 11;
                }
                (void)tshm_close(s);
        }
        tshm_disconnect(c);
        post(&b->created);
        return 0;
}

/* Open all NSEGS read-write on one raw connection. A segment whose header
 * the cutter has away at that moment is refused (fds[i] = -1): only a
 * broken connection fails. */
static int
hostile_open_all(const struct tshmd_fixture *f, int *fds)
{
        char name[16];
        int sock, i;

        if ((sock = raw_connect(f->socket)) < 0 || raw_hello(sock) < 0) {
                return -1;
        }
        for (i = 0; i < NSEGS; i++) {
                seg_name(name, sizeof(name), i);
                if ((fds[i] = raw_open_rdwr(sock, name, 2u + (uint64_t)i)) == -1) {
                        return -1;
                }
        }
        return sock;
}

/* Cuts every segment, all the attack long, through descriptors of its own. */
static int
hostile_cutter(const struct tshmd_fixture *f, struct board *b)
{
        int fds[NSEGS], i;

        if (hostile_open_all(f, fds) < 0) {
                return 10;
        }
        for (i = 0; i < NSEGS; i++) {
                if (fds[i] < 0) {
                        return 11; /* nothing cuts them yet */
                }
        }
        return truncate_loop(b, fds, NSEGS, SMALL_OBJECT, ATTACK_MS);
}

/* Write @n bytes of @v at @off of @fd; whether all went. */
static bool
hostile_put(int fd, size_t off, const void *v, size_t n)
{
        return pwrite(fd, v, n, (off_t)off) == (ssize_t)n;
}

/* Take the writer lock of every segment open in @fds as a writer that dies
 * mid-write leaves it: its tid and pid, an odd seq. With pwrite, since the
 * cutter may have the page away (a write past the cut extends the object,
 * so none may fail). Closes the descriptors; false if a write failed. */
static bool
hostile_lock_all(const int *fds)
{
        uint32_t me = (uint32_t)getpid();
        uint64_t odd = 1;
        bool ok = true;
        int i;

        for (i = 0; i < NSEGS; i++) {
                if (fds[i] < 0) {
                        continue;
                }
                ok = ok && hostile_put(fds[i], offsetof(struct tshm__hdr, seq), &odd, sizeof(odd));
                ok = ok &&
                     hostile_put(fds[i], offsetof(struct tshm__hdr, lock_pid), &me, sizeof(me));
                ok = ok && hostile_put(fds[i], offsetof(struct tshm__hdr, lock), &me, sizeof(me));
                (void)close(fds[i]);
        }
        return ok;
}

/* One writer: HOLDER_ROUNDS times, opens every segment writable on a new
 * connection, takes each lock and drops the connection (tshmd looks at each
 * header, and waits for the process to exit); then exits with every lock
 * held (tshmd looks at each header again to break the lock). */
static int
hostile_holder(const struct tshmd_fixture *f, struct board *b)
{
        int fds[NSEGS], sock, r;

        (void)b;
        for (r = 0; r < HOLDER_ROUNDS; r++) {
                if ((sock = hostile_open_all(f, fds)) < 0) {
                        return 10;
                }
                if (!hostile_lock_all(fds)) {
                        (void)close(sock);
                        return 12; /* a lock was not taken: nothing to break */
                }
                (void)close(sock);
        }
        return 0;
}

START_TEST(test_truncate_beside_lock_break)
{
        struct tshmd_fixture f;
        struct board *b = board_new();
        pid_t owner, cutter;
        uint32_t holders = 0;
        char who[32];

        fixture_start(&f, NULL);
        owner = actor(OWNER_UID, owner_makes, &f, b);
        ck_assert(actor_ok(owner, "owner"));
        cutter = actor(HOSTILE_UID, hostile_cutter, &f, b);
        ck_assert(wait_word(&b->attacking, 1));
        while (actor_running(cutter)) {
                snprintf(who, sizeof(who), "lock holder %u", holders);
                ck_assert(actor_ok(actor(HOSTILE_UID, hostile_holder, &f, b), who));
                holders++;
        }
        ck_assert(actor_ok(cutter, "cutter"));
        printf("truncate (c): %llu truncations beside %u writers that dropped %d connections "
               "holding %d locks, then exited\n",
               (unsigned long long)b->cuts, holders, HOLDER_ROUNDS, NSEGS);
        assert_daemon_serves(&f);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: the hostile actors need root to switch uids\n");
                return 0;
        }
        s = suite_create("truncate_daemon");
        tshm_test_case(s, "hostile", 120,
                       TSHM_TESTS(test_truncate_beside_stream_stat, test_truncate_beside_unlink,
                                  test_truncate_beside_lock_break));
        return tshm_test_run(s);
}
