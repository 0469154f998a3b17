/*
 * actor.c - tshm-adv-actor: the raw moves of a hostile local user, and a C
 * victim, for the adversarial suite (test_adv_*.py drive it, each
 * actor under its own uid).
 *
 * libtshm closes a segment's descriptor once it has mapped it and never
 * writes a header field it does not own, so the hostile moves use the
 * library's internals (linked statically): the open request itself, which
 * returns the O_RDWR descriptor, and the subscriber table of a subscription.
 * Header fields are written with pwrite() on the descriptor, never through a
 * mapping, so that the attacker itself never faults on a truncated object.
 *
 * Usage: tshm-adv-actor SOCKET COMMAND ARGS...
 *   fd NAME [ro]        open NAME (read-write unless "ro") and keep the
 *                       descriptor; then obey lines on stdin, answering each
 *                       with one line "ok ..." (or "err ..."):
 *                         trunc SIZE            ftruncate(fd, SIZE)
 *                         loop SECONDS SIZE     ftruncate(fd, SIZE) in a loop
 *                         set FIELD=VALUE...    write header fields once
 *                         scribble SECONDS FIELD=VALUE...  ... in a loop
 *                         get FIELD             print a header field
 *                         dump FILE             copy the whole object to FILE
 *                         close                 close the handle and the fd
 *                       VALUE is a number (0x.., negative for strides) or
 *                       mono+MS: CLOCK_MONOTONIC now plus MS, in ns.
 *   churn SECONDS       class 1: on segments of its own, truncate to 0
 *                       beside stream stat, unlink and closing writable
 *                       handles, for SECONDS. Exit 3 if the daemon is gone,
 *                       4 if a cut (ftruncate) failed.
 *   fill-subtable NAME  class 5: subscribe read-only, mark every entry of
 *                       the subscriber table active (cursor 0), and exit
 *                       without unsubscribing.
 *   pipeline N SECONDS  class 8: N connections sending list requests
 *                       without reading a reply, for SECONDS; then hold them
 *                       until stdin closes.
 *   plant NAME PREFIX KEYHEX UID MODE
 *                       class 7: write /dev/shm/PREFIX.NAME, a 4-element
 *                       float64 segment owned by UID, sealed with KEYHEX.
 *   victim-wait NAME    class 3, as the C reader: tshm_wait, tshm_read_begin
 *                       (1 s timeouts); prints "wait RV cpu S" and
 *                       "read_begin RV cpu S".
 *   victim-take NAME    class 3: subscribe, print "subscribed", wait for a
 *                       line on stdin, tshm_sub_take (1 s); prints
 *                       "take RV NAME seq N cpu S".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tshm.h"

#include "header.h"
#include "internal.h"
#include "proto.h"

static const char *arg_socket;

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

static uint64_t
mono_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
cpu_s(void)
{
        struct rusage ru;

        (void)getrusage(RUSAGE_SELF, &ru);
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
nap_us(long us)
{
        struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

        (void)nanosleep(&ts, NULL);
}

static int
connect_or_die(tshm_client **ret_c)
{
        int rv = tshm_connect(arg_socket, ret_c);

        if (rv < 0) {
                fprintf(stderr, "actor: connect %s: %s\n", arg_socket, tshm_strerror(rv));
                exit(3);
        }
        return 0;
}

/* The open request, keeping the descriptor libtshm would have closed. */
static int
raw_open(tshm_client *c, const char *name, bool writable, uint64_t *ret_handle, int *ret_fd)
{
        struct tshm__req req = {.op = TSHM_OP_OPEN, .writable = writable};
        struct tshm__reply reply;
        int fd = -1, rv;

        if ((rv = tshm__client_name(c, &req, name)) < 0 ||
            (rv = tshm__client_call(c, &req, &reply, &fd)) < 0) {
                return rv;
        }
        *ret_handle = reply.handle;
        *ret_fd = fd;
        return 0;
}

static int
raw_close(tshm_client *c, uint64_t handle)
{
        struct tshm__req req = {.op = TSHM_OP_CLOSE, .handle = handle};
        struct tshm__reply reply;

        return tshm__client_call(c, &req, &reply, NULL);
}

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
                *ret = mono_ns() + strtoull(s + 5, &end, 0) * 1000000u;
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

