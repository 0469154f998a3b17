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
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tshm.h"

/* Histogram: values in ns, 32 linear sub-buckets per power of two. */
#define SUB_BITS 5u
#define SUB (1u << SUB_BITS)
#define HBUCKETS ((64u - SUB_BITS + 1u) * SUB)

enum load_op { OP_CONNECT, OP_CREATE, OP_STAT, OP_OPEN, OP_CLOSE, OP_UNLINK, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"connect", "create", "stat",
                                               "open",    "close",  "unlink"};

/* The error codes libtshm returns, as a table to count them by. */
static const int err_codes[] = {
#define LOAD_ERR_CODE_(name, value, msg) (value),
    TSHM_ERRNO_MAP(LOAD_ERR_CODE_)
#undef LOAD_ERR_CODE_
};
#define NERR (sizeof(err_codes) / sizeof(err_codes[0]) + 1) /* the last: any other */

/* One worker process's results, in memory shared with the parent. Threads
 * add to it with relaxed atomic adds. */
struct proc_result {
        uint64_t hist[OP_COUNT][HBUCKETS];
        uint64_t count[OP_COUNT];
        uint64_t max_ns[OP_COUNT];
        uint64_t errors[OP_COUNT][NERR];
        uint64_t sent;      /* requests sent, hellos included */
        uint64_t lost;      /* calls failed by a lost connection or reply */
        uint32_t connected; /* clients connected */
        uint32_t done;      /* clients finished */
};

struct shared {
        uint32_t go;    /* (atomic) start the run */
        int64_t end_ms; /* when to stop, CLOCK_MONOTONIC; set before go */
        uint32_t ready; /* (atomic) workers whose clients are all connected */
        struct proc_result res[];
};

static unsigned arg_clients = 1000;
static unsigned arg_seconds = 60;
static unsigned arg_warmup;
static bool arg_rss_check = true;
static unsigned arg_procs;
static unsigned arg_rss_tolerance_kib = 1024;
static const char *arg_socket;
static const char *arg_tshmd;

static struct shared *shm;

/* In a worker: its threads wait here for the start, rather than each
 * polling the shared flag (a thousand sleeping pollers would load the
 * machine before the run begins). */
static pthread_mutex_t go_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static bool go_local;

static int64_t
now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
now_ms(void)
{
        return now_ns() / 1000000;
}

static void
sleep_ms(unsigned ms)
{
        struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
}

static unsigned
hist_index(uint64_t v)
{
        unsigned msb, shift;

        if (v < SUB) {
                return (unsigned)v;
        }
        msb = 63u - (unsigned)__builtin_clzll(v);
        shift = msb - SUB_BITS;
        return (shift + 1u) * SUB + (unsigned)((v >> shift) & (SUB - 1u));
}

/* The middle of bucket @idx, in ns. */
static uint64_t
hist_value(unsigned idx)
{
        unsigned k = idx / SUB, s = idx % SUB;

        if (k == 0) {
                return s;
        }
        return ((uint64_t)(SUB + s) << (k - 1)) + ((1ull << (k - 1)) - 1) / 2;
}

static unsigned
err_index(int rv)
{
        unsigned i;

        for (i = 0; i < NERR - 1; i++) {
                if (err_codes[i] == rv) {
                        return i;
                }
        }
        return NERR - 1;
}

/* Record one call that took @ns and returned @rv. */
static void
record(struct proc_result *res, enum load_op op, int64_t ns, int rv)
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

struct client_arg {
        struct proc_result *res;
        unsigned proc, index;
        pthread_t thread;
};

/* Time one call: @expr is evaluated between two clock reads. */
#define TIMED(res, op, rv, expr)                                                                   \
        do {                                                                                       \
                int64_t t0_ = now_ns();                                                            \
                (rv) = (expr);                                                                     \
                record((res), (op), now_ns() - t0_, (rv));                                         \
                __atomic_fetch_add(&(res)->sent, 1, __ATOMIC_RELAXED);                             \
        } while (0)

