/*
 * tshm-load.c - many concurrent clients against one tshmd.
 *
 * N clients (--clients, default 1000) run for S seconds (--seconds, default
 * 60). They are threads, one tshm_client each, spread over P forked worker
 * processes (--procs, default one per 64 clients), so that no single process
 * serialises them on its mmap lock. Each client loops: create its own segment
 * (4-64 KiB), write it, stat it, open a shared segment read-only and read it,
 * close both, unlink its own. Every call is timed into a log-linear histogram
 * (32 buckets per power of two: about 3% resolution) per operation.
 *
 * At the end it reports requests/s, p50/p99/max latency per operation and
 * errors by code, and checks that:
 *  - no request was lost: no call failed with EPROTO, ECONNRESET, ETIMEDOUT
 *    or ENODAEMON, and the daemon counted exactly the requests the clients
 *    sent (a lost one would be missing; one answered twice would make libtshm
 *    drop and remake the connection, an extra hello the count would show);
 *  - no call failed at all: in this workload every call must succeed;
 *  - once every client has disconnected, the daemon's open descriptors are
 *    exactly what they were before, and its RSS is within a tolerance
 *    (--rss-tolerance KiB, default 1024) of what it was. glibc keeps heap
 *    that was freed below its trim threshold, so after a first load the RSS
 *    stays at a high-water mark; --warmup S runs the load once, unmeasured,
 *    before the baseline is taken, and the check then finds leaks only.
 * It exits 0 when all hold, 1 when one does not, 2 on a usage error.
 *
 * With --tshmd PATH it starts its own daemon (private socket and prefix);
 * with --socket PATH it uses a running one (the request count is then exact
 * only if nobody else talks to it, and the resource check needs access to
 * /proc/<pid>).
 *
 * The parts: load_workers.c (the worker processes and their clients),
 * load_daemon.c (the daemon: start, stop, watch), load_report.c (the
 * results and the report); load.h holds what they share.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "load.h"

static void
usage(FILE *fp)
{
        fprintf(fp, "usage: tshm-load [--clients N] [--seconds S] [--procs P] [--warmup S]\n"
                    "                 (--tshmd PATH | --socket PATH) [--rss-tolerance KIB]\n"
                    "                 [--no-rss-check]\n"
                    "  --clients N        concurrent clients (default 1000)\n"
                    "  --seconds S        length of the run (default 60)\n"
                    "  --procs P          worker processes (default: one per 64 clients)\n"
                    "  --tshmd PATH       start this tshmd on a private socket and prefix\n"
                    "  --socket PATH      use the tshmd listening there\n"
                    "  --rss-tolerance K  allowed RSS growth of tshmd, KiB (default 1024)\n"
                    "  --warmup S         run the same load for S seconds before the baseline is\n"
                    "                     taken (default 0): the RSS check then finds leaks\n"
                    "                     rather than the allocator's high-water mark\n"
                    "  --no-rss-check     report tshmd's RSS but do not judge it (a daemon under\n"
                    "                     a sanitizer keeps freed memory in quarantine)\n");
}

static int
parse_uint(const char *s, unsigned *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || s[0] == '\0' || v > 1000000) {
                return -1;
        }
        *ret = (unsigned)v;
        return 0;
}

static int
parse_args(int argc, char **argv, struct load_opts *opts)
{
        static const struct option longopts[] = {
            {"clients", required_argument, NULL, 'c'},
            {"seconds", required_argument, NULL, 's'},
            {"procs", required_argument, NULL, 'p'},
            {"socket", required_argument, NULL, 'S'},
            {"tshmd", required_argument, NULL, 't'},
            {"rss-tolerance", required_argument, NULL, 'r'},
            {"warmup", required_argument, NULL, 'w'},
            {"no-rss-check", no_argument, NULL, 'R'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int o, bad = 0;

        while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (o) {
                case 'c':
                        bad |= parse_uint(optarg, &opts->clients) < 0 || opts->clients == 0;
                        break;
                case 's':
                        bad |= parse_uint(optarg, &opts->seconds) < 0 || opts->seconds == 0;
                        break;
                case 'p':
                        bad |= parse_uint(optarg, &opts->procs) < 0 || opts->procs == 0;
                        break;
                case 'r':
                        bad |= parse_uint(optarg, &opts->rss_tolerance_kib) < 0;
                        break;
                case 'w':
                        bad |= parse_uint(optarg, &opts->warmup) < 0;
                        break;
                case 'R':
                        opts->rss_check = false;
                        break;
                case 'S':
                        opts->socket = optarg;
                        break;
                case 't':
                        opts->tshmd = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        bad = 1;
                        break;
                }
        }
        if (bad || optind != argc || (opts->socket == NULL) == (opts->tshmd == NULL)) {
                usage(stderr);
                return -1;
        }
        if (opts->procs == 0) {
                opts->procs = (opts->clients + 63) / 64;
        }
        if (opts->procs > opts->clients) {
                opts->procs = opts->clients;
        }
        return 0;
}

static void
raise_nofile(unsigned clients)
{
        struct rlimit rl;
        rlim_t want = (rlim_t)clients + 256;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
                fprintf(stderr,
                        "tshm-load: warning: RLIMIT_NOFILE is %llu; tshmd needs about %llu "
                        "descriptors for %u clients\n",
                        (unsigned long long)rl.rlim_cur, (unsigned long long)want, clients);
        }
}

/* The measured run: the load, the daemon settled, the report. Returns the
 * number of failed checks. */
