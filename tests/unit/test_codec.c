/*
 * test_codec.c - request and reply encoding and decoding (proto/codec.c).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const uint32_t all_ops[] = {
    TSHM_OP_HELLO,  TSHM_OP_CREATE, TSHM_OP_OPEN, TSHM_OP_CLOSE,
    TSHM_OP_UNLINK, TSHM_OP_STAT,   TSHM_OP_LIST, TSHM_OP_DAEMON_STAT,
};

#define NOPS (sizeof(all_ops) / sizeof(all_ops[0]))

/* ---- hand-built messages ---- */

struct mb {
        msgpack_sbuffer sb;
        msgpack_packer pk;
};

static void
mb_init(struct mb *m)
{
        msgpack_sbuffer_init(&m->sb);
        msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void
mb_done(struct mb *m)
{
        msgpack_sbuffer_destroy(&m->sb);
}

static void
p_str(struct mb *m, const char *s)
{
        msgpack_pack_str_with_body(&m->pk, s, strlen(s));
}

static void
p_kv_u(struct mb *m, const char *k, uint64_t v)
{
        p_str(m, k);
        msgpack_pack_uint64(&m->pk, v);
}

static void
p_kv_i(struct mb *m, const char *k, int64_t v)
{
        p_str(m, k);
        msgpack_pack_int64(&m->pk, v);
}

static void
p_kv_s(struct mb *m, const char *k, const char *v)
{
        p_str(m, k);
        p_str(m, v);
}

/* Decode the hand-built payload in @m as a request. */
static int
m_req(struct mb *m, struct tshm__req *req, char *err, size_t errlen)
{
        err[0] = '\0';
        return tshm__req_decode((const uint8_t *)m->sb.data, m->sb.size, req, err, errlen);
}

/* Decode the hand-built payload in @m as the reply to @op. */
static int
m_reply(struct mb *m, uint32_t op, struct tshm__reply *reply)
{
        return tshm__reply_decode((const uint8_t *)m->sb.data, m->sb.size, op, reply);
}

/* Assert that @m decodes to @want, with a reason in err and, when @op is not
 * 0, the op and id of the request still set. */
static void
expect_req_error(struct mb *m, int want, uint32_t op, uint64_t id)
{
        struct tshm__req req;
        char err[128];
        int rv = m_req(m, &req, err, sizeof(err));

        ck_assert_msg(rv == want, "decoded to %d (%s), want %d (%s); err '%s'", rv,
                      tshm_err_name(rv), want, tshm_err_name(want), err);
        ck_assert_msg(err[0] != '\0', "no reason given");
        ck_assert_uint_lt(strlen(err), sizeof(err));
        if (op != 0) {
                ck_assert_uint_eq(req.op, op);
                ck_assert_uint_eq(req.id, id);
        }
}

/* ---- encoded frames ---- */

/* Check the length prefix of the frame in @sb and return its payload. */
static const uint8_t *
frame_payload(const msgpack_sbuffer *sb, size_t *ret_len)
{
        ck_assert_uint_ge(sb->size, 5);
        ck_assert_uint_eq(tshm__get_be32((const uint8_t *)sb->data), sb->size - 4);
        *ret_len = sb->size - 4;
        return (const uint8_t *)sb->data + 4;
}

/* A request of @op with every field the op carries set to something other
 * than 0. */
static void
fill_req(struct tshm__req *req, uint32_t op)
{
        memset(req, 0, sizeof(*req));
        req->op = op;
        req->id = 0x0123456789abcdefull + op;
        switch (op) {
        case TSHM_OP_HELLO:
                req->version = TSHM_PROTO_VERSION;
                break;
        case TSHM_OP_CREATE:
                snprintf(req->name, sizeof(req->name), "model.weights-%u_A", op);
                req->dtype = TSHM_DTYPE_BFLOAT16;
                req->ndim = 3;
                req->shape[0] = 2;
                req->shape[1] = 0;
                req->shape[2] = 1ull << 40;
                req->mode = 0640;
                req->flags = 0x5;
                break;
        case TSHM_OP_OPEN:
                snprintf(req->name, sizeof(req->name), "open-me");
                req->writable = true;
                break;
        case TSHM_OP_CLOSE:
                req->handle = UINT64_MAX - 1;
                break;
        case TSHM_OP_UNLINK:
        case TSHM_OP_STAT:
                snprintf(req->name, sizeof(req->name), "x");
                break;
        case TSHM_OP_LIST:
                req->cursor = 1234567;
                req->limit = TSHM_PROTO_LIST_PAGE;
                break;
        default:
                break;
        }
}

static void
assert_req_eq(const struct tshm__req *a, const struct tshm__req *b)
{
        uint32_t i;

        ck_assert_uint_eq(a->op, b->op);
        ck_assert_uint_eq(a->id, b->id);
        ck_assert_uint_eq(a->version, b->version);
        ck_assert_str_eq(a->name, b->name);
        ck_assert_int_eq(a->dtype, b->dtype);
        ck_assert_uint_eq(a->ndim, b->ndim);
        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                ck_assert_uint_eq(a->shape[i], b->shape[i]);
        }
        ck_assert_uint_eq(a->mode, b->mode);
        ck_assert_uint_eq(a->flags, b->flags);
        ck_assert_int_eq(a->writable, b->writable);
        ck_assert_uint_eq(a->handle, b->handle);
        ck_assert_uint_eq(a->cursor, b->cursor);
        ck_assert_uint_eq(a->limit, b->limit);
}

/* Encode @in, decode it, and compare. */
static void
req_round_trip(const struct tshm__req *in)
{
        msgpack_sbuffer sb;
        struct tshm__req out;
        const uint8_t *p;
        size_t len;
        char err[128] = "";
        int rv;

        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(in, &sb), 0);
        p = frame_payload(&sb, &len);
        ck_assert_uint_le(len, TSHM_PROTO_MAX_REQUEST);
        memset(&out, 0xa5, sizeof(out));
        rv = tshm__req_decode(p, len, &out, err, sizeof(err));
        ck_assert_msg(rv == 0, "%s: decode returned %d: %s", tshm__op_name(in->op), rv, err);
        assert_req_eq(&out, in);
        msgpack_sbuffer_destroy(&sb);
}

