/*
 * test_fault_clients.c - clients killed with SIGKILL at random points of
 * create, open, write, close and unlink. Round after round a forked client
 * churns through a small pool of names (so it meets what earlier victims left
 * behind) and is killed after a random 0-5 ms; the daemon's view must keep
 * matching /dev/shm, every handle of a dead client must be dropped, and the
 * daemon must keep serving.
 *
 * TSHM_STRESS_SEED replays a run; TSHM_STRESS_ROUNDS (default 500) and
 * TSHM_STRESS_CHECK_EVERY (default 10) size it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "stress.h"

#define NAMES 16 /* the pool every victim draws names from */
#define HELD 4   /* handles a victim keeps at once */
#define SETTLE_MS 30000

/* Operations the current victim completed, in a page shared with it: the
 * report says how far victims got before the kill. */
static uint64_t *victim_ops;

/* A victim's unexpected failure: say what and exit with a code the parent
 * reports (a victim is supposed to die only by SIGKILL). */
static void
victim_fail(tshm_client *c, const char *what, const char *name, int rv)
{
        fprintf(stderr, "victim %d: %s '%s': %s (%s)\n", (int)getpid(), what, name,
                tshm_err_name(rv), c != NULL ? tshm_errmsg(c) : "");
        _exit(20);
}

static void
victim_hold(tshm_seg **held, struct stress_rng *r, tshm_seg *s)
{
        size_t slot = (size_t)stress_rng_below(r, HELD);

        if (held[slot] != NULL) {
                (void)tshm_close(held[slot]);
        }
        held[slot] = s;
}

static void
victim_create(tshm_client *c, struct stress_rng *r, const char *name, tshm_seg **held)
{
        static const tshm_dtype dtypes[] = {TSHM_DTYPE_UINT8, TSHM_DTYPE_INT32, TSHM_DTYPE_FLOAT64};
        tshm_dtype dt = dtypes[stress_rng_below(r, 3)];
        uint64_t bytes, n;
        unsigned flags = stress_rng_below(r, 6) == 0 ? TSHM_CREATE_EPHEMERAL : 0;
        tshm_seg *s;
        int rv;

        /* Mostly small (made on the daemon's loop); one in 16 over 1 MiB,
         * made in its thread pool. */
        if (stress_rng_below(r, 16) == 0) {
                bytes = (1u << 20) + stress_rng_below(r, 2u << 20);
        } else {
                bytes = stress_rng_below(r, 256u << 10);
        }
        n = bytes / tshm_dtype_itemsize(dt);
        rv = tshm_create(c, name, dt, 1, &n, 0600, flags, &s);
        if (rv == TSHM_EEXIST) {
                return;
        }
        if (rv < 0) {
                victim_fail(c, "create", name, rv);
        }
        memset(tshm_seg_data(s), (int)(n & 0xff), (size_t)tshm_seg_nbytes(s));
        victim_hold(held, r, s);
}

static void
victim_open(tshm_client *c, struct stress_rng *r, const char *name, tshm_seg **held)
{
        unsigned flags = stress_rng_below(r, 2) == 0 ? TSHM_OPEN_RDWR : TSHM_OPEN_RDONLY;
        const volatile uint8_t *p;
        tshm_seg *s;
        uint64_t i, sum = 0;
        int rv;

        rv = tshm_open(c, name, flags, &s);
        if (rv == TSHM_ENOENT) {
                return;
        }
        if (rv < 0) {
                victim_fail(c, "open", name, rv);
        }
        if (flags == TSHM_OPEN_RDWR) {
                memset(tshm_seg_data(s), 0x77, (size_t)tshm_seg_nbytes(s));
        } else {
                p = tshm_seg_data(s);
                for (i = 0; i < tshm_seg_nbytes(s); i += 4096) {
                        sum += p[i];
                }
                (void)sum;
        }
        victim_hold(held, r, s);
}

