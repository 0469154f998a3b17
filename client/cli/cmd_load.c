/*
 * cmd_load.c - 'tshm load': a new segment from a NumPy .npy file (and the
 * dispatch to cmd_safetensors.c for a .safetensors one).
 *
 * The file is streamed into the segment in chunks, so a file of any size
 * needs only a small buffer, and a Fortran-ordered file is scattered into C
 * order on the way. Anything that fails after the segment exists, an
 * interrupt included, unlinks it again: no half-made segment is left.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tshm.h"

#include "cli.h"
#include "intr.h"
#include "npy.h"

/* Bytes read at a time; a multiple of every item size. Between chunks the
 * copy checks for an interrupt. */
#define LOAD_CHUNK ((size_t)1 << 24)

/* Why the copy stopped early. */
#define LOAD_SHORT 1 /* end of file */
#define LOAD_ERROR 2 /* read error, errno */
#define LOAD_INTR 3  /* signal */

/* Read the header of @f into *ret_hdr; on failure report it. */
static int
load_header(const struct cli_ctx *ctx, FILE *f, const char *path, struct npy_header *ret_hdr)
{
        unsigned char pre[NPY_PREAMBLE_MAX];
        unsigned char *buf = NULL;
        char err[256];
        size_t n, size;
        int status = CLI_EXIT_FAIL;

        n = fread(pre, 1, sizeof(pre), f);
        if (ferror(f)) {
                return cli_fail(ctx, "cannot read '%s': %s", path, strerror(errno));
        }
        if (npy_header_size(pre, n, &size, err, sizeof(err)) < 0) {
                return cli_fail(ctx, "%s: %s", path, err);
        }
        if (size < n) {
                return cli_fail(ctx, "%s: malformed .npy header", path);
        }
        if ((buf = malloc(size)) == NULL) {
                return cli_fail(ctx, "%s", tshm_strerror(TSHM_ENOMEM));
        }
        memcpy(buf, pre, n);
        if (fread(buf + n, 1, size - n, f) != size - n) {
                (void)cli_fail(ctx, "%s: %s", path,
                               ferror(f) ? strerror(errno) : "truncated .npy header");
                goto out;
        }
        if (npy_header_parse(buf, size, ret_hdr, err, sizeof(err)) < 0) {
                (void)cli_fail(ctx, "%s: %s", path, err);
                goto out;
        }
        status = 0;
out:
        free(buf);
        return status;
}

/* Read exactly @n bytes, or say why not. */
static int
load_read(FILE *f, void *buf, size_t n)
{
        if (intr_caught() != 0) {
                return LOAD_INTR;
        }
        if (fread(buf, 1, n, f) == n) {
                return 0;
        }
        if (intr_caught() != 0) {
                return LOAD_INTR;
        }
        return ferror(f) ? LOAD_ERROR : LOAD_SHORT;
}

static int
load_c_order(FILE *f, unsigned char *dst, uint64_t nbytes)
{
        uint64_t done;
        size_t n;
        int rv;

        for (done = 0; done < nbytes; done += n) {
                n = nbytes - done < LOAD_CHUNK ? (size_t)(nbytes - done) : LOAD_CHUNK;
                if ((rv = load_read(f, dst + done, n)) != 0) {
                        return rv;
                }
        }
        return 0;
}

/* Scatter Fortran-ordered data into C order at @dst: the file's elements
 * come with the first index varying fastest. */
static int
load_fortran(FILE *f, const struct npy_header *hdr, unsigned char *dst, uint64_t nbytes,
             unsigned char *buf)
{
        uint64_t strides[TSHM_MAX_NDIM], idx[TSHM_MAX_NDIM] = {0}, off = 0, done;
        size_t itemsize = tshm_dtype_itemsize(hdr->dtype), n, k, d;
        int rv;

        for (d = hdr->ndim; d-- > 0;) {
                strides[d] = d + 1 == hdr->ndim ? itemsize : strides[d + 1] * hdr->shape[d + 1];
        }
        for (done = 0; done < nbytes; done += n) {
                n = nbytes - done < LOAD_CHUNK ? (size_t)(nbytes - done) : LOAD_CHUNK;
                if ((rv = load_read(f, buf, n)) != 0) {
                        return rv;
                }
                for (k = 0; k < n; k += itemsize) {
                        memcpy(dst + off, buf + k, itemsize);
                        for (d = 0; d < hdr->ndim; d++) {
                                off += strides[d];
                                if (++idx[d] < hdr->shape[d]) {
                                        break;
                                }
                                off -= strides[d] * hdr->shape[d];
                                idx[d] = 0;
                        }
                }
        }
        return 0;
}

