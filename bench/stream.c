/*
 * stream.c - stream throughput, end to end: this process, the producer,
 * loans each slot, fills every byte of it (memcpy from a prepared buffer,
 * then the frame's index in the first 8 bytes) and publishes it; a forked
 * subscriber with its own connection takes each frame, reads every byte
 * (a fold of all its 64-bit words) and releases it. Block policy, so no frame
 * is lost. The subscriber times the steady state: from the end of
 * STREAM_WARMUP_SLOTS passes over the ring (every slot faulted in on both
 * sides) to the last frame; frames/s and GB/s are its count over that time.
 *
 * memcpy bandwidth of one frame's size, from one private buffer to another,
 * is measured in the same run: the producer's share of the work alone, hot
 * in cache; and again into a ring of as many private buffers as the stream
 * has slots, which touches as much memory as the stream does. And the raw
 * pipeline (below): the same work over plain shared memory, no tshm.
 * Producer and subscriber are pinned to two CPUs.
 * Spin times are the library's default (tshm_seg_set_spin()).
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define STREAM_NAME "bench-stream"
#define STREAM_WARMUP_SLOTS 2 /* passes over the ring before the clock starts */
#define STREAM_TIMEOUT_MS 10000
#define STREAM_STOP UINT64_MAX /* the first word of the last frame: stop */
#define STREAM_MEMCPY_REPS 5   /* memcpy: median of this many timed runs */

static const struct {
        size_t bytes;
        uint32_t slots;
} stream_sizes[BENCH_STREAM_SIZES] = {
    {4096, 8},
    {(size_t)1024 * 1024, 8},
    {(size_t)64 * 1024 * 1024, 4},
};

/* What the subscriber reports when it is done. */
struct stream_msg {
        int32_t status;
        uint32_t pad;
        uint64_t frames; /* timed frames */
        uint64_t t0, t1; /* CLOCK_MONOTONIC, ns */
        uint64_t fold;   /* so that the reads are not optimised away */
};

/* Read every byte of @len (a multiple of 8) at @p. */
static uint64_t
stream_fold(const void *p, size_t len)
{
        const uint64_t *w = p;
        uint64_t a = 0, b = 0, c = 0, d = 0;
        size_t i, n = len / 8;

        for (i = 0; i + 4 <= n; i += 4) {
                a ^= w[i];
                b ^= w[i + 1];
                c ^= w[i + 2];
                d ^= w[i + 3];
        }
        for (; i < n; i++) {
                a ^= w[i];
        }
        return a ^ b ^ c ^ d;
}

static void
stream_send(int fd, const struct stream_msg *m)
{
        if (write(fd, m, sizeof(*m)) != (ssize_t)sizeof(*m)) {
                _exit(2);
        }
}

/* Take frames until the stop frame; time those after the warm-up ones. */
static int
stream_consume(tshm_sub *sub, size_t bytes, uint64_t warm, struct stream_msg *m)
{
        tshm_frame f;
        uint64_t expect = 1, idx;
        int rv;

        for (;;) {
                if ((rv = tshm_sub_take(sub, STREAM_TIMEOUT_MS, &f)) < 0) {
                        return rv;
                }
                idx = *(const volatile uint64_t *)f.data;
                if (idx == STREAM_STOP) {
                        m->t1 = bench_now_ns();
                        return tshm_sub_release(sub);
                }
                if (f.seq != expect || f.missed != 0 || idx != expect) {
                        fprintf(stderr,
                                "tshm-bench: stream: frame %llu (index %llu), expected %llu\n",
                                (unsigned long long)f.seq, (unsigned long long)idx,
                                (unsigned long long)expect);
                        return TSHM_EIO;
                }
                m->fold ^= stream_fold(f.data, bytes);
                if ((rv = tshm_sub_release(sub)) < 0) {
                        return rv;
                }
                if (expect == warm) {
                        m->t0 = bench_now_ns();
                } else if (expect > warm) {
                        m->frames++;
                }
                expect++;
        }
}

static void
stream_child(const struct bench_env *env, size_t bytes, uint64_t warm, int res)
{
        struct stream_msg m = {0};
        tshm_client *c = NULL;
        tshm_sub *sub = NULL;

        if ((m.status = tshm_connect(env->socket, &c)) == 0) {
                m.status = tshm_sub_open(c, STREAM_NAME, &sub);
        }
        stream_send(res, &m); /* subscribed (or not): the producer may start */
        if (m.status == 0) {
                m.status = stream_consume(sub, bytes, warm, &m);
                stream_send(res, &m);
        }
        (void)tshm_sub_close(sub);
        tshm_disconnect(c);
        _exit(m.status < 0 ? 1 : 0);
}

