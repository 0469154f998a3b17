/*
 * test_wait_any.c - tshm_wait_any() over segments and subscribers fed by
 * other processes: exactly the item published to is marked, after_seq means
 * what it means for tshm_wait(), timeouts never end early, unlinked and
 * dropped sources count as ready, bad arguments are refused; each through
 * futex_waitv and through the fallback that sleeps on one word (forced with
 * the internal hook, so that both run on this kernel, and found by itself
 * where a seccomp filter makes futex_waitv fail as an old kernel or a
 * container runtime does). Linked with the static library for that hook.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "internal.h"

#define NSEG 3
#define NSUB 2

FIXTURE_PER_TEST(f)

static uint64_t
mono_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The names of the sources: segments seg0..2, streams st0..1. */
static void
source_name(int k, char *buf, size_t len)
{
        if (k < NSEG) {
                (void)snprintf(buf, len, "seg%d", k);
        } else {
                (void)snprintf(buf, len, "st%d", k - NSEG);
        }
}

/* A child that, once told on @rfd, publishes one version (or one frame) on
 * source @k through its own connection, after @delay_ms. */
static pid_t
publisher(int k, unsigned delay_ms, int rfd)
{
        pid_t pid = tshm_test_fork();

        if (pid == 0) {
                char name[16], go;
                tshm_client *c;
                tshm_seg *s;
                void *slot;

                source_name(k, name, sizeof(name));
                if (tshm_connect(f.socket, &c) < 0 || tshm_open(c, name, TSHM_OPEN_RDWR, &s) < 0) {
                        _exit(1);
                }
                if (read(rfd, &go, 1) != 1) {
                        _exit(2);
                }
                usleep(delay_ms * 1000u);
                if (k < NSEG) {
                        if (tshm_write_begin(s, 5000) < 0 || tshm_write_end(s) < 0) {
                                _exit(3);
                        }
                } else if (tshm_stream_loan(s, 5000, &slot) < 0 || tshm_stream_publish(s) < 0) {
                        _exit(4);
                }
                tshm_close(s);
                tshm_disconnect(c);
                _exit(0);
        }
        return pid;
}

static void
reap(pid_t pid)
{
        int status;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "publisher status %d", status);
}

struct sources {
        tshm_client *c;
        tshm_seg *segs[NSEG];
        tshm_seg *streams[NSUB];
        tshm_sub *subs[NSUB];
};

static void
sources_make(struct sources *src)
{
        char name[16];
        int k;

        src->c = fixture_connect(&f);
        for (k = 0; k < NSEG; k++) {
                source_name(k, name, sizeof(name));
                ck_assert_int_eq(tshm_create(src->c, name, TSHM_DTYPE_INT32, 1, (uint64_t[]){4},
                                             0600, 0, &src->segs[k]),
                                 0);
        }
        for (k = 0; k < NSUB; k++) {
                source_name(NSEG + k, name, sizeof(name));
                ck_assert_int_eq(tshm_stream_create(src->c, name, TSHM_DTYPE_INT32, 1,
                                                    (uint64_t[]){4}, 4, TSHM_STREAM_BLOCK, 0600, 0,
                                                    &src->streams[k]),
                                 0);
                ck_assert_int_eq(tshm_sub_open(src->c, name, &src->subs[k]), 0);
        }
}

static void
sources_free(struct sources *src)
{
        for (int k = 0; k < NSUB; k++) {
                tshm_sub_close(src->subs[k]);
                tshm_close(src->streams[k]);
        }
        for (int k = 0; k < NSEG; k++) {
                tshm_close(src->segs[k]);
        }
        tshm_disconnect(src->c);
}

/* The items: the segments waiting past @after[k], then the subscribers. */
static void
items_fill(tshm_waitable *items, const struct sources *src, const uint64_t *after)
{
        memset(items, 0, sizeof(tshm_waitable) * (NSEG + NSUB));
        for (int k = 0; k < NSEG; k++) {
                items[k].seg = src->segs[k];
                items[k].after_seq = after[k];
                items[k].ready = 7; /* must be overwritten */
        }
        for (int k = 0; k < NSUB; k++) {
                items[NSEG + k].sub = src->subs[k];
                items[NSEG + k].ready = 7;
        }
}

