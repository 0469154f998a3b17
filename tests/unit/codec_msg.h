/*
 * codec_msg.h - what the codec tests (test_codec_*.c) share: msgpack
 * messages built by hand, decoded as requests or replies, and the payload of
 * an encoded frame.
 */
#ifndef TSHM_TESTS_CODEC_MSG_H
#define TSHM_TESTS_CODEC_MSG_H

#include <check.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

/* ---- hand-built messages ---- */

struct mb {
        msgpack_sbuffer sb;
        msgpack_packer pk;
};

static inline void
mb_init(struct mb *m)
{
        msgpack_sbuffer_init(&m->sb);
        msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static inline void
mb_done(struct mb *m)
{
        msgpack_sbuffer_destroy(&m->sb);
}

static inline void
p_str(struct mb *m, const char *s)
{
        msgpack_pack_str_with_body(&m->pk, s, strlen(s));
}

static inline void
p_kv_u(struct mb *m, const char *k, uint64_t v)
{
        p_str(m, k);
        msgpack_pack_uint64(&m->pk, v);
}

static inline void
p_kv_i(struct mb *m, const char *k, int64_t v)
{
        p_str(m, k);
        msgpack_pack_int64(&m->pk, v);
}

static inline void
p_kv_s(struct mb *m, const char *k, const char *v)
{
        p_str(m, k);
        p_str(m, v);
}

/* Decode the hand-built payload in @m as a request. */
static inline int
m_req(struct mb *m, struct tshm__req *req, char *err, size_t errlen)
{
        err[0] = '\0';
        return tshm__req_decode((const uint8_t *)m->sb.data, m->sb.size, req, err, errlen);
}

/* Decode the hand-built payload in @m as the reply to @op. */
static inline int
m_reply(struct mb *m, uint32_t op, struct tshm__reply *reply)
{
        return tshm__reply_decode((const uint8_t *)m->sb.data, m->sb.size, op, reply);
}

/* Assert that @m decodes to @want, with a reason in err and, when @op is not
 * 0, the op and id of the request still set. */
static inline void
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
static inline const uint8_t *
frame_payload(const msgpack_sbuffer *sb, size_t *ret_len)
{
        ck_assert_uint_ge(sb->size, 5);
        ck_assert_uint_eq(tshm__get_be32((const uint8_t *)sb->data), sb->size - 4);
        *ret_len = sb->size - 4;
        return (const uint8_t *)sb->data + 4;
}

#endif
