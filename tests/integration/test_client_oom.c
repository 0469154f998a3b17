/*
 * test_client_oom.c - libtshm's calls with the Nth allocation of the client
 * failing (alloc/alloc.h), against a real tshmd: tshm_connect, tshm_create,
 * tshm_open, tshm_list, tshm_stream_create and tshm_sub_open. Each run
 * answers TSHM_ENOMEM or succeeds; a failed run leaves no descriptor, no
 * handle or segment in the daemon, and the same connection (the walk never
 * makes libtshm drop it); the call succeeds once N passes its allocations.
 * Links libtshm's static library to reach the hook and the client's
 * internals. Under ASan, nothing leaks.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"

#include "fixture.h"
#include "internal.h"

static struct tshmd_fixture f;
static tshm_client *c;   /* the client walked */
static tshm_client *obs; /* looks at the daemon, never walked */

static void
setup(void)
{
        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        obs = fixture_connect(&f);
}

static void
teardown(void)
{
        tshm_disconnect(c);
        tshm_disconnect(obs);
        fixture_teardown(&f);
}

static int
count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        int n = 0;

        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)) != NULL) {
                n += e->d_name[0] != '.';
        }
        (void)closedir(d);
        return n;
}

/* What a failed call must leave as it found. */
struct snap {
        int fds;
        uint64_t segments, opens;
        uint32_t subscribers; /* of "t", if it exists */
        int cfd;              /* the walked client's connection */
        uint64_t epoch;
};

static void
snap_take(struct snap *s)
{
        tshm_stream_info si;
        tshm_daemon_info st;

        ck_assert_int_eq(tshm_daemon_stat(obs, &st), 0);
        s->segments = st.segments;
        s->opens = st.opens;
        s->subscribers = tshm_stream_stat(obs, "t", &si) == 0 ? si.subscribers : 0;
        s->cfd = c->fd;
        s->epoch = c->epoch;
        s->fds = count_fds(); /* last: the calls above open none that stay */
}

/* A failed call left descriptors, daemon counts and the connection as
 * they were. */
static void
snap_assert_same(const struct snap *before, const struct snap *after)
{
        ck_assert_int_eq(after->fds, before->fds);
        ck_assert_uint_eq(after->segments, before->segments);
        ck_assert_uint_eq(after->opens, before->opens);
        ck_assert_uint_eq(after->subscribers, before->subscribers);
        ck_assert_int_eq(after->cfd, before->cfd);
        ck_assert_uint_eq(after->epoch, before->epoch);
}

typedef int (*call_fn)(void **ret_obj);
typedef void (*undo_fn)(void *obj);

/* Walk @call: fail the client's allocation 1, 2, ... of it until it makes
 * fewer; returns how many runs hit a failure. @undo releases what a
 * successful run made. @gone (or NULL) must not exist after a failed run. */
static unsigned
walk(call_fn call, undo_fn undo, const char *gone)
{
        unsigned hits = 0;
        uint64_t n;

        for (n = 1;; n++) {
                struct snap before, after;
                void *obj = NULL;
                uint64_t failures;
                bool hit;
                int rv;

                ck_assert_uint_lt(n, 1000);
                snap_take(&before);
                failures = tshm__alloc_failures();
                tshm__alloc_fail_at(n);
                rv = call(&obj);
                tshm__alloc_fail_at(0);
                hit = tshm__alloc_failures() != failures;
                if (rv == 0) {
                        undo(obj);
                } else {
                        ck_assert_msg(hit && rv == TSHM_ENOMEM, "run %llu: %s",
                                      (unsigned long long)n, tshm_strerror(rv));
                        snap_take(&after);
                        snap_assert_same(&before, &after);
                        if (gone != NULL) {
                                tshm_info info;
                                ck_assert_int_eq(tshm_stat(obs, gone, &info), TSHM_ENOENT);
                        }
                }
                hits += hit ? 1 : 0;
                if (!hit) {
                        return hits;
                }
        }
}

static int
call_connect(void **ret_obj)
{
        return tshm_connect(f.socket, (tshm_client **)ret_obj);
}

static void
undo_connect(void *obj)
{
        tshm_disconnect(obj);
}

