/*
 * sync.h - the synchronisation line of a segment header: the seqlock, the
 * crash-safe writer lock and futex wake-ups (protocol in sync.c), shared by
 * libtshm and tshmd.
 *
 * segsync/ is the runtime half of what both sides share: unlike proto/,
 * which is pure, this module makes system calls (futex, clock_gettime,
 * kill), reads /proc, reads $TSHM_SPIN_NS and caches thread and process ids
 * in globals. Both libtshm and tshmd link it.
 */
#ifndef TSHM_SYNC_H
#define TSHM_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "header.h"

/* Clocks, in ns: CLOCK_MONOTONIC (leases, deadlines) and CLOCK_REALTIME
 * (publish times). */
uint64_t tshm__mono_ns(void);
uint64_t tshm__real_ns(void);
/* The CLOCK_MONOTONIC deadline @timeout_ms from now; UINT64_MAX for < 0. */
uint64_t tshm__deadline_ns(int timeout_ms);

/* The calling thread's id and its process's, cached (reset in a forked
 * child). */
uint32_t tshm__tid(void);
uint32_t tshm__pid(void);

/* The default spin before a wait sleeps ($TSHM_SPIN_NS, else by CPU count). */
uint64_t tshm__sync_default_spin(void);
/* One pause of a spin-wait loop (the CPU's hint that this is one). */
static inline void
tshm__sync_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
}
/* Whether $TSHM_SPIN_NS chose that default (a user's choice, which the
 * stream hand-off spin respects), rather than the CPU count. */
bool tshm__sync_spin_chosen(void);
/* Whether the host has 2 CPUs or more online (read once): whether a waiter
 * that spins can leave the other end a CPU. */
bool tshm__sync_multi_cpu(void);

/* Sleep on the shared futex @word while it holds @val, until @deadline_ns
 * (UINT64_MAX: none) or at most @slice_ns (0: no slice). Returns 0 when woken,
 * interrupted, timed out within the slice, the word differed, or the word's
 * page was cut away (EFAULT: see tshm__futex_fault); TSHM_ETIMEDOUT when the
 * deadline had passed already; else -errno. */
int tshm__futex_wait(uint32_t *word, uint32_t val, uint64_t deadline_ns, uint64_t slice_ns);
void tshm__futex_wake(uint32_t *word);
/* What a futex wait that failed with errno @err returns: 0 after 1 ms for
 * EFAULT (a hostile writer truncated the object: a spurious wake-up, so the
 * caller looks again), else -@err. */
int tshm__futex_fault(int err);

/* Bump @hdr->wake and wake every waiter: after a publish, a lock break or a
 * change of @hdr->state. */
void tshm__sync_bump(struct tshm__hdr *hdr);
/* After a publish: bump @hdr->wake, and wake its sleepers only if
 * @sleepers (a stream's count, TSHM_HDR_FLAG_WAKE_COUNTED) is not 0; with
 * @sleepers NULL, always (tshm__sync_bump). */
void tshm__sync_publish_wake(struct tshm__hdr *hdr, const uint32_t *sleepers);

/* What a writer waiting for the lock has seen of its holder: the holder's
 * words and when it first saw them. A lease is only a claim the holder
 * wrote; the waiter's own clock bounds it (see tshm__sync_holder_breakable).
 * It lives in the waiter's handle, so that a wait made of several calls (a
 * Python wait in slices) keeps counting; a genuine new holding of the lock,
 * even by the same thread, writes a new lease and starts the count again. */
struct tshm__sync_seen {
        uint32_t lock;     /* the holder's thread id last seen, 0 for none yet */
        uint32_t pid;      /* its lock_pid */
        uint64_t lease;    /* its lease_until */
        uint64_t since_ns; /* CLOCK_MONOTONIC when this holding was first seen */
};

/* Take the writer lock for thread @tid, breaking it from a dead or overdue
 * holder (then the half-written version is published as torn); @seen is the
 * caller's record of the holder (zeroed before the first call). Returns 0,
 * TSHM_ETIMEDOUT, TSHM_ENOENT (unlinked), or -errno. */
int tshm__sync_lock(struct tshm__hdr *hdr, uint32_t tid, int timeout_ms,
                    struct tshm__sync_seen *seen);
/* Take the writer lock for @tid if it is free, without waiting (or reading
 * a clock for a deadline). Returns whether it did. */
bool tshm__sync_trylock(struct tshm__hdr *hdr, uint32_t tid);
/* Release it (the caller holds it), waking writers that wait for it. */
void tshm__sync_unlock(struct tshm__hdr *hdr);
/* Whether @tid still holds the lock (a breaker may have taken it). */
bool tshm__sync_still_mine(const struct tshm__hdr *hdr, uint32_t tid);
/* Whether the thread (or process) @tid is gone: no such thread, or a
 * zombie. */
bool tshm__sync_thread_gone(uint32_t tid);
/* Whether the lock value @holder may be broken: its thread is gone, its
 * lease ran out, or (whatever the lease says: 0, or further away than a
 * lease can be) @seen has watched the same holder for TSHM_WRITE_LEASE_MS. */
bool tshm__sync_holder_breakable(const struct tshm__hdr *hdr, uint32_t holder,
                                 struct tshm__sync_seen *seen);
/* After taking the lock from a broken holder: publish its half-written
 * version (if any) as torn and count the break. */
void tshm__sync_repair(struct tshm__hdr *hdr);

/* Whether @seq, read from a header, is a counter value a reader may use. */
static inline bool
tshm__seq_ok(uint64_t seq)
{
        return seq <= TSHM_SEQ_MAX;
}

/* Wait for an even seq > @after_seq; spin up to @spin_ns first. Before it
 * sleeps it counts itself in @sleepers (the stream's count, or NULL where
 * publishers always wake) until it returns. Returns the
 * seq, TSHM_ETORN if the counter holds a value above TSHM_SEQ_MAX (a writer
 * corrupted it), TSHM_ETIMEDOUT at @deadline, TSHM_ENOENT once unlinked (with
 * @stop_on_unlink; a write in progress still publishes, so a reader waiting
 * for it passes false), or -errno. */
int64_t tshm__sync_wait(struct tshm__hdr *hdr, uint64_t after_seq, uint64_t deadline,
                        uint64_t spin_ns, bool stop_on_unlink, uint32_t *sleepers);

#endif /* TSHM_SYNC_H */
