/*
 * test_frame.c - the length-prefixed frame reader (proto/frame.c).
 */
#include <check.h>

#include "check_main.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Append one frame (prefix and @len bytes of @payload) to @buf at *@off. */
static void
put_frame(uint8_t *buf, size_t *off, const void *payload, uint32_t len)
{
        tshm__put_be32(buf + *off, len);
        if (len > 0) {
                memcpy(buf + *off + 4, payload, len);
        }
        *off += 4u + len;
}

/* Assert that @r holds the whole frame @want (@len bytes) and consume it. */
static void
expect_frame(struct tshm__frame_reader *r, const void *want, size_t len)
{
        const uint8_t *p = NULL;
        size_t n = (size_t)-1;

        ck_assert_int_eq(tshm__frame_next(r, &p, &n), 1);
        ck_assert_uint_eq(n, len);
        ck_assert_ptr_nonnull(p);
        if (len > 0) {
                ck_assert_mem_eq(p, want, len);
        }
        tshm__frame_consume(r);
        ck_assert_uint_eq(r->buffered, 0);
        ck_assert_int_eq(tshm__frame_next(r, &p, &n), 0);
}

START_TEST(test_frame_be32)
{
        uint8_t b[4];

        tshm__put_be32(b, 0x01020304u);
        ck_assert_uint_eq(b[0], 0x01);
        ck_assert_uint_eq(b[1], 0x02);
        ck_assert_uint_eq(b[2], 0x03);
        ck_assert_uint_eq(b[3], 0x04);
        ck_assert_uint_eq(tshm__get_be32(b), 0x01020304u);
        tshm__put_be32(b, 0xfffffffeu);
        ck_assert_uint_eq(tshm__get_be32(b), 0xfffffffeu);
        ck_assert_uint_eq(b[3], 0xfe);
}
END_TEST

START_TEST(test_frame_one_byte_at_a_time)
{
        static const char a[] = "hello", bb[] = "second frame";
        struct tshm__frame_reader r;
        uint8_t stream[64];
        size_t len = 0, i, got = 0;
        const uint8_t *p;
        size_t n;

        put_frame(stream, &len, a, sizeof(a));
        put_frame(stream, &len, bb, sizeof(bb));
        tshm__frame_reader_init(&r, TSHM_PROTO_MAX_REQUEST);
        for (i = 0; i < len;) {
                int rv = tshm__frame_feed(&r, stream + i, 1);
                if (rv == 0) {
                        /* A frame is waiting: it must be whole, and it must
                         * end exactly where the next one starts. */
                        ck_assert_int_eq(tshm__frame_next(&r, &p, &n), 1);
                        if (got == 0) {
                                ck_assert_uint_eq(i, 4 + sizeof(a));
                                expect_frame(&r, a, sizeof(a));
                        } else {
                                ck_abort_msg("second frame waiting before its last byte");
                        }
                        got++;
                        continue;
                }
                ck_assert_int_eq(rv, 1);
                i++;
                if (i < 4 + sizeof(a) || (i > 4 + sizeof(a) && i < len)) {
                        ck_assert_int_eq(tshm__frame_next(&r, &p, &n), 0);
                }
        }
        ck_assert_uint_eq(got, 1);
        expect_frame(&r, bb, sizeof(bb));
        tshm__frame_reader_done(&r);
        ck_assert_ptr_null(r.buf);
}
END_TEST

START_TEST(test_frame_several_in_one_feed)
{
        static const char a[] = "one", bb[] = "two two", c[] = "three three three";
        const char *want[] = {a, bb, c};
        const size_t wlen[] = {sizeof(a), sizeof(bb), sizeof(c)};
        struct tshm__frame_reader r;
        uint8_t stream[128];
        size_t len = 0, off = 0, k = 0;
        int rv;

        put_frame(stream, &len, a, sizeof(a));
        put_frame(stream, &len, bb, sizeof(bb));
        put_frame(stream, &len, c, sizeof(c));
        tshm__frame_reader_init(&r, TSHM_PROTO_MAX_REQUEST);

        /* The first feed takes exactly the first frame and leaves the rest. */
        rv = tshm__frame_feed(&r, stream, len);
        ck_assert_int_eq(rv, (int)(4 + sizeof(a)));
        /* While it waits, nothing more is taken. */
        ck_assert_int_eq(tshm__frame_feed(&r, stream + rv, len - (size_t)rv), 0);
        off = (size_t)rv;
        expect_frame(&r, want[k], wlen[k]);
        k++;
        while (off < len) {
                rv = tshm__frame_feed(&r, stream + off, len - off);
                ck_assert_int_eq(rv, (int)(4 + wlen[k]));
                off += (size_t)rv;
                expect_frame(&r, want[k], wlen[k]);
                k++;
        }
        ck_assert_uint_eq(k, 3);
        ck_assert_uint_eq(off, len);
        tshm__frame_reader_done(&r);
}
END_TEST

