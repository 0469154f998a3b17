/*
 * actor_group.c - tensor groups under attack (issue 14): the owner that
 * makes them, the hostile user that rewrites a group's table of contents
 * through a descriptor of its own, and the C victim that opens the group and
 * reads every tensor meanwhile.
 *
 *   group-make NAME MODE N NAMELEN  make a group of N uint8 tensors (tensor
 *                       i: (i % 61) + 1 bytes of value i & 0xff, named
 *                       "t<i>" after '.' up to NAMELEN bytes), publish
 *                       it, print "published N create_ms C publish_ms P"
 *                       and exit (or "create RV NAME" / "publish RV NAME").
 *   group-hold NAME     make the 3-tensor group NAME unpublished, print
 *                       "holding", keep it until stdin closes.
 *   group-scribble NAME SECONDS SEED
 *                       open NAME read-write through the raw request (the
 *                       descriptor kept) and, for SECONDS, rewrite its table
 *                       of contents with pwrite(): byte flips, fields set to
 *                       huge, off-by-one and zero values, the head of
 *                       another table, the whole table zeroed, and the valid
 *                       table put back between; print "scribbled N".
 *   group-victim NAME SECONDS
 *                       for SECONDS, open NAME (tshm_group_open), check that
 *                       every tensor lies in the mapping, read every byte
 *                       (a tensor whose name and size are those group-make
 *                       gave it must hold its value), find each by name,
 *                       close; print "opens N ok K badhdr B slowest_ms M".
 *                       Exit 5 on a tensor outside the mapping or wrong
 *                       data, 6 on an error other than TSHM_EBADHDR.
 *   group-try NAME      what a stranger gets: tshm_group_open, tshm_open
 *                       read-only and read-write, tshm_stat, the raw open
 *                       request, a group and an array create of NAME, and a
 *                       publish request for handles 1..64 of its own
 *                       connection; prints "WHAT RV ERRNAME" per line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tshm.h"

#include "group.h"
#include "header.h"
#include "internal.h"
#include "proto.h"

#include "actor.h"

static double
ms_since(uint64_t t0)
{
        return (double)(actor_mono_ns() - t0) / 1e6;
}

/* Tensor @i's name: '.' up to @namelen bytes, then "t<i>" (a long common
 * prefix, the dearest case for the sort by name). */
static void
tensor_name(char *buf, size_t len, unsigned i, unsigned namelen)
{
        char num[16];
        int n = snprintf(num, sizeof(num), "t%u", i), pad = 0;

        while ((unsigned)(pad + n) < namelen && (size_t)(pad + n) + 1 < len) {
                buf[pad++] = '.';
        }
        memcpy(buf + pad, num, (size_t)n + 1);
}

int
actor_cmd_group_make(const char *sock, int argc, char **argv)
{
        unsigned mode = (unsigned)strtoul(argv[1], NULL, 8);
        unsigned n = (unsigned)strtoul(argv[2], NULL, 10);
        unsigned namelen = (unsigned)strtoul(argv[3], NULL, 10);
        tshm_group_opts opts = {.mode = mode};
        tshm_tensor_spec *t = calloc(n + 1u, sizeof(*t));
        uint64_t *shapes = calloc(n + 1u, sizeof(*shapes));
        char *names = calloc(n + 1u, (size_t)namelen + 16);
        tshm_client *c;
        tshm_group *g;
        tshm_tensor tt;
        uint64_t t0;
        double create_ms;
        unsigned i;
        int rv;

        (void)argc;
        if (t == NULL || shapes == NULL || names == NULL) {
                return 4;
        }
        for (i = 0; i < n; i++) {
                char *nm = names + (size_t)i * (namelen + 16);

                tensor_name(nm, namelen + 16, i, namelen);
                shapes[i] = i % 61 + 1;
                t[i] = (tshm_tensor_spec){nm, TSHM_DTYPE_UINT8, 1, &shapes[i]};
        }
        (void)actor_connect(sock, &c);
        t0 = actor_mono_ns();
        if ((rv = tshm_group_create(c, argv[0], t, n, &opts, &g)) < 0) {
                printf("create %d %s %s\n", rv, tshm_err_name(rv), tshm_errmsg(c));
                return 0;
        }
        create_ms = ms_since(t0);
        for (i = 0; i < n; i++) {
                (void)tshm_group_tensor(g, i, &tt);
                memset(tt.data, (int)(i & 0xff), tt.nbytes);
        }
        t0 = actor_mono_ns();
        if ((rv = tshm_group_publish(g)) < 0) {
                printf("publish %d %s %s\n", rv, tshm_err_name(rv), tshm_errmsg(c));
                return 0;
        }
        printf("published %u create_ms %.1f publish_ms %.1f\n", n, create_ms, ms_since(t0));
        (void)tshm_group_close(g);
        tshm_disconnect(c);
        free(t);
        free(shapes);
        free(names);
        return 0;
}