/* One round of the workload on client @c. */
static void
client_round(struct proc_result *res, tshm_client *c, const char *name, uint64_t *rng)
{
        tshm_seg *own = NULL, *shared = NULL;
        tshm_info info;
        uint64_t bytes;
        int rv;

        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        bytes = 4096 + (*rng >> 33) % (60u << 10);
        TIMED(res, OP_CREATE, rv, tshm_create(c, name, TSHM_DTYPE_UINT8, 1, &bytes, 0, 0, &own));
        if (rv == 0) {
                ((volatile uint8_t *)tshm_seg_data(own))[bytes - 1] = 1;
        }
        TIMED(res, OP_STAT, rv, tshm_stat(c, name, &info));
        TIMED(res, OP_OPEN, rv, tshm_open(c, "load-shared", TSHM_OPEN_RDONLY, &shared));
        if (rv == 0) {
                (void)((volatile const uint8_t *)tshm_seg_data(shared))[0];
                TIMED(res, OP_CLOSE, rv, tshm_close(shared));
        }
        if (own != NULL) {
                TIMED(res, OP_CLOSE, rv, tshm_close(own));
        }
        TIMED(res, OP_UNLINK, rv, tshm_unlink(c, name));
}

static void *
client_main(void *p)
{
        struct client_arg *a = p;
        struct proc_result *res = a->res;
        tshm_client *c = NULL;
        uint64_t rng = ((uint64_t)a->proc << 32) ^ a->index ^ (uint64_t)now_ns();
        char name[64];
        int rv;

        snprintf(name, sizeof(name), "load-%u-%u", a->proc, a->index);
        TIMED(res, OP_CONNECT, rv, tshm_connect(arg_socket, &c));
        if (rv < 0) {
                fprintf(stderr, "tshm-load: client %u/%u: connect: %s\n", a->proc, a->index,
                        tshm_strerror(rv));
                __atomic_fetch_add(&res->done, 1, __ATOMIC_RELEASE);
                return NULL;
        }
        __atomic_fetch_add(&res->connected, 1, __ATOMIC_RELEASE);
        (void)pthread_mutex_lock(&go_lock);
        while (!go_local) {
                (void)pthread_cond_wait(&go_cond, &go_lock);
        }
        (void)pthread_mutex_unlock(&go_lock);
        while (now_ms() < shm->end_ms) {
                client_round(res, c, name, &rng);
        }
        tshm_disconnect(c);
        __atomic_fetch_add(&res->done, 1, __ATOMIC_RELEASE);
        return NULL;
}

/* A worker process: @n clients as threads. */
static int
worker_main(unsigned proc, unsigned n)
{
        struct proc_result *res = &shm->res[proc];
        struct client_arg *args = calloc(n, sizeof(*args));
        pthread_attr_t attr;
        unsigned i, started = 0;
        int rv;

        if (args == NULL || pthread_attr_init(&attr) != 0 ||
            pthread_attr_setstacksize(&attr, 256u << 10) != 0) {
                return 1;
        }
        for (i = 0; i < n; i++) {
                args[i].res = res;
                args[i].proc = proc;
                args[i].index = i;
                if ((rv = pthread_create(&args[i].thread, &attr, client_main, &args[i])) != 0) {
                        fprintf(stderr, "tshm-load: worker %u: pthread_create: %s\n", proc,
                                strerror(rv));
                        break;
                }
                started++;
        }
        /* Connected (or failed) clients report; tell the parent once all did. */
        while (__atomic_load_n(&res->connected, __ATOMIC_ACQUIRE) +
                   __atomic_load_n(&res->done, __ATOMIC_ACQUIRE) <
               started) {
                sleep_ms(1);
        }
        __atomic_fetch_add(&shm->ready, 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&shm->go, __ATOMIC_ACQUIRE) == 0) {
                sleep_ms(1);
        }
        (void)pthread_mutex_lock(&go_lock);
        go_local = true;
        (void)pthread_cond_broadcast(&go_cond);
        (void)pthread_mutex_unlock(&go_lock);
        for (i = 0; i < started; i++) {
                (void)pthread_join(args[i].thread, NULL);
        }
        (void)pthread_attr_destroy(&attr);
        free(args);
        return started == n ? 0 : 1;
}

/* The daemon this run started, if any. */
struct daemon {
        char dir[64];
        char socket[128];
        char prefix[32];
        char log[128];
        char state[128]; /* its --state-dir */
        pid_t pid;
};

