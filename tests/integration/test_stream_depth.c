/*
 * test_stream_depth.c - subscribers that hold several frames at once
 * (tshm_sub_opts.depth) and that start at the newest frame
 * (TSHM_SUB_NEWEST), driven in a child process over pipes: a block-policy
 * producer waits exactly until the oldest held frame is released; an
 * overwritten held frame is TSHM_ETORN at its release; a depth above
 * slots - 1 is refused; a newest start holds the newest frame from the
 * join on; a subscriber killed with -9 holding three frames stops holding
 * the producer back.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

#define FRAME_N 1024       /* int32 elements: 4 KiB frames */
#define BAD_DATA (-100000) /* a frame's elements are not all its number */

FIXTURE_PER_TEST(f)

static tshm_seg *
make_stream(tshm_client *c, const char *name, uint32_t slots, tshm_stream_policy policy)
{
        tshm_seg *s;

        ck_assert_int_eq(tshm_stream_create(c, name, TSHM_DTYPE_INT32, 1, (uint64_t[]){FRAME_N},
                                            slots, policy, 0, 0, &s),
                         0);
        return s;
}

/* Publish frames @first .. @last, each filled with its number. */
static void
produce(tshm_seg *s, uint64_t first, uint64_t last)
{
        for (uint64_t n = first; n <= last; n++) {
                int32_t *a;

                ck_assert_int_eq(tshm_stream_loan(s, 1000, (void **)&a), 0);
                for (int k = 0; k < FRAME_N; k++) {
                        a[k] = (int32_t)n;
                }
                ck_assert_int_eq(tshm_stream_publish(s), (int64_t)n);
        }
}

/* Whether the producer may loan its next frame within @timeout_ms; a loan
 * it gets is published (frame @n). */
static bool
can_publish(tshm_seg *s, uint64_t n, int timeout_ms)
{
        int32_t *a;
        int rv = tshm_stream_loan(s, timeout_ms, (void **)&a);

        if (rv == TSHM_ETIMEDOUT) {
                return false;
        }
        ck_assert_int_eq(rv, 0);
        for (int k = 0; k < FRAME_N; k++) {
                a[k] = (int32_t)n;
        }
        ck_assert_int_eq(tshm_stream_publish(s), (int64_t)n);
        return true;
}

static bool
frame_whole(const tshm_frame *fr)
{
        const int32_t *a = fr->data;

        for (int k = 0; k < FRAME_N; k++) {
                if (a[k] != (int32_t)fr->seq) {
                        return false;
                }
        }
        return true;
}

/* A subscriber in a child process, driven over pipes: each command is an op
 * and an argument, each answer an int64. */
struct actor {
        pid_t pid;
        int cmd, res;
};

struct actor_cmd {
        char op; /* T take (arg: timeout ms), R release_frame (arg: seq),
                  * L release, H held, M missed of the last take */
        uint64_t arg;
};

static void
actor_serve(tshm_sub *sub, int rfd, int wfd)
{
        struct actor_cmd cmd;
        tshm_frame frames[64];
        uint64_t last_missed = 0;
        unsigned n = 0;

        while (read(rfd, &cmd, sizeof(cmd)) == (ssize_t)sizeof(cmd)) {
                int64_t r = 0;
                int rv;

                switch (cmd.op) {
                case 'T':
                        rv = tshm_sub_take(sub, (int)cmd.arg, &frames[n % 64]);
                        if (rv < 0) {
                                r = rv;
                        } else if (!frame_whole(&frames[n % 64])) {
                                r = BAD_DATA;
                        } else {
                                r = (int64_t)frames[n % 64].seq;
                                last_missed = frames[n % 64].missed;
                                n++;
                        }
                        break;
                case 'R':
                        r = tshm_sub_release_frame(sub, cmd.arg);
                        break;
                case 'L':
                        r = tshm_sub_release(sub);
                        break;
                case 'H':
                        r = tshm_sub_held(sub);
                        break;
                case 'M':
                        r = (int64_t)last_missed;
                        break;
                default:
                        _exit(3);
                }
                if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r)) {
                        _exit(4);
                }
        }
}

/* The parent's ends of the pipes to the actors alive, which a new actor
 * closes: an actor's command pipe must reach end of file when the parent
 * closes it. */
