/*
 * fuzz_peer_decode.c - the peer protocol's decoder (proto/peer_proto.c) on
 * what another host's daemon, or anyone who can reach --peer-listen, sends.
 *
 * Input: one byte of message id (taken modulo TSHM_PEER_AM_COUNT + 1, so
 * unknown ids 0 and TSHM_PEER_AM_COUNT come up too), then the header's
 * bytes. Beyond memory errors and leaks, an accepted message must keep what
 * the peer thread relies on: a known id; a copy's name that passes
 * tshm__name_check(); NUL-terminated, printable source and error; a
 * geometry whose nbytes is what dtype and shape make, with slots 0 or
 * 2..TSHM_STREAM_MAX_SLOTS and a known policy (an array's 0); a status <= 0
 * and a mode within 0777. Re-encoded, it must decode to the same message.
 * A refused message says why, in a NUL-terminated reason.
 */
#include <string.h>

#include "tshm.h"

#include "fuzz.h"
#include "mpobj.h"
#include "peer_proto.h"
#include "spec.h"

static bool
printable(const char *s, bool spaces)
{
        for (; *s != '\0'; s++) {
                if (*s < (spaces ? ' ' : '!') || *s > '~') {
                        return false;
                }
        }
        return true;
}

static void
check_accepted(const struct tshm__peer_msg *m)
{
        FUZZ_CHECK(m->am >= 1 && m->am < TSHM_PEER_AM_COUNT);
        FUZZ_CHECK(memchr(m->name, '\0', sizeof(m->name)) != NULL);
        FUZZ_CHECK(memchr(m->source, '\0', sizeof(m->source)) != NULL);
        FUZZ_CHECK(memchr(m->error, '\0', sizeof(m->error)) != NULL);
        FUZZ_CHECK(printable(m->source, false) && printable(m->error, true));
        FUZZ_CHECK(m->status <= 0 && m->mode <= 0777u && m->ndim <= TSHM_MAX_NDIM);
        if (m->am == TSHM_PEER_OPEN) {
                uint64_t nbytes;
                FUZZ_CHECK(tshm__name_check(m->name) == 0);
                FUZZ_CHECK(tshm__shape_nbytes(m->dtype, m->ndim, m->shape, &nbytes) == 0);
                FUZZ_CHECK(nbytes == m->nbytes);
                FUZZ_CHECK(tshm__peer_geometry_nbytes(m) == m->nbytes || m->nbytes == 0);
                FUZZ_CHECK(m->slots == 0 || (m->slots >= 2 && m->slots <= TSHM_STREAM_MAX_SLOTS));
                FUZZ_CHECK(m->policy <= TSHM_STREAM_OVERWRITE);
                FUZZ_CHECK(m->slots != 0 || m->policy == 0);
        } else {
                FUZZ_CHECK(m->name[0] == '\0' && m->ndim == 0);
        }
}

static bool
msg_equal(const struct tshm__peer_msg *a, const struct tshm__peer_msg *b)
{
        return a->am == b->am && a->version == b->version &&
               memcmp(a->nonce, b->nonce, sizeof(a->nonce)) == 0 &&
               memcmp(a->mac, b->mac, sizeof(a->mac)) == 0 && strcmp(a->name, b->name) == 0 &&
               strcmp(a->source, b->source) == 0 && a->dtype == b->dtype && a->ndim == b->ndim &&
               memcmp(a->shape, b->shape, a->ndim * sizeof(a->shape[0])) == 0 &&
               a->slots == b->slots && a->policy == b->policy && a->mode == b->mode &&
               a->nbytes == b->nbytes && a->status == b->status &&
               strcmp(a->error, b->error) == 0 && a->seq == b->seq &&
               a->publish_ns == b->publish_ns && a->missed == b->missed && a->whole == b->whole;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tshm__peer_msg m, again;
        msgpack_sbuffer sb;
        char err[160];
        uint32_t am;

        if (size < 1) {
                return 0;
        }
        am = data[0] % (TSHM_PEER_AM_COUNT + 1);
        memset(err, 'x', sizeof(err));
        if (tshm__peer_decode(am, data + 1, size - 1, &m, err, sizeof(err)) < 0) {
                FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
                return 0;
        }
        check_accepted(&m);
        msgpack_sbuffer_init(&sb);
        FUZZ_CHECK(tshm__peer_encode(&m, &sb) == 0);
        FUZZ_CHECK(tshm__peer_decode(am, sb.data, sb.size, &again, err, sizeof(err)) == 0);
        FUZZ_CHECK(msg_equal(&m, &again));
        msgpack_sbuffer_destroy(&sb);
        return 0;
}
