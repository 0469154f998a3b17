/*
 * test_fault_daemon.c - tshmd killed with SIGKILL under load, then
 * restarted on the same prefix, several times.
 *
 * Writers each create a few segments and then only write patterned
 * generations through their mappings, reading every word back; a creator
 * keeps creating (and opening, closing, statting) segments through libtshm,
 * outage or not. Each cycle: wait until the load runs, kill tshmd at a random
 * moment, require the writers' mappings to keep working while it is dead,
 * restart it, pause the writers and check that every segment whose create
 * returned success is listed with its dtype, shape, owner and mode and holds
 * its pattern, and that clients connected before the kill (the parent's, and
 * each writer's, idle through the outage) keep working: libtshm connects
 * again by itself on the next call.
 *
 * TSHM_STRESS_SEED replays a run; TSHM_STRESS_DAEMON_KILLS (default 3) sets
 * the number of kill/restart cycles.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "stress.h"

#define WRITERS 4
#define WSEGS 3         /* segments per writer */
#define CREATED_MAX 160 /* segments the creator makes, at most */
#define WAIT_MS 60000   /* bound of every wait: generous, never a timing claim */

struct seg_rec {
        char name[32];
        uint32_t dtype, ndim, mode;
        uint64_t shape[2];
        uint64_t seed; /* of the data pattern */
};

/* A writer's state, shared with the parent. Fields marked (atomic) are read
 * and written with __atomic builtins; the rest are written before a release
 * store of a marked field and read after its acquire load. */
struct writer_slot {
        uint64_t gen;       /* (atomic) generations completed */
        uint32_t nsegs;     /* (atomic) segments created and recorded */
        uint32_t acked;     /* (atomic) the last pause acknowledged */
        uint64_t final_gen; /* the generation in its segments at the ack */
        int32_t stat_rv;    /* tshm_stat on its old client, after the restart */
        char stat_msg[200];
        uint64_t bad_words; /* (atomic) words that read back wrong */
        int32_t error;      /* an unexpected failure, with its message */
        char error_msg[200];
        struct seg_rec segs[WSEGS];
};

struct board {
        uint32_t pause; /* (atomic) the cycle to pause at, 0 to run */
        uint32_t quit;  /* (atomic) */
        struct writer_slot w[WRITERS];
        uint32_t ncreated;       /* (atomic) the creator's records */
        uint64_t creator_ok;     /* (atomic) calls that succeeded */
        uint64_t creator_outage; /* (atomic) ECONNRESET, ENODAEMON, ETIMEDOUT */
        uint64_t creator_ebadf;  /* (atomic) tshm_close of a handle of a dead daemon */
        int32_t creator_error;   /* the first other failure */
        char creator_msg[240];
        struct seg_rec created[CREATED_MAX];
};

static struct board *board;

