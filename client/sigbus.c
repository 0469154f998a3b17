/*
 * sigbus.c - survive the moment a hostile writer truncates a segment.
 *
 * Any process holding an O_RDWR descriptor of a shm object can ftruncate()
 * it, and until tshmd's guard (daemon/guard.c) puts the size back, usually
 * within a millisecond, every other process touching a page past the new end
 * gets SIGBUS, whose default action kills it. shm_open objects cannot be
 * sealed, so libtshm closes that window on its side: at the first mapping it
 * installs a SIGBUS handler which, for a fault inside a mapping libtshm made,
 * waits a little and returns. The kernel then re-executes the faulting
 * instruction, which succeeds once the size is back (the page reads as zeros:
 * the bytes past the cut are lost). A fault that lasts longer than
 * SIGBUS_GIVE_UP_NS, and every fault outside libtshm's mappings, goes to the
 * handler that was installed before ours (or to the default action), so that
 * crash reporters such as Python's faulthandler or a sanitizer keep working.
 *
 * The handler only reads a lock-free table of live mappings (a seqlock per
 * slot; chunks of slots are published once and never freed) and a small
 * table of per-thread fault episodes; it calls only async-signal-safe
 * functions (clock_gettime, nanosleep, syscall(gettid), sigaction, raise) and
 * keeps errno.
 *
 * Limits, also stated in docs/security.md: a SIGBUS handler installed after
 * libtshm's runs first, and if it treats every SIGBUS as fatal (Python's
 * faulthandler.enable() called after the first mapping does) the process
 * still dies; a process that keeps SIGBUS blocked gets the kernel's default
 * action regardless; a thread blocked in the handler stalls for at most
 * SIGBUS_GIVE_UP_NS.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * How long one thread may keep faulting at one address before the fault is
 * treated as real. tshmd restores a truncated object 0.2-4 ms after the
 * truncate (inotify, then ftruncate and posix_fallocate of the whole object,
 * which for a large segment on a loaded machine can take tens of ms). Two
 * seconds is far above that even under load, yet short enough that a
 * segment that stays truncated (tshmd stopped, or the object removed and cut
 * by hand) ends in the usual crash rather than a hang.
 */
#define SIGBUS_GIVE_UP_NS (2000LL * 1000 * 1000)
/* A fault at the same address within this time of the previous one continues
 * an episode; a later one starts a new episode. Far above one retry
 * (SIGBUS_STEP_NS plus scheduling), far below the time between two hostile
 * truncations that a reader should survive separately. */
#define SIGBUS_EPISODE_GAP_NS (50LL * 1000 * 1000)
/* The pause before each retry: tshmd needs a few hundred microseconds, and a
 * shorter pause would only spin through page faults. */
#define SIGBUS_STEP_NS (200LL * 1000)
/* An episode slot untouched for this long may be taken by another thread
 * (its owner exited, or its episode ended long ago). Well above
 * SIGBUS_GIVE_UP_NS, so that no live episode is ever taken over. */
#define SIGBUS_STALE_NS (10LL * 1000 * 1000 * 1000)

/* Live mappings: SIGBUS_CHUNKS chunks of SIGBUS_CHUNK_SLOTS slots, allocated
 * as needed (at most 65536 mappings at once). */
#define SIGBUS_CHUNK_SLOTS 256
#define SIGBUS_CHUNKS 256
/* Threads that can be inside a fault episode at the same time; one more
 * gives up at once (the fault is then treated as real). */
#define SIGBUS_THREADS 128

struct sigbus_slot {
        /* (atomic) Written under sigbus_lock; read by the handler. Odd while
         * the slot is being changed, so that the handler never uses a start
         * and a length from two different mappings. */
        uint64_t seq;
        uintptr_t start; /* (atomic) 0 when the slot is free */
        size_t len;      /* (atomic) */
};