/* One command line of 'fd'; returns false on "close". */
static bool
fd_command(tshm_client *c, uint64_t handle, int fd, char *line)
{
        const struct field *f[16];
        uint64_t v[16], count = 0;
        char cmd[32], path[4096];
        double secs;
        long long size;
        int n, rv = 0;

        if (sscanf(line, "%31s", cmd) != 1) {
                printf("err empty\n");
                return true;
        }
        if (strcmp(cmd, "trunc") == 0 && sscanf(line, "%*s %lld", &size) == 1) {
                rv = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
        } else if (strcmp(cmd, "loop") == 0 && sscanf(line, "%*s %lf %lld", &secs, &size) == 2) {
                uint64_t end = mono_ns() + (uint64_t)(secs * 1e9);

                while (mono_ns() < end) {
                        if (ftruncate(fd, (off_t)size) == 0) {
                                count++;
                        }
                        nap_us(200);
                }
        } else if (strcmp(cmd, "set") == 0 && (n = parse_assignments(line + 3, f, v, 16)) > 0) {
                rv = write_fields(fd, f, v, n);
        } else if (strcmp(cmd, "scribble") == 0 && sscanf(line, "%*s %lf%n", &secs, &n) == 1) {
                uint64_t end = mono_ns() + (uint64_t)(secs * 1e9);
                int k = parse_assignments(line + n, f, v, 16);

                if (k <= 0) {
                        printf("err bad fields\n");
                        return true;
                }
                while (mono_ns() < end) {
                        if (write_fields(fd, f, v, k) == 0) {
                                count++;
                        }
                        nap_us(20);
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
                rv = raw_close(c, handle);
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

static int
cmd_fd(int argc, char **argv)
{
        bool writable = !(argc > 1 && strcmp(argv[1], "ro") == 0);
        char line[4096];
        tshm_client *c;
        uint64_t handle;
        int fd, rv;

        (void)connect_or_die(&c);
        if ((rv = raw_open(c, argv[0], writable, &handle, &fd)) < 0) {
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

/* Whether the daemon went away (a request fails for the connection, and a
 * new one cannot be made). */
static bool
churn_daemon_gone(tshm_client *c)
{
        tshm_daemon_info st;
        int rv = tshm_daemon_stat(c, &st);

        if (rv == TSHM_ECONNRESET) {
                rv = tshm_daemon_stat(c, &st);
        }
        return rv == TSHM_ECONNRESET || rv == TSHM_ENODAEMON;
}

/* Cut @fd, a writable descriptor of one of our segments, to nothing; false,
 * said on stdout, where ftruncate failed. */
static bool
churn_cut(int fd)
{
        if (ftruncate(fd, 0) < 0) {
                printf("err ftruncate: %s\n", strerror(errno));
                return false;
        }
        return true;
}

/* Class 1: every path where tshmd reads or writes a header a client can
 * truncate: stat of a stream, unlink, close of a writable handle. */
static int
cmd_churn(int argc, char **argv)
{
        uint64_t end = mono_ns() + (uint64_t)(atof(argv[0]) * 1e9), shape[1] = {1024}, h;
        unsigned long rounds = 0, errors = 0;
        tshm_stream_info si;
        tshm_client *c;
        char sname[64], aname[64];
        int fd;

        (void)argc;
        (void)connect_or_die(&c);
        snprintf(sname, sizeof(sname), "advchurn-s-%d", (int)getpid());
        snprintf(aname, sizeof(aname), "advchurn-a-%d", (int)getpid());
        while (mono_ns() < end) {
                tshm_seg *st = NULL, *arr = NULL;
                bool cut = true;

                /* A stream of ours, cut to nothing beside stream stat. */
                if (tshm_stream_create(c, sname, TSHM_DTYPE_UINT8, 1, shape, 4, TSHM_STREAM_BLOCK,
                                       0600, 0, &st) == 0 &&
                    raw_open(c, sname, true, &h, &fd) == 0) {
                        cut = churn_cut(fd) && cut;
                        errors += tshm_stream_stat(c, sname, &si) < 0;
                        cut = churn_cut(fd) && cut;
                        errors += tshm_stream_stat(c, sname, &si) < 0;
                        /* ... then closing a writable handle of a cut object. */
                        cut = churn_cut(fd) && cut;
                        (void)raw_close(c, h);
                        (void)close(fd);
                }
                /* An array cut to nothing, then unlinked. */
                if (tshm_create(c, aname, TSHM_DTYPE_UINT8, 1, shape, 0600, 0, &arr) == 0 &&
                    raw_open(c, aname, true, &h, &fd) == 0) {
                        cut = churn_cut(fd) && cut;
                        errors += tshm_unlink(c, aname) < 0;
                        cut = churn_cut(fd) && cut;
                        (void)raw_close(c, h);
                        (void)close(fd);
                }
                (void)tshm_close(arr);
                (void)tshm_unlink(c, sname);
                (void)tshm_close(st);
                if (!cut) {
                        /* What was to be cut was not: the round tested
                         * nothing, and neither would the next. */
                        (void)tshm_unlink(c, aname);
                        tshm_disconnect(c);
                        return 4;
                }
                rounds++;
                if (churn_daemon_gone(c)) {
                        printf("daemon gone after %lu rounds\n", rounds);
                        return 3;
                }
        }
        (void)tshm_unlink(c, sname);
        (void)tshm_unlink(c, aname);
        printf("rounds %lu errors %lu\n", rounds, errors);
        tshm_disconnect(c);
        return 0;
}

/* Class 5: claim every entry of the stream's subscriber table. */
static int
cmd_fill_subtable(int argc, char **argv)
{
        tshm_client *c;
        tshm_sub *sub;
        tshm_seg *seg;
        uint32_t i;
        int rv;

        (void)argc;
        (void)connect_or_die(&c);
        if ((rv = tshm_sub_open(c, argv[0], &sub)) < 0) {
                printf("err subscribe: %s\n", tshm_strerror(rv));
                return 1;
        }
        seg = tshm_sub_seg(sub);
        /* Every word of every entry it can write: the first two (where an
         * "active" flag and a pid once were) and the cursor. */
        for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                struct tshm__cur_sub *e = &seg->cur->subs[i];

                __atomic_store_n(&e->cursor, 0, __ATOMIC_SEQ_CST);
                __atomic_store_n(&e->reserved0, 1, __ATOMIC_SEQ_CST);
                __atomic_store_n(&e->reserved1, 1, __ATOMIC_SEQ_CST);
        }
        /* And the roster, which says who holds an entry: mapped read-only
         * and sealed, so this must fail. */
        if (seg->ros != NULL &&
            mprotect((void *)seg->ros, TSHM_ROS_SIZE, PROT_READ | PROT_WRITE) == 0) {
                struct tshm__ros *ros = (struct tshm__ros *)(void *)seg->ros;

                for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                        ros->subs[i].pid = 1;
                }
                printf("ok filled %u, roster written\n", (unsigned)TSHM_STREAM_MAX_SUBS);
        } else {
                printf("ok filled %u, roster refused\n", (unsigned)TSHM_STREAM_MAX_SUBS);
        }
        (void)fflush(stdout);
        _exit(0); /* no unsubscribe: the daemon only sees the connection go */
}

/* Connect to the daemon without blocking and say hello. Returns the socket or -1. */
static int
pipeline_connect(const msgpack_sbuffer *hello)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        /* A path too long for sun_path would connect to another one. */
        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", arg_socket) >=
            sizeof(sa.sun_path)) {
                fprintf(stderr, "actor: socket path too long: %s\n", arg_socket);
                if (fd >= 0) {
                        (void)close(fd);
                }
                return -1;
        }
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            send(fd, hello->data, hello->size, MSG_NOSIGNAL) != (ssize_t)hello->size) {
                perror("actor: pipeline connect");
                return -1;
        }
        return fd;
}