START_TEST(test_frame_partial_header_and_body)
{
        static const char a[] = "0123456789";
        struct tshm__frame_reader r;
        uint8_t stream[32];
        size_t len = 0;
        const uint8_t *p = NULL;
        size_t n = 77;

        put_frame(stream, &len, a, sizeof(a));
        tshm__frame_reader_init(&r, TSHM_PROTO_MAX_REQUEST);
        ck_assert_int_eq(tshm__frame_feed(&r, stream, 3), 3);
        ck_assert_int_eq(tshm__frame_next(&r, &p, &n), 0);
        ck_assert_ptr_null(p); /* untouched */
        ck_assert_uint_eq(n, 77);
        ck_assert_int_eq(tshm__frame_feed(&r, stream + 3, 5), 5);
        ck_assert_int_eq(tshm__frame_next(&r, &p, &n), 0);
        ck_assert_int_eq(tshm__frame_feed(&r, stream + 8, len - 8), (int)(len - 8));
        expect_frame(&r, a, sizeof(a));
        /* An empty feed takes nothing. */
        ck_assert_int_eq(tshm__frame_feed(&r, stream, 0), 0);
        ck_assert_uint_eq(r.buffered, 0);
        tshm__frame_reader_done(&r);
}
END_TEST

START_TEST(test_frame_rejects_oversized_length)
{
        struct tshm__frame_reader r;
        uint8_t buf[4 + 64];

        memset(buf, 'x', sizeof(buf));

        /* Header alone. */
        tshm__frame_reader_init(&r, 16);
        tshm__put_be32(buf, 17);
        ck_assert_int_eq(tshm__frame_feed(&r, buf, 4), TSHM_ETOOBIG);
        ck_assert_uint_le(r.buffered, 4); /* nothing of the body kept */
        ck_assert_uint_le(r.cap, 4);      /* nor allocated */
        /* It stays refused. */
        ck_assert_int_eq(tshm__frame_feed(&r, buf + 4, 8), TSHM_ETOOBIG);
        ck_assert_uint_le(r.buffered, 4);
        ck_assert_uint_le(r.cap, 4);
        tshm__frame_reader_done(&r);

        /* Header and body in one feed. */
        tshm__frame_reader_init(&r, 16);
        tshm__put_be32(buf, 60);
        ck_assert_int_eq(tshm__frame_feed(&r, buf, sizeof(buf)), TSHM_ETOOBIG);
        ck_assert_uint_le(r.buffered, 4);
        ck_assert_uint_le(r.cap, 4);
        tshm__frame_reader_done(&r);

        /* Header one byte at a time: refused on its fourth byte. */
        tshm__frame_reader_init(&r, TSHM_PROTO_MAX_REQUEST);
        tshm__put_be32(buf, 0xffffffffu);
        ck_assert_int_eq(tshm__frame_feed(&r, buf, 1), 1);
        ck_assert_int_eq(tshm__frame_feed(&r, buf + 1, 1), 1);
        ck_assert_int_eq(tshm__frame_feed(&r, buf + 2, 1), 1);
        ck_assert_int_eq(tshm__frame_feed(&r, buf + 3, 1), TSHM_ETOOBIG);
        ck_assert_uint_le(r.cap, 4);
        tshm__frame_reader_done(&r);

        /* One past the request limit. */
        tshm__frame_reader_init(&r, TSHM_PROTO_MAX_REQUEST);
        tshm__put_be32(buf, TSHM_PROTO_MAX_REQUEST + 1);
        ck_assert_int_eq(tshm__frame_feed(&r, buf, sizeof(buf)), TSHM_ETOOBIG);
        ck_assert_uint_le(r.cap, 4);
        tshm__frame_reader_done(&r);
}
END_TEST

