/*
 * cmd_stats.c - 'tshm stats': the daemon's counters.
 */
#include <inttypes.h>
#include <stdio.h>

#include "tshm.h"

#include "cli.h"
#include "fmt.h"
#include "json.h"

static void
stats_json(FILE *out, const tshm_daemon_info *st)
{
        struct json_obj o;

        json_obj_begin(&o, out);
        json_obj_u64(&o, "segments", st->segments);
        json_obj_u64(&o, "bytes", st->bytes);
        json_obj_u64(&o, "max_bytes", st->max_bytes);
        json_obj_u64(&o, "clients", st->clients);
        json_obj_u64(&o, "opens", st->opens);
        json_obj_u64(&o, "requests", st->requests);
        /* Seconds with every nanosecond, written exactly. */
        json_obj_key(&o, "uptime_s");
        (void)fprintf(out, "%" PRIu64 ".%09" PRIu64, st->uptime_ns / 1000000000u,
                      st->uptime_ns % 1000000000u);
        json_obj_u64(&o, "shm_free", st->shm_free);
        json_obj_u64(&o, "pid", st->pid);
        json_obj_u64(&o, "proto", st->proto);
        json_obj_end(&o);
        (void)putc('\n', out);
}

static void
stats_lines(FILE *out, const tshm_daemon_info *st)
{
        char bytes[FMT_SIZE_BUF], max[FMT_SIZE_BUF], shm_free[FMT_SIZE_BUF];
        char uptime[FMT_DURATION_BUF];

        fmt_size(st->bytes, bytes);
        fmt_size(st->max_bytes, max);
        fmt_size(st->shm_free, shm_free);
        fmt_duration(st->uptime_ns, uptime);
        (void)fprintf(out, "segments: %" PRIu64 "\n", st->segments);
        (void)fprintf(out, "bytes: %" PRIu64 " (%s)\n", st->bytes, bytes);
        if (st->max_bytes == 0) {
                (void)fprintf(out, "max_bytes: 0 (no limit)\n");
        } else {
                (void)fprintf(out, "max_bytes: %" PRIu64 " (%s)\n", st->max_bytes, max);
        }
        (void)fprintf(out, "clients: %" PRIu64 "\n", st->clients);
        (void)fprintf(out, "opens: %" PRIu64 "\n", st->opens);
        (void)fprintf(out, "requests: %" PRIu64 "\n", st->requests);
        (void)fprintf(out, "uptime: %s\n", uptime);
        (void)fprintf(out, "shm_free: %" PRIu64 " (%s)\n", st->shm_free, shm_free);
        (void)fprintf(out, "pid: %" PRIu32 "\n", st->pid);
        (void)fprintf(out, "proto: %" PRIu32 "\n", st->proto);
}

int
cmd_stats(const struct cli_ctx *ctx)
{
        tshm_client *c = NULL;
        tshm_daemon_info st;
        int rv, status;

        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        if ((rv = tshm_daemon_stat(c, &st)) < 0) {
                status = cli_fail_tshm(ctx, c, rv, NULL);
                goto out;
        }
        if (ctx->json) {
                stats_json(stdout, &st);
        } else {
                stats_lines(stdout, &st);
        }
        status = cli_flush(ctx, CLI_EXIT_OK);
out:
        tshm_disconnect(c);
        return status;
}
