/*
 * wait_any.c - tshm_wait_any(): one waiter on the wake-up words of several
 * segments and subscriptions.
 *
 * Each item's readiness is what the call it stands for looks at before it
 * sleeps (tshm_wait(), tshm_sub_take()); its wake-up word is its header's
 * @wake, which every publish bumps (segsync/sync.c). The waiter follows the
 * protocol of tshm__sync_wait() for every item at once: it counts itself in
 * each stream's @sleepers, then reads every @wake before it looks at any
 * counter, and sleeps on all the words with the values it read. A publish
 * after its look bumps a word, so futex_waitv(2) returns at once or is woken:
 * no wake-up is lost, for the reasons sync.c gives for one word.
 *
 * Where futex_waitv is missing (Linux < 5.16), the fallback sleeps with
 * FUTEX_WAIT on the first item's word alone, in slices of
 * WAIT_ANY_FALLBACK_SLICE_NS, and looks at every item after each: the first
 * item wakes it at once, the others within a slice (plus scheduling).
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#include "header.h"
#include "sync.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* the same number on every architecture */
#endif

_Static_assert(TSHM_WAIT_ANY_MAX <= FUTEX_WAITV_MAX, "one futex_waitv call for every item");

/* The fallback's slice: the latency bound of every item but the first. */
#define WAIT_ANY_FALLBACK_SLICE_NS ((uint64_t)1000 * 1000)
/* How often a wait with a stream that it could not count itself in (no
 * subscriber table) looks again, as tshm_wait() does (client/sync.c). */
#define WAIT_ANY_POLL_NS ((uint64_t)1000 * 1000)
/* How long a wait counted in a stream's @sleepers trusts the count before it
 * looks again (segsync/sync.c: a hostile subscriber may zero it). */
#define WAIT_ANY_COUNTED_SLICE_NS ((uint64_t)50 * 1000 * 1000)

/* 1: use the fallback; 0: futex_waitv. Set once from the environment, then
 * by tshm__wait_any_force_fallback() or by a futex_waitv that said ENOSYS. */
static int wait_any_use_fallback;
static pthread_once_t wait_any_once = PTHREAD_ONCE_INIT;

static void
wait_any_init(void)
{
        const char *env = getenv("TSHM_WAIT_ANY_FALLBACK");

        if (env != NULL && strcmp(env, "1") == 0) {
                __atomic_store_n(&wait_any_use_fallback, 1, __ATOMIC_RELAXED);
        }
}

bool
tshm__wait_any_fallback(void)
{
        (void)pthread_once(&wait_any_once, wait_any_init);
        return __atomic_load_n(&wait_any_use_fallback, __ATOMIC_RELAXED) != 0;
}

void
tshm__wait_any_force_fallback(bool on)
{
        (void)pthread_once(&wait_any_once, wait_any_init);
        __atomic_store_n(&wait_any_use_fallback, on ? 1 : 0, __ATOMIC_RELAXED);
}

/* The segment whose wake word @it sleeps on. */
static tshm_seg *
wait_any_seg(const tshm_waitable *it)
{
        return it->seg != NULL ? it->seg : tshm_sub_seg(it->sub);
}

static int
wait_any_check(const tshm_waitable *items, size_t n)
{
        size_t i;

        if (items == NULL || n == 0 || n > TSHM_WAIT_ANY_MAX) {
                return TSHM_EINVAL;
        }
        for (i = 0; i < n; i++) {
                const tshm_waitable *it = &items[i];

                if ((it->seg == NULL) == (it->sub == NULL) || it->reserved0 != 0 ||
                    it->reserved[0] != 0 || it->reserved[1] != 0) {
                        return TSHM_EINVAL;
                }
        }
        return 0;
}

/* Whether @it is ready (1), not (0), or TSHM_EINVAL (a sub holding a frame). */
static int
wait_any_ready(const tshm_waitable *it)
{
        const struct tshm__hdr *hdr;
        uint64_t s, after;

        if (it->sub != NULL) {
                return tshm__sub_ready(it->sub, &after);
        }
        /* tshm__sync_wait()'s looks, with stop_on_unlink. */
        hdr = it->seg->map;
        s = __atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST);
        if (!tshm__seq_ok(s) || (!(s & 1u) && s > it->after_seq) ||
            (__atomic_load_n(&hdr->state, __ATOMIC_SEQ_CST) & TSHM_SYNC_UNLINKED)) {
                return 1;
        }
        return 0;
}

/* Mark every item; the number ready, or TSHM_EINVAL with none marked. */
static int
wait_any_mark(tshm_waitable *items, size_t n)
{
        uint32_t ready[TSHM_WAIT_ANY_MAX];
        int count = 0, rv;
        size_t i;

        for (i = 0; i < n; i++) {
                if ((rv = wait_any_ready(&items[i])) < 0) {
                        return rv;
                }
                ready[i] = (uint32_t)rv;
                count += rv;
        }
        for (i = 0; i < n; i++) {
                items[i].ready = ready[i];
        }
        return count;
}

/* The words to sleep on, each once, with the values just read. */
struct wait_any_set {
        struct futex_waitv w[TSHM_WAIT_ANY_MAX];
        size_t n;
};