/* Send one whole request on @fd (a partial send is finished first, for up
 * to the deadline). Returns whether it went out whole. */
static bool
pipeline_send(int fd, const msgpack_sbuffer *req, uint64_t end)
{
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        size_t off = 0;

        while (off < req->size) {
                ssize_t k = send(fd, req->data + off, req->size - off, MSG_NOSIGNAL);

                if (k > 0) {
                        off += (size_t)k;
                        continue;
                }
                if ((k < 0 && errno != EAGAIN) || off == 0 || poll(&p, 1, 100) < 0 ||
                    mono_ns() >= end) {
                        break;
                }
        }
        return off == req->size;
}

/* Class 8: pipeline list requests and never read a reply. */
static int
cmd_pipeline(int argc, char **argv)
{
        int n = atoi(argv[0]), i, socks[64];
        uint64_t end = mono_ns() + (uint64_t)(atof(argv[1]) * 1e9), sent = 0;
        struct tshm__req hello = {.op = TSHM_OP_HELLO, .version = TSHM_PROTO_VERSION, .id = 1};
        struct tshm__req list = {.op = TSHM_OP_LIST, .id = 2, .limit = TSHM_PROTO_LIST_PAGE};
        msgpack_sbuffer hb, lb;
        char buf[64];

        (void)argc;
        if (n < 1 || n > 64) {
                return 2;
        }
        msgpack_sbuffer_init(&hb);
        msgpack_sbuffer_init(&lb);
        if (tshm__req_encode(&hello, &hb) < 0 || tshm__req_encode(&list, &lb) < 0) {
                return 2;
        }
        for (i = 0; i < n; i++) {
                if ((socks[i] = pipeline_connect(&hb)) < 0) {
                        return 3;
                }
        }
        while (mono_ns() < end) {
                bool progress = false;

                for (i = 0; i < n; i++) {
                        if (pipeline_send(socks[i], &lb, end)) {
                                sent++;
                                progress = true;
                        }
                }
                if (!progress) {
                        nap_us(1000);
                }
        }
        printf("ok sent %" PRIu64 "\n", sent);
        (void)fflush(stdout);
        while (read(0, buf, sizeof(buf)) > 0) {
        }
        for (i = 0; i < n; i++) {
                (void)close(socks[i]);
        }
        msgpack_sbuffer_destroy(&hb);
        msgpack_sbuffer_destroy(&lb);
        return 0;
}

