/*
 * main.c - the tshm command: global options, the command table, each
 * command's options and arguments, and dispatch.
 *
 * Command names, options, output keys and exit statuses are an interface:
 * scripts depend on them. Exit 0 on success, 1 when the operation failed,
 * 2 when the command line was wrong.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tshm.h"

#include "cli.h"

/* Standard output buffer when it is not a terminal: 'tshm ls' of 100k
 * segments writes megabytes. */
#define CLI_STDOUT_BUF (1u << 16)

static const struct cli_cmd commands[] = {
    {"ls", "[--prefix PREFIX] [--json] [-w]", "list segments",
     "Columns: NAME DTYPE SHAPE SIZE OWNER MODE OPENS CREATED STREAM, oldest first.\n"
     "--prefix lists only the names that start with PREFIX (the daemon filters).\n"
     "SHAPE and SIZE of a stream are one frame's; STREAM shows its slots, policy,\n"
     "subscribers and frames published, for a tensor group \"group, N tensors\"\n"
     "(\"-\" for an array).\n"
     "With --json, print one JSON array of objects with the keys name, dtype,\n"
     "shape, nbytes, size, owner, group, mode, opens, created, created_ns, kind\n"
     "(array, stream or group), backing, page_size, for a stream \"stream\":\n"
     "{slots, policy, subscribers, frames}, and for a group \"tensors\": N.\n"
     "On a terminal, rows are fitted to its width ($COLUMNS, else the terminal's):\n"
     "long names and shapes are cut, ending in \"...\", then the row. -w, --wide,\n"
     "or output to a pipe or file, shows them whole.\n",
     CLI_OPT_JSON | CLI_OPT_WIDE | CLI_OPT_PREFIX, 0, 0, cmd_ls},
    {"info", "NAME [--json]", "describe one segment",
     "Print \"key: value\" lines, or with --json one JSON object with the keys\n"
     "of 'tshm ls --json'.\n"
     "For a tensor group, also its tensors (name, dtype, shape, offset, bytes)\n"
     "and its metadata's \"__metadata__\" object; with --json the keys\n"
     "\"tensors\": [{name, dtype, shape, offset, nbytes}, ...] and \"metadata\".\n",
     CLI_OPT_JSON, 1, 1, cmd_info},
    {"create",
     "NAME DTYPE SHAPE [--mode OCTAL] [--group GROUP] [--slots N [--policy P]] [--ephemeral]",
     "create a zero-filled segment or stream",
     "DTYPE is a NumPy name (float32, int64, bool, complex64, bfloat16, ...) or\n"
     "type string ('<f4'). SHAPE is written 3x4 or 3,4; '' or 'scalar' is 0-d.\n"
     "--mode sets the permission bits (octal, at most 0777; default 0600).\n"
     "--group gives the segment to GROUP (a name or gid you are a member of);\n"
     "the group and other bits apply only once it has that group.\n"
     "--slots N makes a stream: a ring of N frames of DTYPE and SHAPE; --policy\n"
     "is block (the default: producers wait for the slowest subscriber) or\n"
     "overwrite (they never wait; late subscribers skip frames).\n"
     "--ephemeral: the segment lives as long as this command, which then stays\n"
     "in the foreground until SIGINT, SIGTERM or SIGHUP (or until killed: the\n"
     "daemon removes it when the connection closes) and exits 0.\n",
     CLI_OPT_MODE | CLI_OPT_GROUP | CLI_OPT_STREAM | CLI_OPT_EPHEM, 3, 3, cmd_create},
    {"chmod", "MODE NAME...", "set segments' permission bits",
     "MODE is octal, at most 0777. Only the owner (or root) may.\n", 0, 2, -1, cmd_chmod},
    {"chown", "OWNER[:GROUP] NAME...", "set segments' owner and/or group",
     "OWNER and GROUP are names or numbers; ':GROUP' changes the group only.\n"
     "Only root gives a segment to another user; the owner may set any group it\n"
     "is a member of.\n",
     0, 2, -1, cmd_chown},
    {"rm", "NAME...", "remove segments",
     "Remove each NAME. Processes that have a segment open keep it until they\n"
     "close it.\n",
     0, 1, -1, cmd_rm},
    {"load", "NAME FILE.npy|FILE.safetensors [--mode OCTAL] [--no-populate]",
     "create a segment from a .npy or .safetensors file",
     "Read a NumPy .npy file (format 1.0, 2.0 or 3.0; little-endian; C or\n"
     "Fortran order) into a new segment with its dtype and shape, or a\n"
     ".safetensors file into a new tensor group: its tensors in file order,\n"
     "its JSON header as the group's metadata. The file is checked first and\n"
     "the group published only once complete: on any error or interrupt,\n"
     "nothing is left. On a terminal, files over 64 MiB show their progress.\n"
     "The new segment's pages are mapped in one go before it is filled, whatever\n"
     "its size; --no-populate lets them fault in one by one instead.\n",
     CLI_OPT_MODE | CLI_OPT_NOPOP, 2, 2, cmd_load},
    {"save", "NAME FILE.npy|FILE.safetensors [--no-populate]",
     "write a segment to a .npy or .safetensors file",
     "Write an array as numpy.save() would (format 1.0, C order). bfloat16\n"
     "segments cannot be saved: NumPy has no such dtype.\n"
     "Write a tensor group as a .safetensors file: the header it was loaded\n"
     "with when that still describes it (the same file, byte for byte), else\n"
     "a fresh one as the reference writes it. complex tensors cannot be saved.\n"
     "The segment's pages are mapped in one go before it is read, whatever its\n"
     "size; --no-populate lets them fault in one by one instead.\n",
     CLI_OPT_NOPOP, 2, 2, cmd_save},
    {"cat", "NAME", "print a segment's values",
     "Print the values as print() of a NumPy array shows them.\n", 0, 1, 1, cmd_cat},
    {"gc", "[--remove] [--json]", "find (and remove) stale objects",
     "Report objects under the daemon's prefix in /dev/shm that are stale: ones\n"
     "it does not know (no valid header), and ephemeral segments whose creator\n"
     "is gone and that nobody has open. A dry run unless --remove is given.\n"
     "Only root or the daemon's own user may.\n",
     CLI_OPT_REMOVE | CLI_OPT_JSON, 0, 0, cmd_gc},
    {"watch", "NAME", "print each version as it is published",
     "Wait for new versions of NAME (a stream's frames) and print one line for\n"
     "each: the sequence number (a stream's frame number), a tab, the publish\n"
     "time, and for arrays of at most 16 elements a tab and the values. Runs\n"
     "until interrupted; exits 1 if the segment is unlinked.\n",
     0, 1, 1, cmd_watch},
    {"stats", "[--json]", "show the daemon's counters",
     "Print segments, bytes, max_bytes, clients, opens, requests, uptime,\n"
     "shm_free, pid and proto; with --json one JSON object (uptime as\n"
     "uptime_s, in seconds).\n",
     CLI_OPT_JSON, 0, 0, cmd_stats},
    {"mirror", "NAME HOST:PORT [--as REMOTE] | --stop NAME | --list [--json]",
     "mirror a segment to another host's daemon",
     "Keep REMOTE (default: NAME) on the daemon at HOST:PORT (its --peer-listen;\n"
     "[v6] in brackets) in step with NAME: each new version of an array, every\n"
     "frame of a stream. You need read access to NAME. The mirror lives in the\n"
     "daemon, across its restarts, until 'tshm mirror --stop NAME' (which needs\n"
     "read access too, or root or the daemon's user). Both daemons need the same\n"
     "--peer-secret; without one, mirrors are off.\n"
     "--list shows the mirrors both ways: NAME DIR (out: sent from here, in: a\n"
     "copy received here) PEER REMOTE STATE (connecting, live, stale, failed)\n"
     "SENT DROPPED LAG, and the error, if any. With --json, one JSON array of\n"
     "objects with the keys name, remote, peer, direction (out or in), stream,\n"
     "state, sent, dropped, lag_ns, seq, reconnects and error.\n",
     CLI_OPT_MIRROR | CLI_OPT_JSON, 0, 2, cmd_mirror},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cli_cmd *
find_command(const char *name)
{
        size_t i;

        for (i = 0; i < NCOMMANDS; i++) {
                if (strcmp(commands[i].name, name) == 0) {
                        return &commands[i];
                }
        }
        return NULL;
}

static void
usage(FILE *out)
{
        char line[96];
        size_t i;

        (void)fputs("Usage: tshm [--socket PATH] COMMAND [ARGS...]\n\n"
                    "Share NumPy-style arrays between processes through tshmd.\n\n"
                    "Commands:\n",
                    out);
        for (i = 0; i < NCOMMANDS; i++) {
                (void)snprintf(line, sizeof(line), "%s %s", commands[i].name, commands[i].synopsis);
                if (strlen(line) > 36) {
                        (void)fprintf(out, "  %s\n  %-36s  %s\n", line, "", commands[i].summary);
                } else {
                        (void)fprintf(out, "  %-36s  %s\n", line, commands[i].summary);
                }
        }
        (void)fprintf(out, "  %-36s  %s\n", "help [COMMAND]", "show this help, or a command's");
        (void)fputs("\nOptions:\n"
                    "  --socket PATH  the daemon's socket (default: $TSHM_SOCKET, else\n"
                    "                 $XDG_RUNTIME_DIR/tshm/tshm.sock, else /run/tshm/tshm.sock)\n"
                    "  --version      print the version\n"
                    "  -h, --help     show this help\n\n"
                    "Run 'tshm COMMAND --help' for a command's details.\n",
                    out);
}

static void
command_help(const struct cli_cmd *cmd)
{
        /* The summary starts lower-case for the command list. */
        (void)printf("Usage: tshm %s %s\n\n%c%s.\n\n%s", cmd->name, cmd->synopsis,
                     toupper((unsigned char)cmd->summary[0]), cmd->summary + 1, cmd->help);
}

/* --mode: octal digits, at most 0777. */
static bool
parse_mode(const char *s, unsigned *ret_mode)
{
        unsigned v = 0;

        if (*s == '\0') {
                return false;
        }
        for (; *s != '\0'; s++) {
                if (*s < '0' || *s > '7' || v > 0777) {
                        return false;
                }
                v = v * 8 + (unsigned)(*s - '0');
        }
        if (v > 0777) {
                return false;
        }
        *ret_mode = v;
        return true;
}

/* --slots: decimal, 2 to TSHM_STREAM_MAX_SLOTS. */
static bool
parse_slots(const char *s, uint32_t *ret_slots)
{
        char *end;
        unsigned long v = strtoul(s, &end, 10);

        if (*s < '0' || *s > '9' || *end != '\0' || v < 2 || v > TSHM_STREAM_MAX_SLOTS) {
                return false;
        }
        *ret_slots = (uint32_t)v;
        return true;
}

/* --policy: block or overwrite. */
static bool
parse_policy(const char *s, tshm_stream_policy *ret_policy)
{
        if (strcmp(s, "block") == 0) {
                *ret_policy = TSHM_STREAM_BLOCK;
        } else if (strcmp(s, "overwrite") == 0) {
                *ret_policy = TSHM_STREAM_OVERWRITE;
        } else {
                return false;
        }
        return true;
}

/* Report what getopt_long() returned (@ch) for an option this command does
 * not take: a missing argument (':'), another command's option (@longname
 * when it was a long one), or no option at all ('?'). Returns
 * CLI_EXIT_USAGE. */
static int
option_refuse(struct cli_ctx *ctx, int ch, const char *longname, char **argv)
{
        if (ch == ':') {
                return cli_usage(ctx, "option '%s' needs an argument", argv[optind - 1]);
        } else if (ch != '?') {
                /* Another command's option; its argument, if it took one,
                 * is argv[optind - 1]: name the option. */
                if (longname != NULL) {
                        return cli_usage(ctx, "unknown option '--%s'", longname);
                }
                return cli_usage(ctx, "unknown option '-%c'", ch);
        } else if (optopt != 0) {
                return cli_usage(ctx, "unknown option '-%c'", optopt);
        }
        return cli_usage(ctx, "unknown option '%s'", argv[optind - 1]);
}

/* A flag (an option without a value) that @ctx's command takes: set it and
 * return true; false for any other. */
static bool
option_flag(struct cli_ctx *ctx, int ch)
{
        unsigned o = ctx->cmd->opts;

        if (ch == 'j' && (o & CLI_OPT_JSON) != 0) {
                ctx->json = true;
        } else if (ch == 'N' && (o & CLI_OPT_NOPOP) != 0) {
                ctx->no_populate = true;
        } else if (ch == 'e' && (o & CLI_OPT_EPHEM) != 0) {
                ctx->ephemeral = true;
        } else if (ch == 'w' && (o & CLI_OPT_WIDE) != 0) {
                ctx->wide = true;
        } else if (ch == 'r' && (o & CLI_OPT_REMOVE) != 0) {
                ctx->remove = true;
        } else if (ch == 'l' && (o & CLI_OPT_MIRROR) != 0) {
                ctx->mirror_list = true;
        } else if (ch == 's' && (o & CLI_OPT_MIRROR) != 0) {
                ctx->mirror_stop = true;
        } else {
                return false;
        }
        return true;
}

/* An option with a value (optarg) that @ctx's command takes: 0 when it is
 * set, CLI_EXIT_USAGE after reporting a bad value, -1 for any other. */
static int
option_value(struct cli_ctx *ctx, int ch, bool *have_policy)
{
        unsigned o = ctx->cmd->opts;

        if (ch == 'm' && (o & CLI_OPT_MODE) != 0) {
                if (!parse_mode(optarg, &ctx->mode)) {
                        return cli_usage(ctx, "bad mode '%s': octal, at most 0777", optarg);
                }
                ctx->have_mode = true;
        } else if (ch == 'p' && (o & CLI_OPT_PREFIX) != 0) {
                if (optarg[0] != '\0' && tshm_name_check(optarg) < 0) {
                        return cli_usage(ctx, "bad prefix '%s': no name starts so", optarg);
                }
                ctx->prefix = optarg;
        } else if (ch == 'g' && (o & CLI_OPT_GROUP) != 0) {
                if (!cli_parse_group(optarg, &ctx->group)) {
                        return cli_usage(ctx, "unknown group '%s'", optarg);
                }
                ctx->have_group = true;
        } else if (ch == 'a' && (o & CLI_OPT_MIRROR) != 0) {
                ctx->remote = optarg;
        } else if (ch == 'S' && (o & CLI_OPT_STREAM) != 0) {
                if (!parse_slots(optarg, &ctx->slots)) {
                        return cli_usage(ctx, "bad slots '%s': 2 to %u", optarg,
                                         TSHM_STREAM_MAX_SLOTS);
                }
        } else if (ch == 'P' && (o & CLI_OPT_STREAM) != 0) {
                if (!parse_policy(optarg, &ctx->policy)) {
                        return cli_usage(ctx, "bad policy '%s': block or overwrite", optarg);
                }
                *have_policy = true;
        } else {
                return -1;
        }
        return 0;
}

/* Parse a command's options and count its arguments. Returns 0 to run it,
 * -1 when --help was answered, or CLI_EXIT_USAGE after reporting. */
static int
parse_command(struct cli_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"mode", required_argument, NULL, 'm'},
            {"group", required_argument, NULL, 'g'},
            {"remove", no_argument, NULL, 'r'},
            {"slots", required_argument, NULL, 'S'},
            {"policy", required_argument, NULL, 'P'},
            {"wide", no_argument, NULL, 'w'},
            {"no-populate", no_argument, NULL, 'N'},
            {"prefix", required_argument, NULL, 'p'},
            {"ephemeral", no_argument, NULL, 'e'},
            {"list", no_argument, NULL, 'l'},
            {"stop", no_argument, NULL, 's'},
            {"as", required_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        const struct cli_cmd *cmd = ctx->cmd;
        bool have_policy = false;
        int ch, n, li, rv;

        optind = 0; /* glibc: start over on a new vector */
        opterr = 0;
        /* li: the long option matched, -1 for a short one. */
        for (li = -1; (ch = getopt_long(argc, argv, ":hw", opts, &li)) != -1; li = -1) {
                if (ch == 'h') {
                        command_help(cmd);
                        return -1;
                }
                if (option_flag(ctx, ch)) {
                        continue;
                }
                if ((rv = option_value(ctx, ch, &have_policy)) < 0) {
                        return option_refuse(ctx, ch, li >= 0 ? opts[li].name : NULL, argv);
                }
                if (rv > 0) {
                        return rv;
                }
        }
        if (have_policy && ctx->slots == 0) {
                /* A policy is a stream's: without --slots it would be
                 * dropped and an array made. */
                return cli_usage(ctx, "--policy is for a stream: give --slots N too");
        }
        ctx->argc = argc - optind;
        ctx->argv = argv + optind;
        n = ctx->argc;
        if (n < cmd->min_args || (cmd->max_args >= 0 && n > cmd->max_args)) {
                return cli_usage(ctx,
                                 n < cmd->min_args ? "missing arguments" : "too many arguments");
        }
        return 0;
}

/* 'tshm help [COMMAND]'. */
static int
run_help(int argc, char **argv)
{
        const struct cli_cmd *cmd;

        if (argc < 2) {
                usage(stdout);
                return CLI_EXIT_OK;
        }
        if ((cmd = find_command(argv[1])) == NULL) {
                (void)fprintf(stderr, "tshm: help: unknown command '%s'\n", argv[1]);
                return CLI_EXIT_USAGE;
        }
        command_help(cmd);
        return CLI_EXIT_OK;
}

/* Global options, before the command. Returns the index of the command
 * word, or -1 with *ret_status set when there is nothing more to do. */
static int
parse_global(int argc, char **argv, const char **ret_socket, int *ret_status)
{
        static const struct option opts[] = {
            {"socket", required_argument, NULL, 's'},
            {"version", no_argument, NULL, 'V'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int ch;

        opterr = 0;
        /* '+': stop at the command word; its options are its own. */
        while ((ch = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
                if (ch == 's') {
                        *ret_socket = optarg;
                } else if (ch == 'V') {
                        (void)printf("tshm %s\n", tshm_version_string());
                        *ret_status = CLI_EXIT_OK;
                        return -1;
                } else if (ch == 'h') {
                        usage(stdout);
                        *ret_status = CLI_EXIT_OK;
                        return -1;
                } else {
                        (void)fprintf(stderr, "tshm: %s '%s'\n",
                                      ch == ':' ? "missing argument for" : "unknown option",
                                      argv[optind - 1]);
                        (void)fputs("Try 'tshm --help' for more information.\n", stderr);
                        *ret_status = CLI_EXIT_USAGE;
                        return -1;
                }
        }
        if (optind >= argc) {
                usage(stderr);
                *ret_status = CLI_EXIT_USAGE;
                return -1;
        }
        return optind;
}

/* Finish standard output for the answers main() gives itself (--help,
 * --version); commands use cli_flush(). */
static int
flush_stdout(int status)
{
        if (fflush(stdout) != 0 || ferror(stdout)) {
                (void)fputs("tshm: cannot write the output\n", stderr);
                return CLI_EXIT_FAIL;
        }
        return status;
}

int
main(int argc, char **argv)
{
        struct cli_ctx ctx;
        int first, status = CLI_EXIT_OK, rv;

        if (!isatty(STDOUT_FILENO)) {
                (void)setvbuf(stdout, NULL, _IOFBF, CLI_STDOUT_BUF);
        }
        memset(&ctx, 0, sizeof(ctx));
        if ((first = parse_global(argc, argv, &ctx.socket_path, &status)) < 0) {
                return flush_stdout(status);
        }
        argc -= first;
        argv += first;
        if (strcmp(argv[0], "help") == 0) {
                return flush_stdout(run_help(argc, argv));
        }
        if ((ctx.cmd = find_command(argv[0])) == NULL) {
                (void)fprintf(stderr,
                              "tshm: unknown command '%s'\n"
                              "Try 'tshm --help' for the list of commands.\n",
                              argv[0]);
                return CLI_EXIT_USAGE;
        }
        if ((rv = parse_command(&ctx, argc, argv)) != 0) {
                return rv < 0 ? flush_stdout(CLI_EXIT_OK) : rv;
        }
        return ctx.cmd->run(&ctx);
}
