/*
 * gen_corpus_peer.c - the seeds of peer_decode: one valid header of each
 * peer message (an array's and a stream's OPEN), then a few near misses
 * (a geometry that does not add up, an unknown key, a short nonce).
 */
#include <string.h>

#include "gen_corpus.h"
#include "peer_proto.h"

static void
seed_msg(const char *name, const struct tshm__peer_msg *m)
{
        uint8_t buf[TSHM_PEER_MAX_HEADER + 1];
        msgpack_sbuffer sb;

        msgpack_sbuffer_init(&sb);
        if (tshm__peer_encode(m, &sb) == 0 && sb.size <= TSHM_PEER_MAX_HEADER) {
                buf[0] = (uint8_t)m->am;
                memcpy(buf + 1, sb.data, sb.size);
                seed_write("peer_decode", name, buf, 1 + sb.size);
        }
        msgpack_sbuffer_destroy(&sb);
}

void
gen_peer(void)
{
        struct tshm__peer_msg m;
        static const uint8_t junk[] = {TSHM_PEER_HELLO,
                                       0x82,
                                       0xa1,
                                       'v',
                                       0x01,
                                       0xa5,
                                       'n',
                                       'o',
                                       'n',
                                       'c',
                                       'e',
                                       0xc4,
                                       0x02,
                                       1,
                                       2};

        memset(&m, 0, sizeof(m));
        m.am = TSHM_PEER_HELLO;
        m.version = TSHM_PEER_VERSION;
        memset(m.nonce, 0x5a, sizeof(m.nonce));
        seed_msg("hello", &m);
        m.am = TSHM_PEER_CHALLENGE;
        memset(m.mac, 0xa5, sizeof(m.mac));
        seed_msg("challenge", &m);

        memset(&m, 0, sizeof(m));
        m.am = TSHM_PEER_OPEN;
        memset(m.mac, 0x11, sizeof(m.mac));
        strcpy(m.name, "camera.frames");
        strcpy(m.source, "hosta/camera.frames");
        m.dtype = TSHM_DTYPE_FLOAT32;
        m.ndim = 2;
        m.shape[0] = 480;
        m.shape[1] = 640;
        m.nbytes = (uint64_t)480 * 640 * 4;
        m.mode = 0640;
        seed_msg("open-array", &m);
        m.slots = 8;
        m.policy = TSHM_STREAM_OVERWRITE;
        seed_msg("open-stream", &m);
        m.nbytes++;
        seed_msg("open-bad-nbytes", &m);

        memset(&m, 0, sizeof(m));
        m.am = TSHM_PEER_OPENED;
        m.status = TSHM_EEXIST;
        strcpy(m.error, "'x' exists here and is not a copy");
        seed_msg("opened", &m);
        memset(&m, 0, sizeof(m));
        m.am = TSHM_PEER_DATA;
        m.seq = 42;
        m.publish_ns = 1700000000000000000ull;
        m.missed = 3;
        seed_msg("data", &m);
        m.am = TSHM_PEER_COMMIT;
        m.whole = true;
        seed_msg("commit", &m);
        m.am = TSHM_PEER_ACK;
        seed_msg("ack", &m);
        memset(&m, 0, sizeof(m));
        m.am = TSHM_PEER_PING;
        seed_msg("ping", &m);
        seed_write("peer_decode", "hello-short-nonce", junk, sizeof(junk));
}