/* Whether the kernel is 5.16 or later, which has futex_waitv. */
static bool
kernel_has_waitv(void)
{
        struct utsname u;
        int major = 0, minor = 0;

        ck_assert_int_eq(uname(&u), 0);
        ck_assert_int_eq(sscanf(u.release, "%d.%d", &major, &minor), 2);
        return major > 5 || (major == 5 && minor >= 16);
}

/* _i: 0 through futex_waitv, 1 through the fallback. Each source in turn is
 * published by another process while the other four stay quiet: the wait
 * returns 1 with exactly that item marked, and take/wait then find it. */
START_TEST(test_wait_any_marks_the_source_published)
{
        struct sources src;
        tshm_waitable items[NSEG + NSUB];
        uint64_t after[NSEG] = {0, 0, 0};
        int fds[2];

        tshm__wait_any_force_fallback(_i == 1);
        sources_make(&src);
        for (int k = 0; k < NSEG + NSUB; k++) {
                pid_t pid;
                int rv;

                ck_assert_int_eq(pipe(fds), 0);
                pid = publisher(k, 50, fds[0]);
                items_fill(items, &src, after);
                /* Nothing yet: only checks, and marks every item 0. */
                ck_assert_int_eq(tshm_wait_any(items, NSEG + NSUB, 0), TSHM_ETIMEDOUT);
                for (int j = 0; j < NSEG + NSUB; j++) {
                        ck_assert_uint_eq(items[j].ready, 0);
                }
                ck_assert_int_eq(write(fds[1], "g", 1), 1);
                rv = tshm_wait_any(items, NSEG + NSUB, 10000);
                ck_assert_msg(rv == 1, "source %d: wait_any returned %d", k, rv);
                for (int j = 0; j < NSEG + NSUB; j++) {
                        ck_assert_msg(items[j].ready == (j == k ? 1u : 0u),
                                      "source %d published, item %d ready %u", k, j,
                                      items[j].ready);
                }
                /* The sleeping path really ran as chosen (futex_waitv where
                 * the kernel has it). */
                ck_assert_int_eq(tshm__wait_any_fallback(), _i == 1 || !kernel_has_waitv());
                if (k < NSEG) {
                        after[k] = (uint64_t)tshm_wait(src.segs[k], after[k], 0);
                        ck_assert_uint_eq(after[k], 2);
                } else {
                        tshm_frame fr;

                        ck_assert_int_eq(tshm_sub_take(src.subs[k - NSEG], 0, &fr), 0);
                        ck_assert_uint_eq(fr.seq, 1);
                        ck_assert_int_eq(tshm_sub_release(src.subs[k - NSEG]), 0);
                }
                reap(pid);
                (void)close(fds[0]);
                (void)close(fds[1]);
        }
        sources_free(&src);
}
END_TEST

/* after_seq: a segment at seq 2 is ready past 0 and 1, not past 2; several
 * ready items are all marked and counted; the same segment twice is fine. */
