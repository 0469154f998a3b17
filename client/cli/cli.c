/*
 * cli.c - the plumbing every command shares: error reports in one format
 * ("tshm: COMMAND: MESSAGE"), the connection to the daemon, and the final
 * flush of standard output.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tshm.h"

#include "cli.h"

static void cli_vreport(const struct cli_ctx *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void cli_usage_hint(const struct cli_ctx *ctx);

static void
cli_vreport(const struct cli_ctx *ctx, const char *fmt, va_list ap)
{
        (void)fprintf(stderr, "tshm: %s: ", ctx->cmd->name);
        (void)vfprintf(stderr, fmt, ap);
        (void)fputc('\n', stderr);
}

int
cli_fail(const struct cli_ctx *ctx, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        cli_vreport(ctx, fmt, ap);
        va_end(ap);
        return CLI_EXIT_FAIL;
}

int
cli_fail_tshm(const struct cli_ctx *ctx, const tshm_client *c, int rv, const char *what)
{
        const char *msg = tshm_strerror(rv);
        const char *detail = c != NULL ? tshm_errmsg(c) : "";

        if (detail[0] == '\0' || strcmp(detail, msg) == 0) {
                detail = what;
        }
        if (detail != NULL && detail[0] != '\0') {
                return cli_fail(ctx, "%s: %s", msg, detail);
        }
        return cli_fail(ctx, "%s", msg);
}

int
cli_fail_seg(const struct cli_ctx *ctx, const tshm_client *c, int rv, const char *name)
{
        char what[TSHM_NAME_MAX + 16];

        /* A name longer than any valid one is cut: it is only an example. */
        (void)snprintf(what, sizeof(what), "'%.*s'", TSHM_NAME_MAX + 8, name != NULL ? name : "");
        (void)cli_fail_tshm(ctx, c, rv, name != NULL ? what : NULL);
        if (rv == TSHM_EBADNAME) {
                /* Names come from the command line: a bad one is a usage
                 * error, like a bad dtype or shape. */
                cli_usage_hint(ctx);
                return CLI_EXIT_USAGE;
        }
        return CLI_EXIT_FAIL;
}

static void
cli_usage_hint(const struct cli_ctx *ctx)
{
        (void)fprintf(stderr, "Usage: tshm %s %s\nTry 'tshm %s --help' for more information.\n",
                      ctx->cmd->name, ctx->cmd->synopsis, ctx->cmd->name);
}

int
cli_usage(const struct cli_ctx *ctx, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        cli_vreport(ctx, fmt, ap);
        va_end(ap);
        cli_usage_hint(ctx);
        return CLI_EXIT_USAGE;
}

/* The socket libtshm tries for @arg, resolved the same way (tshm.h,
 * tshm_connect()), only to name it in an error message. */
static void
cli_socket_guess(const char *arg, char *buf, size_t len)
{
        const char *env = getenv("TSHM_SOCKET");
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        struct stat st;

        if (arg != NULL && arg[0] != '\0') {
                (void)snprintf(buf, len, "%s", arg);
                return;
        }
        if (env != NULL && env[0] != '\0') {
                (void)snprintf(buf, len, "%s", env);
                return;
        }
        if (xdg != NULL && xdg[0] != '\0') {
                (void)snprintf(buf, len, "%s/tshm/tshm.sock", xdg);
                if (stat(buf, &st) == 0) {
                        return;
                }
        }
        (void)snprintf(buf, len, "/run/tshm/tshm.sock");
}

int
cli_connect(const struct cli_ctx *ctx, tshm_client **ret_c)
{
        char path[4096 + 32];
        int rv;

        if ((rv = tshm_connect(ctx->socket_path, ret_c)) == 0) {
                return 0;
        }
        cli_socket_guess(ctx->socket_path, path, sizeof(path));
        if (rv == TSHM_ELIMIT) {
                return cli_fail(ctx,
                                "%s: socket '%s': the daemon serves no more clients "
                                "(--max-clients); try again later",
                                tshm_strerror(rv), path);
        }
        return cli_fail(ctx, "%s: socket '%s'", tshm_strerror(rv), path);
}

int
cli_flush(const struct cli_ctx *ctx, int status)
{
        if (fflush(stdout) != 0) {
                return cli_fail(ctx, "cannot write the output: %s", strerror(errno));
        }
        if (ferror(stdout)) {
                return cli_fail(ctx, "cannot write the output");
        }
        return status;
}

enum cli_format
cli_file_format(const char *path)
{
        const char *dot = strrchr(path, '.');

        if (dot == NULL || strchr(dot, '/') != NULL) {
                return CLI_FORMAT_NONE;
        }
        if (strcasecmp(dot, ".npy") == 0) {
                return CLI_FORMAT_NPY;
        }
        if (strcasecmp(dot, ".safetensors") == 0) {
                return CLI_FORMAT_SAFETENSORS;
        }
        return CLI_FORMAT_NONE;
}

int
cli_write_file(const struct cli_ctx *ctx, const char *path, cli_fill_fn fill, void *arg)
{
        char *tmp = NULL;
        int fd, rv;

        if (asprintf(&tmp, "%s.tmp", path) < 0) {
                return cli_fail(ctx, "%s", tshm_strerror(TSHM_ENOMEM));
        }
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666)) < 0) {
                rv = cli_fail(ctx, "cannot write '%s' (through '%s'): %s", path, tmp,
                              strerror(errno));
                free(tmp);
                return rv;
        }
        if ((rv = fill(fd, arg)) < 0) {
                (void)close(fd);
        } else if (close(fd) < 0 || rename(tmp, path) < 0) {
                rv = -errno;
        }
        if (rv < 0) {
                (void)unlink(tmp); /* best effort: the error below is the news */
                rv = rv == -EINTR ? cli_fail(ctx, "interrupted")
                                  : cli_fail(ctx, "cannot write '%s': %s", path, strerror(-rv));
        }
        free(tmp);
        return rv;
}
