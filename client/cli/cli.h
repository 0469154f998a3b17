/*
 * cli.h - what the tshm command's files share: the command table entry, the
 * parsed command line, error reporting and connecting.
 */
#ifndef TSHM_CLI_CLI_H
#define TSHM_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tshm.h"

/* Exit statuses. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* the operation failed */
#define CLI_EXIT_USAGE 2 /* the command line was wrong */

/* Options a command accepts besides --help. */
#define CLI_OPT_JSON 0x1u
#define CLI_OPT_MODE 0x2u
#define CLI_OPT_GROUP 0x4u
#define CLI_OPT_REMOVE 0x8u
#define CLI_OPT_STREAM 0x10u  /* --slots N, --policy block|overwrite */
#define CLI_OPT_WIDE 0x20u    /* -w, --wide */
#define CLI_OPT_NOPOP 0x40u   /* --no-populate */
#define CLI_OPT_PREFIX 0x80u  /* --prefix PREFIX */
#define CLI_OPT_EPHEM 0x100u  /* --ephemeral */
#define CLI_OPT_MIRROR 0x200u /* --list, --stop, --as REMOTE */

struct cli_ctx;

struct cli_cmd {
        const char *name;
        const char *synopsis; /* what follows "tshm NAME" in a usage line */
        const char *summary;  /* one line for the command list */
        const char *help;     /* the rest of 'tshm NAME --help' */
        unsigned opts;        /* CLI_OPT_* */
        int min_args;
        int max_args; /* -1: no limit */
        int (*run)(const struct cli_ctx *ctx);
};

/* One parsed command line. */
struct cli_ctx {
        const struct cli_cmd *cmd;
        const char *socket_path;   /* --socket, or NULL */
        bool json;                 /* --json */
        bool wide;                 /* --wide: rows not fitted to the terminal */
        bool have_mode;            /* --mode given */
        unsigned mode;             /* its value, at most 0777 */
        bool remove;               /* --remove */
        bool have_group;           /* --group given */
        uint32_t group;            /* its gid */
        uint32_t slots;            /* --slots: make a stream of this many frames; 0: an array */
        tshm_stream_policy policy; /* --policy */
        bool no_populate;          /* --no-populate: let the pages fault in as touched */
        const char *prefix;        /* --prefix: only names that start so, or NULL */
        bool ephemeral;            /* --ephemeral: removed when the command ends */
        bool mirror_list;          /* mirror --list */
        bool mirror_stop;          /* mirror --stop */
        const char *remote;        /* mirror --as: the name on the peer, or NULL */
        int argc;                  /* the positional arguments */
        char **argv;
};

/* The commands (cmd_*.c). Each returns a CLI_EXIT_* status and has already
 * reported any error. */
int cmd_ls(const struct cli_ctx *ctx);
int cmd_info(const struct cli_ctx *ctx);
int cmd_rm(const struct cli_ctx *ctx);
int cmd_create(const struct cli_ctx *ctx);
int cmd_load(const struct cli_ctx *ctx);
int cmd_save(const struct cli_ctx *ctx);
int cmd_cat(const struct cli_ctx *ctx);
int cmd_stats(const struct cli_ctx *ctx);
int cmd_chmod(const struct cli_ctx *ctx);
int cmd_chown(const struct cli_ctx *ctx);
int cmd_gc(const struct cli_ctx *ctx);
int cmd_watch(const struct cli_ctx *ctx);
int cmd_mirror(const struct cli_ctx *ctx);

/* Mirrors, for 'tshm mirror' and 'tshm ls' (cmd_mirror.c). */
/* The daemon's mirrors, through a connection of their own, in *ret (free
 * with tshm_mirror_list_free()) and *ret_count; none (0, NULL) when the
 * daemon has none, has mirrors off, predates them or cannot be reached.
 * Returns 0. */
int cli_mirrors_fetch(const struct cli_ctx *ctx, tshm_mirror_info **ret, size_t *ret_count);
/* One mirror as the JSON object of 'tshm mirror --list --json'. */
void cli_mirror_json(FILE *out, const tshm_mirror_info *m);
/* One mirror in a line: "-> host:port (live), lag 3 ms, sent 5, dropped 0". */
void cli_mirror_mark(const tshm_mirror_info *m, char *buf, size_t len);
/* A lag for people: "0", "<1 ms", "12 ms", "1.5 s". */
void cli_mirror_lag(uint64_t ns, char *buf, size_t len);

/* 'tshm load' and 'tshm save' of a .safetensors file (cmd_safetensors.c). */
int cmd_load_safetensors(const struct cli_ctx *ctx);
int cmd_save_safetensors(const struct cli_ctx *ctx);

/* The file formats of 'tshm load' and 'tshm save', told by the extension. */
enum cli_format {
        CLI_FORMAT_NONE, /* none tshm reads */
        CLI_FORMAT_NPY,
        CLI_FORMAT_SAFETENSORS,
};

/* The format of @path by its extension (any case). */
enum cli_format cli_file_format(const char *path);

/* A group given by name or number (cmd_perm.c). */
bool cli_parse_group(const char *s, uint32_t *ret_gid);

/* Print "tshm: COMMAND: MESSAGE" to stderr and return CLI_EXIT_FAIL. */
int cli_fail(const struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report the libtshm error @rv: its message, then ": " and the client's
 * detail (tshm_errmsg(@c)) when there is one, else @what when not NULL.
 * Returns CLI_EXIT_FAIL. */
int cli_fail_tshm(const struct cli_ctx *ctx, const tshm_client *c, int rv, const char *what);

/* cli_fail_tshm() for a call about the segment @name: without a detail
 * from the daemon, the name is the detail. A bad name (TSHM_EBADNAME) is a
 * command-line mistake: the usage line follows, and it returns
 * CLI_EXIT_USAGE. */
int cli_fail_seg(const struct cli_ctx *ctx, const tshm_client *c, int rv, const char *name);

/* Report a command-line mistake with the command's usage line; returns
 * CLI_EXIT_USAGE. */
int cli_usage(const struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Connect to the daemon. Returns 0 and *ret_c, or reports the failure,
 * naming the socket tried, and returns CLI_EXIT_FAIL. */
int cli_connect(const struct cli_ctx *ctx, tshm_client **ret_c);

/* Write the file @path whole or not at all: @fill (returning 0 or -errno,
 * -EINTR when interrupted) writes a new temporary file beside it,
 * "PATH.tmp", which is then renamed over @path, or removed on any failure.
 * The temporary file is made new (O_EXCL) and never through a link: in a
 * shared directory another user could have put one at its name. Returns 0,
 * or reports the failure and returns CLI_EXIT_FAIL. */
typedef int (*cli_fill_fn)(int fd, void *arg);
int cli_write_file(const struct cli_ctx *ctx, const char *path, cli_fill_fn fill, void *arg);

/* Finish standard output; a failed write is reported. Returns @status, or
 * CLI_EXIT_FAIL when the output could not be written. */
int cli_flush(const struct cli_ctx *ctx, int status);

#endif /* TSHM_CLI_CLI_H */
