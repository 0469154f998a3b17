/*
 * sync.c - the synchronisation line of a segment header, shared by libtshm
 * (writers and waiters, client/sync.c) and tshmd (which breaks the lock of a
 * writer whose process exited and wakes waiters on unlink).
 *
 * The fields are the header's synchronisation line (proto/header.h,
 * proto/PROTOCOL.md section 7). The protocol, for one update:
 *   writer                                  reader
 *   take lock (CAS 0 -> tid)                s1 = seq (acquire); odd: wait
 *   seq = s + 1 (odd); release fence        ... read the data ...
 *   ... write the data ...                  acquire fence
 *   seq = s + 2 (release)                   s2 = seq; s1 == s2: whole
 *   lock = 0; wake += 1; FUTEX_WAKE(wake)
 *
 * Waiters sleep on @wake, not on @seq: the futex word must be 32 bits, and a
 * separate word lets the daemon wake them for an unlink without faking a
 * version. A waiter reads @wake before it checks @seq, and every change it
 * waits for happens before the bump of @wake, so a wake-up is never lost:
 * FUTEX_WAIT returns at once if @wake moved in between.
 *
 * Waking costs an array's writer one system call per publish even when
 * nobody waits: readers may hold read-only mappings, so they cannot register
 * themselves in the header, and an unconditional FUTEX_WAKE on a word
 * nobody waits on costs well under a microsecond. A stream whose header
 * says TSHM_HDR_FLAG_WAKE_COUNTED does better: every sleeper on @wake holds
 * the stream's subscriber table read-write, counts itself in its @sleepers
 * while it sleeps, and a publish wakes only when that count is not 0:
 *   sleeper                                 publisher
 *   sleepers += 1 (seq_cst)                 seq = 2k (release in a stream
 *   w = wake; s = seq (seq_cst)               publish, seq_cst elsewhere)
 *   s new: sleepers -= 1, return            wake += 1 (seq_cst)
 *   FUTEX_WAIT(wake, w); sleepers -= 1      n = sleepers (seq_cst)
 *                                           n != 0: FUTEX_WAKE(wake)
 * No wake-up is lost: the seq_cst accesses are in one total order. If the
 * publisher's load of @sleepers comes before the sleeper's increment, then
 * its bump of @wake comes before the sleeper's load of @wake, which sees
 * it: FUTEX_WAIT returns at once (it compares the word in the kernel), and
 * as the bump is a release and that load an acquire, the store of seq
 * before the bump is seen too when the sleeper looks again. Otherwise the
 * publisher reads a count of at least 1 and wakes, and a FUTEX_WAIT on the
 * old value either sees the bump or is queued before the FUTEX_WAKE (the
 * kernel compares and queues under one lock). A stale positive count (a
 * sleeper killed in its sleep) only costs wakes. A count a hostile
 * subscriber zeroes costs latency, never liveness: a counted sleeper wakes
 * by itself every SYNC_COUNTED_SLICE_NS and looks again.
 *
 * The lock holds the writer's thread id. A writer that dies holding it is
 * noticed by the next writer (kill(tid, 0) fails with ESRCH, or the thread
 * is a zombie) or by the daemon (the holder's process exited;
 * daemon/sync.c), or its lease runs out; whoever breaks it takes it with a
 * CAS, so only one does, and marks the half-written version torn.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sync.h"

/* While a lock holder is alive, a writer waiting for it sleeps in slices of
 * this long between checks that the holder still exists. */
#define SYNC_HOLDER_CHECK_NS ((uint64_t)10 * 1000 * 1000)

static uint64_t sync_default_spin_ns;
static bool sync_spin_chosen; /* by $TSHM_SPIN_NS, not by the CPU count */
static pthread_once_t sync_spin_once = PTHREAD_ONCE_INIT;