static int
stream_recv(int fd, struct stream_msg *m)
{
        ssize_t n;

        while ((n = read(fd, m, sizeof(*m))) < 0 && errno == EINTR) {
        }
        if (n != (ssize_t)sizeof(*m)) {
                fprintf(stderr, "tshm-bench: stream: the subscriber died without reporting\n");
                return TSHM_EIO;
        }
        if (m->status < 0) {
                fprintf(stderr, "tshm-bench: stream: subscriber: %s\n", tshm_strerror(m->status));
        }
        return m->status;
}

/* Publish frames for @seconds after @warm, then the stop frame. */
static int
stream_produce(tshm_seg *seg, const void *src, size_t bytes, uint64_t warm, double seconds)
{
        uint64_t idx, end = 0;
        bool stop;
        int64_t s;
        void *slot;
        int rv;

        for (idx = 1;; idx++) {
                if ((rv = tshm_stream_loan(seg, STREAM_TIMEOUT_MS, &slot)) < 0) {
                        return rv;
                }
                memcpy(slot, src, bytes);
                if (idx == warm) {
                        end = bench_now_ns() + (uint64_t)(seconds * 1e9);
                }
                /* Checked once a frame: the clock costs ~20 ns against a
                 * 4 KiB frame's microseconds. */
                stop = end != 0 && bench_now_ns() >= end;
                *(uint64_t *)slot = stop ? STREAM_STOP : idx;
                if ((s = tshm_stream_publish(seg)) < 0) {
                        return (int)s;
                }
                if (stop) {
                        return 0;
                }
        }
}

/* memcpy of @bytes from @src into @dst, or into each of @ring buffers of
 * @bytes at @dst in turn, in GB/s: the median of a few runs of about
 * @seconds / STREAM_MEMCPY_REPS each. */
static double
stream_memcpy_gbps(uint8_t *dst, const void *src, size_t bytes, uint32_t ring, double seconds)
{
        double v[STREAM_MEMCPY_REPS];
        uint64_t t0, ns, n, k;
        size_t r;

        for (k = 0; k < ring; k++) {
                memcpy(dst + k * bytes, src, bytes); /* fault dst in */
        }
        for (r = 0; r < STREAM_MEMCPY_REPS; r++) {
                n = 0;
                t0 = bench_now_ns();
                do {
                        for (k = 0; k < 16; k++) {
                                memcpy(dst + (n + k) % ring * bytes, src, bytes);
                                /* Keep the copy: it is the thing measured. */
                                __asm__ __volatile__("" : : "r"(dst) : "memory");
                        }
                        n += 16;
                        ns = bench_now_ns() - t0;
                } while ((double)ns < seconds / STREAM_MEMCPY_REPS * 1e9);
                v[r] = (double)bytes * (double)n / (double)ns;
        }
        return bench_median(v, STREAM_MEMCPY_REPS);
}

/* The raw pipeline: the same ring, fill and fold over a shared anonymous
 * mapping, handed over by two counters and spinning (sched_yield() now and
 * then, should both ends share a CPU): what the stream would cost with no
 * library at all. */
struct stream_raw {
        _Alignas(64) uint64_t head; /* frames published (producer) */
        _Alignas(64) uint64_t tail; /* frames released (consumer) */
        _Alignas(64) uint8_t data[];
};

static void
stream_raw_spin(uint32_t *i)
{
        if ((++*i & 4095u) == 0) {
                (void)sched_yield();
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
}

static void
stream_raw_child(struct stream_raw *r, size_t bytes, uint32_t slots, uint64_t warm, int res)
{
        struct stream_msg m = {0};
        uint64_t idx;
        uint32_t spins = 0;
        const uint8_t *slot;
        uint64_t first;

        for (idx = 1;; idx++) {
                while (__atomic_load_n(&r->head, __ATOMIC_ACQUIRE) < idx) {
                        stream_raw_spin(&spins);
                }
                slot = r->data + (idx - 1) % slots * bytes;
                memcpy(&first, slot, sizeof(first));
                if (first == STREAM_STOP) {
                        m.t1 = bench_now_ns();
                        break;
                }
                m.fold ^= stream_fold(slot, bytes);
                __atomic_store_n(&r->tail, idx, __ATOMIC_RELEASE);
                if (idx == warm) {
                        m.t0 = bench_now_ns();
                } else if (idx > warm) {
                        m.frames++;
                }
        }
        stream_send(res, &m);
        _exit(0);
}

static void
stream_raw_produce(struct stream_raw *r, const void *src, size_t bytes, uint32_t slots,
                   uint64_t warm, double seconds)
{
        uint64_t idx, end = 0;
        uint32_t spins = 0;
        uint8_t *slot;
        bool stop;

        for (idx = 1;; idx++) {
                while (idx - __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) > slots) {
                        stream_raw_spin(&spins);
                }
                slot = r->data + (idx - 1) % slots * bytes;
                memcpy(slot, src, bytes);
                if (idx == warm) {
                        end = bench_now_ns() + (uint64_t)(seconds * 1e9);
                }
                stop = end != 0 && bench_now_ns() >= end;
                memcpy(slot, stop ? &(uint64_t){STREAM_STOP} : &idx, sizeof(idx));
                __atomic_store_n(&r->head, idx, __ATOMIC_RELEASE);
                if (stop) {
                        return;
                }
        }
}