struct sigbus_episode {
        /* (atomic) The owning thread, 0 when free; taken by compare-exchange. */
        pid_t tid;
        /* Owned by the thread in tid, but read (atomically) by others
         * looking for a stale slot. */
        uintptr_t addr;
        int64_t first_ns;
        int64_t last_ns;
};

static pthread_once_t sigbus_once = PTHREAD_ONCE_INIT;
/* The disposition before ours: written once, before ours is installed. */
static struct sigaction sigbus_prev;
static bool sigbus_installed;
/* Serialises register and unregister; the handler never takes it. */
static pthread_mutex_t sigbus_lock = PTHREAD_MUTEX_INITIALIZER;
/* (atomic) Chunk pointers, published with release order, never freed, so the
 * handler can read them at any time. */
static struct sigbus_slot *sigbus_chunks[SIGBUS_CHUNKS];
static unsigned sigbus_nchunks; /* (atomic) chunks published so far */
static struct sigbus_episode sigbus_episodes[SIGBUS_THREADS];
/* (atomic) Counters for tests (see tshm__sigbus_stats). */
static uint64_t sigbus_absorbed;
static uint64_t sigbus_episodes_seen;

static int64_t
sigbus_now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether @addr lies in a live mapping libtshm made. Async-signal-safe. */
static bool
sigbus_covers(uintptr_t addr)
{
        unsigned n = __atomic_load_n(&sigbus_nchunks, __ATOMIC_ACQUIRE);
        const struct sigbus_slot *chunk;
        uintptr_t start;
        uint64_t seq;
        unsigned c, i;
        size_t len;

        for (c = 0; c < n; c++) {
                chunk = __atomic_load_n(&sigbus_chunks[c], __ATOMIC_ACQUIRE);
                for (i = 0; chunk != NULL && i < SIGBUS_CHUNK_SLOTS; i++) {
                        seq = __atomic_load_n(&chunk[i].seq, __ATOMIC_ACQUIRE);
                        if (seq % 2 != 0) {
                                /* Being changed, so it is not the mapping that
                                 * faulted: that one was published before
                                 * libtshm returned it, and unpublishing it
                                 * while it is in use is the caller's bug. */
                                continue;
                        }
                        start = __atomic_load_n(&chunk[i].start, __ATOMIC_RELAXED);
                        len = __atomic_load_n(&chunk[i].len, __ATOMIC_RELAXED);
                        __atomic_thread_fence(__ATOMIC_ACQUIRE);
                        if (__atomic_load_n(&chunk[i].seq, __ATOMIC_RELAXED) != seq) {
                                continue;
                        }
                        if (start != 0 && addr >= start && addr - start < len) {
                                return true;
                        }
                }
        }
        return false;
}

/* The calling thread's episode slot, taken if need be; NULL if all are in
 * use. Async-signal-safe. */
static struct sigbus_episode *
sigbus_episode(pid_t tid, int64_t now)
{
        struct sigbus_episode *e;
        pid_t owner;
        int i;

        for (i = 0; i < SIGBUS_THREADS; i++) {
                if (__atomic_load_n(&sigbus_episodes[i].tid, __ATOMIC_ACQUIRE) == tid) {
                        return &sigbus_episodes[i];
                }
        }
        for (i = 0; i < SIGBUS_THREADS; i++) {
                e = &sigbus_episodes[i];
                owner = __atomic_load_n(&e->tid, __ATOMIC_ACQUIRE);
                if (owner != 0 &&
                    now - __atomic_load_n(&e->last_ns, __ATOMIC_RELAXED) < SIGBUS_STALE_NS) {
                        continue;
                }
                if (__atomic_compare_exchange_n(&e->tid, &owner, tid, false, __ATOMIC_ACQ_REL,
                                                __ATOMIC_RELAXED)) {
                        /* addr 0 never matches a fault: a new episode. */
                        __atomic_store_n(&e->addr, 0, __ATOMIC_RELAXED);
                        return e;
                }
        }
        return NULL;
}

