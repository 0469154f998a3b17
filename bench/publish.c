/*
 * publish.c - wake-up latency: how long after one process publishes does
 * another, waiting for it, run? Each measurement is a ping-pong between this
 * process and a forked responder pinned to another CPU; a sample is one round
 * trip, recorded halved (one way). Measured in interleaved rounds, like the
 * latency suite:
 *   futex floor: FUTEX_WAKE / FUTEX_WAIT (shared, not private) on two words
 *     of a shared anonymous mapping, one system call each way and side;
 *   spin floor: each side spins on the cache line the other writes;
 *   tshm, blocking: two segments, ping and pong; each side tshm_wait()s for
 *     the other's publish (spin 0: straight to the futex) and answers with
 *     tshm_write_begin() + tshm_write_end() on its own segment;
 *   tshm, spinning: the same with tshm_seg_set_spin(BENCH_SPIN_NS);
 *   and the cost of one FUTEX_WAKE on a shared word nobody waits on, which
 *   every tshm publish pays (proto/sync.c): not a round trip, not halved.
 * The responders connect to the daemon themselves, as a real subscriber
 * would. Idle responders (between their slices) sleep, so that none steals
 * the CPU another measurement runs on.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define PUB_ROUNDS 10
#define PUB_SLICE_WARMUP 16               /* unrecorded round trips at the start of each slice */
#define PUB_TIMEOUT_MS 5000               /* a peer silent this long is dead */
#define PUB_MEASURED (WAKE_TSHM_SPIN + 1) /* the measurements this file runs */
/* A spin-floor responder idle this long sleeps (between its slices). */
#define PUB_IDLE_NS ((uint64_t)1000 * 1000)

/* The floors' words, each on its own cache line. */
struct pub_lines {
        _Alignas(64) uint32_t futex_ping;
        _Alignas(64) uint32_t futex_pong;
        /* The spin floor's responder sets @spin_sleeping before it sleeps on
         * @spin_ping; the pinger reads it right after its store (same line). */
        _Alignas(64) uint32_t spin_ping;
        uint32_t spin_sleeping;
        _Alignas(64) uint32_t spin_pong;
        _Alignas(64) uint32_t stop; /* set before the last ping: the responders exit */
        _Alignas(64) uint32_t idle; /* nobody waits on it: FUTEX_WAKE's bare cost */
};

/* One measurement's responder and this process's end of it. */
struct pub_pair {
        pid_t pid;      /* 0: not started */
        tshm_seg *ping; /* tshm only: we publish on ping, wait on pong */
        tshm_seg *pong;
        uint64_t last_pong; /* tshm: the last pong version seen */
        uint32_t sent;      /* floors: the last value sent */
};

struct pub_ctx {
        const struct bench_env *env;
        tshm_client *client;
        cpu_set_t server_cpus;
        struct pub_lines *lines;
        struct pub_pair pair[PUB_MEASURED];
        struct bench_samples s[PUB_MEASURED];
};

static const char *const pub_names[PUB_MEASURED][2] = {
    [WAKE_TSHM_BLOCK] = {"bench-wake-block-ping", "bench-wake-block-pong"},
    [WAKE_TSHM_SPIN] = {"bench-wake-spin-ping", "bench-wake-spin-pong"},
};

static const char *const pub_labels[PUB_MEASURED] = {
    [WAKE_FUTEX] = "futex floor",
    [WAKE_SPIN] = "spin floor",
    [WAKE_WAKE_CALL] = "FUTEX_WAKE call",
    [WAKE_TSHM_BLOCK] = "tshm publish/wait, blocking",
    [WAKE_TSHM_SPIN] = "tshm publish/wait, spinning",
};

static inline void
pub_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
}

/* FUTEX_WAIT while *@word == @val, at most @timeout_ms; 0 or -errno
 * (EAGAIN and EINTR are 0: the caller looks again). */
