/*
 * main.c - tshmd's command line, daemonising, and the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

static void
usage(FILE *f)
{
        fprintf(f,
                "Usage: tshmd [OPTIONS]\n"
                "Share N-dimensional arrays between processes through shared memory.\n"
                "\n"
                "  --socket PATH        listen on PATH (default: $TSHM_SOCKET, else\n"
                "                       /run/tshm/tshm.sock for root and\n"
                "                       $XDG_RUNTIME_DIR/tshm/tshm.sock for other users)\n"
                "  --socket-mode OCTAL  permission bits of the socket (default 0600)\n"
                "  --socket-group GROUP group of the socket (name or gid; with --socket-mode\n"
                "                       0660 only that group may talk to the daemon)\n"
                "  --foreground         stay in the foreground, log to stderr\n"
                "  --log-level LEVEL    error, warning, notice (default), info or debug\n"
                "  --max-bytes N        total budget of segment bytes, with K/M/G/T suffix\n"
                "                       (default: none; /dev/shm's free space still applies)\n"
                "  --max-segments N     at most N segments (default: none)\n"
                "  --max-bytes-per-uid N, --max-segments-per-uid N\n"
                "                       the same budgets for the segments each user owns\n"
                "  --max-clients N      at most N connections at once (default 4096)\n"
                "  --max-opens N        at most N open handles per connection (default 65536)\n"
                "  --shm-prefix P       name shm objects /P.<name> (default tshm); daemons with\n"
                "                       different prefixes never touch each other's objects\n"
                "  --version            print the version and exit\n"
                "  --help               print this help and exit\n");
}

static int
parse_level(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } levels[] = {{"error", LOG_ERR},
                      {"warning", LOG_WARNING},
                      {"notice", LOG_NOTICE},
                      {"info", LOG_INFO},
                      {"debug", LOG_DEBUG}};
        size_t i;

        for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
                if (strcmp(s, levels[i].name) == 0) {
                        return levels[i].level;
                }
        }
        return -1;
}

/* A count with an optional binary suffix (K, M, G, T). */
static bool
parse_size(const char *s, uint64_t *ret)
{
        unsigned long long v;
        unsigned shift = 0;
        char *end;

        errno = 0;
        if (s[0] < '0' || s[0] > '9') {
                return false;
        }
        v = strtoull(s, &end, 10);
        if (errno != 0) {
                return false;
        }
        switch (*end) {
        case 'K':
        case 'k':
                shift = 10;
                break;
        case 'M':
        case 'm':
                shift = 20;
                break;
        case 'G':
        case 'g':
                shift = 30;
                break;
        case 'T':
        case 't':
                shift = 40;
                break;
        case '\0':
                break;
        default:
                return false;
        }
        if (*end != '\0' && end[1] != '\0' && strcmp(end + 1, "iB") != 0 && end[1] != 'B') {
                return false;
        }
        if (shift > 0 && v > (UINT64_MAX >> shift)) {
                return false;
        }
        *ret = (uint64_t)v << shift;
        return true;
}

static bool
prefix_ok(const char *p)
{
        size_t i, n = strlen(p);

        if (n == 0 || n > TSHMD_PREFIX_MAX) {
                return false;
        }
        for (i = 0; i < n; i++) {
                char ch = p[i];
                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
                        return false;
                }
        }
        return true;
}

/* A group name or number. */
static int
parse_group(const char *s, gid_t *ret)
{
        const struct group *g;
        unsigned long v;
        char *end;

        if (s[0] >= '0' && s[0] <= '9') {
                errno = 0;
                v = strtoul(s, &end, 10);
                if (errno != 0 || *end != '\0' || v >= (gid_t)-1) {
                        return -1;
                }
                *ret = (gid_t)v;
                return 0;
        }
        if ((g = getgrnam(s)) == NULL) {
                return -1;
        }
        *ret = g->gr_gid;
        return 0;
}

enum {
        OPT_SOCKET = 256,
        OPT_SOCKET_MODE,
        OPT_SOCKET_GROUP,
        OPT_FOREGROUND,
        OPT_LOG_LEVEL,
        OPT_MAX_BYTES,
        OPT_MAX_SEGMENTS,
        OPT_MAX_BYTES_PER_UID,
        OPT_MAX_SEGMENTS_PER_UID,
        OPT_MAX_CLIENTS,
        OPT_MAX_OPENS,
        OPT_SHM_PREFIX,
        OPT_VERSION,
        OPT_HELP,
};

static int
parse_option(struct tshmd_config *cfg, int opt, const char *arg)
{
        uint64_t v;
        char *end;

        switch (opt) {
        case OPT_SOCKET:
                cfg->socket_path = arg;
                return 0;
        case OPT_SOCKET_MODE:
                cfg->socket_mode = (unsigned)strtoul(arg, &end, 8);
                return *end == '\0' && arg[0] != '\0' && cfg->socket_mode <= 0777 ? 0 : -1;
        case OPT_SOCKET_GROUP:
                return parse_group(arg, &cfg->socket_gid);
        case OPT_FOREGROUND:
                cfg->foreground = true;
                return 0;
        case OPT_LOG_LEVEL:
                cfg->log_level = parse_level(arg);
                return cfg->log_level < 0 ? -1 : 0;
        case OPT_MAX_BYTES:
                return parse_size(arg, &cfg->max_bytes) ? 0 : -1;
        case OPT_MAX_SEGMENTS:
                return parse_size(arg, &cfg->max_segments) ? 0 : -1;
        case OPT_MAX_BYTES_PER_UID:
                return parse_size(arg, &cfg->max_bytes_per_uid) ? 0 : -1;
        case OPT_MAX_SEGMENTS_PER_UID:
                return parse_size(arg, &cfg->max_segments_per_uid) ? 0 : -1;
        case OPT_MAX_CLIENTS:
        case OPT_MAX_OPENS:
                if (!parse_size(arg, &v) || v == 0 || v > UINT32_MAX) {
                        return -1;
                }
                *(opt == OPT_MAX_CLIENTS ? &cfg->max_clients : &cfg->max_opens) = (uint32_t)v;
                return 0;
        case OPT_SHM_PREFIX:
                if (!prefix_ok(arg)) {
                        return -1;
                }
                memcpy(cfg->shm_prefix, arg, strlen(arg) + 1);
                return 0;
        default:
                return -1;
        }
}

