/*
 * stress.h - helpers shared by the fault-injection tests: a seeded PRNG,
 * data patterns, the daemon-versus-/dev/shm consistency check, bounded
 * waits, and a sentinel that kills what a failed test left running.
 *
 * The tests never assert timings: every wait is a poll with a generous bound,
 * so they pass on a loaded two-core machine and fail only when something is
 * wrong (or stuck).
 */
#ifndef TSHM_STRESS_H
#define TSHM_STRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tshm.h"

#include "fixture.h"

/* A splitmix64 generator: tiny, seedable, and good enough to pick sizes,
 * names and delays. */
struct stress_rng {
        uint64_t state;
};

void stress_rng_seed(struct stress_rng *r, uint64_t seed);
uint64_t stress_rng_next(struct stress_rng *r);
/* A number in [0, n); 0 when n is 0. */
uint64_t stress_rng_below(struct stress_rng *r, uint64_t n);

/* The seed of a run: $TSHM_STRESS_SEED if set, else taken from the clock
 * and the pid. Printed with @what, so that a failure can be replayed. */
uint64_t stress_seed(const char *what);
/* An unsigned setting from the environment, or @def. */
uint64_t stress_env_u64(const char *name, uint64_t def);

/* The 64-bit word a writer puts at @index of a segment whose pattern seed is
 * @seed, in generation @gen. */
uint64_t stress_pattern(uint64_t seed, uint64_t index, uint64_t gen);

void stress_sleep_us(uint64_t us);
/* Milliseconds on the monotonic clock. */
int64_t stress_now_ms(void);

/*
 * Whether the daemon's view and /dev/shm agree: every listed segment has its
 * object /dev/shm/<prefix>.<name> with the listed size, and every object
 * under the prefix is listed; no handle is open (stats.opens and each
 * segment's opens are 0); stats.segments is the listed count and stats.bytes
 * the sum of the listed sizes; stats.clients is @clients. When they do not
 * agree, says why in @why.
 */
bool stress_consistent(const struct tshmd_fixture *f, tshm_client *c, uint64_t clients, char *why,
                       size_t whylen);
/* Poll stress_consistent() for up to @timeout_ms; fail the test (with the
 * last reason) if it never holds. */
void stress_assert_consistent(const struct tshmd_fixture *f, tshm_client *c, uint64_t clients,
                              int timeout_ms);
/* Create, write, stat, close and unlink a probe segment, asserting each
 * step: the daemon still serves. */
void stress_assert_serves(tshm_client *c);

/*
 * The sentinel. A failed check assertion ends the test process at once, which
 * would leave tshmd and client processes running and objects in /dev/shm.
 * stress_sentinel_init() (in main, before the runner forks) makes a page
 * shared with every test process; stress_sentinel_track() records a fixture
 * there (again after each restart), and stress_sentinel_cleanup(), added as
 * an unchecked teardown, kills and removes whatever is still recorded.
 * fixture_teardown() leaves nothing, so after a passing test it does nothing.
 * stress_sentinel_init() also makes stdout line-buffered.
 */
void stress_sentinel_init(void);
void stress_sentinel_track(const struct tshmd_fixture *f);
void stress_sentinel_cleanup(void);

/* In a forked client: die with the test process, so that a failed test
 * leaves no client looping. */
void stress_child_init(pid_t parent);

/* The exit status of a process as words, for messages. */
const char *stress_status_str(int status, char *buf, size_t len);

#endif
