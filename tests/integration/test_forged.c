/*
 * test_forged.c - what a writer (or any holder of a stream's subscriber
 * table) can store into shared memory must not fool another process:
 *  - a sequence counter out of range (2^62 and above, including the values
 *    that read as negative error codes when cast to int64_t) is reported as
 *    torn by every call that returns a version, at once, and no writer
 *    publishes on top of it (issue 10, class 3);
 *  - a forged writer lock (held by pid 1, with a lease of 0 or one far in
 *    the future) is broken by the next writer within the lease bound, also
 *    after a daemon restart (class 4); an odd counter left with no lock held
 *    is published as torn, not mistaken for a whole version;
 *  - a subscriber that scribbles on every entry of the shared subscriber
 *    table cannot hold entries or stall a producer: who subscribes is the
 *    daemon's roster, which no other process can write (class 5).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "header.h"

#define HOSTILE_UID 65534

FIXTURE_PER_TEST(f)

static uint64_t
mono_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The header of a mapped segment: data_offset bytes before its data. */
static struct tshm__hdr *
hdr_of(tshm_seg *s)
{
        uint8_t *data = tshm_seg_data(s);
        uint64_t off = TSHM_HDR_DATA_OFFSET;

        if (tshm_seg_is_stream(s) == 1) {
                /* The slot table's pages sit between the header and the
                 * slots: find the header by its magic, page by page. */
                for (off = TSHM_HDR_DATA_OFFSET;; off += TSHM_HDR_DATA_OFFSET) {
                        if (memcmp(data - off, TSHM_HDR_MAGIC, 8) == 0) {
                                break;
                        }
                }
        }
        return (struct tshm__hdr *)(void *)(data - off);
}

static const uint64_t bad_seqs[] = {
    TSHM_SEQ_MAX + 2,
    UINT64_C(1) << 63,
    (uint64_t)(int64_t)TSHM_ETIMEDOUT, /* reads as "timed out" when cast */
    (uint64_t)(int64_t)TSHM_ENOENT,    /* reads as "unlinked" */
    UINT64_MAX - 1,
    UINT64_MAX,
};

START_TEST(test_seq_out_of_range_is_torn)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *w, *r;
        size_t i;

        ck_assert_int_eq(
            tshm_create(c, "fseq", TSHM_DTYPE_FLOAT32, 1, (uint64_t[]){4}, 0644, 0, &w), 0);
        ck_assert_int_eq(tshm_open(c, "fseq", TSHM_OPEN_RDONLY, &r), 0);
        for (i = 0; i < sizeof(bad_seqs) / sizeof(bad_seqs[0]); i++) {
                uint64_t t0;

                __atomic_store_n(&hdr_of(w)->seq, bad_seqs[i], __ATOMIC_SEQ_CST);
                t0 = mono_ms();
                /* At once, whatever the timeout: the value is not a version
                 * and waiting will not make it one. */
                ck_assert_int_eq(tshm_wait(r, 0, 2000), TSHM_ETORN);
                ck_assert_int_eq(tshm_wait(r, UINT64_MAX, 2000), TSHM_ETORN);
                ck_assert_int_eq(tshm_read_begin(r, 2000), TSHM_ETORN);
                ck_assert_int_eq(tshm_write_begin(w, 2000), TSHM_ETORN);
                ck_assert_msg(mono_ms() - t0 < 1000, "seq %llu: took %llu ms",
                              (unsigned long long)bad_seqs[i],
                              (unsigned long long)(mono_ms() - t0));
                /* The refused writer left the lock free. */
                ck_assert_uint_eq(__atomic_load_n(&hdr_of(w)->lock, __ATOMIC_SEQ_CST), 0);
        }
        /* The largest valid counter is still a version. */
        __atomic_store_n(&hdr_of(w)->seq, TSHM_SEQ_MAX, __ATOMIC_SEQ_CST);
        ck_assert_int_eq(tshm_wait(r, 0, 0), (int64_t)TSHM_SEQ_MAX);
        ck_assert_int_eq(tshm_read_begin(r, 0), (int64_t)TSHM_SEQ_MAX);
        ck_assert_int_eq(tshm_read_retry(r, TSHM_SEQ_MAX), 0);
        ck_assert_int_eq(tshm_close(r), 0);
        ck_assert_int_eq(tshm_close(w), 0);
        tshm_disconnect(c);
}
END_TEST

