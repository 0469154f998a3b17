/*
 * cmd_seg.c - 'tshm create' and 'tshm rm': making and removing segments.
 */
#include <stdint.h>
#include <stdio.h>

#include "tshm.h"

#include "cli.h"

int
cmd_rm(const struct cli_ctx *ctx)
{
        tshm_client *c = NULL;
        int i, rv, status;

        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        /* Remove what can be removed; report each failure. */
        for (i = 0; i < ctx->argc; i++) {
                if ((rv = tshm_unlink(c, ctx->argv[i])) < 0) {
                        status = cli_fail_seg(ctx, c, rv, ctx->argv[i]);
                }
        }
        tshm_disconnect(c);
        return status;
}

int
cmd_create(const struct cli_ctx *ctx)
{
        uint64_t shape[TSHM_MAX_NDIM], nbytes;
        const char *name = ctx->argv[0];
        tshm_client *c = NULL;
        tshm_seg *seg = NULL;
        tshm_dtype dtype;
        unsigned mode;
        bool later;
        size_t ndim;
        int rv, status;

        if (tshm_dtype_parse(ctx->argv[1], &dtype) < 0) {
                return cli_usage(ctx, "unknown dtype '%s'", ctx->argv[1]);
        }
        if (tshm_shape_parse(ctx->argv[2], &ndim, shape) < 0) {
                return cli_usage(ctx, "bad shape '%s' (write it as 3x4, 3,4, or scalar)",
                                 ctx->argv[2]);
        }
        /* Checked before connecting, so that a shape too large is a usage
         * error (exit 2) in the words of the command line. */
        if (tshm_shape_nbytes(dtype, ndim, shape, &nbytes) < 0) {
                return cli_usage(ctx,
                                 "bad shape '%s': too large for %s (more bytes than fit in memory)",
                                 ctx->argv[2], tshm_dtype_name(dtype));
        }
        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        mode = ctx->have_mode ? ctx->mode : 0600u;
        /* With --group, the group and other bits wait until the segment has
         * its group: no one in the creator's own group gets them meanwhile.
         * (Mode 0 at create means the default, so 0 is set by chmod too.) */
        later = ctx->have_group || mode == 0;
        /* This process writes nothing and exits: populating its mapping
         * would be work for no one (a reader's own open populates its). */
        rv = ctx->slots != 0
                 ? tshm_stream_create(c, name, dtype, ndim, shape, ctx->slots, ctx->policy,
                                      later ? (mode & 0700u) | 0400u : mode, TSHM_CREATE_NOPOPULATE,
                                      &seg)
                 : tshm_create(c, name, dtype, ndim, shape, later ? (mode & 0700u) | 0400u : mode,
                               TSHM_CREATE_NOPOPULATE, &seg);
        if (rv < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
                goto out;
        }
        if (later &&
            ((ctx->have_group && (rv = tshm_chown(c, name, TSHM_ID_UNCHANGED, ctx->group)) < 0) ||
             (rv = tshm_chmod(c, name, mode)) < 0)) {
                status = cli_fail_seg(ctx, c, rv, name);
                (void)tshm_close(seg);
                seg = NULL;
                (void)tshm_unlink(c, name);
                goto out;
        }
        rv = tshm_close(seg);
        seg = NULL;
        if (rv < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
        }
out:
        (void)tshm_close(seg);
        tshm_disconnect(c);
        return status;
}