static int
pub_futex_wait(uint32_t *word, uint32_t val, int timeout_ms)
{
        struct timespec ts = {.tv_sec = timeout_ms / 1000,
                              .tv_nsec = (timeout_ms % 1000) * 1000000L};

        /* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
        if (syscall(SYS_futex, word, FUTEX_WAIT, val, &ts, NULL, 0) < 0 && errno != EAGAIN &&
            errno != EINTR) {
                return -errno;
        }
        return 0;
}

static void
pub_futex_wake(uint32_t *word)
{
        (void)syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Wait until *@word != @old; returns its value, or 0 after PUB_TIMEOUT_MS. */
static uint32_t
pub_futex_await(uint32_t *word, uint32_t old)
{
        uint64_t deadline = bench_now_ns() + (uint64_t)PUB_TIMEOUT_MS * 1000000u;
        uint32_t v;

        while ((v = __atomic_load_n(word, __ATOMIC_ACQUIRE)) == old) {
                if (bench_now_ns() > deadline || pub_futex_wait(word, old, PUB_TIMEOUT_MS) < 0) {
                        return 0;
                }
        }
        return v;
}

/* Spin until *@word != @old. With @sleeping (a responder between slices),
 * sleep on the futex after PUB_IDLE_NS, telling the pinger through
 * *@sleeping. Returns the value, or 0 after PUB_TIMEOUT_MS. */
static uint32_t
pub_spin_await(uint32_t *word, uint32_t old, uint32_t *sleeping)
{
        uint64_t start = bench_now_ns(), now;
        uint32_t v, i = 0;

        while ((v = __atomic_load_n(word, __ATOMIC_ACQUIRE)) == old) {
                pub_pause();
                if ((++i & 1023u) != 0) {
                        continue;
                }
                now = bench_now_ns();
                if (now - start > (uint64_t)PUB_TIMEOUT_MS * 1000000u && sleeping == NULL) {
                        return 0;
                }
                if (sleeping != NULL && now - start > PUB_IDLE_NS) {
                        /* Seq-cst store, then load: the pinger's store to
                         * @word and load of @sleeping, in the other order,
                         * cannot both miss. */
                        __atomic_store_n(sleeping, 1, __ATOMIC_SEQ_CST);
                        if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == old) {
                                (void)pub_futex_wait(word, old, PUB_TIMEOUT_MS);
                        }
                        __atomic_store_n(sleeping, 0, __ATOMIC_SEQ_CST);
                        start = bench_now_ns();
                }
        }
        return v;
}

static void
pub_child_futex(struct pub_lines *l)
{
        uint32_t last = 0, v;

        for (;;) {
                while ((v = __atomic_load_n(&l->futex_ping, __ATOMIC_ACQUIRE)) == last) {
                        /* No timeout here: idle between slices for as long as it takes. */
                        (void)pub_futex_wait(&l->futex_ping, last, 60000);
                }
                last = v;
                if (__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
                        _exit(0);
                }
                __atomic_store_n(&l->futex_pong, v, __ATOMIC_RELEASE);
                pub_futex_wake(&l->futex_pong);
        }
}

static void
pub_child_spin(struct pub_lines *l)
{
        uint32_t last = 0;

        for (;;) {
                last = pub_spin_await(&l->spin_ping, last, &l->spin_sleeping);
                if (__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
                        _exit(0);
                }
                __atomic_store_n(&l->spin_pong, last, __ATOMIC_RELEASE);
        }
}

/* Connect, open ping (read-only: waiting needs no more) and pong, say so on
 * @ready, then answer every ping with a pong. */
