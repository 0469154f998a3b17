/*
 * test_codec_mirror.c - the mirror ops on the wire (PROTOCOL.md, ops 210
 * mirror and 303 mirrors): requests and replies round-trip, and what the
 * decoders refuse.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "codec_msg.h"
#include "proto.h"

/* Encode @in, decode it back into @out; returns the decoder's code. */
static int
mirror_round_trip(const struct tshm__req *in, struct tshm__req *out)
{
        msgpack_sbuffer sb;
        const uint8_t *p;
        char err[128] = "";
        size_t len;
        int rv;

        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(in, &sb), 0);
        p = frame_payload(&sb, &len);
        rv = tshm__req_decode(p, len, out, err, sizeof(err));
        msgpack_sbuffer_destroy(&sb);
        return rv;
}

START_TEST(test_codec_mirror_start_round_trip)
{
        struct tshm__req in = {.op = TSHM_OP_MIRROR, .id = 77}, out;

        snprintf(in.name, sizeof(in.name), "frames.cam-0");
        snprintf(in.peer, sizeof(in.peer), "gpu-box-2.lan:7070");
        ck_assert_int_eq(mirror_round_trip(&in, &out), 0);
        ck_assert_uint_eq(out.op, TSHM_OP_MIRROR);
        ck_assert_uint_eq(out.id, 77);
        ck_assert_str_eq(out.name, "frames.cam-0");
        ck_assert_str_eq(out.peer, "gpu-box-2.lan:7070");
        ck_assert_str_eq(out.remote, "");
        ck_assert(!out.stop);

        /* With a remote name and an IPv6 peer of the longest length. */
        snprintf(in.remote, sizeof(in.remote), "copy_of.cam-0");
        memset(in.peer, 'p', TSHM_PEER_MAX);
        in.peer[0] = '[';
        in.peer[TSHM_PEER_MAX] = '\0';
        ck_assert_int_eq(mirror_round_trip(&in, &out), 0);
        ck_assert_str_eq(out.remote, "copy_of.cam-0");
        ck_assert_str_eq(out.peer, in.peer);
}
END_TEST

START_TEST(test_codec_mirror_stop_round_trip)
{
        struct tshm__req in = {.op = TSHM_OP_MIRROR, .id = 3, .stop = true}, out;
        msgpack_sbuffer sb;
        size_t len;

        snprintf(in.name, sizeof(in.name), "x");
        ck_assert_int_eq(mirror_round_trip(&in, &out), 0);
        ck_assert(out.stop);
        ck_assert_str_eq(out.peer, "");
        /* Only op, id, name and stop travel: an unset peer and remote are
         * left out, not sent empty. */
        msgpack_sbuffer_init(&sb);
        ck_assert_int_eq(tshm__req_encode(&in, &sb), 0);
        (void)frame_payload(&sb, &len);
        ck_assert_uint_eq((uint8_t)sb.data[4], 0x80u | 4u); /* fixmap of 4 */
        msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_codec_mirror_list_round_trip)
{
        struct tshm__req in = {.op = TSHM_OP_MIRRORS, .id = 9}, out;

        ck_assert_int_eq(mirror_round_trip(&in, &out), 0);
        ck_assert_uint_eq(out.op, TSHM_OP_MIRRORS);
        ck_assert_str_eq(tshm__op_name(TSHM_OP_MIRROR), "mirror");
        ck_assert_str_eq(tshm__op_name(TSHM_OP_MIRRORS), "mirrors");
}
END_TEST

/* A mirror request with @peer (NULL: no key), @remote (NULL: no key) and
 * @stop (-1: no key). */
static void
mirror_msg(struct mb *m, const char *peer, const char *remote, int stop)
{
        uint32_t n = 3 + (peer != NULL) + (remote != NULL) + (stop >= 0);

        mb_init(m);
        msgpack_pack_map(&m->pk, n);
        p_kv_u(m, "op", TSHM_OP_MIRROR);
        p_kv_u(m, "id", 5);
        p_kv_s(m, "name", "src");
        if (peer != NULL) {
                p_kv_s(m, "peer", peer);
        }
        if (remote != NULL) {
                p_kv_s(m, "remote", remote);
        }
        if (stop >= 0) {
                p_str(m, "stop");
                if (stop) {
                        msgpack_pack_true(&m->pk);
                } else {
                        msgpack_pack_false(&m->pk);
                }
        }
}