/* A fault at @addr in a tshm mapping: whether to retry it (after a pause),
 * or give up because this episode has lasted too long. Async-signal-safe. */
static bool
sigbus_wait(uintptr_t addr)
{
        struct timespec step = {.tv_sec = 0, .tv_nsec = SIGBUS_STEP_NS};
        int64_t now = sigbus_now_ns();
        pid_t tid = (pid_t)syscall(SYS_gettid);
        struct sigbus_episode *e = sigbus_episode(tid, now);

        if (e == NULL) {
                return false;
        }
        if (__atomic_load_n(&e->addr, __ATOMIC_RELAXED) != addr ||
            now - __atomic_load_n(&e->last_ns, __ATOMIC_RELAXED) > SIGBUS_EPISODE_GAP_NS) {
                __atomic_store_n(&e->addr, addr, __ATOMIC_RELAXED);
                __atomic_store_n(&e->first_ns, now, __ATOMIC_RELAXED);
                __atomic_fetch_add(&sigbus_episodes_seen, 1, __ATOMIC_RELAXED);
        } else if (now - __atomic_load_n(&e->first_ns, __ATOMIC_RELAXED) > SIGBUS_GIVE_UP_NS) {
                /* The size never came back: let the slot go and treat the
                 * fault as real. */
                __atomic_store_n(&e->addr, 0, __ATOMIC_RELAXED);
                __atomic_store_n(&e->tid, 0, __ATOMIC_RELEASE);
                return false;
        }
        __atomic_store_n(&e->last_ns, now, __ATOMIC_RELAXED);
        __atomic_fetch_add(&sigbus_absorbed, 1, __ATOMIC_RELAXED);
        /* An interrupted sleep only makes the retry sooner. */
        (void)nanosleep(&step, NULL);
        return true;
}

/* Hand the signal to the disposition that was there before ours.
 * Async-signal-safe. */
static void
sigbus_chain(int sig, siginfo_t *si, void *uctx)
{
        struct sigaction dfl = {.sa_handler = SIG_DFL};

        if ((sigbus_prev.sa_flags & SA_SIGINFO) != 0) {
                sigbus_prev.sa_sigaction(sig, si, uctx);
                return;
        }
        if (sigbus_prev.sa_handler == SIG_IGN && (si == NULL || si->si_code <= 0)) {
                /* Sent by a process (kill, raise): ignoring it was asked for. */
                return;
        }
        if (sigbus_prev.sa_handler == SIG_DFL || sigbus_prev.sa_handler == SIG_IGN) {
                /* The default action, as if we had never been installed. A
                 * fault cannot be ignored either: the kernel kills a process
                 * that ignores or blocks a synchronous SIGBUS, and returning
                 * would only fault again. SIGBUS is blocked while we run, so
                 * the raised one is delivered, with the default action, as
                 * the handler returns, at the faulting instruction. */
                (void)sigemptyset(&dfl.sa_mask);
                (void)sigaction(SIGBUS, &dfl, NULL);
                (void)raise(SIGBUS);
                return;
        }
        sigbus_prev.sa_handler(sig);
}

static void
sigbus_on_signal(int sig, siginfo_t *si, void *uctx)
{
        int saved_errno = errno;

        /* Only a fault the kernel raised (BUS_ADRERR: an access past the end
         * of a file mapping) is retried; a SIGBUS sent with kill() carries
         * no meaningful address, and a hardware memory error is real. */
        if (si != NULL && si->si_code == BUS_ADRERR && sigbus_covers((uintptr_t)si->si_addr) &&
            sigbus_wait((uintptr_t)si->si_addr)) {
                errno = saved_errno;
                return;
        }
        errno = saved_errno;
        sigbus_chain(sig, si, uctx);
        errno = saved_errno;
}