static int actor_fds[16];
static unsigned actor_nfds;

/* Fork a subscriber to @name with @depth and @start; returns once it has
 * subscribed. */
static struct actor
actor_start(const char *name, uint32_t depth, tshm_sub_start start)
{
        int cmd[2], res[2];
        struct actor a;
        int64_t r;

        ck_assert_int_eq(pipe(cmd), 0);
        ck_assert_int_eq(pipe(res), 0);
        a.pid = tshm_test_fork();
        if (a.pid == 0) {
                tshm_sub_opts o = {.depth = depth, .start = start};
                tshm_client *c;
                tshm_sub *sub;

                close(cmd[1]);
                close(res[0]);
                for (unsigned i = 0; i < actor_nfds; i++) {
                        close(actor_fds[i]);
                }
                r = tshm_connect(f.socket, &c);
                if (r == 0) {
                        r = tshm_sub_open_opts(c, name, &o, &sub);
                }
                if (write(res[1], &r, sizeof(r)) != (ssize_t)sizeof(r) || r < 0) {
                        _exit(1);
                }
                actor_serve(sub, cmd[0], res[1]);
                tshm_sub_close(sub);
                tshm_disconnect(c);
                _exit(0);
        }
        close(cmd[0]);
        close(res[1]);
        a.cmd = cmd[1];
        a.res = res[0];
        ck_assert_uint_lt(actor_nfds + 2, 16);
        actor_fds[actor_nfds++] = a.cmd;
        actor_fds[actor_nfds++] = a.res;
        ck_assert_int_eq(read(a.res, &r, sizeof(r)), (ssize_t)sizeof(r));
        ck_assert_msg(r == 0, "subscribe: %s", tshm_strerror((int)r));
        return a;
}

static int64_t
actor_do(struct actor *a, char op, uint64_t arg)
{
        struct actor_cmd cmd = {.op = op, .arg = arg};
        int64_t r;

        ck_assert_int_eq(write(a->cmd, &cmd, sizeof(cmd)), (ssize_t)sizeof(cmd));
        ck_assert_int_eq(read(a->res, &r, sizeof(r)), (ssize_t)sizeof(r));
        return r;
}

static void
actor_stop(struct actor *a)
{
        int status;

        for (unsigned i = 0; i < actor_nfds; i++) {
                if (actor_fds[i] == a->cmd || actor_fds[i] == a->res) {
                        actor_fds[i--] = actor_fds[--actor_nfds];
                }
        }
        close(a->cmd);
        ck_assert_int_eq(waitpid(a->pid, &status, 0), a->pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
        close(a->res);
}

/* Wait up to 5 s for @name to have @n subscribers. */
static void
wait_subscribers(tshm_client *c, const char *name, uint32_t n)
{
        tshm_stream_info si;

        for (int i = 0; i < 500; i++) {
                ck_assert_int_eq(tshm_stream_stat(c, name, &si), 0);
                if (si.subscribers == n) {
                        return;
                }
                usleep(10 * 1000);
        }
        ck_abort_msg("'%s' has %u subscribers, not %u", name, si.subscribers, n);
}

/* Depth 3 on 4 slots: three frames held at once, released out of order;
 * the producer reuses a slot exactly when the frame it held is released,
 * whatever else is held. */
START_TEST(test_depth_block_waits_for_oldest)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make_stream(c, "dblk", 4, TSHM_STREAM_BLOCK);
        struct actor a = actor_start("dblk", 3, TSHM_SUB_NEXT);

        produce(s, 1, 3);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 1);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 2);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 3);
        ck_assert_int_eq(actor_do(&a, 'H', 0), 3);
        /* A fourth take while three are held: refused, nothing changes. */
        ck_assert_int_eq(actor_do(&a, 'T', 0), TSHM_EINVAL);
        ck_assert_int_eq(actor_do(&a, 'H', 0), 3);
        /* Frame 4's slot is free; frame 5's held frame 1. */
        ck_assert(can_publish(s, 4, 1000));
        ck_assert(!can_publish(s, 5, 100));
        /* Releasing a younger frame frees nothing the producer needs. */
        ck_assert_int_eq(actor_do(&a, 'R', 2), 0);
        ck_assert_int_eq(actor_do(&a, 'H', 0), 2);
        ck_assert(!can_publish(s, 5, 100));
        /* Frame 2 is not held any more. */
        ck_assert_int_eq(actor_do(&a, 'R', 2), TSHM_EINVAL);
        ck_assert_int_eq(actor_do(&a, 'R', 9), TSHM_EINVAL);
        /* The oldest: frames 5 (slot of 1) and 6 (of 2, released) go, 7 (of
         * 3, held) waits. */
        ck_assert_int_eq(actor_do(&a, 'R', 1), 0);
        ck_assert(can_publish(s, 5, 1000));
        ck_assert(can_publish(s, 6, 1000));
        ck_assert(!can_publish(s, 7, 100));
        /* Release (no seq) lets go of the frame taken last still held: 3. */
        ck_assert_int_eq(actor_do(&a, 'L', 0), 0);
        ck_assert_int_eq(actor_do(&a, 'H', 0), 0);
        ck_assert_int_eq(actor_do(&a, 'L', 0), TSHM_EINVAL);
        ck_assert(can_publish(s, 7, 1000));
        /* Frame 8 would reuse frame 4's slot, which the subscriber has not
         * taken yet. */
        ck_assert(!can_publish(s, 8, 100));
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 4);
        ck_assert(!can_publish(s, 8, 100));
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 5);
        ck_assert_int_eq(actor_do(&a, 'R', 4), 0);
        ck_assert(can_publish(s, 8, 1000));
        ck_assert_int_eq(actor_do(&a, 'R', 5), 0);
        actor_stop(&a);
        wait_subscribers(c, "dblk", 0);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* Under overwrite the producer never waits; a held frame whose slot it
 * reused is torn at its release, the others are whole. */
