/*
 * config.c - tshmd's settings: defaults, the command line, and an optional
 * file of the same settings (--config) that SIGHUP reads again.
 *
 * Every setting has one name, used as "--NAME VALUE" on the command line and
 * as "NAME = VALUE" in the file, so the two never drift apart.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

static void
config_usage(FILE *f)
{
        fprintf(f, "Usage: tshmd [OPTIONS]\n"
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
                   "  --shm-prefix P       name shm objects /P.<name> (default tshm as root,\n"
                   "                       tshm-UID otherwise); daemons with different prefixes\n"
                   "                       never touch each other's objects\n"
                   "  --state-dir DIR      keep the seal key and the lock in DIR, made 0700\n"
                   "                       (default: $STATE_DIRECTORY, else /var/lib/tshm for\n"
                   "                       root and $XDG_STATE_HOME/tshm or ~/.local/state/tshm\n"
                   "                       otherwise); one daemon per DIR and prefix\n"
                   "  --shm-dir DIR        make segments in DIR instead of /dev/shm: a tmpfs\n"
                   "                       (one mounted with huge=within_size gives 2 MiB\n"
                   "                       pages) or a hugetlbfs; owned by root or tshmd's\n"
                   "                       user, and sticky if others may write to it\n"
                   "                       (default: /dev/shm)\n"
                   "  --peer-listen ADDR:PORT\n"
                   "                       accept mirrors from other hosts' daemons on ADDR\n"
                   "                       (IPv4, [IPv6] or a host name) and TCP PORT\n"
                   "                       (default: none; see docs/remote.md)\n"
                   "  --peer-secret FILE   the secret shared with the peers, at least 16 bytes,\n"
                   "                       owned by tshmd's user with mode 0600 or 0400;\n"
                   "                       needed to send or accept mirrors\n"
                   "  --peer-uid UID|USER  owner of the copies that peers send (default:\n"
                   "                       tshmd's own user)\n"
                   "  --peer-poll-us N     after its last work, the peer thread polls for N\n"
                   "                       microseconds (at most 1000000) before it sleeps:\n"
                   "                       lower latency for a CPU kept busy meanwhile\n"
                   "                       (default 0; peer settings take a restart)\n"
                   "  --config FILE        read settings from FILE, one 'name = value' a line\n"
                   "                       (the names above, without '--'); flags on the command\n"
                   "                       line win over it; SIGHUP reads it again and applies\n"
                   "                       the log level and every limit no flag set (the\n"
                   "                       socket, directory, prefix and peer settings take\n"
                   "                       a restart)\n"
                   "  --version            print the version and exit\n"
                   "  --help               print this help and exit\n");
}

static int
config_level(const char *s)
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

/* A count with an optional binary suffix: K, M, G, T (KiB, MiB, ... and KB
 * read the same). */
static bool
config_size(const char *s, uint64_t *ret)
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
        if (*end != '\0' && end[1] != '\0' && strcmp(end + 1, "iB") != 0 &&
            strcmp(end + 1, "B") != 0) {
                return false;
        }
        if (shift > 0 && v > (UINT64_MAX >> shift)) {
                return false;
        }
        *ret = (uint64_t)v << shift;
        return true;
}

static bool
config_prefix_ok(const char *p)
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
static bool
config_group(const char *s, gid_t *ret)
{
        const struct group *g;
        unsigned long v;
        char *end;

        if (s[0] >= '0' && s[0] <= '9') {
                errno = 0;
                v = strtoul(s, &end, 10);
                if (errno != 0 || *end != '\0' || v >= (gid_t)-1) {
                        return false;
                }
                *ret = (gid_t)v;
                return true;
        }
        if ((g = getgrnam(s)) == NULL) {
                return false;
        }
        *ret = g->gr_gid;
        return true;
}