START_TEST(test_codec_req_round_trip)
{
        struct tshm__req in;

        fill_req(&in, all_ops[_i]);
        ck_assert_ptr_nonnull(tshm__op_name(in.op));
        req_round_trip(&in);
}
END_TEST

START_TEST(test_codec_req_round_trip_edges)
{
        struct tshm__req in;
        uint32_t i;

        /* A 0-d create with a 200-character name, mode 0 and 0777. */
        fill_req(&in, TSHM_OP_CREATE);
        in.ndim = 0;
        memset(in.shape, 0, sizeof(in.shape));
        memset(in.name, 'n', TSHM_NAME_MAX);
        in.name[TSHM_NAME_MAX] = '\0';
        in.mode = 0;
        req_round_trip(&in);
        in.mode = 0777;
        req_round_trip(&in);

        /* 32 dimensions, extents up to UINT64_MAX (the decoder leaves the
         * size check to tshm_shape_nbytes). */
        fill_req(&in, TSHM_OP_CREATE);
        in.ndim = TSHM_MAX_NDIM;
        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                in.shape[i] = i == 31 ? UINT64_MAX : i + 1;
        }
        req_round_trip(&in);

        /* Every dtype. */
        for (i = TSHM_DTYPE_BOOL; i <= TSHM_DTYPE_COMPLEX128; i++) {
                fill_req(&in, TSHM_OP_CREATE);
                in.dtype = (tshm_dtype)i;
                req_round_trip(&in);
        }

        /* open read-only; ids 0 and UINT64_MAX. */
        fill_req(&in, TSHM_OP_OPEN);
        in.writable = false;
        in.id = 0;
        req_round_trip(&in);
        in.id = UINT64_MAX;
        req_round_trip(&in);
}
END_TEST

START_TEST(test_codec_req_encode_unknown_op)
{
        msgpack_sbuffer sb;
        struct tshm__req in;

        fill_req(&in, TSHM_OP_HELLO);
        in.op = 999;
        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(&in, &sb), TSHM_EINVAL);
        in.op = 0;
        ck_assert_int_eq(tshm__req_encode(&in, &sb), TSHM_EINVAL);
        msgpack_sbuffer_destroy(&sb);
        ck_assert_ptr_null(tshm__op_name(0));
        ck_assert_ptr_null(tshm__op_name(999));
        ck_assert_str_eq(tshm__op_name(TSHM_OP_CREATE), "create");
        ck_assert_str_eq(tshm__op_name(TSHM_OP_DAEMON_STAT), "daemon_stat");
}
END_TEST

START_TEST(test_codec_req_decode_minimal)
{
        struct mb m;
        struct tshm__req req;
        char err[128];

        /* A list with no optional key: cursor and limit stay 0. Key order
         * does not matter. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "id", 77);
        p_kv_u(&m, "op", TSHM_OP_LIST);
        ck_assert_int_eq(m_req(&m, &req, err, sizeof(err)), 0);
        ck_assert_uint_eq(req.op, TSHM_OP_LIST);
        ck_assert_uint_eq(req.id, 77);
        ck_assert_uint_eq(req.cursor, 0);
        ck_assert_uint_eq(req.limit, 0);
        mb_done(&m);

        /* A create given a type-string dtype. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 5);
        p_kv_u(&m, "op", TSHM_OP_CREATE);
        p_kv_u(&m, "id", 1);
        p_kv_s(&m, "name", "t");
        p_kv_s(&m, "dtype", "<f8");
        p_str(&m, "shape");
        msgpack_pack_array(&m.pk, 1);
        msgpack_pack_uint8(&m.pk, 5);
        ck_assert_int_eq(m_req(&m, &req, err, sizeof(err)), 0);
        ck_assert_int_eq(req.dtype, TSHM_DTYPE_FLOAT64);
        ck_assert_uint_eq(req.ndim, 1);
        ck_assert_uint_eq(req.shape[0], 5);
        ck_assert_uint_eq(req.mode, 0);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_unknown_key)
{
        struct mb m;

        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_HELLO);
        p_kv_u(&m, "id", 5);
        p_kv_u(&m, "version", 1);
        p_kv_u(&m, "bogus", 1);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_HELLO, 5);
        mb_done(&m);

        /* A key that is not a string. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_HELLO);
        p_kv_u(&m, "id", 5);
        p_kv_u(&m, "version", 1);
        msgpack_pack_uint8(&m.pk, 1);
        msgpack_pack_uint8(&m.pk, 1);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_HELLO, 5);
        mb_done(&m);

        /* A prefix of a known key. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "op", TSHM_OP_HELLO);
        p_kv_u(&m, "id", 5);
        p_kv_u(&m, "vers", 1);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_HELLO, 5);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_duplicate_key)
{
        struct mb m;

        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_HELLO);
        p_kv_u(&m, "id", 6);
        p_kv_u(&m, "version", 1);
        p_kv_u(&m, "version", 1);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_HELLO, 6);
        mb_done(&m);

        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_DAEMON_STAT);
        p_kv_u(&m, "id", 6);
        p_kv_u(&m, "op", TSHM_OP_DAEMON_STAT);
        p_kv_u(&m, "id", 6);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_DAEMON_STAT, 6);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_missing_key)
{
        struct mb m;

        /* create without dtype */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_CREATE);
        p_kv_u(&m, "id", 7);
        p_kv_s(&m, "name", "abc");
        p_str(&m, "shape");
        msgpack_pack_array(&m.pk, 0);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_CREATE, 7);
        mb_done(&m);

        /* hello without version */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "op", TSHM_OP_HELLO);
        p_kv_u(&m, "id", 7);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_HELLO, 7);
        mb_done(&m);

        /* close without handle */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "op", TSHM_OP_CLOSE);
        p_kv_u(&m, "id", 7);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_CLOSE, 7);
        mb_done(&m);

        /* stats without id */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 1);
        p_kv_u(&m, "op", TSHM_OP_DAEMON_STAT);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_DAEMON_STAT, 0);
        mb_done(&m);

        /* no op at all */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 1);
        p_kv_u(&m, "id", 7);
        expect_req_error(&m, TSHM_EPROTO, 0, 0);
        mb_done(&m);

        /* the empty map */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 0);
        expect_req_error(&m, TSHM_EPROTO, 0, 0);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_key_not_taken)
{
        struct mb m;

        /* hello with a name */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_HELLO);
        p_kv_u(&m, "id", 8);
        p_kv_u(&m, "version", 1);
        p_kv_s(&m, "name", "abc");
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_HELLO, 8);
        mb_done(&m);

        /* stats with a cursor */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "op", TSHM_OP_DAEMON_STAT);
        p_kv_u(&m, "id", 8);
        p_kv_u(&m, "cursor", 1);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_DAEMON_STAT, 8);
        mb_done(&m);

        /* open with a mode */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_OPEN);
        p_kv_u(&m, "id", 8);
        p_kv_s(&m, "name", "abc");
        p_kv_u(&m, "mode", 0600);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_OPEN, 8);
        mb_done(&m);

        /* unlink with writable */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_UNLINK);
        p_kv_u(&m, "id", 8);
        p_kv_s(&m, "name", "abc");
        p_str(&m, "writable");
        msgpack_pack_true(&m.pk);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_UNLINK, 8);
        mb_done(&m);
}
END_TEST