/* SipHash-2-4, as daemon/seal.c computes the seal: the attacker knows the
 * algorithm, and here chose the key. */
static uint64_t
rotl(uint64_t x, int b)
{
        return (x << b) | (x >> (64 - b));
}

static void
sipround(uint64_t v[4])
{
        v[0] += v[1];
        v[1] = rotl(v[1], 13) ^ v[0];
        v[0] = rotl(v[0], 32);
        v[2] += v[3];
        v[3] = rotl(v[3], 16) ^ v[2];
        v[0] += v[3];
        v[3] = rotl(v[3], 21) ^ v[0];
        v[2] += v[1];
        v[1] = rotl(v[1], 17) ^ v[2];
        v[2] = rotl(v[2], 32);
}

static uint64_t
le64(const uint8_t *p)
{
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t
siphash(const uint8_t key[16], const uint8_t *in, size_t len)
{
        uint64_t k0 = le64(key), k1 = le64(key + 8);
        uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
                         0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
        uint64_t m, b = (uint64_t)len << 56;
        size_t i;

        for (i = 0; i + 8 <= len; i += 8) {
                m = le64(in + i);
                v[3] ^= m;
                sipround(v);
                sipround(v);
                v[0] ^= m;
        }
        for (m = 0; i + (size_t)(m >> 3) < len && m < 56; m += 8) {
                b |= (uint64_t)in[i + (size_t)(m >> 3)] << m;
        }
        v[3] ^= b;
        sipround(v);
        sipround(v);
        v[0] ^= b;
        v[2] ^= 0xff;
        for (i = 0; i < 4; i++) {
                sipround(v);
        }
        return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Class 7: a forged segment, sealed with a key the attacker chose. */
static int
cmd_plant(int argc, char **argv)
{
        struct tshm__seg_spec spec = {.dtype = TSHM_DTYPE_FLOAT64, .ndim = 1, .shape = {4}};
        struct tshm__hdr hdr;
        uint8_t key[16], buf[sizeof(hdr)];
        char path[512];
        uint64_t size;
        int fd;
        size_t i;

        (void)argc;
        if (strlen(argv[2]) != 32) {
                return 2;
        }
        for (i = 0; i < 16; i++) {
                unsigned x;

                if (sscanf(argv[2] + (size_t)2 * (size_t)i, "%2x", &x) != 1) {
                        return 2;
                }
                key[i] = (uint8_t)x;
        }
        snprintf(spec.name, sizeof(spec.name), "%s", argv[0]);
        spec.owner_uid = (uint32_t)strtoul(argv[3], NULL, 0);
        spec.mode = (uint32_t)strtoul(argv[4], NULL, 8);
        if (tshm__hdr_init(&hdr, &spec) < 0 || tshm__hdr_spec_size(&spec, &size) < 0) {
                return 2;
        }
        memcpy(buf, &hdr, sizeof(buf));
        memset(buf + offsetof(struct tshm__hdr, seq), 0, 64);
        memset(buf + offsetof(struct tshm__hdr, mac), 0, sizeof(hdr.mac));
        hdr.mac = siphash(key, buf, sizeof(buf));
        snprintf(path, sizeof(path), "/dev/shm/%s.%s", argv[1], argv[0]);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
            pwrite(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
                perror(path);
                return 1;
        }
        (void)fchmod(fd, (mode_t)spec.mode); /* past the umask */
        (void)close(fd);
        printf("ok planted %s\n", path);
        return 0;
}

/* Class 3, the C reader: a counter out of range is torn or a timeout,
 * never a negative non-error or a huge version, and never a spin. */
static int
cmd_victim_wait(int argc, char **argv)
{
        tshm_client *c;
        tshm_seg *seg;
        double t0;
        int64_t rv;
        int orv;

        (void)argc;
        (void)connect_or_die(&c);
        if ((orv = tshm_open(c, argv[0], TSHM_OPEN_RDONLY, &seg)) < 0) {
                printf("open %d %s\n", orv, tshm_err_name(orv));
                return 0;
        }
        t0 = cpu_s();
        rv = tshm_wait(seg, 0, 1000);
        printf("wait %" PRId64 " %s cpu %.3f\n", rv, rv < 0 ? tshm_err_name((int)rv) : "-",
               cpu_s() - t0);
        t0 = cpu_s();
        rv = tshm_read_begin(seg, 1000);
        printf("read_begin %" PRId64 " %s cpu %.3f\n", rv, rv < 0 ? tshm_err_name((int)rv) : "-",
               cpu_s() - t0);
        (void)tshm_close(seg);
        tshm_disconnect(c);
        return 0;
}

static int
cmd_victim_take(int argc, char **argv)
{
        tshm_frame fr = {0};
        char line[64];
        tshm_client *c;
        tshm_sub *sub;
        double t0;
        int rv;

        (void)argc;
        (void)connect_or_die(&c);
        if ((rv = tshm_sub_open(c, argv[0], &sub)) < 0) {
                printf("subscribe %d %s\n", rv, tshm_err_name(rv));
                return 0;
        }
        /* Subscribed before the attack: wait for the go. */
        printf("subscribed\n");
        (void)fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL) {
                return 1;
        }
        t0 = cpu_s();
        rv = tshm_sub_take(sub, 1000, &fr);
        printf("take %d %s seq %" PRIu64 " cpu %.3f\n", rv, rv < 0 ? tshm_err_name(rv) : "-",
               rv == 0 ? fr.seq : 0, cpu_s() - t0);
        (void)tshm_sub_close(sub);
        tshm_disconnect(c);
        return 0;
}

static const struct {
        const char *name;
        int nargs;
        int (*fn)(int argc, char **argv);
} commands[] = {
    {"fd", 1, cmd_fd},
    {"churn", 1, cmd_churn},
    {"fill-subtable", 1, cmd_fill_subtable},
    {"pipeline", 2, cmd_pipeline},
    {"plant", 5, cmd_plant},
    {"victim-wait", 1, cmd_victim_wait},
    {"victim-take", 1, cmd_victim_take},
};

int
main(int argc, char **argv)
{
        size_t i;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 3) {
                fprintf(stderr, "usage: tshm-adv-actor SOCKET COMMAND ARGS...\n");
                return 2;
        }
        arg_socket = argv[1];
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(argv[2], commands[i].name) == 0) {
                        if (argc - 3 < commands[i].nargs) {
                                fprintf(stderr, "actor: %s needs %d arguments\n", argv[2],
                                        commands[i].nargs);
                                return 2;
                        }
                        return commands[i].fn(argc - 3, argv + 3);
                }
        }
        fprintf(stderr, "actor: unknown command '%s'\n", argv[2]);
        return 2;
}
