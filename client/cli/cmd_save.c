/*
 * cmd_save.c - 'tshm save': a segment written to a NumPy .npy file, byte for
 * byte as numpy.save() writes the same array (a .safetensors file:
 * cmd_safetensors.c).
 *
 * The file is written as FILE.tmp and renamed over FILE, so a failure or
 * an interrupt never leaves a partial FILE behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tshm.h"

#include "cli.h"
#include "intr.h"
#include "progress.h"
#include "npy.h"

/* Bytes written at a time; between writes the copy checks for an
 * interrupt. */

/* What save_fill() writes: a .npy header and the segment's bytes. */
struct npy_out {
        tshm_seg *seg;
        char hdr[NPY_HEADER_FORMAT_MAX];
        size_t hlen;
};

static int
save_fill(int fd, void *arg)
{
        const struct npy_out *o = arg;
        int rv;

        if ((rv = progress_write(fd, o->hdr, o->hlen, NULL)) < 0) {
                return rv;
        }
        return progress_write(fd, tshm_seg_data(o->seg), tshm_seg_nbytes(o->seg), NULL);
}

/* Write @seg to @path as a .npy file, whole or not at all. */
static int
save_file(const struct cli_ctx *ctx, tshm_seg *seg, const char *path)
{
        struct npy_out o = {.seg = seg};
        int rv;

        rv = npy_header_format(tshm_seg_dtype(seg), tshm_seg_ndim(seg), tshm_seg_shape(seg), o.hdr,
                               &o.hlen);
        if (rv == TSHM_ENOTSUP) {
                return cli_fail(ctx, "NumPy has no bfloat16 dtype, so '%s' cannot be saved as .npy",
                                tshm_seg_name(seg));
        }
        if (rv < 0) {
                return cli_fail(ctx, "'%s': %s", tshm_seg_name(seg), tshm_strerror(rv));
        }
        return cli_write_file(ctx, path, save_fill, &o);
}

int
cmd_save(const struct cli_ctx *ctx)
{
        const char *name = ctx->argv[0], *path = ctx->argv[1];
        tshm_client *c = NULL;
        tshm_seg *seg = NULL;
        int rv, status;

        switch (cli_file_format(path)) {
        case CLI_FORMAT_SAFETENSORS:
                return cmd_save_safetensors(ctx);
        case CLI_FORMAT_NPY:
                break;
        default:
                return cli_usage(ctx, "'%s': not a .npy or .safetensors file (by its name)", path);
        }
        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        /* Every byte is read: populate up front, unless told not to. */
        if ((rv = tshm_open(c, name, ctx->no_populate ? TSHM_OPEN_NOPOPULATE : TSHM_OPEN_POPULATE,
                            &seg)) < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
                goto out_client;
        }
        intr_begin();
        status = save_file(ctx, seg, path);
        /* The file is written or removed; a failed close changes neither. */
        (void)tshm_close(seg);
        intr_end(); /* a caught signal takes effect here */
out_client:
        tshm_disconnect(c);
        return status;
}
