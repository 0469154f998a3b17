/*
 * cmd_safetensors.c - 'tshm load' and 'tshm save' of .safetensors files:
 * a file's tensors as one tensor group, and back.
 *
 * Loading makes the group unpublished, reads each tensor's bytes from the
 * file straight into its place in the mapping (no copy of the file in
 * memory), and publishes the group only once every byte is in: anything
 * that fails before, an interrupt included, closes the group, which
 * removes it, so nobody ever sees a partial one. The group's metadata is
 * the file's JSON header verbatim, which lets 'tshm save' write the same
 * file back byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tshm.h"

#include "cli.h"
#include "intr.h"
#include "progress.h"
#include "safetensors.h"

/* Bytes read or written at a time; between chunks the copy checks for an
 * interrupt and the progress line moves. */
#define ST_CHUNK ((size_t)1 << 24)

/* A file being loaded. */
struct st_load {
        const struct cli_ctx *ctx;
        const char *path;
        int fd;
        uint64_t size;       /* of the file */
        unsigned char *text; /* its header */
        uint64_t text_len;
        struct st_header hdr;
};

/* Read exactly @n bytes at @off: 0, -EINTR when interrupted, -EIO when the
 * file ends early (it shrank since fstat), or another -errno. */
static int
st_pread(int fd, void *buf, size_t n, uint64_t off)
{
        unsigned char *p = buf;
        ssize_t k;

        while (n > 0) {
                if (intr_caught() != 0) {
                        return -EINTR;
                }
                if ((k = pread(fd, p, n, (off_t)off)) < 0 && errno == EINTR) {
                        continue;
                }
                if (k <= 0) {
                        return k < 0 ? -errno : -EIO;
                }
                p += k;
                n -= (size_t)k;
                off += (uint64_t)k;
        }
        return 0;
}

static int
st_read_fail(const struct cli_ctx *ctx, const char *path, int rv)
{
        if (rv == -EINTR) {
                return cli_fail(ctx, "interrupted");
        }
        if (rv == -EIO) {
                return cli_fail(ctx, "%s: truncated: the file ended early", path);
        }
        return cli_fail(ctx, "cannot read '%s': %s", path, strerror(-rv));
}

/* Read and check the header of l->fd. */
static int
st_load_header(struct st_load *l)
{
        unsigned char pre[ST_PREAMBLE];
        char err[ST_ERR_BUF];
        struct stat st;
        int rv;

        if (fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                return cli_fail(l->ctx, "%s: not a regular file", l->path);
        }
        l->size = (uint64_t)st.st_size;
        memset(pre, 0, sizeof(pre));
        if (l->size >= ST_PREAMBLE && (rv = st_pread(l->fd, pre, sizeof(pre), 0)) < 0) {
                return st_read_fail(l->ctx, l->path, rv);
        }
        if (st_header_len(pre, l->size, &l->text_len, err, sizeof(err)) < 0) {
                return cli_fail(l->ctx, "%s: %s", l->path, err);
        }
        if (l->text_len > TSHM_GROUP_META_MAX) {
                return cli_fail(l->ctx,
                                "%s: header of %" PRIu64
                                " bytes is over %u, the most a group keeps as its metadata",
                                l->path, l->text_len, TSHM_GROUP_META_MAX);
        }
        if ((l->text = malloc(l->text_len > 0 ? l->text_len : 1)) == NULL) {
                return cli_fail(l->ctx, "%s", tshm_strerror(TSHM_ENOMEM));
        }
        if ((rv = st_pread(l->fd, l->text, l->text_len, ST_PREAMBLE)) < 0) {
                return st_read_fail(l->ctx, l->path, rv);
        }
        if (st_header_parse(l->text, l->text_len, l->size - ST_PREAMBLE - l->text_len, &l->hdr, err,
                            sizeof(err)) < 0) {
                return cli_fail(l->ctx, "%s: %s", l->path, err);
        }
        return 0;
}

/* Read every tensor's bytes into its place in @g, in file order. */
static int
st_load_fill(struct st_load *l, tshm_group *g)
{
        uint64_t base = ST_PREAMBLE + l->text_len, done, n;
        struct progress pr;
        char what[64];
        tshm_tensor t;
        size_t i;
        int rv = 0;

        (void)snprintf(what, sizeof(what), "loading %.40s", l->path);
        progress_begin(&pr, what, l->hdr.nbytes);
        for (i = 0; i < l->hdr.count && rv == 0; i++) {
                if ((rv = tshm_group_tensor(g, i, &t)) < 0) {
                        progress_end(&pr);
                        return cli_fail(l->ctx, "%s", tshm_strerror(rv));
                }
                for (done = 0; done < t.nbytes && rv == 0; done += n) {
                        n = t.nbytes - done < ST_CHUNK ? t.nbytes - done : ST_CHUNK;
                        rv = st_pread(l->fd, (unsigned char *)t.data + done, (size_t)n,
                                      base + l->hdr.tensors[i].begin + done);
                        /* The bytes now live in the group: drop the page
                         * cache's copy of them, so that loading a model
                         * does not hold it in memory twice (a no-op where
                         * the file is itself in memory, on a tmpfs). */
                        (void)posix_fadvise(l->fd, (off_t)(base + l->hdr.tensors[i].begin + done),
                                            (off_t)n, POSIX_FADV_DONTNEED);
                        progress_add(&pr, n);
                }
        }
        progress_end(&pr);
        return rv < 0 ? st_read_fail(l->ctx, l->path, rv) : 0;
}

