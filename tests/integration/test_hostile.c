/*
 * test_hostile.c - malformed and hostile messages. Each entry is sent on a
 * fresh raw connection; the daemon must answer with an error reply or close
 * the connection, stay up, and keep serving another client.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include <msgpack.h>

#include "tshm.h"

#include "fixture.h"
#include "proto.h"

static int
raw_connect(const struct tshmd_fixture *f)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ck_assert_int_ge(fd, 0);
        memcpy(sa.sun_path, f->socket, strlen(f->socket) + 1);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        return fd;
}

/* Read until EOF or one whole reply frame. Returns the reply's status, 1
 * when the daemon closed without a reply, or 2 when nothing came in 5 s. */
static int
raw_outcome(int fd)
{
        uint8_t buf[4096];
        size_t have = 0;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct tshm__reply reply;
        ssize_t n;

        for (;;) {
                if (poll(&p, 1, 5000) != 1) {
                        return 2;
                }
                n = recv(fd, buf + have, sizeof(buf) - have, 0);
                if (n <= 0) {
                        return 1;
                }
                have += (size_t)n;
                if (have >= 4 && have >= 4 + tshm__get_be32(buf)) {
                        ck_assert_int_eq(
                            tshm__reply_decode(buf + 4, tshm__get_be32(buf), 0, &reply), 0);
                        ck_assert_int_lt(reply.status, 0);
                        return reply.status;
                }
        }
}

/* Frame a payload (big-endian length first). */
static size_t
frame(uint8_t *out, const uint8_t *payload, size_t len)
{
        tshm__put_be32(out, (uint32_t)len);
        memcpy(out + 4, payload, len);
        return len + 4;
}

/* A valid hello, so later messages are judged on their own. */
static void
raw_hello(int fd)
{
        struct tshm__req req = {.op = TSHM_OP_HELLO, .id = 1, .version = TSHM_PROTO_VERSION};
        msgpack_sbuffer sb;
        uint8_t buf[256];
        struct tshm__reply reply;
        ssize_t n;

        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(&req, &sb), 0);
        ck_assert_int_eq(send(fd, sb.data, sb.size, MSG_NOSIGNAL), (ssize_t)sb.size);
        msgpack_sbuffer_destroy(&sb);
        n = recv(fd, buf, sizeof(buf), 0);
        ck_assert_int_gt(n, 4);
        ck_assert_int_eq(tshm__reply_decode(buf + 4, (size_t)n - 4, TSHM_OP_HELLO, &reply), 0);
        ck_assert_int_eq(reply.status, 0);
}

struct hostile {
        const char *what;
        bool hello_first;
        const uint8_t *bytes;
        size_t len;
        bool framed; /* add the length prefix */
};

#define B(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* msgpack: 0x82 = map of 2; 0xa2 'o' 'p' = "op"; 0xa2 'i' 'd' = "id". */
#define OP_ID(op_hi, op_lo) 0xa2, 'o', 'p', 0xcd, op_hi, op_lo, 0xa2, 'i', 'd', 0x07

