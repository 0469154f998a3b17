/*
 * sync.c - publish and wait on a mapped segment: the public side of the
 * seqlock whose protocol segsync/sync.c describes.
 */
#include <unistd.h>

#include "internal.h"

#include "header.h"
#include "sync.h"

/* How often tshm_wait looks at a stream it cannot count itself in. */
#define SYNC_POLL_NS ((uint64_t)1000 * 1000)

int
tshm_write_begin(tshm_seg *seg, int timeout_ms)
{
        struct tshm__hdr *hdr = seg->map;
        uint32_t tid = tshm__tid();
        uint64_t s;
        int rv;

        if (!seg->writable) {
                return TSHM_EACCES;
        }
        if (seg->writing || seg->slots != 0) {
                /* A stream's producers loan slots instead. */
                return TSHM_EINVAL;
        }
        if (__atomic_load_n(&hdr->state, __ATOMIC_SEQ_CST) & TSHM_SYNC_UNLINKED) {
                return TSHM_ENOENT;
        }
        if ((rv = tshm__sync_lock(hdr, tid, timeout_ms, &seg->lock_seen)) < 0) {
                return rv;
        }
        s = __atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST);
        if (!tshm__seq_ok(s) || s >= TSHM_SEQ_MAX - 2u) {
                /* A writer stored a counter no reader accepts: publishing
                 * on top of it would only be reported torn. */
                tshm__sync_unlock(hdr);
                return TSHM_ETORN;
        }
        if (s & 1u) {
                /* Odd with the lock free: a writer left a version half
                 * written without holding the lock (forged). Publish it as
                 * torn, as a lock break would, so that the version we write
                 * does not look whole while it is being written. */
                tshm__sync_repair(hdr);
                s = __atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST);
        }
        /* Odd: a write is in progress. The release fence orders this store
         * before every data store that follows, as a reader sees them. */
        __atomic_store_n(&hdr->seq, s + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        seg->writing = true;
        seg->write_tid = tid;
        seg->write_seq = s + 1;
        return 0;
}

/* Publish the version begun as @seg->write_seq, torn or whole. */
static int64_t
sync_publish(tshm_seg *seg, bool torn)
{
        struct tshm__hdr *hdr = seg->map;
        uint64_t next = seg->write_seq + 1;
        bool mine;

        seg->writing = false;
        mine = tshm__sync_still_mine(hdr, seg->write_tid);
        if (!mine) {
                /* Our lease ran out and another broke the lock: it published
                 * our version as torn and may be writing now. */
                return TSHM_ETORN;
        }
        __atomic_store_n(&hdr->publish_ns, tshm__real_ns(), __ATOMIC_RELAXED);
        if (torn) {
                __atomic_store_n(&hdr->torn_seq, next, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&hdr->seq, next, __ATOMIC_SEQ_CST);
        tshm__sync_unlock(hdr);
        tshm__sync_bump(hdr);
        return (int64_t)next;
}

int64_t
tshm_write_end(tshm_seg *seg)
{
        if (!seg->writing) {
                return TSHM_EINVAL;
        }
        return sync_publish(seg, false);
}

int64_t
tshm_write_abort(tshm_seg *seg)
{
        if (!seg->writing) {
                return TSHM_EINVAL;
        }
        return sync_publish(seg, true);
}

int64_t
tshm_wait(tshm_seg *seg, uint64_t after_seq, int timeout_ms)
{
        uint64_t deadline = tshm__deadline_ns(timeout_ms);
        uint32_t *sleepers;
        bool poll;
        int64_t s;

        sleepers = tshm__stream_sleepers(seg, &poll);
        if (!poll) {
                return tshm__sync_wait(seg->map, after_seq, deadline, seg->spin_ns, true, sleepers);
        }
        /* A stream whose publishers wake only counted sleepers, and no table
         * to count in: look every SYNC_POLL_NS instead of sleeping for a
         * wake-up that may not come. */
        for (;;) {
                uint64_t now = tshm__mono_ns(), until = deadline;

                if (deadline > now && deadline - now > SYNC_POLL_NS) {
                        until = now + SYNC_POLL_NS;
                }
                s = tshm__sync_wait(seg->map, after_seq, until, seg->spin_ns, true, NULL);
                if (s != TSHM_ETIMEDOUT || until == deadline) {
                        return s;
                }
        }
}

int64_t
tshm_read_begin(const tshm_seg *seg, int timeout_ms)
{
        struct tshm__hdr *hdr = seg->map;
        uint64_t s;

        if (seg->slots != 0) {
                /* A stream's frames are read with take/release. */
                return TSHM_EINVAL;
        }
        s = __atomic_load_n(&hdr->seq, __ATOMIC_ACQUIRE);
        if (!tshm__seq_ok(s)) {
                return TSHM_ETORN;
        }
        if (!(s & 1u)) {
                return (int64_t)s;
        }
        /* A write is in progress: wait for the version it publishes, even if
         * the segment was unlinked meanwhile (the writer still publishes). */
        return tshm__sync_wait(hdr, s - 1, tshm__deadline_ns(timeout_ms), seg->spin_ns, false,
                               NULL);
}

int
tshm_read_retry(const tshm_seg *seg, uint64_t seq)
{
        const struct tshm__hdr *hdr = seg->map;

        if (seg->slots != 0) {
                return TSHM_EINVAL;
        }
        /* Orders the caller's data loads before the second look at seq. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&hdr->seq, __ATOMIC_RELAXED) != seq || (seq & 1u)) {
                return 1;
        }
        if (seq != 0 && __atomic_load_n(&hdr->torn_seq, __ATOMIC_RELAXED) == seq) {
                return TSHM_ETORN;
        }
        return 0;
}

void
tshm_seg_set_spin(tshm_seg *seg, uint64_t spin_ns)
{
        seg->spin_ns = spin_ns;
        seg->spin_chosen = true;
}

uint64_t
tshm_seg_spin(const tshm_seg *seg)
{
        return seg->spin_ns;
}

uint64_t
tshm_seg_publish_ns(const tshm_seg *seg)
{
        const struct tshm__hdr *hdr = seg->map;

        return __atomic_load_n(&hdr->publish_ns, __ATOMIC_RELAXED);
}
