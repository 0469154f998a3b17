/*
 * load.h - what the parts of tshm-load share: the options, the results the
 * worker processes write into shared memory, the daemon and what is watched
 * of it.
 *
 * The state is passed around explicitly (struct load_opts, struct
 * load_shared, struct load_watch); there are no globals across files. The
 * only table two files read, the error codes, stays private to
 * load_report.c behind load_record().
 *
 *   tshm-load.c     main, options
 *   load_workers.c  the worker processes and their client threads
 *   load_daemon.c   starting and stopping tshmd, watching it (/proc, stats)
 *   load_report.c   recording calls, merging and reporting the results
 */
#ifndef TSHM_LOAD_H
#define TSHM_LOAD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "tshm.h"

/* Histogram: values in ns, 32 linear sub-buckets per power of two. */
#define LOAD_SUB_BITS 5u
#define LOAD_SUB (1u << LOAD_SUB_BITS)
#define LOAD_HBUCKETS ((64u - LOAD_SUB_BITS + 1u) * LOAD_SUB)

enum load_op { OP_CONNECT, OP_CREATE, OP_STAT, OP_OPEN, OP_CLOSE, OP_UNLINK, OP_COUNT };

/* The error codes libtshm returns, counted one by one, and one more slot
 * for any other. */
#define LOAD_ERR_ONE_(name, value, msg) +1
enum { LOAD_NERR = 0 TSHM_ERRNO_MAP(LOAD_ERR_ONE_) + 1 };
#undef LOAD_ERR_ONE_

/* The command line. */
struct load_opts {
        unsigned clients, seconds, warmup, procs, rss_tolerance_kib;
        bool rss_check;
        const char *socket; /* where the daemon listens (ours, once started) */
        const char *tshmd;  /* start this daemon, or NULL */
};

/* One worker process's results, in memory shared with the parent. Threads
 * add to it with relaxed atomic adds. */
struct load_result {
        uint64_t hist[OP_COUNT][LOAD_HBUCKETS];
        uint64_t count[OP_COUNT];
        uint64_t max_ns[OP_COUNT];
        uint64_t errors[OP_COUNT][LOAD_NERR];
        uint64_t sent;      /* requests sent, hellos included */
        uint64_t lost;      /* calls failed by a lost connection or reply */
        uint32_t connected; /* clients connected */
        uint32_t done;      /* clients finished */
};

/* The anonymous shared mapping between the parent and its workers: one
 * result per worker, and one more the parent merges them into. */
struct load_shared {
        uint32_t go;    /* (atomic) start the run */
        int64_t end_ms; /* when to stop, CLOCK_MONOTONIC; set before go */
        uint32_t ready; /* (atomic) workers whose clients are all connected */
        struct load_result res[];
};

/* The daemon this run started, if any. */
struct load_daemon {
        char dir[64];
        char socket[128];
        char prefix[32];
        char log[128];
        char state[128]; /* its --state-dir */
        pid_t pid;
};

/* Everything the parent measures of the daemon. */
struct load_watch {
        pid_t pid;
        bool readable; /* /proc/<pid> is ours to read */
        long rss0, fds0, rss_peak, fds_peak, rss1, fds1;
        tshm_daemon_info st0, st1;
        uint64_t monitor_calls; /* requests the monitor sent after st0 */
};

static inline int64_t
load_now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t
load_now_ms(void)
{
        return load_now_ns() / 1000000;
}

static inline void
load_sleep_ms(unsigned ms)
{
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
}

/* load_workers.c: fork the workers and wait until every client is
 * connected; then let them go for @seconds and reap them. Both sample the
 * daemon into @w meanwhile. */
int load_workers_start(const struct load_opts *opts, struct load_shared *shm, pid_t *pids,
                       struct load_watch *w);
int load_workers_wait(const struct load_opts *opts, struct load_shared *shm, const pid_t *pids,
                      struct load_watch *w, unsigned seconds);

/* load_daemon.c: start @tshmd on a private socket and prefix and wait for
 * its READY=1; stop it (SIGTERM, 10 s, then SIGKILL) and remove what it
 * left, returning whether it exited 0. */
int load_daemon_start(struct load_daemon *d, const char *tshmd);
bool load_daemon_stop(struct load_daemon *d);
/* The monitor connection and the segment every client opens. */
int load_monitor_open(const char *socket, tshm_client **ret_mon, tshm_seg **ret_shared);
/* The baseline: the daemon's counters, RSS and descriptors. */
int load_watch_baseline(tshm_client *mon, struct load_watch *w);
/* Record the daemon's peak RSS and descriptors. */
void load_watch_sample(struct load_watch *w);
/* Wait (bounded) until the daemon has seen every client go, then take the
 * final readings. */
int load_watch_settle(tshm_client *mon, struct load_watch *w);

/* load_report.c: record one call of @op that took @ns and returned @rv. */
void load_record(struct load_result *res, enum load_op op, int64_t ns, int rv);
/* Merge the workers' results into shm->res[opts->procs]. */
struct load_result *load_merge(const struct load_opts *opts, struct load_shared *shm);
/* Print the report; returns the number of failed checks. */
int load_report(const struct load_opts *opts, const struct load_result *all,
                const struct load_watch *w, double secs);

#endif