static const struct hostile table[] = {
    {"empty frame", false, B(0), true},
    {"not a map", false, B(0x93, 1, 2, 3), true},
    {"a bare integer", false, B(0x2a), true},
    {"truncated map", false, B(0x82, 0xa2, 'o', 'p'), true},
    {"trailing bytes", true, B(0x82, OP_ID(0x01, 0x2e), 0xc0), true},
    {"reserved byte 0xc1", false, B(0xc1), true},
    {"array32 claiming 4G elements", false, B(0xdd, 0xff, 0xff, 0xff, 0xff), true},
    {"map32 claiming 4G pairs", false, B(0xdf, 0xff, 0xff, 0xff, 0xff), true},
    {"str32 claiming 4 GiB", false, B(0x81, 0xdb, 0xff, 0xff, 0xff, 0xff), true},
    {"bin32 claiming 4 GiB", false, B(0x81, 0xc6, 0xff, 0xff, 0xff, 0xff), true},
    {"nesting 40 deep", false,
     B(0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
       0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
       0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0),
     true},
    {"frame length 4 GiB", false, B(0xff, 0xff, 0xff, 0xff), false},
    {"frame length just over the limit", false, B(0x00, 0x01, 0x00, 0x01), false},
    {"op before hello", false, B(0x82, OP_ID(0x01, 0x2c)), true},
    {"unknown op 999", true, B(0x82, OP_ID(0x03, 0xe7)), true},
    {"op as a string", true, B(0x82, 0xa2, 'o', 'p', 0xa1, 'x', 0xa2, 'i', 'd', 0x07), true},
    {"negative id", true, B(0x82, 0xa2, 'o', 'p', 0xcc, 0x64, 0xa2, 'i', 'd', 0xff), true},
    {"unknown key", true, B(0x83, OP_ID(0x01, 0x2e), 0xa3, 'z', 'z', 'z', 0x01), true},
    {"duplicate key", true, B(0x83, OP_ID(0x01, 0x2e), 0xa2, 'i', 'd', 0x08), true},
    {"key not a string", true, B(0x83, OP_ID(0x01, 0x2e), 0x05, 0x01), true},
    {"stats with a name", true, B(0x83, OP_ID(0x01, 0x2e), 0xa4, 'n', 'a', 'm', 'e', 0xa1, 'x'),
     true},
    {"open without a name", true, B(0x82, OP_ID(0x00, 0xc9)), true},
    {"bad name '../etc'", true,
     B(0x83, OP_ID(0x00, 0xc9), 0xa4, 'n', 'a', 'm', 'e', 0xa6, '.', '.', '/', 'e', 't', 'c'),
     true},
    {"name with a NUL", true,
     B(0x83, OP_ID(0x00, 0xc9), 0xa4, 'n', 'a', 'm', 'e', 0xa3, 'a', 0x00, 'b'), true},
    {"create with 40 dimensions", true,
     B(0x85, OP_ID(0x00, 0xc8), 0xa4, 'n', 'a', 'm', 'e', 0xa1, 'x', 0xa5, 'd', 't', 'y', 'p', 'e',
       0xa4, 'i', 'n', 't', '8', 0xa5, 's', 'h', 'a', 'p', 'e', 0xdc, 0x00, 0x28, 1, 1, 1, 1, 1, 1,
       1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
       1, 1, 1),
     true},
    {"create with an absurd shape", true,
     B(0x85, OP_ID(0x00, 0xc8), 0xa4, 'n', 'a', 'm', 'e', 0xa1, 'x', 0xa5, 'd', 't', 'y', 'p', 'e',
       0xa4, 'i', 'n', 't', '8', 0xa5, 's', 'h', 'a', 'p', 'e', 0x92, 0xcf, 0xff, 0xff, 0xff, 0xff,
       0xff, 0xff, 0xff, 0xff, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
     true},
    {"create with a negative extent", true,
     B(0x85, OP_ID(0x00, 0xc8), 0xa4, 'n', 'a', 'm', 'e', 0xa1, 'x', 0xa5, 'd', 't', 'y', 'p', 'e',
       0xa4, 'i', 'n', 't', '8', 0xa5, 's', 'h', 'a', 'p', 'e', 0x91, 0xff),
     true},
    {"create with dtype float128", true,
     B(0x85, OP_ID(0x00, 0xc8), 0xa4, 'n', 'a', 'm', 'e', 0xa1, 'x', 0xa5, 'd', 't', 'y', 'p', 'e',
       0xa8, 'f', 'l', 'o', 'a', 't', '1', '2', '8', 0xa5, 's', 'h', 'a', 'p', 'e', 0x90),
     true},
    {"close of a handle never opened", true,
     B(0x83, OP_ID(0x00, 0xca), 0xa6, 'h', 'a', 'n', 'd', 'l', 'e', 0xcf, 0x7f, 0xff, 0xff, 0xff,
       0xff, 0xff, 0xff, 0xff),
     true},
    {"hello with version 999", false,
     B(0x83, OP_ID(0x00, 0x64), 0xa7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0xcd, 0x03, 0xe7), true},
};

START_TEST(test_hostile_input_is_refused)
{
        struct tshmd_fixture f;
        uint8_t buf[512];
        tshm_client *good;
        tshm_seg *s;
        tshm_daemon_info st;
        size_t i, len;
        int fd, outcome;

        fixture_start(&f, NULL);
        good = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(good, "survivor", TSHM_DTYPE_INT32, 0, NULL, 0, 0, &s), 0);
        ck_assert_uint_ge(sizeof(table) / sizeof(table[0]), 20);
        for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                const struct hostile *h = &table[i];
                fd = raw_connect(&f);
                if (h->hello_first) {
                        raw_hello(fd);
                }
                len = h->framed ? frame(buf, h->bytes, h->len) : h->len;
                if (!h->framed) {
                        memcpy(buf, h->bytes, h->len);
                }
                ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
                outcome = raw_outcome(fd);
                ck_assert_msg(outcome != 2, "%s: no reply and no close", h->what);
                (void)close(fd);
                /* The daemon still serves the client that behaved. */
                ck_assert_msg(tshm_daemon_stat(good, &st) == 0, "%s: daemon stopped serving",
                              h->what);
                *(int32_t *)tshm_seg_data(s) = (int32_t)i;
        }
        ck_assert_uint_eq(st.segments, 1);
        tshm_close(s);
        tshm_disconnect(good);
        fixture_teardown(&f);
}
END_TEST