static int
daemon_start(struct daemon *d)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        char notify[128], buf[256];
        struct pollfd p;
        int nfd, logfd;
        ssize_t n;

        snprintf(d->dir, sizeof(d->dir), "/tmp/tshm-load-XXXXXX");
        if (mkdtemp(d->dir) == NULL) {
                perror("tshm-load: mkdtemp");
                return -1;
        }
        snprintf(d->socket, sizeof(d->socket), "%s/tshm.sock", d->dir);
        snprintf(d->log, sizeof(d->log), "%s/tshmd.log", d->dir);
        snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
        snprintf(d->prefix, sizeof(d->prefix), "tshmload%d", (int)getpid());
        snprintf(notify, sizeof(notify), "%s/notify", d->dir);
        nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        memcpy(sa.sun_path, notify, strlen(notify) + 1);
        if (nfd < 0 || bind(nfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("tshm-load: notify socket");
                return -1;
        }
        d->pid = fork();
        if (d->pid < 0) {
                perror("tshm-load: fork");
                return -1;
        }
        if (d->pid == 0) {
                logfd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (logfd >= 0) {
                        (void)dup2(logfd, STDERR_FILENO);
                }
                (void)setenv("NOTIFY_SOCKET", notify, 1);
                (void)unsetenv("LISTEN_FDS");
                execl(arg_tshmd, arg_tshmd, "--foreground", "--socket", d->socket, "--shm-prefix",
                      d->prefix, "--state-dir", d->state, (char *)NULL);
                _exit(127);
        }
        p.fd = nfd;
        p.events = POLLIN;
        for (;;) {
                if (poll(&p, 1, 10000) != 1) {
                        fprintf(stderr, "tshm-load: %s did not report READY=1 in 10 s (log: %s)\n",
                                arg_tshmd, d->log);
                        (void)close(nfd);
                        return -1;
                }
                n = recv(nfd, buf, sizeof(buf) - 1, 0);
                if (n > 0) {
                        buf[n] = '\0';
                        if (strstr(buf, "READY=1") != NULL) {
                                break;
                        }
                }
        }
        (void)close(nfd);
        arg_socket = d->socket;
        return 0;
}

/* SIGTERM, reap (10 s at most), remove what it left. Returns whether it
 * exited 0. */
static bool
daemon_stop(struct daemon *d)
{
        char path[300];
        struct dirent *de;
        size_t plen = strlen(d->prefix);
        int status = 0, i;
        bool ok = false;
        DIR *dir;

        if (d->pid <= 0) {
                return true;
        }
        (void)kill(d->pid, SIGTERM);
        for (i = 0; i < 1000; i++) {
                if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
                        ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                        break;
                }
                sleep_ms(10);
        }
        if (i == 1000) {
                fprintf(stderr, "tshm-load: tshmd did not exit 10 s after SIGTERM; killing it\n");
                (void)kill(d->pid, SIGKILL);
                (void)waitpid(d->pid, &status, 0);
        } else if (!ok) {
                fprintf(stderr, "tshm-load: tshmd exited with status %#x (log: %s)\n", status,
                        d->log);
        }
        dir = opendir("/dev/shm");
        while (dir != NULL && (de = readdir(dir)) != NULL) {
                if (strncmp(de->d_name, d->prefix, plen) == 0 && de->d_name[plen] == '.') {
                        snprintf(path, sizeof(path), "/%s", de->d_name);
                        (void)shm_unlink(path);
                }
        }
        if (dir != NULL) {
                (void)closedir(dir);
        }
        if (ok) {
                snprintf(path, sizeof(path), "%s/tshmd.log", d->dir);
                (void)unlink(path);
                snprintf(path, sizeof(path), "%s/notify", d->dir);
                (void)unlink(path);
                snprintf(path, sizeof(path), "%s/tshm.sock", d->dir);
                (void)unlink(path);
                snprintf(path, sizeof(path), "%s/%s.key", d->state, d->prefix);
                (void)unlink(path);
                snprintf(path, sizeof(path), "%s/%s.lock", d->state, d->prefix);
                (void)unlink(path);
                (void)rmdir(d->state);
                (void)rmdir(d->dir);
        }
        return ok;
}

/* The daemon's resident set (KiB) and open descriptors; -1 if unreadable. */
static long
proc_rss_kib(pid_t pid)
{
        char path[64], line[256];
        long kib = -1;
        FILE *fp;

        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        if ((fp = fopen(path, "r")) == NULL) {
                return -1;
        }
        while (fgets(line, sizeof(line), fp) != NULL) {
                if (strncmp(line, "VmRSS:", 6) == 0) {
                        kib = strtol(line + 6, NULL, 10);
                        break;
                }
        }
        (void)fclose(fp);
        return kib;
}