/* A user name or number. */
static bool
config_user(const char *s, uint32_t *ret)
{
        const struct passwd *pw;
        unsigned long v;
        char *end;

        if (s[0] >= '0' && s[0] <= '9') {
                errno = 0;
                v = strtoul(s, &end, 10);
                if (errno != 0 || *end != '\0' || v >= (uid_t)-1) {
                        return false;
                }
                *ret = (uint32_t)v;
                return true;
        }
        if ((pw = getpwnam(s)) == NULL) {
                return false;
        }
        *ret = (uint32_t)pw->pw_uid;
        return true;
}

/* HOST:PORT as peer.c resolves it: an IPv6 address in brackets, else an
 * IPv4 address or a host name without ':'; PORT a decimal from 1 to 65535.
 * Only the form is checked here; the name is resolved when the listener
 * starts, so a host name that does not resolve is refused at start. */
static bool
config_hostport(const char *s, size_t max)
{
        const char *colon, *p;
        size_t i, n = strlen(s);
        unsigned long port;
        char *end;

        if (n == 0 || n > max) {
                return false;
        }
        for (i = 0; i < n; i++) {
                if (s[i] <= ' ' || s[i] > '~') {
                        return false;
                }
        }
        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (close == NULL || close == s + 1 || close[1] != ':') {
                        return false;
                }
                for (p = s + 1; p < close; p++) {
                        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                              (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.')) {
                                return false;
                        }
                }
                colon = close + 1;
        } else {
                colon = strchr(s, ':');
                if (colon == NULL || colon == s || strchr(colon + 1, ':') != NULL) {
                        return false;
                }
                for (p = s; p < colon; p++) {
                        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                              (*p >= 'A' && *p <= 'Z') || *p == '.' || *p == '-' || *p == '_')) {
                                return false;
                        }
                }
        }
        if (colon[1] < '0' || colon[1] > '9') {
                return false;
        }
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        return errno == 0 && *end == '\0' && port >= 1 && port <= 65535;
}

static bool
config_count32(const char *s, uint32_t *ret)
{
        uint64_t v;

        if (!config_size(s, &v) || v == 0 || v > UINT32_MAX) {
                return false;
        }
        *ret = (uint32_t)v;
        return true;
}

enum config_key {
        C_SOCKET,
        C_SOCKET_MODE,
        C_SOCKET_GROUP,
        C_FOREGROUND,
        C_LOG_LEVEL,
        C_MAX_BYTES,
        C_MAX_SEGMENTS,
        C_MAX_BYTES_PER_UID,
        C_MAX_SEGMENTS_PER_UID,
        C_MAX_CLIENTS,
        C_MAX_OPENS,
        C_SHM_PREFIX,
        C_STATE_DIR,
        C_SHM_DIR,
        C_PEER_LISTEN,
        C_PEER_SECRET,
        C_PEER_UID,
        C_PEER_POLL_US,
        C_CONFIG,
        C_VERSION,
        C_HELP,
        C_COUNT,
};

/* Names, whether they take a value, whether SIGHUP applies them, and what a
 * valid value is (said with every refusal, so that nobody has to guess). */
