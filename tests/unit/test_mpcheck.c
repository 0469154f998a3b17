/*
 * test_mpcheck.c - the bounded msgpack walk that runs before msgpack-c
 * (proto/mpcheck.c).
 */
#include <check.h>

#include "check_main.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define CHECK_(bytes)                                                                              \
        tshm__mp_check((bytes), sizeof(bytes), TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS)

struct sample {
        const char *what;
        const uint8_t *bytes;
        size_t len;
};

#define S_(what, ...)                                                                              \
        {                                                                                          \
                what, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})       \
        }

/* One well-formed value of every msgpack format. */
static const struct sample formats[] = {
    S_("positive fixint 0", 0x00),
    S_("positive fixint 127", 0x7f),
    S_("fixmap", 0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0xc0),
    S_("fixmap empty", 0x80),
    S_("fixarray", 0x93, 0x01, 0x02, 0x03),
    S_("fixarray empty", 0x90),
    S_("fixstr", 0xa3, 'a', 'b', 'c'),
    S_("fixstr empty", 0xa0),
    S_("fixstr 31", 0xbf, 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
       'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'),
    S_("nil", 0xc0),
    S_("false", 0xc2),
    S_("true", 0xc3),
    S_("bin 8", 0xc4, 0x02, 0x00, 0xff),
    S_("bin 16", 0xc5, 0x00, 0x02, 0x00, 0xff),
    S_("bin 32", 0xc6, 0x00, 0x00, 0x00, 0x02, 0x00, 0xff),
    S_("ext 8", 0xc7, 0x02, 0x05, 0x01, 0x02),
    S_("ext 16", 0xc8, 0x00, 0x02, 0x05, 0x01, 0x02),
    S_("ext 32", 0xc9, 0x00, 0x00, 0x00, 0x02, 0x05, 0x01, 0x02),
    S_("float 32", 0xca, 0x3f, 0x80, 0x00, 0x00),
    S_("float 64", 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0),
    S_("uint 8", 0xcc, 0xff),
    S_("uint 16", 0xcd, 0xff, 0xff),
    S_("uint 32", 0xce, 0xff, 0xff, 0xff, 0xff),
    S_("uint 64", 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
    S_("int 8", 0xd0, 0x80),
    S_("int 16", 0xd1, 0x80, 0x00),
    S_("int 32", 0xd2, 0x80, 0x00, 0x00, 0x00),
    S_("int 64", 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0),
    S_("fixext 1", 0xd4, 0x05, 0x01),
    S_("fixext 2", 0xd5, 0x05, 0x01, 0x02),
    S_("fixext 4", 0xd6, 0x05, 1, 2, 3, 4),
    S_("fixext 8", 0xd7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8),
    S_("fixext 16", 0xd8, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
    S_("str 8", 0xd9, 0x03, 'a', 'b', 'c'),
    S_("str 16", 0xda, 0x00, 0x03, 'a', 'b', 'c'),
    S_("str 32", 0xdb, 0x00, 0x00, 0x00, 0x03, 'a', 'b', 'c'),
    S_("array 16", 0xdc, 0x00, 0x02, 0x01, 0x02),
    S_("array 32", 0xdd, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02),
    S_("map 16", 0xde, 0x00, 0x01, 0x01, 0x02),
    S_("map 32", 0xdf, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02),
    S_("negative fixint -32", 0xe0),
    S_("negative fixint -1", 0xff),
    S_("nested", 0x81, 0xa1, 'k', 0x92, 0xc4, 0x01, 0x00, 0x81, 0xc0, 0xd4, 0x01, 0x02),
};

#define NFORMATS (sizeof(formats) / sizeof(formats[0]))

START_TEST(test_mpcheck_every_format_accepted)
{
        const struct sample *s = &formats[_i];

        ck_assert_msg(
            tshm__mp_check(s->bytes, s->len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS) == 0,
            "%s refused", s->what);
}
END_TEST

/* Every proper prefix of a well-formed value lacks bytes it declares, and a
 * byte after it is trailing: both are refused. */
START_TEST(test_mpcheck_prefix_and_suffix_refused)
{
        const struct sample *s = &formats[_i];
        uint8_t buf[64];
        size_t n;

        ck_assert_uint_lt(s->len, sizeof(buf));
        for (n = 0; n < s->len; n++) {
                ck_assert_msg(tshm__mp_check(s->bytes, n, TSHM_PROTO_MAX_DEPTH,
                                             TSHM_PROTO_MAX_ELEMS) == TSHM_EPROTO,
                              "%s: prefix of %zu bytes accepted", s->what, n);
        }
        memcpy(buf, s->bytes, s->len);
        buf[s->len] = 0x00;
        ck_assert_msg(tshm__mp_check(buf, s->len + 1, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS) ==
                          TSHM_EPROTO,
                      "%s: trailing byte accepted", s->what);
}
END_TEST

START_TEST(test_mpcheck_valid_maps)
{
        /* {"op": 100, "id": 1, "version": 1} */
        static const uint8_t hello[] = {0x83, 0xa2, 'o', 'p', 0x64, 0xa2, 'i', 'd', 0x01,
                                        0xa7, 'v',  'e', 'r', 's',  'i',  'o', 'n', 0x01};
        /* {"shape": [2, 3], "m": {}} */
        static const uint8_t nested[] = {0x82, 0xa5, 's',  'h',  'a', 'p', 'e',
                                         0x92, 0x02, 0x03, 0xa1, 'm', 0x80};
        msgpack_sbuffer sb;
        msgpack_packer pk;
        uint32_t i;

        ck_assert_int_eq(CHECK_(hello), 0);
        ck_assert_int_eq(CHECK_(nested), 0);

        /* A map of TSHM_PROTO_MAX_ELEMS entries, packed by msgpack-c. */
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, TSHM_PROTO_MAX_ELEMS);
        for (i = 0; i < TSHM_PROTO_MAX_ELEMS; i++) {
                msgpack_pack_uint32(&pk, i);
                msgpack_pack_str_with_body(&pk, "v", 1);
        }
        ck_assert_int_eq(tshm__mp_check((const uint8_t *)sb.data, sb.size, TSHM_PROTO_MAX_DEPTH,
                                        TSHM_PROTO_MAX_ELEMS),
                         0);
        /* One more entry than allowed. */
        ck_assert_int_eq(tshm__mp_check((const uint8_t *)sb.data, sb.size, TSHM_PROTO_MAX_DEPTH,
                                        TSHM_PROTO_MAX_ELEMS - 1),
                         TSHM_EPROTO);
        msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_mpcheck_huge_declared_counts)
{
        static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
        static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
        static const uint8_t arr16[] = {0xdc, 0xff, 0xff, 0x01};
        static const uint8_t map16[] = {0xde, 0xff, 0xff, 0x01, 0x02};
        /* A map declaring 3 pairs with 4 bytes left: enough for the count
         * of entries, not for the pairs. */
        static const uint8_t map_short[] = {0xde, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04};
        static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
        static const uint8_t bin32[] = {0xc6, 0xff, 0xff, 0xff, 0xff, 'a'};
        static const uint8_t ext32[] = {0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'};

        ck_assert_int_eq(CHECK_(arr32), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(map32), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(arr16), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(map16), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(map_short), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(str32), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(bin32), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(ext32), TSHM_EPROTO);
        /* Refused for want of bytes even with no element limit. */
        ck_assert_int_eq(tshm__mp_check(arr32, sizeof(arr32), TSHM_PROTO_MAX_DEPTH, UINT32_MAX),
                         TSHM_EPROTO);
        ck_assert_int_eq(tshm__mp_check(map32, sizeof(map32), TSHM_PROTO_MAX_DEPTH, UINT32_MAX),
                         TSHM_EPROTO);
        ck_assert_int_eq(
            tshm__mp_check(map_short, sizeof(map_short), TSHM_PROTO_MAX_DEPTH, UINT32_MAX),
            TSHM_EPROTO);
}
END_TEST

START_TEST(test_mpcheck_element_limit)
{
        static const uint8_t three[] = {0x93, 0x01, 0x02, 0x03};
        static const uint8_t map2[] = {0x82, 0x01, 0x02, 0x03, 0x04};

        ck_assert_int_eq(tshm__mp_check(three, sizeof(three), 4, 3), 0);
        ck_assert_int_eq(tshm__mp_check(three, sizeof(three), 4, 2), TSHM_EPROTO);
        /* A map's limit counts pairs. */
        ck_assert_int_eq(tshm__mp_check(map2, sizeof(map2), 4, 2), 0);
        ck_assert_int_eq(tshm__mp_check(map2, sizeof(map2), 4, 1), TSHM_EPROTO);
}
END_TEST

/* @n nested one-element arrays around a nil. */
static size_t
nest(uint8_t *buf, size_t n, uint8_t container)
{
        size_t i;

        for (i = 0; i < n; i++) {
                buf[i] = container;
        }
        buf[n] = 0xc0;
        return n + 1;
}

START_TEST(test_mpcheck_depth_limit)
{
        uint8_t buf[64];
        size_t len;

        /* TSHM_PROTO_MAX_DEPTH containers deep is allowed... */
        len = nest(buf, TSHM_PROTO_MAX_DEPTH, 0x91);
        ck_assert_int_eq(tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS), 0);
        /* ...one more is not, arrays or maps... */
        len = nest(buf, TSHM_PROTO_MAX_DEPTH + 1, 0x91);
        ck_assert_int_eq(tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS),
                         TSHM_EPROTO);
        len = nest(buf, 40, 0x91);
        ck_assert_int_eq(tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS),
                         TSHM_EPROTO);
        /* ...even when the innermost container is empty. */
        len = nest(buf, TSHM_PROTO_MAX_DEPTH, 0x91);
        buf[len - 1] = 0x90;
        ck_assert_int_eq(tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS),
                         TSHM_EPROTO);
        buf[len - 1] = 0x80;
        ck_assert_int_eq(tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS),
                         TSHM_EPROTO);

        /* Maps nest as values: {1: {1: ... nil}}. */
        {
                size_t i, n = 0;
                for (i = 0; i < TSHM_PROTO_MAX_DEPTH; i++) {
                        buf[n++] = 0x81;
                        buf[n++] = 0x01;
                }
                buf[n++] = 0xc0;
                ck_assert_int_eq(tshm__mp_check(buf, n, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS),
                                 0);
                ck_assert_int_eq(
                    tshm__mp_check(buf, n, TSHM_PROTO_MAX_DEPTH - 1, TSHM_PROTO_MAX_ELEMS),
                    TSHM_EPROTO);
        }

        /* Depth 0 allows scalars only. */
        ck_assert_int_eq(tshm__mp_check((const uint8_t[]){0x01}, 1, 0, TSHM_PROTO_MAX_ELEMS), 0);
        ck_assert_int_eq(tshm__mp_check((const uint8_t[]){0x90}, 1, 0, TSHM_PROTO_MAX_ELEMS),
                         TSHM_EPROTO);
}
END_TEST

