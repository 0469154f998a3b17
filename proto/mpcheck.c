/*
 * mpcheck.c - a bounded walk over untrusted msgpack bytes.
 *
 * msgpack-c allocates storage for arrays and maps from their declared counts
 * before any element arrives, and nests as deep as the input asks. This walk
 * runs first and refuses any count larger than the bytes left could hold, any
 * nesting deeper than the protocol allows, and any trailing byte.
 */
#include "proto.h"

struct mp_walk {
        const uint8_t *p;
        size_t left;
        unsigned max_depth;
        uint32_t max_elems;
};

static uint64_t
mp_be(const uint8_t *p, size_t n)
{
        uint64_t v = 0;
        size_t i;

        for (i = 0; i < n; i++) {
                v = (v << 8) | p[i];
        }
        return v;
}

/* Skip @n bytes; false if fewer are left. */
static bool
mp_skip(struct mp_walk *w, uint64_t n)
{
        if (n > w->left) {
                return false;
        }
        w->p += n;
        w->left -= (size_t)n;
        return true;
}

/* Read a @n-byte big-endian length after the type byte. */
static bool
mp_len(struct mp_walk *w, size_t n, uint64_t *ret)
{
        if (n > w->left) {
                return false;
        }
        *ret = mp_be(w->p, n);
        return mp_skip(w, n);
}

static bool mp_value(struct mp_walk *w, unsigned depth);

static bool
mp_container(struct mp_walk *w, unsigned depth, uint64_t count, unsigned per_entry)
{
        uint64_t i;

        /* Every value takes at least one byte. */
        if (depth >= w->max_depth || count > w->max_elems || count * per_entry > w->left) {
                return false;
        }
        for (i = 0; i < count * per_entry; i++) {
                if (!mp_value(w, depth + 1)) {
                        return false;
                }
        }
        return true;
}

static bool
mp_value(struct mp_walk *w, unsigned depth)
{
        uint8_t t;
        uint64_t n;

        if (w->left == 0) {
                return false;
        }
        t = *w->p;
        (void)mp_skip(w, 1);
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
                return true; /* fixint, nil, bool */
        }
        if (t >= 0x80 && t <= 0x8f) {
                return mp_container(w, depth, t & 0x0fu, 2);
        }
        if (t >= 0x90 && t <= 0x9f) {
                return mp_container(w, depth, t & 0x0fu, 1);
        }
        if (t >= 0xa0 && t <= 0xbf) {
                return mp_skip(w, t & 0x1fu);
        }
        switch (t) {
        case 0xc4: /* bin 8/16/32, str 8/16/32 */
        case 0xd9:
                return mp_len(w, 1, &n) && mp_skip(w, n);
        case 0xc5:
        case 0xda:
                return mp_len(w, 2, &n) && mp_skip(w, n);
        case 0xc6:
        case 0xdb:
                return mp_len(w, 4, &n) && mp_skip(w, n);
        case 0xc7: /* ext 8/16/32: length, type byte, data */
                return mp_len(w, 1, &n) && mp_skip(w, n + 1);
        case 0xc8:
                return mp_len(w, 2, &n) && mp_skip(w, n + 1);
        case 0xc9:
                return mp_len(w, 4, &n) && mp_skip(w, n + 1);
        case 0xca:
                return mp_skip(w, 4);
        case 0xcb:
                return mp_skip(w, 8);
        case 0xcc:
        case 0xd0:
                return mp_skip(w, 1);
        case 0xcd:
        case 0xd1:
                return mp_skip(w, 2);
        case 0xce:
        case 0xd2:
                return mp_skip(w, 4);
        case 0xcf:
        case 0xd3:
                return mp_skip(w, 8);
        case 0xd4: /* fixext 1/2/4/8/16: type byte and data */
                return mp_skip(w, 2);
        case 0xd5:
                return mp_skip(w, 3);
        case 0xd6:
                return mp_skip(w, 5);
        case 0xd7:
                return mp_skip(w, 9);
        case 0xd8:
                return mp_skip(w, 17);
        case 0xdc:
                return mp_len(w, 2, &n) && mp_container(w, depth, n, 1);
        case 0xdd:
                return mp_len(w, 4, &n) && mp_container(w, depth, n, 1);
        case 0xde:
                return mp_len(w, 2, &n) && mp_container(w, depth, n, 2);
        case 0xdf:
                return mp_len(w, 4, &n) && mp_container(w, depth, n, 2);
        default:
                return false; /* 0xc1 is never used */
        }
}

int
tshm__mp_check(const uint8_t *buf, size_t len, unsigned max_depth, uint32_t max_elems)
{
        struct mp_walk w = {buf, len, max_depth, max_elems};

        if (!mp_value(&w, 0) || w.left != 0) {
                return TSHM_EPROTO;
        }
        return 0;
}