/* Values of the wrong type (or range) for a key. */
enum bad_value {
        BV_STR,
        BV_NEG,
        BV_FLOAT,
        BV_NIL,
        BV_BIG32, /* 2^32: beyond a uint32 */
        BV_INT,
        BV_BIN,
        BV_MAP,
        BV_STR_ELEM,   /* [3, "4"] */
        BV_FLOAT_ELEM, /* [3.0] */
};

static const struct {
        uint32_t op;
        const char *key;
        enum bad_value value;
} bad_values[] = {
    {TSHM_OP_DAEMON_STAT, "op", BV_STR},    {TSHM_OP_DAEMON_STAT, "op", BV_NEG},
    {TSHM_OP_DAEMON_STAT, "id", BV_NEG},    {TSHM_OP_DAEMON_STAT, "id", BV_FLOAT},
    {TSHM_OP_DAEMON_STAT, "id", BV_NIL},    {TSHM_OP_DAEMON_STAT, "id", BV_STR},
    {TSHM_OP_HELLO, "version", BV_BIG32},   {TSHM_OP_HELLO, "version", BV_STR},
    {TSHM_OP_STAT, "name", BV_INT},         {TSHM_OP_STAT, "name", BV_BIN},
    {TSHM_OP_STAT, "name", BV_NIL},         {TSHM_OP_CREATE, "dtype", BV_INT},
    {TSHM_OP_CREATE, "shape", BV_MAP},      {TSHM_OP_CREATE, "shape", BV_INT},
    {TSHM_OP_CREATE, "shape", BV_STR_ELEM}, {TSHM_OP_CREATE, "shape", BV_FLOAT_ELEM},
    {TSHM_OP_CREATE, "mode", BV_STR},       {TSHM_OP_CREATE, "mode", BV_NEG},
    {TSHM_OP_CREATE, "flags", BV_BIG32},    {TSHM_OP_OPEN, "writable", BV_INT},
    {TSHM_OP_OPEN, "writable", BV_NIL},     {TSHM_OP_CLOSE, "handle", BV_STR},
    {TSHM_OP_CLOSE, "handle", BV_FLOAT},    {TSHM_OP_LIST, "cursor", BV_NEG},
    {TSHM_OP_LIST, "limit", BV_BIG32},
};

#define NBAD_VALUES (sizeof(bad_values) / sizeof(bad_values[0]))

static void
p_bad_value(struct mb *m, enum bad_value v)
{
        switch (v) {
        case BV_STR:
                p_str(m, "1");
                break;
        case BV_NEG:
                msgpack_pack_int8(&m->pk, -1);
                break;
        case BV_FLOAT:
                msgpack_pack_double(&m->pk, 1.0);
                break;
        case BV_NIL:
                msgpack_pack_nil(&m->pk);
                break;
        case BV_BIG32:
                msgpack_pack_uint64(&m->pk, 1ull << 32);
                break;
        case BV_INT:
                msgpack_pack_uint8(&m->pk, 1);
                break;
        case BV_BIN:
                msgpack_pack_bin_with_body(&m->pk, "abc", 3);
                break;
        case BV_MAP:
                msgpack_pack_map(&m->pk, 0);
                break;
        case BV_STR_ELEM:
                msgpack_pack_array(&m->pk, 2);
                msgpack_pack_uint8(&m->pk, 3);
                p_str(m, "4");
                break;
        case BV_FLOAT_ELEM:
                msgpack_pack_array(&m->pk, 1);
                msgpack_pack_float(&m->pk, 3.0f);
                break;
        }
}

/* A request of @op with its required keys and @bad_key, whose value is @v;
 * the other keys get good values (id 1). */