/* Returns 0 to run, 1 to exit 0 (help, version), -1 to exit 2. */
static int
parse_args(int argc, char **argv, struct tshmd_config *cfg)
{
        static const struct option opts[] = {
            {"socket", required_argument, NULL, OPT_SOCKET},
            {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
            {"socket-group", required_argument, NULL, OPT_SOCKET_GROUP},
            {"foreground", no_argument, NULL, OPT_FOREGROUND},
            {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
            {"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
            {"max-segments", required_argument, NULL, OPT_MAX_SEGMENTS},
            {"max-bytes-per-uid", required_argument, NULL, OPT_MAX_BYTES_PER_UID},
            {"max-segments-per-uid", required_argument, NULL, OPT_MAX_SEGMENTS_PER_UID},
            {"max-clients", required_argument, NULL, OPT_MAX_CLIENTS},
            {"max-opens", required_argument, NULL, OPT_MAX_OPENS},
            {"shm-prefix", required_argument, NULL, OPT_SHM_PREFIX},
            {"version", no_argument, NULL, OPT_VERSION},
            {"help", no_argument, NULL, OPT_HELP},
            {NULL, 0, NULL, 0},
        };
        int opt, idx = 0;

        while ((opt = getopt_long(argc, argv, "", opts, &idx)) != -1) {
                if (opt == OPT_HELP) {
                        usage(stdout);
                        return 1;
                }
                if (opt == OPT_VERSION) {
                        printf("tshmd %s (protocol %u)\n", tshm_version_string(),
                               TSHM_PROTO_VERSION);
                        return 1;
                }
                if (opt == '?' || parse_option(cfg, opt, optarg) < 0) {
                        if (opt != '?') {
                                fprintf(stderr, "tshmd: invalid value '%s' for --%s\n", optarg,
                                        opts[idx].name);
                        }
                        fprintf(stderr, "Try 'tshmd --help'.\n");
                        return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "tshmd: unexpected argument '%s'\nTry 'tshmd --help'.\n",
                        argv[optind]);
                return -1;
        }
        return 0;
}

/* Fork into the background. The parent waits until the child is serving (or
 * failed) and exits with that verdict, so "tshmd && tshm ls" works. Returns
 * the write end of the readiness pipe in the child. */
static int
daemonize(void)
{
        int p[2];
        char ok = 0;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0) {
                perror("tshmd: pipe");
                exit(1);
        }
        pid = fork();
        if (pid < 0) {
                perror("tshmd: fork");
                exit(1);
        }
        if (pid > 0) {
                (void)close(p[1]);
                exit(read(p[0], &ok, 1) == 1 && ok == 1 ? 0 : 1);
        }
        (void)close(p[0]);
        (void)setsid();
        return p[1];
}

static void
detach_stdio(void)
{
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (fd >= 0) {
                (void)dup2(fd, STDIN_FILENO);
                (void)dup2(fd, STDOUT_FILENO);
                (void)dup2(fd, STDERR_FILENO);
                (void)close(fd);
        }
}

/* One descriptor per client: take the hard limit, not the 1024 soft one. */
static void
raise_fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int
main(int argc, char **argv)
{
        struct tshmd_config cfg = {
            .log_level = LOG_NOTICE,
            .max_clients = 4096,
            .max_opens = 65536,
            .socket_mode = 0600,
            .socket_gid = (gid_t)-1,
            .shm_prefix = "tshm",
        };
        struct tshmd_server srv;
        uv_loop_t *loop = uv_default_loop();
        int ready_fd = -1, rv;
        char one = 1;

        rv = parse_args(argc, argv, &cfg);
        if (rv != 0) {
                return rv > 0 ? 0 : 2;
        }
        (void)signal(SIGPIPE, SIG_IGN);
        raise_fd_limit();
        if (!cfg.foreground) {
                ready_fd = daemonize();
        }
        tshmd_log_init(cfg.log_level, false);
        if (tshmd_server_start(&srv, loop, &cfg) < 0) {
                tshmd_log(LOG_ERR, "startup failed");
                return 1;
        }
        tshmd_log(LOG_NOTICE, "tshmd %s listening on %s, prefix '%s', %llu segments",
                  tshm_version_string(), srv.socket_path, cfg.shm_prefix,
                  (unsigned long long)srv.reg.segments);
        (void)tshmd_notify("READY=1\nSTATUS=serving");
        if (ready_fd >= 0) {
                detach_stdio();
                tshmd_log_init(cfg.log_level, true);
                /* If the parent is gone there is nobody to tell. */
                if (write(ready_fd, &one, 1) != 1) {
                        tshmd_log(LOG_DEBUG, "nobody waits for readiness");
                }
                (void)close(ready_fd);
        }
        rv = uv_run(loop, UV_RUN_DEFAULT);
        tshmd_log(LOG_NOTICE, "stopped; %llu segments kept", (unsigned long long)srv.reg.segments);
        tshmd_registry_done(&srv.reg);
        (void)uv_loop_close(loop);
        return rv == 0 ? 0 : 1;
}