static int
run_measured(const struct load_opts *opts, struct load_shared *shm, pid_t *pids, tshm_client *mon,
             struct load_watch *w)
{
        int64_t t0, t1;
        int failed = 0;

        if (load_workers_start(opts, shm, pids, w) < 0) {
                return 1;
        }
        t0 = load_now_ns();
        failed += load_workers_wait(opts, shm, pids, w, opts->seconds) < 0;
        t1 = load_now_ns();
        failed += load_watch_settle(mon, w) < 0;
        failed += load_report(opts, load_merge(opts, shm), w, (double)(t1 - t0) / 1e9);
        return failed;
}

int
main(int argc, char **argv)
{
        struct load_opts opts = {
            .clients = 1000, .seconds = 60, .rss_tolerance_kib = 1024, .rss_check = true};
        struct load_daemon d = {.pid = 0}; /* opts.socket points into it once started */
        struct load_watch w = {.pid = 0};
        struct load_shared *shm;
        tshm_client *mon = NULL;
        tshm_seg *shared = NULL;
        pid_t *pids = NULL;
        size_t shm_size;
        int failed = 0, rv;

        if ((rv = parse_args(argc, argv, &opts)) != 0) {
                return rv > 0 ? 0 : 2;
        }
        raise_nofile(opts.clients);
        shm_size = sizeof(struct load_shared) + sizeof(struct load_result) * (opts.procs + 1);
        shm = mmap(NULL, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        pids = calloc(opts.procs, sizeof(*pids));
        if (shm == MAP_FAILED || pids == NULL) {
                perror("tshm-load: memory");
                return 1;
        }
        if (opts.tshmd != NULL) {
                if (load_daemon_start(&d, opts.tshmd) < 0) {
                        return 1;
                }
                opts.socket = d.socket;
        }
        if (load_monitor_open(opts.socket, &mon, &shared) < 0 || load_watch_baseline(mon, &w) < 0) {
                failed++;
                goto out;
        }
        if (opts.warmup > 0) {
                /* The same load, unmeasured; then start afresh. */
                if (load_workers_start(&opts, shm, pids, &w) < 0 ||
                    load_workers_wait(&opts, shm, pids, &w, opts.warmup) < 0 ||
                    load_watch_settle(mon, &w) < 0) {
                        failed++;
                        goto out;
                }
                printf("warm-up: %u s; daemon RSS %ld KiB before, %ld KiB after\n", opts.warmup,
                       w.rss0, w.rss1);
                memset(shm, 0, shm_size);
                if (load_watch_baseline(mon, &w) < 0) {
                        failed++;
                        goto out;
                }
        }
        failed += run_measured(&opts, shm, pids, mon, &w);
out:
        (void)tshm_close(shared);
        (void)tshm_unlink(mon, "load-shared");
        tshm_disconnect(mon);
        if (opts.tshmd != NULL && !load_daemon_stop(&d)) {
                failed++;
        }
        printf("RESULT: %s\n", failed == 0 ? "ok" : "FAILED");
        free(pids);
        return failed == 0 ? 0 : 1;
}