static void
sync_spin_init(void)
{
        const char *env = getenv("TSHM_SPIN_NS");
        cpu_set_t set;

        if (env != NULL && *env != '\0') {
                char *end;
                unsigned long long v = strtoull(env, &end, 10);

                if (*end == '\0') {
                        sync_default_spin_ns = v;
                        sync_spin_chosen = true;
                        return;
                }
        }
        /* Spinning is only a gain when the waiter has a core to itself. */
        if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) >= 4) {
                sync_default_spin_ns = (uint64_t)50 * 1000;
        } else {
                sync_default_spin_ns = 0;
        }
}

/* The caller's thread and process ids, cached: glibc 2.36 caches neither,
 * and each is a system call (about a microsecond here) on the path from a
 * write to its publish. A forked child starts with the parent's cache, so
 * the child handler clears it (only the forking thread exists there). */
static __thread uint32_t sync_tid_cache;
static uint32_t sync_pid_cache;
static pthread_once_t sync_ids_once = PTHREAD_ONCE_INIT;

static void
sync_ids_forked(void)
{
        sync_tid_cache = 0;
        __atomic_store_n(&sync_pid_cache, 0, __ATOMIC_RELAXED);
}

static void
sync_ids_init(void)
{
        (void)pthread_atfork(NULL, NULL, sync_ids_forked);
}

uint32_t
tshm__tid(void)
{
        if (sync_tid_cache == 0) {
                (void)pthread_once(&sync_ids_once, sync_ids_init);
                sync_tid_cache = (uint32_t)gettid();
        }
        return sync_tid_cache;
}

uint32_t
tshm__pid(void)
{
        uint32_t pid = __atomic_load_n(&sync_pid_cache, __ATOMIC_RELAXED);

        if (pid == 0) {
                (void)pthread_once(&sync_ids_once, sync_ids_init);
                pid = (uint32_t)getpid();
                __atomic_store_n(&sync_pid_cache, pid, __ATOMIC_RELAXED);
        }
        return pid;
}

uint64_t
tshm__sync_default_spin(void)
{
        (void)pthread_once(&sync_spin_once, sync_spin_init);
        return sync_default_spin_ns;
}

bool
tshm__sync_spin_chosen(void)
{
        (void)pthread_once(&sync_spin_once, sync_spin_init);
        return sync_spin_chosen;
}

/* Online CPUs, not this process's affinity: the other end of a wait is
 * another process, on whichever CPU it may use. */
static bool sync_multi_cpu;
static pthread_once_t sync_cpus_once = PTHREAD_ONCE_INIT;