int
actor_cmd_group_hold(const char *sock, int argc, char **argv)
{
        static const uint64_t s5[] = {5};
        static const tshm_tensor_spec t[] = {{"a", TSHM_DTYPE_UINT8, 1, s5},
                                             {"b", TSHM_DTYPE_FLOAT32, 1, s5},
                                             {"c", TSHM_DTYPE_INT64, 0, NULL}};
        tshm_group_opts opts = {.mode = 0666};
        tshm_client *c;
        tshm_group *g;
        char line[64];
        int rv;

        (void)argc;
        (void)actor_connect(sock, &c);
        if ((rv = tshm_group_create(c, argv[0], t, 3, &opts, &g)) < 0) {
                printf("create %d %s\n", rv, tshm_err_name(rv));
                return 0;
        }
        printf("holding\n");
        while (fgets(line, sizeof(line), stdin) != NULL) {
        }
        (void)tshm_group_close(g);
        tshm_disconnect(c);
        return 0;
}

/* Write @len bytes at @off of the data area (after the header page). */
static void
data_write(int fd, const void *buf, size_t len, uint64_t off)
{
        (void)!pwrite(fd, buf, len, (off_t)(TSHM_HDR_DATA_OFFSET + off));
}

/* One rewrite of the table (@good, @len bytes) through @fd, the @n-th of
 * the scribbler (which kind, by @n), with @v an evil value. */
static void
scribble_once(int fd, const uint8_t *good, uint8_t *buf, uint64_t len, uint64_t n, uint64_t v)
{
        uint64_t off = (uint64_t)rand() % len;
        struct tshm__toc head;

        switch (n % 8) {
        case 0: /* the valid table back */
                data_write(fd, good, len, 0);
                break;
        case 1: /* a byte flipped */
                memcpy(buf, good, len);
                buf[off] ^= (uint8_t)(1u << (rand() % 8));
                data_write(fd, buf, len, 0);
                break;
        case 2: /* an aligned 64-bit field set to an evil value */
                data_write(fd, &v, 8, off & ~(uint64_t)7);
                break;
        case 3: /* a 32-bit one */
                data_write(fd, &v, 4, off & ~(uint64_t)3);
                break;
        case 4: /* a 64-bit field one off, in place */
                memcpy(&v, good + (off & ~(uint64_t)7), 8);
                v += rand() % 2 ? 1 : (uint64_t)-1;
                data_write(fd, &v, 8, off & ~(uint64_t)7);
                break;
        case 5: /* the head claims the largest table */
                memcpy(&head, good, sizeof(head));
                head.toc_bytes = TSHM_TOC_MAX;
                head.count = TSHM_GROUP_MAX_TENSORS;
                data_write(fd, &head, sizeof(head), 0);
                break;
        case 6: /* zeroed */
                memset(buf, 0, len);
                data_write(fd, buf, len, 0);
                break;
        default: /* count and string sizes flipped together */
                memcpy(&head, good, sizeof(head));
                head.count = (uint32_t)v;
                head.strings_bytes = v;
                data_write(fd, &head, sizeof(head), 0);
                break;
        }
}

