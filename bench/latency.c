/*
 * latency.c - the latency of tshm's calls, and the runner that measures them
 * with the floors. All measurements run in rounds, each a slice of every
 * measurement in turn, so that a noisy neighbour slows them alike instead of
 * whichever happened to run at the time.
 */
#include <stdio.h>

#include "bench.h"

#define LAT_ROUNDS 10
#define LAT_CREATE_NAME "bench-create"

static int
lat_fail(struct bench_ctx *ctx, const char *what, int rv)
{
        fprintf(stderr, "tshm-bench: %s: %s (%s)\n", what, tshm_strerror(rv),
                tshm_errmsg(ctx->client));
        return rv;
}

/* tshm_create of float32 [16], then tshm_close and tshm_unlink: create's
 * sample ends when the mapping is usable, the cycle's after the unlink. */
static int
lat_create_step(struct bench_ctx *ctx, bool record)
{
        static const uint64_t shape[1] = {16};
        uint64_t t0, t1;
        tshm_seg *seg;
        int rv;

        t0 = bench_now_ns();
        rv = tshm_create(ctx->client, LAT_CREATE_NAME, TSHM_DTYPE_FLOAT32, 1, shape, 0,
                         TSHM_CREATE_DEFAULT, &seg);
        if (rv < 0) {
                return lat_fail(ctx, "tshm_create", rv);
        }
        t1 = bench_now_ns();
        if ((rv = tshm_close(seg)) < 0) {
                return lat_fail(ctx, "tshm_close", rv);
        }
        if ((rv = tshm_unlink(ctx->client, LAT_CREATE_NAME)) < 0) {
                return lat_fail(ctx, "tshm_unlink", rv);
        }
        if (record) {
                bench_samples_add(&ctx->s[LAT_CREATE], t1 - t0);
                bench_samples_add(&ctx->s[LAT_CREATE_CYCLE], bench_now_ns() - t0);
        }
        return 0;
}

/* tshm_open read-only of an existing segment, then tshm_close. */
static int
lat_open_step(struct bench_ctx *ctx, bool record)
{
        uint64_t t0, t1;
        tshm_seg *seg;
        int rv;

        t0 = bench_now_ns();
        if ((rv = tshm_open(ctx->client, BENCH_OPEN_NAME, TSHM_OPEN_RDONLY, &seg)) < 0) {
                return lat_fail(ctx, "tshm_open", rv);
        }
        t1 = bench_now_ns();
        if ((rv = tshm_close(seg)) < 0) {
                return lat_fail(ctx, "tshm_close", rv);
        }
        if (record) {
                bench_samples_add(&ctx->s[LAT_OPEN], t1 - t0);
                bench_samples_add(&ctx->s[LAT_OPEN_CYCLE], bench_now_ns() - t0);
        }
        return 0;
}

static int
lat_stat_step(struct bench_ctx *ctx, bool record)
{
        uint64_t t0 = bench_now_ns();
        tshm_info info;
        int rv;

        if ((rv = tshm_stat(ctx->client, BENCH_OPEN_NAME, &info)) < 0) {
                return lat_fail(ctx, "tshm_stat", rv);
        }
        if (record) {
                bench_samples_add(&ctx->s[LAT_STAT], bench_now_ns() - t0);
        }
        return 0;
}

typedef int (*lat_step_fn)(struct bench_ctx *ctx, bool record);

static const struct {
        const char *name;
        lat_step_fn step;
} lat_steps[] = {
    {"floor a (shm_open+ftruncate+mmap)", bench_floor_shm_step},
    {"floor b (socket round trip)", bench_floor_rtt_step},
    {"floor c (round trip passing an fd)", bench_floor_fd_step},
    {"floor c + touch", bench_floor_fd_touch_step},
    {"create+close+unlink", lat_create_step},
    {"open+close", lat_open_step},
    {"stat", lat_stat_step},
};

#define LAT_NSTEPS (sizeof(lat_steps) / sizeof(lat_steps[0]))

static int
lat_run_slice(struct bench_ctx *ctx, size_t step, size_t n, bool record)
{
        size_t i;
        int rv;

        for (i = 0; i < n; i++) {
                if ((rv = lat_steps[step].step(ctx, record)) < 0) {
                        fprintf(stderr, "tshm-bench: %s failed\n", lat_steps[step].name);
                        return rv;
                }
        }
        return 0;
}

int
bench_latency_run(struct bench_ctx *ctx, const struct bench_cfg *cfg)
{
        size_t rounds = cfg->iterations >= LAT_ROUNDS ? LAT_ROUNDS : 1;
        size_t r, i, n;
        int rv;

        for (i = 0; i < LAT_COUNT; i++) {
                if ((rv = bench_samples_init(&ctx->s[i], cfg->iterations)) < 0) {
                        return rv;
                }
        }
        for (i = 0; i < LAT_NSTEPS; i++) {
                fprintf(stderr, "tshm-bench: warming up %s\n", lat_steps[i].name);
                if ((rv = lat_run_slice(ctx, i, cfg->warmup, false)) < 0) {
                        return rv;
                }
        }
        fprintf(stderr, "tshm-bench: measuring %zu iterations of %zu latencies in %zu rounds\n",
                cfg->iterations, (size_t)LAT_NSTEPS, rounds);
        for (r = 0; r < rounds; r++) {
                /* Spread the remainder over the first rounds. */
                n = cfg->iterations / rounds + (r < cfg->iterations % rounds ? 1 : 0);
                for (i = 0; i < LAT_NSTEPS; i++) {
                        if ((rv = lat_run_slice(ctx, i, n, true)) < 0) {
                                return rv;
                        }
                }
        }
        return 0;
}
