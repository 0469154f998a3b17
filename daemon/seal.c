/*
 * seal.c - the daemon's seal on segment headers (see proto/header.h): a
 * SipHash-2-4 MAC of the fields only the daemon may set, under a 128-bit key
 * kept in the daemon's state directory, which only it can read (state.c:
 * "<state-dir>/<prefix>.key"; never in /dev/shm, where any user can plant a
 * key of their choosing before the daemon first starts). Pure: no system
 * calls, so adopt.c's fuzzer links it.
 */
#include <stddef.h>
#include <string.h>

#include "tshmd.h"

static uint64_t
seal_rotl(uint64_t x, int b)
{
        return (x << b) | (x >> (64 - b));
}

/* One SipRound on the state v[0..3]; a function rather than the reference
 * code's macro, so that the hash reads (and counts, for clang-tidy) as the
 * dozen lines it is. */
static void
seal_sipround(uint64_t v[4])
{
        v[0] += v[1];
        v[1] = seal_rotl(v[1], 13);
        v[1] ^= v[0];
        v[0] = seal_rotl(v[0], 32);
        v[2] += v[3];
        v[3] = seal_rotl(v[3], 16);
        v[3] ^= v[2];
        v[0] += v[3];
        v[3] = seal_rotl(v[3], 21);
        v[3] ^= v[0];
        v[2] += v[1];
        v[1] = seal_rotl(v[1], 17);
        v[1] ^= v[2];
        v[2] = seal_rotl(v[2], 32);
}

static uint64_t
seal_le64(const uint8_t *p)
{
        uint64_t v;

        memcpy(&v, p, sizeof(v)); /* little-endian hosts only (header.h) */
        return v;
}

uint64_t
tshmd_seal_siphash(const uint8_t key[16], const uint8_t *in, size_t len)
{
        uint64_t k0 = seal_le64(key), k1 = seal_le64(key + 8);
        uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
                         0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
        uint64_t m, b = (uint64_t)len << 56;
        size_t i;

        for (i = 0; i + 8 <= len; i += 8) {
                m = seal_le64(in + i);
                v[3] ^= m;
                seal_sipround(v);
                seal_sipround(v);
                v[0] ^= m;
        }
        for (m = 0; i + (size_t)(m >> 3) < len && m < 56; m += 8) {
                b |= (uint64_t)in[i + (size_t)(m >> 3)] << m;
        }
        v[3] ^= b;
        seal_sipround(v);
        seal_sipround(v);
        v[0] ^= b;
        v[2] ^= 0xff;
        for (i = 0; i < 4; i++) {
                seal_sipround(v);
        }
        return v[0] ^ v[1] ^ v[2] ^ v[3];
}

uint64_t
tshmd_seal_compute(const uint8_t key[16], const struct tshm__hdr *hdr)
{
        uint8_t buf[sizeof(*hdr)];

        /* The header with the unsealed parts zeroed: the synchronisation
         * line and the seal itself. */
        memcpy(buf, hdr, sizeof(buf));
        memset(buf + offsetof(struct tshm__hdr, seq), 0, 64);
        memset(buf + offsetof(struct tshm__hdr, mac), 0, sizeof(hdr->mac));
        return tshmd_seal_siphash(key, buf, sizeof(buf));
}

void
tshmd_seal(const uint8_t key[16], struct tshm__hdr *hdr)
{
        hdr->mac = tshmd_seal_compute(key, hdr);
}

bool
tshmd_seal_ok(const uint8_t key[16], const struct tshm__hdr *hdr)
{
        return hdr->mac == tshmd_seal_compute(key, hdr);
}

void
tshmd_seal_header_of(const struct tshmd_seg *seg, const uint8_t key[16], struct tshm__hdr *hdr)
{
        struct tshm__seg_spec spec = {.dtype = (tshm_dtype)seg->dtype,
                                      .ndim = seg->ndim,
                                      .mode = seg->mode,
                                      .owner_uid = seg->owner_uid,
                                      .owner_gid = seg->owner_gid,
                                      .created_ns = seg->created_ns,
                                      .slots = seg->slots,
                                      .policy = seg->policy,
                                      .group = (seg->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_GROUP,
                                      .unpublished = (seg->flags & TSHM_HDR_FLAG_UNPUBLISHED) != 0,
                                      .group_tensors = seg->group_tensors,
                                      .group_toc_bytes = seg->group_toc_bytes};

        memcpy(spec.name, seg->name, strlen(seg->name) + 1);
        memcpy(spec.shape, seg->shape, seg->ndim * sizeof(uint64_t));
        /* Registered segments passed these checks when they were made. */
        (void)tshm__hdr_init(hdr, &spec);
        hdr->flags = seg->flags;
        hdr->creator_pid = seg->creator_pid;
        hdr->creator_start = seg->creator_start;
        tshmd_seal(key, hdr);
}