START_TEST(test_depth_overwrite_torn)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make_stream(c, "dovw", 4, TSHM_STREAM_OVERWRITE);
        struct actor a = actor_start("dovw", 3, TSHM_SUB_NEXT);

        produce(s, 1, 3);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 1);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 2);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 3);
        /* Frame 5 reuses frame 1's slot. */
        produce(s, 4, 5);
        ck_assert_int_eq(actor_do(&a, 'R', 2), 0);
        ck_assert_int_eq(actor_do(&a, 'R', 1), TSHM_ETORN);
        ck_assert_int_eq(actor_do(&a, 'H', 0), 1);
        ck_assert_int_eq(actor_do(&a, 'R', 3), 0);
        /* Nothing was missed: frames 4 and 5 are still there. */
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 4);
        ck_assert_int_eq(actor_do(&a, 'M', 0), 0);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 5);
        /* Frames 6 to 9 lap the ring: 4's slot goes to 8, 5's to 9. */
        produce(s, 6, 9);
        ck_assert_int_eq(actor_do(&a, 'L', 0), TSHM_ETORN);
        ck_assert_int_eq(actor_do(&a, 'L', 0), TSHM_ETORN);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 6);
        ck_assert_int_eq(actor_do(&a, 'L', 0), 0);
        actor_stop(&a);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

