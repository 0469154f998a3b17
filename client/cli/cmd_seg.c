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
        uint64_t shape[TSHM_MAX_NDIM];
        const char *name = ctx->argv[0];
        tshm_client *c = NULL;
        tshm_seg *seg = NULL;
        tshm_dtype dtype;
        size_t ndim;
        int rv, status;

        if (tshm_dtype_parse(ctx->argv[1], &dtype) < 0) {
                return cli_usage(ctx, "unknown dtype '%s'", ctx->argv[1]);
        }
        if (tshm_shape_parse(ctx->argv[2], &ndim, shape) < 0) {
                return cli_usage(ctx, "bad shape '%s' (write it as 3x4, 3,4, or scalar)",
                                 ctx->argv[2]);
        }
        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        if ((rv = tshm_create(c, name, dtype, ndim, shape, ctx->have_mode ? ctx->mode : 0,
                              TSHM_CREATE_DEFAULT, &seg)) < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
                goto out;
        }
        if ((rv = tshm_close(seg)) < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
        }
out:
        tshm_disconnect(c);
        return status;
}
