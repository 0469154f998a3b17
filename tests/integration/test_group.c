/*
 * test_group.c - tensor groups end to end against a real tshmd (tshm.h,
 * "Tensor groups"): create, fill, publish, open, find; an unpublished group
 * is invisible to everyone else and goes with its creator (close, kill -9,
 * a daemon restart); 10,000 tensors with long names; the limits.
 * test_group_attack.c has the tables of contents rewritten, cut or raced.
 * Linked with the static library for the segment's internals.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "group.h"

#include "group_util.h"

FIXTURE_PER_TEST(f)

START_TEST(test_group_roundtrip)
{
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_group *g = make_three(a, "model"), *r = NULL;
        tshm_tensor t;
        tshm_info info;
        tshm_seg *raw = NULL;
        const void *m;
        size_t mlen = 0, i, k;

        ck_assert_int_eq(tshm_group_published(g), 0);
        fill(g);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_published(g), 1);
        ck_assert_int_eq(tshm_group_publish(g), TSHM_EINVAL);

        ck_assert_int_eq(tshm_group_open(b, "model", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_uint_eq(tshm_group_count(r), 3);
        ck_assert_int_eq(tshm_group_published(r), 1);
        for (i = 0; i < 3; i++) {
                ck_assert_int_eq(tshm_group_tensor(r, i, &t), 0);
                ck_assert_str_eq(t.name, three[i].name);
                ck_assert_uint_eq(t.name_len, strlen(three[i].name));
                ck_assert_int_eq(t.dtype, three[i].dtype);
                ck_assert_uint_eq(t.ndim, three[i].ndim);
                for (k = 0; k < t.nbytes; k++) {
                        ck_assert_uint_eq(((const uint8_t *)t.data)[k], i + 1);
                }
                ck_assert_int_eq(tshm_group_find(r, three[i].name, NULL), (int64_t)i);
        }
        ck_assert_int_eq(tshm_group_tensor(r, 3, &t), TSHM_EINVAL);
        ck_assert_int_eq(tshm_group_find(r, "model.weigh", &t), TSHM_ENOENT);
        ck_assert_int_eq(tshm_group_find(r, "model.weightx", &t), TSHM_ENOENT);
        ck_assert_int_eq(tshm_group_find(r, "", &t), TSHM_ENOENT);
        ck_assert_int_eq(tshm_group_find(r, "model.bias", &t), 1);
        ck_assert_uint_eq(t.nbytes, 10);
        ck_assert_uint_eq(t.shape[0], 5);
        assert_inside(r);
        m = tshm_group_metadata(r, &mlen);
        ck_assert_uint_eq(mlen, strlen(meta));
        ck_assert_mem_eq(m, meta, mlen);

        ck_assert_int_eq(tshm_stat(b, "model", &info), 0);
        ck_assert_uint_eq(info.kind, TSHM_KIND_GROUP);
        ck_assert_uint_eq(info.tensors, 3);
        ck_assert(listed(b, "model"));
        /* Its bytes, through tshm_open(). */
        ck_assert_int_eq(tshm_open(b, "model", TSHM_OPEN_RDONLY, &raw), 0);
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert_int_eq(tshm_seg_dtype(raw), TSHM_DTYPE_UINT8);
        ck_assert_uint_eq(tshm_seg_ndim(raw), 1);
        ck_assert_mem_eq(tshm_seg_data(raw), TSHM_TOC_MAGIC, 8);
        ck_assert_int_eq(tshm_close(raw), 0);
        /* A plain segment is not a group. */
        ck_assert_int_eq(tshm_create(a, "plain", TSHM_DTYPE_UINT8, 1, s5, 0600, 0, &raw), 0);
        ck_assert_int_eq(tshm_group_open(a, "plain", TSHM_OPEN_RDONLY, &r), TSHM_EINVAL);
        ck_assert_int_eq(tshm_close(raw), 0);

        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(a);
        tshm_disconnect(b);
}
END_TEST

