/*
 * cmd_gc.c - 'tshm gc': report stale objects under the daemon's prefix, and
 * with --remove, remove them. A dry run unless told.
 */
#include <stdio.h>

#include "tshm.h"

#include "cli.h"
#include "json.h"

static void
gc_print_json(const tshm_gc_entry *g, size_t n)
{
        struct json_obj o;
        size_t i;

        (void)fputs("[", stdout);
        for (i = 0; i < n; i++) {
                (void)fputs(i == 0 ? "\n" : ",\n", stdout);
                json_obj_begin(&o, stdout);
                json_obj_str(&o, "object", g[i].object);
                json_obj_str(&o, "reason", g[i].reason);
                json_obj_key(&o, "removed");
                (void)fputs(g[i].removed ? "true" : "false", stdout);
                json_obj_end(&o);
        }
        (void)fputs(n > 0 ? "\n]\n" : "]\n", stdout);
}

int
cmd_gc(const struct cli_ctx *ctx)
{
        tshm_client *c = NULL;
        tshm_gc_entry *g = NULL;
        size_t n = 0, i;
        int rv, status;

        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        if ((rv = tshm_gc(c, ctx->remove ? 1 : 0, &g, &n)) < 0) {
                status = cli_fail_tshm(ctx, c, rv, NULL);
                goto out;
        }
        if (ctx->json) {
                gc_print_json(g, n);
        } else if (n == 0) {
                (void)puts("nothing to collect: no stale objects");
        } else {
                for (i = 0; i < n; i++) {
                        printf("%s  %s  %s\n", g[i].removed ? "removed" : "stale", g[i].object,
                               g[i].reason);
                }
                if (n > 0 && !ctx->remove) {
                        printf("(dry run: 'tshm gc --remove' removes %zu object%s)\n", n,
                               n == 1 ? "" : "s");
                }
        }
        status = cli_flush(ctx, status);
out:
        tshm_gc_free(g);
        tshm_disconnect(c);
        return status;
}