static void
pub_child_tshm(const struct pub_ctx *ctx, enum bench_wake_id id, uint64_t spin_ns, int ready)
{
        tshm_client *c = NULL;
        tshm_seg *ping = NULL, *pong = NULL;
        uint64_t last = 0;
        int64_t s;
        int rv;

        if ((rv = tshm_connect(ctx->env->socket, &c)) == 0 &&
            (rv = tshm_open(c, pub_names[id][0], TSHM_OPEN_RDONLY, &ping)) == 0) {
                rv = tshm_open(c, pub_names[id][1], TSHM_OPEN_RDWR, &pong);
        }
        if (write(ready, &rv, sizeof(rv)) != (ssize_t)sizeof(rv) || rv < 0) {
                _exit(1);
        }
        tshm_seg_set_spin(ping, spin_ns);
        last = tshm_seg_seq(ping);
        for (;;) {
                /* Idle between slices as long as it takes: no timeout. */
                if ((s = tshm_wait(ping, last, -1)) < 0) {
                        _exit(1);
                }
                last = (uint64_t)s;
                if (__atomic_load_n(&ctx->lines->stop, __ATOMIC_ACQUIRE)) {
                        break;
                }
                *(volatile uint64_t *)tshm_seg_data(pong) = last;
                if (tshm_write_begin(pong, PUB_TIMEOUT_MS) < 0 || tshm_write_end(pong) < 0) {
                        _exit(1);
                }
        }
        (void)tshm_close(ping);
        (void)tshm_close(pong);
        tshm_disconnect(c);
        _exit(0);
}

static int
pub_start(struct pub_ctx *ctx, enum bench_wake_id id, uint64_t spin_ns)
{
        int ready[2], rv = 0;
        ssize_t n;
        pid_t pid;

        if (pipe2(ready, O_CLOEXEC) < 0) {
                return -errno;
        }
        if ((pid = bench_fork()) < 0) {
                rv = -errno;
                goto out;
        }
        if (pid == 0) {
                (void)close(ready[0]);
                if (sched_setaffinity(0, sizeof(ctx->server_cpus), &ctx->server_cpus) < 0) {
                        _exit(1);
                }
                if (id == WAKE_FUTEX) {
                        pub_child_futex(ctx->lines);
                } else if (id == WAKE_SPIN) {
                        pub_child_spin(ctx->lines);
                }
                pub_child_tshm(ctx, id, spin_ns, ready[1]);
        }
        ctx->pair[id].pid = pid;
        if (id == WAKE_TSHM_BLOCK || id == WAKE_TSHM_SPIN) {
                (void)close(ready[1]);
                ready[1] = -1;
                while ((n = read(ready[0], &rv, sizeof(rv))) < 0 && errno == EINTR) {
                }
                if (n != (ssize_t)sizeof(rv)) {
                        rv = TSHM_EIO;
                }
        }
out:
        (void)close(ready[0]);
        if (ready[1] >= 0) {
                (void)close(ready[1]);
        }
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: %s: responder failed to start: %s\n", pub_labels[id],
                        tshm_strerror(rv));
        }
        return rv;
}

/* Make the tshm pair's two segments and open our ends of them. */
static int
pub_make_segs(struct pub_ctx *ctx, enum bench_wake_id id, uint64_t spin_ns)
{
        static const uint64_t shape[1] = {64};
        struct pub_pair *p = &ctx->pair[id];
        int rv, i;
        tshm_seg **seg[2] = {&p->ping, &p->pong};

        for (i = 0; i < 2; i++) {
                rv = tshm_create(ctx->client, pub_names[id][i], TSHM_DTYPE_UINT8, 1, shape, 0600,
                                 TSHM_CREATE_DEFAULT, seg[i]);
                if (rv < 0) {
                        fprintf(stderr, "tshm-bench: create %s: %s (%s)\n", pub_names[id][i],
                                tshm_strerror(rv), tshm_errmsg(ctx->client));
                        return rv;
                }
        }
        tshm_seg_set_spin(p->pong, spin_ns);
        p->last_pong = tshm_seg_seq(p->pong);
        return 0;
}

/* Send ping @v of @id. */
static int
pub_send(struct pub_ctx *ctx, enum bench_wake_id id, uint32_t v)
{
        struct pub_lines *l = ctx->lines;
        struct pub_pair *p = &ctx->pair[id];

        switch (id) {
        case WAKE_FUTEX:
                __atomic_store_n(&l->futex_ping, v, __ATOMIC_RELEASE);
                pub_futex_wake(&l->futex_ping);
                return 0;
        case WAKE_SPIN:
                __atomic_store_n(&l->spin_ping, v, __ATOMIC_SEQ_CST);
                if (__atomic_load_n(&l->spin_sleeping, __ATOMIC_SEQ_CST)) {
                        pub_futex_wake(&l->spin_ping);
                }
                return 0;
        default:
                *(volatile uint64_t *)tshm_seg_data(p->ping) = v;
                if (tshm_write_begin(p->ping, PUB_TIMEOUT_MS) < 0 || tshm_write_end(p->ping) < 0) {
                        return TSHM_EIO;
                }
                return 0;
        }
}