#define SIZE_FORM "a number with an optional K, M, G or T suffix"
#define COUNT_FORM "a number from 1 to 4294967295, with an optional K, M, G or T suffix"
static const struct {
        const char *name;
        bool has_arg;
        bool reloadable;
        const char *expect;
} keys[C_COUNT] = {
    [C_SOCKET] = {"socket", true, false, "a path of at most 107 bytes"},
    [C_SOCKET_MODE] = {"socket-mode", true, false, "octal permission bits, 0 to 0777"},
    [C_SOCKET_GROUP] = {"socket-group", true, false, "an existing group's name, or a gid"},
    [C_FOREGROUND] = {"foreground", false, false, NULL},
    [C_LOG_LEVEL] = {"log-level", true, true, "one of error, warning, notice, info, debug"},
    [C_MAX_BYTES] = {"max-bytes", true, true, SIZE_FORM " (0: none)"},
    [C_MAX_SEGMENTS] = {"max-segments", true, true, SIZE_FORM " (0: none)"},
    [C_MAX_BYTES_PER_UID] = {"max-bytes-per-uid", true, true, SIZE_FORM " (0: none)"},
    [C_MAX_SEGMENTS_PER_UID] = {"max-segments-per-uid", true, true, SIZE_FORM " (0: none)"},
    [C_MAX_CLIENTS] = {"max-clients", true, true, COUNT_FORM},
    [C_MAX_OPENS] = {"max-opens", true, true, COUNT_FORM},
    [C_SHM_PREFIX] = {"shm-prefix", true, false,
                      "1 to 48 characters from a-z, A-Z, 0-9, '_' and '-'"},
    [C_STATE_DIR] = {"state-dir", true, false, "an absolute path of at most 511 bytes"},
    [C_SHM_DIR] = {"shm-dir", true, false, "an absolute path of at most 511 bytes"},
    /* Peers are start-only: the listener, the secret and the owner of the
     * copies belong to the peer thread that starts with the daemon. */
    [C_PEER_LISTEN] = {"peer-listen", true, false,
                       "ADDR:PORT, ADDR an IPv4 address, [IPv6] or a host name, PORT 1 to 65535"},
    [C_PEER_SECRET] = {"peer-secret", true, false, "a path of at most 511 bytes"},
    [C_PEER_UID] = {"peer-uid", true, false, "an existing user's name, or a uid"},
    [C_PEER_POLL_US] = {"peer-poll-us", true, false, "a number of microseconds, 0 to 1000000"},
    [C_CONFIG] = {"config", true, false, NULL},
    [C_VERSION] = {"version", false, false, NULL},
    [C_HELP] = {"help", false, false, NULL},
};
_Static_assert(C_COUNT <= 32, "cmdline_keys has one bit per setting");

/* Apply one setting. Returns false when the value is not valid. */
static bool
config_apply(struct tshmd_config *cfg, enum config_key k, const char *arg)
{
        char *end;

        switch (k) {
        case C_SOCKET:
                /* bind() would silently cut a longer path. */
                if (strlen(arg) >= sizeof(cfg->socket_path)) {
                        return false;
                }
                memcpy(cfg->socket_path, arg, strlen(arg) + 1);
                return true;
        case C_SOCKET_MODE:
                cfg->socket_mode = (unsigned)strtoul(arg, &end, 8);
                return *end == '\0' && arg[0] != '\0' && cfg->socket_mode <= 0777;
        case C_SOCKET_GROUP:
                return config_group(arg, &cfg->socket_gid);
        case C_FOREGROUND:
                cfg->foreground = true;
                return true;
        case C_LOG_LEVEL:
                return (cfg->log_level = config_level(arg)) >= 0;
        case C_MAX_BYTES:
                return config_size(arg, &cfg->max_bytes);
        case C_MAX_SEGMENTS:
                return config_size(arg, &cfg->max_segments);
        case C_MAX_BYTES_PER_UID:
                return config_size(arg, &cfg->max_bytes_per_uid);
        case C_MAX_SEGMENTS_PER_UID:
                return config_size(arg, &cfg->max_segments_per_uid);
        case C_MAX_CLIENTS:
                return config_count32(arg, &cfg->max_clients);
        case C_MAX_OPENS:
                return config_count32(arg, &cfg->max_opens);
        case C_SHM_PREFIX:
                if (!config_prefix_ok(arg)) {
                        return false;
                }
                memcpy(cfg->shm_prefix, arg, strlen(arg) + 1);
                return true;
        case C_STATE_DIR:
                /* Absolute: the daemon's working directory is nobody's
                 * business, and the key must not move with it. */
                if (arg[0] != '/' || strlen(arg) >= sizeof(cfg->state_dir)) {
                        return false;
                }
                memcpy(cfg->state_dir, arg, strlen(arg) + 1);
                return true;
        case C_SHM_DIR:
                if (arg[0] != '/' || strlen(arg) >= sizeof(cfg->shm_dir)) {
                        return false;
                }
                memcpy(cfg->shm_dir, arg, strlen(arg) + 1);
                return true;
        case C_PEER_LISTEN:
                if (!config_hostport(arg, sizeof(cfg->peer_listen) - 1)) {
                        return false;
                }
                memcpy(cfg->peer_listen, arg, strlen(arg) + 1);
                return true;
        case C_PEER_SECRET:
                /* The file itself is checked when the peer thread starts
                 * (owner, mode, length): it may not exist yet while the
                 * settings are read. */
                if (arg[0] == '\0' || strlen(arg) >= sizeof(cfg->peer_secret)) {
                        return false;
                }
                memcpy(cfg->peer_secret, arg, strlen(arg) + 1);
                return true;
        case C_PEER_UID:
                if (!config_user(arg, &cfg->peer_uid)) {
                        return false;
                }
                cfg->has_peer_uid = true;
                return true;
        case C_PEER_POLL_US: {
                unsigned long long us = strtoull(arg, &end, 10);

                if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || us > 1000000u) {
                        return false;
                }
                cfg->peer_poll_us = (uint32_t)us;
                return true;
        }
        default:
                return false;
        }
}

