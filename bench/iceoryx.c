/*
 * iceoryx.c - the wake-up ping-pong of publish.c over iceoryx 2.0 (its C
 * binding), for comparison: a publisher and a subscriber each way, 8-byte
 * payloads, loan/publish and take/release. Blocking mode waits in a waitset
 * (the subscriber's HAS_DATA state); polling mode spins on take. The bench
 * starts its own RouDi (iox-roudi, which iceoryx 2.0 allows once per machine)
 * and runs both ends in forked processes, each with its own iceoryx runtime,
 * so that none of iceoryx's threads lives in tshm-bench itself. The pinger
 * writes its samples into a shared mapping; RouDi is stopped at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <iceoryx_binding_c/api.h>

#include "bench.h"

#define IOX_ROUDI_SOCKET "/tmp/roudi" /* RouDi's IPC channel in iceoryx 2.0 */
#define IOX_START_MS 10000            /* for RouDi to start, and the two ends to connect */
#define IOX_SLICE_WARMUP 16
#define IOX_MODES 2 /* 0: waitset, 1: busy polling */

/* Shared by the parent and the two ends. */
struct iox_shared {
        _Alignas(64) uint32_t mode; /* what the responder does while it waits */
        uint32_t stop;
        int32_t status[2]; /* each end's result: 0, or 1 + a step number on failure */
        uint64_t n[IOX_MODES];
        uint64_t ns[]; /* IOX_MODES x iterations one-way samples */
};

struct iox_end {
        iox_pub_storage_t pub_storage;
        iox_sub_storage_t sub_storage;
        iox_ws_storage_t ws_storage;
        iox_pub_t pub;
        iox_sub_t sub;
        iox_ws_t ws;
};

static inline void
iox_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
}

/* Publisher on @out, subscriber (in a waitset) on @in; then wait until both
 * are connected to the other end. Returns 0 or -1. */
static int
iox_end_init(struct iox_end *e, const char *name, const char *out, const char *in)
{
        iox_pub_options_t po;
        iox_sub_options_t so;
        uint64_t deadline;

        iox_set_loglevel(Iceoryx_LogLevel_Warn);
        iox_runtime_init(name);
        iox_pub_options_init(&po);
        po.historyCapacity = 0;
        e->pub = iox_pub_init(&e->pub_storage, "tshm-bench", out, "wake", &po);
        iox_sub_options_init(&so);
        so.queueCapacity = 16;
        so.historyRequest = 0;
        e->sub = iox_sub_init(&e->sub_storage, "tshm-bench", in, "wake", &so);
        e->ws = iox_ws_init(&e->ws_storage);
        if (iox_ws_attach_subscriber_state(e->ws, e->sub, SubscriberState_HAS_DATA, 0, NULL) !=
            WaitSetResult_SUCCESS) {
                return -1;
        }
        deadline = bench_now_ns() + (uint64_t)IOX_START_MS * 1000000u;
        while (iox_sub_get_subscription_state(e->sub) != SubscribeState_SUBSCRIBED ||
               !iox_pub_has_subscribers(e->pub)) {
                if (bench_now_ns() > deadline) {
                        return -1;
                }
                (void)usleep(1000);
        }
        return 0;
}

/* Leave iceoryx and exit. exit(), not _exit(): the runtime deregisters
 * from RouDi (and removes its IPC channel) in a static destructor; without
 * that, RouDi's shutdown waits for the process and is killed, leaving its
 * shared memory behind. Our atexit cleanup does nothing in a child, and the
 * parent flushed stdio before forking. */
static void
iox_end_exit(struct iox_end *e)
{
        iox_ws_deinit(e->ws);
        iox_sub_deinit(e->sub);
        iox_pub_deinit(e->pub);
        iox_runtime_shutdown();
        exit(0);
}

static int
iox_send(struct iox_end *e, uint64_t v)
{
        void *chunk;

        if (iox_pub_loan_chunk(e->pub, &chunk, sizeof(v)) != AllocationResult_SUCCESS) {
                return -1;
        }
        memcpy(chunk, &v, sizeof(v));
        iox_pub_publish_chunk(e->pub, chunk);
        return 0;
}

/* Take the next message, waiting in the waitset or spinning; its value. */
static uint64_t
iox_recv(struct iox_end *e, const uint32_t *mode)
{
        iox_notification_info_t info[1];
        const void *chunk;
        uint64_t missed, v;

        while (iox_sub_take_chunk(e->sub, &chunk) != ChunkReceiveResult_SUCCESS) {
                if (__atomic_load_n(mode, __ATOMIC_RELAXED) == 1) {
                        iox_pause();
                } else {
                        (void)iox_ws_wait(e->ws, info, 1, &missed);
                }
        }
        memcpy(&v, chunk, sizeof(v));
        iox_sub_release_chunk(e->sub, chunk);
        return v;
}

