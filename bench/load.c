/*
 * load.c - requests/s: client processes each stat one segment in a loop,
 * one request in flight per connection, for a fixed time.
 */
#include <stdio.h>

#include "bench.h"

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

int
bench_load(const struct bench_env *env, unsigned nprocs, double seconds, double *ret_rps)
{
        struct load_arg a = {.duration_ns = (uint64_t)(seconds * 1e9)};
        uint64_t total;
        double elapsed;
        int rv;

        fprintf(stderr, "tshm-bench: requests/s with %u client process%s for %.1f s\n", nprocs,
                nprocs == 1 ? "" : "es", seconds);
        rv = bench_workers_run(env->socket, nprocs, load_work, &a, &total, &elapsed);
        if (rv < 0) {
                return rv;
        }
        *ret_rps = elapsed > 0 ? (double)total / elapsed : 0;
        return 0;
}