static const char *const bad_peers[] = {
    "",              /* empty */
    "host :1",       /* a space */
    "host\t:1",      /* a control character */
    "h\xc3\xa9te:1", /* not ASCII */
    "host:1\x7f",    /* DEL */
};
#define NBAD_PEERS (sizeof(bad_peers) / sizeof(bad_peers[0]))

START_TEST(test_codec_mirror_bad_peer)
{
        struct mb m;

        mirror_msg(&m, bad_peers[_i], NULL, -1);
        expect_req_error(&m, TSHM_EINVAL, TSHM_OP_MIRROR, 5);
        mb_done(&m);
}
END_TEST

START_TEST(test_codec_mirror_refusals)
{
        char longpeer[TSHM_PEER_MAX + 2];
        struct tshm__req req;
        char err[128];
        struct mb m;

        /* One byte over TSHM_PEER_MAX. */
        memset(longpeer, 'a', sizeof(longpeer) - 1);
        longpeer[sizeof(longpeer) - 1] = '\0';
        mirror_msg(&m, longpeer, NULL, -1);
        expect_req_error(&m, TSHM_EINVAL, TSHM_OP_MIRROR, 5);
        mb_done(&m);
        /* A start without a peer, also with stop false. */
        mirror_msg(&m, NULL, NULL, -1);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_MIRROR, 5);
        mb_done(&m);
        mirror_msg(&m, NULL, "copy", 0);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_MIRROR, 5);
        mb_done(&m);
        /* A remote that is not a name. */
        mirror_msg(&m, "h:1", "no/slash", -1);
        expect_req_error(&m, TSHM_EBADNAME, TSHM_OP_MIRROR, 5);
        mb_done(&m);
        /* A peer of the wrong type. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_MIRROR);
        p_kv_u(&m, "id", 5);
        p_kv_s(&m, "name", "src");
        p_kv_u(&m, "peer", 7070);
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_MIRROR, 5);
        mb_done(&m);
        /* The mirror keys on another op, and a name on mirrors. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 4);
        p_kv_u(&m, "op", TSHM_OP_STAT);
        p_kv_u(&m, "id", 5);
        p_kv_s(&m, "name", "src");
        p_kv_s(&m, "peer", "h:1");
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_STAT, 5);
        mb_done(&m);
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "op", TSHM_OP_MIRRORS);
        p_kv_u(&m, "id", 5);
        p_kv_s(&m, "name", "src");
        expect_req_error(&m, TSHM_EPROTO, TSHM_OP_MIRRORS, 5);
        mb_done(&m);
        /* A stop needs no peer, and stop false with a peer is a start. */
        mirror_msg(&m, NULL, NULL, 1);
        ck_assert_int_eq(m_req(&m, &req, err, sizeof(err)), 0);
        ck_assert(req.stop);
        mb_done(&m);
        mirror_msg(&m, "h:1", "", 0);
        ck_assert_int_eq(m_req(&m, &req, err, sizeof(err)), 0);
        ck_assert(!req.stop);
        ck_assert_str_eq(req.peer, "h:1");
        ck_assert_str_eq(req.remote, "");
        mb_done(&m);
}
END_TEST

static void
mirror_example(tshm_mirror_info *mi, unsigned k)
{
        memset(mi, 0, sizeof(*mi));
        snprintf(mi->name, sizeof(mi->name), "src-%u", k);
        snprintf(mi->remote, sizeof(mi->remote), "dst-%u", k);
        snprintf(mi->peer, sizeof(mi->peer), "[fe80::%u]:7070", k);
        mi->incoming = (uint8_t)(k & 1u);
        mi->stream = (uint8_t)((k >> 1) & 1u);
        mi->state = k % 4;
        mi->sent = UINT64_MAX - k;
        mi->dropped = (uint64_t)k * 3u;
        mi->lag_ns = 1000000000ull * (uint64_t)k;
        mi->seq = 1ull << 40 | k;
        mi->reconnects = k;
        snprintf(mi->error, sizeof(mi->error), k % 4 == 2 ? "connection refused" : "");
}