static void
p_req_with_bad(struct mb *m, uint32_t op, const char *bad_key, enum bad_value v)
{
        static const struct {
                uint32_t op;
                const char *keys[4];
        } required[] = {
            {TSHM_OP_HELLO, {"version"}}, {TSHM_OP_CREATE, {"name", "dtype", "shape"}},
            {TSHM_OP_OPEN, {"name"}},     {TSHM_OP_CLOSE, {"handle"}},
            {TSHM_OP_UNLINK, {"name"}},   {TSHM_OP_STAT, {"name"}},
            {TSHM_OP_LIST, {NULL}},       {TSHM_OP_DAEMON_STAT, {NULL}},
        };
        const char *keys[8] = {"op", "id"};
        size_t n = 2, i, j;
        bool have_bad = false;

        for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
                for (j = 0; required[i].op == op && j < 4 && required[i].keys[j] != NULL; j++) {
                        keys[n++] = required[i].keys[j];
                }
        }
        for (i = 0; i < n; i++) {
                have_bad |= strcmp(keys[i], bad_key) == 0;
        }
        if (!have_bad) {
                keys[n++] = bad_key;
        }
        msgpack_pack_map(&m->pk, (uint32_t)n);
        for (i = 0; i < n; i++) {
                p_str(m, keys[i]);
                if (strcmp(keys[i], bad_key) == 0) {
                        p_bad_value(m, v);
                } else if (strcmp(keys[i], "op") == 0) {
                        msgpack_pack_uint32(&m->pk, op);
                } else if (strcmp(keys[i], "name") == 0) {
                        p_str(m, "abc");
                } else if (strcmp(keys[i], "dtype") == 0) {
                        p_str(m, "float32");
                } else if (strcmp(keys[i], "shape") == 0) {
                        msgpack_pack_array(&m->pk, 1);
                        msgpack_pack_uint8(&m->pk, 3);
                } else {
                        msgpack_pack_uint8(&m->pk, 1); /* id, version, handle */
                }
        }
}

START_TEST(test_codec_req_wrong_value_types)
{
        const char *key = bad_values[_i].key;
        uint32_t op = bad_values[_i].op;
        struct mb m;

        /* The same request with good values decodes: only the bad value is
         * to blame. */
        if (strcmp(key, "op") != 0 && strcmp(key, "id") != 0) {
                struct tshm__req req;
                char err[128];
                mb_init(&m);
                p_req_with_bad(&m, op, "id", BV_INT);
                ck_assert_msg(m_req(&m, &req, err, sizeof(err)) == 0, "%s: %s", tshm__op_name(op),
                              err);
                mb_done(&m);
        }
        mb_init(&m);
        p_req_with_bad(&m, op, key, bad_values[_i].value);
        if (strcmp(key, "op") == 0) {
                expect_req_error(&m, TSHM_EPROTO, 0, 0);
        } else if (strcmp(key, "id") == 0) {
                struct tshm__req req;
                char err[128];
                ck_assert_int_eq(m_req(&m, &req, err, sizeof(err)), TSHM_EPROTO);
                ck_assert_uint_eq(req.op, op);
                ck_assert_uint_eq(req.id, 0);
        } else {
                /* The op and id are still read, to address the reply. */
                expect_req_error(&m, TSHM_EPROTO, op, 1);
        }
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_unknown_op)
{
        struct mb m;
        struct tshm__req req;
        char err[128];

        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "op", 999);
        p_kv_u(&m, "id", 9);
        expect_req_error(&m, TSHM_EPROTO, 999, 9);
        ck_assert_int_eq(m_req(&m, &req, err, sizeof(err)), TSHM_EPROTO);
        ck_assert_ptr_nonnull(strstr(err, "999"));
        mb_done(&m);

        /* An op number beyond 32 bits is a type error. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "op", (1ull << 32) + TSHM_OP_DAEMON_STAT);
        p_kv_u(&m, "id", 9);
        expect_req_error(&m, TSHM_EPROTO, 0, 9);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_not_a_map)
{
        struct mb m;
        static const uint8_t truncated[] = {0x82, 0xa2, 'o', 'p', 0x64};
        static const uint8_t reserved[] = {0xc1};
        static const uint8_t two_maps[] = {0x80, 0x80};
        struct tshm__req req;
        char err[128];

        mb_init(&m);
        msgpack_pack_array(&m.pk, 2);
        p_kv_u(&m, "op", TSHM_OP_DAEMON_STAT);
        expect_req_error(&m, TSHM_EPROTO, 0, 0);
        mb_done(&m);

        mb_init(&m);
        msgpack_pack_uint8(&m.pk, 100);
        expect_req_error(&m, TSHM_EPROTO, 0, 0);
        mb_done(&m);

        mb_init(&m);
        p_str(&m, "op");
        expect_req_error(&m, TSHM_EPROTO, 0, 0);
        mb_done(&m);

        ck_assert_int_eq(tshm__req_decode(truncated, sizeof(truncated), &req, err, sizeof(err)),
                         TSHM_EPROTO);
        ck_assert_int_eq(tshm__req_decode(reserved, sizeof(reserved), &req, err, sizeof(err)),
                         TSHM_EPROTO);
        ck_assert_int_eq(tshm__req_decode(two_maps, sizeof(two_maps), &req, err, sizeof(err)),
                         TSHM_EPROTO);
        ck_assert_int_eq(tshm__req_decode(two_maps, 0, &req, err, sizeof(err)), TSHM_EPROTO);
}
END_TEST

/* A create whose shape is packed by @_i's case. */
START_TEST(test_codec_req_bad_shape)
{
        struct mb m;
        uint32_t i;

        mb_init(&m);
        msgpack_pack_map(&m.pk, 5);
        p_kv_u(&m, "op", TSHM_OP_CREATE);
        p_kv_u(&m, "id", 10);
        p_kv_s(&m, "name", "abc");
        p_kv_s(&m, "dtype", "uint8");
        p_str(&m, "shape");
        if (_i == 0) {
                msgpack_pack_array(&m.pk, 2);
                msgpack_pack_uint8(&m.pk, 3);
                msgpack_pack_int8(&m.pk, -1);
        } else if (_i == 1) {
                msgpack_pack_array(&m.pk, 1);
                msgpack_pack_int64(&m.pk, INT64_MIN);
        } else {
                msgpack_pack_array(&m.pk, TSHM_MAX_NDIM + 1);
                for (i = 0; i <= TSHM_MAX_NDIM; i++) {
                        msgpack_pack_uint8(&m.pk, 1);
                }
        }
        expect_req_error(&m, TSHM_EBADSHAPE, TSHM_OP_CREATE, 10);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_bad_name)
{
        static const char nul_name[] = {'a', 'b', '\0', 'c'};
        char long_name[TSHM_NAME_MAX + 2];
        const char *names[] = {"", ".hidden", "a/b", "/abs", "sp ace", "tab\t", "é", long_name};
        struct mb m;
        size_t i;

        memset(long_name, 'a', TSHM_NAME_MAX + 1);
        long_name[TSHM_NAME_MAX + 1] = '\0';
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                /* The name comes before op and id: they must still be
                 * read for the reply. */
                mb_init(&m);
                msgpack_pack_map(&m.pk, 3);
                p_kv_s(&m, "name", names[i]);
                p_kv_u(&m, "op", TSHM_OP_STAT);
                p_kv_u(&m, "id", 100 + i);
                expect_req_error(&m, TSHM_EBADNAME, TSHM_OP_STAT, 100 + i);
                mb_done(&m);
        }

        /* An embedded NUL. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "op", TSHM_OP_UNLINK);
        p_kv_u(&m, "id", 11);
        p_str(&m, "name");
        msgpack_pack_str_with_body(&m.pk, nul_name, sizeof(nul_name));
        expect_req_error(&m, TSHM_EBADNAME, TSHM_OP_UNLINK, 11);
        mb_done(&m);

        /* In a create too. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 5);
        p_kv_u(&m, "op", TSHM_OP_CREATE);
        p_kv_u(&m, "id", 12);
        p_kv_s(&m, "name", "../etc/passwd");
        p_kv_s(&m, "dtype", "uint8");
        p_str(&m, "shape");
        msgpack_pack_array(&m.pk, 0);
        expect_req_error(&m, TSHM_EBADNAME, TSHM_OP_CREATE, 12);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_bad_dtype)
{
        static const char *const bad[] = {"float128", ">f4", "", "Float32", "<V2", "f4 "};
        struct mb m;
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                mb_init(&m);
                msgpack_pack_map(&m.pk, 5);
                p_kv_u(&m, "op", TSHM_OP_CREATE);
                p_kv_u(&m, "id", 13);
                p_kv_s(&m, "name", "abc");
                p_kv_s(&m, "dtype", bad[i]);
                p_str(&m, "shape");
                msgpack_pack_array(&m.pk, 0);
                expect_req_error(&m, TSHM_EBADDTYPE, TSHM_OP_CREATE, 13);
                mb_done(&m);
        }
}
END_TEST

START_TEST(test_codec_req_bad_mode)
{
        static const uint64_t modes[] = {01000, 04755, 0xffffffffu};
        struct mb m;
        struct tshm__req req;
        char err[128];
        size_t i;

        for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                mb_init(&m);
                msgpack_pack_map(&m.pk, 6);
                p_kv_u(&m, "op", TSHM_OP_CREATE);
                p_kv_u(&m, "id", 14);
                p_kv_s(&m, "name", "abc");
                p_kv_s(&m, "dtype", "int32");
                p_str(&m, "shape");
                msgpack_pack_array(&m.pk, 0);
                p_kv_u(&m, "mode", modes[i]);
                expect_req_error(&m, TSHM_EINVAL, TSHM_OP_CREATE, 14);
                mb_done(&m);
        }

        /* 0777 itself is fine. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 6);
        p_kv_u(&m, "op", TSHM_OP_CREATE);
        p_kv_u(&m, "id", 14);
        p_kv_s(&m, "name", "abc");
        p_kv_s(&m, "dtype", "int32");
        p_str(&m, "shape");
        msgpack_pack_array(&m.pk, 0);
        p_kv_u(&m, "mode", 0777);
        ck_assert_int_eq(m_req(&m, &req, err, sizeof(err)), 0);
        ck_assert_uint_eq(req.mode, 0777);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_req_small_err_buffer)
{
        struct mb m;
        struct tshm__req req;
        char err[8];

        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "op", 12345);
        p_kv_u(&m, "id", 1);
        memset(err, 'x', sizeof(err));
        ck_assert_int_eq(
            tshm__req_decode((const uint8_t *)m.sb.data, m.sb.size, &req, err, sizeof(err)),
            TSHM_EPROTO);
        ck_assert_uint_eq(strlen(err), sizeof(err) - 1); /* truncated, terminated */
        mb_done(&m);
}
END_TEST

