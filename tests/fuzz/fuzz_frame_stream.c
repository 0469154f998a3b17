/*
 * fuzz_frame_stream.c - a byte stream through the frame reader in chunks of
 * 1-143 bytes (after systemd's fuzz-varlink.c), each whole frame decoded as
 * a request, as tshmd reads a connection.
 *
 * The input is the stream itself. The byte that starts a chunk also sets the
 * chunk's length, 1 + byte % 143, so that the fuzzer explores how frames
 * split across reads without a separate schedule, and a corpus of frames is
 * a corpus of streams. The reader is held to a model that cuts the whole
 * input into frames at once: it yields exactly those frames, in order and
 * byte for byte; it refuses a length over the limit as soon as its 4 bytes
 * arrive, with nothing of the body buffered; it stops taking bytes only when
 * a whole frame waits; and at the end it holds exactly the unfinished frame.
 *
 * The stream is read twice: with tshmd's limit, TSHM_PROTO_MAX_REQUEST, and
 * with a limit of 64 bytes, so that short inputs reach the limit's edges.
 */
#include <string.h>

#include "tshm.h"

#include "fuzz.h"
#include "proto.h"

#define SMALL_FRAME 64u
#define MAX_CHUNK 143u

/* The model: the input, the reader's limit, and the offset of the next
 * frame's length prefix. Everything before @next has been yielded as whole
 * frames. */
struct model {
        const uint8_t *data;
        size_t size;
        uint32_t max;
        size_t next;
};

static void
frame_decode(const uint8_t *payload, size_t len)
{
        struct tshm__req req;
        char err[128];

        if (tshm__req_decode(payload, len, &req, err, sizeof(err)) == 0) {
                FUZZ_CHECK(tshm__op_name(req.op) != NULL);
        } else {
                FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        }
}

/* Take every whole frame the reader holds, each checked against the model. */
static void
stream_drain(struct tshm__frame_reader *r, struct model *m)
{
        const uint8_t *payload;
        size_t len;

        while (tshm__frame_next(r, &payload, &len) == 1) {
                FUZZ_CHECK(m->size - m->next >= 4);
                FUZZ_CHECK(len <= m->max && tshm__get_be32(m->data + m->next) == len);
                FUZZ_CHECK(m->size - m->next - 4 >= len);
                FUZZ_CHECK(memcmp(payload, m->data + m->next + 4, len) == 0);
                frame_decode(payload, len);
                tshm__frame_consume(r);
                FUZZ_CHECK(r->buffered == 0);
                m->next += 4 + len;
        }
}

/* Feed one chunk, draining frames as they complete. Returns 0 when the
 * whole chunk went in, or the reader's error. */
static int
stream_chunk(struct tshm__frame_reader *r, struct model *m, size_t pos, size_t chunk)
{
        const uint8_t *payload;
        size_t off = 0, len;
        int rv;

        while (off < chunk) {
                rv = tshm__frame_feed(r, m->data + pos + off, chunk - off);
                if (rv < 0) {
                        return rv;
                }
                FUZZ_CHECK((size_t)rv <= chunk - off);
                off += (size_t)rv;
                /* The reader stops short only before a whole frame, else the
                 * caller would spin. */
                FUZZ_CHECK(off == chunk || tshm__frame_next(r, &payload, &len) == 1);
                FUZZ_CHECK(r->cap <= 4u + (size_t)m->max);
                stream_drain(r, m);
                /* Every byte taken is in a yielded frame or still buffered. */
                FUZZ_CHECK(m->next + r->buffered == pos + off);
        }
        return 0;
}

static void
stream_run(const uint8_t *data, size_t size, uint32_t max)
{
        struct model m = {data, size, max, 0};
        struct tshm__frame_reader r;
        size_t pos = 0, chunk;
        int rv = 0;

        tshm__frame_reader_init(&r, max);
        while (pos < size && rv == 0) {
                chunk = 1u + data[pos] % MAX_CHUNK;
                if (chunk > size - pos) {
                        chunk = size - pos;
                }
                rv = stream_chunk(&r, &m, pos, chunk);
                pos += chunk;
        }
        if (rv < 0) {
                /* Only an oversized length stops a stream, as soon as its
                 * 4 bytes are in and before any of the body. */
                FUZZ_CHECK(rv == TSHM_ETOOBIG);
                FUZZ_CHECK(r.buffered == 4 && size - m.next >= 4);
                FUZZ_CHECK(memcmp(r.buf, data + m.next, 4) == 0);
                FUZZ_CHECK(tshm__get_be32(r.buf) > max);
        } else {
                /* What is left is one unfinished frame of allowed length. */
                FUZZ_CHECK(m.next + r.buffered == size);
                FUZZ_CHECK(r.buffered < 4 || (tshm__get_be32(data + m.next) <= max &&
                                              size - m.next - 4 < tshm__get_be32(data + m.next)));
        }
        tshm__frame_reader_done(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        stream_run(data, size, TSHM_PROTO_MAX_REQUEST);
        stream_run(data, size, SMALL_FRAME);
        return 0;
}