/* hello with @version: the reply's status, and its version in *ret. */
static int
raw_hello_version(const struct tshmd_fixture *f, uint32_t version, uint32_t *ret)
{
        struct tshm__req req = {.op = TSHM_OP_HELLO, .id = 1, .version = version};
        struct tshm__reply reply;
        msgpack_sbuffer sb;
        uint8_t buf[512];
        int fd = raw_connect(f);
        ssize_t n;

        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(&req, &sb), 0);
        ck_assert_int_eq(send(fd, sb.data, sb.size, MSG_NOSIGNAL), (ssize_t)sb.size);
        msgpack_sbuffer_destroy(&sb);
        n = recv(fd, buf, sizeof(buf), 0);
        close(fd);
        ck_assert_int_gt(n, 4);
        ck_assert_int_eq(tshm__reply_decode(buf + 4, (size_t)n - 4, TSHM_OP_HELLO, &reply), 0);
        *ret = reply.version;
        return reply.status;
}

/* tshmd speaks versions 1 and 2, answering with the version asked, and
 * refuses any other. */
START_TEST(test_hostile_protocol_versions)
{
        struct tshmd_fixture f;
        uint32_t v = 0;

        fixture_start(&f, NULL);
        ck_assert_int_eq(raw_hello_version(&f, TSHM_PROTO_VERSION, &v), 0);
        ck_assert_uint_eq(v, TSHM_PROTO_VERSION);
        ck_assert_int_eq(raw_hello_version(&f, 1, &v), 0);
        ck_assert_uint_eq(v, 1);
        ck_assert_int_eq(raw_hello_version(&f, 0, &v), TSHM_EVERSION);
        ck_assert_int_eq(raw_hello_version(&f, TSHM_PROTO_VERSION + 1, &v), TSHM_EVERSION);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_hostile_half_frame_then_hangup)
{
        struct tshmd_fixture f;
        tshm_client *good;
        tshm_daemon_info st;
        int fd;

        fixture_start(&f, NULL);
        good = fixture_connect(&f);
        fd = raw_connect(&f);
        ck_assert_int_eq(send(fd, "\x00\x00\x10\x00\x82", 5, MSG_NOSIGNAL), 5);
        (void)close(fd);
        ck_assert_int_eq(tshm_daemon_stat(good, &st), 0);
        tshm_disconnect(good);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_hostile_descriptor_exhaustion)
{
        struct tshmd_fixture f;
        tshm_client *good;
        tshm_daemon_info st;
        int fds[64], i, n = 0;

        /* tshmd gets 32 descriptors; 64 idle connections exhaust them. */
        fixture_start_nofile(&f, NULL, 32);
        good = fixture_connect(&f);
        for (i = 0; i < 64; i++) {
                fds[n++] = raw_connect(&f);
        }
        /* The daemon keeps serving the client it has... */
        ck_assert_int_eq(tshm_daemon_stat(good, &st), 0);
        ck_assert_uint_lt(st.clients, 32);
        for (i = 0; i < n; i++) {
                (void)close(fds[i]);
        }
        /* ...and accepts again once descriptors are free. */
        for (i = 0; i < 100; i++) {
                tshm_client *again = NULL;
                if (tshm_connect(f.socket, &again) == 0) {
                        tshm_disconnect(again);
                        break;
                }
                usleep(20000);
        }
        ck_assert_int_lt(i, 100);
        tshm_disconnect(good);
        fixture_teardown(&f);
}
END_TEST