START_TEST(test_mpcheck_truncated_str_bin_ext)
{
        static const uint8_t fixstr[] = {0xa5, 'a', 'b'};
        static const uint8_t str8[] = {0xd9, 0x05, 'a', 'b', 'c'};
        static const uint8_t str8_nolen[] = {0xd9};
        static const uint8_t str16[] = {0xda, 0x00, 0x04, 'a', 'b', 'c'};
        static const uint8_t str16_halflen[] = {0xda, 0x00};
        static const uint8_t bin8[] = {0xc4, 0x03, 'a', 'b'};
        static const uint8_t bin16[] = {0xc5, 0x01, 0x00, 'a'};
        static const uint8_t ext8[] = {0xc7, 0x02, 0x05, 'a'};   /* type, 1 of 2 data */
        static const uint8_t ext8_notype[] = {0xc7, 0x00};       /* no type byte */
        static const uint8_t ext16[] = {0xc8, 0x00, 0x01, 0x05}; /* no data */
        static const uint8_t fixext4[] = {0xd6, 0x05, 1, 2, 3};  /* 3 of 4 data */
        static const uint8_t fixext1[] = {0xd4, 0x05};           /* no data */
        /* Truncated inside a container. */
        static const uint8_t in_map[] = {0x81, 0xa1, 'k', 0xa4, 'v', 'v'};

        ck_assert_int_eq(CHECK_(fixstr), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(str8), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(str8_nolen), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(str16), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(str16_halflen), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(bin8), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(bin16), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(ext8), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(ext8_notype), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(ext16), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(fixext4), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(fixext1), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(in_map), TSHM_EPROTO);
}
END_TEST