static void
sigbus_install(void)
{
        struct sigaction sa = {.sa_sigaction = sigbus_on_signal};

        /* SA_ONSTACK: use the thread's alternate stack where it has one (as
         * faulthandler and sanitizers set up), like the handlers we chain
         * to expect. SIGBUS itself stays blocked while we run. */
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
        (void)sigemptyset(&sa.sa_mask);
        /* sigbus_prev is complete before the handler can run: sigaction()
         * fills it before installing ours. Failure is impossible with these
         * arguments; without the handler, mappings are as unprotected as
         * before. */
        if (sigaction(SIGBUS, &sa, &sigbus_prev) == 0) {
                sigbus_installed = true;
        }
}

int
tshm__sigbus_register(void *start, size_t len)
{
        struct sigbus_slot *chunk, *slot = NULL;
        unsigned n, c, i;
        uint64_t seq;
        int rv = 0;

        (void)pthread_once(&sigbus_once, sigbus_install);
        (void)pthread_mutex_lock(&sigbus_lock);
        n = __atomic_load_n(&sigbus_nchunks, __ATOMIC_RELAXED);
        for (c = 0; c < n && slot == NULL; c++) {
                chunk = sigbus_chunks[c];
                for (i = 0; i < SIGBUS_CHUNK_SLOTS && slot == NULL; i++) {
                        if (__atomic_load_n(&chunk[i].start, __ATOMIC_RELAXED) == 0) {
                                slot = &chunk[i];
                        }
                }
        }
        if (slot == NULL) {
                if (n == SIGBUS_CHUNKS ||
                    (chunk = tshm__calloc(SIGBUS_CHUNK_SLOTS, sizeof(*chunk))) == NULL) {
                        rv = TSHM_ENOMEM;
                        goto out;
                }
                __atomic_store_n(&sigbus_chunks[n], chunk, __ATOMIC_RELEASE);
                __atomic_store_n(&sigbus_nchunks, n + 1, __ATOMIC_RELEASE);
                slot = &chunk[0];
        }
        seq = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->seq, seq + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&slot->start, (uintptr_t)start, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->len, len, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->seq, seq + 2, __ATOMIC_RELEASE);
out:
        (void)pthread_mutex_unlock(&sigbus_lock);
        return rv;
}

void
tshm__sigbus_unregister(void *start)
{
        struct sigbus_slot *slot;
        unsigned n, c, i;
        uint64_t seq;

        if (start == NULL) {
                return;
        }
        (void)pthread_mutex_lock(&sigbus_lock);
        n = __atomic_load_n(&sigbus_nchunks, __ATOMIC_RELAXED);
        for (c = 0; c < n; c++) {
                for (i = 0; i < SIGBUS_CHUNK_SLOTS; i++) {
                        slot = &sigbus_chunks[c][i];
                        if (__atomic_load_n(&slot->start, __ATOMIC_RELAXED) != (uintptr_t)start) {
                                continue;
                        }
                        seq = __atomic_load_n(&slot->seq, __ATOMIC_RELAXED);
                        __atomic_store_n(&slot->seq, seq + 1, __ATOMIC_RELAXED);
                        __atomic_thread_fence(__ATOMIC_RELEASE);
                        __atomic_store_n(&slot->start, 0, __ATOMIC_RELAXED);
                        __atomic_store_n(&slot->len, 0, __ATOMIC_RELAXED);
                        __atomic_store_n(&slot->seq, seq + 2, __ATOMIC_RELEASE);
                        goto out;
                }
        }
out:
        (void)pthread_mutex_unlock(&sigbus_lock);
}

/* Exported, but not API (not in tshm.h): tests read how many faults were
 * absorbed without linking libtshm's internals. */
__attribute__((visibility("default"))) void
tshm__sigbus_stats(uint64_t *ret_absorbed, uint64_t *ret_episodes, int *ret_installed)
{
        *ret_absorbed = __atomic_load_n(&sigbus_absorbed, __ATOMIC_RELAXED);
        *ret_episodes = __atomic_load_n(&sigbus_episodes_seen, __ATOMIC_RELAXED);
        *ret_installed = sigbus_installed ? 1 : 0;
}