/* Open @name read-write the way a hostile client would: speak the protocol
 * and keep the descriptor libtshm would have closed. */
static int
raw_open_fd(int sock, const char *name)
{
        struct tshm__req req = {.op = TSHM_OP_OPEN, .id = 2, .writable = true};
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } ctl;
        uint8_t buf[512];
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        struct cmsghdr *cm;
        msgpack_sbuffer sb;
        int fd = -1;

        snprintf(req.name, sizeof(req.name), "%s", name);
        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(&req, &sb), 0);
        ck_assert_int_eq(send(sock, sb.data, sb.size, MSG_NOSIGNAL), (ssize_t)sb.size);
        msgpack_sbuffer_destroy(&sb);
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        ck_assert_int_gt(recvmsg(sock, &mh, 0), 0);
        cm = CMSG_FIRSTHDR(&mh);
        ck_assert_ptr_nonnull(cm);
        memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
        return fd;
}

/* Read exactly one reply frame, taking the descriptor that arrives with its
 * first bytes (-1 if none), and decode it as a reply to @op. */
static int
raw_read_reply(int sock, uint32_t op, struct tshm__reply *ret)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } ctl;
        uint8_t hdr[4], payload[1024];
        struct iovec iov = {.iov_base = hdr, .iov_len = sizeof(hdr)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        struct cmsghdr *cm;
        uint32_t len;
        int fd = -1;

        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        ck_assert_int_eq(recvmsg(sock, &mh, MSG_WAITALL), (ssize_t)sizeof(hdr));
        if ((cm = CMSG_FIRSTHDR(&mh)) != NULL) {
                ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
                memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
        }
        len = tshm__get_be32(hdr);
        ck_assert_uint_le(len, sizeof(payload));
        ck_assert_int_eq(recv(sock, payload, len, MSG_WAITALL), (ssize_t)len);
        ck_assert_int_eq(tshm__reply_decode(payload, len, op, ret), 0);
        return fd;
}

/* Requests sent in one write are answered in order, their replies leave
 * several to a write, and each descriptor comes with the bytes of its own
 * reply (an open), never with a stat's before it. */
START_TEST(test_hostile_pipelined_replies_keep_their_descriptors)
{
        static const uint32_t ops[] = {TSHM_OP_STAT, TSHM_OP_OPEN, TSHM_OP_STAT,
                                       TSHM_OP_OPEN, TSHM_OP_OPEN, TSHM_OP_STAT};
        struct tshmd_fixture f;
        struct tshm__reply reply;
        uint8_t batch[1024];
        msgpack_sbuffer sb;
        tshm_client *good;
        size_t i, used = 0;
        struct stat st;
        tshm_seg *s;
        int sock, fd;

        fixture_start(&f, NULL);
        good = fixture_connect(&f);
        ck_assert_int_eq(
            tshm_create(good, "piped", TSHM_DTYPE_UINT8, 1, (uint64_t[]){4096}, 0, 0, &s), 0);
        sock = raw_connect(&f);
        raw_hello(sock);
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                struct tshm__req req = {.op = ops[i], .id = 10 + i};

                snprintf(req.name, sizeof(req.name), "piped");
                msgpack_sbuffer_init(&sb);
                ck_assert_int_eq(tshm__req_encode(&req, &sb), 0);
                ck_assert_uint_le(used + sb.size, sizeof(batch));
                memcpy(batch + used, sb.data, sb.size);
                used += sb.size;
                msgpack_sbuffer_destroy(&sb);
        }
        ck_assert_int_eq(send(sock, batch, used, MSG_NOSIGNAL), (ssize_t)used);
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                fd = raw_read_reply(sock, ops[i], &reply);
                ck_assert_uint_eq(reply.id, 10 + i);
                ck_assert_int_eq(reply.status, 0);
                if (ops[i] == TSHM_OP_OPEN) {
                        ck_assert_int_ge(fd, 0);
                        ck_assert_int_eq(fstat(fd, &st), 0);
                        ck_assert_int_ge(st.st_size, 4096);
                        close(fd);
                } else {
                        ck_assert_int_eq(fd, -1);
                }
        }
        close(sock);
        ck_assert_int_eq(tshm_close(s), 0);
        tshm_disconnect(good);
        fixture_teardown(&f);
}
END_TEST

