/*
 * gen_corpus.c - write the seed corpus of the fuzz targets with the real
 * encoders, so that the seeds follow the protocol as it is.
 *
 * Usage: gen_corpus DIR   (DIR is tests/fuzz/corpus; the build's
 * "fuzz-corpus" target runs it there). Writes DIR/<target>/<seed> for
 * proto_decode, frame_stream, seg_header, parse_spec and adopt: a valid
 * request and reply for every op, whole frames and streams of them, valid
 * headers for several dtypes and shapes, valid spec strings, objects a
 * restarted daemon adopts, and malformed or planted variants of each. The
 * output is deterministic; commit it. ctest does not run this.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tshm.h"

#include "header.h"
#include "proto.h"

static const char *root;

static void
die(const char *what)
{
        fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
        exit(1);
}

static void
seed_write(const char *target, const char *name, const void *data, size_t len)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                die(path);
        }
        snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
        f = fopen(path, "wb");
        if (f == NULL || (len > 0 && fwrite(data, len, 1, f) != 1) || fclose(f) != 0) {
                die(path);
        }
}

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

static void
gen_requests(void)
{
        static const uint32_t ops[] = {TSHM_OP_HELLO, TSHM_OP_CREATE,     TSHM_OP_OPEN,
                                       TSHM_OP_CLOSE, TSHM_OP_UNLINK,     TSHM_OP_CHMOD,
                                       TSHM_OP_CHOWN, TSHM_OP_GC,         TSHM_OP_STAT,
                                       TSHM_OP_LIST,  TSHM_OP_DAEMON_STAT};
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

static void
gen_replies(void)
{
        struct tshm__reply_enc e;
        char msg[300];
        tshm_daemon_info st;
        tshm_info in;
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
static void
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
static void
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
static void
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

/* ---- seg_header: 8 bytes of mapping size (little-endian), then the header ---- */

static void
hdr_seed(const char *name, const struct tshm__hdr *h, uint64_t map_size)
{
        uint8_t buf[8 + sizeof(*h)];

        memcpy(buf, &map_size, 8); /* tshm hosts are little-endian (header.h) */
        memcpy(buf + 8, h, sizeof(*h));
        seed_write("seg_header", name, buf, sizeof(buf));
}

/* A valid header for @dtype and @shape (@ndim entries); returns its
 * mapping size. */
static uint64_t
hdr_make(struct tshm__hdr *h, tshm_dtype dtype, uint32_t ndim, const uint64_t *shape)
{
        struct tshm__seg_spec spec;
        uint64_t nbytes, size;

        memset(&spec, 0, sizeof(spec));
        strcpy(spec.name, "cam0.frames");
        spec.dtype = dtype;
        spec.ndim = ndim;
        if (ndim > 0) {
                memcpy(spec.shape, shape, ndim * sizeof(shape[0]));
        }
        spec.mode = 0640;
        spec.owner_uid = 1000;
        spec.owner_gid = 1000;
        spec.created_ns = 1700000000000000000ull;
        if (tshm__hdr_init(h, &spec) != 0 || tshm__shape_nbytes(dtype, ndim, shape, &nbytes) != 0 ||
            tshm__hdr_object_size(nbytes, &size) != 0 || tshm__hdr_validate(h, size) != 0) {
                fprintf(stderr, "gen_corpus: cannot make a %s header\n", tshm__dtype_name(dtype));
                exit(1);
        }
        return size;
}

