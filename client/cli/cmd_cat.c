/*
 * cmd_cat.c - 'tshm cat': a segment's values as NumPy prints them.
 */
#include <stdio.h>

#include "tshm.h"

#include "cli.h"
#include "print.h"

int
cmd_cat(const struct cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        tshm_client *c = NULL;
        tshm_seg *seg = NULL;
        int rv, status;

        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        /* Nothing to populate: up to 1000 elements the data fits in a few
         * pages, and above it only the edges are printed (as NumPy does). */
        if ((rv = tshm_open(c, name, TSHM_OPEN_NOPOPULATE, &seg)) < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
                goto out;
        }
        rv = print_array(stdout, tshm_seg_data(seg), tshm_seg_dtype(seg), tshm_seg_ndim(seg),
                         tshm_seg_shape(seg));
        if (rv == TSHM_EBADDTYPE) {
                status = cli_fail(ctx, "'%s' has a dtype this tshm cannot print", name);
        } else {
                status = cli_flush(ctx, CLI_EXIT_OK);
        }
        /* The values are printed; a failed close changes nothing for them. */
        (void)tshm_close(seg);
out:
        tshm_disconnect(c);
        return status;
}