/* The raw pipeline's shared memory: anonymous, or with --shm-dir a file
 * there (unlinked at once), so that it has the pages tshm's segments get. */
static struct stream_raw *
stream_raw_map(const struct bench_env *env, size_t size)
{
        char path[sizeof(env->shm_dir) + 48];
        void *r;
        int fd;

        if (!env->shm_dir_given) {
                r = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                return r == MAP_FAILED ? NULL : r;
        }
        snprintf(path, sizeof(path), "%s%s.~raw", env->shm_dir, env->prefix);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                return NULL;
        }
        (void)unlink(path);
        r = posix_fallocate(fd, 0, (off_t)size) == 0
                ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                : MAP_FAILED;
        (void)close(fd);
        return r == MAP_FAILED ? NULL : r;
}

static int
stream_raw_run_one(const struct bench_env *env, const struct bench_cfg *cfg,
                   const cpu_set_t *server, const void *src, struct bench_stream_row *row)
{
        size_t size = sizeof(struct stream_raw) + row->frame_bytes * row->slots;
        uint64_t warm = (uint64_t)row->slots * STREAM_WARMUP_SLOTS;
        struct stream_msg m;
        struct stream_raw *r;
        int res[2] = {-1, -1}, rv = 0;
        pid_t pid = 0;

        if ((r = stream_raw_map(env, size)) == NULL) {
                return TSHM_ENOMEM;
        }
        if (pipe2(res, O_CLOEXEC) < 0 || (pid = bench_fork()) < 0) {
                rv = -errno;
                goto out;
        }
        if (pid == 0) {
                (void)close(res[0]);
                if (sched_setaffinity(0, sizeof(*server), server) < 0) {
                        _exit(1);
                }
                stream_raw_child(r, row->frame_bytes, row->slots, warm, res[1]);
        }
        (void)close(res[1]);
        res[1] = -1;
        stream_raw_produce(r, src, row->frame_bytes, row->slots, warm, cfg->stream_seconds);
        if ((rv = stream_recv(res[0], &m)) == 0) {
                row->raw_gbps = m.t1 > m.t0 ? (double)row->frame_bytes * (double)m.frames /
                                                  (double)(m.t1 - m.t0)
                                            : 0;
        }
out:
        if (pid > 0) {
                if (rv < 0) {
                        (void)kill(pid, SIGKILL);
                }
                (void)bench_reap(pid);
        }
        if (res[0] >= 0) {
                (void)close(res[0]);
        }
        if (res[1] >= 0) {
                (void)close(res[1]);
        }
        (void)munmap(r, size);
        return rv;
}

static int
stream_run_one(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
               const cpu_set_t *server, const void *src, struct bench_stream_row *row)
{
        uint64_t shape[1] = {row->frame_bytes}, warm = (uint64_t)row->slots * STREAM_WARMUP_SLOTS;
        struct stream_msg m;
        int res[2] = {-1, -1}, rv;
        tshm_seg *seg = NULL;
        pid_t pid = 0;

        rv = tshm_stream_create(c, STREAM_NAME, TSHM_DTYPE_UINT8, 1, shape, row->slots,
                                TSHM_STREAM_BLOCK, 0600, TSHM_CREATE_DEFAULT, &seg);
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: stream_create: %s (%s)\n", tshm_strerror(rv),
                        tshm_errmsg(c));
                return rv;
        }
        {
                tshm_info info;

                if (tshm_stat(c, STREAM_NAME, &info) == 0) {
                        row->page_size = info.page_size;
                        row->backing = info.backing;
                }
        }
        if (pipe2(res, O_CLOEXEC) < 0 || (pid = bench_fork()) < 0) {
                rv = -errno;
                goto out;
        }
        if (pid == 0) {
                (void)close(res[0]);
                if (sched_setaffinity(0, sizeof(*server), server) < 0) {
                        _exit(1);
                }
                stream_child(env, row->frame_bytes, warm, res[1]);
        }
        (void)close(res[1]);
        res[1] = -1;
        if ((rv = stream_recv(res[0], &m)) < 0 ||
            (rv = stream_produce(seg, src, row->frame_bytes, warm, cfg->stream_seconds)) < 0 ||
            (rv = stream_recv(res[0], &m)) < 0) {
                goto out;
        }
        row->frames = m.frames;
        row->seconds = (double)(m.t1 - m.t0) / 1e9;
        row->ran = true;
