/*
 * cmd_mirror.c - 'tshm mirror': start, stop and list mirrors of segments to
 * other hosts' daemons (docs/remote.md), and the mirror helpers that 'tshm
 * ls' shares.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "cli.h"
#include "json.h"

/* What a mirror's ENOTSUP means to a user. */
#define MIRROR_ENOTSUP                                                                             \
        "the daemon has no --peer-secret: mirrors are off (or it was built without UCX)"

static const char *
mirror_state(const tshm_mirror_info *m)
{
        const char *s = tshm_mirror_state_name(m->state);

        return s != NULL ? s : "unknown";
}

void
cli_mirror_lag(uint64_t ns, char *buf, size_t len)
{
        if (ns == 0) {
                (void)snprintf(buf, len, "0");
        } else if (ns < 1000000u) {
                (void)snprintf(buf, len, "<1 ms");
        } else if (ns < 1000000000u) {
                (void)snprintf(buf, len, "%" PRIu64 " ms", ns / 1000000u);
        } else {
                (void)snprintf(buf, len, "%.1f s", (double)ns / 1e9);
        }
}

void
cli_mirror_json(FILE *out, const tshm_mirror_info *m)
{
        struct json_obj o;

        json_obj_begin(&o, out);
        json_obj_str(&o, "name", m->name);
        json_obj_str(&o, "remote", m->remote);
        json_obj_str(&o, "peer", m->peer);
        json_obj_str(&o, "direction", m->incoming ? "in" : "out");
        json_obj_key(&o, "stream");
        (void)fputs(m->stream ? "true" : "false", out);
        json_obj_str(&o, "state", mirror_state(m));
        json_obj_u64(&o, "sent", m->sent);
        json_obj_u64(&o, "dropped", m->dropped);
        json_obj_u64(&o, "lag_ns", m->lag_ns);
        json_obj_u64(&o, "seq", m->seq);
        json_obj_u64(&o, "reconnects", m->reconnects);
        json_obj_str(&o, "error", m->error);
        json_obj_end(&o);
}

void
cli_mirror_mark(const tshm_mirror_info *m, char *buf, size_t len)
{
        char lag[32];
        int n;

        cli_mirror_lag(m->lag_ns, lag, sizeof(lag));
        n = snprintf(buf, len, "%s %s", m->incoming ? "<-" : "->", m->peer);
        if (n >= 0 && (size_t)n < len && strcmp(m->remote, m->name) != 0) {
                n += snprintf(buf + n, len - (size_t)n, " as '%s'", m->remote);
        }
        if (n >= 0 && (size_t)n < len) {
                (void)snprintf(buf + n, len - (size_t)n,
                               " (%s), lag %s, sent %" PRIu64 ", dropped %" PRIu64 "%s%s",
                               mirror_state(m), lag, m->sent, m->dropped,
                               m->error[0] != '\0' ? ": " : "", m->error);
        }
}

int
cli_mirrors_fetch(const struct cli_ctx *ctx, tshm_mirror_info **ret, size_t *ret_count)
{
        tshm_client *c = NULL;
        int rv;

        /* A connection of its own: a daemon that predates mirrors refuses
         * the op as a protocol error and closes the connection, which must
         * not be the one the caller lists with. Any failure reads as no
         * mirrors: they are an addition to what the caller shows. */
        *ret = NULL;
        *ret_count = 0;
        if (tshm_connect(ctx->socket_path, &c) < 0) {
                return 0;
        }
        rv = tshm_mirror_list(c, ret, ret_count);
        tshm_disconnect(c);
        if (rv < 0) {
                *ret = NULL;
                *ret_count = 0;
        }
        return 0;
}

static void
mirror_table(const tshm_mirror_info *m, size_t n)
{
        size_t i, wname = strlen("NAME"), wpeer = strlen("PEER"), wremote = strlen("REMOTE");
        char lag[32];

        for (i = 0; i < n; i++) {
                wname = strlen(m[i].name) > wname ? strlen(m[i].name) : wname;
                wpeer = strlen(m[i].peer) > wpeer ? strlen(m[i].peer) : wpeer;
                wremote = strlen(m[i].remote) > wremote ? strlen(m[i].remote) : wremote;
        }
        printf("%-*s  DIR  %-*s  %-*s  %-10s  %10s  %10s  %8s\n", (int)wname, "NAME", (int)wpeer,
               "PEER", (int)wremote, "REMOTE", "STATE", "SENT", "DROPPED", "LAG");
        for (i = 0; i < n; i++) {
                cli_mirror_lag(m[i].lag_ns, lag, sizeof(lag));
                printf("%-*s  %-3s  %-*s  %-*s  %-10s  %10" PRIu64 "  %10" PRIu64 "  %8s%s%s\n",
                       (int)wname, m[i].name, m[i].incoming ? "in" : "out", (int)wpeer, m[i].peer,
                       (int)wremote, m[i].remote, mirror_state(&m[i]), m[i].sent, m[i].dropped, lag,
                       m[i].error[0] != '\0' ? "  " : "", m[i].error);
        }
}

