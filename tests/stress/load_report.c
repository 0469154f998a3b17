/*
 * load_report.c - tshm-load's results: every call timed into a log-linear
 * histogram per operation (32 buckets per power of two: about 3%
 * resolution) and its errors counted by code; at the end the workers'
 * results merged, reported, and judged.
 */
#include <stdio.h>

#include "load.h"

static const char *const op_names[OP_COUNT] = {"connect", "create", "stat",
                                               "open",    "close",  "unlink"};

/* The error codes libtshm returns, as a table to count them by. */
static const int err_codes[LOAD_NERR - 1] = {
#define LOAD_ERR_CODE_(name, value, msg) (value),
    TSHM_ERRNO_MAP(LOAD_ERR_CODE_)
#undef LOAD_ERR_CODE_
};

static unsigned
hist_index(uint64_t v)
{
        unsigned msb, shift;

        if (v < LOAD_SUB) {
                return (unsigned)v;
        }
        msb = 63u - (unsigned)__builtin_clzll(v);
        shift = msb - LOAD_SUB_BITS;
        return (shift + 1u) * LOAD_SUB + (unsigned)((v >> shift) & (LOAD_SUB - 1u));
}

/* The middle of bucket @idx, in ns. */
static uint64_t
hist_value(unsigned idx)
{
        unsigned k = idx / LOAD_SUB, s = idx % LOAD_SUB;

        if (k == 0) {
                return s;
        }
        return ((uint64_t)(LOAD_SUB + s) << (k - 1)) + ((1ull << (k - 1)) - 1) / 2;
}

static unsigned
err_index(int rv)
{
        unsigned i;

        for (i = 0; i < LOAD_NERR - 1; i++) {
                if (err_codes[i] == rv) {
                        return i;
                }
        }
        return LOAD_NERR - 1;
}