/* An odd counter with the lock free (a writer forged it, or wrote it
 * without the lock): the next writer publishes it as torn first, so the
 * version it then writes never looks whole while in progress. */
START_TEST(test_odd_seq_without_lock_is_published_torn)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *w, *r;

        ck_assert_int_eq(
            tshm_create(c, "fodd", TSHM_DTYPE_FLOAT32, 1, (uint64_t[]){4}, 0644, 0, &w), 0);
        ck_assert_int_eq(tshm_open(c, "fodd", TSHM_OPEN_RDONLY, &r), 0);
        __atomic_store_n(&hdr_of(w)->seq, 5, __ATOMIC_SEQ_CST);
        ck_assert_int_eq(tshm_write_begin(w, 1000), 0);
        /* In progress: odd, and not the forged value plus one. */
        ck_assert_uint_eq(tshm_seg_seq(r), 7);
        ck_assert_int_eq(tshm_read_retry(r, 6), 1);
        /* A read that began on the odd value itself is not whole either,
         * though seq has not moved since (the odd-seq guard). */
        ck_assert_int_eq(tshm_read_retry(r, 7), 1);
        ck_assert_int_eq(tshm_write_end(w), 8);
        ck_assert_uint_eq(__atomic_load_n(&hdr_of(w)->torn_seq, __ATOMIC_SEQ_CST), 6);
        ck_assert_int_eq(tshm_read_begin(r, 0), 8);
        ck_assert_int_eq(tshm_read_retry(r, 8), 0);
        ck_assert_int_eq(tshm_close(r), 0);
        ck_assert_int_eq(tshm_close(w), 0);
        tshm_disconnect(c);
}
END_TEST

START_TEST(test_stream_seq_out_of_range_is_torn)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *p;
        tshm_sub *sub;
        tshm_frame fr;
        void *data;
        size_t i;

        ck_assert_int_eq(tshm_stream_create(c, "fstream", TSHM_DTYPE_INT32, 1, (uint64_t[]){16}, 4,
                                            TSHM_STREAM_OVERWRITE, 0644, 0, &p),
                         0);
        ck_assert_int_eq(tshm_sub_open(c, "fstream", &sub), 0);
        ck_assert_int_eq(tshm_stream_loan(p, 1000, &data), 0);
        ck_assert_int_eq(tshm_stream_publish(p), 1);
        ck_assert_int_eq(tshm_sub_take(sub, 1000, &fr), 0);
        ck_assert_uint_eq(fr.seq, 1);
        ck_assert_int_eq(tshm_sub_release(sub), 0);
        for (i = 0; i < sizeof(bad_seqs) / sizeof(bad_seqs[0]); i++) {
                uint64_t t0 = mono_ms();

                __atomic_store_n(&hdr_of(p)->seq, bad_seqs[i], __ATOMIC_SEQ_CST);
                ck_assert_int_eq(tshm_sub_take(sub, 2000, &fr), TSHM_ETORN);
                ck_assert_int_eq(tshm_stream_loan(p, 2000, &data), TSHM_ETORN);
                ck_assert_msg(mono_ms() - t0 < 1000, "seq %llu: took %llu ms",
                              (unsigned long long)bad_seqs[i],
                              (unsigned long long)(mono_ms() - t0));
        }
        ck_assert_int_eq(tshm_sub_close(sub), 0);
        ck_assert_int_eq(tshm_close(p), 0);
        tshm_disconnect(c);
}
END_TEST