void
tshmd_config_defaults(struct tshmd_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        cfg->log_level = LOG_NOTICE;
        cfg->max_clients = 4096;
        cfg->max_opens = 65536;
        cfg->socket_mode = 0600;
        cfg->socket_gid = (gid_t)-1;
        tshmd_config_default_prefix(geteuid(), cfg->shm_prefix, sizeof(cfg->shm_prefix));
}

void
tshmd_config_default_prefix(uid_t uid, char *buf, size_t len)
{
        /* Root's daemon is the one the system prefix "tshm" has always
         * meant. Anyone else's gets its uid: two daemons of different users
         * with one prefix would see each other's objects under it (which
         * neither adopts: not its owner) and fight over the names. "tshm-"
         * and ten digits fit in TSHMD_PREFIX_MAX. */
        if (uid == 0) {
                (void)snprintf(buf, len, "tshm");
        } else {
                (void)snprintf(buf, len, "tshm-%u", (unsigned)uid);
        }
}

static char *
config_trim(char *s)
{
        char *e;

        while (*s == ' ' || *s == '\t') {
                s++;
        }
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) {
                *--e = '\0';
        }
        return s;
}

/* Parse one "name = value" line (comments and blanks were removed). */
static int
config_line(struct tshmd_config *cfg, char *line, bool reload, char *err, size_t errlen)
{
        char *eq = strchr(line, '='), *name, *value;
        struct tshmd_config scratch = *cfg;
        int k;

        if (eq == NULL) {
                snprintf(err, errlen, "'%s' is not 'name = value'", line);
                return -1;
        }
        *eq = '\0';
        name = config_trim(line);
        value = config_trim(eq + 1);
        for (k = 0; k < C_COUNT; k++) {
                if (strcmp(name, keys[k].name) == 0) {
                        break;
                }
        }
        if (k == C_COUNT || k == C_CONFIG || k == C_VERSION || k == C_HELP) {
                snprintf(err, errlen, "unknown setting '%s'", name);
                return -1;
        }
        if (!config_apply(&scratch, (enum config_key)k, value)) {
                snprintf(err, errlen, "invalid value '%s' for %s (expected %s)", value, name,
                         keys[k].expect);
                return -1;
        }
        /* A flag on the command line wins over the file, at start and on
         * every SIGHUP alike: the file is checked all the same. A setting
         * that takes a restart is left alone on reload; the rest of the
         * file still applies. */
        if ((cfg->cmdline_keys & (1u << k)) != 0 || (reload && !keys[k].reloadable)) {
                return 0;
        }
        (void)config_apply(cfg, (enum config_key)k, value);
        return 0;
}