START_TEST(test_wait_any_after_seq)
{
        struct sources src;
        tshm_waitable items[NSEG + NSUB];
        uint64_t after[NSEG] = {2, 2, 2};
        tshm_frame fr;
        void *slot;

        tshm__wait_any_force_fallback(_i == 1);
        sources_make(&src);
        for (int k = 0; k < NSEG; k++) {
                ck_assert_int_eq(tshm_write_begin(src.segs[k], 1000), 0);
                ck_assert_int_eq(tshm_write_end(src.segs[k]), 2);
        }
        items_fill(items, &src, after);
        ck_assert_int_eq(tshm_wait_any(items, NSEG + NSUB, 50), TSHM_ETIMEDOUT);
        items[0].after_seq = 1;
        items[2].after_seq = 0;
        ck_assert_int_eq(tshm_wait_any(items, NSEG + NSUB, 1000), 2);
        ck_assert_uint_eq(items[0].ready, 1);
        ck_assert_uint_eq(items[1].ready, 0);
        ck_assert_uint_eq(items[2].ready, 1);
        /* A frame on stream 1: its subscriber is ready, the other not; the
         * stream's own counter is 2 now, ready past 0 as a segment item. */
        ck_assert_int_eq(tshm_stream_loan(src.streams[1], 1000, &slot), 0);
        ck_assert_int_eq(tshm_stream_publish(src.streams[1]), 1);
        items_fill(items, &src, after);
        items[1].seg = src.streams[1];
        items[1].after_seq = 0;
        items[2].seg = src.segs[0]; /* segs[0] twice, past 2: not ready */
        ck_assert_int_eq(tshm_wait_any(items, NSEG + NSUB, 1000), 2);
        ck_assert_uint_eq(items[0].ready, 0);
        ck_assert_uint_eq(items[1].ready, 1);
        ck_assert_uint_eq(items[2].ready, 0);
        ck_assert_uint_eq(items[3].ready, 0);
        ck_assert_uint_eq(items[4].ready, 1);
        /* A subscriber that took that frame waits for the next. */
        ck_assert_int_eq(tshm_sub_take(src.subs[1], 0, &fr), 0);
        ck_assert_int_eq(tshm_sub_release(src.subs[1]), 0);
        ck_assert_int_eq(tshm_wait_any(&items[4], 1, 20), TSHM_ETIMEDOUT);
        ck_assert_uint_eq(items[4].ready, 0);
        sources_free(&src);
}
END_TEST

/* A timeout never ends early, with or without a publish on another word
 * meanwhile (a wake-up that is not ours), and comes back. */
START_TEST(test_wait_any_timeout)
{
        struct sources src;
        tshm_waitable items[NSEG + NSUB];
        uint64_t after[NSEG] = {0, 0, 0}, t0, took;
        tshm_seg *other;

        tshm__wait_any_force_fallback(_i == 1);
        sources_make(&src);
        items_fill(items, &src, after);
        t0 = mono_ms();
        ck_assert_int_eq(tshm_wait_any(items, NSEG + NSUB, 300), TSHM_ETIMEDOUT);
        took = mono_ms() - t0;
        ck_assert_msg(took >= 300 && took < 5000, "300 ms timeout took %llu ms",
                      (unsigned long long)took);
        for (int j = 0; j < NSEG + NSUB; j++) {
                ck_assert_uint_eq(items[j].ready, 0);
        }
        /* Writes to segs[0] that the items wait past: wake-ups to sleep on
         * again. */
        ck_assert_int_eq(tshm_open(src.c, "seg0", TSHM_OPEN_RDWR, &other), 0);
        ck_assert_int_eq(tshm_write_begin(other, 1000), 0);
        ck_assert_int_eq(tshm_write_end(other), 2);
        items[0].after_seq = 4;
        {
                int fds[2];
                pid_t pid;

                ck_assert_int_eq(pipe(fds), 0);
                pid = publisher(0, 100, fds[0]); /* seq 4: still not past 4 */
                ck_assert_int_eq(write(fds[1], "g", 1), 1);
                t0 = mono_ms();
                ck_assert_int_eq(tshm_wait_any(items, NSEG + NSUB, 400), TSHM_ETIMEDOUT);
                took = mono_ms() - t0;
                ck_assert_msg(took >= 400 && took < 5000, "400 ms timeout took %llu ms",
                              (unsigned long long)took);
                reap(pid);
                (void)close(fds[0]);
                (void)close(fds[1]);
        }
        ck_assert_int_eq(tshm_seg_seq(src.segs[0]), 4);
        tshm_close(other);
        sources_free(&src);
}
END_TEST

/* Unlinked: a segment item and a subscriber with every frame taken are
 * ready, and the calls they stand for say why. */