/* The victim: churn until killed. Never returns. */
static void
victim_run(const char *socket, uint64_t seed)
{
        tshm_seg *held[HELD] = {NULL};
        struct stress_rng r;
        tshm_client *c = NULL;
        tshm_info info;
        char name[16];
        size_t slot;
        int rv;

        stress_rng_seed(&r, seed);
        if ((rv = tshm_connect(socket, &c)) < 0) {
                victim_fail(NULL, "connect", socket, rv);
        }
        for (;;) {
                __atomic_fetch_add(victim_ops, 1, __ATOMIC_RELAXED);
                snprintf(name, sizeof(name), "k%02u", (unsigned)stress_rng_below(&r, NAMES));
                switch (stress_rng_below(&r, 8)) {
                case 0:
                case 1:
                        victim_create(c, &r, name, held);
                        break;
                case 2:
                case 3:
                        victim_open(c, &r, name, held);
                        break;
                case 4:
                        slot = (size_t)stress_rng_below(&r, HELD);
                        if (held[slot] != NULL && (rv = tshm_close(held[slot])) < 0) {
                                victim_fail(c, "close", tshm_seg_name(held[slot]), rv);
                        }
                        held[slot] = NULL;
                        break;
                case 5:
                        if ((rv = tshm_unlink(c, name)) < 0 && rv != TSHM_ENOENT) {
                                victim_fail(c, "unlink", name, rv);
                        }
                        break;
                case 6:
                        if ((rv = tshm_stat(c, name, &info)) < 0 && rv != TSHM_ENOENT) {
                                victim_fail(c, "stat", name, rv);
                        }
                        break;
                default: {
                        tshm_info *all;
                        size_t n;
                        if ((rv = tshm_list(c, NULL, &all, &n)) < 0) {
                                victim_fail(c, "list", "", rv);
                        }
                        tshm_list_free(all);
                        break;
                }
                }
        }
}

START_TEST(test_fault_clients_kill9_at_random_points)
{
        uint64_t rounds = stress_env_u64("TSHM_STRESS_ROUNDS", 500);
        uint64_t every = stress_env_u64("TSHM_STRESS_CHECK_EVERY", 10);
        uint64_t seed = stress_seed("fault_kill_clients"), round, ops, ops_total = 0, ops_max = 0;
        uint64_t ops_none = 0;
        struct tshmd_fixture f;
        struct stress_rng r;
        tshm_info *all;
        tshm_client *c;
        tshm_daemon_info st;
        char sbuf[64];
        size_t n, i;
        int status;
        pid_t me = getpid(), pid;

        stress_rng_seed(&r, seed);
        victim_ops = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert(victim_ops != MAP_FAILED);
        fixture_start(&f, NULL);
        stress_sentinel_track(&f);
        c = fixture_connect(&f);
        for (round = 0; round < rounds; round++) {
                uint64_t child_seed = stress_rng_next(&r);
                uint64_t delay_us = stress_rng_below(&r, 5001);

                __atomic_store_n(victim_ops, 0, __ATOMIC_RELAXED);
                pid = tshm_test_fork();
                if (pid == 0) {
                        stress_child_init(me);
                        victim_run(f.socket, child_seed);
                }
                stress_sleep_us(delay_us);
                ck_assert_int_eq(kill(pid, SIGKILL), 0);
                ck_assert_int_eq(waitpid(pid, &status, 0), pid);
                ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                              "round %llu (seed %llu): the victim %s before it was killed",
                              (unsigned long long)round, (unsigned long long)seed,
                              stress_status_str(status, sbuf, sizeof(sbuf)));
                ops = __atomic_load_n(victim_ops, __ATOMIC_RELAXED);
                ops_total += ops;
                ops_max = ops > ops_max ? ops : ops_max;
                ops_none += ops == 0;
                if (every > 0 && (round + 1) % every == 0) {
                        stress_assert_serves(c);
                        stress_assert_consistent(&f, c, 1, SETTLE_MS);
                }
        }
        stress_assert_serves(c);
        stress_assert_consistent(&f, c, 1, SETTLE_MS);
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        printf("fault_kill_clients: %llu rounds, each victim killed by SIGKILL; victims began "
               "%llu operations (max %llu in one round; %llu killed before their first); %llu "
               "segments survive, %llu bytes, %llu requests served\n",
               (unsigned long long)rounds, (unsigned long long)ops_total,
               (unsigned long long)ops_max, (unsigned long long)ops_none,
               (unsigned long long)st.segments, (unsigned long long)st.bytes,
               (unsigned long long)st.requests);
        /* Unlink everything: nothing may stay behind in /dev/shm. */
        ck_assert_int_eq(tshm_list(c, NULL, &all, &n), 0);
        for (i = 0; i < n; i++) {
                ck_assert_int_eq(tshm_unlink(c, all[i].name), 0);
        }
        tshm_list_free(all);
        stress_assert_consistent(&f, c, 1, SETTLE_MS);
        ck_assert_int_eq(tshm_daemon_stat(c, &st), 0);
        ck_assert_uint_eq(st.segments, 0);
        ck_assert_uint_eq(st.bytes, 0);
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
        (void)munmap(victim_ops, 4096);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("fault_clients");
        TCase *tc;

        stress_sentinel_init();
        tc = tshm_test_case(s, "kill9", 280, TSHM_TESTS(test_fault_clients_kill9_at_random_points));
        tcase_add_unchecked_fixture(tc, NULL, stress_sentinel_cleanup);
        return tshm_test_run(s);
}