START_TEST(test_mpcheck_never_used_byte)
{
        static const uint8_t alone[] = {0xc1};
        static const uint8_t in_array[] = {0x92, 0x01, 0xc1};
        static const uint8_t as_key[] = {0x81, 0xc1, 0x01};

        ck_assert_int_eq(CHECK_(alone), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(in_array), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(as_key), TSHM_EPROTO);
}
END_TEST

START_TEST(test_mpcheck_trailing_and_empty)
{
        static const uint8_t two_values[] = {0x80, 0x80};
        static const uint8_t trailing_nil[] = {0x81, 0x01, 0x02, 0xc0};
        uint8_t one = 0x01;

        ck_assert_int_eq(CHECK_(two_values), TSHM_EPROTO);
        ck_assert_int_eq(CHECK_(trailing_nil), TSHM_EPROTO);
        ck_assert_int_eq(tshm__mp_check(&one, 0, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS),
                         TSHM_EPROTO);
        ck_assert_int_eq(tshm__mp_check(&one, 1, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS), 0);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("mpcheck");

        tshm_test_loop(s, 0, test_mpcheck_every_format_accepted, 0, (int)NFORMATS);
        tshm_test_loop(s, 0, test_mpcheck_prefix_and_suffix_refused, 0, (int)NFORMATS);
        tshm_test_each(s, 0, NULL, NULL,
                       TSHM_TESTS(test_mpcheck_valid_maps, test_mpcheck_huge_declared_counts,
                                  test_mpcheck_element_limit, test_mpcheck_depth_limit,
                                  test_mpcheck_truncated_str_bin_ext, test_mpcheck_never_used_byte,
                                  test_mpcheck_trailing_and_empty));
        return tshm_test_run(s);
}