static void
wait_any_load(struct wait_any_set *set, const tshm_waitable *items, size_t n)
{
        size_t i, j;

        set->n = 0;
        for (i = 0; i < n; i++) {
                struct tshm__hdr *hdr = wait_any_seg(&items[i])->map;
                uint64_t addr = (uint64_t)(uintptr_t)&hdr->wake;

                for (j = 0; j < set->n && set->w[j].uaddr != addr; j++) {
                }
                if (j < set->n) {
                        continue; /* the same handle twice: one word to watch */
                }
                memset(&set->w[set->n], 0, sizeof(set->w[set->n]));
                set->w[set->n].uaddr = addr;
                set->w[set->n].val = __atomic_load_n(&hdr->wake, __ATOMIC_SEQ_CST);
                /* Shared (no FUTEX_PRIVATE_FLAG): other processes wake it. */
                set->w[set->n].flags = FUTEX_32;
                set->n++;
        }
}

/* Sleep on every word of @set until one changes or is woken, or until
 * @until_ns (CLOCK_MONOTONIC, UINT64_MAX: none). Returns 0 for any of
 * these, a signal or a word that differed already; -ENOSYS where the kernel
 * lacks the call (-EPERM where a seccomp filter refuses it); else -errno. */
static int
wait_any_waitv(struct wait_any_set *set, uint64_t until_ns)
{
        struct timespec ts, *tsp = NULL;

        if (until_ns != UINT64_MAX) {
                ts.tv_sec = (time_t)(until_ns / 1000000000u);
                ts.tv_nsec = (long)(until_ns % 1000000000u);
                tsp = &ts;
        }
        /* The timeout is absolute, on the clock named last. */
        if (syscall(SYS_futex_waitv, set->w, (unsigned)set->n, 0u, tsp, CLOCK_MONOTONIC) < 0 &&
            errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT) {
                return tshm__futex_fault(errno); /* EFAULT: a word's page was cut */
        }
        return 0;
}

/* The sleeping loop of tshm_wait_any(), once counted; see the top. */
static int
wait_any_sleep(tshm_waitable *items, size_t n, uint64_t deadline, uint64_t slice_ns)
{
        struct wait_any_set set;
        int rv;

        for (;;) {
                uint64_t now, until;

                wait_any_load(&set, items, n);
                if ((rv = wait_any_mark(items, n)) != 0) {
                        return rv;
                }
                now = tshm__mono_ns();
                if (deadline != UINT64_MAX && now >= deadline) {
                        return TSHM_ETIMEDOUT;
                }
                if (tshm__wait_any_fallback()) {
                        uint64_t s = WAIT_ANY_FALLBACK_SLICE_NS;

                        if (slice_ns != 0 && slice_ns < s) {
                                s = slice_ns;
                        }
                        rv = tshm__futex_wait((uint32_t *)(uintptr_t)set.w[0].uaddr,
                                              (uint32_t)set.w[0].val, deadline, s);
                        if (rv < 0 && rv != TSHM_ETIMEDOUT) {
                                return rv;
                        }
                        continue;
                }
                until = deadline;
                if (slice_ns != 0 && (deadline == UINT64_MAX || deadline - now > slice_ns)) {
                        until = now + slice_ns;
                }
                if ((rv = wait_any_waitv(&set, until)) == -ENOSYS || rv == -EPERM) {
                        /* An older kernel, or a seccomp filter that does not
                         * know the call (container runtimes' default
                         * profiles answer EPERM for those): from now on, the
                         * fallback. */
                        tshm__wait_any_force_fallback(true);
                } else if (rv < 0) {
                        return rv;
                }
        }
}

int
tshm_wait_any(tshm_waitable *items, size_t n, int timeout_ms)
{
        uint32_t *sleepers[TSHM_WAIT_ANY_MAX];
        uint64_t deadline, slice_ns = 0;
        size_t i;
        int rv;

        if ((rv = wait_any_check(items, n)) < 0) {
                return rv;
        }
        /* Ready already: no clock read, no count. */
        if ((rv = wait_any_mark(items, n)) != 0) {
                return rv;
        }
        deadline = tshm__deadline_ns(timeout_ms);
        if (timeout_ms == 0) {
                return TSHM_ETIMEDOUT;
        }
        /* Count ourselves in every counted stream before the looks of the
         * sleeping loop (segsync/sync.c). */
        for (i = 0; i < n; i++) {
                bool poll;

                sleepers[i] = tshm__stream_sleepers(wait_any_seg(&items[i]), &poll);
                if (poll) {
                        slice_ns = WAIT_ANY_POLL_NS;
                } else if (sleepers[i] != NULL) {
                        (void)__atomic_add_fetch(sleepers[i], 1, __ATOMIC_SEQ_CST);
                        if (slice_ns == 0) {
                                slice_ns = WAIT_ANY_COUNTED_SLICE_NS;
                        }
                }
        }
        rv = wait_any_sleep(items, n, deadline, slice_ns);
        for (i = 0; i < n; i++) {
                if (sleepers[i] != NULL) {
                        (void)__atomic_sub_fetch(sleepers[i], 1, __ATOMIC_SEQ_CST);
                }
        }
        if (rv == TSHM_ETIMEDOUT) {
                for (i = 0; i < n; i++) {
                        items[i].ready = 0;
                }
        }
        return rv;
}
