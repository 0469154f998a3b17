/*
 * test_codec_refuse.c - requests the decoder refuses: unknown, duplicate
 * and missing keys, values of the wrong type, bad names, shapes, dtypes and
 * modes (proto/codec.c).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "codec_msg.h"
#include "proto.h"

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

/* check's default of 4 s per case is too short for the larger round trips
 * (test_codec_reply_list timed out under ctest -j8 on two cores); ctest's
 * TIMEOUT still bounds the whole file. */
#define CASE_TIMEOUT_S 60

int
main(void)
{
        Suite *s = suite_create("codec_refuse");

        tshm_test_each(s, CASE_TIMEOUT_S, NULL, NULL,
                       TSHM_TESTS(test_codec_req_unknown_key, test_codec_req_duplicate_key,
                                  test_codec_req_missing_key, test_codec_req_key_not_taken));
        tshm_test_loop(s, CASE_TIMEOUT_S, test_codec_req_wrong_value_types, 0, (int)NBAD_VALUES);
        tshm_test_each(s, CASE_TIMEOUT_S, NULL, NULL,
                       TSHM_TESTS(test_codec_req_unknown_op, test_codec_req_not_a_map));
        tshm_test_loop(s, CASE_TIMEOUT_S, test_codec_req_bad_shape, 0, 3);
        tshm_test_each(s, CASE_TIMEOUT_S, NULL, NULL,
                       TSHM_TESTS(test_codec_req_bad_name, test_codec_req_bad_dtype,
                                  test_codec_req_bad_mode, test_codec_req_small_err_buffer));
        return tshm_test_run(s);
}