/* ---- replies ---- */

static int
enc_decode(struct tshm__reply_enc *e, uint32_t op, struct tshm__reply *reply)
{
        const uint8_t *p;
        size_t len;

        ck_assert_uint_eq(tshm__reply_enc_size(e), e->sbuf.size);
        p = frame_payload(&e->sbuf, &len);
        memset(reply, 0xa5, sizeof(*reply));
        return tshm__reply_decode(p, len, op, reply);
}

static void
fill_info(tshm_info *in, uint32_t k)
{
        uint32_t i;

        memset(in, 0, sizeof(*in));
        snprintf(in->name, sizeof(in->name), "segment-%05u.bin", k);
        in->dtype = (tshm_dtype)(TSHM_DTYPE_BOOL + k % 15u);
        in->ndim = k % (TSHM_MAX_NDIM + 1u);
        for (i = 0; i < in->ndim; i++) {
                in->shape[i] = (uint64_t)k * 31u + i;
        }
        in->nbytes = (uint64_t)k * 4096u + 1u;
        in->size = in->nbytes + 8192u;
        in->owner_uid = 1000u + k;
        in->owner_gid = 2000u + k;
        in->mode = 0600u + (k % 0100u);
        in->opens = k * 3u;
        in->created_ns = 1700000000000000000ull + k;
        in->flags = k & 1u;
        in->kind = (k >> 1) & 1u ? TSHM_KIND_STREAM : TSHM_KIND_ARRAY;
}

