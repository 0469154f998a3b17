/*
 * test_publish.c - publish and wait across processes: waits wake on a
 * publish and time out without one; a write killed with -9 does not block
 * other writers or readers and its version reads as torn; an unlink wakes a
 * waiter with ENOENT; concurrent writers lose no update; and the torn-read stress: a producer
 * writing patterned frames as fast as it can while consumers check every version they read.
 *
 * TSHM_STRESS_FRAMES (default 100000) frames in the stress test.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

FIXTURE_PER_TEST(f)

static double
now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static tshm_seg *
make(tshm_client *c, const char *name, uint64_t n)
{
        tshm_seg *s;

        ck_assert_int_eq(tshm_create(c, name, TSHM_DTYPE_INT64, 1, (uint64_t[]){n}, 0, 0, &s), 0);
        return s;
}

static tshm_seg *
open_seg(const char *name, unsigned flags)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s;

        ck_assert_int_eq(tshm_open(c, name, flags, &s), 0);
        /* The mapping outlives the client. */
        tshm_disconnect(c);
        return s;
}

START_TEST(test_publish_numbers_and_wait)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make(c, "pub", 4), *r = open_seg("pub", TSHM_OPEN_RDONLY);
        double t0;
        pid_t pid;
        int status;

        ck_assert_uint_eq(tshm_seg_seq(r), 0);
        ck_assert_int_eq(tshm_wait(r, 0, 0), TSHM_ETIMEDOUT);
        t0 = now_s();
        ck_assert_int_eq(tshm_wait(r, 0, 100), TSHM_ETIMEDOUT);
        ck_assert(now_s() - t0 >= 0.09);
        /* Read-only mappings neither write nor begin a write. */
        ck_assert_int_eq(tshm_write_begin(r, 0), TSHM_EACCES);
        ck_assert_int_eq(tshm_write_end(s), TSHM_EINVAL);

        ck_assert_int_eq(tshm_write_begin(s, 0), 0);
        ck_assert_uint_eq(tshm_seg_seq(r), 1);
        ck_assert_int_eq(tshm_write_begin(s, 0), TSHM_EINVAL);
        ((int64_t *)tshm_seg_data(s))[0] = 7;
        ck_assert_int_eq(tshm_write_end(s), 2);
        ck_assert_int_eq(tshm_wait(r, 0, 0), 2);
        ck_assert(tshm_seg_publish_ns(r) > 0);

        /* A waiter in another process wakes on the next publish. */
        pid = tshm_test_fork();
        if (pid == 0) {
                int64_t got = tshm_wait(r, 2, 10000);
                _exit(got == 4 && ((int64_t *)tshm_seg_data(r))[0] == 8 ? 0 : 1);
        }
        usleep(100 * 1000);
        ck_assert_int_eq(tshm_write_begin(s, 1000), 0);
        ((int64_t *)tshm_seg_data(s))[0] = 8;
        ck_assert_int_eq(tshm_write_end(s), 4);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* An aborted write is published torn; the next whole one clears it. */
        ck_assert_int_eq(tshm_write_begin(s, 0), 0);
        ck_assert_int_eq(tshm_write_abort(s), 6);
        ck_assert_int_eq(tshm_read_begin(r, 0), 6);
        ck_assert_int_eq(tshm_read_retry(r, 6), TSHM_ETORN);
        ck_assert_int_eq(tshm_write_begin(s, 0), 0);
        ck_assert_int_eq(tshm_write_end(s), 8);
        ck_assert_int_eq(tshm_read_retry(r, 8), 0);
        ck_assert_int_eq(tshm_read_retry(r, 6), 1);

        /* A read that overlaps a write must be retried. */
        ck_assert_int_eq(tshm_read_begin(r, 0), 8);
        ck_assert_int_eq(tshm_write_begin(s, 0), 0);
        ck_assert_int_eq(tshm_read_retry(r, 8), 1);
        ck_assert_int_eq(tshm_read_begin(r, 50), TSHM_ETIMEDOUT);
        ck_assert_int_eq(tshm_write_end(s), 10);

        tshm_close(r);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* A child that opens @name, begins a write, writes half, says so and
 * waits to be killed. */
static pid_t
dying_writer(const char *name)
{
        int pfd[2];
        char ok;
        pid_t pid;

        ck_assert_int_eq(pipe(pfd), 0);
        pid = tshm_test_fork();
        if (pid == 0) {
                tshm_client *c;
                tshm_seg *s;
                if (tshm_connect(f.socket, &c) < 0 || tshm_open(c, name, TSHM_OPEN_RDWR, &s) < 0 ||
                    tshm_write_begin(s, 1000) < 0) {
                        _exit(1);
                }
                ((int64_t *)tshm_seg_data(s))[0] = -1;
                (void)!write(pfd[1], "k", 1);
                pause();
                _exit(0);
        }
        close(pfd[1]);
        ck_assert_int_eq(read(pfd[0], &ok, 1), 1);
        close(pfd[0]);
        return pid;
}

