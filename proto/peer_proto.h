/*
 * peer_proto.h - the peer protocol: what two tshmd daemons say to each other over
 * UCX to keep a mirror (docs/remote.md; PROTOCOL.md section 11).
 *
 * Each message is one UCX active message: its id says which, its header is
 * one msgpack map (at most TSHM_PEER_MAX_HEADER bytes), and only DATA has a
 * payload (a version's or a frame's bytes). One endpoint carries one
 * mirror, from the sender (who connects) to the receiver (who listens):
 *
 *   sender                              receiver
 *   HELLO {v, nonce_s}           ->
 *                                <-     CHALLENGE {v, nonce_r, mac_r}
 *   OPEN {mac_s, name, geometry} ->
 *                                <-     OPENED {status, error}
 *   DATA {seq, ..., whole} + bytes ->   (held, unless whole: published)
 *   COMMIT {seq, whole}          ->     published if whole, else dropped
 *                                <-     ACK {seq}
 *   PING {}                      ->     (also <- PING, either way: liveness)
 *
 * mac_r = HMAC-SHA256(secret, "tshm-peer-1 receiver" nonce_s nonce_r) and
 * mac_s = HMAC-SHA256(secret, "tshm-peer-1 sender" nonce_r nonce_s): each
 * side proves it holds the secret over the other's fresh nonce, so neither a
 * replayed exchange nor a reflected one passes. Before OPEN checks out, the
 * receiver answers HELLO only and drops the endpoint on anything else.
 *
 * A DATA sent straight from the source's memory (large versions and
 * frames: no copy) carries whole = false, and its COMMIT follows once the
 * send completed and the sender knows whether a writer touched the bytes
 * meanwhile. A small one the sender copied out under the seqlock first is
 * known whole: whole = true, and no COMMIT follows (one message, not two,
 * on the latency path).
 *
 * Pure code: decoding validates every field and bounds (the same rules as
 * the local protocol: a peer is as untrusted as a local client).
 */
#ifndef TSHM_PROTO_PEER_H
#define TSHM_PROTO_PEER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tshm.h"

#define TSHM_PEER_VERSION 1u
#define TSHM_PEER_NONCE 32u
#define TSHM_PEER_MAC 32u
#define TSHM_PEER_MAX_HEADER 4096u

/* Active message ids (UCX's am_id). */
enum tshm__peer_am {
        TSHM_PEER_HELLO = 1,
        TSHM_PEER_CHALLENGE = 2,
        TSHM_PEER_OPEN = 3,
        TSHM_PEER_OPENED = 4,
        TSHM_PEER_DATA = 5,
        TSHM_PEER_COMMIT = 6,
        TSHM_PEER_ACK = 7,
        TSHM_PEER_PING = 8,
        TSHM_PEER_AM_COUNT = 9, /* one past the last */
};

/* A decoded message; which fields are set depends on its id. */
struct tshm__peer_msg {
        uint32_t am;
        uint32_t version;               /* hello, challenge */
        uint8_t nonce[TSHM_PEER_NONCE]; /* hello, challenge */
        uint8_t mac[TSHM_PEER_MAC];     /* challenge, open */
        char name[TSHM_NAME_MAX + 1];   /* open: the copy's name on the receiver */
        char source[TSHM_PEER_MAX + 1]; /* open: where it comes from ("host/name"),
                                           printable ASCII, for listings */
        tshm_dtype dtype;               /* open */
        uint32_t ndim;                  /* open */
        uint64_t shape[TSHM_MAX_NDIM];  /* open */
        uint32_t slots, policy;         /* open: 0 slots for an array */
        uint32_t mode;                  /* open: the source's permission bits */
        uint64_t nbytes;                /* open: bytes of a version or of a frame */
        int32_t status;                 /* opened: 0 or a TSHM_E* code */
        char error[160];                /* opened */
        uint64_t seq;                   /* data, commit, ack */
        uint64_t publish_ns;            /* data: when the source published it */
        uint64_t missed;                /* data: frames lost before this one */
        bool whole;                     /* data, commit: the bytes sent are one whole version */
};

/* Encode @m (by m->am) as one msgpack map into the empty @out. Returns 0,
 * TSHM_EINVAL (an unknown id, bad geometry) or TSHM_ENOMEM. */
int tshm__peer_encode(const struct tshm__peer_msg *m, msgpack_sbuffer *out);

/* Decode the header of active message @am (@len bytes at @buf) into @m.
 * Returns 0 or TSHM_EPROTO (with a reason in @err): an unknown id, a header
 * that is not exactly one map within the limits, a missing or ill-typed
 * key, a bad name, dtype or shape, a geometry whose size overflows or does
 * not match nbytes, a nonce or mac of the wrong length. */
int tshm__peer_decode(uint32_t am, const void *buf, size_t len, struct tshm__peer_msg *m, char *err,
                      size_t errlen);

/* The bytes of one version (@slots 0) or one frame of the geometry in @m,
 * or 0 if it overflows. */
uint64_t tshm__peer_geometry_nbytes(const struct tshm__peer_msg *m);

#endif