static void
assert_info_eq(const tshm_info *a, const tshm_info *b)
{
        uint32_t i;

        ck_assert_str_eq(a->name, b->name);
        ck_assert_int_eq(a->dtype, b->dtype);
        ck_assert_uint_eq(a->ndim, b->ndim);
        for (i = 0; i < a->ndim; i++) {
                ck_assert_uint_eq(a->shape[i], b->shape[i]);
        }
        ck_assert_uint_eq(a->nbytes, b->nbytes);
        ck_assert_uint_eq(a->size, b->size);
        ck_assert_uint_eq(a->owner_uid, b->owner_uid);
        ck_assert_uint_eq(a->owner_gid, b->owner_gid);
        ck_assert_uint_eq(a->mode, b->mode);
        ck_assert_uint_eq(a->opens, b->opens);
        ck_assert_uint_eq(a->created_ns, b->created_ns);
        ck_assert_uint_eq(a->flags, b->flags);
        ck_assert_uint_eq(a->kind, b->kind);
}

START_TEST(test_codec_reply_error)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;
        char longmsg[400];

        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_error(&e, 42, TSHM_ENOENT, "no segment 'x'"), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_STAT, &r), 0);
        ck_assert_uint_eq(r.id, 42);
        ck_assert_int_eq(r.status, TSHM_ENOENT);
        ck_assert_str_eq(r.error, "no segment 'x'");
        ck_assert_ptr_null(r.infos);
        tshm__reply_enc_done(&e);

        /* Without a message: the code's own. An error to a list allocates
         * nothing. */
        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_error(&e, 1, TSHM_ETOOBIG, NULL), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_LIST, &r), 0);
        ck_assert_int_eq(r.status, TSHM_ETOOBIG);
        ck_assert_str_eq(r.error, tshm_strerror(TSHM_ETOOBIG));
        ck_assert_ptr_null(r.infos);
        ck_assert_uint_eq(r.ninfos, 0);
        tshm__reply_enc_done(&e);

        /* A long message is truncated and terminated. */
        memset(longmsg, 'm', sizeof(longmsg) - 1);
        longmsg[sizeof(longmsg) - 1] = '\0';
        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_error(&e, UINT64_MAX, TSHM_EPROTO, longmsg), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_HELLO, &r), 0);
        ck_assert_uint_eq(r.id, UINT64_MAX);
        ck_assert_int_eq(r.status, TSHM_EPROTO);
        ck_assert_uint_eq(strlen(r.error), sizeof(r.error) - 1);
        ck_assert_mem_eq(r.error, longmsg, sizeof(r.error) - 1);
        tshm__reply_enc_done(&e);
}
END_TEST

START_TEST(test_codec_reply_hello)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;

        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_hello(&e, 3, TSHM_PROTO_VERSION + 6), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_HELLO, &r), 0);
        ck_assert_uint_eq(r.id, 3);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.version, TSHM_PROTO_VERSION + 6);
        ck_assert_str_eq(r.error, "");
        tshm__reply_enc_done(&e);
}
END_TEST

START_TEST(test_codec_reply_fd)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;

        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_fd(&e, 4, 0xfeedfacecafeull, 1ull << 40), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_CREATE, &r), 0);
        ck_assert_uint_eq(r.id, 4);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.handle, 0xfeedfacecafeull);
        ck_assert_uint_eq(r.size, 1ull << 40);
        ck_assert(r.has_fd);
        /* The same reply answers an open. */
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_OPEN, &r), 0);
        ck_assert_uint_eq(r.handle, 0xfeedfacecafeull);
        ck_assert(r.has_fd);
        tshm__reply_enc_done(&e);
}
END_TEST

START_TEST(test_codec_reply_empty)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;

        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_empty(&e, 5), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_CLOSE, &r), 0);
        ck_assert_uint_eq(r.id, 5);
        ck_assert_int_eq(r.status, 0);
        ck_assert(!r.has_fd);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_UNLINK, &r), 0);
        ck_assert_uint_eq(r.id, 5);
        /* Ops that return something need a result. */
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_HELLO, &r), TSHM_EPROTO);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_CREATE, &r), TSHM_EPROTO);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_STAT, &r), TSHM_EPROTO);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_LIST, &r), TSHM_EPROTO);
        ck_assert_ptr_null(r.infos);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_DAEMON_STAT, &r), TSHM_EPROTO);
        tshm__reply_enc_done(&e);
}
END_TEST

START_TEST(test_codec_reply_stat)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;
        tshm_info in;
        uint32_t k;

        /* 0-d, 1-d ... 32-d, every dtype. */
        for (k = 0; k <= TSHM_MAX_NDIM; k++) {
                fill_info(&in, k);
                tshm__reply_enc_init(&e);
                ck_assert_int_eq(tshm__reply_stat(&e, 6 + k, &in), 0);
                ck_assert_int_eq(enc_decode(&e, TSHM_OP_STAT, &r), 0);
                ck_assert_uint_eq(r.id, 6 + k);
                ck_assert_int_eq(r.status, 0);
                assert_info_eq(&r.info, &in);
                tshm__reply_enc_done(&e);
        }
        /* The wire keeps one "flags" (bit 1: a stream); the codec splits it
         * into tshm_info.flags (creation flags only) and tshm_info.kind. */
        fill_info(&in, 3);
        ck_assert_uint_eq(in.flags, TSHM_CREATE_EPHEMERAL);
        ck_assert_uint_eq(in.kind, TSHM_KIND_STREAM);
        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_stat(&e, 6, &in), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_STAT, &r), 0);
        ck_assert_uint_eq(r.info.flags, TSHM_CREATE_EPHEMERAL);
        ck_assert_uint_eq(r.info.kind, TSHM_KIND_STREAM);
        tshm__reply_enc_done(&e);
        /* A 200-character name. */
        fill_info(&in, 1);
        memset(in.name, 'z', TSHM_NAME_MAX);
        in.name[TSHM_NAME_MAX] = '\0';
        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_stat(&e, 6, &in), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_STAT, &r), 0);
        assert_info_eq(&r.info, &in);
        tshm__reply_enc_done(&e);
}
END_TEST

