/*
 * cmd_seg.c - 'tshm create' and 'tshm rm': making and removing segments.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "tshm.h"

#include "cli.h"
#include "intr.h"

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

/* Keep an ephemeral segment alive: it lives as long as this connection.
 * Its name on standard output says it is ready (a script reads that line
 * before it goes on); then wait for SIGINT, SIGTERM or SIGHUP, which end
 * the command with status 0 and the daemon removes the segment. */
static int
create_hold(const char *name)
{
        const struct timespec slice = {.tv_sec = 1, .tv_nsec = 0};

        intr_begin(); /* before the line: a script may signal as soon as it reads it */
        (void)printf("%s\n", name);
        (void)fflush(stdout);
        /* A signal interrupts the sleep (the handler has no SA_RESTART);
         * one that lands just before it is seen a slice later. */
        while (intr_caught() == 0) {
                (void)nanosleep(&slice, NULL);
        }
        intr_end_quietly();
        return CLI_EXIT_OK;
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
        unsigned flags;
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
        /* This process writes nothing: populating its mapping would be
         * work for no one (a reader's own open populates its). */
        flags = TSHM_CREATE_NOPOPULATE | (ctx->ephemeral ? TSHM_CREATE_EPHEMERAL : 0u);
        rv = ctx->slots != 0
                 ? tshm_stream_create(c, name, dtype, ndim, shape, ctx->slots, ctx->policy,
                                      later ? (mode & 0700u) | 0400u : mode, flags, &seg)
                 : tshm_create(c, name, dtype, ndim, shape, later ? (mode & 0700u) | 0400u : mode,
                               flags, &seg);
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
        if (ctx->ephemeral) {
                status = create_hold(name);
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