/* Forge the lock of @name as held by pid 1's thread with @lease, then time
 * how long a writer takes to get it. Runs in a child; exits 0 if the writer
 * got the lock within the lease bound (and not at once), 1 otherwise. */
static int
forged_lock_child(const char *name, uint64_t lease, bool odd)
{
        tshm_client *c;
        tshm_seg *s;
        uint64_t t0, took;
        int rv;

        if (tshm_connect(f.socket, &c) < 0 || tshm_open(c, name, TSHM_OPEN_RDWR, &s) < 0) {
                return 1;
        }
        __atomic_store_n(&hdr_of(s)->lock_pid, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&hdr_of(s)->lease_until, lease, __ATOMIC_SEQ_CST);
        __atomic_store_n(&hdr_of(s)->lock, 1, __ATOMIC_SEQ_CST);
        if (odd) {
                __atomic_store_n(&hdr_of(s)->seq, 7, __ATOMIC_SEQ_CST);
        }
        t0 = mono_ms();
        rv = tshm_write_begin(s, TSHM_WRITE_LEASE_MS + 8000);
        took = mono_ms() - t0;
        if (rv != 0 || took > TSHM_WRITE_LEASE_MS + 5000) {
                fprintf(stderr, "%s: write_begin %d after %llu ms\n", name, rv,
                        (unsigned long long)took);
                return 1;
        }
        /* The forged holder's version (odd: half-written) is published torn. */
        rv = (int)tshm_write_end(s);
        if (odd && (rv != 10 || __atomic_load_n(&hdr_of(s)->torn_seq, __ATOMIC_SEQ_CST) != 8)) {
                fprintf(
                    stderr, "%s: write_end %d, torn %llu\n", name, rv,
                    (unsigned long long)__atomic_load_n(&hdr_of(s)->torn_seq, __ATOMIC_SEQ_CST));
                return 1;
        }
        return 0;
}

START_TEST(test_forged_lock_is_broken_within_the_lease)
{
        static const char *const names[] = {"flock0", "flockfar", "flockmax"};
        uint64_t leases[3];
        tshm_client *c = fixture_connect(&f);
        pid_t pids[3];
        tshm_seg *s;
        struct timespec now;
        int i, status;

        clock_gettime(CLOCK_MONOTONIC, &now);
        leases[0] = 0;
        /* An hour from now: no genuine lease is longer than TSHM_WRITE_LEASE_MS. */
        leases[1] = ((uint64_t)now.tv_sec + 3600) * 1000000000u;
        leases[2] = UINT64_MAX;
        for (i = 0; i < 3; i++) {
                ck_assert_int_eq(
                    tshm_create(c, names[i], TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0600, 0, &s), 0);
                ck_assert_int_eq(tshm_close(s), 0);
        }
        /* All three at once: each waits out the same bound. */
        for (i = 0; i < 3; i++) {
                pids[i] = tshm_test_fork();
                if (pids[i] == 0) {
                        _exit(forged_lock_child(names[i], leases[i], i == 0));
                }
        }
        for (i = 0; i < 3; i++) {
                ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "'%s': the forged lock was not broken in time", names[i]);
        }
        tshm_disconnect(c);
}
END_TEST

/* A lease that has run out is broken at once, whoever holds it (pid 1's
 * thread never dies): the lease, not the holder's life, bounds a write. */
