/*
 * test_codec_req.c - requests encoded and decoded back, field for field
 * (proto/codec.c).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "codec_msg.h"
#include "proto.h"

static const uint32_t all_ops[] = {
    TSHM_OP_HELLO,  TSHM_OP_CREATE, TSHM_OP_OPEN, TSHM_OP_CLOSE,
    TSHM_OP_UNLINK, TSHM_OP_STAT,   TSHM_OP_LIST, TSHM_OP_DAEMON_STAT,
};

#define NOPS (sizeof(all_ops) / sizeof(all_ops[0]))
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

/* What every request carries, and hello's and the by-name ops' fields. */
static void
assert_req_head_eq(const struct tshm__req *a, const struct tshm__req *b)
{
        ck_assert_uint_eq(a->op, b->op);
        ck_assert_uint_eq(a->id, b->id);
        ck_assert_uint_eq(a->version, b->version);
        ck_assert_str_eq(a->name, b->name);
}

/* Create's spec: dtype, shape, mode and flags. */
static void
assert_req_spec_eq(const struct tshm__req *a, const struct tshm__req *b)
{
        uint32_t i;

        ck_assert_int_eq(a->dtype, b->dtype);
        ck_assert_uint_eq(a->ndim, b->ndim);
        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                ck_assert_uint_eq(a->shape[i], b->shape[i]);
        }
        ck_assert_uint_eq(a->mode, b->mode);
        ck_assert_uint_eq(a->flags, b->flags);
}

/* Open's, close's and list's fields. */
static void
assert_req_handle_eq(const struct tshm__req *a, const struct tshm__req *b)
{
        ck_assert_int_eq(a->writable, b->writable);
        ck_assert_uint_eq(a->handle, b->handle);
        ck_assert_uint_eq(a->cursor, b->cursor);
        ck_assert_uint_eq(a->limit, b->limit);
}

static void
assert_req_eq(const struct tshm__req *a, const struct tshm__req *b)
{
        assert_req_head_eq(a, b);
        assert_req_spec_eq(a, b);
        assert_req_handle_eq(a, b);
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
        ck_assert_uint_le(len, (uint64_t)TSHM_PROTO_MAX_REQUEST);
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

/* check's default of 4 s per case is too short for the larger round trips
 * (test_codec_reply_list timed out under ctest -j8 on two cores); ctest's
 * TIMEOUT still bounds the whole file. */
#define CASE_TIMEOUT_S 60

int
main(void)
{
        Suite *s = suite_create("codec_req");

        tshm_test_loop(s, CASE_TIMEOUT_S, test_codec_req_round_trip, 0, (int)NOPS);
        tshm_test_each(s, CASE_TIMEOUT_S, NULL, NULL,
                       TSHM_TESTS(test_codec_req_round_trip_edges, test_codec_req_encode_unknown_op,
                                  test_codec_req_decode_minimal));
        return tshm_test_run(s);
}