static void
list_round_trip(uint32_t count, uint64_t next)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;
        tshm_info in;
        uint32_t k;

        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_list_begin(&e, 7, count), 0);
        for (k = 0; k < count; k++) {
                fill_info(&in, k);
                ck_assert_int_eq(tshm__reply_list_add(&e, &in), 0);
        }
        ck_assert_int_eq(tshm__reply_list_end(&e, next), 0);
        ck_assert_uint_le(tshm__reply_enc_size(&e), 4u + TSHM_PROTO_MAX_REPLY);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_LIST, &r), 0);
        ck_assert_uint_eq(r.id, 7);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.ninfos, count);
        ck_assert_uint_eq(r.next_cursor, next);
        if (count == 0) {
                ck_assert_ptr_null(r.infos);
        } else {
                ck_assert_ptr_nonnull(r.infos);
        }
        for (k = 0; k < count; k++) {
                fill_info(&in, k);
                assert_info_eq(&r.infos[k], &in);
        }
        free(r.infos);
        tshm__reply_enc_done(&e);
}

START_TEST(test_codec_reply_list)
{
        list_round_trip(0, 0);
        list_round_trip(1, 0);
        list_round_trip(100, 9876543210ull);
        /* A full page, the most one reply carries. */
        list_round_trip(TSHM_PROTO_LIST_PAGE, UINT64_MAX);
}
END_TEST

START_TEST(test_codec_reply_stats)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;
        tshm_daemon_info st = {
            .segments = 11,
            .bytes = 1ull << 33,
            .max_bytes = 1ull << 34,
            .clients = 13,
            .opens = 14,
            .requests = UINT64_MAX,
            .uptime_ns = 123456789012345ull,
            .shm_free = 1ull << 35,
            .pid = 4242,
            .proto = TSHM_PROTO_VERSION,
        };

        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_daemon_stat(&e, 8, &st), 0);
        ck_assert_int_eq(enc_decode(&e, TSHM_OP_DAEMON_STAT, &r), 0);
        ck_assert_uint_eq(r.id, 8);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.daemon.segments, st.segments);
        ck_assert_uint_eq(r.daemon.bytes, st.bytes);
        ck_assert_uint_eq(r.daemon.max_bytes, st.max_bytes);
        ck_assert_uint_eq(r.daemon.clients, st.clients);
        ck_assert_uint_eq(r.daemon.opens, st.opens);
        ck_assert_uint_eq(r.daemon.requests, st.requests);
        ck_assert_uint_eq(r.daemon.uptime_ns, st.uptime_ns);
        ck_assert_uint_eq(r.daemon.shm_free, st.shm_free);
        ck_assert_uint_eq(r.daemon.pid, st.pid);
        ck_assert_uint_eq(r.daemon.proto, st.proto);
        tshm__reply_enc_done(&e);
}
END_TEST

/* Pack an info map with every key, plus one unknown key at the end. */
static void
p_info_extra(struct mb *m, const char *name)
{
        msgpack_pack_map(&m->pk, 12);
        p_kv_s(m, "name", name);
        p_kv_s(m, "dtype", "int16");
        p_str(m, "shape");
        msgpack_pack_array(&m->pk, 2);
        msgpack_pack_uint8(&m->pk, 3);
        msgpack_pack_uint8(&m->pk, 4);
        p_kv_u(m, "nbytes", 24);
        p_kv_u(m, "size", 8192);
        p_kv_u(m, "owner", 1000);
        p_kv_u(m, "group", 100);
        p_kv_u(m, "mode", 0640);
        p_kv_u(m, "opens", 2);
        p_kv_u(m, "created", 99);
        p_kv_u(m, "flags", 0);
        p_str(m, "future_field");
        msgpack_pack_array(&m->pk, 1);
        msgpack_pack_nil(&m->pk);
}