static long
proc_fds(pid_t pid)
{
        char path[64];
        struct dirent *de;
        long n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
        if ((d = opendir(path)) == NULL) {
                return -1;
        }
        while ((de = readdir(d)) != NULL) {
                n += de->d_name[0] != '.';
        }
        (void)closedir(d);
        return n;
}

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
parse_args(int argc, char **argv)
{
        static const struct option opts[] = {
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

        while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (o) {
                case 'c':
                        bad |= parse_uint(optarg, &arg_clients) < 0 || arg_clients == 0;
                        break;
                case 's':
                        bad |= parse_uint(optarg, &arg_seconds) < 0 || arg_seconds == 0;
                        break;
                case 'p':
                        bad |= parse_uint(optarg, &arg_procs) < 0 || arg_procs == 0;
                        break;
                case 'r':
                        bad |= parse_uint(optarg, &arg_rss_tolerance_kib) < 0;
                        break;
                case 'w':
                        bad |= parse_uint(optarg, &arg_warmup) < 0;
                        break;
                case 'R':
                        arg_rss_check = false;
                        break;
                case 'S':
                        arg_socket = optarg;
                        break;
                case 't':
                        arg_tshmd = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        bad = 1;
                        break;
                }
        }
        if (bad || optind != argc || (arg_socket == NULL) == (arg_tshmd == NULL)) {
                usage(stderr);
                return -1;
        }
        if (arg_procs == 0) {
                arg_procs = (arg_clients + 63) / 64;
        }
        if (arg_procs > arg_clients) {
                arg_procs = arg_clients;
        }
        return 0;
}

/* Everything the parent measures of the daemon. */
struct watch {
        pid_t pid;
        bool readable; /* /proc/<pid> is ours to read */
        long rss0, fds0, rss_peak, fds_peak, rss1, fds1;
        tshm_daemon_info st0, st1;
        uint64_t monitor_calls; /* requests the monitor sent after st0 */
};

static void
watch_sample(struct watch *w)
{
        long rss, fds;

        if (!w->readable) {
                return;
        }
        rss = proc_rss_kib(w->pid);
        fds = proc_fds(w->pid);
        w->rss_peak = rss > w->rss_peak ? rss : w->rss_peak;
        w->fds_peak = fds > w->fds_peak ? fds : w->fds_peak;
}

/* Start the workers and wait until every client is connected. */
static int
run_workers(pid_t *pids, struct watch *w)
{
        unsigned p, per = arg_clients / arg_procs, extra = arg_clients % arg_procs;
        int64_t deadline;

        for (p = 0; p < arg_procs; p++) {
                pids[p] = fork();
                if (pids[p] < 0) {
                        perror("tshm-load: fork");
                        return -1;
                }
                if (pids[p] == 0) {
                        _exit(worker_main(p, per + (p < extra ? 1 : 0)));
                }
        }
        deadline = now_ms() + 120000;
        while (__atomic_load_n(&shm->ready, __ATOMIC_ACQUIRE) < arg_procs) {
                if (now_ms() > deadline) {
                        fprintf(stderr, "tshm-load: clients not connected after 120 s\n");
                        return -1;
                }
                watch_sample(w);
                sleep_ms(10);
        }
        return 0;
}

/* Let the clients go, sample the daemon meanwhile, and reap the workers. */
static int
wait_workers(const pid_t *pids, struct watch *w, unsigned seconds)
{
        int64_t deadline = now_ms() + (int64_t)seconds * 1000 + 120000;
        unsigned p, left = arg_procs;
        int status, rv = 0;
        pid_t got;

        shm->end_ms = now_ms() + (int64_t)seconds * 1000;
        __atomic_store_n(&shm->go, 1, __ATOMIC_RELEASE);
        while (left > 0) {
                got = waitpid(-1, &status, WNOHANG);
                if (got > 0) {
                        for (p = 0; p < arg_procs && pids[p] != got; p++) {
                        }
                        if (p < arg_procs) {
                                left--;
                                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                                        fprintf(stderr, "tshm-load: worker %u: status %#x\n", p,
                                                status);
                                        rv = -1;
                                }
                        }
                        continue;
                }
                if (now_ms() > deadline) {
                        fprintf(stderr, "tshm-load: workers still running 120 s after the end; "
                                        "killing them\n");
                        for (p = 0; p < arg_procs; p++) {
                                (void)kill(pids[p], SIGKILL);
                        }
                        return -1;
                }
                watch_sample(w);
                sleep_ms(100);
        }
        return rv;
}

