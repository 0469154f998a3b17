/*
 * test_request.c - the request codec (proto/request.c) key by key, for
 * every op: which keys each op requires and allows is written out here
 * again, from PROTOCOL.md section 3, so that the codec's table is checked
 * against an independent copy rather than against itself; and the wire
 * bytes of the ops with the most keys are pinned.
 */
#include <check.h>

#include "check_main.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

enum ktype { KU32, KU64, KBOOL, KSTR_NAME, KSTR_DTYPE, KSHAPE };

static const struct {
        const char *key;
        enum ktype type;
} keys[] = {
    {"op", KU32},          {"id", KU64},      {"version", KU32},    {"name", KSTR_NAME},
    {"dtype", KSTR_DTYPE}, {"shape", KSHAPE}, {"mode", KU32},       {"flags", KU32},
    {"writable", KBOOL},   {"remove", KBOOL}, {"subscribe", KBOOL}, {"roster", KBOOL},
    {"handle", KU64},      {"slots", KU32},   {"policy", KU32},     {"cursor", KU64},
    {"limit", KU32},       {"owner", KU32},   {"group", KU32},      {"prefix", KSTR_NAME},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* Each op's keys besides op and id: required, then optional. */
static const struct {
        uint32_t op;
        const char *required[6];
        const char *optional[3];
} ops[] = {
    {TSHM_OP_HELLO, {"version"}, {NULL}},
    {TSHM_OP_CREATE, {"name", "dtype", "shape"}, {"mode", "flags"}},
    {TSHM_OP_STREAM_CREATE, {"name", "dtype", "shape", "slots", "policy"}, {"mode", "flags"}},
    {TSHM_OP_OPEN, {"name"}, {"writable"}},
    {TSHM_OP_ATTACH, {"handle", "subscribe"}, {"roster"}},
    {TSHM_OP_CLOSE, {"handle"}, {NULL}},
    {TSHM_OP_UNLINK, {"name"}, {NULL}},
    {TSHM_OP_STAT, {"name"}, {NULL}},
    {TSHM_OP_CHMOD, {"name", "mode"}, {NULL}},
    {TSHM_OP_CHOWN, {"name"}, {"owner", "group"}},
    {TSHM_OP_GC, {NULL}, {"remove"}},
    {TSHM_OP_LIST, {NULL}, {"cursor", "limit", "prefix"}},
    {TSHM_OP_DAEMON_STAT, {NULL}, {NULL}},
};

#define NOPS (sizeof(ops) / sizeof(ops[0]))

static bool
in_list(const char *const *list, size_t n, const char *key)
{
        for (size_t i = 0; i < n && list[i] != NULL; i++) {
                if (strcmp(list[i], key) == 0) {
                        return true;
                }
        }
        return false;
}

static bool
op_requires(size_t o, const char *key)
{
        return strcmp(key, "op") == 0 || strcmp(key, "id") == 0 || in_list(ops[o].required, 6, key);
}

static bool
op_allows(size_t o, const char *key)
{
        return op_requires(o, key) || in_list(ops[o].optional, 3, key);
}

/* ---- hand-built requests ---- */

struct mb {
        msgpack_sbuffer sb;
        msgpack_packer pk;
};

static void
pack_str(msgpack_packer *pk, const char *s)
{
        msgpack_pack_str(pk, strlen(s));
        msgpack_pack_str_body(pk, s, strlen(s));
}

/* A valid value for key @k of op @o. */
static void
pack_valid(msgpack_packer *pk, size_t o, size_t k)
{
        switch (keys[k].type) {
        case KU32:
                if (strcmp(keys[k].key, "op") == 0) {
                        msgpack_pack_uint32(pk, ops[o].op);
                } else if (strcmp(keys[k].key, "slots") == 0) {
                        msgpack_pack_uint32(pk, 4);
                } else {
                        msgpack_pack_uint32(pk, 1);
                }
                break;
        case KU64:
                msgpack_pack_uint64(pk, strcmp(keys[k].key, "id") == 0 ? 4242 : 7);
                break;
        case KBOOL:
                msgpack_pack_true(pk);
                break;
        case KSTR_NAME:
                pack_str(pk, "seg");
                break;
        case KSTR_DTYPE:
                pack_str(pk, "uint8");
                break;
        case KSHAPE:
                msgpack_pack_array(pk, 1);
                msgpack_pack_uint32(pk, 3);
                break;
        }
}

/* A value of another msgpack type than key @k takes. */
static void
pack_wrong(msgpack_packer *pk, size_t k)
{
        switch (keys[k].type) {
        case KU32:
        case KU64:
        case KBOOL:
        case KSHAPE:
                pack_str(pk, "x");
                break;
        case KSTR_NAME:
        case KSTR_DTYPE:
                msgpack_pack_uint32(pk, 1);
                break;
        }
}

enum change { NONE, DROP, DUP, WRONG, EXTRA };

/* The keys op @o allows, with key @k changed as @c says. */
static void
build(struct mb *m, size_t o, size_t k, enum change c)
{
        uint32_t n = 0;

        msgpack_sbuffer_init(&m->sb);
        msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
        for (size_t i = 0; i < NKEYS; i++) {
                n += op_allows(o, keys[i].key);
        }
        n += c == DUP || c == EXTRA ? 1 : 0;
        n -= c == DROP ? 1 : 0;
        msgpack_pack_map(&m->pk, n);
        for (size_t i = 0; i < NKEYS; i++) {
                bool here = op_allows(o, keys[i].key) || (c == EXTRA && i == k);

                if (!here || (c == DROP && i == k)) {
                        continue;
                }
                pack_str(&m->pk, keys[i].key);
                if (c == WRONG && i == k) {
                        pack_wrong(&m->pk, i);
                } else {
                        pack_valid(&m->pk, o, i);
                }
                if (c == DUP && i == k) {
                        pack_str(&m->pk, keys[i].key);
                        pack_valid(&m->pk, o, i);
                }
        }
}

static int
decode(struct mb *m, struct tshm__req *req, char *err, size_t errlen)
{
        err[0] = '\0';
        return tshm__req_decode((const uint8_t *)m->sb.data, m->sb.size, req, err, errlen);
}

START_TEST(test_request_every_key_accepted)
{
        for (size_t o = 0; o < NOPS; o++) {
                struct tshm__req req;
                struct mb m;
                char err[128];

                build(&m, o, 0, NONE);
                ck_assert_msg(decode(&m, &req, err, sizeof(err)) == 0, "%s: %s",
                              tshm__op_name(ops[o].op), err);
                ck_assert_uint_eq(req.op, ops[o].op);
                ck_assert_uint_eq(req.id, 4242);
                msgpack_sbuffer_destroy(&m.sb);
        }
}
END_TEST

START_TEST(test_request_missing_required_key)
{
        for (size_t o = 0; o < NOPS; o++) {
                for (size_t k = 0; k < NKEYS; k++) {
                        struct tshm__req req;
                        struct mb m;
                        char err[128];
                        int rv;

                        if (!op_requires(o, keys[k].key)) {
                                continue;
                        }
                        build(&m, o, k, DROP);
                        rv = decode(&m, &req, err, sizeof(err));
                        ck_assert_msg(rv == TSHM_EPROTO, "%u without %s: %d", ops[o].op,
                                      keys[k].key, rv);
                        if (strcmp(keys[k].key, "op") == 0) {
                                ck_assert_str_eq(err, "unknown op 0");
                        } else {
                                ck_assert_ptr_nonnull(strstr(err, "lacks a required key"));
                                ck_assert_uint_eq(req.op, ops[o].op);
                        }
                        msgpack_sbuffer_destroy(&m.sb);
                }
        }
}
END_TEST

START_TEST(test_request_optional_key_may_be_absent)
{
        for (size_t o = 0; o < NOPS; o++) {
                for (size_t k = 0; k < NKEYS; k++) {
                        struct tshm__req req;
                        struct mb m;
                        char err[128];

                        if (!op_allows(o, keys[k].key) || op_requires(o, keys[k].key)) {
                                continue;
                        }
                        build(&m, o, k, DROP);
                        ck_assert_msg(decode(&m, &req, err, sizeof(err)) == 0, "%u without %s: %s",
                                      ops[o].op, keys[k].key, err);
                        msgpack_sbuffer_destroy(&m.sb);
                }
        }
}
END_TEST

START_TEST(test_request_duplicate_key)
{
        for (size_t o = 0; o < NOPS; o++) {
                for (size_t k = 0; k < NKEYS; k++) {
                        struct tshm__req req;
                        struct mb m;
                        char err[128];

                        if (!op_allows(o, keys[k].key)) {
                                continue;
                        }
                        build(&m, o, k, DUP);
                        ck_assert_int_eq(decode(&m, &req, err, sizeof(err)), TSHM_EPROTO);
                        ck_assert_str_eq(err, "duplicate request key");
                        ck_assert_uint_eq(req.op, ops[o].op);
                        ck_assert_uint_eq(req.id, 4242);
                        msgpack_sbuffer_destroy(&m.sb);
                }
        }
}
END_TEST

START_TEST(test_request_wrong_type)
{
        for (size_t o = 0; o < NOPS; o++) {
                for (size_t k = 0; k < NKEYS; k++) {
                        struct tshm__req req;
                        struct mb m;
                        char err[128];

                        if (!op_allows(o, keys[k].key)) {
                                continue;
                        }
                        build(&m, o, k, WRONG);
                        ck_assert_msg(decode(&m, &req, err, sizeof(err)) == TSHM_EPROTO,
                                      "%u with a bad %s", ops[o].op, keys[k].key);
                        if (strcmp(keys[k].key, "op") != 0) {
                                ck_assert_str_eq(err, "a key has a value of the wrong type");
                        }
                        msgpack_sbuffer_destroy(&m.sb);
                }
        }
}
END_TEST

START_TEST(test_request_key_not_taken)
{
        for (size_t o = 0; o < NOPS; o++) {
                for (size_t k = 0; k < NKEYS; k++) {
                        struct tshm__req req;
                        struct mb m;
                        char err[128];

                        if (op_allows(o, keys[k].key)) {
                                continue;
                        }
                        build(&m, o, k, EXTRA);
                        ck_assert_msg(decode(&m, &req, err, sizeof(err)) == TSHM_EPROTO,
                                      "%u with %s", ops[o].op, keys[k].key);
                        ck_assert_ptr_nonnull(strstr(err, "has a key it does not take"));
                        msgpack_sbuffer_destroy(&m.sb);
                }
        }
}
END_TEST

/* Encode then decode with every key each op takes set to a value unlike
 * the defaults; the decoded request equals the one encoded in those keys,
 * and the map holds exactly the op's keys. */
START_TEST(test_request_round_trip_every_op)
{
        for (size_t o = 0; o < NOPS; o++) {
                struct tshm__req in, out;
                msgpack_sbuffer sb;
                char err[128];
                uint32_t want = 0;

                memset(&in, 0, sizeof(in));
                in.op = ops[o].op;
                in.id = UINT64_MAX - o;
                in.version = 3;
                strcpy(in.name, "a-B.9_z");
                in.dtype = TSHM_DTYPE_COMPLEX128;
                in.ndim = 2;
                in.shape[0] = 5;
                in.shape[1] = (uint64_t)1 << 40;
                in.mode = 0751;
                in.flags = 0x80000001u;
                in.writable = in.remove = in.subscribe = in.roster = true;
                in.handle = 1ull << 63;
                in.cursor = 12345678901ull;
                in.limit = 17;
                in.owner = 1001;
                in.group = 1002;
                strcpy(in.prefix, "a-B.");
                in.slots = TSHM_STREAM_MAX_SLOTS;
                in.policy = TSHM_STREAM_OVERWRITE;
                for (size_t k = 0; k < NKEYS; k++) {
                        want += op_allows(o, keys[k].key);
                }
                msgpack_sbuffer_init(&sb);
                ck_assert_int_eq(tshm__req_encode(&in, &sb), 0);
                ck_assert_uint_ge(sb.size, 5);
                /* 4-byte length, then a fixmap header. */
                ck_assert_uint_eq((uint8_t)sb.data[4], 0x80u | want);
                ck_assert_msg(tshm__req_decode((const uint8_t *)sb.data + 4, sb.size - 4, &out, err,
                                               sizeof(err)) == 0,
                              "%u: %s", ops[o].op, err);
                ck_assert_uint_eq(out.op, in.op);
                ck_assert_uint_eq(out.id, in.id);
#define CHECK_(key, field)                                                                         \
        if (op_allows(o, key)) {                                                                   \
                ck_assert_uint_eq(out.field, in.field);                                            \
        }
                CHECK_("version", version);
                CHECK_("dtype", dtype);
                CHECK_("mode", mode);
                CHECK_("flags", flags);
                CHECK_("writable", writable);
                CHECK_("remove", remove);
                CHECK_("subscribe", subscribe);
                CHECK_("roster", roster);
                CHECK_("handle", handle);
                CHECK_("slots", slots);
                CHECK_("policy", policy);
                CHECK_("cursor", cursor);
                CHECK_("limit", limit);
                CHECK_("owner", owner);
                CHECK_("group", group);
#undef CHECK_
                if (op_allows(o, "name")) {
                        ck_assert_str_eq(out.name, in.name);
                }
                if (op_allows(o, "prefix")) {
                        ck_assert_str_eq(out.prefix, in.prefix);
                }
                if (op_allows(o, "shape")) {
                        ck_assert_uint_eq(out.ndim, 2);
                        ck_assert_uint_eq(out.shape[0], in.shape[0]);
                        ck_assert_uint_eq(out.shape[1], in.shape[1]);
                }
                msgpack_sbuffer_destroy(&sb);
        }
}
END_TEST

/* A list's prefix is sent only when it is not empty (a listing of everything
 * is the request older daemons take), decoded as "" when absent, may not be
 * a string no name starts with, and an empty one on the wire means all. */
START_TEST(test_request_list_prefix)
{
        static const char *const bad[] = {".x", "a b", "a/b", "\xc3\xa9"};
        struct tshm__req in, out;
        msgpack_sbuffer sb;
        struct mb m;
        char err[128];

        memset(&in, 0, sizeof(in));
        in.op = TSHM_OP_LIST;
        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(&in, &sb), 0);
        ck_assert_ptr_null(memmem(sb.data, sb.size, "prefix", 6));
        ck_assert_int_eq(
            tshm__req_decode((const uint8_t *)sb.data + 4, sb.size - 4, &out, err, sizeof(err)), 0);
        ck_assert_str_eq(out.prefix, "");
        msgpack_sbuffer_destroy(&sb);
        for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
                const char *p = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : "";

                msgpack_sbuffer_init(&m.sb);
                msgpack_packer_init(&m.pk, &m.sb, msgpack_sbuffer_write);
                msgpack_pack_map(&m.pk, 3);
                pack_str(&m.pk, "op");
                msgpack_pack_uint32(&m.pk, TSHM_OP_LIST);
                pack_str(&m.pk, "id");
                msgpack_pack_uint32(&m.pk, 1);
                pack_str(&m.pk, "prefix");
                pack_str(&m.pk, p);
                ck_assert_int_eq(
                    tshm__req_decode((const uint8_t *)m.sb.data, m.sb.size, &out, err, sizeof(err)),
                    p[0] == '\0' ? 0 : TSHM_EBADNAME);
                msgpack_sbuffer_destroy(&m.sb);
        }
}
END_TEST

