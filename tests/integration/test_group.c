/*
 * test_group.c - tensor groups end to end against a real tshmd (tshm.h,
 * "Tensor groups"): create, fill, publish, open, find; an unpublished group
 * is invisible to everyone else and goes with its creator (close, kill -9,
 * a daemon restart); publish refuses a table of contents its creator
 * rewrote, cut, or changed while tshmd read it; a reader of a group whose
 * table a writer corrupts gets TSHM_EBADHDR, and one that opened before
 * keeps a valid private copy; 10,000 tensors with long names; the limits.
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

FIXTURE_PER_TEST(f)

static const uint64_t s34[] = {3, 4}, s5[] = {5};
static const char meta[] = "{\"__metadata__\":{\"format\":\"pt\"}}";
static const tshm_tensor_spec three[] = {
    {"model.weight", TSHM_DTYPE_FLOAT32, 2, s34},
    {"model.bias", TSHM_DTYPE_INT16, 1, s5},
    {"step", TSHM_DTYPE_INT64, 0, NULL},
};

static tshm_group *
make_three(tshm_client *c, const char *name)
{
        tshm_group_opts opts = {.mode = 0644, .metadata = meta, .metadata_len = strlen(meta)};
        tshm_group *g = NULL;
        int rv = tshm_group_create(c, name, three, 3, &opts, &g);

        ck_assert_msg(rv == 0, "create '%s': %s (%s)", name, tshm_strerror(rv), tshm_errmsg(c));
        return g;
}

/* Fill tensor i's bytes with i + 1. */
static void
fill(tshm_group *g)
{
        tshm_tensor t;
        size_t i;

        for (i = 0; i < tshm_group_count(g); i++) {
                ck_assert_int_eq(tshm_group_tensor(g, i, &t), 0);
                memset(t.data, (int)i + 1, t.nbytes);
        }
}

static bool
listed(tshm_client *c, const char *name)
{
        tshm_info *infos = NULL;
        size_t n = 0, i;
        bool found = false;

        ck_assert_int_eq(tshm_list(c, NULL, &infos, &n), 0);
        for (i = 0; i < n; i++) {
                found = found || strcmp(infos[i].name, name) == 0;
        }
        tshm_list_free(infos);
        return found;
}

/* Every tensor of @g lies in its segment's data area. */
static void
assert_inside(const tshm_group *g)
{
        const tshm_seg *s = tshm_group_seg(g);
        const uint8_t *lo = tshm_seg_data(s), *hi = lo + tshm_seg_nbytes(s);
        tshm_tensor t;
        size_t i;

        for (i = 0; i < tshm_group_count(g); i++) {
                ck_assert_int_eq(tshm_group_tensor(g, i, &t), 0);
                ck_assert((const uint8_t *)t.data >= lo && (const uint8_t *)t.data <= hi);
                ck_assert_uint_le(t.nbytes, (uint64_t)(hi - (const uint8_t *)t.data));
                ck_assert_uint_eq((uintptr_t)t.data % TSHM_GROUP_ALIGN, 0);
        }
}

/* Wait up to 5 s for the objects under the prefix to number @n. */
static bool
wait_objects(int n)
{
        int i;

        for (i = 0; i < 500; i++) {
                if (fixture_count_objects(&f) == n) {
                        return true;
                }
                usleep(10000);
        }
        return false;
}

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
        ck_assert(wait_objects(0));
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
        ck_assert(wait_objects(0));
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
        ck_assert(wait_objects(0));
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
static uint8_t *
toc_of(tshm_group *g)
{
        return tshm_seg_data(tshm_group_seg(g));
}

static struct tshm__toc_entry *
entry_of(tshm_group *g, uint32_t i)
{
        return (struct tshm__toc_entry *)(void *)(toc_of(g) + TSHM_TOC_HEAD +
                                                  (size_t)i * TSHM_TOC_ENTRY);
}

/* Publish refuses with TSHM_EBADHDR, and nobody else sees the group. */
static void
publish_refused(tshm_group *g, tshm_client *other)
{
        tshm_info info;
        int rv = tshm_group_publish(g);

        ck_assert_msg(rv == TSHM_EBADHDR, "publish returned %d", rv);
        ck_assert_int_eq(tshm_group_published(g), 0);
        ck_assert_int_eq(tshm_stat(other, tshm_seg_name(tshm_group_seg(g)), &info), TSHM_ENOENT);
}