/* Make the group, fill it and publish it; closing it unpublished on any
 * failure removes it. */
static int
st_load_group(struct st_load *l, tshm_client *c)
{
        const char *name = l->ctx->argv[0];
        tshm_tensor_spec *specs;
        tshm_group_opts opts;
        tshm_group *g = NULL;
        size_t i;
        int rv, status;

        if ((specs = calloc(l->hdr.count > 0 ? l->hdr.count : 1, sizeof(*specs))) == NULL) {
                return cli_fail(l->ctx, "%s", tshm_strerror(TSHM_ENOMEM));
        }
        for (i = 0; i < l->hdr.count; i++) {
                specs[i].name = l->hdr.tensors[i].name;
                specs[i].dtype = l->hdr.tensors[i].dtype;
                specs[i].ndim = l->hdr.tensors[i].ndim;
                specs[i].shape = l->hdr.tensors[i].shape;
        }
        memset(&opts, 0, sizeof(opts));
        opts.mode = l->ctx->have_mode ? l->ctx->mode : 0;
        /* Every byte is written: populate up front, unless told not to. */
        opts.flags = l->ctx->no_populate ? TSHM_CREATE_NOPOPULATE : TSHM_CREATE_POPULATE;
        opts.metadata = l->text;
        opts.metadata_len = (size_t)l->text_len;
        rv = tshm_group_create(c, name, specs, l->hdr.count, &opts, &g);
        free(specs);
        if (rv < 0) {
                return cli_fail_seg(l->ctx, c, rv, name);
        }
        if ((status = st_load_fill(l, g)) == 0 && (rv = tshm_group_publish(g)) < 0) {
                status = cli_fail_seg(l->ctx, c, rv, name);
        }
        /* Published: the group stays; not: this removes it. */
        if ((rv = tshm_group_close(g)) < 0 && status == 0) {
                status = cli_fail_seg(l->ctx, c, rv, name);
        }
        return status;
}

int
cmd_load_safetensors(const struct cli_ctx *ctx)
{
        struct st_load l;
        tshm_client *c = NULL;
        int status;

        memset(&l, 0, sizeof(l));
        l.ctx = ctx;
        l.path = ctx->argv[1];
        if ((l.fd = open(l.path, O_RDONLY | O_CLOEXEC)) < 0) {
                return cli_fail(ctx, "cannot open '%s': %s", l.path, strerror(errno));
        }
        if ((status = st_load_header(&l)) != 0 || (status = cli_connect(ctx, &c)) != 0) {
                goto out;
        }
        intr_begin();
        status = st_load_group(&l, c);
        tshm_disconnect(c);
        st_header_done(&l.hdr);
        free(l.text);
        (void)close(l.fd); /* read-only: nothing to lose */
        intr_end();        /* a caught signal takes effect here */
        return status;
out:
        st_header_done(&l.hdr);
        free(l.text);
        (void)close(l.fd);
        return status;
}

/* A group's tensors as safetensors.h describes them. */
struct st_save {
        const struct cli_ctx *ctx;
        tshm_group *g;
        struct st_tensor *t;
        size_t count;
        uint64_t nbytes; /* the data area */
        char *text;      /* the header to write, and its length */
        size_t len;
};

/* Whether @meta (@len bytes) is a safetensors header that describes
 * exactly @s's tensors, in their order: then it is written as it is, and
 * a file tshm loaded comes back byte for byte. */
static bool
st_meta_matches(const struct st_save *s, const void *meta, size_t len)
{
        struct st_header h;
        char err[ST_ERR_BUF];
        bool same;
        size_t i;

        if (len == 0 || st_header_parse(meta, len, s->nbytes, &h, err, sizeof(err)) < 0) {
                return false;
        }
        same = h.count == s->count;
        for (i = 0; same && i < h.count; i++) {
                const struct st_tensor *a = &h.tensors[i], *b = &s->t[i];

                same = a->name_len == b->name_len && memcmp(a->name, b->name, a->name_len) == 0 &&
                       a->dtype == b->dtype && a->ndim == b->ndim &&
                       memcmp(a->shape, b->shape, a->ndim * sizeof(*a->shape)) == 0;
        }
        st_header_done(&h);
        return same;
}