/* Put the reloadable setting @k of @cfg back to its value in @def. */
static void
config_reset(struct tshmd_config *cfg, const struct tshmd_config *def, enum config_key k)
{
        switch (k) {
        case C_LOG_LEVEL:
                cfg->log_level = def->log_level;
                break;
        case C_MAX_BYTES:
                cfg->max_bytes = def->max_bytes;
                break;
        case C_MAX_SEGMENTS:
                cfg->max_segments = def->max_segments;
                break;
        case C_MAX_BYTES_PER_UID:
                cfg->max_bytes_per_uid = def->max_bytes_per_uid;
                break;
        case C_MAX_SEGMENTS_PER_UID:
                cfg->max_segments_per_uid = def->max_segments_per_uid;
                break;
        case C_MAX_CLIENTS:
                cfg->max_clients = def->max_clients;
                break;
        case C_MAX_OPENS:
                cfg->max_opens = def->max_opens;
                break;
        default:
                break;
        }
}

int
tshmd_config_load(struct tshmd_config *cfg, const char *path, bool reload, char *err, size_t errlen)
{
        struct tshmd_config next = *cfg, def;
        char line[512], msg[400];
        unsigned lineno = 0;
        FILE *f;
        int rv = 0;
        int k;

        /* The file is read onto the defaults and the flags, not onto what
         * the last read left: a line taken out of the file gives its
         * setting back to the flag or the default on the next SIGHUP. */
        tshmd_config_defaults(&def);
        for (k = 0; k < C_COUNT; k++) {
                if (keys[k].reloadable && (cfg->cmdline_keys & (1u << k)) == 0) {
                        config_reset(&next, &def, (enum config_key)k);
                }
        }
        f = fopen(path, "re");
        if (f == NULL) {
                snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
                return -1;
        }
        while (rv == 0 && fgets(line, sizeof(line), f) != NULL) {
                char *hash = strchr(line, '#'), *s;
                lineno++;
                if (hash != NULL) {
                        *hash = '\0';
                }
                s = config_trim(line);
                if (*s != '\0' && config_line(&next, s, reload, msg, sizeof(msg)) < 0) {
                        snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
                        rv = -1;
                }
        }
        (void)fclose(f);
        if (rv == 0) {
                /* All or nothing: a bad line leaves every setting as it was. */
                *cfg = next;
        }
        return rv;
}

int
tshmd_config_parse_args(struct tshmd_config *cfg, int argc, char **argv)
{
        struct option opts[C_COUNT + 1];
        char err[600];
        int opt, k;

        for (k = 0; k < C_COUNT; k++) {
                opts[k] = (struct option){
                    keys[k].name, keys[k].has_arg ? required_argument : no_argument, NULL, k + 256};
        }
        opts[C_COUNT] = (struct option){NULL, 0, NULL, 0};
        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                k = opt - 256;
                if (k == C_HELP) {
                        config_usage(stdout);
                        return 1;
                }
                if (k == C_VERSION) {
                        printf("tshmd %s (protocol %u)\n", TSHM__VERSION_STRING,
                               TSHM_PROTO_VERSION);
                        return 1;
                }
                if (k == C_CONFIG) {
                        if (strlen(optarg) >= sizeof(cfg->config_path)) {
                                fprintf(stderr, "tshmd: --config path too long\n");
                                return -1;
                        }
                        snprintf(cfg->config_path, sizeof(cfg->config_path), "%s", optarg);
                        continue;
                }
                if (opt == '?' || !config_apply(cfg, (enum config_key)k, optarg)) {
                        if (opt != '?') {
                                fprintf(stderr,
                                        "tshmd: invalid value '%s' for --%s (expected %s)\n",
                                        optarg, keys[k].name, keys[k].expect);
                        }
                        fprintf(stderr, "Try 'tshmd --help'.\n");
                        return -1;
                }
                cfg->cmdline_keys |= 1u << k;
        }
        if (optind < argc) {
                fprintf(stderr, "tshmd: unexpected argument '%s'\nTry 'tshmd --help'.\n",
                        argv[optind]);
                return -1;
        }
        /* The file comes after every flag, wherever --config stands, and
         * fills in only what the command line left unsaid: the same rule
         * that SIGHUP follows, so a reload never undoes a flag. */
        if (cfg->config_path[0] != '\0' &&
            tshmd_config_load(cfg, cfg->config_path, false, err, sizeof(err)) < 0) {
                fprintf(stderr, "tshmd: %s\n", err);
                return -1;
        }
        return 0;
}