START_TEST(test_group_publish_refuses_rewritten_toc)
{
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_group *g = make_three(a, "model"), *r = NULL;
        struct tshm__toc *h = (struct tshm__toc *)(void *)toc_of(g);
        uint8_t saved[1024];
        size_t len = h->toc_bytes;
        char *name1;

        ck_assert_uint_le(len, sizeof(saved));
        memcpy(saved, h, len);
        /* A bad offset: one alignment step later. */
        entry_of(g, 1)->offset += TSHM_GROUP_ALIGN;
        publish_refused(g, b);
        memcpy(toc_of(g), saved, len);
        /* An offset past the segment. */
        entry_of(g, 2)->offset = UINT64_MAX - 63;
        publish_refused(g, b);
        memcpy(toc_of(g), saved, len);
        /* A name moved onto the next one's bytes: offsets disagree. */
        entry_of(g, 1)->name_off += 1;
        publish_refused(g, b);
        memcpy(toc_of(g), saved, len);
        /* A NUL in a name. */
        name1 = (char *)toc_of(g) + TSHM_TOC_HEAD + (size_t)3 * TSHM_TOC_ENTRY + (size_t)3 * 8 +
                strlen(meta) + 12;
        ck_assert_mem_eq(name1, "model.bias", 10);
        name1[5] = '\0';
        publish_refused(g, b);
        /* (Two equal names with every field in place: the group dups below.) */
        memcpy(toc_of(g), saved, len);
        /* A count too large, and one more than there are. */
        h->count = TSHM_GROUP_MAX_TENSORS + 1;
        publish_refused(g, b);
        h->count = 4;
        publish_refused(g, b);
        h->count = UINT32_MAX;
        publish_refused(g, b);
        memcpy(toc_of(g), saved, len);
        /* The magic, the whole table zeroed. */
        toc_of(g)[0] = 'X';
        publish_refused(g, b);
        memset(toc_of(g), 0, len);
        publish_refused(g, b);
        /* Put back, it publishes. */
        memcpy(toc_of(g), saved, len);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        /* Two equal names, every field in place: "ab" rewritten "aa". */
        {
                static const tshm_tensor_spec t[] = {{"aa", TSHM_DTYPE_UINT8, 1, s5},
                                                     {"ab", TSHM_DTYPE_UINT8, 1, s5},
                                                     {"ac", TSHM_DTYPE_UINT8, 1, s5}};
                tshm_group *d = NULL;
                char *names;

                ck_assert_int_eq(tshm_group_create(a, "dups", t, 3, NULL, &d), 0);
                names =
                    (char *)toc_of(d) + TSHM_TOC_HEAD + (size_t)3 * TSHM_TOC_ENTRY + (size_t)3 * 8;
                ck_assert_mem_eq(names, "aaabac", 6);
                names[3] = 'a';
                publish_refused(d, b);
                names[3] = 'c'; /* "ac" twice, at the end */
                publish_refused(d, b);
                names[3] = 'b';
                ck_assert_int_eq(tshm_group_publish(d), 0);
                ck_assert_int_eq(tshm_group_close(d), 0);
        }
        ck_assert_int_eq(tshm_group_open(b, "model", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_int_eq(tshm_group_close(r), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(a);
        tshm_disconnect(b);
}
END_TEST

START_TEST(test_group_corrupt_after_publish)
{
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f), *c = fixture_connect(&f);
        tshm_group *g = make_three(a, "model"), *early = NULL, *late = NULL;
        struct tshm__toc *h = (struct tshm__toc *)(void *)toc_of(g);
        uint8_t saved[1024];
        tshm_tensor t;
        size_t i, k, len;

        fill(g);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        len = h->toc_bytes;
        ck_assert_uint_le(len, sizeof(saved));
        memcpy(saved, h, len);
        ck_assert_int_eq(tshm_group_open(b, "model", TSHM_OPEN_RDONLY, &early), 0);
        /* The creator (any writer) rewrites the table. */
        entry_of(g, 1)->offset = UINT64_MAX - 63;
        entry_of(g, 2)->name_len = 5000;
        h->count = 2000;
        ck_assert_int_eq(tshm_group_open(c, "model", TSHM_OPEN_RDONLY, &late), TSHM_EBADHDR);
        ck_assert_ptr_null(late);
        ck_assert_msg(strstr(tshm_errmsg(c), "model") != NULL, "errmsg: %s", tshm_errmsg(c));
        /* The early reader's copy: unchanged, inside its mapping. */
        ck_assert_uint_eq(tshm_group_count(early), 3);
        assert_inside(early);
        for (i = 0; i < 3; i++) {
                ck_assert_int_eq(tshm_group_find(early, three[i].name, &t), (int64_t)i);
                for (k = 0; k < t.nbytes; k++) {
                        ck_assert_uint_eq(((const uint8_t *)t.data)[k], i + 1);
                }
        }
        /* Every byte of the table flipped, one at a time: refused or valid
         * (a dtype of the same size, a byte of metadata), never a crash. */
        for (k = 0; k < len; k++) {
                memcpy(toc_of(g), saved, len);
                toc_of(g)[k] ^= 1;
                if (tshm_group_open(c, "model", TSHM_OPEN_RDONLY, &late) == 0) {
                        assert_inside(late);
                        ck_assert_int_eq(tshm_group_close(late), 0);
                }
        }
        memcpy(toc_of(g), saved, len);
        ck_assert_int_eq(tshm_group_open(c, "model", TSHM_OPEN_RDONLY, &late), 0);
        ck_assert_int_eq(tshm_group_close(late), 0);
        ck_assert_int_eq(tshm_group_close(early), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(a);
        tshm_disconnect(b);
        tshm_disconnect(c);
}
END_TEST

/* The creator cuts its unpublished group's object (through a descriptor of
 * it: root here opens it by path, as the daemon's uid could, and any
 * creator that kept the descriptor tshmd passed it could) and publishes. */
START_TEST(test_group_truncate_unpublished)
{
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_group *g = make_three(a, "model");
        char path[256];
        tshm_tensor t;
        int fd, i;
        volatile uint8_t sink = 0;

        fill(g);
        snprintf(path, sizeof(path), "/dev/shm/%s.model", f.prefix);
        fd = open(path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        for (i = 0; i < 3; i++) {
                ck_assert_int_eq(ftruncate(fd, 0), 0);
                publish_refused(g, b);
                /* The creator's mapping: no SIGBUS (tshmd restores the size,
                 * libtshm waits for it). */
                ck_assert_int_eq(tshm_group_tensor(g, 0, &t), 0);
                sink ^= ((volatile uint8_t *)t.data)[0];
        }
        (void)sink;
        (void)close(fd);
        /* tshmd is still up and serves others. */
        ck_assert_int_eq(tshm_group_close(g), 0);
        ck_assert(wait_objects(0));
        g = make_three(b, "model2");
        ck_assert_int_eq(tshm_group_publish(g), 0);
        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(a);
        tshm_disconnect(b);
}
END_TEST

/* The creator flips the table's count between the daemon's read of its
 * head and its read of the whole (a table of many 0-d tensors whose head
 * alternately says one): publish must never trust the first read's count
 * for the second's. */
struct flipper {
        volatile uint32_t *count;
        uint32_t big;
        volatile bool stop;
};

static void *
flip(void *arg)
{
        struct flipper *fl = arg;

        while (!fl->stop) {
                *fl->count = 1;
                *fl->count = fl->big;
        }
        return NULL;
}

START_TEST(test_group_publish_count_race)
{
        enum { N = 4096, TRIES = 300 };
        tshm_client *a = fixture_connect(&f), *b = fixture_connect(&f);
        tshm_tensor_spec *t = calloc(N, sizeof(*t));
        char(*names)[4] = calloc(N, sizeof(*names));
        int i, published = 0, refused = 0;
        tshm_info info;

        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_nonnull(names);
        for (i = 0; i < N; i++) {
                names[i][0] = (char)('A' + i / 64);
                names[i][1] = (char)('A' + i % 64);
                t[i] = (tshm_tensor_spec){names[i], TSHM_DTYPE_UINT8, 0, NULL};
        }
        for (i = 0; i < TRIES; i++) {
                struct flipper fl = {.big = N};
                tshm_group *g = NULL, *r = NULL;
                pthread_t th;
                int rv;

                ck_assert_int_eq(tshm_group_create(a, "racy", t, N, NULL, &g), 0);
                fl.count = &((struct tshm__toc *)(void *)toc_of(g))->count;
                ck_assert_int_eq(pthread_create(&th, NULL, flip, &fl), 0);
                rv = tshm_group_publish(g);
                fl.stop = true;
                ck_assert_int_eq(pthread_join(th, NULL), 0);
                *fl.count = N;
                ck_assert_msg(rv == 0 || rv == TSHM_EBADHDR, "publish: %d", rv);
                if (rv == 0) {
                        published++;
                        ck_assert_int_eq(tshm_group_open(b, "racy", TSHM_OPEN_RDONLY, &r), 0);
                        ck_assert_uint_eq(tshm_group_count(r), N);
                        ck_assert_int_eq(tshm_group_close(r), 0);
                        ck_assert_int_eq(tshm_unlink(a, "racy"), 0);
                } else {
                        refused++;
                }
                ck_assert_int_eq(tshm_group_close(g), 0);
                /* tshmd is still there. */
                ck_assert_int_eq(tshm_stat(b, "racy", &info), TSHM_ENOENT);
        }
        ck_assert_int_eq(published + refused, TRIES);
        free(t);
        free(names);
        tshm_disconnect(a);
        tshm_disconnect(b);
}
END_TEST

/* A reader's open while a writer flips the count between the valid 3 and
 * UINT32_MAX: the reader reads the head, then copies the table; what it
 * allocates must be sized by the copy's checked count, not by a count of
 * four billion (16 GiB of order array: TSHM_ENOMEM under an address-space
 * limit, which the reader runs under where ASan, whose shadow memory
 * needs the address space, is not in the build). */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

START_TEST(test_group_open_count_race)
{
        tshm_client *a = fixture_connect(&f);
        tshm_group *g = make_three(a, "model");
        struct flipper fl = {0};
        int status = 0;
        pthread_t th;
        pid_t pid;

        fill(g);
        ck_assert_int_eq(tshm_group_publish(g), 0);
        fl.count = &((struct tshm__toc *)(void *)toc_of(g))->count;
        pid = tshm_test_fork();
        if (pid == 0) {
                tshm_client *c;
                int i, rv;
#ifndef TEST_ASAN
                struct rlimit rl = {1ul << 30, 1ul << 30};

                if (setrlimit(RLIMIT_AS, &rl) < 0) {
                        _exit(2);
                }
#endif
                if (tshm_connect(f.socket, &c) < 0) {
                        _exit(3);
                }
                for (i = 0; i < 20000; i++) {
                        tshm_group *r = NULL;

                        rv = tshm_group_open(c, "model", TSHM_OPEN_RDONLY, &r);
                        if (rv == 0) {
                                (void)tshm_group_close(r);
                        } else if (rv != TSHM_EBADHDR) {
                                fprintf(stderr, "open %d: %s\n", rv, tshm_errmsg(c));
                                _exit(4);
                        }
                }
                tshm_disconnect(c);
                _exit(0);
        }
        /* The flipper writes 1 and UINT32_MAX in turn: big is the other. */
        fl.big = UINT32_MAX;
        ck_assert_int_eq(pthread_create(&th, NULL, flip, &fl), 0);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        fl.stop = true;
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader: status %#x", status);
        ck_assert_int_eq(tshm_group_close(g), 0);
        tshm_disconnect(a);
}
END_TEST

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
                                  test_group_close_unpublished_removes,
                                  test_group_unlink_then_close, test_group_kill9_mid_fill,
                                  test_group_restart, test_group_publish_refuses_rewritten_toc,
                                  test_group_corrupt_after_publish, test_group_truncate_unpublished,
                                  test_group_publish_count_race, test_group_open_count_race,
                                  test_group_many_long_names, test_group_limits));
        return tshm_test_run(s);
}