/* A connect that fails has nothing to keep: it closes its socket. */
START_TEST(test_oom_connect)
{
        ck_assert_uint_ge(walk(call_connect, undo_connect, NULL), 2);
}
END_TEST

static int
call_create(void **ret_obj)
{
        return tshm_create(c, "a", TSHM_DTYPE_FLOAT32, 2, (uint64_t[]){16, 16}, 0600, 0,
                           (tshm_seg **)ret_obj);
}

static void
undo_create(void *obj)
{
        ck_assert_int_eq(tshm_close(obj), 0);
        ck_assert_int_eq(tshm_unlink(obs, "a"), 0);
}

START_TEST(test_oom_create)
{
        tshm_seg *seg;

        ck_assert_uint_ge(walk(call_create, undo_create, "a"), 3);
        /* The client still works, on the same connection. */
        ck_assert_int_eq(call_create((void **)&seg), 0);
        ck_assert_int_eq(tshm_close(seg), 0);
}
END_TEST

static int
call_open(void **ret_obj)
{
        return tshm_open(c, "o", TSHM_OPEN_RDWR, (tshm_seg **)ret_obj);
}

static void
undo_open(void *obj)
{
        ck_assert_int_eq(tshm_close(obj), 0);
}

START_TEST(test_oom_open)
{
        tshm_seg *seg;

        ck_assert_int_eq(
            tshm_create(obs, "o", TSHM_DTYPE_UINT8, 1, (uint64_t[]){64}, 0600, 0, &seg), 0);
        ck_assert_int_eq(tshm_close(seg), 0);
        ck_assert_uint_ge(walk(call_open, undo_open, NULL), 2);
}
END_TEST

#define NLIST 60 /* segments: a list reply bigger than libtshm's stack buffer */

static int
call_list(void **ret_obj)
{
        size_t n;
        int rv = tshm_list(c, NULL, (tshm_info **)ret_obj, &n);

        ck_assert(rv < 0 || n == NLIST);
        return rv;
}

static void
undo_list(void *obj)
{
        tshm_list_free(obj);
}

START_TEST(test_oom_list)
{
        int i;

        for (i = 0; i < NLIST; i++) {
                char name[32];
                tshm_seg *seg;

                (void)snprintf(name, sizeof(name), "list-%02d", i);
                ck_assert_int_eq(
                    tshm_create(obs, name, TSHM_DTYPE_UINT8, 1, (uint64_t[]){64}, 0600, 0, &seg),
                    0);
                ck_assert_int_eq(tshm_close(seg), 0);
        }
        ck_assert_uint_ge(walk(call_list, undo_list, NULL), 4);
}
END_TEST

static int
call_stream_create(void **ret_obj)
{
        return tshm_stream_create(c, "s", TSHM_DTYPE_INT32, 1, (uint64_t[]){8}, 4,
                                  TSHM_STREAM_BLOCK, 0600, 0, (tshm_seg **)ret_obj);
}

static void
undo_stream_create(void *obj)
{
        ck_assert_int_eq(tshm_close(obj), 0);
        ck_assert_int_eq(tshm_unlink(obs, "s"), 0);
}

START_TEST(test_oom_stream_create)
{
        ck_assert_uint_ge(walk(call_stream_create, undo_stream_create, "s"), 4);
}
END_TEST

static int
call_subscribe(void **ret_obj)
{
        return tshm_sub_open(c, "t", (tshm_sub **)ret_obj);
}

static void
undo_subscribe(void *obj)
{
        ck_assert_int_eq(tshm_sub_close(obj), 0);
}

START_TEST(test_oom_subscribe)
{
        tshm_seg *seg;

        ck_assert_int_eq(tshm_stream_create(obs, "t", TSHM_DTYPE_INT32, 1, (uint64_t[]){8}, 4,
                                            TSHM_STREAM_BLOCK, 0644, 0, &seg),
                         0);
        ck_assert_uint_ge(walk(call_subscribe, undo_subscribe, NULL), 5);
        ck_assert_int_eq(tshm_close(seg), 0);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("oom");

        tshm_test_each(s, 120, setup, teardown,
                       TSHM_TESTS(test_oom_connect, test_oom_create, test_oom_open, test_oom_list,
                                  test_oom_stream_create, test_oom_subscribe));
        return tshm_test_run(s);
}