START_TEST(test_wait_any_unlinked_is_ready)
{
        struct sources src;
        tshm_waitable items[2];
        tshm_frame fr;

        tshm__wait_any_force_fallback(_i == 1);
        sources_make(&src);
        memset(items, 0, sizeof(items));
        items[0].seg = src.segs[1];
        items[1].sub = src.subs[0];
        ck_assert_int_eq(tshm_wait_any(items, 2, 0), TSHM_ETIMEDOUT);
        ck_assert_int_eq(tshm_unlink(src.c, "st0"), 0);
        ck_assert_int_eq(tshm_wait_any(items, 2, 5000), 1);
        ck_assert_uint_eq(items[0].ready, 0);
        ck_assert_uint_eq(items[1].ready, 1);
        ck_assert_int_eq(tshm_sub_take(src.subs[0], 0, &fr), TSHM_ENOENT);
        ck_assert_int_eq(tshm_unlink(src.c, "seg1"), 0);
        ck_assert_int_eq(tshm_wait_any(items, 1, 5000), 1);
        ck_assert_int_eq(tshm_wait(src.segs[1], 0, 0), TSHM_ENOENT);
        sources_free(&src);
}
END_TEST

/* A subscription the daemon dropped (it stopped) is ready; take says so.
 * The wait sleeps first, so the drop wakes it (or its slice finds it). */
START_TEST(test_wait_any_dropped_subscriber_is_ready)
{
        struct sources src;
        tshm_waitable item;
        tshm_frame fr;
        pid_t pid;

        tshm__wait_any_force_fallback(_i == 1);
        sources_make(&src);
        memset(&item, 0, sizeof(item));
        item.sub = src.subs[1];
        pid = tshm_test_fork();
        if (pid == 0) {
                usleep(100 * 1000);
                (void)kill(f.pid, SIGTERM);
                _exit(0);
        }
        ck_assert_int_eq(tshm_wait_any(&item, 1, 10000), 1);
        ck_assert_uint_eq(item.ready, 1);
        ck_assert_int_eq(tshm_sub_take(src.subs[1], 0, &fr), TSHM_ECONNRESET);
        reap(pid);
        /* The daemon the child stopped: it exits 0 once it is done. */
        {
                int status;

                ck_assert_int_eq(waitpid(f.pid, &status, 0), f.pid);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tshmd status %d",
                              status);
                f.pid = 0;
        }
        sources_free(&src);
}
END_TEST

/* Make futex_waitv fail with @err in this process (a seccomp filter), as it
 * does on a kernel without it (ENOSYS) or under a filter that does not know
 * it (EPERM). Returns whether it could. */
static bool
deny_futex_waitv(int err)
{
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_futex_waitv, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};

        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
               prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/* _i 0: ENOSYS, 1: EPERM. A child where futex_waitv fails so waits on the
 * parent's sources (mapped before the fork) while the parent publishes on
 * the last: it wakes for that one, through the fallback it switched to. */
START_TEST(test_wait_any_falls_back_by_itself)
{
        struct sources src;
        tshm_waitable items[NSEG + NSUB];
        uint64_t after[NSEG] = {0, 0, 0};
        int fds[2], status;
        void *slot;
        pid_t pid;
        char c;

        tshm__wait_any_force_fallback(false);
        sources_make(&src);
        items_fill(items, &src, after);
        ck_assert_int_eq(pipe(fds), 0);
        pid = tshm_test_fork();
        if (pid == 0) {
                int rv;

                if (!deny_futex_waitv(_i == 0 ? ENOSYS : EPERM)) {
                        _exit(2);
                }
                if (syscall(SYS_futex_waitv, NULL, 0, 0, NULL, 0) != -1 ||
                    errno != (_i == 0 ? ENOSYS : EPERM)) {
                        _exit(3);
                }
                (void)!write(fds[1], "w", 1);
                rv = tshm_wait_any(items, NSEG + NSUB, 10000);
                if (rv != 1 || items[NSEG + NSUB - 1].ready != 1 || items[0].ready != 0) {
                        _exit(4);
                }
                _exit(tshm__wait_any_fallback() ? 0 : 5);
        }
        ck_assert_int_eq(read(fds[0], &c, 1), 1);
        usleep(100 * 1000); /* let it sleep first */
        ck_assert_int_eq(tshm_stream_loan(src.streams[NSUB - 1], 1000, &slot), 0);
        ck_assert_int_eq(tshm_stream_publish(src.streams[NSUB - 1]), 1);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
        /* The parent's process still uses futex_waitv. */
        ck_assert(!tshm__wait_any_fallback());
        (void)close(fds[0]);
        (void)close(fds[1]);
        sources_free(&src);
}
END_TEST