static void
gen_headers(void)
{
        static const uint64_t s34[] = {3, 4}, s234[] = {2, 3, 4}, s05[] = {0, 5},
                              sbig[] = {1024, 1024}, s1[] = {1},
                              s32[TSHM_MAX_NDIM] = {2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1,
                                                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        struct tshm__hdr h;
        uint64_t size;

        hdr_seed("float32-3x4", &h, hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34));
        hdr_seed("uint8-scalar", &h, hdr_make(&h, TSHM_DTYPE_UINT8, 0, NULL));
        hdr_seed("complex128-2x3x4", &h, hdr_make(&h, TSHM_DTYPE_COMPLEX128, 3, s234));
        hdr_seed("bool-0x5", &h, hdr_make(&h, TSHM_DTYPE_BOOL, 2, s05));
        hdr_seed("int64-1024x1024", &h, hdr_make(&h, TSHM_DTYPE_INT64, 2, sbig));
        hdr_seed("bfloat16-1", &h, hdr_make(&h, TSHM_DTYPE_BFLOAT16, 1, s1));
        hdr_seed("float16-32d", &h, hdr_make(&h, TSHM_DTYPE_FLOAT16, TSHM_MAX_NDIM, s32));
        /* Valid without being C-contiguous: Fortran order, a broadcast
         * (zero) stride, and an ephemeral segment in a larger mapping. */
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.strides[0] = 4;
        h.strides[1] = 12;
        hdr_seed("float32-3x4-fortran", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_INT32, 2, s34);
        h.strides[0] = 0;
        hdr_seed("int32-3x4-broadcast", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_UINT16, 3, s234);
        h.flags |= TSHM_HDR_FLAG_EPHEMERAL;
        h.creator_pid = 4242;
        hdr_seed("uint16-ephemeral", &h, size + 65536);
        /* Invalid, one fault each. */
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        hdr_seed("bad-map-too-small", &h, TSHM_HDR_DATA_OFFSET + 47);
        h.strides[1] = -4;
        hdr_seed("bad-negative-stride", &h, size);
        h.strides[1] = 4096;
        hdr_seed("bad-stride-past-end", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.magic[0] = 'X';
        hdr_seed("bad-magic", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        memset(h.name, 'a', sizeof(h.name));
        hdr_seed("bad-name-unterminated", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.flags |= 1u << 20;
        hdr_seed("bad-unknown-flag", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.data_offset = TSHM_HDR_DATA_OFFSET + 8;
        hdr_seed("bad-data-unaligned", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.itemsize = 8;
        hdr_seed("bad-itemsize", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.shape[5] = 1;
        hdr_seed("bad-shape-past-ndim", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_INT8, 2, s34);
        h.shape[0] = 1ull << 62;
        h.shape[1] = 4;
        hdr_seed("bad-shape-overflow", &h, size);
}

/* ---- parse_spec: NUL-separated strings ---- */

static void
spec_seed(const char *name, const char *s, size_t len)
{
        seed_write("parse_spec", name, s, len);
}

#define SPEC_SEED(name, lit) spec_seed(name, lit, sizeof(lit) - 1)

static void
gen_specs(void)
{
        char buf[512];
        size_t n;
        int i;

        SPEC_SEED("create-float32", "frames\0float32\0"
                                    "480x640x3");
        SPEC_SEED("typestr-scalar", "a.b-c_d\0<f4\0scalar");
        SPEC_SEED("bfloat16-0d", "Z9\0bfloat16\0()");
        SPEC_SEED("aliases", "x\0double\0"
                             "1,2,3\0csingle\0"
                             "4X5\0?\0");
        SPEC_SEED("typestrs", "|b1\0=i8\0<c16\0u2\0<V2\0|f4");
        SPEC_SEED("bad-chars", ".hidden\0float128\0"
                               "3x\0with space\0x3\0"
                               "3,,4\0-1");
        SPEC_SEED("edge-extents", "9223372036854775807\0"
                                  "9223372036854775808\0"
                                  "0x9223372036854775807x2\0"
                                  "4611686018427387904x2");
        /* A name of exactly 200 characters and one of 201. */
        memset(buf, 'n', 200);
        buf[200] = '\0';
        memcpy(buf + 201, buf, 200);
        buf[401] = 'n';
        spec_seed("name-200-201", buf, 402);
        /* 32 and 33 dimensions. */
        n = 0;
        for (i = 0; i < 32; i++) {
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s1", i > 0 ? "x" : "");
        }
        buf[n++] = '\0';
        memcpy(buf + n, buf, n - 1);
        n += n - 1;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "x1");
        spec_seed("ndim-32-33", buf, n);
}

/* ---- adopt: object facts, an entry name, then header bytes (fuzz_adopt.c) ---- */

#define ADOPT_SEAL 1u /* the harness seals the header with the daemon's key */
#define ADOPT_REG_0600 (S_IFREG | 0600u)

struct adopt_facts {
        uint32_t mode, uid, euid;
        uint64_t size;
};

static void
adopt_seed(const char *name, uint8_t flags, const struct adopt_facts *o, const char *entry,
           const struct tshm__hdr *h, size_t hlen)
{
        uint8_t buf[22 + 255 + sizeof(*h)];
        /* The entry goes in as a length byte and its bytes, no NUL. */
        size_t elen = strnlen(entry, 256);

        if (elen > 255) {
                fprintf(stderr, "gen_corpus: adopt seed %s: entry name over 255 bytes\n", name);
                exit(1);
        }
        /* tshm hosts are little-endian (header.h). */
        buf[0] = flags;
        memcpy(buf + 1, &o->mode, 4);
        memcpy(buf + 5, &o->uid, 4);
        memcpy(buf + 9, &o->euid, 4);
        memcpy(buf + 13, &o->size, 8);
        buf[21] = (uint8_t)elen;
        memcpy(buf + 22, entry, elen);
        memcpy(buf + 22 + elen, h, hlen);
        seed_write("adopt", name, buf, 22 + elen + hlen);
}

/* A header as the daemon makes it (unsealed: the harness seals), and the
 * size of its object. @slots: 0 for an array. */
static uint64_t
adopt_hdr(struct tshm__hdr *h, uint32_t slots, uint32_t owner)
{
        struct tshm__seg_spec spec;
        uint64_t size;

        memset(&spec, 0, sizeof(spec));
        strcpy(spec.name, "frames");
        spec.dtype = TSHM_DTYPE_FLOAT32;
        spec.ndim = 3;
        spec.shape[0] = 48;
        spec.shape[1] = 64;
        spec.shape[2] = 3;
        spec.mode = 0640;
        spec.owner_uid = owner;
        spec.owner_gid = owner;
        spec.created_ns = 1700000000000000000ull;
        spec.slots = slots;
        if (tshm__hdr_init(h, &spec) != 0 || tshm__hdr_spec_size(&spec, &size) != 0 ||
            tshm__hdr_validate(h, size) != 0) {
                fprintf(stderr, "gen_corpus: cannot make an adoption header\n");
                exit(1);
        }
        return size;
}

static void
gen_adopt(void)
{
        struct adopt_facts ok, o;
        struct tshm__hdr h, s;

        ok = (struct adopt_facts){ADOPT_REG_0600, 0, 0, adopt_hdr(&h, 0, 1000)};
        adopt_seed("array-ok", ADOPT_SEAL, &ok, "tshm.frames", &h, sizeof(h));
        o = (struct adopt_facts){ADOPT_REG_0600, 1000, 1000, ok.size};
        adopt_seed("array-ok-uid-1000", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        o = (struct adopt_facts){ADOPT_REG_0600, 0, 0, adopt_hdr(&s, 8, 1000)};
        adopt_seed("stream-ok", ADOPT_SEAL, &o, "tshm.frames", &s, sizeof(s));
        o.size += 4096;
        adopt_seed("stream-grown", ADOPT_SEAL, &o, "tshm.frames", &s, sizeof(s));
        s = h;
        s.flags |= TSHM_HDR_FLAG_EPHEMERAL;
        s.creator_pid = 4242;
        s.creator_start = 123456;
        adopt_seed("ephemeral-ok", ADOPT_SEAL, &ok, "tshm.frames", &s, sizeof(s));
        /* What another user plants, and what the daemon's own can become. */
        o = ok;
        o.uid = 1000;
        adopt_seed("not-owner", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        o = ok;
        o.mode = S_IFREG | 0644;
        adopt_seed("mode-0644", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        o = (struct adopt_facts){S_IFIFO | 0666, 1000, 0, 0};
        adopt_seed("fifo", 0, &o, "tshm.fifo", &h, 0);
        o = (struct adopt_facts){S_IFLNK | 0777, 1000, 0, 11};
        adopt_seed("symlink", 0, &o, "tshm.link", &h, 0);
        o = ok;
        o.size = 100ull << 30;
        adopt_seed("grown-100g", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        adopt_seed("wrong-name", ADOPT_SEAL, &ok, "tshm.other", &h, sizeof(h));
        adopt_seed("new-leftover", ADOPT_SEAL, &ok, "tshm..new.frames", &h, sizeof(h));
        adopt_seed("other-prefix", ADOPT_SEAL, &ok, "tshmx.frames", &h, sizeof(h));
        adopt_seed("not-sealed", 0, &ok, "tshm.frames", &h, sizeof(h));
        adopt_seed("short-header", ADOPT_SEAL, &ok, "tshm.frames", &h, sizeof(h) / 2);
        o = (struct adopt_facts){ADOPT_REG_0600, 0, 0, 0};
        adopt_seed("empty-file", 0, &o, "tshm.frames", &h, 0);
        /* Every helper flag on, over facts that say otherwise. */
        o = (struct adopt_facts){S_IFIFO | 0777, 7, 0, 1};
        adopt_seed("all-flags", 31, &o, "x", &h, sizeof(h));
}

int
main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
                return 1;
        }
        root = argv[1];
        if (mkdir(root, 0755) < 0 && errno != EEXIST) {
                die(root);
        }
        gen_requests();
        gen_replies();
        gen_bad_keys();
        gen_bad_values();
        gen_streams();
        gen_headers();
        gen_specs();
        gen_adopt();
        return 0;
}
