/*
 * load.c - requests/s: client processes each stat one segment in a loop,
 * one request in flight per connection, for a fixed time; and the same
 * number of processes against the echo floor (echo.c) for the same time.
 * The two alternate, BENCH_LOAD_ROUNDS times each, the order flipped every
 * round, so that the machine's noise falls on both; the report gives the
 * medians.
 */
#include <stdio.h>

#include "bench.h"

static const unsigned load_clients[BENCH_LOAD_CLIENTS] = {1, 8};

struct load_arg {
        uint64_t duration_ns;
};

static int
load_work(tshm_client *c, unsigned idx, unsigned nworkers, void *arg, uint64_t *ret_count)
{
        const struct load_arg *a = arg;
        uint64_t deadline = bench_now_ns() + a->duration_ns, count = 0;
        tshm_info info;
        int rv;

        (void)idx;
        (void)nworkers;
        while (bench_now_ns() < deadline) {
                if ((rv = tshm_stat(c, BENCH_OPEN_NAME, &info)) < 0) {
                        return rv;
                }
                count++;
        }
        *ret_count = count;
        return 0;
}

/* One run of @nprocs processes, tshm (@echo_path NULL) or the floor. */
static int
load_once(const struct bench_env *env, const char *echo_path, unsigned nprocs, double seconds,
          double *ret_rps)
{
        struct load_arg a = {.duration_ns = (uint64_t)(seconds * 1e9)};
        struct bench_echo_arg e = {.path = echo_path, .duration_ns = a.duration_ns};
        uint64_t total;
        double elapsed;
        int rv;

        fprintf(stderr, "tshm-bench: requests/s, %s, %u client process%s for %.1f s\n",
                echo_path != NULL ? "echo floor" : "tshm_stat", nprocs, nprocs == 1 ? "" : "es",
                seconds);
        if (echo_path != NULL) {
                rv = bench_workers_run(NULL, nprocs, bench_echo_work, &e, &total, &elapsed);
        } else {
                rv = bench_workers_run(env->socket, nprocs, load_work, &a, &total, &elapsed);
        }
        if (rv < 0) {
                return rv;
        }
        *ret_rps = elapsed > 0 ? (double)total / elapsed : 0;
        return 0;
}

static int
load_row(const struct bench_env *env, const struct bench_cfg *cfg, struct bench_rps_row *row)
{
        double v[BENCH_LOAD_ROUNDS];
        unsigned r;
        int rv = 0;

        for (r = 0; r < BENCH_LOAD_ROUNDS && rv == 0; r++) {
                bool echo_first = r % 2 == 0;

                rv = load_once(env, echo_first ? env->echo : NULL, row->nprocs, cfg->load_seconds,
                               echo_first ? &row->echo[r] : &row->tshm[r]);
                if (rv == 0) {
                        rv = load_once(env, echo_first ? NULL : env->echo, row->nprocs,
                                       cfg->load_seconds,
                                       echo_first ? &row->tshm[r] : &row->echo[r]);
                }
        }
        if (rv < 0) {
                return rv;
        }
        for (r = 0; r < BENCH_LOAD_ROUNDS; r++) {
                v[r] = row->tshm[r];
        }
        row->tshm_median = bench_median(v, BENCH_LOAD_ROUNDS);
        for (r = 0; r < BENCH_LOAD_ROUNDS; r++) {
                v[r] = row->echo[r];
        }
        row->echo_median = bench_median(v, BENCH_LOAD_ROUNDS);
        return 0;
}

int
bench_load_run(const struct bench_env *env, const struct bench_cfg *cfg, struct bench_rps *ret)
{
        pid_t echo = 0;
        size_t i;
        int rv;

        if ((rv = bench_echo_start(env, &echo)) < 0) {
                return rv;
        }
        for (i = 0; i < BENCH_LOAD_CLIENTS && rv == 0; i++) {
                ret->row[i].nprocs = load_clients[i];
                rv = load_row(env, cfg, &ret->row[i]);
        }
        bench_echo_stop(env, echo);
        return rv;
}