START_TEST(test_frame_accepts_max_length)
{
        struct tshm__frame_reader r;
        uint8_t buf[4 + 16];
        size_t i;

        for (i = 0; i < 16; i++) {
                buf[4 + i] = (uint8_t)i;
        }
        tshm__put_be32(buf, 16);
        tshm__frame_reader_init(&r, 16);
        ck_assert_int_eq(tshm__frame_feed(&r, buf, sizeof(buf)), (int)sizeof(buf));
        expect_frame(&r, buf + 4, 16);
        tshm__frame_reader_done(&r);
}
END_TEST

START_TEST(test_frame_zero_length)
{
        static const char a[] = "after";
        struct tshm__frame_reader r;
        uint8_t stream[32];
        size_t len = 0;
        int rv;

        put_frame(stream, &len, NULL, 0);
        put_frame(stream, &len, a, sizeof(a));
        tshm__frame_reader_init(&r, TSHM_PROTO_MAX_REQUEST);
        rv = tshm__frame_feed(&r, stream, len);
        ck_assert_int_eq(rv, 4);
        expect_frame(&r, NULL, 0);
        ck_assert_int_eq(tshm__frame_feed(&r, stream + 4, len - 4), (int)(len - 4));
        expect_frame(&r, a, sizeof(a));

        /* Alone, and byte by byte. */
        ck_assert_int_eq(tshm__frame_feed(&r, stream, 2), 2);
        ck_assert_int_eq(tshm__frame_feed(&r, stream + 2, 2), 2);
        expect_frame(&r, NULL, 0);
        tshm__frame_reader_done(&r);
}
END_TEST

START_TEST(test_frame_consume_then_reuse)
{
        struct tshm__frame_reader r;
        const size_t big = (size_t)100 * 1024;
        uint8_t *stream = malloc(4 + big);
        uint8_t small[4 + 3] = {0, 0, 0, 3, 'a', 'b', 'c'};
        size_t i;

        ck_assert_ptr_nonnull(stream);
        for (i = 0; i < big; i++) {
                stream[4 + i] = (uint8_t)(i * 7u);
        }
        tshm__put_be32(stream, (uint32_t)big);
        tshm__frame_reader_init(&r, TSHM_PROTO_MAX_REPLY);

        /* Small frames reuse the buffer. */
        ck_assert_int_eq(tshm__frame_feed(&r, small, sizeof(small)), (int)sizeof(small));
        expect_frame(&r, "abc", 3);
        ck_assert_ptr_nonnull(r.buf);
        ck_assert_int_eq(tshm__frame_feed(&r, small, sizeof(small)), (int)sizeof(small));
        expect_frame(&r, "abc", 3);

        /* A big one grows it, and consuming gives it back. */
        ck_assert_int_eq(tshm__frame_feed(&r, stream, 4 + big), (int)(4 + big));
        ck_assert_uint_ge(r.cap, 4 + big);
        expect_frame(&r, stream + 4, big);
        ck_assert_uint_le(r.cap, (size_t)64 * 1024);

        /* And the reader still works afterwards. */
        ck_assert_int_eq(tshm__frame_feed(&r, small, 5), 5);
        ck_assert_int_eq(tshm__frame_feed(&r, small + 5, 2), 2);
        expect_frame(&r, "abc", 3);
        tshm__frame_reader_done(&r);
        ck_assert_ptr_null(r.buf);
        ck_assert_uint_eq(r.cap, 0);
        free(stream);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("frame");

        tshm_test_each(
            s, 0, NULL, NULL,
            TSHM_TESTS(test_frame_be32, test_frame_one_byte_at_a_time,
                       test_frame_several_in_one_feed, test_frame_partial_header_and_body,
                       test_frame_rejects_oversized_length, test_frame_accepts_max_length,
                       test_frame_zero_length, test_frame_consume_then_reuse));
        return tshm_test_run(s);
}