/* Record one call that took @ns and returned @rv. */
void
load_record(struct load_result *res, enum load_op op, int64_t ns, int rv)
{
        uint64_t v = ns > 0 ? (uint64_t)ns : 0, cur;

        __atomic_fetch_add(&res->hist[op][hist_index(v)], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&res->count[op], 1, __ATOMIC_RELAXED);
        cur = __atomic_load_n(&res->max_ns[op], __ATOMIC_RELAXED);
        while (v > cur && !__atomic_compare_exchange_n(&res->max_ns[op], &cur, v, true,
                                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        }
        if (rv < 0) {
                __atomic_fetch_add(&res->errors[op][err_index(rv)], 1, __ATOMIC_RELAXED);
                if (rv == TSHM_EPROTO || rv == TSHM_ECONNRESET || rv == TSHM_ETIMEDOUT ||
                    rv == TSHM_ENODAEMON) {
                        __atomic_fetch_add(&res->lost, 1, __ATOMIC_RELAXED);
                }
        }
}

/* Merge the workers' results into shm->res[opts->procs]. */
struct load_result *
load_merge(const struct load_opts *opts, struct load_shared *shm)
{
        struct load_result *all = &shm->res[opts->procs];
        unsigned p, o, i;

        for (p = 0; p < opts->procs; p++) {
                const struct load_result *r = &shm->res[p];
                for (o = 0; o < OP_COUNT; o++) {
                        for (i = 0; i < LOAD_HBUCKETS; i++) {
                                all->hist[o][i] += r->hist[o][i];
                        }
                        all->count[o] += r->count[o];
                        all->max_ns[o] =
                            r->max_ns[o] > all->max_ns[o] ? r->max_ns[o] : all->max_ns[o];
                        for (i = 0; i < LOAD_NERR; i++) {
                                all->errors[o][i] += r->errors[o][i];
                        }
                }
                all->sent += r->sent;
                all->lost += r->lost;
                all->connected += r->connected;
        }
        return all;
}

/* The @q quantile (0..1) of @hist, in ns. */
static uint64_t
quantile(const uint64_t *hist, uint64_t count, double q)
{
        uint64_t want = (uint64_t)((double)count * q), seen = 0;
        unsigned i;

        if (want == 0) {
                want = 1;
        }
        for (i = 0; i < LOAD_HBUCKETS; i++) {
                seen += hist[i];
                if (seen >= want) {
                        return hist_value(i);
                }
        }
        return 0;
}

static void
print_latency(const char *name, const uint64_t *hist, uint64_t count, uint64_t max_ns)
{
        if (count == 0) {
                printf("  %-8s n=0\n", name);
                return;
        }
        printf("  %-8s n=%-10llu p50 %9.1f us   p99 %9.1f us   max %9.1f us\n", name,
               (unsigned long long)count, (double)quantile(hist, count, 0.50) / 1e3,
               (double)quantile(hist, count, 0.99) / 1e3, (double)max_ns / 1e3);
}

/* Report, and count the failed checks. */
int
load_report(const struct load_opts *opts, const struct load_result *all, const struct load_watch *w,
            double secs)
{
        static uint64_t total_hist[LOAD_HBUCKETS];
        uint64_t requests = 0, errors = 0, total_max = 0, daemon_delta, sent;
        unsigned o, i;
        int failed = 0;

        for (o = OP_CREATE; o < OP_COUNT; o++) {
                requests += all->count[o];
                total_max = all->max_ns[o] > total_max ? all->max_ns[o] : total_max;
                for (i = 0; i < LOAD_HBUCKETS; i++) {
                        total_hist[i] += all->hist[o][i];
                }
        }
        printf("tshm-load: %u clients (%u processes), %.1f s of load\n", opts->clients, opts->procs,
               secs);
        printf("connected: %u of %u\n", all->connected, opts->clients);
        printf("requests: %llu in %.1f s = %.0f req/s (create, stat, open, close, unlink)\n",
               (unsigned long long)requests, secs, (double)requests / secs);
        printf("latency:\n");
        print_latency("all", total_hist, requests, total_max);
        for (o = 0; o < OP_COUNT; o++) {
                print_latency(op_names[o], all->hist[o], all->count[o], all->max_ns[o]);
        }
        printf("errors:");
        for (o = 0; o < OP_COUNT; o++) {
                for (i = 0; i < LOAD_NERR; i++) {
                        if (all->errors[o][i] > 0) {
                                printf(" %s %s x%llu;", op_names[o],
                                       i < LOAD_NERR - 1 ? tshm_err_name(err_codes[i]) : "other",
                                       (unsigned long long)all->errors[o][i]);
                                errors += all->errors[o][i];
                        }
                }
        }
        printf("%s\n", errors == 0 ? " none" : "");
        printf("lost (EPROTO, ECONNRESET, ETIMEDOUT, ENODAEMON): %llu\n",
               (unsigned long long)all->lost);
        failed += all->lost > 0;
        failed += errors > 0;
        failed += all->connected != opts->clients;
        daemon_delta = w->st1.requests - w->st0.requests;
        sent = all->sent + w->monitor_calls;
        if (w->st0.clients == 1 && w->st1.clients == 1) {
                printf("requests the daemon counted: %llu; sent: %llu clients + %llu monitor = "
                       "%llu: %s\n",
                       (unsigned long long)daemon_delta, (unsigned long long)all->sent,
                       (unsigned long long)w->monitor_calls, (unsigned long long)sent,
                       daemon_delta == sent ? "match" : "MISMATCH");
                failed += daemon_delta != sent;
        } else {
                printf("requests the daemon counted: %llu (other clients present: no exact "
                       "check)\n",
                       (unsigned long long)daemon_delta);
        }
        if (!w->readable) {
                printf("daemon pid %d: /proc not readable, resources not checked\n", (int)w->pid);
                return failed;
        }
        printf("daemon pid %d: RSS %ld KiB before, %ld KiB peak, %ld KiB after (tolerance +%u "
               "KiB): %s\n",
               (int)w->pid, w->rss0, w->rss_peak, w->rss1, opts->rss_tolerance_kib,
               !opts->rss_check                                     ? "not checked"
               : w->rss1 <= w->rss0 + (long)opts->rss_tolerance_kib ? "ok"
                                                                    : "DID NOT RETURN");
        printf("daemon pid %d: %ld fds before, %ld peak, %ld after: %s\n", (int)w->pid, w->fds0,
               w->fds_peak, w->fds1, w->fds1 == w->fds0 ? "ok" : "DID NOT RETURN");
        failed += opts->rss_check && w->rss1 > w->rss0 + (long)opts->rss_tolerance_kib;
        failed += w->fds1 != w->fds0;
        return failed;
}
