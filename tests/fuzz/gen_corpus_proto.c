/*
 * gen_corpus_proto.c - the seeds of proto_decode and frame_stream: a valid
 * request and reply for every op, whole frames and streams of them, and
 * malformed variants (gen_corpus.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "gen_corpus.h"
#include "proto.h"

/* ---- proto_decode and frame_stream ---- */

/* One request of each op, with every key its op takes. */
static void
req_example(uint32_t op, struct tshm__req *req)
{
        memset(req, 0, sizeof(*req));
        req->op = op;
        req->id = op;
        req->owner = TSHM_ID_UNCHANGED;
        req->group = TSHM_ID_UNCHANGED;
        strcpy(req->name, "frames.cam-0_left");
        switch (op) {
        case TSHM_OP_HELLO:
                req->version = TSHM_PROTO_VERSION;
                break;
        case TSHM_OP_CREATE:
                req->dtype = TSHM_DTYPE_FLOAT32;
                req->ndim = 3;
                req->shape[0] = 480;
                req->shape[1] = 640;
                req->shape[2] = 3;
                req->mode = 0640;
                req->flags = 1;
                break;
        case TSHM_OP_OPEN:
                req->writable = true;
                break;
        case TSHM_OP_CLOSE:
                req->handle = 7;
                break;
        case TSHM_OP_CHMOD:
                req->mode = 0600;
                break;
        case TSHM_OP_CHOWN:
                req->owner = 1000;
                break;
        case TSHM_OP_GC:
                req->remove = true;
                break;
        case TSHM_OP_LIST:
                req->cursor = 5;
                req->limit = 100;
                break;
        case TSHM_OP_MIRROR:
                strcpy(req->peer, "gpu-box-2.lan:7070");
                strcpy(req->remote, "frames.cam-0_copy");
                break;
        default:
                break;
        }
}

/* Encode @req as a frame into @sb (initialised here). */
static void
req_frame(const struct tshm__req *req, msgpack_sbuffer *sb)
{
        msgpack_sbuffer_init(sb);
        if (tshm__req_encode(req, sb) != 0) {
                fprintf(stderr, "gen_corpus: cannot encode op %u\n", req->op);
                exit(1);
        }
}

/* A request seed in both forms: the payload for proto_decode, the frame for
 * frame_stream. Appends the frame to @stream. */
static void
req_seed(const char *name, const struct tshm__req *req, msgpack_sbuffer *stream)
{
        msgpack_sbuffer sb;

        req_frame(req, &sb);
        seed_write("proto_decode", name, sb.data + 4, sb.size - 4);
        seed_write("frame_stream", name, sb.data, sb.size);
        if (stream != NULL) {
                msgpack_sbuffer_write(stream, sb.data, sb.size);
        }
        msgpack_sbuffer_destroy(&sb);
}

void
gen_requests(void)
{
        static const uint32_t ops[] = {
            TSHM_OP_HELLO,       TSHM_OP_CREATE, TSHM_OP_OPEN,   TSHM_OP_CLOSE, TSHM_OP_UNLINK,
            TSHM_OP_CHMOD,       TSHM_OP_CHOWN,  TSHM_OP_GC,     TSHM_OP_STAT,  TSHM_OP_LIST,
            TSHM_OP_DAEMON_STAT, TSHM_OP_MIRROR, TSHM_OP_MIRRORS};
        msgpack_sbuffer stream;
        struct tshm__req req;
        char name[64];
        size_t i;

        msgpack_sbuffer_init(&stream);
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                req_example(ops[i], &req);
                snprintf(name, sizeof(name), "req-%s", tshm__op_name(ops[i]));
                req_seed(name, &req, &stream);
        }
        /* Shapes at the edges: a scalar, 32 dimensions, a zero extent. */
        req_example(TSHM_OP_CREATE, &req);
        req.ndim = 0;
        req_seed("req-create-scalar", &req, NULL);
        req.ndim = TSHM_MAX_NDIM;
        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                req.shape[i] = 1;
        }
        req.dtype = TSHM_DTYPE_COMPLEX128;
        req_seed("req-create-32d", &req, NULL);
        req.ndim = 2;
        req.shape[0] = 0;
        req.shape[1] = UINT64_MAX;
        req_seed("req-create-huge", &req, NULL);
        /* A mirror stopped: stop and name only. */
        req_example(TSHM_OP_MIRROR, &req);
        req.peer[0] = '\0';
        req.remote[0] = '\0';
        req.stop = true;
        req_seed("req-mirror-stop", &req, NULL);
        /* Every op, back to back, as one stream. */
        seed_write("frame_stream", "stream-all-ops", stream.data, stream.size);
        msgpack_sbuffer_destroy(&stream);
}