START_TEST(test_expired_lease_is_broken_at_once)
{
        tshm_client *c = fixture_connect(&f);
        struct timespec now;
        tshm_seg *s;
        uint64_t t0;

        ck_assert_int_eq(
            tshm_create(c, "flease", TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0600, 0, &s), 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        __atomic_store_n(&hdr_of(s)->lock_pid, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&hdr_of(s)->lease_until,
                         (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec - 1000000u,
                         __ATOMIC_SEQ_CST);
        __atomic_store_n(&hdr_of(s)->lock, 1, __ATOMIC_SEQ_CST);
        t0 = mono_ms();
        ck_assert_int_eq(tshm_write_begin(s, 5000), 0);
        ck_assert_msg(mono_ms() - t0 < 2000, "an expired lease held the lock %llu ms",
                      (unsigned long long)(mono_ms() - t0));
        ck_assert_int_eq(tshm_write_end(s), 2);
        ck_assert_int_eq(tshm_close(s), 0);
        tshm_disconnect(c);
}
END_TEST

/* The forged lock is in the segment, so it outlives the daemon: a writer
 * after a restart breaks it the same way. */
START_TEST(test_forged_lock_is_broken_after_restart)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s;
        uint64_t t0;
        pid_t pid;
        int status;

        ck_assert_int_eq(
            tshm_create(c, "flockrs", TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0600, 0, &s), 0);
        __atomic_store_n(&hdr_of(s)->lock_pid, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&hdr_of(s)->lease_until, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&hdr_of(s)->lock, 1, __ATOMIC_SEQ_CST);
        ck_assert_int_eq(tshm_close(s), 0);
        tshm_disconnect(c);
        fixture_stop(&f);
        fixture_restart(&f, NULL);
        pid = tshm_test_fork();
        if (pid == 0) {
                tshm_client *cc;
                tshm_seg *ss;
                int rv;

                if (tshm_connect(f.socket, &cc) < 0 ||
                    tshm_open(cc, "flockrs", TSHM_OPEN_RDWR, &ss) < 0) {
                        _exit(2);
                }
                t0 = mono_ms();
                rv = tshm_write_begin(ss, TSHM_WRITE_LEASE_MS + 8000);
                _exit(rv == 0 && mono_ms() - t0 <= TSHM_WRITE_LEASE_MS + 5000 ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the forged lock outlived the restart (status %d)", status);
}
END_TEST

/* The start of the mapping named @what ("tshm-roster", "tshm-cursors") in
 * this process, and its end. */
static bool
find_mapping(const char *what, uintptr_t *ret_lo, uintptr_t *ret_hi)
{
        char line[512];
        FILE *m = fopen("/proc/self/maps", "r");
        bool found = false;

        if (m == NULL) {
                return false;
        }
        while (fgets(line, sizeof(line), m) != NULL) {
                unsigned long lo, hi;

                if (strstr(line, what) != NULL && sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
                        *ret_lo = lo;
                        *ret_hi = hi;
                        found = true;
                        break;
                }
        }
        fclose(m);
        return found;
}

/* A subscriber of another uid, with a read-only grant, that scribbles on
 * every entry of the subscriber table (marking them taken in the old
 * layout's active word, cursors at 0) and tries to write the roster, then
 * dies without unsubscribing. Exit status: 0 if every write to the roster
 * was refused, 1 if one got through, 2 on a setup failure. */
static int
scribbler(void)
{
        uintptr_t lo, hi;
        tshm_client *c;
        tshm_sub *sub;
        uint32_t *words;
        size_t i;

        if (setgroups(0, NULL) < 0 || setgid(HOSTILE_UID) < 0 || setuid(HOSTILE_UID) < 0 ||
            tshm_connect(f.socket, &c) < 0 || tshm_sub_open(c, "froster", &sub) < 0) {
                return 2;
        }
        if (!find_mapping("tshm-cursors", &lo, &hi)) {
                return 2;
        }
        words = (uint32_t *)lo;
        for (i = 16; i < (hi - lo) / sizeof(uint32_t); i++) {
                words[i] = i % 16 == 0 ? 1u : 0u; /* each entry: first word 1, cursor 0 */
        }
        if (!find_mapping("tshm-roster", &lo, &hi)) {
                return 2;
        }
        /* The roster is mapped read-only and sealed: neither mprotect nor a
         * new writable mapping of the same pages may succeed. */
        if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE) == 0) {
                return 1;
        }
        (void)kill(getpid(), SIGKILL);
        return 2;
}

START_TEST(test_subscriber_table_scribbles_hold_nothing)
{
        tshm_client *c = fixture_connect(&f);
        tshm_sub *subs[TSHM_STREAM_MAX_SUBS + 1];
        tshm_seg *p;
        void *data;
        uint64_t n;
        pid_t pid;
        int status, i;

        ck_assert_int_eq(tshm_stream_create(c, "froster", TSHM_DTYPE_INT32, 1, (uint64_t[]){16}, 4,
                                            TSHM_STREAM_BLOCK, 0644, 0, &p),
                         0);
        pid = tshm_test_fork();
        if (pid == 0) {
                _exit(scribbler());
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                      "the scribbler did not get as far as dying (status %d: %s)", status,
                      WIFEXITED(status) && WEXITSTATUS(status) == 1 ? "it wrote the roster"
                                                                    : "setup failed");
        ck_assert(fixture_wait_opens(c, "froster", 1));
        /* Nobody holds an entry: a block producer never waits. */
        for (n = 1; n <= 40; n++) {
                ck_assert_int_eq(tshm_stream_loan(p, 2000, &data), 0);
                ck_assert_int_eq(tshm_stream_publish(p), (int64_t)n);
        }
        /* And every entry can be taken. */
        for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                ck_assert_int_eq(tshm_sub_open(c, "froster", &subs[i]), 0);
        }
        ck_assert_int_eq(tshm_sub_open(c, "froster", &subs[i]), TSHM_ELIMIT);
        for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                ck_assert_int_eq(tshm_sub_close(subs[i]), 0);
        }
        ck_assert_int_eq(tshm_close(p), 0);
        tshm_disconnect(c);
}
END_TEST

