/*
 * stats.c - timestamps, sample sets and their percentiles.
 */
#include <stdlib.h>
#include <time.h>

#include "bench.h"

uint64_t
bench_now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
bench_samples_init(struct bench_samples *s, size_t cap)
{
        s->n = 0;
        s->cap = cap;
        s->ns = calloc(cap > 0 ? cap : 1, sizeof(*s->ns));
        return s->ns != NULL ? 0 : TSHM_ENOMEM;
}

void
bench_samples_done(struct bench_samples *s)
{
        free(s->ns);
        s->ns = NULL;
        s->n = s->cap = 0;
}

void
bench_samples_add(struct bench_samples *s, uint64_t ns)
{
        if (s->n < s->cap) {
                s->ns[s->n++] = ns;
        }
}

static int
stats_cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static int
stats_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least @pct percent of the
 * samples at or below it. */
static uint64_t
stats_rank(const struct bench_samples *s, unsigned pct)
{
        size_t rank = (s->n * pct + 99) / 100;

        return s->ns[rank > 0 ? rank - 1 : 0];
}

void
bench_summarize(struct bench_samples *s, struct bench_summary *ret)
{
        double sum = 0;
        size_t i;

        ret->n = s->n;
        if (s->n == 0) {
                ret->p50_us = ret->p99_us = ret->mean_us = 0;
                return;
        }
        qsort(s->ns, s->n, sizeof(*s->ns), stats_cmp_u64);
        for (i = 0; i < s->n; i++) {
                sum += (double)s->ns[i];
        }
        ret->p50_us = (double)stats_rank(s, 50) / 1e3;
        ret->p99_us = (double)stats_rank(s, 99) / 1e3;
        ret->mean_us = sum / (double)s->n / 1e3;
}

double
bench_median(double *v, size_t n)
{
        if (n == 0) {
                return 0;
        }
        qsort(v, n, sizeof(*v), stats_cmp_double);
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