static void
info_example(tshm_info *in, const char *name, uint32_t ndim)
{
        uint32_t i;

        memset(in, 0, sizeof(*in));
        strcpy(in->name, name);
        in->dtype = TSHM_DTYPE_UINT16;
        in->ndim = ndim;
        for (i = 0; i < ndim; i++) {
                in->shape[i] = 2 + i;
        }
        in->nbytes = 48;
        in->size = 8192;
        in->owner_uid = 1000;
        in->owner_gid = 100;
        in->mode = 0600;
        in->opens = 2;
        in->created_ns = 1700000000000000000ull;
        in->flags = 0;
}

static void
reply_seed(const char *name, struct tshm__reply_enc *e, int rv)
{
        if (rv != 0) {
                fprintf(stderr, "gen_corpus: cannot encode %s\n", name);
                exit(1);
        }
        seed_write("proto_decode", name, e->sbuf.data + 4, e->sbuf.size - 4);
        tshm__reply_enc_done(e);
        tshm__reply_enc_init(e);
}

void
gen_replies(void)
{
        struct tshm__reply_enc e;
        char msg[300];
        tshm_daemon_info st;
        tshm_info in;
        tshm_mirror_info mi;
        int rv;

        tshm__reply_enc_init(&e);
        reply_seed("reply-hello", &e, tshm__reply_hello(&e, 1, TSHM_PROTO_VERSION));
        reply_seed("reply-fd", &e, tshm__reply_fd(&e, 2, 9, 8192));
        reply_seed("reply-empty", &e, tshm__reply_empty(&e, 3));
        reply_seed("reply-error", &e, tshm__reply_error(&e, 4, TSHM_ENOENT, NULL));
        /* An error message longer than the decoder keeps. */
        memset(msg, 'e', sizeof(msg) - 1);
        msg[sizeof(msg) - 1] = '\0';
        reply_seed("reply-error-long", &e, tshm__reply_error(&e, 4, TSHM_EPROTO, msg));
        info_example(&in, "frames", 3);
        reply_seed("reply-stat", &e, tshm__reply_stat(&e, 5, &in));
        rv = tshm__reply_list_begin(&e, 6, 2);
        rv |= tshm__reply_list_add(&e, &in);
        info_example(&in, "scalar", 0);
        rv |= tshm__reply_list_add(&e, &in);
        rv |= tshm__reply_list_end(&e, 42);
        reply_seed("reply-list", &e, rv);
        memset(&st, 0, sizeof(st));
        st.segments = 3;
        st.bytes = 1u << 20;
        st.clients = 2;
        st.requests = 1234;
        st.uptime_ns = 5000000000ull;
        st.shm_free = 1ull << 30;
        st.pid = 4242;
        st.proto = TSHM_PROTO_VERSION;
        reply_seed("reply-stats", &e, tshm__reply_daemon_stat(&e, 7, &st));
        rv = tshm__reply_gc_begin(&e, 8, 2);
        rv |= tshm__reply_gc_add(&e, "/tshm.stale", "no valid header", true);
        rv |= tshm__reply_gc_add(&e, "/tshm.eph", "ephemeral, creator gone", false);
        rv |= tshm__reply_gc_end(&e);
        reply_seed("reply-gc", &e, rv);
        memset(&mi, 0, sizeof(mi));
        strcpy(mi.name, "frames.cam-0_left");
        strcpy(mi.remote, "frames.cam-0_copy");
        strcpy(mi.peer, "[fe80::1]:7070");
        mi.stream = 1;
        mi.state = TSHM_MIRROR_STALE;
        mi.sent = 1000;
        mi.dropped = 3;
        mi.lag_ns = 2500000;
        mi.seq = 1003;
        mi.reconnects = 1;
        strcpy(mi.error, "connection refused");
        rv = tshm__reply_mirrors_begin(&e, 9, 2);
        rv |= tshm__reply_mirrors_add(&e, &mi);
        mi.incoming = 1;
        mi.error[0] = '\0';
        rv |= tshm__reply_mirrors_add(&e, &mi);
        rv |= tshm__reply_mirrors_end(&e);
        reply_seed("reply-mirrors", &e, rv);
        tshm__reply_enc_done(&e);
}