/* Wait for the answer to ping @v of @id. */
static int
pub_recv(struct pub_ctx *ctx, enum bench_wake_id id, uint32_t v)
{
        struct pub_lines *l = ctx->lines;
        struct pub_pair *p = &ctx->pair[id];
        int64_t s;

        switch (id) {
        case WAKE_FUTEX:
                return pub_futex_await(&l->futex_pong, p->sent) == v ? 0 : TSHM_ETIMEDOUT;
        case WAKE_SPIN:
                return pub_spin_await(&l->spin_pong, p->sent, NULL) == v ? 0 : TSHM_ETIMEDOUT;
        default:
                if ((s = tshm_wait(p->pong, p->last_pong, PUB_TIMEOUT_MS)) < 0) {
                        return (int)s;
                }
                p->last_pong = (uint64_t)s;
                return 0;
        }
}

/* One round trip of @id; records half of it when @record. */
static int
pub_round_trip(struct pub_ctx *ctx, enum bench_wake_id id, bool record)
{
        struct pub_pair *p = &ctx->pair[id];
        uint64_t t0 = bench_now_ns();
        uint32_t v = p->sent + 1 != 0 ? p->sent + 1 : 1; /* 0: "nothing yet", and a timeout */
        int rv;

        if (id == WAKE_WAKE_CALL) {
                pub_futex_wake(&ctx->lines->idle);
                if (record) {
                        bench_samples_add(&ctx->s[id], bench_now_ns() - t0);
                }
                return 0;
        }
        if ((rv = pub_send(ctx, id, v)) < 0 || (rv = pub_recv(ctx, id, v)) < 0) {
                return rv;
        }
        p->sent = v;
        if (record) {
                bench_samples_add(&ctx->s[id], (bench_now_ns() - t0) / 2);
        }
        return 0;
}

static int
pub_slice(struct pub_ctx *ctx, enum bench_wake_id id, size_t warm, size_t n)
{
        size_t i;
        int rv;

        for (i = 0; i < warm + n; i++) {
                if ((rv = pub_round_trip(ctx, id, i >= warm)) < 0) {
                        fprintf(stderr, "tshm-bench: %s: %s\n", pub_labels[id], tshm_strerror(rv));
                        return rv;
                }
        }
        return 0;
}

/* Tell every responder to leave (a last ping, after setting stop), reap it,
 * and remove the segments. After a failure, kill instead. */
static void
pub_stop(struct pub_ctx *ctx, bool failed)
{
        int id;

        __atomic_store_n(&ctx->lines->stop, 1, __ATOMIC_SEQ_CST);
        for (id = 0; id < PUB_MEASURED; id++) {
                struct pub_pair *p = &ctx->pair[id];

                if (p->pid > 0) {
                        if (failed || pub_send(ctx, (enum bench_wake_id)id, p->sent + 1) < 0) {
                                (void)kill(p->pid, SIGKILL);
                        }
                        (void)bench_reap(p->pid);
                        p->pid = 0;
                }
                if (p->ping != NULL) {
                        (void)tshm_close(p->ping);
                        p->ping = NULL;
                        (void)tshm_unlink(ctx->client, pub_names[id][0]);
                }
                if (p->pong != NULL) {
                        (void)tshm_close(p->pong);
                        p->pong = NULL;
                        (void)tshm_unlink(ctx->client, pub_names[id][1]);
                }
        }
}

/* The spin time of a measurement: 0 blocks at once. */
static uint64_t
pub_spin_of(enum bench_wake_id id)
{
        return id == WAKE_TSHM_SPIN ? BENCH_SPIN_NS : 0;
}