/* The header to write for s->g: its metadata verbatim when that matches,
 * else a fresh one, keeping the metadata's "__metadata__". */
static int
st_save_header(const struct st_save *s, char **ret_text, size_t *ret_len)
{
        char err[ST_ERR_BUF];
        const void *meta;
        size_t len;

        meta = tshm_group_metadata(s->g, &len);
        if (st_meta_matches(s, meta, len)) {
                if ((*ret_text = malloc(len)) == NULL) {
                        return cli_fail(s->ctx, "%s", tshm_strerror(TSHM_ENOMEM));
                }
                memcpy(*ret_text, meta, len);
                *ret_len = len;
                return 0;
        }
        if (st_header_format(s->t, s->count, meta, len, ret_text, ret_len, err, sizeof(err)) < 0) {
                return cli_fail(s->ctx, "'%s': %s", s->ctx->argv[0], err);
        }
        return 0;
}

/* Write the length, the header and every tensor's bytes to @fd (a
 * cli_fill_fn: @arg is the struct st_save). */
static int
st_write_file(int fd, void *arg)
{
        const struct st_save *s = arg;
        const char *text = s->text;
        size_t len = s->len;
        unsigned char pre[ST_PREAMBLE];
        struct progress pr;
        char what[64];
        tshm_tensor t;
        size_t i;
        int rv = 0;

        for (i = 0; i < ST_PREAMBLE; i++) {
                pre[i] = (unsigned char)((uint64_t)len >> (8 * i));
        }
        if ((rv = progress_write(fd, pre, sizeof(pre), NULL)) < 0 ||
            (rv = progress_write(fd, text, len, NULL)) < 0) {
                return rv;
        }
        (void)snprintf(what, sizeof(what), "saving %.40s", s->ctx->argv[1]);
        progress_begin(&pr, what, s->nbytes);
        for (i = 0; i < s->count && rv == 0; i++) {
                if ((rv = tshm_group_tensor(s->g, i, &t)) == 0) {
                        rv = progress_write(fd, t.data, t.nbytes, &pr);
                }
        }
        progress_end(&pr);
        return rv;
}

/* Describe s->g's tensors in s->t. */
static int
st_save_describe(struct st_save *s)
{
        tshm_tensor t;
        size_t i;
        int rv;

        s->count = tshm_group_count(s->g);
        if ((s->t = calloc(s->count > 0 ? s->count : 1, sizeof(*s->t))) == NULL) {
                return cli_fail(s->ctx, "%s", tshm_strerror(TSHM_ENOMEM));
        }
        for (i = 0; i < s->count; i++) {
                if ((rv = tshm_group_tensor(s->g, i, &t)) < 0) {
                        return cli_fail(s->ctx, "%s", tshm_strerror(rv));
                }
                s->t[i].name = t.name;
                s->t[i].name_len = t.name_len;
                s->t[i].dtype = t.dtype;
                s->t[i].ndim = t.ndim;
                s->t[i].shape = t.shape;
                s->t[i].begin = s->nbytes;
                s->nbytes += t.nbytes;
                s->t[i].end = s->nbytes;
        }
        return 0;
}

int
cmd_save_safetensors(const struct cli_ctx *ctx)
{
        const char *name = ctx->argv[0], *path = ctx->argv[1];
        struct st_save s;
        tshm_client *c = NULL;
        int rv, status;

        memset(&s, 0, sizeof(s));
        s.ctx = ctx;
        if ((status = cli_connect(ctx, &c)) != 0) {
                goto out;
        }
        /* Every byte is read: populate up front, unless told not to. */
        rv = tshm_group_open(c, name, ctx->no_populate ? TSHM_OPEN_NOPOPULATE : TSHM_OPEN_POPULATE,
                             &s.g);
        if (rv == TSHM_EINVAL) {
                status = cli_fail(ctx, "'%s' is not a tensor group: save it to a .npy file", name);
                goto out_client;
        }
        if (rv < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
                goto out_client;
        }
        intr_begin();
        if ((status = st_save_describe(&s)) == 0) {
                status = st_save_header(&s, &s.text, &s.len);
        }
        if (status == 0) {
                status = cli_write_file(ctx, path, st_write_file, &s);
        }
        /* The file is written or removed; a failed close changes neither. */
        (void)tshm_group_close(s.g);
        intr_end(); /* a caught signal takes effect here */
out_client:
        tshm_disconnect(c);
out:
        free(s.t);
        free(s.text);
        return status;
}