START_TEST(test_writer_killed_mid_update)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make(c, "crash", 4), *r = open_seg("crash", TSHM_OPEN_RDONLY);
        int64_t seq;
        double t0;
        pid_t pid;
        int status;

        ck_assert_int_eq(tshm_write_begin(s, 0), 0);
        ck_assert_int_eq(tshm_write_end(s), 2);

        /* The daemon breaks the lock when the dead writer's connection
         * closes: a reader waiting for the version sees it, torn. */
        pid = dying_writer("crash");
        ck_assert_uint_eq(tshm_seg_seq(r), 3);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        /* Not reaped yet: a zombie has exited, and tshmd (watching its
         * pidfd) breaks the lock all the same. */
        t0 = now_s();
        seq = tshm_wait(r, 2, 5000);
        ck_assert_int_eq(seq, 4);
        ck_assert(now_s() - t0 < 5.0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_int_eq(tshm_read_retry(r, (uint64_t)seq), TSHM_ETORN);
        ck_assert_int_eq(tshm_write_begin(s, 1000), 0);
        ck_assert_int_eq(tshm_write_end(s), 6);
        ck_assert_int_eq(tshm_read_retry(r, 6), 0);

        /* Without the daemon (killed too), the next writer finds the holder
         * gone and breaks the lock itself. */
        pid = dying_writer("crash");
        kill(f.pid, SIGKILL);
        waitpid(f.pid, &status, 0);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        /* A zombie holder is as dead as a reaped one to the next writer. */
        t0 = now_s();
        ck_assert_int_eq(tshm_write_begin(s, 5000), 0);
        ck_assert(now_s() - t0 < 1.0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        /* The dead writer's version (8) was published torn, ours is next. */
        ck_assert_int_eq(tshm_write_end(s), 10);
        ck_assert_int_eq(tshm_read_retry(r, 10), 0);
        fixture_restart(&f, NULL);

        tshm_close(r);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* A process may close its connection and go on writing through its
 * mapping: its lock is not broken for that. */
START_TEST(test_disconnected_writer_keeps_lock)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make(c, "disc", 4), *w;

        for (int i = 0; i < 50; i++) {
                w = open_seg("disc", TSHM_OPEN_RDWR); /* connects, opens, disconnects */
                ck_assert_int_eq(tshm_write_begin(w, 1000), 0);
                usleep(2000); /* tshmd sees the connection close meanwhile */
                ck_assert_int_eq(tshm_write_end(w), 2L * (i + 1));
                tshm_close(w);
        }
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* A daemon that stops cleanly has not seen its writers die: a write in
 * progress across a restart publishes whole. */
START_TEST(test_clean_stop_keeps_writer_lock)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make(c, "keep", 4);

        ck_assert_int_eq(tshm_write_begin(s, 0), 0);
        fixture_stop(&f);
        fixture_restart(&f, NULL);
        ck_assert_int_eq(tshm_write_end(s), 2);
        ck_assert_int_eq(tshm_read_retry(s, 2), 0);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

START_TEST(test_unlink_wakes_waiters)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make(c, "gone", 4), *r = open_seg("gone", TSHM_OPEN_RDONLY);
        pid_t pid;
        int status;

        pid = tshm_test_fork();
        if (pid == 0) {
                struct timespec t0, t1;
                int64_t rv;

                clock_gettime(CLOCK_MONOTONIC, &t0);
                rv = tshm_wait(r, 0, 10000);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                /* Woken by the unlink, not by the end of the 10 s timeout
                 * (which would find the unlinked bit and answer the same):
                 * the wake-up must arrive well before it. */
                _exit(rv != TSHM_ENOENT ? 1 : t1.tv_sec - t0.tv_sec >= 3 ? 2 : 0);
        }
        usleep(100 * 1000);
        ck_assert_int_eq(tshm_unlink(c, "gone"), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "waiter status %d (exit 2: woken only by its timeout)", status);
        ck_assert_int_eq(tshm_wait(r, 0, -1), TSHM_ENOENT);
        /* Nothing more is published on a segment whose name is gone. */
        ck_assert_int_eq(tshm_write_begin(s, 0), TSHM_ENOENT);
        tshm_close(r);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* Writers in 4 processes (2 threads' worth of contention each) increment a
 * counter under the writer lock: no increment is lost, every version is
 * published once. */
START_TEST(test_writers_are_serialised)
{
        const int procs = 4, rounds = 2000;
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make(c, "multi", 2);
        pid_t pids[4];
        int i, status;

        for (i = 0; i < procs; i++) {
                pids[i] = tshm_test_fork();
                if (pids[i] == 0) {
                        tshm_seg *w = open_seg("multi", TSHM_OPEN_RDWR);
                        volatile int64_t *a = tshm_seg_data(w);
                        for (int k = 0; k < rounds; k++) {
                                if (tshm_write_begin(w, 10000) < 0) {
                                        _exit(1);
                                }
                                /* A read-modify-write that a second writer
                                 * inside the bracket would break. */
                                int64_t v = a[0];
                                a[1] = v;
                                a[0] = v + 1;
                                if (tshm_write_end(w) < 0) {
                                        _exit(2);
                                }
                        }
                        _exit(0);
                }
        }
        for (i = 0; i < procs; i++) {
                ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        ck_assert_int_eq(((int64_t *)tshm_seg_data(s))[0], (int64_t)procs * rounds);
        ck_assert_uint_eq(tshm_seg_seq(s), 2u * (uint64_t)(procs * rounds));
        /* A held lock makes another writer time out, not hang. */
        ck_assert_int_eq(tshm_write_begin(s, 0), 0);
        pids[0] = tshm_test_fork();
        if (pids[0] == 0) {
                tshm_seg *w = open_seg("multi", TSHM_OPEN_RDWR);
                _exit(tshm_write_begin(w, 100) == TSHM_ETIMEDOUT ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pids[0], &status, 0), pids[0]);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert_int_gt(tshm_write_end(s), 0);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

#define STRESS_N 8192 /* int64 elements: 64 KiB a frame */

/* A consumer: snapshot versions (in place, with read_begin/read_retry) and
 * check each is whole: every element equal. Exits 0 if none was torn. */
static void
stress_consumer(const char *name, int waiting, uint64_t frames)
{
        tshm_seg *s = open_seg(name, TSHM_OPEN_RDONLY);
        const int64_t *a = tshm_seg_data(s);
        static int64_t copy[STRESS_N];
        uint64_t checked = 0, last = 0;

        for (;;) {
                int64_t seq = waiting ? tshm_wait(s, last, 10000) : tshm_read_begin(s, 10000);
                int rv;

                if (seq < 0) {
                        _exit(2);
                }
                if (waiting && (seq = tshm_read_begin(s, 10000)) < 0) {
                        _exit(2);
                }
                memcpy(copy, a, sizeof(copy));
                rv = tshm_read_retry(s, (uint64_t)seq);
                if (rv == 1) {
                        continue;
                }
                if (rv != 0) {
                        _exit(3);
                }
                for (size_t i = 0; i < STRESS_N; i++) {
                        /* Frame n is published as seq 2n. */
                        if (copy[i] != seq / 2) {
                                fprintf(stderr, "torn: seq %lld element %zu = %lld\n",
                                        (long long)seq, i, (long long)copy[i]);
                                _exit(4);
                        }
                }
                checked++;
                last = (uint64_t)seq;
                if ((uint64_t)seq / 2 >= frames) {
                        break;
                }
        }
        printf("consumer (%s): %llu whole versions checked\n", waiting ? "wait" : "poll",
               (unsigned long long)checked);
        fflush(stdout);
        _exit(checked > 0 ? 0 : 5);
}

START_TEST(test_torn_read_stress)
{
        const char *env = getenv("TSHM_STRESS_FRAMES");
        uint64_t frames = env != NULL ? strtoull(env, NULL, 10) : 100000, n;
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make(c, "stress", STRESS_N);
        int64_t *a = tshm_seg_data(s);
        pid_t pids[4];
        double t0;
        int i, status;

        for (i = 0; i < 4; i++) {
                pids[i] = tshm_test_fork();
                if (pids[i] == 0) {
                        stress_consumer("stress", i % 2, frames);
                }
        }
        t0 = now_s();
        for (n = 1; n <= frames; n++) {
                ck_assert_int_eq(tshm_write_begin(s, 1000), 0);
                for (size_t k = 0; k < STRESS_N; k++) {
                        a[k] = (int64_t)n;
                }
                ck_assert_int_eq(tshm_write_end(s), (int64_t)(2 * n));
        }
        printf("producer: %llu frames of 64 KiB in %.2f s\n", (unsigned long long)frames,
               now_s() - t0);
        for (i = 0; i < 4; i++) {
                ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                              "consumer %d: status %#x", i, status);
        }
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("publish");
        TCase *tc;

        tc = tshm_test_case(s, "publish", 240,
                            TSHM_TESTS(test_publish_numbers_and_wait, test_writer_killed_mid_update,
                                       test_clean_stop_keeps_writer_lock,
                                       test_disconnected_writer_keeps_lock,
                                       test_unlink_wakes_waiters, test_writers_are_serialised,
                                       test_torn_read_stress));
        tcase_add_checked_fixture(tc, setup, teardown);
        return tshm_test_run(s);
}