START_TEST(test_codec_reply_ignores_unknown_keys)
{
        struct mb m;
        struct tshm__reply r;

        /* hello: unknown keys at the top and in the result, before and
         * after the known ones. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_s(&m, "trace", "abc");
        p_kv_u(&m, "id", 21);
        p_kv_i(&m, "status", 0);
        p_str(&m, "result");
        msgpack_pack_map(&m.pk, 4);
        p_str(&m, "features");
        msgpack_pack_map(&m.pk, 1);
        p_kv_u(&m, "streams", 1);
        p_kv_u(&m, "version", 1);
        p_kv_s(&m, "server", "9.9.9");
        msgpack_pack_uint8(&m.pk, 7); /* a key that is not even a string */
        msgpack_pack_true(&m.pk);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_HELLO, &r), 0);
        ck_assert_uint_eq(r.id, 21);
        ck_assert_int_eq(r.status, 0);
        ck_assert_uint_eq(r.version, 1);
        mb_done(&m);

        /* stat and list: an unknown key inside each info. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "id", 22);
        p_kv_u(&m, "status", 0);
        p_str(&m, "result");
        p_info_extra(&m, "with-extra");
        ck_assert_int_eq(m_reply(&m, TSHM_OP_STAT, &r), 0);
        ck_assert_str_eq(r.info.name, "with-extra");
        ck_assert_int_eq(r.info.dtype, TSHM_DTYPE_INT16);
        ck_assert_uint_eq(r.info.ndim, 2);
        ck_assert_uint_eq(r.info.shape[1], 4);
        ck_assert_uint_eq(r.info.mode, 0640);
        ck_assert_uint_eq(r.info.created_ns, 99);
        mb_done(&m);

        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "id", 23);
        p_kv_u(&m, "status", 0);
        p_str(&m, "result");
        msgpack_pack_map(&m.pk, 3);
        p_str(&m, "entries");
        msgpack_pack_array(&m.pk, 2);
        p_info_extra(&m, "first");
        p_info_extra(&m, "second");
        p_kv_u(&m, "total", 2);
        p_kv_u(&m, "next", 0);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_LIST, &r), 0);
        ck_assert_uint_eq(r.ninfos, 2);
        ck_assert_str_eq(r.infos[0].name, "first");
        ck_assert_str_eq(r.infos[1].name, "second");
        ck_assert_uint_eq(r.infos[1].nbytes, 24);
        free(r.infos);
        mb_done(&m);

        /* An error reply with extra detail keys. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "id", 24);
        p_kv_i(&m, "status", TSHM_ELIMIT);
        p_kv_s(&m, "error", "too many");
        p_kv_u(&m, "limit", 10);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_CREATE, &r), 0);
        ck_assert_int_eq(r.status, TSHM_ELIMIT);
        ck_assert_str_eq(r.error, "too many");
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_reply_rejects_malformed)
{
        struct mb m;
        struct tshm__reply r;

        /* A positive status. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "id", 1);
        p_kv_u(&m, "status", 1);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_CLOSE, &r), TSHM_EPROTO);
        mb_done(&m);

        /* A status beyond int32. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "id", 1);
        p_kv_i(&m, "status", (int64_t)INT32_MIN - 1);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_CLOSE, &r), TSHM_EPROTO);
        mb_done(&m);

        /* No status; no id; a string id. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 1);
        p_kv_u(&m, "id", 1);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_CLOSE, &r), TSHM_EPROTO);
        mb_done(&m);
        mb_init(&m);
        msgpack_pack_map(&m.pk, 1);
        p_kv_u(&m, "status", 0);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_CLOSE, &r), TSHM_EPROTO);
        mb_done(&m);
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_s(&m, "id", "1");
        p_kv_u(&m, "status", 0);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_CLOSE, &r), TSHM_EPROTO);
        mb_done(&m);

        /* Not a map; a result that is not a map. */
        mb_init(&m);
        msgpack_pack_array(&m.pk, 0);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_CLOSE, &r), TSHM_EPROTO);
        mb_done(&m);
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "id", 1);
        p_kv_u(&m, "status", 0);
        p_kv_u(&m, "result", 1);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_HELLO, &r), TSHM_EPROTO);
        mb_done(&m);

        /* A list whose second entry lacks a key: nothing is left allocated
         * (the sanitizer build checks for the leak). */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "id", 1);
        p_kv_u(&m, "status", 0);
        p_str(&m, "result");
        msgpack_pack_map(&m.pk, 2);
        p_str(&m, "entries");
        msgpack_pack_array(&m.pk, 2);
        p_info_extra(&m, "ok");
        msgpack_pack_map(&m.pk, 1);
        p_kv_s(&m, "name", "incomplete");
        p_kv_u(&m, "next", 0);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_LIST, &r), TSHM_EPROTO);
        ck_assert_ptr_null(r.infos);
        mb_done(&m);

        /* A stat whose dtype is unknown. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "id", 1);
        p_kv_u(&m, "status", 0);
        p_str(&m, "result");
        msgpack_pack_map(&m.pk, 1);
        p_kv_s(&m, "dtype", "float128");
        ck_assert_int_eq(m_reply(&m, TSHM_OP_STAT, &r), TSHM_EPROTO);
        mb_done(&m);

        /* Malformed msgpack. */
        ck_assert_int_eq(tshm__reply_decode((const uint8_t[]){0xdf, 0xff, 0xff, 0xff, 0xff}, 5,
                                            TSHM_OP_LIST, &r),
                         TSHM_EPROTO);
}
END_TEST

/* check's default of 4 s per case is too short for the larger round trips
 * (test_codec_reply_list timed out under ctest -j8 on two cores); ctest's
 * TIMEOUT still bounds the whole file. */
#define CASE_TIMEOUT_S 60

#define ADD_CASE(s, fn)                                                                            \
        do {                                                                                       \
                TCase *tc_ = tcase_create(#fn);                                                    \
                tcase_set_timeout(tc_, CASE_TIMEOUT_S);                                            \
                tcase_add_test(tc_, fn);                                                           \
                suite_add_tcase((s), tc_);                                                         \
        } while (0)

#define ADD_LOOP_CASE(s, fn, n)                                                                    \
        do {                                                                                       \
                TCase *tc_ = tcase_create(#fn);                                                    \
                tcase_set_timeout(tc_, CASE_TIMEOUT_S);                                            \
                tcase_add_loop_test(tc_, fn, 0, (int)(n));                                         \
                suite_add_tcase((s), tc_);                                                         \
        } while (0)

static Suite *
codec_suite(void)
{
        Suite *s = suite_create("codec");

        ADD_LOOP_CASE(s, test_codec_req_round_trip, NOPS);
        ADD_CASE(s, test_codec_req_round_trip_edges);
        ADD_CASE(s, test_codec_req_encode_unknown_op);
        ADD_CASE(s, test_codec_req_decode_minimal);
        ADD_CASE(s, test_codec_req_unknown_key);
        ADD_CASE(s, test_codec_req_duplicate_key);
        ADD_CASE(s, test_codec_req_missing_key);
        ADD_CASE(s, test_codec_req_key_not_taken);
        ADD_LOOP_CASE(s, test_codec_req_wrong_value_types, NBAD_VALUES);
        ADD_CASE(s, test_codec_req_unknown_op);
        ADD_CASE(s, test_codec_req_not_a_map);
        ADD_LOOP_CASE(s, test_codec_req_bad_shape, 3);
        ADD_CASE(s, test_codec_req_bad_name);
        ADD_CASE(s, test_codec_req_bad_dtype);
        ADD_CASE(s, test_codec_req_bad_mode);
        ADD_CASE(s, test_codec_req_small_err_buffer);
        ADD_CASE(s, test_codec_reply_error);
        ADD_CASE(s, test_codec_reply_hello);
        ADD_CASE(s, test_codec_reply_fd);
        ADD_CASE(s, test_codec_reply_empty);
        ADD_CASE(s, test_codec_reply_stat);
        ADD_CASE(s, test_codec_reply_list);
        ADD_CASE(s, test_codec_reply_stats);
        ADD_CASE(s, test_codec_reply_ignores_unknown_keys);
        ADD_CASE(s, test_codec_reply_rejects_malformed);
        return s;
}

int
main(void)
{
        SRunner *sr = srunner_create(codec_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