out:
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: stream of %zu-byte frames: %s\n", row->frame_bytes,
                        tshm_strerror(rv));
        }
        if (pid > 0) {
                if (rv < 0) {
                        (void)kill(pid, SIGKILL);
                }
                (void)bench_reap(pid);
        }
        if (res[0] >= 0) {
                (void)close(res[0]);
        }
        if (res[1] >= 0) {
                (void)close(res[1]);
        }
        (void)tshm_close(seg);
        (void)tshm_unlink(c, STREAM_NAME);
        return rv;
}

/* Publish, nobody waiting: ns per tshm_stream_loan + tshm_stream_publish
 * of a 64-byte frame with no subscriber (block policy), and with one that
 * is subscribed but never takes, so never sleeps (overwrite policy), against
 * the floor of one release store and release fence into shared memory. Each
 * sample is the mean of BENCH_PUB_BATCH ops, so the two clock reads around it
 * cost under 0.5% of even the floor's; the three alternate sample by sample
 * so the machine's noise falls on all of them. */
#define PUB_NAME "bench-publish"
#define PUB_FRAME 64

struct pub_floor {
        _Alignas(64) uint64_t seq;
};

static uint64_t
pub_floor_batch(struct pub_floor *f, uint64_t base)
{
        uint64_t t0 = bench_now_ns(), i;

        for (i = 0; i < BENCH_PUB_BATCH; i++) {
                __atomic_store_n(&f->seq, base + i, __ATOMIC_RELEASE);
                __atomic_thread_fence(__ATOMIC_RELEASE);
        }
        return bench_now_ns() - t0;
}

static int
pub_tshm_batch(tshm_seg *seg, uint64_t *ret_ns)
{
        uint64_t t0 = bench_now_ns();
        void *slot;
        int64_t s;
        int rv, i;

        for (i = 0; i < BENCH_PUB_BATCH; i++) {
                if ((rv = tshm_stream_loan(seg, STREAM_TIMEOUT_MS, &slot)) < 0) {
                        return rv;
                }
                *(volatile uint8_t *)slot = (uint8_t)i;
                if ((s = tshm_stream_publish(seg)) < 0) {
                        return (int)s;
                }
        }
        *ret_ns = bench_now_ns() - t0;
        return 0;
}

static int
pub_create(tshm_client *c, const char *name, tshm_stream_policy policy, tshm_seg **ret_seg)
{
        uint64_t shape[1] = {PUB_FRAME};
        int rv;

        rv = tshm_stream_create(c, name, TSHM_DTYPE_UINT8, 1, shape, 8, policy, 0600,
                                TSHM_CREATE_DEFAULT, ret_seg);
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: publish: stream_create: %s (%s)\n", tshm_strerror(rv),
                        tshm_errmsg(c));
        }
        return rv;
}

/* Samples into s[0] (floor), s[1] (no subscriber), s[2] (idle subscriber). */
static int
pub_sample(struct pub_floor *f, tshm_seg *none, tshm_seg *idle, size_t n, struct bench_samples *s)
{
        uint64_t ns = 0;
        size_t k;
        int rv;

        for (k = 0; k < n; k++) {
                bench_samples_add(&s[0],
                                  pub_floor_batch(f, k * BENCH_PUB_BATCH) * 1000 / BENCH_PUB_BATCH);
                if ((rv = pub_tshm_batch(none, &ns)) < 0) {
                        return rv;
                }
                bench_samples_add(&s[1], ns * 1000 / BENCH_PUB_BATCH);
                if ((rv = pub_tshm_batch(idle, &ns)) < 0) {
                        return rv;
                }
                bench_samples_add(&s[2], ns * 1000 / BENCH_PUB_BATCH);
        }
        return 0;
}

