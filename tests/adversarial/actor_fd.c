/*
 * actor_fd.c - the "fd" verb: open a segment through the raw request and
 * keep its descriptor, then obey commands on stdin that truncate the
 * object, write and read its header fields (with pwrite/pread, never
 * through a mapping) and copy it out.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tshm.h"

#include "actor.h"

static const struct field {
        const char *name;
        size_t offset, width;
} fields[] = {
    {"flags", 12, 4},        {"data_offset", 16, 8},  {"data_size", 24, 8},
    {"dtype", 32, 4},        {"itemsize", 36, 4},     {"ndim", 40, 4},
    {"mode", 44, 4},         {"owner_uid", 48, 4},    {"owner_gid", 52, 4},
    {"seq", 64, 8},          {"wake", 72, 4},         {"state", 76, 4},
    {"lock", 80, 4},         {"lock_pid", 84, 4},     {"lease_until", 88, 8},
    {"torn_seq", 96, 8},     {"shape0", 128, 8},      {"shape1", 136, 8},
    {"stride0", 384, 8},     {"stride1", 392, 8},     {"slots", 640, 4},
    {"policy", 644, 4},      {"slot_stride", 648, 8}, {"ctl_offset", 656, 8},
    {"frame_bytes", 664, 8},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static const struct field *
field_find(const char *name, size_t len)
{
        size_t i;

        for (i = 0; i < NFIELDS; i++) {
                if (strlen(fields[i].name) == len && strncmp(fields[i].name, name, len) == 0) {
                        return &fields[i];
                }
        }
        return NULL;
}

static bool
parse_value(const char *s, uint64_t *ret)
{
        char *end;

        errno = 0;
        if (strncmp(s, "mono+", 5) == 0) {
                *ret = actor_mono_ns() + strtoull(s + 5, &end, 0) * 1000000u;
        } else if (s[0] == '-') {
                *ret = (uint64_t)strtoll(s, &end, 0);
        } else {
                *ret = strtoull(s, &end, 0);
        }
        return errno == 0 && end != s && *end == '\0';
}

/* Parse "FIELD=VALUE" tokens of @line (modified) into @f/@v; returns the count or -1. */
static int
parse_assignments(char *line, const struct field **f, uint64_t *v, int max)
{
        char *save = NULL, *tok;
        int n = 0;

        for (tok = strtok_r(line, " \t\n", &save); tok != NULL;
             tok = strtok_r(NULL, " \t\n", &save)) {
                char *eq = strchr(tok, '=');

                if (eq == NULL || n == max ||
                    (f[n] = field_find(tok, (size_t)(eq - tok))) == NULL ||
                    !parse_value(eq + 1, &v[n])) {
                        return -1;
                }
                n++;
        }
        return n;
}

static int
write_fields(int fd, const struct field **f, const uint64_t *v, int n)
{
        int i;

        for (i = 0; i < n; i++) {
                /* Little-endian host: the low bytes of the value come first. */
                if (pwrite(fd, &v[i], f[i]->width, (off_t)f[i]->offset) != (ssize_t)f[i]->width) {
                        return -errno;
                }
        }
        return 0;
}

static int
dump_object(int fd, const char *path)
{
        struct stat st;
        char buf[65536];
        off_t off = 0;
        int out, rv = 0;

        if (fstat(fd, &st) < 0 ||
            (out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
                return -errno;
        }
        while (off < st.st_size) {
                ssize_t n = pread(fd, buf, sizeof(buf), off);

                if (n <= 0 || write(out, buf, (size_t)n) != n) {
                        rv = -EIO;
                        break;
                }
                off += n;
        }
        (void)close(out);
        return rv;
}

/* The verbs that change the object's size or pages: trunc, punch, loop.
 * Returns false if @cmd is none of them (or malformed). */
static bool
fd_resize(int fd, const char *cmd, const char *line, int *rv, uint64_t *count)
{
        long long size, off;
        double secs;

        if (strcmp(cmd, "trunc") == 0 && sscanf(line, "%*s %lld", &size) == 1) {
                *rv = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
        } else if (strcmp(cmd, "punch") == 0 && sscanf(line, "%*s %lld %lld", &off, &size) == 2) {
                *rv = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                                (off_t)size) < 0
                          ? -errno
                          : 0;
        } else if (strcmp(cmd, "loop") == 0 && sscanf(line, "%*s %lf %lld", &secs, &size) == 2) {
                uint64_t end = actor_mono_ns() + (uint64_t)(secs * 1e9);

                while (actor_mono_ns() < end) {
                        if (ftruncate(fd, (off_t)size) == 0) {
                                (*count)++;
                        }
                        actor_nap_us(200);
                }
        } else {
                return false;
        }
        return true;
}

/* One command line of 'fd'; returns false on "close". */
static bool
fd_command(tshm_client *c, uint64_t handle, int fd, char *line)
{
        const struct field *f[16];
        uint64_t v[16], count = 0;
        char cmd[32], path[4096];
        double secs;
        int n, rv = 0;

        if (sscanf(line, "%31s", cmd) != 1) {
                printf("err empty\n");
                return true;
        }
        if (fd_resize(fd, cmd, line, &rv, &count)) {
                /* done */
        } else if (strcmp(cmd, "set") == 0 && (n = parse_assignments(line + 3, f, v, 16)) > 0) {
                rv = write_fields(fd, f, v, n);
        } else if (strcmp(cmd, "scribble") == 0 && sscanf(line, "%*s %lf%n", &secs, &n) == 1) {
                uint64_t end = actor_mono_ns() + (uint64_t)(secs * 1e9);
                int k = parse_assignments(line + n, f, v, 16);

                if (k <= 0) {
                        printf("err bad fields\n");
                        return true;
                }
                while (actor_mono_ns() < end) {
                        if (write_fields(fd, f, v, k) == 0) {
                                count++;
                        }
                        actor_nap_us(20);
                }
        } else if (strcmp(cmd, "get") == 0 && sscanf(line, "%*s %31s", cmd) == 1 &&
                   (f[0] = field_find(cmd, strlen(cmd))) != NULL) {
                v[0] = 0;
                rv = pread(fd, &v[0], f[0]->width, (off_t)f[0]->offset) == (ssize_t)f[0]->width
                         ? 0
                         : -EIO;
                count = v[0];
        } else if (strcmp(cmd, "dump") == 0 && sscanf(line, "%*s %4095s", path) == 1) {
                rv = dump_object(fd, path);
        } else if (strcmp(cmd, "close") == 0) {
                rv = actor_raw_close(c, handle);
                (void)close(fd);
                printf("ok %d\n", rv);
                return false;
        } else {
                printf("err unknown command\n");
                return true;
        }
        if (rv < 0) {
                printf("err %s\n", tshm_strerror(rv));
        } else {
                printf("ok %" PRIu64 "\n", count);
        }
        return true;
}

int
actor_cmd_fd(const char *sock, int argc, char **argv)
{
        bool writable = !(argc > 1 && strcmp(argv[1], "ro") == 0);
        char line[4096];
        tshm_client *c;
        uint64_t handle;
        int fd, rv;

        (void)actor_connect(sock, &c);
        if ((rv = actor_raw_open(c, argv[0], writable, &handle, &fd)) < 0) {
                printf("err open: %s\n", tshm_strerror(rv));
                return 1;
        }
        printf("ok open\n");
        (void)fflush(stdout);
        while (fgets(line, sizeof(line), stdin) != NULL) {
                bool more = fd_command(c, handle, fd, line);

                (void)fflush(stdout);
                if (!more) {
                        break;
                }
        }
        tshm_disconnect(c);
        return 0;
}