int
actor_cmd_group_scribble(const char *sock, int argc, char **argv)
{
        static const uint64_t evil[] = {0,
                                        1,
                                        63,
                                        64,
                                        65,
                                        4096,
                                        TSHM_TOC_MAX,
                                        TSHM_TOC_MAX + 64,
                                        (uint64_t)INT64_MAX,
                                        (uint64_t)INT64_MAX + 1,
                                        UINT64_MAX - 63,
                                        UINT64_MAX,
                                        TSHM_GROUP_MAX_TENSORS,
                                        TSHM_GROUP_MAX_TENSORS + 1,
                                        UINT32_MAX};
        double seconds = strtod(argv[1], NULL);
        unsigned seed = (unsigned)strtoul(argv[2], NULL, 10);
        struct tshm__toc head;
        uint8_t *good, *buf;
        uint64_t handle, deadline, n = 0, len;
        tshm_client *c;
        int fd = -1, rv;

        (void)argc;
        (void)actor_connect(sock, &c);
        if ((rv = actor_raw_open(c, argv[0], true, &handle, &fd)) < 0) {
                printf("open %d %s\n", rv, tshm_err_name(rv));
                return 0;
        }
        if (pread(fd, &head, sizeof(head), TSHM_HDR_DATA_OFFSET) != (ssize_t)sizeof(head) ||
            head.toc_bytes > TSHM_TOC_MAX) {
                printf("err no table\n");
                return 4;
        }
        len = head.toc_bytes;
        good = malloc(len);
        buf = malloc(len);
        if (good == NULL || buf == NULL ||
            pread(fd, good, len, TSHM_HDR_DATA_OFFSET) != (ssize_t)len) {
                return 4;
        }
        srand(seed);
        printf("ok open\n");
        deadline = actor_mono_ns() + (uint64_t)(seconds * 1e9);
        while (actor_mono_ns() < deadline) {
                scribble_once(fd, good, buf, len, n, evil[(unsigned)rand() % 15]);
                n++;
        }
        data_write(fd, good, len, 0);
        printf("scribbled %" PRIu64 "\n", n);
        (void)close(fd);
        (void)actor_raw_close(c, handle);
        tshm_disconnect(c);
        free(good);
        free(buf);
        return 0;
}

/* Tensor @i of @g: inside the mapping, every byte read; its value checked
 * when it is the tensor group-make made. Returns 0 or 5. */
static int
victim_check(const tshm_group *g, size_t i, uint64_t *sum)
{
        const tshm_seg *s = tshm_group_seg(g);
        const uint8_t *lo = tshm_seg_data(s), *hi = lo + tshm_seg_nbytes(s), *p;
        char want[64];
        tshm_tensor t;
        uint64_t k;

        if (tshm_group_tensor(g, i, &t) < 0) {
                return 5;
        }
        p = t.data;
        if (p < lo || p > hi || t.nbytes > (uint64_t)(hi - p) || t.name == NULL ||
            strlen(t.name) != t.name_len) {
                printf("outside: tensor %zu at %p + %" PRIu64 ", data %p..%p\n", i, t.data,
                       t.nbytes, (const void *)lo, (const void *)hi);
                return 5;
        }
        for (k = 0; k < t.nbytes; k++) {
                *sum += p[k];
        }
        tensor_name(want, sizeof(want), (unsigned)i, (unsigned)t.name_len);
        if (t.dtype == TSHM_DTYPE_UINT8 && t.nbytes == i % 61 + 1 && strcmp(t.name, want) == 0) {
                for (k = 0; k < t.nbytes; k++) {
                        if (p[k] != (uint8_t)(i & 0xff)) {
                                printf("wrong data: tensor %zu byte %" PRIu64 " is %u\n", i, k,
                                       p[k]);
                                return 5;
                        }
                }
        }
        if (tshm_group_find(g, t.name, NULL) < 0) {
                printf("tensor %zu '%s' not found by name\n", i, t.name);
                return 5;
        }
        return 0;
}