START_TEST(test_wait_any_einval)
{
        struct sources src;
        tshm_waitable items[TSHM_WAIT_ANY_MAX + 1];
        tshm_frame fr;
        void *slot;

        sources_make(&src);
        memset(items, 0, sizeof(items));
        for (int i = 0; i < TSHM_WAIT_ANY_MAX + 1; i++) {
                items[i].seg = src.segs[i % NSEG];
                items[i].after_seq = 100;
        }
        ck_assert_int_eq(tshm_wait_any(NULL, 1, 0), TSHM_EINVAL);
        ck_assert_int_eq(tshm_wait_any(items, 0, 0), TSHM_EINVAL);
        ck_assert_int_eq(tshm_wait_any(items, TSHM_WAIT_ANY_MAX + 1, 0), TSHM_EINVAL);
        /* The most there may be: fine. */
        ck_assert_int_eq(tshm_wait_any(items, TSHM_WAIT_ANY_MAX, 10), TSHM_ETIMEDOUT);
        items[5].sub = src.subs[0]; /* both */
        ck_assert_int_eq(tshm_wait_any(items, 8, 0), TSHM_EINVAL);
        items[5].seg = NULL;
        items[5].sub = NULL; /* neither */
        ck_assert_int_eq(tshm_wait_any(items, 8, 0), TSHM_EINVAL);
        items[5].seg = src.segs[0];
        items[6].reserved0 = 1;
        ck_assert_int_eq(tshm_wait_any(items, 8, 0), TSHM_EINVAL);
        items[6].reserved0 = 0;
        items[7].reserved[1] = 1;
        ck_assert_int_eq(tshm_wait_any(items, 8, 0), TSHM_EINVAL);
        items[7].reserved[1] = 0;
        ck_assert_int_eq(tshm_wait_any(items, 8, 0), TSHM_ETIMEDOUT);
        /* A subscriber holding a frame: release it first. */
        ck_assert_int_eq(tshm_stream_loan(src.streams[0], 1000, &slot), 0);
        ck_assert_int_eq(tshm_stream_publish(src.streams[0]), 1);
        ck_assert_int_eq(tshm_sub_take(src.subs[0], 0, &fr), 0);
        items[0].seg = NULL;
        items[0].sub = src.subs[0];
        ck_assert_int_eq(tshm_wait_any(items, 1, 0), TSHM_EINVAL);
        ck_assert_int_eq(tshm_sub_release(src.subs[0]), 0);
        ck_assert_int_eq(tshm_wait_any(items, 1, 0), TSHM_ETIMEDOUT);
        sources_free(&src);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("wait_any");
        const TTest *both[] = {test_wait_any_marks_the_source_published, test_wait_any_after_seq,
                               test_wait_any_timeout, test_wait_any_unlinked_is_ready,
                               test_wait_any_dropped_subscriber_is_ready};
        TCase *tc;

        /* Each over both paths: _i 0 futex_waitv, 1 the fallback. */
        for (size_t i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
                tc = tshm_test_loop(s, 120, both[i], 0, 2);
                tcase_add_checked_fixture(tc, setup, teardown);
        }
        tc = tshm_test_loop(s, 120, test_wait_any_falls_back_by_itself, 0, 2);
        tcase_add_checked_fixture(tc, setup, teardown);
        tc = tshm_test_case(s, "einval", 60, TSHM_TESTS(test_wait_any_einval));
        tcase_add_checked_fixture(tc, setup, teardown);
        return tshm_test_run(s);
}
