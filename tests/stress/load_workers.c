/*
 * load_workers.c - tshm-load's worker processes: each runs its share of the
 * clients as threads, one tshm_client each, and counts into its own
 * struct load_result in the mapping it shares with the parent.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "load.h"

/* One worker process. Its threads wait on go_cond for the start, rather
 * than each polling the shared flag (a thousand sleeping pollers would load
 * the machine before the run begins). */
struct worker {
        const char *socket;
        struct load_shared *shm;
        struct load_result *res;
        pthread_mutex_t go_lock;
        pthread_cond_t go_cond;
        bool go;
};

struct client_arg {
        struct worker *wk;
        unsigned proc, index;
        pthread_t thread;
};

/* Time one call: @expr is evaluated between two clock reads. */
#define TIMED(res, op, rv, expr)                                                                   \
        do {                                                                                       \
                int64_t t0_ = load_now_ns();                                                       \
                (rv) = (expr);                                                                     \
                load_record((res), (op), load_now_ns() - t0_, (rv));                               \
                __atomic_fetch_add(&(res)->sent, 1, __ATOMIC_RELAXED);                             \
        } while (0)

/* One round of the workload on client @c. */
static void
workers_round(struct load_result *res, tshm_client *c, const char *name, uint64_t *rng)
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
workers_client(void *p)
{
        struct client_arg *a = p;
        struct worker *wk = a->wk;
        struct load_result *res = wk->res;
        tshm_client *c = NULL;
        uint64_t rng = ((uint64_t)a->proc << 32) ^ a->index ^ (uint64_t)load_now_ns();
        char name[64];
        int rv;

        snprintf(name, sizeof(name), "load-%u-%u", a->proc, a->index);
        TIMED(res, OP_CONNECT, rv, tshm_connect(wk->socket, &c));
        if (rv < 0) {
                fprintf(stderr, "tshm-load: client %u/%u: connect: %s\n", a->proc, a->index,
                        tshm_strerror(rv));
                __atomic_fetch_add(&res->done, 1, __ATOMIC_RELEASE);
                return NULL;
        }
        __atomic_fetch_add(&res->connected, 1, __ATOMIC_RELEASE);
        (void)pthread_mutex_lock(&wk->go_lock);
        while (!wk->go) {
                (void)pthread_cond_wait(&wk->go_cond, &wk->go_lock);
        }
        (void)pthread_mutex_unlock(&wk->go_lock);
        while (load_now_ms() < wk->shm->end_ms) {
                workers_round(res, c, name, &rng);
        }
        tshm_disconnect(c);
        __atomic_fetch_add(&res->done, 1, __ATOMIC_RELEASE);
        return NULL;
}

/* Once every started client has connected (or failed), tell the parent;
 * wait for its go, and pass it on to the threads. */
static void
workers_sync(struct worker *wk, unsigned started)
{
        while (__atomic_load_n(&wk->res->connected, __ATOMIC_ACQUIRE) +
                   __atomic_load_n(&wk->res->done, __ATOMIC_ACQUIRE) <
               started) {
                load_sleep_ms(1);
        }
        __atomic_fetch_add(&wk->shm->ready, 1, __ATOMIC_RELEASE);
        while (__atomic_load_n(&wk->shm->go, __ATOMIC_ACQUIRE) == 0) {
                load_sleep_ms(1);
        }
        (void)pthread_mutex_lock(&wk->go_lock);
        wk->go = true;
        (void)pthread_cond_broadcast(&wk->go_cond);
        (void)pthread_mutex_unlock(&wk->go_lock);
}

/* A worker process: @n clients as threads. Returns its exit status. */
static int
workers_main(const char *socket, struct load_shared *shm, unsigned proc, unsigned n)
{
        struct worker wk = {.socket = socket,
                            .shm = shm,
                            .res = &shm->res[proc],
                            .go_lock = PTHREAD_MUTEX_INITIALIZER,
                            .go_cond = PTHREAD_COND_INITIALIZER};
        struct client_arg *args = calloc(n, sizeof(*args));
        pthread_attr_t attr;
        unsigned i, started = 0;
        int rv;

        if (args == NULL || pthread_attr_init(&attr) != 0 ||
            pthread_attr_setstacksize(&attr, 256u << 10) != 0) {
                return 1;
        }
        for (i = 0; i < n; i++) {
                args[i].wk = &wk;
                args[i].proc = proc;
                args[i].index = i;
                rv = pthread_create(&args[i].thread, &attr, workers_client, &args[i]);
                if (rv != 0) {
                        fprintf(stderr, "tshm-load: worker %u: pthread_create: %s\n", proc,
                                strerror(rv));
                        break;
                }
                started++;
        }
        workers_sync(&wk, started);
        for (i = 0; i < started; i++) {
                (void)pthread_join(args[i].thread, NULL);
        }
        (void)pthread_attr_destroy(&attr);
        free(args);
        return started == n ? 0 : 1;
}

int
load_workers_start(const struct load_opts *o, struct load_shared *shm, pid_t *pids,
                   struct load_watch *w)
{
        unsigned p, per = o->clients / o->procs, extra = o->clients % o->procs;
        int64_t deadline;

        for (p = 0; p < o->procs; p++) {
                pids[p] = fork();
                if (pids[p] < 0) {
                        perror("tshm-load: fork");
                        return -1;
                }
                if (pids[p] == 0) {
                        _exit(workers_main(o->socket, shm, p, per + (p < extra ? 1 : 0)));
                }
        }
        deadline = load_now_ms() + 120000;
        while (__atomic_load_n(&shm->ready, __ATOMIC_ACQUIRE) < o->procs) {
                if (load_now_ms() > deadline) {
                        fprintf(stderr, "tshm-load: clients not connected after 120 s\n");
                        return -1;
                }
                load_watch_sample(w);
                load_sleep_ms(10);
        }
        return 0;
}

/* Count @got, if it is one of the workers, as reaped; -1 if it failed. */
static int
workers_reaped(const struct load_opts *o, const pid_t *pids, pid_t got, int status, unsigned *left)
{
        unsigned p;

        for (p = 0; p < o->procs && pids[p] != got; p++) {
        }
        if (p == o->procs) {
                return 0;
        }
        (*left)--;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "tshm-load: worker %u: status %#x\n", p, status);
                return -1;
        }
        return 0;
}

int
load_workers_wait(const struct load_opts *o, struct load_shared *shm, const pid_t *pids,
                  struct load_watch *w, unsigned seconds)
{
        int64_t deadline = load_now_ms() + (int64_t)seconds * 1000 + 120000;
        unsigned p, left = o->procs;
        int status, rv = 0;
        pid_t got;

        shm->end_ms = load_now_ms() + (int64_t)seconds * 1000;
        __atomic_store_n(&shm->go, 1, __ATOMIC_RELEASE);
        while (left > 0) {
                got = waitpid(-1, &status, WNOHANG);
                if (got > 0) {
                        if (workers_reaped(o, pids, got, status, &left) < 0) {
                                rv = -1;
                        }
                        continue;
                }
                if (load_now_ms() > deadline) {
                        fprintf(stderr, "tshm-load: workers still running 120 s after the end; "
                                        "killing them\n");
                        for (p = 0; p < o->procs; p++) {
                                (void)kill(pids[p], SIGKILL);
                        }
                        return -1;
                }
                load_watch_sample(w);
                load_sleep_ms(100);
        }
        return rv;
}