int
actor_cmd_group_victim(const char *sock, int argc, char **argv)
{
        double seconds = strtod(argv[1], NULL), slowest = 0;
        uint64_t deadline, opens = 0, ok = 0, badhdr = 0, sum = 0;
        tshm_client *c;

        (void)argc;
        (void)actor_connect(sock, &c);
        deadline = actor_mono_ns() + (uint64_t)(seconds * 1e9);
        do {
                uint64_t t0 = actor_mono_ns();
                tshm_group *g = NULL;
                int rv = tshm_group_open(c, argv[0], TSHM_OPEN_RDONLY, &g);
                size_t i;

                opens++;
                if (rv == TSHM_EBADHDR) {
                        badhdr++;
                } else if (rv < 0) {
                        printf("open %d %s %s\n", rv, tshm_err_name(rv), tshm_errmsg(c));
                        return 6;
                } else {
                        ok++;
                        for (i = 0; i < tshm_group_count(g); i++) {
                                if (victim_check(g, i, &sum) != 0) {
                                        return 5;
                                }
                        }
                        (void)tshm_group_close(g);
                }
                if (ms_since(t0) > slowest) {
                        slowest = ms_since(t0);
                }
        } while (actor_mono_ns() < deadline);
        printf("opens %" PRIu64 " ok %" PRIu64 " badhdr %" PRIu64 " slowest_ms %.1f sum %" PRIu64
               "\n",
               opens, ok, badhdr, slowest, sum);
        tshm_disconnect(c);
        return 0;
}

static void
report(const char *what, int rv)
{
        printf("%s %d %s\n", what, rv, rv < 0 ? tshm_err_name(rv) : "OK");
}

int
actor_cmd_group_try(const char *sock, int argc, char **argv)
{
        static const uint64_t s5[] = {5};
        static const tshm_tensor_spec t[] = {{"x", TSHM_DTYPE_UINT8, 1, s5}};
        struct tshm__req req = {.op = TSHM_OP_PUBLISH};
        struct tshm__reply reply;
        tshm_client *c;
        tshm_group *g = NULL;
        tshm_seg *s = NULL;
        tshm_info info;
        uint64_t handle, h;
        int fd = -1, rv, published = 0;

        (void)argc;
        (void)actor_connect(sock, &c);
        rv = tshm_group_open(c, argv[0], TSHM_OPEN_RDONLY, &g);
        report("group_open", rv);
        if (rv == 0) {
                (void)tshm_group_close(g);
        }
        rv = tshm_open(c, argv[0], TSHM_OPEN_RDONLY, &s);
        report("open_ro", rv);
        if (rv == 0) {
                (void)tshm_close(s);
        }
        rv = tshm_open(c, argv[0], TSHM_OPEN_RDWR, &s);
        report("open_rw", rv);
        if (rv == 0) {
                (void)tshm_close(s);
        }
        report("stat", tshm_stat(c, argv[0], &info));
        rv = actor_raw_open(c, argv[0], true, &handle, &fd);
        report("raw_open", rv);
        if (rv == 0) {
                (void)close(fd);
        }
        rv = tshm_group_create(c, argv[0], t, 1, NULL, &g);
        report("group_create", rv);
        if (rv == 0) {
                (void)tshm_group_close(g);
        }
        rv = tshm_create(c, argv[0], TSHM_DTYPE_UINT8, 1, s5, 0666, 0, &s);
        report("create", rv);
        if (rv == 0) {
                (void)tshm_close(s);
        }
        report("unlink", tshm_unlink(c, argv[0]));
        /* Publish through every handle number this connection might name. */
        for (h = 1; h <= 64; h++) {
                req.handle = h;
                if (tshm__client_call(c, &req, &reply, NULL) == 0) {
                        published++;
                }
        }
        printf("publish_handles %d\n", published);
        tshm_disconnect(c);
        return 0;
}