START_TEST(test_group_unpublished_invisible)
{
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_group *g = make_three(a, "model"), *r = NULL;
        tshm_info info;
        tshm_seg *s = NULL;

        ck_assert_int_eq(fixture_count_objects(&f), 1);
        ck_assert_int_eq(tshm_group_open(b, "model", TSHM_OPEN_RDONLY, &r), TSHM_ENOENT);
        ck_assert_int_eq(tshm_open(b, "model", TSHM_OPEN_RDWR, &s), TSHM_ENOENT);
        ck_assert_int_eq(tshm_stat(b, "model", &info), TSHM_ENOENT);
        ck_assert(!listed(b, "model"));
        /* Not even its creator's connection sees it but through the handle. */
        ck_assert_int_eq(tshm_open(a, "model", TSHM_OPEN_RDONLY, &s), TSHM_ENOENT);
        ck_assert_int_eq(tshm_stat(a, "model", &info), TSHM_ENOENT);
        /* Nobody can unlink, chmod or take the name meanwhile. */
        ck_assert_int_eq(tshm_unlink(b, "model"), TSHM_ENOENT);
        ck_assert_int_eq(tshm_chmod(b, "model", 0666), TSHM_ENOENT);
        ck_assert_int_eq(tshm_group_create(b, "model", three, 3, NULL, &r), TSHM_EEXIST);
        ck_assert_int_eq(tshm_group_create(a, "model", three, 3, NULL, &r), TSHM_EEXIST);
        ck_assert_int_eq(tshm_create(b, "model", TSHM_DTYPE_UINT8, 1, s5, 0600, 0, &s),
                         TSHM_EEXIST);
        ck_assert_int_eq(fixture_count_objects(&f), 1);

        fill(g);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_open(b, "model", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_int_eq(tshm_stat(b, "model", &info), 0);
        ck_assert(listed(b, "model"));
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        /* Published and not ephemeral: it stays. */
        ck_assert_int_eq(tshm_stat(b, "model", &info), 0);
        tshm_disconnect(a);
        tshm_disconnect(b);
}
END_TEST

START_TEST(test_group_close_unpublished_removes)
{
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_group *g = make_three(a, "model");
        tshm_info info;

        fill(g);
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        ck_assert_int_eq(tshm_group_close(g), 0);
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        ck_assert_int_eq(tshm_stat(b, "model", &info), TSHM_ENOENT);
        /* The name is free again, for anyone. */
        g = make_three(b, "model");
        ck_assert_int_eq(tshm_group_close(g), 0);
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        /* And with the connection (disconnect without close). */
        g = make_three(a, "model");
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        tshm_disconnect(a);
        ck_assert(wait_objects(&f, 0));
        ck_assert_int_eq(tshm_stat(b, "model", &info), TSHM_ENOENT);
        (void)tshm_group_close(g); /* frees the handle; its connection is gone */
        g = make_three(b, "model");
        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(b);
}
END_TEST

START_TEST(test_group_kill9_mid_fill)
{
        tshm_client *b;
        tshm_group *g;
        tshm_info info;
        int pfd[2], status = 0;
        char go = 0;
        pid_t pid;

        ck_assert_int_eq(pipe(pfd), 0);
        pid = tshm_test_fork();
        if (pid == 0) {
                tshm_client *c;
                tshm_tensor t;

                (void)close(pfd[0]);
                if (tshm_connect(f.socket, &c) < 0 ||
                    tshm_group_create(c, "model", three, 3, NULL, &g) < 0 ||
                    tshm_group_tensor(g, 0, &t) < 0) {
                        _exit(1);
                }
                memset(t.data, 7, t.nbytes / 2); /* half-way through */
                if (write(pfd[1], "c", 1) != 1) {
                        _exit(2);
                }
                for (;;) {
                        pause();
                }
        }
        (void)close(pfd[1]);
        ck_assert_int_eq(read(pfd[0], &go, 1), 1);
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status));
        (void)close(pfd[0]);
        ck_assert(wait_objects(&f, 0));
        b = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(b, "model", &info), TSHM_ENOENT);
        ck_assert(!listed(b, "model"));
        g = make_three(b, "model");
        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(b);
}
END_TEST

/* Unlinked, then closed: the last handle's close frees the segment in
 * tshmd, which must not look at it afterwards (ASan's tshmd reports a
 * use after free in its log, which fixture_stop() fails on). */