/* Encode @n mirrors as the reply to id 11 and decode them into @rep. */
static int
mirrors_reply(const tshm_mirror_info *mis, uint32_t n, struct tshm__reply *rep)
{
        struct tshm__reply_enc e;
        size_t len;
        const uint8_t *p;
        uint32_t i;
        int rv;

        tshm__reply_enc_init(&e);
        ck_assert_int_eq(tshm__reply_mirrors_begin(&e, 11, n), 0);
        for (i = 0; i < n; i++) {
                ck_assert_int_eq(tshm__reply_mirrors_add(&e, &mis[i]), 0);
        }
        ck_assert_int_eq(tshm__reply_mirrors_end(&e), 0);
        p = frame_payload(&e.sbuf, &len);
        rv = tshm__reply_decode(p, len, TSHM_OP_MIRRORS, rep);
        tshm__reply_enc_done(&e);
        return rv;
}

START_TEST(test_codec_mirror_reply_round_trip)
{
        tshm_mirror_info mis[5];
        struct tshm__reply rep;
        unsigned k;

        for (k = 0; k < 5; k++) {
                mirror_example(&mis[k], k);
        }
        ck_assert_int_eq(mirrors_reply(mis, 5, &rep), 0);
        ck_assert_uint_eq(rep.id, 11);
        ck_assert_int_eq(rep.status, 0);
        ck_assert_uint_eq(rep.nmirrors, 5);
        /* Field for field, padding and tails zero on both sides. */
        ck_assert_mem_eq(rep.mirrors, mis, sizeof(mis));
        free(rep.mirrors);

        /* None: an empty array, no allocation. */
        ck_assert_int_eq(mirrors_reply(mis, 0, &rep), 0);
        ck_assert_uint_eq(rep.nmirrors, 0);
        ck_assert_ptr_null(rep.mirrors);
}
END_TEST

START_TEST(test_codec_mirror_reply_rejects_malformed)
{
        struct tshm__reply rep;
        struct mb m;

        /* No "mirrors" array. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "id", 1);
        p_kv_i(&m, "status", 0);
        p_str(&m, "result");
        msgpack_pack_map(&m.pk, 0);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_MIRRORS, &rep), TSHM_EPROTO);
        mb_done(&m);
        /* An entry without its counters. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 3);
        p_kv_u(&m, "id", 1);
        p_kv_i(&m, "status", 0);
        p_str(&m, "result");
        msgpack_pack_map(&m.pk, 1);
        p_str(&m, "mirrors");
        msgpack_pack_array(&m.pk, 1);
        msgpack_pack_map(&m.pk, 4);
        p_kv_s(&m, "name", "a");
        p_kv_s(&m, "remote", "a");
        p_kv_s(&m, "peer", "h:1");
        p_kv_s(&m, "error", "");
        ck_assert_int_eq(m_reply(&m, TSHM_OP_MIRRORS, &rep), TSHM_EPROTO);
        ck_assert_ptr_null(rep.mirrors);
        mb_done(&m);
        /* mirror's success has no result. */
        mb_init(&m);
        msgpack_pack_map(&m.pk, 2);
        p_kv_u(&m, "id", 1);
        p_kv_i(&m, "status", 0);
        ck_assert_int_eq(m_reply(&m, TSHM_OP_MIRROR, &rep), 0);
        mb_done(&m);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("codec_mirror");

        tshm_test_each(s, 60, NULL, NULL,
                       TSHM_TESTS(test_codec_mirror_start_round_trip,
                                  test_codec_mirror_stop_round_trip,
                                  test_codec_mirror_list_round_trip, test_codec_mirror_refusals,
                                  test_codec_mirror_reply_round_trip,
                                  test_codec_mirror_reply_rejects_malformed));
        tshm_test_loop(s, 60, test_codec_mirror_bad_peer, 0, (int)NBAD_PEERS);
        return tshm_test_run(s);
}