/* A subscriber's cursor is its own: another holder of the subscriber table
 * that moves it (back, to make it take a frame again, or far ahead) changes
 * what producers wait for, not which frame the subscriber takes next. */
START_TEST(test_moved_cursor_does_not_move_the_subscriber)
{
        tshm_client *c = fixture_connect(&f);
        uint64_t *cursor;
        uintptr_t lo, hi;
        tshm_sub *sub;
        tshm_frame fr;
        tshm_seg *p;
        void *data;
        int n;

        ck_assert_int_eq(tshm_stream_create(c, "fcursor", TSHM_DTYPE_INT32, 1, (uint64_t[]){16}, 8,
                                            TSHM_STREAM_OVERWRITE, 0644, 0, &p),
                         0);
        ck_assert_int_eq(tshm_sub_open(c, "fcursor", &sub), 0);
        for (n = 1; n <= 3; n++) {
                ck_assert_int_eq(tshm_stream_loan(p, 1000, &data), 0);
                ck_assert_int_eq(tshm_stream_publish(p), n);
        }
        ck_assert_int_eq(tshm_sub_take(sub, 1000, &fr), 0);
        ck_assert_uint_eq(fr.seq, 1);
        ck_assert_int_eq(tshm_sub_release(sub), 0);
        /* Entry 0 (the first subscriber): 64 bytes in, cursor at +8. */
        ck_assert(find_mapping("tshm-cursors", &lo, &hi));
        cursor = (uint64_t *)(lo + 64 + 8);
        ck_assert_uint_eq(*cursor, 2);
        *cursor = 1; /* back: frame 1 again */
        ck_assert_int_eq(tshm_sub_take(sub, 1000, &fr), 0);
        ck_assert_uint_eq(fr.seq, 2);
        ck_assert_uint_eq(fr.missed, 0);
        ck_assert_int_eq(tshm_sub_release(sub), 0);
        *cursor = 1000000; /* ahead: frames that do not exist */
        ck_assert_int_eq(tshm_sub_take(sub, 1000, &fr), 0);
        ck_assert_uint_eq(fr.seq, 3);
        ck_assert_int_eq(tshm_sub_release(sub), 0);
        ck_assert_int_eq(tshm_sub_close(sub), 0);
        ck_assert_int_eq(tshm_close(p), 0);
        tshm_disconnect(c);
}
END_TEST