/* The bytes of version 1 and 2 requests, as the encoder before the
 * table-driven one wrote them: key order and integer widths are wire
 * format. */
static const struct {
        uint32_t op;
        bool variant;
        const char *hex;
} golden[] = {
    {TSHM_OP_STREAM_CREATE, false,
     "0000005b89a26f70cccfa26964cf1122334455667790a46e616d65a77365672e785f31a564747970"
     "65a7666c6f61743332a573686170659302cd012cce00011170a46d6f6465cd01a0a5666c61677303"
     "a5736c6f747304a6706f6c69637901"},
    {TSHM_OP_ATTACH, true,
     "0000002d85a26f70ccd0a26964cf1122334455667791a9737562736372696265c2a6726f73746572"
     "c3a668616e646c654d"},
    {TSHM_OP_CHOWN, true,
     "0000003185a26f70cccda26964cf112233445566778ea46e616d65a77365672e785f31a56f776e65"
     "72ceffffffffa567726f75702c"},
    {TSHM_OP_GC, false, "0000001a83a26f70cccea26964cf112233445566778fa672656d6f7665c3"},
};

START_TEST(test_request_wire_bytes)
{
        for (size_t g = 0; g < sizeof(golden) / sizeof(golden[0]); g++) {
                bool v = golden[g].variant;
                struct tshm__req r;
                msgpack_sbuffer sb;
                char hex[512];
                size_t i;

                memset(&r, 0, sizeof(r));
                r.op = golden[g].op;
                r.id = 0x1122334455667788ull + (r.op == TSHM_OP_STREAM_CREATE ? 8
                                                : r.op == TSHM_OP_ATTACH      ? 9
                                                : r.op == TSHM_OP_CHOWN       ? 6
                                                                              : 7);
                r.version = 2;
                strcpy(r.name, "seg.x_1");
                r.dtype = v ? TSHM_DTYPE_BFLOAT16 : TSHM_DTYPE_FLOAT32;
                r.ndim = v ? 0 : 3;
                r.shape[0] = 2;
                r.shape[1] = 300;
                r.shape[2] = 70000;
                r.mode = 0640;
                r.flags = 3;
                r.writable = v;
                r.remove = !v;
                r.handle = 77;
                r.cursor = 5;
                r.limit = 9;
                r.owner = v ? TSHM_ID_UNCHANGED : 1000;
                r.group = 44;
                r.slots = 4;
                r.policy = 1;
                r.subscribe = !v;
                r.roster = v;
                msgpack_sbuffer_init(&sb);
                ck_assert_int_eq(tshm__req_encode(&r, &sb), 0);
                ck_assert_uint_lt(sb.size * 2, sizeof(hex));
                for (i = 0; i < sb.size; i++) {
                        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)sb.data[i]);
                }
                hex[2 * i] = '\0';
                ck_assert_str_eq(hex, golden[g].hex);
                msgpack_sbuffer_destroy(&sb);
        }
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("request");

        tshm_test_each(s, 0, NULL, NULL,
                       TSHM_TESTS(test_request_every_key_accepted,
                                  test_request_missing_required_key,
                                  test_request_optional_key_may_be_absent,
                                  test_request_duplicate_key, test_request_wrong_type,
                                  test_request_key_not_taken, test_request_round_trip_every_op,
                                  test_request_list_prefix, test_request_wire_bytes));
        return tshm_test_run(s);
}