/* Merge the workers' results into res[arg_procs]. */
static struct proc_result *
merge_results(void)
{
        struct proc_result *all = &shm->res[arg_procs];
        unsigned p, o, i;

        for (p = 0; p < arg_procs; p++) {
                const struct proc_result *r = &shm->res[p];
                for (o = 0; o < OP_COUNT; o++) {
                        for (i = 0; i < HBUCKETS; i++) {
                                all->hist[o][i] += r->hist[o][i];
                        }
                        all->count[o] += r->count[o];
                        all->max_ns[o] =
                            r->max_ns[o] > all->max_ns[o] ? r->max_ns[o] : all->max_ns[o];
                        for (i = 0; i < NERR; i++) {
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
        for (i = 0; i < HBUCKETS; i++) {
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
static int
report(struct proc_result *all, const struct watch *w, double secs)
{
        static uint64_t total_hist[HBUCKETS];
        uint64_t requests = 0, errors = 0, total_max = 0, daemon_delta, sent;
        unsigned o, i;
        int failed = 0;

        for (o = OP_CREATE; o < OP_COUNT; o++) {
                requests += all->count[o];
                total_max = all->max_ns[o] > total_max ? all->max_ns[o] : total_max;
                for (i = 0; i < HBUCKETS; i++) {
                        total_hist[i] += all->hist[o][i];
                }
        }
        printf("tshm-load: %u clients (%u processes), %.1f s of load\n", arg_clients, arg_procs,
               secs);
        printf("connected: %u of %u\n", all->connected, arg_clients);
        printf("requests: %llu in %.1f s = %.0f req/s (create, stat, open, close, unlink)\n",
               (unsigned long long)requests, secs, (double)requests / secs);
        printf("latency:\n");
        print_latency("all", total_hist, requests, total_max);
        for (o = 0; o < OP_COUNT; o++) {
                print_latency(op_names[o], all->hist[o], all->count[o], all->max_ns[o]);
        }
        printf("errors:");
        for (o = 0; o < OP_COUNT; o++) {
                for (i = 0; i < NERR; i++) {
                        if (all->errors[o][i] > 0) {
                                printf(" %s %s x%llu;", op_names[o],
                                       i < NERR - 1 ? tshm_err_name(err_codes[i]) : "other",
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
        failed += all->connected != arg_clients;
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
               (int)w->pid, w->rss0, w->rss_peak, w->rss1, arg_rss_tolerance_kib,
               !arg_rss_check                                     ? "not checked"
               : w->rss1 <= w->rss0 + (long)arg_rss_tolerance_kib ? "ok"
                                                                  : "DID NOT RETURN");
        printf("daemon pid %d: %ld fds before, %ld peak, %ld after: %s\n", (int)w->pid, w->fds0,
               w->fds_peak, w->fds1, w->fds1 == w->fds0 ? "ok" : "DID NOT RETURN");
        failed += arg_rss_check && w->rss1 > w->rss0 + (long)arg_rss_tolerance_kib;
        failed += w->fds1 != w->fds0;
        return failed;
}

/* After the run: wait (bounded) until the daemon has seen every client go
 * and closed their descriptors, then take the final readings. */
static int
settle(tshm_client *mon, struct watch *w)
{
        int64_t deadline = now_ms() + 30000;
        int rv;

        for (;;) {
                w->monitor_calls++;
                if ((rv = tshm_daemon_stat(mon, &w->st1)) < 0) {
                        fprintf(stderr, "tshm-load: stats: %s\n", tshm_strerror(rv));
                        return -1;
                }
                if (w->st1.clients == w->st0.clients && w->st1.opens == w->st0.opens &&
                    w->st1.segments == w->st0.segments &&
                    (!w->readable || proc_fds(w->pid) == w->fds0)) {
                        break;
                }
                if (now_ms() > deadline) {
                        fprintf(stderr,
                                "tshm-load: the daemon did not settle in 30 s: %llu "
                                "clients, %llu opens, %llu segments\n",
                                (unsigned long long)w->st1.clients,
                                (unsigned long long)w->st1.opens,
                                (unsigned long long)w->st1.segments);
                        break;
                }
                sleep_ms(20);
        }
        if (w->readable) {
                w->rss1 = proc_rss_kib(w->pid);
                w->fds1 = proc_fds(w->pid);
        }
        return 0;
}

/* Connect the monitor and make the shared segment. */
static int
monitor_open(tshm_client **ret_mon, tshm_seg **ret_shared)
{
        uint64_t one = 4096;
        int rv;

        if ((rv = tshm_connect(arg_socket, ret_mon)) < 0) {
                fprintf(stderr, "tshm-load: connect %s: %s\n", arg_socket, tshm_strerror(rv));
                return -1;
        }
        rv = tshm_create(*ret_mon, "load-shared", TSHM_DTYPE_UINT8, 1, &one, 0644, 0, ret_shared);
        if (rv < 0) {
                fprintf(stderr, "tshm-load: create load-shared: %s: %s\n", tshm_strerror(rv),
                        tshm_errmsg(*ret_mon));
                return -1;
        }
        return 0;
}

/* Take the baseline: the daemon's counters, RSS and descriptors. */
static int
baseline(tshm_client *mon, struct watch *w)
{
        int rv;

        memset(w, 0, sizeof(*w));
        if ((rv = tshm_daemon_stat(mon, &w->st0)) < 0) {
                fprintf(stderr, "tshm-load: stats: %s\n", tshm_strerror(rv));
                return -1;
        }
        w->pid = (pid_t)w->st0.pid;
        w->rss0 = proc_rss_kib(w->pid);
        w->fds0 = proc_fds(w->pid);
        w->readable = w->rss0 >= 0 && w->fds0 >= 0;
        w->rss_peak = w->rss0;
        w->fds_peak = w->fds0;
        return 0;
}

static void
raise_nofile(void)
{
        struct rlimit rl;
        rlim_t want = (rlim_t)arg_clients + 256;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
                fprintf(stderr,
                        "tshm-load: warning: RLIMIT_NOFILE is %llu; tshmd needs about %llu "
                        "descriptors for %u clients\n",
                        (unsigned long long)rl.rlim_cur, (unsigned long long)want, arg_clients);
        }
}

int
main(int argc, char **argv)
{
        /* Static: arg_socket points into it for the whole run. */
        static struct daemon d;
        struct watch w = {.pid = 0};
        tshm_client *mon = NULL;
        tshm_seg *shared = NULL;
        pid_t *pids = NULL;
        size_t shm_size;
        int64_t t0, t1;
        int failed = 0, rv;

        if ((rv = parse_args(argc, argv)) != 0) {
                return rv > 0 ? 0 : 2;
        }
        raise_nofile();
        shm_size = sizeof(struct shared) + sizeof(struct proc_result) * (arg_procs + 1);
        shm = mmap(NULL, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        pids = calloc(arg_procs, sizeof(*pids));
        if (shm == MAP_FAILED || pids == NULL) {
                perror("tshm-load: memory");
                return 1;
        }
        if (arg_tshmd != NULL && daemon_start(&d) < 0) {
                return 1;
        }
        if (monitor_open(&mon, &shared) < 0 || baseline(mon, &w) < 0) {
                failed++;
                goto out;
        }
        if (arg_warmup > 0) {
                /* The same load, unmeasured; then start afresh. */
                if (run_workers(pids, &w) < 0 || wait_workers(pids, &w, arg_warmup) < 0 ||
                    settle(mon, &w) < 0) {
                        failed++;
                        goto out;
                }
                printf("warm-up: %u s; daemon RSS %ld KiB before, %ld KiB after\n", arg_warmup,
                       w.rss0, w.rss1);
                memset(shm, 0, shm_size);
                if (baseline(mon, &w) < 0) {
                        failed++;
                        goto out;
                }
        }
        if (run_workers(pids, &w) < 0) {
                failed++;
                goto out;
        }
        t0 = now_ns();
        failed += wait_workers(pids, &w, arg_seconds) < 0;
        t1 = now_ns();
        failed += settle(mon, &w) < 0;
        failed += report(merge_results(), &w, (double)(t1 - t0) / 1e9);
out:
        (void)tshm_close(shared);
        (void)tshm_unlink(mon, "load-shared");
        tshm_disconnect(mon);
        if (arg_tshmd != NULL && !daemon_stop(&d)) {
                failed++;
        }
        printf("RESULT: %s\n", failed == 0 ? "ok" : "FAILED");
        free(pids);
        return failed == 0 ? 0 : 1;
}