/* Fill @seg from @f, which must then be at its end; on failure report it. */
static int
load_data(const struct cli_ctx *ctx, FILE *f, const char *path, const struct npy_header *hdr,
          tshm_seg *seg)
{
        uint64_t nbytes = tshm_seg_nbytes(seg);
        unsigned char *buf;
        int rv;

        if (hdr->fortran_order && hdr->ndim > 1) {
                if ((buf = malloc(LOAD_CHUNK)) == NULL) {
                        return cli_fail(ctx, "%s", tshm_strerror(TSHM_ENOMEM));
                }
                rv = load_fortran(f, hdr, tshm_seg_data(seg), nbytes, buf);
                free(buf);
        } else {
                rv = load_c_order(f, tshm_seg_data(seg), nbytes);
        }
        if (rv == 0 && fgetc(f) != EOF) {
                return cli_fail(ctx, "%s: trailing bytes after the data", path);
        }
        if (rv == 0 && ferror(f)) {
                rv = LOAD_ERROR;
        }
        switch (rv) {
        case 0:
                return 0;
        case LOAD_INTR:
                return cli_fail(ctx, "interrupted");
        case LOAD_SHORT:
                return cli_fail(ctx, "%s: truncated: data shorter than its shape says", path);
        default:
                return cli_fail(ctx, "cannot read '%s': %s", path, strerror(errno));
        }
}

/* A regular file's size must match before anything is created. */
static int
load_check_size(const struct cli_ctx *ctx, FILE *f, const char *path, const struct npy_header *hdr)
{
        struct stat st;
        uint64_t nbytes;

        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
            tshm_shape_nbytes(hdr->dtype, hdr->ndim, hdr->shape, &nbytes) < 0) {
                return 0; /* load_data() checks while it reads */
        }
        if ((uint64_t)st.st_size < hdr->data_offset + nbytes) {
                return cli_fail(ctx, "%s: truncated: data shorter than its shape says", path);
        }
        if ((uint64_t)st.st_size > hdr->data_offset + nbytes) {
                return cli_fail(ctx, "%s: trailing bytes after the data", path);
        }
        return 0;
}

/* Create the segment, fill it, and unlink it again if that fails. */
static int
load_into(const struct cli_ctx *ctx, tshm_client *c, FILE *f, const char *path,
          const struct npy_header *hdr)
{
        const char *name = ctx->argv[0];
        tshm_seg *seg = NULL;
        int rv, status;

        if ((rv = tshm_create(
                 c, name, hdr->dtype, hdr->ndim, hdr->shape, ctx->have_mode ? ctx->mode : 0,
                 /* Every byte is written: populate up front. */
                 ctx->no_populate ? TSHM_CREATE_NOPOPULATE : TSHM_CREATE_POPULATE, &seg)) < 0) {
                return cli_fail_seg(ctx, c, rv, name);
        }
        status = load_data(ctx, f, path, hdr, seg);
        if ((rv = tshm_close(seg)) < 0 && status == 0) {
                status = cli_fail_seg(ctx, c, rv, name);
        }
        if (status != 0 && (rv = tshm_unlink(c, name)) < 0) {
                (void)cli_fail(ctx, "cannot remove the incomplete segment '%s': %s", name,
                               tshm_strerror(rv));
        }
        return status;
}

int
cmd_load(const struct cli_ctx *ctx)
{
        const char *path = ctx->argv[1];
        struct npy_header hdr;
        tshm_client *c = NULL;
        FILE *f;
        int status;

        switch (cli_file_format(path)) {
        case CLI_FORMAT_SAFETENSORS:
                return cmd_load_safetensors(ctx);
        case CLI_FORMAT_NPY:
                break;
        default:
                return cli_usage(ctx, "'%s': not a .npy or .safetensors file (by its name)", path);
        }
        if ((f = fopen(path, "rbe")) == NULL) {
                return cli_fail(ctx, "cannot open '%s': %s", path, strerror(errno));
        }
        if ((status = load_header(ctx, f, path, &hdr)) != 0 ||
            (status = load_check_size(ctx, f, path, &hdr)) != 0 ||
            (status = cli_connect(ctx, &c)) != 0) {
                goto out;
        }
        intr_begin();
        status = load_into(ctx, c, f, path, &hdr);
        tshm_disconnect(c);
        (void)fclose(f); /* read-only: nothing to lose */
        intr_end();      /* a caught signal takes effect here */
        return status;
out:
        (void)fclose(f);
        return status;
}
