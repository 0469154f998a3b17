/*
 * test_group_attack.c - a group's table of contents under attack by whoever
 * can write it, against a real tshmd: publish refuses a table its creator
 * rewrote, cut, or changed while tshmd read it, and the group stays
 * invisible; a reader of a group whose table a writer corrupts gets
 * TSHM_EBADHDR, and one that opened before keeps a valid private copy; a
 * reader racing a writer's count never sizes anything by it.
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
        ck_assert(wait_objects(&f, 0));
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

/* A group whose table is over 1 MiB (tshmd checks it in the thread pool,
 * one at a time): @n tensors with names of about 40 bytes. */
static int
make_big(tshm_client *c, const char *name, size_t n, tshm_group **ret)
{
        tshm_tensor_spec *t = calloc(n, sizeof(*t));
        char(*names)[64] = calloc(n, sizeof(*names));
        size_t i;
        int rv;

        ck_assert(t != NULL && names != NULL);
        for (i = 0; i < n; i++) {
                (void)snprintf(names[i], sizeof(names[i]), "model.layers.%zu.mlp.up_proj.weight",
                               i);
                t[i] = (tshm_tensor_spec){names[i], TSHM_DTYPE_FLOAT32, 1, s5};
        }
        rv = tshm_group_create(c, name, t, n, NULL, ret);
        free(names);
        free(t);
        return rv;
}

static void *
publish_thread(void *g)
{
        (void)tshm_group_publish(g);
        return NULL;
}

/* Publishes queued behind one another, one of whose creators is killed
 * while its publish waits or runs: the others publish whole with their
 * counts; the killed one's group is gone (name and object), and its name
 * can be taken again at once by an array that tshmd never confuses with it. */
START_TEST(test_group_publish_queue_with_a_killed_creator)
{
        enum { KIDS = 3, N = 20000 };
        pid_t pids[KIDS];
        tshm_client *a;
        tshm_info info;
        tshm_seg *s;
        int k, status;
        uint64_t one[] = {1};

        for (k = 0; k < KIDS; k++) {
                pids[k] = tshm_test_fork();
                if (pids[k] == 0) {
                        char name[16];
                        tshm_client *c;
                        tshm_group *g;

                        (void)snprintf(name, sizeof(name), "big%d", k);
                        if (tshm_connect(f.socket, &c) < 0 || make_big(c, name, N, &g) < 0) {
                                _exit(1);
                        }
                        if (k == 1) {
                                /* Killed while its publish is queued or
                                 * being checked: a thread sends it. */
                                pthread_t th;

                                if (pthread_create(&th, NULL, publish_thread, g) != 0) {
                                        _exit(3);
                                }
                                usleep(2000);
                                (void)raise(SIGKILL);
                        }
                        _exit(tshm_group_publish(g) == 0 ? 0 : 2);
                }
        }
        for (k = 0; k < KIDS; k++) {
                ck_assert_int_eq(waitpid(pids[k], &status, 0), pids[k]);
                if (k == 1) {
                        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                } else {
                        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                                      "publisher %d: status %d", k, status);
                }
        }
        a = fixture_connect(&f);
        ck_assert(wait_objects(&f, KIDS - 1));
        ck_assert_int_eq(tshm_stat(a, "big1", &info), TSHM_ENOENT);
        for (k = 0; k < KIDS; k += 2) {
                char name[16];

                (void)snprintf(name, sizeof(name), "big%d", k);
                ck_assert_int_eq(tshm_stat(a, name, &info), 0);
                ck_assert_uint_eq(info.kind, TSHM_KIND_GROUP);
                ck_assert_uint_eq(info.tensors, N);
        }
        ck_assert_int_eq(tshm_create(a, "big1", TSHM_DTYPE_UINT8, 1, one, 0600, 0, &s), 0);
        ck_assert_int_eq(tshm_stat(a, "big1", &info), 0);
        ck_assert_uint_eq(info.kind, TSHM_KIND_ARRAY);
        ck_assert_int_eq(tshm_close(s), 0);
        tshm_disconnect(a);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("group_attack");

        tshm_test_each(s, 120, setup, teardown,
                       TSHM_TESTS(test_group_publish_queue_with_a_killed_creator,
                                  test_group_publish_refuses_rewritten_toc,
                                  test_group_corrupt_after_publish, test_group_truncate_unpublished,
                                  test_group_publish_count_race, test_group_open_count_race));
        return tshm_test_run(s);
}
