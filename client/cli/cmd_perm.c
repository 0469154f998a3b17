/*
 * cmd_perm.c - 'tshm chmod' and 'tshm chown': a segment's rights, as for
 * files. The daemon decides who may: the owner, or root.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "cli.h"

/* A user or group given by name or number. */
static bool
perm_parse_id(const char *s, bool group, uint32_t *ret)
{
        char *end;
        unsigned long v;

        if (s[0] >= '0' && s[0] <= '9') {
                errno = 0;
                v = strtoul(s, &end, 10);
                if (errno != 0 || *end != '\0' || v >= UINT32_MAX) {
                        return false;
                }
                *ret = (uint32_t)v;
                return true;
        }
        if (group) {
                const struct group *g = getgrnam(s);
                if (g == NULL) {
                        return false;
                }
                *ret = (uint32_t)g->gr_gid;
        } else {
                const struct passwd *p = getpwnam(s);
                if (p == NULL) {
                        return false;
                }
                *ret = (uint32_t)p->pw_uid;
        }
        return true;
}

bool
cli_parse_group(const char *s, uint32_t *ret_gid)
{
        return perm_parse_id(s, true, ret_gid);
}

int
cmd_chmod(const struct cli_ctx *ctx)
{
        tshm_client *c = NULL;
        unsigned long mode;
        char *end;
        int i, rv, status;

        errno = 0;
        mode = strtoul(ctx->argv[0], &end, 8);
        if (errno != 0 || *end != '\0' || ctx->argv[0][0] == '\0' || mode > 0777) {
                return cli_usage(ctx, "bad mode '%s': octal, at most 0777", ctx->argv[0]);
        }
        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        for (i = 1; i < ctx->argc; i++) {
                if ((rv = tshm_chmod(c, ctx->argv[i], (unsigned)mode)) < 0) {
                        status = cli_fail_seg(ctx, c, rv, ctx->argv[i]);
                }
        }
        tshm_disconnect(c);
        return status;
}

int
cmd_chown(const struct cli_ctx *ctx)
{
        uint32_t uid = TSHM_ID_UNCHANGED, gid = TSHM_ID_UNCHANGED;
        char spec[256], *colon;
        tshm_client *c = NULL;
        int i, rv, status;

        if (snprintf(spec, sizeof(spec), "%s", ctx->argv[0]) >= (int)sizeof(spec)) {
                return cli_usage(ctx, "owner too long");
        }
        colon = strchr(spec, ':');
        if (colon != NULL) {
                *colon = '\0';
                if (colon[1] != '\0' && !perm_parse_id(colon + 1, true, &gid)) {
                        return cli_usage(ctx, "unknown group '%s'", colon + 1);
                }
        }
        if (spec[0] != '\0' && !perm_parse_id(spec, false, &uid)) {
                return cli_usage(ctx, "unknown user '%s'", spec);
        }
        if (uid == TSHM_ID_UNCHANGED && gid == TSHM_ID_UNCHANGED) {
                return cli_usage(ctx, "give OWNER, OWNER:GROUP or :GROUP");
        }
        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        for (i = 1; i < ctx->argc; i++) {
                if ((rv = tshm_chown(c, ctx->argv[i], uid, gid)) < 0) {
                        status = cli_fail_seg(ctx, c, rv, ctx->argv[i]);
                }
        }
        tshm_disconnect(c);
        return status;
}