/* A subscription the daemon ended (its connection went) stays ended even
 * when another subscriber is given the same entry: the old handle must not
 * take the new subscriber's frames. */
START_TEST(test_ended_subscription_does_not_take_a_reused_entry)
{
        tshm_client *ca = fixture_connect(&f), *cb = fixture_connect(&f);
        tshm_sub *a, *b;
        tshm_frame fr;
        tshm_seg *p;
        void *data;

        ck_assert_int_eq(tshm_stream_create(cb, "freuse", TSHM_DTYPE_INT32, 1, (uint64_t[]){16}, 4,
                                            TSHM_STREAM_OVERWRITE, 0644, 0, &p),
                         0);
        ck_assert_int_eq(tshm_sub_open(ca, "freuse", &a), 0);
        /* A's connection goes: the daemon frees its entry... */
        tshm_disconnect(ca);
        ck_assert(fixture_wait_opens(cb, "freuse", 1));
        /* ... and gives it to B. */
        ck_assert_int_eq(tshm_sub_open(cb, "freuse", &b), 0);
        ck_assert(fixture_wait_opens(cb, "freuse", 2));
        ck_assert_int_eq(tshm_stream_loan(p, 1000, &data), 0);
        ck_assert_int_eq(tshm_stream_publish(p), 1);
        ck_assert_int_eq(tshm_sub_take(a, 500, &fr), TSHM_ECONNRESET);
        ck_assert_int_eq(tshm_sub_take(b, 1000, &fr), 0);
        ck_assert_uint_eq(fr.seq, 1);
        ck_assert_int_eq(tshm_sub_release(b), 0);
        ck_assert_int_eq(tshm_sub_close(b), 0);
        ck_assert_int_eq(tshm_sub_close(a), 0);
        ck_assert_int_eq(tshm_close(p), 0);
        tshm_disconnect(cb);
}
END_TEST

/* Even root, reopening the roster's memfd read-write, cannot map it
 * writable: the daemon sealed it against writes. */
START_TEST(test_roster_is_sealed)
{
        tshm_client *c = fixture_connect(&f);
        char path[128];
        uintptr_t lo, hi;
        tshm_sub *sub;
        tshm_seg *p;
        void *m;
        int fd;

        ck_assert_int_eq(tshm_stream_create(c, "fsealed", TSHM_DTYPE_INT32, 1, (uint64_t[]){16}, 4,
                                            TSHM_STREAM_BLOCK, 0644, 0, &p),
                         0);
        ck_assert_int_eq(tshm_sub_open(c, "fsealed", &sub), 0);
        ck_assert(find_mapping("tshm-roster", &lo, &hi));
        snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)lo,
                 (unsigned long)hi);
        fd = open(path, O_RDWR | O_CLOEXEC);
        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        m = mmap(NULL, hi - lo, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ck_assert_msg(m == MAP_FAILED, "the roster was mapped writable");
        ck_assert_int_lt(write(fd, "x", 1), 0);
        close(fd);
        ck_assert_int_eq(tshm_sub_close(sub), 0);
        ck_assert_int_eq(tshm_close(p), 0);
        tshm_disconnect(c);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("forged");
        TCase *tc;

        tc = tshm_test_case(
            s, "forged", 60,
            TSHM_TESTS(
                test_seq_out_of_range_is_torn, test_odd_seq_without_lock_is_published_torn,
                test_stream_seq_out_of_range_is_torn, test_forged_lock_is_broken_within_the_lease,
                test_forged_lock_is_broken_after_restart, test_expired_lease_is_broken_at_once,
                test_moved_cursor_does_not_move_the_subscriber,
                test_ended_subscription_does_not_take_a_reused_entry,
                test_subscriber_table_scribbles_hold_nothing, test_roster_is_sealed));
        tcase_add_checked_fixture(tc, setup, teardown);
        return tshm_test_run(s);
}