/* Samples are in ns * 1000 so that bench_summarize's "µs" read as ns. */
static int
pub_run(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
        struct bench_streams *ret)
{
        size_t n = cfg->iterations / 20 > 100 ? cfg->iterations / 20 : 100, i;
        struct bench_samples s[PUB_ROWS] = {0};
        tshm_seg *none = NULL, *idle = NULL;
        tshm_client *c2 = NULL;
        tshm_sub *sub = NULL;
        struct pub_floor *f;
        int rv;

        f = mmap(NULL, sizeof(*f), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (f == MAP_FAILED) {
                return TSHM_ENOMEM;
        }
        fprintf(stderr, "tshm-bench: publish, nobody waiting, %zu x %d ops\n", n, BENCH_PUB_BATCH);
        for (i = 0, rv = 0; i < PUB_ROWS && rv == 0; i++) {
                rv = bench_samples_init(&s[i], n);
        }
        if (rv < 0 || (rv = pub_create(c, PUB_NAME, TSHM_STREAM_BLOCK, &none)) < 0 ||
            (rv = pub_create(c, PUB_NAME "-sub", TSHM_STREAM_OVERWRITE, &idle)) < 0 ||
            (rv = tshm_connect(env->socket, &c2)) < 0 ||
            (rv = tshm_sub_open(c2, PUB_NAME "-sub", &sub)) < 0) {
                goto out;
        }
        /* A first pass faults every slot in, unrecorded. */
        if ((rv = pub_sample(f, none, idle, 1, s)) == 0) {
                for (i = 0; i < PUB_ROWS; i++) {
                        s[i].n = 0;
                }
                rv = pub_sample(f, none, idle, n, s);
        }
        for (i = 0; i < PUB_ROWS && rv == 0; i++) {
                bench_summarize(&s[i], &ret->pub[i]);
        }
        ret->pub_ran = rv == 0;
out:
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: publish, nobody waiting: %s\n", tshm_strerror(rv));
        }
        (void)tshm_sub_close(sub);
        tshm_disconnect(c2);
        (void)tshm_close(none);
        (void)tshm_close(idle);
        if (none != NULL) {
                (void)tshm_unlink(c, PUB_NAME);
        }
        if (idle != NULL) {
                (void)tshm_unlink(c, PUB_NAME "-sub");
        }
        for (i = 0; i < PUB_ROWS; i++) {
                bench_samples_done(&s[i]);
        }
        (void)munmap(f, sizeof(*f));
        return rv;
}

int
bench_streams_run(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
                  struct bench_streams *ret)
{
        size_t max = 0, ring = 0, i;
        cpu_set_t server;
        uint8_t *src, *dst;
        int rv = 0;

        for (i = 0; i < BENCH_STREAM_SIZES; i++) {
                max = stream_sizes[i].bytes > max ? stream_sizes[i].bytes : max;
                if (stream_sizes[i].bytes * stream_sizes[i].slots > ring) {
                        ring = stream_sizes[i].bytes * stream_sizes[i].slots;
                }
        }
        src = malloc(max);
        dst = malloc(ring);
        if (src == NULL || dst == NULL) {
                free(src);
                free(dst);
                return TSHM_ENOMEM;
        }
        for (i = 0; i < max; i++) {
                src[i] = (uint8_t)(i * 131u + 7u);
        }
        /* Producer and subscriber on two CPUs, as in the wake-up tests. */
        if (bench_place_apply(bench_place_available(PLACE_SPLIT) ? PLACE_SPLIT : PLACE_SAME,
                              env->daemon, &server) < 0) {
                free(src);
                free(dst);
                return -1;
        }
        for (i = 0; i < BENCH_STREAM_SIZES && rv == 0; i++) {
                struct bench_stream_row *row = &ret->row[i];

                row->frame_bytes = stream_sizes[i].bytes;
                row->slots = stream_sizes[i].slots;
                fprintf(stderr, "tshm-bench: stream of %zu-byte frames, %u slots\n",
                        row->frame_bytes, row->slots);
                row->memcpy_gbps = stream_memcpy_gbps(dst, src, row->frame_bytes, 1, 0.5);
                row->memcpy_ring_gbps =
                    stream_memcpy_gbps(dst, src, row->frame_bytes, row->slots, 0.5);
                if ((rv = stream_raw_run_one(env, cfg, &server, src, row)) == 0) {
                        rv = stream_run_one(env, cfg, c, &server, src, row);
                }
        }
        if (rv == 0) {
                rv = pub_run(env, cfg, c, ret);
        }
        if (bench_place_restore(env->daemon) < 0 && rv == 0) {
                rv = -1;
        }
        free(src);
        free(dst);
        return rv;
}
