/*
 * frame.c - length-prefixed framing: a 4-byte big-endian length, then that
 * many bytes of payload. The reader refuses an oversized length as soon as
 * the 4 bytes arrive, before anything is buffered for it.
 */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "proto.h"

void
tshm__put_be32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

uint32_t
tshm__get_be32(const uint8_t *p)
{
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
               (uint32_t)p[3];
}

void
tshm__frame_reader_init(struct tshm__frame_reader *r, uint32_t max_frame)
{
        memset(r, 0, sizeof(*r));
        r->max_frame = max_frame;
}

void
tshm__frame_reader_done(struct tshm__frame_reader *r)
{
        tshm__free(r->buf);
        memset(r, 0, sizeof(*r));
}

/* The length the buffered bytes announce, or 0 if fewer than 4 are here. */
static size_t
frame_total(const struct tshm__frame_reader *r)
{
        if (r->buffered < 4) {
                return 0;
        }
        return 4u + (size_t)tshm__get_be32(r->buf);
}

int
tshm__frame_feed(struct tshm__frame_reader *r, const void *data, size_t len)
{
        const uint8_t *p = data;
        size_t want;

        while (len > 0) {
                size_t n;

                /* Grow only to what the current frame needs: first its
                 * header, then (once the header passed the limit) its body.
                 * Bytes beyond the current frame wait in the caller. */
                want = r->buffered < 4 ? 4 : frame_total(r);
                if (r->buffered >= 4 && tshm__get_be32(r->buf) > r->max_frame) {
                        return TSHM_ETOOBIG;
                }
                if (want > r->cap) {
                        uint8_t *nb = tshm__realloc(r->buf, want);
                        if (nb == NULL) {
                                return TSHM_ENOMEM;
                        }
                        r->buf = nb;
                        r->cap = want;
                }
                if (r->buffered == want) {
                        /* A whole frame is waiting to be consumed; the caller
                         * must take it before feeding more. */
                        return (int)(p - (const uint8_t *)data);
                }
                n = want - r->buffered;
                if (n > len) {
                        n = len;
                }
                memcpy(r->buf + r->buffered, p, n);
                r->buffered += n;
                p += n;
                len -= n;
                if (r->buffered == 4 && tshm__get_be32(r->buf) > r->max_frame) {
                        return TSHM_ETOOBIG;
                }
        }
        return (int)(p - (const uint8_t *)data);
}

int
tshm__frame_next(const struct tshm__frame_reader *r, const uint8_t **ret_payload, size_t *ret_len)
{
        size_t total = frame_total(r);

        if (total == 0 || r->buffered < total) {
                return 0;
        }
        *ret_payload = r->buf + 4;
        *ret_len = total - 4;
        return 1;
}

void
tshm__frame_consume(struct tshm__frame_reader *r)
{
        r->buffered = 0;
        /* Keep small buffers for the next frame; give big ones back. */
        if (r->cap > (size_t)64 * 1024) {
                tshm__free(r->buf);
                r->buf = NULL;
                r->cap = 0;
        }
}