static void
sync_cpus_init(void)
{
        sync_multi_cpu = sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

bool
tshm__sync_multi_cpu(void)
{
        (void)pthread_once(&sync_cpus_once, sync_cpus_init);
        return sync_multi_cpu;
}

static uint64_t
sync_clock_ns(clockid_t id)
{
        struct timespec ts;

        (void)clock_gettime(id, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
tshm__mono_ns(void)
{
        return sync_clock_ns(CLOCK_MONOTONIC);
}

/* CLOCK_MONOTONIC as of the last tick: a read of the vDSO's data, where a
 * precise read costs tens of ns on a virtual machine. Never ahead of
 * tshm__mono_ns(), behind it by at most a tick. For the write lease (10 s),
 * which every lock takes, a stream's every frame. */
static uint64_t
sync_mono_coarse_ns(void)
{
        return sync_clock_ns(CLOCK_MONOTONIC_COARSE);
}

uint64_t
tshm__real_ns(void)
{
        return sync_clock_ns(CLOCK_REALTIME);
}

uint64_t
tshm__deadline_ns(int timeout_ms)
{
        if (timeout_ms < 0) {
                return UINT64_MAX;
        }
        return tshm__mono_ns() + (uint64_t)timeout_ms * 1000000u;
}

int
tshm__futex_fault(int err)
{
        const struct timespec pause = {0, 1000000};

        if (err != EFAULT) {
                return -err;
        }
        /* The word's page is not in the object: a writer cut the object
         * under us (tshmd's guard puts its size back within moments). Not
         * an error of the caller's: a spurious wake-up, a millisecond late,
         * so that the caller looks again (its loads are covered by the
         * SIGBUS handler) and its deadline still holds. */
        (void)nanosleep(&pause, NULL);
        return 0;
}

int
tshm__futex_wait(uint32_t *word, uint32_t val, uint64_t deadline_ns, uint64_t slice_ns)
{
        struct timespec ts, *tsp = NULL;
        uint64_t now = tshm__mono_ns(), left;

        if (deadline_ns != UINT64_MAX && now >= deadline_ns) {
                return TSHM_ETIMEDOUT;
        }
        left = deadline_ns == UINT64_MAX ? UINT64_MAX : deadline_ns - now;
        if (slice_ns != 0 && slice_ns < left) {
                left = slice_ns;
        }
        if (left != UINT64_MAX) {
                ts.tv_sec = (time_t)(left / 1000000000u);
                ts.tv_nsec = (long)(left % 1000000000u);
                tsp = &ts;
        }
        /* Not FUTEX_PRIVATE_FLAG: the word is in a shared mapping, and other
         * processes wake it. A read-only mapping is enough to wait. */
        if (syscall(SYS_futex, word, FUTEX_WAIT, val, tsp, NULL, 0) < 0 && errno != EAGAIN &&
            errno != EINTR && errno != ETIMEDOUT) {
                return tshm__futex_fault(errno);
        }
        return 0;
}

void
tshm__futex_wake(uint32_t *word)
{
        (void)syscall(SYS_futex, word, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

void
tshm__sync_bump(struct tshm__hdr *hdr)
{
        (void)__atomic_add_fetch(&hdr->wake, 1, __ATOMIC_SEQ_CST);
        tshm__futex_wake(&hdr->wake);
}

void
tshm__sync_publish_wake(struct tshm__hdr *hdr, const uint32_t *sleepers)
{
        (void)__atomic_add_fetch(&hdr->wake, 1, __ATOMIC_SEQ_CST);
        /* The order against a sleeper's increment is argued at the top. */
        if (sleepers == NULL || __atomic_load_n(sleepers, __ATOMIC_SEQ_CST) != 0) {
                tshm__futex_wake(&hdr->wake);
        }
}

/* Whether the thread @tid (of any process) is gone: no such thread (EPERM
 * from kill() means it exists but is another user's), or a zombie, which is
 * what a killed single-threaded process stays until its parent reaps it.
 * Where /proc hides other users' processes, only the first test applies. */
bool
tshm__sync_thread_gone(uint32_t tid)
{
        char path[32], buf[512], *paren;
        ssize_t n;
        int fd;

        if (kill((pid_t)tid, 0) < 0 && errno == ESRCH) {
                return true;
        }
        (void)snprintf(path, sizeof(path), "/proc/%u/stat", tid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
                return errno == ENOENT;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        (void)close(fd);
        if (n <= 0) {
                return false;
        }
        buf[n] = '\0';
        /* "pid (comm) S ...": the state follows the last ')'. */
        paren = strrchr(buf, ')');
        return paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

bool
tshm__sync_holder_breakable(const struct tshm__hdr *hdr, uint32_t holder,
                            struct tshm__sync_seen *seen)
{
        uint64_t lease = __atomic_load_n(&hdr->lease_until, __ATOMIC_SEQ_CST);
        uint32_t pid = __atomic_load_n(&hdr->lock_pid, __ATOMIC_SEQ_CST);
        uint64_t now = tshm__mono_ns(), bound = (uint64_t)TSHM_WRITE_LEASE_MS * 1000000u;

        /* The waiter's own clock: the lease and the holder's ids are words
         * any writer can forge (a lease of 0, or one years away; the tid of
         * pid 1, which never dies), and a forged lock must not block writers
         * for good. The same holder seen for a whole lease is overdue,
         * whatever its fields claim. */
        holder &= TSHM_LOCK_TID_MASK; /* waiters set the contended bit */
        if (seen->since_ns == 0 || seen->lock != holder || seen->pid != pid ||
            seen->lease != lease) {
                seen->lock = holder;
                seen->pid = pid;
                seen->lease = lease;
                seen->since_ns = now;
        } else if (now - seen->since_ns > bound) {
                return true;
        }
        /* 0 means the holder is between its CAS and writing its lease; a
         * lease further away than a genuine one is bounded above. */
        if (lease != 0 && now > lease) {
                return true;
        }
        return tshm__sync_thread_gone(holder);
}

void
tshm__sync_repair(struct tshm__hdr *hdr)
{
        uint64_t s = __atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST);

        if (s & 1u) {
                /* The broken writer's version: published, but flagged. */
                __atomic_store_n(&hdr->torn_seq, s + 1, __ATOMIC_SEQ_CST);
                __atomic_store_n(&hdr->seq, s + 1, __ATOMIC_SEQ_CST);
                __atomic_store_n(&hdr->publish_ns, tshm__real_ns(), __ATOMIC_RELAXED);
        }
        (void)__atomic_add_fetch(&hdr->breaks, 1, __ATOMIC_SEQ_CST);
}

void
tshm__sync_unlock(struct tshm__hdr *hdr)
{
        uint32_t old;

        /* Relaxed: the exchange below releases them, and the next holder's
         * compare-and-swap acquires them before it writes its own. Breakers
         * only compare what they see over time (tshm__sync_holder_breakable). */
        __atomic_store_n(&hdr->lease_until, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&hdr->lock_pid, 0, __ATOMIC_RELAXED);
        old = __atomic_exchange_n(&hdr->lock, 0, __ATOMIC_SEQ_CST);
        if (old & TSHM_LOCK_CONTENDED) {
                tshm__futex_wake(&hdr->lock);
        }
}

/* The lock is ours: say whose, and for how long. Release stores: a breaker
 * that sees the lease sees the pid stored before it. */
static void
sync_locked(struct tshm__hdr *hdr)
{
        __atomic_store_n(&hdr->lock_pid, tshm__pid(), __ATOMIC_RELEASE);
        __atomic_store_n(&hdr->lease_until,
                         sync_mono_coarse_ns() + (uint64_t)TSHM_WRITE_LEASE_MS * 1000000u,
                         __ATOMIC_RELEASE);
}

bool
tshm__sync_trylock(struct tshm__hdr *hdr, uint32_t tid)
{
        uint32_t cur = 0;

        if (!__atomic_compare_exchange_n(&hdr->lock, &cur, tid, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_RELAXED)) {
                return false;
        }
        sync_locked(hdr);
        return true;
}

int
tshm__sync_lock(struct tshm__hdr *hdr, uint32_t tid, int timeout_ms, struct tshm__sync_seen *seen)
{
        uint64_t deadline;
        int rv;

        /* A free lock costs no clock read for a deadline. */
        if (tshm__sync_trylock(hdr, tid)) {
                return 0;
        }
        deadline = tshm__deadline_ns(timeout_ms);
        for (;;) {
                uint32_t cur = 0;

                if (__atomic_compare_exchange_n(&hdr->lock, &cur, tid, false, __ATOMIC_SEQ_CST,
                                                __ATOMIC_SEQ_CST)) {
                        break;
                }
                if (__atomic_load_n(&hdr->state, __ATOMIC_SEQ_CST) & TSHM_SYNC_UNLINKED) {
                        return TSHM_ENOENT;
                }
                if (tshm__sync_holder_breakable(hdr, cur, seen)) {
                        /* Take it from the dead (or overdue) holder; if another
                         * breaker or the holder got there first, the CAS fails
                         * and we look again. */
                        if (__atomic_compare_exchange_n(&hdr->lock, &cur, tid, false,
                                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                                tshm__sync_repair(hdr);
                                if (cur & TSHM_LOCK_CONTENDED) {
                                        /* Others sleep on the lock: keep them
                                         * told, so our unlock wakes them. */
                                        __atomic_or_fetch(&hdr->lock, TSHM_LOCK_CONTENDED,
                                                          __ATOMIC_SEQ_CST);
                                }
                                tshm__sync_bump(hdr);
                                break;
                        }
                        continue;
                }
                if (!(cur & TSHM_LOCK_CONTENDED)) {
                        uint32_t want = cur | TSHM_LOCK_CONTENDED;

                        if (!__atomic_compare_exchange_n(&hdr->lock, &cur, want, false,
                                                         __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                                continue;
                        }
                        cur = want;
                }
                /* Sleep until the holder releases, in slices so that a holder
                 * that dies is noticed within SYNC_HOLDER_CHECK_NS. */
                if ((rv = tshm__futex_wait(&hdr->lock, cur, deadline, SYNC_HOLDER_CHECK_NS)) < 0) {
                        return rv;
                }
        }
        sync_locked(hdr);
        return 0;
}

bool
tshm__sync_still_mine(const struct tshm__hdr *hdr, uint32_t tid)
{
        return (__atomic_load_n(&hdr->lock, __ATOMIC_SEQ_CST) & TSHM_LOCK_TID_MASK) == tid;
}

/* The longest a counted sleeper sleeps before it looks at the counter
 * again (see sync_wait_counted). */
#define SYNC_COUNTED_SLICE_NS (50u * 1000u * 1000u)

/* tshm__sync_wait; sets *@counted once it counted itself in @sleepers. */
static int64_t
sync_wait_counted(struct tshm__hdr *hdr, uint64_t after_seq, uint64_t deadline, uint64_t spin_ns,
                  bool stop_on_unlink, uint32_t *sleepers, bool *counted)
{
        uint64_t spin_until = 0;
        int rv;

        for (;;) {
                uint32_t w = __atomic_load_n(&hdr->wake, __ATOMIC_SEQ_CST);
                uint64_t s = __atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST);

                if (!tshm__seq_ok(s)) {
                        return TSHM_ETORN;
                }
                if (!(s & 1u) && s > after_seq) {
                        return (int64_t)s;
                }
                if (stop_on_unlink &&
                    (__atomic_load_n(&hdr->state, __ATOMIC_SEQ_CST) & TSHM_SYNC_UNLINKED)) {
                        return TSHM_ENOENT;
                }
                if (spin_ns != 0) {
                        uint64_t now = tshm__mono_ns();

                        if (spin_until == 0) {
                                spin_until = now + spin_ns;
                        }
                        if (now < spin_until && now < deadline) {
                                /* Poll the word the publish changes, without
                                 * the system calls of the sleeping path. */
                                for (int i = 0; i < 64; i++) {
                                        tshm__sync_pause();
                                        if (__atomic_load_n(&hdr->wake, __ATOMIC_RELAXED) != w) {
                                                break;
                                        }
                                }
                                continue;
                        }
                }
                if (deadline != UINT64_MAX && tshm__mono_ns() >= deadline) {
                        return TSHM_ETIMEDOUT;
                }
                if (sleepers != NULL && !*counted) {
                        /* Count ourselves, then look again before sleeping
                         * (the protocol at the top of this file). */
                        (void)__atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
                        *counted = true;
                        continue;
                }
                /* The count is in the subscriber table, which every
                 * subscriber maps read-write: one that zeroes it in a loop
                 * would make publishers skip our wake-up for good. So a
                 * counted sleep never trusts it longer than a slice; at
                 * worst a wake-up comes a slice late. */
                if ((rv = tshm__futex_wait(&hdr->wake, w, deadline,
                                           sleepers != NULL ? SYNC_COUNTED_SLICE_NS : 0)) < 0) {
                        return rv;
                }
        }
}

int64_t
tshm__sync_wait(struct tshm__hdr *hdr, uint64_t after_seq, uint64_t deadline, uint64_t spin_ns,
                bool stop_on_unlink, uint32_t *sleepers)
{
        bool counted = false;
        int64_t rv;

        rv = sync_wait_counted(hdr, after_seq, deadline, spin_ns, stop_on_unlink, sleepers,
                               &counted);
        if (counted) {
                (void)__atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
        }
        return rv;
}