/* Replies that wait in the daemon's queue leave several to a write once the
 * client reads; a descriptor still comes with its own reply's bytes. The
 * client sends PIPE_BACKLOG stats first, more replies than the socket holds
 * (a small frame costs the socket a whole buffer), then opens and stats
 * interleaved, and reads nothing until all of them are handled. */
#define PIPE_BACKLOG 1500
#define PIPE_PAIRS 16

START_TEST(test_hostile_backlogged_replies_keep_their_descriptors)
{
        static uint8_t batch[(PIPE_BACKLOG + 2 * PIPE_PAIRS) * 64];
        struct tshmd_fixture f;
        struct tshm__reply reply;
        msgpack_sbuffer sb;
        tshm_client *good;
        size_t i, used = 0, total = PIPE_BACKLOG + 2 * PIPE_PAIRS;
        struct stat st;
        tshm_info info;
        tshm_seg *s;
        int sock, fd;

        fixture_start(&f, NULL);
        good = fixture_connect(&f);
        ck_assert_int_eq(
            tshm_create(good, "piped", TSHM_DTYPE_UINT8, 1, (uint64_t[]){4096}, 0, 0, &s), 0);
        sock = raw_connect(&f);
        raw_hello(sock);
        for (i = 0; i < total; i++) {
                bool open = i >= PIPE_BACKLOG && (i - PIPE_BACKLOG) % 2 == 0;
                struct tshm__req req = {.op = open ? TSHM_OP_OPEN : TSHM_OP_STAT, .id = 10 + i};

                snprintf(req.name, sizeof(req.name), "piped");
                msgpack_sbuffer_init(&sb);
                ck_assert_int_eq(tshm__req_encode(&req, &sb), 0);
                ck_assert_uint_le(used + sb.size, sizeof(batch));
                memcpy(batch + used, sb.data, sb.size);
                used += sb.size;
                msgpack_sbuffer_destroy(&sb);
        }
        ck_assert_uint_le(used, 65536); /* one read of the daemon's */
        ck_assert_int_eq(send(sock, batch, used, MSG_NOSIGNAL), (ssize_t)used);
        /* All of it was in the daemon's socket before this request: it has
         * read and handled it by the time this reply comes. */
        ck_assert_int_eq(tshm_stat(good, "piped", &info), 0);
        for (i = 0; i < total; i++) {
                bool open = i >= PIPE_BACKLOG && (i - PIPE_BACKLOG) % 2 == 0;

                fd = raw_read_reply(sock, open ? TSHM_OP_OPEN : TSHM_OP_STAT, &reply);
                ck_assert_uint_eq(reply.id, 10 + i);
                ck_assert_int_eq(reply.status, 0);
                if (open) {
                        ck_assert_int_ge(fd, 0);
                        ck_assert_int_eq(fstat(fd, &st), 0);
                        close(fd);
                } else {
                        ck_assert_int_eq(fd, -1);
                }
        }
        close(sock);
        ck_assert_int_eq(tshm_close(s), 0);
        tshm_disconnect(good);
        fixture_teardown(&f);
}
END_TEST