START_TEST(test_depth_refused)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make_stream(c, "dref", 4, TSHM_STREAM_BLOCK);
        tshm_sub_opts o = {.depth = 4};
        tshm_stream_info si;
        tshm_sub *sub;
        tshm_frame fr;

        ck_assert_int_eq(tshm_sub_open_opts(c, "dref", &o, &sub), TSHM_EINVAL);
        o.depth = TSHM_STREAM_MAX_SLOTS;
        ck_assert_int_eq(tshm_sub_open_opts(c, "dref", &o, &sub), TSHM_EINVAL);
        o.depth = UINT32_MAX;
        ck_assert_int_eq(tshm_sub_open_opts(c, "dref", &o, &sub), TSHM_EINVAL);
        o.depth = 3;
        o.start = 2;
        ck_assert_int_eq(tshm_sub_open_opts(c, "dref", &o, &sub), TSHM_EINVAL);
        o.start = TSHM_SUB_NEWEST;
        o.reserved[2] = 1;
        ck_assert_int_eq(tshm_sub_open_opts(c, "dref", &o, &sub), TSHM_EINVAL);
        /* None of them joined. */
        ck_assert_int_eq(tshm_stream_stat(c, "dref", &si), 0);
        ck_assert_uint_eq(si.subscribers, 0);
        /* Depth 0 is one frame, as is no options at all. */
        memset(&o, 0, sizeof(o));
        ck_assert_int_eq(tshm_sub_open_opts(c, "dref", &o, &sub), 0);
        produce(s, 1, 2);
        ck_assert_int_eq(tshm_sub_take(sub, 1000, &fr), 0);
        ck_assert_uint_eq(tshm_sub_held(sub), 1);
        ck_assert_int_eq(tshm_sub_take(sub, 0, &fr), TSHM_EINVAL);
        ck_assert_int_eq(tshm_sub_release_frame(sub, 2), TSHM_EINVAL);
        ck_assert_int_eq(tshm_sub_release_frame(sub, 1), 0);
        ck_assert_uint_eq(tshm_sub_held(sub), 0);
        ck_assert_int_eq(tshm_sub_close(sub), 0);
        ck_assert_int_eq(tshm_sub_open_opts(c, "dref", NULL, &sub), 0);
        produce(s, 3, 3);
        ck_assert_int_eq(tshm_sub_take(sub, 1000, &fr), 0);
        ck_assert_uint_eq(fr.seq, 3); /* the next frame, not the newest */
        ck_assert_int_eq(tshm_sub_take(sub, 0, &fr), TSHM_EINVAL);
        ck_assert_int_eq(tshm_sub_release(sub), 0);
        ck_assert_int_eq(tshm_sub_close(sub), 0);
        /* No such stream. */
        o.depth = 1;
        ck_assert_int_eq(tshm_sub_open_opts(c, "nope", &o, &sub), TSHM_ENOENT);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* Block: a newest start holds the newest frame from the join on (frames 7
 * to 9 go, 10 would reuse 6's slot), and takes it first. */
START_TEST(test_newest_block)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make_stream(c, "nblk", 4, TSHM_STREAM_BLOCK);
        struct actor a;

        produce(s, 1, 6);
        a = actor_start("nblk", 2, TSHM_SUB_NEWEST);
        produce(s, 7, 9);
        ck_assert(!can_publish(s, 10, 100));
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 6);
        ck_assert_int_eq(actor_do(&a, 'M', 0), 0);
        ck_assert(!can_publish(s, 10, 100));
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 7);
        ck_assert_int_eq(actor_do(&a, 'R', 6), 0);
        ck_assert(can_publish(s, 10, 1000));
        ck_assert(!can_publish(s, 11, 100));
        ck_assert_int_eq(actor_do(&a, 'R', 7), 0);
        ck_assert(can_publish(s, 11, 1000));
        actor_stop(&a);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* Overwrite: a newest start takes the newest frame still there; if the
 * producer reused its slot before the first take, the next one. */
START_TEST(test_newest_overwrite)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make_stream(c, "novw", 4, TSHM_STREAM_OVERWRITE);
        struct actor a, b;

        produce(s, 1, 6);
        a = actor_start("novw", 1, TSHM_SUB_NEWEST);
        b = actor_start("novw", 1, TSHM_SUB_NEWEST);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 6);
        ck_assert_int_eq(actor_do(&a, 'M', 0), 0);
        ck_assert_int_eq(actor_do(&a, 'L', 0), 0);
        /* Frame 10 takes 6's slot before b's first take. */
        produce(s, 7, 10);
        ck_assert_int_eq(actor_do(&b, 'T', 1000), 7);
        ck_assert_int_eq(actor_do(&b, 'M', 0), 1);
        ck_assert_int_eq(actor_do(&b, 'L', 0), 0);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 7);
        ck_assert_int_eq(actor_do(&a, 'L', 0), 0);
        actor_stop(&a);
        actor_stop(&b);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* On a stream nothing was published to, a newest start takes the first
 * frame, under either policy. */