static int
mirror_list(const struct cli_ctx *ctx, tshm_client *c)
{
        tshm_mirror_info *m = NULL;
        size_t n = 0, i;
        int rv;

        if ((rv = tshm_mirror_list(c, &m, &n)) < 0) {
                return cli_fail_tshm(ctx, c, rv,
                                     rv == TSHM_EPROTO ? "the daemon predates mirrors" : NULL);
        }
        if (ctx->json) {
                (void)fputs(n == 0 ? "[" : "[\n", stdout);
                for (i = 0; i < n; i++) {
                        (void)fputs("  ", stdout);
                        cli_mirror_json(stdout, &m[i]);
                        (void)fputs(i + 1 < n ? ",\n" : "\n", stdout);
                }
                (void)fputs("]\n", stdout);
        } else {
                mirror_table(m, n);
        }
        tshm_mirror_list_free(m);
        return cli_flush(ctx, CLI_EXIT_OK);
}

/* Report a failed start or stop of the mirror of @name. */
static int
mirror_fail(const struct cli_ctx *ctx, tshm_client *c, int rv, const char *name)
{
        if (rv == TSHM_ENOTSUP) {
                return cli_fail(ctx, "%s", MIRROR_ENOTSUP);
        }
        if (rv == TSHM_EPROTO) {
                return cli_fail_tshm(ctx, c, rv, "the daemon predates mirrors");
        }
        return cli_fail_seg(ctx, c, rv, name);
}

int
cmd_mirror(const struct cli_ctx *ctx)
{
        tshm_client *c = NULL;
        int rv, status;

        /* One of three forms: --list, --stop NAME, or NAME HOST:PORT. */
        if (ctx->mirror_list && (ctx->mirror_stop || ctx->argc != 0 || ctx->remote != NULL)) {
                return cli_usage(ctx, "--list takes no other arguments");
        }
        if (ctx->mirror_stop && (ctx->argc != 1 || ctx->remote != NULL)) {
                return cli_usage(ctx, "--stop takes one NAME");
        }
        if (!ctx->mirror_list && !ctx->mirror_stop && ctx->argc != 2) {
                return cli_usage(ctx, "give NAME HOST:PORT, --stop NAME or --list");
        }
        if (ctx->json && !ctx->mirror_list) {
                return cli_usage(ctx, "--json is for --list");
        }
        if (!ctx->mirror_list && !ctx->mirror_stop) {
                if (strlen(ctx->argv[1]) > TSHM_PEER_MAX || strchr(ctx->argv[1], ':') == NULL) {
                        return cli_usage(ctx, "bad peer '%s': HOST:PORT", ctx->argv[1]);
                }
                if (ctx->remote != NULL && tshm_name_check(ctx->remote) < 0) {
                        return cli_usage(ctx, "bad name for --as: '%s'", ctx->remote);
                }
        }
        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        if (ctx->mirror_list) {
                status = mirror_list(ctx, c);
        } else if (ctx->mirror_stop) {
                rv = tshm_mirror_stop(c, ctx->argv[0]);
                status = rv < 0 ? mirror_fail(ctx, c, rv, ctx->argv[0]) : CLI_EXIT_OK;
        } else {
                rv = tshm_mirror_start(c, ctx->argv[0], ctx->argv[1], ctx->remote);
                if (rv == TSHM_EINVAL && tshm_errmsg(c)[0] == '\0') {
                        status = cli_usage(ctx, "bad peer '%s': HOST:PORT, printable, no spaces",
                                           ctx->argv[1]);
                } else {
                        status = rv < 0 ? mirror_fail(ctx, c, rv, ctx->argv[0]) : CLI_EXIT_OK;
                }
        }
        tshm_disconnect(c);
        return status;
}