START_TEST(test_hostile_resize_is_undone)
{
        struct tshmd_fixture f;
        struct stat st;
        tshm_client *good;
        tshm_seg *s;
        int sock, fd, i, status;
        pid_t reader;

        fixture_start(&f, NULL);
        good = fixture_connect(&f);
        ck_assert_int_eq(
            tshm_create(good, "victim", TSHM_DTYPE_UINT8, 1, (uint64_t[]){1 << 20}, 0, 0, &s), 0);
        memset(tshm_seg_data(s), 7, 1 << 20);
        sock = raw_connect(&f);
        raw_hello(sock);
        fd = raw_open_fd(sock, "victim");
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        /* The daemon puts the size back (and reserves the pages again). */
        for (i = 0; i < 500; i++) {
                ck_assert_int_eq(fstat(fd, &st), 0);
                if (st.st_size == 4096 + (1 << 20)) {
                        break;
                }
                usleep(10000);
        }
        ck_assert_int_eq(st.st_size, 4096 + (1 << 20));
        /* Other mappers read every page without a fault; the cut bytes read
         * as zeros. */
        reader = tshm_test_fork();
        if (reader == 0) {
                const volatile uint8_t *d = tshm_seg_data(s);
                unsigned sum = 0;
                for (i = 0; i < (1 << 20); i += 4096) {
                        sum += d[i];
                }
                _exit(sum == 0 ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(reader, &status, 0), reader);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader status %#x", status);
        /* Growing it is undone too. */
        ck_assert_int_eq(ftruncate(fd, 64 << 20), 0);
        for (i = 0; i < 500; i++) {
                ck_assert_int_eq(fstat(fd, &st), 0);
                if (st.st_size == 4096 + (1 << 20)) {
                        break;
                }
                usleep(10000);
        }
        ck_assert_int_eq(st.st_size, 4096 + (1 << 20));
        close(fd);
        close(sock);
        tshm_close(s);
        tshm_disconnect(good);
        fixture_teardown(&f);
}
END_TEST

/* The header as a writer's mapping sees it. */
static uint8_t *
header_of(tshm_seg *s)
{
        return (uint8_t *)tshm_seg_data(s) - 4096;
}

START_TEST(test_hostile_header_tampering)
{
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *w, *r, *keep;
        tshm_info info;
        uint32_t mode = 0666;
        uint64_t extent = 2;
        int status;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(c, "keep", TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0, 0, &keep),
                         0);
        tshm_close(keep);
        ck_assert_int_eq(tshm_create(c, "t", TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0600, 0, &w), 0);
        /* A writer grants everyone access and reshapes the array in the
         * header (offsets from PROTOCOL.md: mode at 44, shape at 128). */
        memcpy(header_of(w) + 44, &mode, sizeof(mode));
        memcpy(header_of(w) + 128, &extent, sizeof(extent));
        /* The registry decides, and the next open finds a repaired header. */
        ck_assert_int_eq(tshm_stat(c, "t", &info), 0);
        ck_assert_uint_eq(info.mode, 0600);
        ck_assert_int_eq(tshm_open(c, "t", TSHM_OPEN_RDONLY, &r), 0);
        ck_assert_uint_eq(tshm_seg_shape(r)[0], 4);
        tshm_close(r);
        ck_assert(memcmp(header_of(w) + 44, &mode, sizeof(mode)) != 0);
        /* Tampered again and the daemon dies: the restarted one does not
         * adopt a header whose seal does not match, and gc reports it. */
        memcpy(header_of(w) + 44, &mode, sizeof(mode));
        ck_assert_int_eq(kill(f.pid, SIGKILL), 0);
        ck_assert_int_eq(waitpid(f.pid, &status, 0), f.pid);
        f.pid = 0;
        fixture_restart(&f, NULL);
        ck_assert_int_eq(tshm_stat(c, "t", &info), TSHM_ENOENT);
        ck_assert_int_eq(tshm_stat(c, "keep", &info), 0);
        {
                tshm_gc_entry *g;
                size_t n;
                ck_assert_int_eq(tshm_gc(c, 0, &g, &n), 0);
                ck_assert_uint_eq(n, 1);
                ck_assert_ptr_nonnull(strstr(g[0].object, ".t"));
                tshm_gc_free(g);
        }
        tshm_close(w);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("hostile");

        tshm_test_case(s, "table", 120,
                       TSHM_TESTS(test_hostile_input_is_refused, test_hostile_protocol_versions,
                                  test_hostile_half_frame_then_hangup,
                                  test_hostile_descriptor_exhaustion,
                                  test_hostile_pipelined_replies_keep_their_descriptors,
                                  test_hostile_backlogged_replies_keep_their_descriptors,
                                  test_hostile_resize_is_undone, test_hostile_header_tampering));
        return tshm_test_run(s);
}
