/*
 * test_codec_reply.c - replies encoded and decoded back, and malformed
 * replies refused (proto/codec.c).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "codec_msg.h"
#include "proto.h"

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

/* The segment's identity: name, dtype and shape. */
static void
assert_info_what_eq(const tshm_info *a, const tshm_info *b)
{
        uint32_t i;

        ck_assert_str_eq(a->name, b->name);
        ck_assert_int_eq(a->dtype, b->dtype);
        ck_assert_uint_eq(a->ndim, b->ndim);
        for (i = 0; i < a->ndim; i++) {
                ck_assert_uint_eq(a->shape[i], b->shape[i]);
        }
        ck_assert_uint_eq(a->nbytes, b->nbytes);
        ck_assert_uint_eq(a->kind, b->kind);
}

/* Its object and ownership: size, owner, mode, opens, creation, flags. */
static void
assert_info_object_eq(const tshm_info *a, const tshm_info *b)
{
        ck_assert_uint_eq(a->size, b->size);
        ck_assert_uint_eq(a->owner_uid, b->owner_uid);
        ck_assert_uint_eq(a->owner_gid, b->owner_gid);
        ck_assert_uint_eq(a->mode, b->mode);
        ck_assert_uint_eq(a->opens, b->opens);
        ck_assert_uint_eq(a->created_ns, b->created_ns);
        ck_assert_uint_eq(a->flags, b->flags);
}

static void
assert_info_eq(const tshm_info *a, const tshm_info *b)
{
        assert_info_what_eq(a, b);
        assert_info_object_eq(a, b);
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

/* A list reply of @count infos (fill_info 0, 1, ...) and @next, encoded
 * into @e. */
static void
list_encode(struct tshm__reply_enc *e, uint32_t count, uint64_t next)
{
        tshm_info in;
        uint32_t k;

        tshm__reply_enc_init(e);
        ck_assert_int_eq(tshm__reply_list_begin(e, 7, count), 0);
        for (k = 0; k < count; k++) {
                fill_info(&in, k);
                ck_assert_int_eq(tshm__reply_list_add(e, &in), 0);
        }
        ck_assert_int_eq(tshm__reply_list_end(e, next), 0);
        ck_assert_uint_le(tshm__reply_enc_size(e), 4u + TSHM_PROTO_MAX_REPLY);
}

static void
list_round_trip(uint32_t count, uint64_t next)
{
        struct tshm__reply_enc e;
        struct tshm__reply r;
        tshm_info in;
        uint32_t k;

        list_encode(&e, count, next);
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

int
main(void)
{
        Suite *s = suite_create("codec_reply");

        tshm_test_each(s, CASE_TIMEOUT_S, NULL, NULL,
                       TSHM_TESTS(test_codec_reply_error, test_codec_reply_hello,
                                  test_codec_reply_fd, test_codec_reply_empty,
                                  test_codec_reply_stat, test_codec_reply_list,
                                  test_codec_reply_stats, test_codec_reply_ignores_unknown_keys,
                                  test_codec_reply_rejects_malformed));
        return tshm_test_run(s);
}