static int
pub_setup(struct pub_ctx *ctx, const bool *run)
{
        int id, rv;

        for (id = 0; id < PUB_MEASURED; id++) {
                if (!run[id]) {
                        continue;
                }
                if (id == WAKE_TSHM_BLOCK || id == WAKE_TSHM_SPIN) {
                        rv = pub_make_segs(ctx, (enum bench_wake_id)id,
                                           pub_spin_of((enum bench_wake_id)id));
                        if (rv < 0) {
                                return rv;
                        }
                }
                if (id == WAKE_WAKE_CALL) {
                        continue; /* no responder */
                }
                if ((rv = pub_start(ctx, (enum bench_wake_id)id,
                                    pub_spin_of((enum bench_wake_id)id))) < 0) {
                        return rv;
                }
        }
        return 0;
}

static int
pub_measure(struct pub_ctx *ctx, const struct bench_cfg *cfg, const bool *run)
{
        size_t rounds = cfg->iterations >= PUB_ROUNDS ? PUB_ROUNDS : 1;
        size_t r, n;
        int id, rv;

        for (id = 0; id < PUB_MEASURED; id++) {
                if (run[id] && (rv = pub_slice(ctx, (enum bench_wake_id)id, cfg->warmup, 0)) < 0) {
                        return rv;
                }
        }
        fprintf(stderr, "tshm-bench: measuring %zu round trips of each wake-up in %zu rounds\n",
                cfg->iterations, rounds);
        for (r = 0; r < rounds; r++) {
                n = cfg->iterations / rounds + (r < cfg->iterations % rounds ? 1 : 0);
                for (id = 0; id < PUB_MEASURED; id++) {
                        if (!run[id]) {
                                continue;
                        }
                        rv = pub_slice(ctx, (enum bench_wake_id)id, PUB_SLICE_WARMUP, n);
                        if (rv < 0) {
                                return rv;
                        }
                }
        }
        return 0;
}

int
bench_wake_run(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
               struct bench_wake *ret)
{
        struct pub_ctx ctx = {.env = env, .client = c};
        bool run[PUB_MEASURED];
        int id, rv;

        ret->cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
        ret->split = bench_place_available(PLACE_SPLIT);
        /* Spinning on one CPU would wait out the peer's time slice. */
        for (id = 0; id < PUB_MEASURED; id++) {
                run[id] = ret->split || (id != WAKE_SPIN && id != WAKE_TSHM_SPIN);
        }
        ctx.lines = mmap(NULL, sizeof(*ctx.lines), PROT_READ | PROT_WRITE,
                         MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (ctx.lines == MAP_FAILED) {
                perror("tshm-bench: mmap");
                return TSHM_ENOMEM;
        }
        memset(ctx.lines, 0, sizeof(*ctx.lines));
        for (id = 0; id < PUB_MEASURED; id++) {
                if ((rv = bench_samples_init(&ctx.s[id], cfg->iterations)) < 0) {
                        goto out;
                }
        }
        fprintf(stderr, "tshm-bench: wake-up latency, %s\n",
                ret->split ? "the two ends on two CPUs" : "one CPU");
        if ((rv = bench_place_apply(ret->split ? PLACE_SPLIT : PLACE_SAME, env->daemon,
                                    &ctx.server_cpus)) < 0) {
                goto out;
        }
        if ((rv = pub_setup(&ctx, run)) == 0) {
                rv = pub_measure(&ctx, cfg, run);
        }
        pub_stop(&ctx, rv < 0);
        if (bench_place_restore(env->daemon) < 0 && rv == 0) {
                rv = -1;
        }
out:
        for (id = 0; id < PUB_MEASURED; id++) {
                ret->ran[id] = rv == 0 && run[id];
                bench_summarize(&ctx.s[id], &ret->lat[id]);
                bench_samples_done(&ctx.s[id]);
        }
        (void)munmap(ctx.lines, sizeof(*ctx.lines));
        return rv;
}