/* Hand-packed payloads that the decoder must refuse. */
static void
bad_seed(const char *name, msgpack_sbuffer *sb)
{
        uint8_t frame[4];

        seed_write("proto_decode", name, sb->data, sb->size);
        /* The same payload as a frame, for frame_stream. */
        tshm__put_be32(frame, (uint32_t)sb->size);
        msgpack_sbuffer_write(sb, (const char *)frame, sizeof(frame));
        memmove(sb->data + 4, sb->data, sb->size - 4);
        memcpy(sb->data, frame, 4);
        seed_write("frame_stream", name, sb->data, sb->size);
        msgpack_sbuffer_clear(sb);
}

static void
pack_str(msgpack_packer *pk, const char *s)
{
        msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void
pack_head(msgpack_packer *pk, uint32_t n, uint32_t op)
{
        msgpack_pack_map(pk, n);
        pack_str(pk, "op");
        msgpack_pack_uint32(pk, op);
        pack_str(pk, "id");
        msgpack_pack_uint64(pk, 1);
}

/* Requests whose keys are wrong. */
void
gen_bad_keys(void)
{
        msgpack_sbuffer sb;
        msgpack_packer pk;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint32(&pk, TSHM_OP_HELLO);
        msgpack_pack_uint32(&pk, 1);
        bad_seed("bad-not-a-map", &sb);
        pack_head(&pk, 3, TSHM_OP_HELLO);
        pack_str(&pk, "op");
        msgpack_pack_uint32(&pk, TSHM_OP_HELLO);
        bad_seed("bad-duplicate-key", &sb);
        pack_head(&pk, 4, TSHM_OP_HELLO);
        pack_str(&pk, "version");
        msgpack_pack_uint32(&pk, 1);
        pack_str(&pk, "colour");
        pack_str(&pk, "blue");
        bad_seed("bad-unknown-key", &sb);
        pack_head(&pk, 2, 999);
        bad_seed("bad-unknown-op", &sb);
        pack_head(&pk, 2, TSHM_OP_OPEN);
        bad_seed("bad-missing-key", &sb);
        msgpack_sbuffer_destroy(&sb);
}

/* Requests whose values are wrong, and bytes that are no msgpack value. */
void
gen_bad_values(void)
{
        static const uint8_t deep[] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x90};
        static const uint8_t huge_map[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa2, 'o', 'p'};
        static const uint8_t huge_str[] = {0x81, 0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
        msgpack_sbuffer sb;
        msgpack_packer pk;
        uint32_t i;

        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_head(&pk, 3, TSHM_OP_OPEN);
        pack_str(&pk, "name");
        pack_str(&pk, ".hidden");
        bad_seed("bad-name", &sb);
        pack_head(&pk, 5, TSHM_OP_CREATE);
        pack_str(&pk, "name");
        pack_str(&pk, "x");
        pack_str(&pk, "dtype");
        pack_str(&pk, "float128");
        pack_str(&pk, "shape");
        msgpack_pack_array(&pk, 0);
        bad_seed("bad-dtype", &sb);
        pack_head(&pk, 5, TSHM_OP_CREATE);
        pack_str(&pk, "name");
        pack_str(&pk, "x");
        pack_str(&pk, "dtype");
        pack_str(&pk, "<f8");
        pack_str(&pk, "shape");
        msgpack_pack_array(&pk, TSHM_MAX_NDIM + 1);
        for (i = 0; i < TSHM_MAX_NDIM + 1; i++) {
                msgpack_pack_uint32(&pk, 1);
        }
        bad_seed("bad-33-dims", &sb);
        pack_head(&pk, 5, TSHM_OP_CREATE);
        pack_str(&pk, "name");
        pack_str(&pk, "x");
        pack_str(&pk, "dtype");
        pack_str(&pk, "int8");
        pack_str(&pk, "shape");
        msgpack_pack_array(&pk, 1);
        msgpack_pack_int32(&pk, -1);
        bad_seed("bad-negative-extent", &sb);
        pack_head(&pk, 4, TSHM_OP_CHMOD);
        pack_str(&pk, "name");
        pack_str(&pk, "x");
        pack_str(&pk, "mode");
        msgpack_pack_uint32(&pk, 01000);
        bad_seed("bad-mode", &sb);
        pack_head(&pk, 3, TSHM_OP_HELLO);
        pack_str(&pk, "version");
        msgpack_pack_uint32(&pk, 1);
        msgpack_pack_nil(&pk);
        bad_seed("bad-trailing-byte", &sb);
        msgpack_sbuffer_write(&sb, (const char *)deep, sizeof(deep));
        bad_seed("bad-too-deep", &sb);
        msgpack_sbuffer_write(&sb, (const char *)huge_map, sizeof(huge_map));
        bad_seed("bad-huge-count", &sb);
        msgpack_sbuffer_write(&sb, (const char *)huge_str, sizeof(huge_str));
        bad_seed("bad-huge-length", &sb);
        msgpack_sbuffer_destroy(&sb);
}

/* Streams that break the framing. */
void
gen_streams(void)
{
        static const uint8_t oversize[] = {0x00, 0x01, 0x00, 0x01, 0x80};
        static const uint8_t empty_frames[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        static const uint8_t partial[] = {0x00, 0x00, 0x10, 0x00, 0x81, 0xa2, 'o', 'p'};
        static const uint8_t max_len[] = {0x00, 0x01, 0x00, 0x00, 0x80};
        uint8_t body[4 + 65], *big;
        struct tshm__req req;
        msgpack_sbuffer sb;

        seed_write("frame_stream", "bad-oversize", oversize, sizeof(oversize));
        seed_write("frame_stream", "empty-frames", empty_frames, sizeof(empty_frames));
        seed_write("frame_stream", "partial-frame", partial, sizeof(partial));
        seed_write("frame_stream", "max-length", max_len, sizeof(max_len));
        /* Frames at the 64-byte limit of fuzz_frame_stream's second pass. */
        memset(body, 0xc0, sizeof(body));
        tshm__put_be32(body, 64);
        seed_write("frame_stream", "length-64", body, 4 + 64);
        tshm__put_be32(body, 65);
        seed_write("frame_stream", "length-65", body, 4 + 65);
        /* A frame of TSHM_PROTO_MAX_REQUEST bytes, one str32, so that the
         * reader grows to its limit and gives the buffer back. Its bytes,
         * 0x8e, make fuzz_frame_stream feed it in the largest chunks, which
         * keeps the fuzzer fast on it. */
        big = malloc(4 + TSHM_PROTO_MAX_REQUEST);
        if (big == NULL) {
                die("malloc");
        }
        memset(big, 0x8e, 4 + TSHM_PROTO_MAX_REQUEST);
        tshm__put_be32(big, TSHM_PROTO_MAX_REQUEST);
        big[4] = 0xdb;
        tshm__put_be32(big + 5, TSHM_PROTO_MAX_REQUEST - 5);
        seed_write("frame_stream", "length-max", big, 4 + TSHM_PROTO_MAX_REQUEST);
        free(big);
        /* A valid frame cut short by one byte. */
        req_example(TSHM_OP_CREATE, &req);
        req_frame(&req, &sb);
        seed_write("frame_stream", "truncated-create", sb.data, sb.size - 1);
        seed_write("proto_decode", "truncated-create", sb.data + 4, sb.size - 5);
        msgpack_sbuffer_destroy(&sb);
}