START_TEST(test_group_unlink_then_close)
{
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_group *g = make_three(a, "model"), *r = NULL;
        tshm_seg *s = NULL;
        tshm_tensor t;

        fill(g);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_open(b, "model", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_int_eq(tshm_unlink(a, "model"), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        /* The reader still reads its tensors. */
        ck_assert_int_eq(tshm_group_find(r, "step", &t), 2);
        ck_assert_uint_eq(((const uint8_t *)t.data)[0], 3);
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert(wait_objects(&f, 0));
        /* A plain segment the same way. */
        ck_assert_int_eq(tshm_create(a, "plain", TSHM_DTYPE_UINT8, 1, s5, 0600, 0, &s), 0);
        ck_assert_int_eq(tshm_unlink(a, "plain"), 0);
        ck_assert_int_eq(tshm_close(s), 0);
        g = make_three(a, "model");
        ck_assert_int_eq(tshm_group_close(g), 0);
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        tshm_disconnect(a);
        tshm_disconnect(b);
}
END_TEST

START_TEST(test_group_restart)
{
        tshm_client *a = fixture_connect(&f), *b;
        tshm_group *pub = make_three(a, "published"), *unpub = make_three(a, "unpublished"),
                   *r = NULL;
        tshm_info info;
        tshm_tensor t;
        int status = 0;

        fill(pub);
        fill(unpub);
        ck_assert_int_eq(tshm_group_publish(pub), 0);
        ck_assert_int_eq(fixture_count_objects(&f), 2);
        /* tshmd dies with the unpublished group still held. */
        ck_assert_int_eq(kill(f.pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(f.pid, &status, 0), f.pid);
        f.pid = 0;
        fixture_restart(&f, NULL);
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        b = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(b, "unpublished", &info), TSHM_ENOENT);
        ck_assert_int_eq(tshm_stat(b, "published", &info), 0);
        ck_assert_uint_eq(info.kind, TSHM_KIND_GROUP);
        ck_assert_uint_eq(info.tensors, 3);
        ck_assert_int_eq(tshm_group_open(b, "published", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_int_eq(tshm_group_find(r, "step", &t), 2);
        ck_assert_uint_eq(((const uint8_t *)t.data)[7], 3);
        ck_assert_int_eq(tshm_group_close(r), 0);
        /* The old handles: their connection is gone. */
        ck_assert_int_eq(tshm_group_publish(unpub), TSHM_ECONNRESET);
        (void)tshm_group_close(unpub);
        (void)tshm_group_close(pub);
        tshm_disconnect(a);
        ck_assert_int_eq(tshm_stat(b, "unpublished", &info), TSHM_ENOENT);
        ck_assert_int_eq(fixture_count_objects(&f), 1);
        tshm_disconnect(b);
}
END_TEST

/* The creator's own table, in its writable mapping. */
START_TEST(test_group_many_long_names)
{
        enum { N = 10000, LEN = 200 };
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_tensor_spec *t = calloc(N, sizeof(*t));
        char(*names)[LEN + 1] = calloc(N, sizeof(*names));
        uint64_t *shapes = calloc(N, sizeof(*shapes));
        tshm_group *g = NULL, *r = NULL;
        tshm_tensor tt;
        tshm_info info;
        int i;

        ck_assert(t != NULL && names != NULL && shapes != NULL);
        for (i = 0; i < N; i++) {
                /* Long shared prefixes: the sort compares many bytes. */
                memset(names[i], 'p', LEN);
                snprintf(names[i] + LEN - 6, 7, "%06d", (i * 7919) % N);
                shapes[i] = (uint64_t)(i % 7) + 1;
                t[i] = (tshm_tensor_spec){names[i], TSHM_DTYPE_FLOAT32, 1, &shapes[i]};
        }
        ck_assert_int_eq(tshm_group_create(a, "many", t, N, NULL, &g), 0);
        for (i = 0; i < N; i++) {
                ck_assert_int_eq(tshm_group_tensor(g, (size_t)i, &tt), 0);
                memset(tt.data, i & 0xff, tt.nbytes);
        }
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_open(b, "many", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_uint_eq(tshm_group_count(r), N);
        assert_inside(r);
        for (i = 0; i < N; i++) {
                ck_assert_int_eq(tshm_group_find(r, names[i], &tt), i);
                ck_assert_uint_eq(tt.nbytes, shapes[i] * 4);
                ck_assert_uint_eq(((const uint8_t *)tt.data)[tt.nbytes - 1], i & 0xff);
        }
        ck_assert_int_eq(tshm_stat(b, "many", &info), 0);
        ck_assert_uint_eq(info.tensors, N);
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        free(t);
        free(names);
        free(shapes);
        tshm_disconnect(a);
        tshm_disconnect(b);
}
END_TEST

START_TEST(test_group_limits)
{
        static char longname[TSHM_GROUP_NAME_MAX + 2];
        tshm_client *a = fixture_connect(&f);
        tshm_tensor_spec t[2] = {{"x", TSHM_DTYPE_UINT8, 1, s5},
                                 {longname, TSHM_DTYPE_UINT8, 0, NULL}};
        tshm_group_opts opts = {0};
        tshm_group *g = NULL, *r = NULL;
        tshm_tensor tt;
        char *big;

        memset(longname, 'n', TSHM_GROUP_NAME_MAX);
        ck_assert_int_eq(tshm_group_create(a, "long", t, 2, NULL, &g), 0);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_open(a, "long", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_int_eq(tshm_group_find(r, longname, &tt), 1);
        ck_assert_uint_eq(tt.name_len, TSHM_GROUP_NAME_MAX);
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        longname[TSHM_GROUP_NAME_MAX] = 'n';
        ck_assert_int_eq(tshm_group_create(a, "long2", t, 2, NULL, &g), TSHM_EINVAL);
        t[1].name = "";
        ck_assert_int_eq(tshm_group_create(a, "empty", t, 2, NULL, &g), TSHM_EINVAL);
        t[1].name = "x";
        ck_assert_int_eq(tshm_group_create(a, "dup", t, 2, NULL, &g), TSHM_EINVAL);
        t[1].name = NULL;
        ck_assert_int_eq(tshm_group_create(a, "null", t, 2, NULL, &g), TSHM_EINVAL);
        t[1] = (tshm_tensor_spec){"y", TSHM_DTYPE_UINT8, 1, NULL};
        ck_assert_int_eq(tshm_group_create(a, "noshape", t, 2, NULL, &g), TSHM_EINVAL);
        /* Counts past the limit, refused before @t is read (it holds 2). */
        ck_assert_int_eq(tshm_group_create(a, "many", t, TSHM_GROUP_MAX_TENSORS + 1, NULL, &g),
                         TSHM_EINVAL);
        ck_assert_int_eq(tshm_group_create(a, "many", t, SIZE_MAX, NULL, &g), TSHM_EINVAL);
        /* Metadata one byte over the limit. */
        big = calloc(1, (size_t)TSHM_GROUP_META_MAX + 1);
        ck_assert_ptr_nonnull(big);
        opts.metadata = big;
        opts.metadata_len = (size_t)TSHM_GROUP_META_MAX + 1;
        ck_assert_int_eq(tshm_group_create(a, "meta", t, 1, &opts, &g), TSHM_EINVAL);
        opts.metadata = NULL;
        opts.metadata_len = 1;
        ck_assert_int_eq(tshm_group_create(a, "meta", t, 1, &opts, &g), TSHM_EINVAL);
        opts.metadata = big;
        opts.metadata_len = 1 << 20;
        memset(big, '{', 1 << 20);
        ck_assert_int_eq(tshm_group_create(a, "meta", t, 1, &opts, &g), 0);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_open(a, "meta", TSHM_OPEN_RDONLY, &r), 0);
        {
                size_t len = 0;
                const void *m = tshm_group_metadata(r, &len);

                ck_assert_uint_eq(len, 1 << 20);
                ck_assert_mem_eq(m, big, len);
        }
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        opts.metadata_len = 0;
        opts.reserved[2] = 1;
        ck_assert_int_eq(tshm_group_create(a, "reserved", t, 1, &opts, &g), TSHM_EINVAL);
        free(big);
        /* None of the refusals left an object. */
        ck_assert_int_eq(fixture_count_objects(&f), 2);
        /* No tensors at all is a group. */
        ck_assert_int_eq(tshm_group_create(a, "none", NULL, 0, NULL, &g), 0);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_open(a, "none", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_uint_eq(tshm_group_count(r), 0);
        ck_assert_int_eq(tshm_group_find(r, "x", NULL), TSHM_ENOENT);
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(a);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("group");

        tshm_test_each(s, 120, setup, teardown,
                       TSHM_TESTS(test_group_roundtrip, test_group_unpublished_invisible,
                                  test_group_close_unpublished_removes, test_group_kill9_mid_fill,
                                  test_group_unlink_then_close, test_group_restart,
                                  test_group_many_long_names, test_group_limits));
        return tshm_test_run(s);
}