static void
iox_responder(struct iox_shared *sh, const cpu_set_t *cpus)
{
        struct iox_end e;
        uint64_t v;

        if (sched_setaffinity(0, sizeof(*cpus), cpus) < 0 ||
            iox_end_init(&e, "tshm-bench-pong", "pong", "ping") < 0) {
                sh->status[1] = 1;
                _exit(1);
        }
        for (;;) {
                v = iox_recv(&e, &sh->mode);
                if (__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE)) {
                        break;
                }
                if (iox_send(&e, v) < 0) {
                        sh->status[1] = 2;
                        _exit(1);
                }
        }
        iox_end_exit(&e);
}

static int
iox_slice(struct iox_end *e, struct iox_shared *sh, uint32_t mode, size_t warm, size_t n,
          size_t cap, uint64_t *v)
{
        uint64_t t0;
        size_t i;

        for (i = 0; i < warm + n; i++) {
                t0 = bench_now_ns();
                ++*v;
                if (iox_send(e, *v) < 0 || iox_recv(e, &sh->mode) != *v) {
                        return -1;
                }
                if (i >= warm && sh->n[mode] < cap) {
                        sh->ns[mode * cap + sh->n[mode]++] = (bench_now_ns() - t0) / 2;
                }
        }
        return 0;
}

/* The pinger measures: warm-up, then rounds alternating the two modes. The
 * responder switches with sh->mode; each slice's warm-up covers the switch. */
static void
iox_pinger(struct iox_shared *sh, const struct bench_cfg *cfg)
{
        size_t rounds = cfg->iterations >= 10 ? 10 : 1, r, n;
        struct iox_end e;
        uint64_t v = 0;
        uint32_t m;

        if (iox_end_init(&e, "tshm-bench-ping", "ping", "pong") < 0) {
                sh->status[0] = 1;
                _exit(1);
        }
        for (m = 0; m < IOX_MODES; m++) {
                __atomic_store_n(&sh->mode, m, __ATOMIC_RELEASE);
                if (iox_slice(&e, sh, m, cfg->warmup, 0, cfg->iterations, &v) < 0) {
                        sh->status[0] = 2;
                        _exit(1);
                }
        }
        for (r = 0; r < rounds; r++) {
                n = cfg->iterations / rounds + (r < cfg->iterations % rounds ? 1 : 0);
                for (m = 0; m < IOX_MODES; m++) {
                        __atomic_store_n(&sh->mode, m, __ATOMIC_RELEASE);
                        if (iox_slice(&e, sh, m, IOX_SLICE_WARMUP, n, cfg->iterations, &v) < 0) {
                                sh->status[0] = 3;
                                _exit(1);
                        }
                }
        }
        __atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
        (void)iox_send(&e, v + 1);
        iox_end_exit(&e);
}

/* Start RouDi, its output in the run's directory, and wait for its socket. */
static int
iox_roudi_start(const struct bench_env *env, pid_t *ret_pid, char *note, size_t len)
{
        struct timespec start;
        struct stat st;
        char log[128];
        uint64_t deadline;
        pid_t pid;
        int fd, status;

        (void)clock_gettime(CLOCK_REALTIME, &start);
        snprintf(log, sizeof(log), "%s/roudi.log", env->dir);
        if ((pid = bench_fork()) < 0) {
                snprintf(note, len, "fork: %s", strerror(errno));
                return -1;
        }
        if (pid == 0) {
                fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void)dup2(fd, 1);
                        (void)dup2(fd, 2);
                }
                execl(TSHM_ICEORYX_ROUDI, "iox-roudi", (char *)NULL);
                _exit(127);
        }
        *ret_pid = pid;
        deadline = bench_now_ns() + (uint64_t)IOX_START_MS * 1000000u;
        while (bench_now_ns() < deadline) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        (void)bench_reap(pid);
                        *ret_pid = 0;
                        snprintf(note, len, "iox-roudi exited at start (another RouDi running?)");
                        return -1;
                }
                /* A socket made after we started it: not a stale one. */
                if (stat(IOX_ROUDI_SOCKET, &st) == 0 &&
                    (st.st_ctim.tv_sec > start.tv_sec ||
                     (st.st_ctim.tv_sec == start.tv_sec && st.st_ctim.tv_nsec >= start.tv_nsec))) {
                        return 0;
                }
                (void)usleep(10000);
        }
        snprintf(note, len, "iox-roudi did not come up in %d ms", IOX_START_MS);
        return -1;
}