static uint64_t
ld64(const uint64_t *p)
{
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static uint32_t
ld32(const uint32_t *p)
{
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
writer_error(struct writer_slot *ws, tshm_client *c, const char *what, int rv)
{
        if (ws->error == 0) {
                snprintf(ws->error_msg, sizeof(ws->error_msg), "%s: %s (%s)", what,
                         tshm_err_name(rv), c != NULL ? tshm_errmsg(c) : "");
                __atomic_store_n(&ws->error, rv, __ATOMIC_RELEASE);
        }
}

/* Write generation @gen over a segment, then read every word back. */
static uint64_t
writer_generation(tshm_seg *s, uint64_t seed, uint64_t gen)
{
        volatile uint64_t *d = tshm_seg_data(s);
        uint64_t i, n = tshm_seg_nbytes(s) / 8, bad = 0;

        for (i = 0; i < n; i++) {
                d[i] = stress_pattern(seed, i, gen);
        }
        for (i = 0; i < n; i++) {
                bad += d[i] != stress_pattern(seed, i, gen);
        }
        return bad;
}

static void
writer_create(struct writer_slot *ws, unsigned w, tshm_client *c, struct stress_rng *r,
              tshm_seg **segs)
{
        static const tshm_dtype dtypes[] = {TSHM_DTYPE_FLOAT64, TSHM_DTYPE_INT64,
                                            TSHM_DTYPE_UINT64};
        static const unsigned modes[] = {0600, 0640, 0644};
        unsigned j;
        int rv;

        for (j = 0; j < WSEGS; j++) {
                struct seg_rec *rec = &ws->segs[j];
                snprintf(rec->name, sizeof(rec->name), "w%u-%u", w, j);
                rec->dtype = dtypes[stress_rng_below(r, 3)];
                rec->mode = modes[stress_rng_below(r, 3)];
                rec->ndim = 2;
                /* 128 KiB to 3.3 MiB: both the on-loop and the thread-pool
                 * create paths. */
                rec->shape[0] = 16 + stress_rng_below(r, 256);
                rec->shape[1] = 1024 + stress_rng_below(r, 512);
                rec->seed = stress_rng_next(r);
                rv = tshm_create(c, rec->name, (tshm_dtype)rec->dtype, 2, rec->shape, rec->mode, 0,
                                 &segs[j]);
                if (rv < 0) {
                        writer_error(ws, c, "create", rv);
                        _exit(2);
                }
                __atomic_store_n(&ws->nsegs, j + 1, __ATOMIC_RELEASE);
        }
}

/* Paused: record the generation, call the daemon once on the old client,
 * acknowledge, and wait for the parent to let go. */
static void
writer_pause(struct writer_slot *ws, tshm_client *c, uint32_t cycle)
{
        tshm_info info;
        unsigned j;
        int rv = 0;

        ws->final_gen = ld64(&ws->gen);
        for (j = 0; j < WSEGS && rv == 0; j++) {
                rv = tshm_stat(c, ws->segs[j].name, &info);
        }
        ws->stat_rv = rv;
        snprintf(ws->stat_msg, sizeof(ws->stat_msg), "%s", rv < 0 ? tshm_errmsg(c) : "");
        __atomic_store_n(&ws->acked, cycle, __ATOMIC_RELEASE);
        while (ld32(&board->pause) == cycle && ld32(&board->quit) == 0) {
                stress_sleep_us(1000);
        }
}

static void
writer_run(unsigned w, const char *socket, uint64_t seed)
{
        struct writer_slot *ws = &board->w[w];
        tshm_seg *segs[WSEGS];
        struct stress_rng r;
        tshm_client *c = NULL;
        uint32_t p;
        unsigned j;
        int rv;

        stress_rng_seed(&r, seed);
        if ((rv = tshm_connect(socket, &c)) < 0) {
                writer_error(ws, NULL, "connect", rv);
                _exit(1);
        }
        writer_create(ws, w, c, &r, segs);
        while (ld32(&board->quit) == 0) {
                uint64_t g, bad = 0;

                p = ld32(&board->pause);
                if (p != 0 && p != ld32(&ws->acked)) {
                        writer_pause(ws, c, p);
                        continue;
                }
                /* Only the mappings from here on: no libtshm call until the
                 * next pause, through the whole outage. */
                g = ld64(&ws->gen) + 1;
                for (j = 0; j < WSEGS; j++) {
                        bad += writer_generation(segs[j], ws->segs[j].seed, g);
                }
                if (bad > 0) {
                        __atomic_fetch_add(&ws->bad_words, bad, __ATOMIC_RELEASE);
                }
                __atomic_store_n(&ws->gen, g, __ATOMIC_RELEASE);
        }
        for (j = 0; j < WSEGS; j++) {
                (void)tshm_close(segs[j]);
        }
        tshm_disconnect(c);
        _exit(0);
}

static void
creator_note(tshm_client *c, const char *what, int rv)
{
        if (rv == 0) {
                __atomic_fetch_add(&board->creator_ok, 1, __ATOMIC_RELAXED);
        } else if (rv == TSHM_ECONNRESET || rv == TSHM_ENODAEMON || rv == TSHM_ETIMEDOUT) {
                __atomic_fetch_add(&board->creator_outage, 1, __ATOMIC_RELAXED);
        } else if (rv == TSHM_EBADF && strcmp(what, "close") == 0) {
                /* A handle of the daemon that died, closed after libtshm
                 * reconnected: the new daemon does not know it. */
                __atomic_fetch_add(&board->creator_ebadf, 1, __ATOMIC_RELAXED);
        } else if (board->creator_error == 0) {
                snprintf(board->creator_msg, sizeof(board->creator_msg), "%s: %s (%s)", what,
                         tshm_err_name(rv), tshm_errmsg(c));
                __atomic_store_n(&board->creator_error, rv, __ATOMIC_RELEASE);
        }
}

/* Create one segment with a fresh name (never retried, so a create whose
 * reply died with the daemon cannot collide), fill it, record it. */
static void
creator_create(tshm_client *c, struct stress_rng *r, unsigned k)
{
        struct seg_rec *rec = &board->created[ld32(&board->ncreated)];
        uint64_t bytes, *d, i;
        tshm_seg *s;
        int rv;

        memset(rec, 0, sizeof(*rec));
        snprintf(rec->name, sizeof(rec->name), "c%u", k);
        bytes = stress_rng_below(r, 8) == 0 ? (1u << 20) + stress_rng_below(r, 1u << 20)
                                            : 4096 + stress_rng_below(r, 512u << 10);
        rec->dtype = TSHM_DTYPE_UINT64;
        rec->ndim = 1;
        rec->shape[0] = bytes / 8;
        rec->mode = 0600;
        rec->seed = stress_rng_next(r);
        rv = tshm_create(c, rec->name, TSHM_DTYPE_UINT64, 1, rec->shape, 0600, 0, &s);
        creator_note(c, "create", rv);
        if (rv < 0) {
                return;
        }
        d = tshm_seg_data(s);
        for (i = 0; i < rec->shape[0]; i++) {
                d[i] = stress_pattern(rec->seed, i, 1);
        }
        __atomic_store_n(&board->ncreated, ld32(&board->ncreated) + 1, __ATOMIC_RELEASE);
        creator_note(c, "close", tshm_close(s));
}

static void
creator_run(const char *socket, uint64_t seed)
{
        struct stress_rng r;
        tshm_client *c = NULL;
        tshm_info info;
        tshm_seg *s;
        unsigned k = 0;
        int rv;

        stress_rng_seed(&r, seed);
        if ((rv = tshm_connect(socket, &c)) < 0) {
                _exit(1);
        }
        while (ld32(&board->quit) == 0) {
                uint32_t n = ld32(&board->ncreated);
                const char *name;

                if (n < CREATED_MAX) {
                        creator_create(c, &r, k++);
                        continue;
                }
                /* Enough segments: keep the daemon busy with the rest. */
                name = board->created[stress_rng_below(&r, n)].name;
                creator_note(c, "stat", tshm_stat(c, name, &info));
                rv = tshm_open(c, name, TSHM_OPEN_RDONLY, &s);
                creator_note(c, "open", rv);
                if (rv == 0) {
                        creator_note(c, "close", tshm_close(s));
                }
        }
        tshm_disconnect(c);
        _exit(0);
}

/* Fail if a child is gone before it was told to quit. */
static void
children_alive(const pid_t *pids, size_t n)
{
        char sbuf[96];
        size_t i;
        int status;

        for (i = 0; i < n; i++) {
                if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                        ck_abort_msg("child %zu %s early (writer error: %s; creator: %s)", i,
                                     stress_status_str(status, sbuf, sizeof(sbuf)),
                                     i < WRITERS ? board->w[i].error_msg : "", board->creator_msg);
                }
        }
}

/* Wait until every writer has completed @more generations past @from. */
static void
wait_generations(const uint64_t *from, uint64_t more, const pid_t *pids, const char *what)
{
        int64_t deadline = stress_now_ms() + WAIT_MS;
        unsigned w;

        for (;;) {
                for (w = 0; w < WRITERS && ld64(&board->w[w].gen) >= from[w] + more; w++) {
                }
                if (w == WRITERS) {
                        return;
                }
                children_alive(pids, WRITERS + 1);
                ck_assert_msg(stress_now_ms() < deadline,
                              "%s: writer %u completed no generation in %d ms (at %llu)", what, w,
                              WAIT_MS, (unsigned long long)ld64(&board->w[w].gen));
                stress_sleep_us(1000);
        }
}

/* A segment created before the kill, as the restarted daemon sees it. */
static void
check_segment(const tshm_info *all, size_t n, tshm_client *nc, const struct seg_rec *rec,
              uint64_t gen, uint32_t cycle)
{
        const uint64_t *d;
        uint64_t i, words, bad = 0, first_bad = 0;
        tshm_seg *s;
        size_t k;
        int rv;

        for (k = 0; k < n && strcmp(all[k].name, rec->name) != 0; k++) {
        }
        ck_assert_msg(k < n, "cycle %u: '%s' was created before the kill but is not listed", cycle,
                      rec->name);
        ck_assert_msg(all[k].dtype == (tshm_dtype)rec->dtype && all[k].ndim == rec->ndim &&
                          all[k].shape[0] == rec->shape[0] &&
                          (rec->ndim < 2 || all[k].shape[1] == rec->shape[1]) &&
                          all[k].mode == rec->mode && all[k].owner_uid == getuid() &&
                          all[k].owner_gid == getgid(),
                      "cycle %u: '%s' came back as %s %u-d mode %04o owner %u:%u", cycle, rec->name,
                      tshm_dtype_name(all[k].dtype), all[k].ndim, all[k].mode, all[k].owner_uid,
                      all[k].owner_gid);
        rv = tshm_open(nc, rec->name, TSHM_OPEN_RDONLY, &s);
        ck_assert_msg(rv == 0, "cycle %u: open '%s': %s", cycle, rec->name, tshm_strerror(rv));
        d = tshm_seg_data(s);
        words = tshm_seg_nbytes(s) / 8;
        for (i = 0; i < words; i++) {
                if (d[i] != stress_pattern(rec->seed, i, gen)) {
                        first_bad = bad++ == 0 ? i : first_bad;
                }
        }
        ck_assert_msg(bad == 0,
                      "cycle %u: '%s' lost data: %llu of %llu words differ from "
                      "generation %llu, the first at %llu",
                      cycle, rec->name, (unsigned long long)bad, (unsigned long long)words,
                      (unsigned long long)gen, (unsigned long long)first_bad);
        ck_assert_int_eq(tshm_close(s), 0);
}

/* After a restart, with the writers paused: the listing and the data. */
static void
check_after_restart(const struct tshmd_fixture *f, uint32_t cycle)
{
        uint32_t ncreated = ld32(&board->ncreated), i;
        tshm_client *nc = fixture_connect(f);
        tshm_info *all;
        size_t n;
        unsigned w, j;

        /* Records first, listing second: every record predates the list. */
        ck_assert_int_eq(tshm_list(nc, NULL, &all, &n), 0);
        for (w = 0; w < WRITERS; w++) {
                struct writer_slot *ws = &board->w[w];
                ck_assert_msg(ld64(&ws->bad_words) == 0,
                              "cycle %u: writer %u read back %llu wrong words through its "
                              "mapping",
                              cycle, w, (unsigned long long)ld64(&ws->bad_words));
                for (j = 0; j < WSEGS; j++) {
                        check_segment(all, n, nc, &ws->segs[j], ws->final_gen, cycle);
                }
        }
        for (i = 0; i < ncreated; i++) {
                check_segment(all, n, nc, &board->created[i], 1, cycle);
        }
        printf("fault_kill_daemon: cycle %u: %zu segments listed after the restart; all %u "
               "writer segments and %u created ones intact\n",
               cycle, n, (unsigned)(WRITERS * WSEGS), ncreated);
        tshm_list_free(all);
        tshm_disconnect(nc);
}

/* One kill and restart. Returns the old parent client's tshm_stat result. */
static int
kill_cycle(struct tshmd_fixture *f, tshm_client *pc, struct stress_rng *r, uint32_t cycle,
           const pid_t *pids)
{
        uint64_t gens[WRITERS], delay_us = stress_rng_below(r, 20001);
        uint32_t ncreated = ld32(&board->ncreated);
        int64_t deadline = stress_now_ms() + WAIT_MS;
        tshm_info info;
        unsigned w;
        int status, rv;

        /* Under load: every writer completes generations, and the creator
         * makes segments (or, once it has enough, churns through them). */
        for (w = 0; w < WRITERS; w++) {
                gens[w] = ld64(&board->w[w].gen);
        }
        wait_generations(gens, 2, pids, "before the kill");
        while (ncreated < CREATED_MAX && ld32(&board->ncreated) == ncreated) {
                children_alive(pids, WRITERS + 1);
                ck_assert_msg(stress_now_ms() < deadline, "the creator made nothing in %d ms",
                              WAIT_MS);
                stress_sleep_us(1000);
        }
        stress_sleep_us(delay_us);
        ck_assert_int_eq(kill(f->pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
        f->pid = 0;
        /* The daemon is dead: the mappings must keep working. */
        for (w = 0; w < WRITERS; w++) {
                gens[w] = ld64(&board->w[w].gen);
        }
        wait_generations(gens, 2, pids, "while tshmd was dead");
        fixture_restart(f, NULL);
        stress_sentinel_track(f);
        /* Pause the writers; each calls the daemon once on its old client. */
        __atomic_store_n(&board->pause, cycle, __ATOMIC_RELEASE);
        deadline = stress_now_ms() + WAIT_MS;
        for (w = 0; w < WRITERS; w++) {
                while (ld32(&board->w[w].acked) != cycle) {
                        children_alive(pids, WRITERS + 1);
                        ck_assert_msg(stress_now_ms() < deadline,
                                      "cycle %u: writer %u did not pause", cycle, w);
                        stress_sleep_us(1000);
                }
        }
        /* The parent's client, idle since before the kill. */
        rv = tshm_stat(pc, "w0-0", &info);
        if (rv < 0) {
                printf("fault_kill_daemon: cycle %u: tshm_stat on the parent's old client: %s "
                       "(%s)\n",
                       cycle, tshm_err_name(rv), tshm_errmsg(pc));
        }
        printf("fault_kill_daemon: cycle %u: killed tshmd %llu us into the load; writers kept "
               "writing through the outage\n",
               cycle, (unsigned long long)delay_us);
        check_after_restart(f, cycle);
        return rv;
}

/* Whether the old clients worked after a restart; fail with what each got. */
static void
check_old_clients(uint32_t cycle, int parent_rv)
{
        char msg[1024];
        size_t off;
        unsigned w;
        bool ok = parent_rv == 0;

        off = (size_t)snprintf(msg, sizeof(msg), "parent: %s", tshm_err_name(parent_rv));
        for (w = 0; w < WRITERS; w++) {
                const struct writer_slot *ws = &board->w[w];
                ok = ok && ws->stat_rv == 0;
                if (off < sizeof(msg)) {
                        off +=
                            (size_t)snprintf(msg + off, sizeof(msg) - off, "; writer %u: %s%s%s", w,
                                             ws->stat_rv == 0 ? "ok" : tshm_err_name(ws->stat_rv),
                                             ws->stat_rv == 0 ? "" : " ", ws->stat_msg);
                }
        }
        printf("fault_kill_daemon: cycle %u: old clients after the restart: %s\n", cycle, msg);
        ck_assert_msg(ok,
                      "cycle %u: a client connected before the kill failed its first call after "
                      "the restart (libtshm did not reconnect): %s",
                      cycle, msg);
}

START_TEST(test_fault_daemon_kill9_under_load)
{
        uint32_t cycles = (uint32_t)stress_env_u64("TSHM_STRESS_DAEMON_KILLS", 3), cycle;
        uint64_t seed = stress_seed("fault_kill_daemon");
        pid_t pids[WRITERS + 1], me = getpid();
        struct tshmd_fixture f;
        struct stress_rng r;
        tshm_gc_entry *gc;
        tshm_client *pc;
        size_t i, ngc;
        int status, rv;
        char sbuf[96];

        stress_rng_seed(&r, seed);
        board =
            mmap(NULL, sizeof(*board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ck_assert(board != MAP_FAILED);
        fixture_start(&f, NULL);
        stress_sentinel_track(&f);
        for (i = 0; i < WRITERS + 1; i++) {
                uint64_t child_seed = stress_rng_next(&r);
                pids[i] = tshm_test_fork();
                if (pids[i] == 0) {
                        stress_child_init(me);
                        if (i < WRITERS) {
                                writer_run((unsigned)i, f.socket, child_seed);
                        }
                        creator_run(f.socket, child_seed);
                }
        }
        pc = fixture_connect(&f);
        for (cycle = 1; cycle <= cycles; cycle++) {
                rv = kill_cycle(&f, pc, &r, cycle, pids);
                ck_assert_msg(__atomic_load_n(&board->creator_error, __ATOMIC_ACQUIRE) == 0,
                              "the creator failed unexpectedly: %s", board->creator_msg);
                for (i = 0; i < WRITERS; i++) {
                        ck_assert_msg(board->w[i].error == 0, "writer %zu: %s", i,
                                      board->w[i].error_msg);
                }
                check_old_clients(cycle, rv);
                __atomic_store_n(&board->pause, 0, __ATOMIC_RELEASE);
        }
        __atomic_store_n(&board->quit, 1, __ATOMIC_RELEASE);
        for (i = 0; i < WRITERS + 1; i++) {
                ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %zu %s", i,
                              stress_status_str(status, sbuf, sizeof(sbuf)));
        }
        printf("fault_kill_daemon: %u cycles; creator: %llu calls ok, %llu failed during "
               "outages, %llu closes refused with EBADF after a reconnect, %u segments\n",
               cycles, (unsigned long long)board->creator_ok,
               (unsigned long long)board->creator_outage, (unsigned long long)board->creator_ebadf,
               board->ncreated);
        /* What a create cut short by a kill can leave: report it. */
        ck_assert_int_eq(tshm_gc(pc, 0, &gc, &ngc), 0);
        for (i = 0; i < ngc; i++) {
                printf("fault_kill_daemon: stale after the kills: %s (%s)\n", gc[i].object,
                       gc[i].reason);
        }
        tshm_gc_free(gc);
        stress_assert_serves(pc);
        tshm_disconnect(pc);
        fixture_teardown(&f);
        (void)munmap(board, sizeof(*board));
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("fault_daemon");
        TCase *tc;

        stress_sentinel_init();
        tc = tshm_test_case(s, "kill9", 280, TSHM_TESTS(test_fault_daemon_kill9_under_load));
        tcase_add_unchecked_fixture(tc, NULL, stress_sentinel_cleanup);
        return tshm_test_run(s);
}