START_TEST(test_newest_empty)
{
        tshm_client *c = fixture_connect(&f);
        tshm_stream_policy pol[2] = {TSHM_STREAM_BLOCK, TSHM_STREAM_OVERWRITE};
        const char *names[2] = {"neb", "neo"};

        for (int i = 0; i < 2; i++) {
                tshm_seg *s = make_stream(c, names[i], 2, pol[i]);
                struct actor a = actor_start(names[i], 1, TSHM_SUB_NEWEST);

                ck_assert_int_eq(actor_do(&a, 'T', 0), TSHM_ETIMEDOUT);
                produce(s, 1, 2);
                ck_assert_int_eq(actor_do(&a, 'T', 1000), 1);
                ck_assert_int_eq(actor_do(&a, 'L', 0), 0);
                ck_assert_int_eq(actor_do(&a, 'T', 1000), 2);
                ck_assert_int_eq(actor_do(&a, 'L', 0), 0);
                actor_stop(&a);
                tshm_close(s);
        }
        tshm_disconnect(c);
}
END_TEST

/* A newest start under the block policy while the producer runs flat out
 * for another subscriber: the frame handed out is never rewritten while
 * held (the join races the producer's look at the roster). */
START_TEST(test_newest_block_racing_producer)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make_stream(c, "nrace", 2, TSHM_STREAM_BLOCK);
        tshm_sub_opts o = {.depth = 1, .start = TSHM_SUB_NEWEST};
        tshm_client *sc;
        pid_t pid;
        int status;

        produce(s, 1, 1);
        pid = tshm_test_fork();
        if (pid == 0) {
                /* The producer, on a connection of its own: publishes
                 * flat out, as fast as the subscribers let it, until it is
                 * killed. */
                tshm_client *pc;
                tshm_seg *ps;
                uint64_t n = 2;

                if (tshm_connect(f.socket, &pc) < 0 ||
                    tshm_open(pc, "nrace", TSHM_OPEN_RDWR, &ps) < 0) {
                        _exit(1);
                }
                while (can_publish(ps, n, 10000)) {
                        n++;
                }
                _exit(2);
        }
        sc = fixture_connect(&f);
        for (int i = 0; i < 200; i++) {
                tshm_sub *sub;
                tshm_frame fr;
                usleep(500);

                ck_assert_int_eq(tshm_sub_open_opts(sc, "nrace", &o, &sub), 0);
                ck_assert_int_eq(tshm_sub_take(sub, 2000, &fr), 0);
                ck_assert_uint_eq(fr.missed, 0);
                /* Held: the producer waits for it, so it stays whole. */
                usleep(200);
                ck_assert(frame_whole(&fr));
                ck_assert_int_eq(tshm_sub_release(sub), 0);
                ck_assert_int_eq(tshm_sub_close(sub), 0);
        }
        /* With no subscriber the producer never waits: stop it. */
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        tshm_disconnect(sc);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

/* A subscriber killed with -9 while it holds three frames stops holding the
 * producer back. */
START_TEST(test_depth_killed_holding_three)
{
        tshm_client *c = fixture_connect(&f);
        tshm_seg *s = make_stream(c, "dkill", 4, TSHM_STREAM_BLOCK);
        struct actor a = actor_start("dkill", 3, TSHM_SUB_NEXT);
        int status;

        produce(s, 1, 4);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 1);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 2);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 3);
        ck_assert_int_eq(actor_do(&a, 'R', 2), 0);
        ck_assert_int_eq(actor_do(&a, 'T', 1000), 4);
        ck_assert_int_eq(actor_do(&a, 'H', 0), 3);
        ck_assert(!can_publish(s, 5, 100));
        ck_assert_int_eq(kill(a.pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(a.pid, &status, 0), a.pid);
        ck_assert(WIFSIGNALED(status));
        close(a.cmd);
        close(a.res);
        ck_assert(can_publish(s, 5, 5000));
        /* Nothing holds it back any more: a whole ring's worth goes. */
        produce(s, 6, 12);
        wait_subscribers(c, "dkill", 0);
        tshm_close(s);
        tshm_disconnect(c);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("stream_depth");
        TCase *tc;

        tc = tshm_test_case(s, "stream_depth", 120,
                            TSHM_TESTS(test_depth_block_waits_for_oldest, test_depth_overwrite_torn,
                                       test_depth_refused, test_newest_block, test_newest_overwrite,
                                       test_newest_empty, test_newest_block_racing_producer,
                                       test_depth_killed_holding_three));
        tcase_add_checked_fixture(tc, setup, teardown);
        return tshm_test_run(s);
}