/* Copy RouDi's output to our stderr when the comparison failed, then remove
 * it: the run's directory must be empty for its cleanup. */
static void
iox_roudi_log_done(const struct bench_env *env, bool show)
{
        char path[128], line[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/roudi.log", env->dir);
        if (show && (f = fopen(path, "r")) != NULL) {
                fprintf(stderr, "tshm-bench: iox-roudi's output:\n");
                while (fgets(line, sizeof(line), f) != NULL) {
                        fputs(line, stderr);
                }
                (void)fclose(f);
        }
        (void)unlink(path);
}

/* SIGTERM: RouDi removes its shared memory and socket (about 1.5 s). */
static void
iox_roudi_stop(pid_t pid)
{
        uint64_t deadline = bench_now_ns() + 10000000000u;
        int status;

        (void)kill(pid, SIGTERM);
        while (waitpid(pid, &status, WNOHANG) == 0) {
                if (bench_now_ns() > deadline) {
                        fprintf(stderr, "tshm-bench: warning: iox-roudi ignored SIGTERM for 10 s; "
                                        "killed, its shared memory may be left in /dev/shm\n");
                        (void)kill(pid, SIGKILL);
                        break;
                }
                (void)usleep(10000);
        }
        (void)bench_reap(pid);
}

static void
iox_collect(struct iox_shared *sh, size_t cap, struct bench_wake *ret)
{
        struct bench_samples s;
        uint32_t m;

        for (m = 0; m < IOX_MODES; m++) {
                s.ns = sh->ns + m * cap;
                s.n = sh->n[m];
                s.cap = cap;
                bench_summarize(&s, &ret->lat[m == 0 ? WAKE_IOX_BLOCK : WAKE_IOX_POLL]);
                ret->ran[m == 0 ? WAKE_IOX_BLOCK : WAKE_IOX_POLL] = true;
        }
}

int
bench_iceoryx_run(const struct bench_env *env, const struct bench_cfg *cfg, struct bench_wake *ret)
{
        size_t size = sizeof(struct iox_shared) + IOX_MODES * cfg->iterations * sizeof(uint64_t);
        pid_t roudi = 0, pong = 0, ping = 0;
        cpu_set_t server;
        struct iox_shared *sh;
        int rv = -1, st_ping, st_pong;

        fprintf(stderr, "tshm-bench: wake-up latency over iceoryx\n");
        if (!ret->split) {
                snprintf(ret->iox_note, sizeof(ret->iox_note), "not run: one CPU");
                return -1;
        }
        sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED) {
                snprintf(ret->iox_note, sizeof(ret->iox_note), "mmap: %s", strerror(errno));
                return -1;
        }
        if (iox_roudi_start(env, &roudi, ret->iox_note, sizeof(ret->iox_note)) < 0 ||
            bench_place_apply(PLACE_SPLIT, env->daemon, &server) < 0) {
                goto out;
        }
        (void)fflush(NULL); /* nothing buffered may be written twice */
        if ((pong = bench_fork()) == 0) {
                iox_responder(sh, &server);
        }
        if (pong > 0 && (ping = bench_fork()) == 0) {
                iox_pinger(sh, cfg);
        }
        st_ping = ping > 0 ? bench_reap(ping) : -1;
        if (st_ping != 0 && pong > 0) {
                (void)kill(pong, SIGKILL);
        }
        st_pong = pong > 0 ? bench_reap(pong) : -1;
        if (st_ping == 0 && st_pong == 0) {
                iox_collect(sh, cfg->iterations, ret);
                snprintf(ret->iox_note, sizeof(ret->iox_note),
                         "iceoryx 2.0 C binding, 8-byte payloads, own iox-roudi");
                rv = 0;
        } else {
                snprintf(ret->iox_note, sizeof(ret->iox_note),
                         "failed (pinger status %#x step %d, responder %#x step %d)",
                         (unsigned)st_ping, (int)sh->status[0], (unsigned)st_pong,
                         (int)sh->status[1]);
        }
        (void)bench_place_restore(env->daemon);
out:
        if (roudi > 0) {
                iox_roudi_stop(roudi);
        }
        iox_roudi_log_done(env, rv < 0);
        (void)munmap(sh, size);
        return rv;
}
