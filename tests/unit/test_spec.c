/*
 * test_spec.c - names, dtypes, shapes (proto/spec.c) and the error table
 * (proto/error.c).
 */
#include <check.h>

#include "check_main.h"
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

/* What NumPy calls each dtype, written out here rather than taken from
 * spec.c. */
static const struct {
        tshm_dtype dtype;
        const char *name;
        const char *typestr;
        size_t itemsize;
} dtypes[] = {
    {TSHM_DTYPE_BOOL, "bool", "|b1", 1},
    {TSHM_DTYPE_INT8, "int8", "|i1", 1},
    {TSHM_DTYPE_INT16, "int16", "<i2", 2},
    {TSHM_DTYPE_INT32, "int32", "<i4", 4},
    {TSHM_DTYPE_INT64, "int64", "<i8", 8},
    {TSHM_DTYPE_UINT8, "uint8", "|u1", 1},
    {TSHM_DTYPE_UINT16, "uint16", "<u2", 2},
    {TSHM_DTYPE_UINT32, "uint32", "<u4", 4},
    {TSHM_DTYPE_UINT64, "uint64", "<u8", 8},
    {TSHM_DTYPE_FLOAT16, "float16", "<f2", 2},
    {TSHM_DTYPE_BFLOAT16, "bfloat16", "<V2", 2},
    {TSHM_DTYPE_FLOAT32, "float32", "<f4", 4},
    {TSHM_DTYPE_FLOAT64, "float64", "<f8", 8},
    {TSHM_DTYPE_COMPLEX64, "complex64", "<c8", 8},
    {TSHM_DTYPE_COMPLEX128, "complex128", "<c16", 16},
};

#define NDTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

/* ---- names ---- */

START_TEST(test_spec_name_check_accepts)
{
        char name[TSHM_NAME_MAX + 1];
        static const char *const ok[] = {
            "a",           "Z", "0", "a.b", "a..b", "-lead", "_lead", "x.", "model-v1.2_final",
            "ABCxyz019._-"};
        size_t i;

        for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                ck_assert_msg(tshm_name_check(ok[i]) == 0, "'%s' refused", ok[i]);
        }
        memset(name, 'q', TSHM_NAME_MAX);
        name[TSHM_NAME_MAX] = '\0';
        ck_assert_int_eq(tshm_name_check(name), 0);
        /* Only the characters before the NUL count. */
        ck_assert_int_eq(tshm_name_check("abc\0/../x"), 0);
}
END_TEST

START_TEST(test_spec_name_check_refuses)
{
        char name[TSHM_NAME_MAX + 2];
        static const char *const bad[] = {
            "",    ".",   "..",  ".hidden", "/", "/abs", "a/b",  "a b",   " a",   "a ",
            "a\t", "a\n", "a:b", "a*",      "é", "a\\b", "\x7f", "a\x01", "a%2f", "~a",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(tshm_name_check(bad[i]) == TSHM_EBADNAME, "'%s' accepted", bad[i]);
        }
        ck_assert_int_eq(tshm_name_check(NULL), TSHM_EBADNAME);
        memset(name, 'q', TSHM_NAME_MAX + 1);
        name[TSHM_NAME_MAX + 1] = '\0';
        ck_assert_int_eq(tshm_name_check(name), TSHM_EBADNAME);
}
END_TEST

/* ---- dtypes ---- */

START_TEST(test_spec_dtype_tables)
{
        size_t i;

        for (i = 0; i < NDTYPES; i++) {
                ck_assert_str_eq(tshm_dtype_name(dtypes[i].dtype), dtypes[i].name);
                ck_assert_str_eq(tshm_dtype_typestr(dtypes[i].dtype), dtypes[i].typestr);
                ck_assert_uint_eq(tshm_dtype_itemsize(dtypes[i].dtype), dtypes[i].itemsize);
        }
        /* Not dtypes. */
        ck_assert_ptr_null(tshm_dtype_name((tshm_dtype)0));
        ck_assert_ptr_null(tshm_dtype_typestr((tshm_dtype)0));
        ck_assert_uint_eq(tshm_dtype_itemsize((tshm_dtype)0), 0);
        ck_assert_ptr_null(tshm_dtype_name((tshm_dtype)16));
        ck_assert_ptr_null(tshm_dtype_typestr((tshm_dtype)16));
        ck_assert_uint_eq(tshm_dtype_itemsize((tshm_dtype)16), 0);
        ck_assert_ptr_null(tshm_dtype_name((tshm_dtype)-1));
        ck_assert_uint_eq(tshm_dtype_itemsize((tshm_dtype)-1), 0);
        ck_assert_ptr_null(tshm_dtype_typestr((tshm_dtype)1000));
}
END_TEST

START_TEST(test_spec_dtype_parse_names)
{
        tshm_dtype dt;
        size_t i;

        for (i = 0; i < NDTYPES; i++) {
                dt = (tshm_dtype)0;
                ck_assert_int_eq(tshm_dtype_parse(dtypes[i].name, &dt), 0);
                ck_assert_int_eq(dt, dtypes[i].dtype);
        }
        /* NumPy's aliases. */
        ck_assert_int_eq(tshm_dtype_parse("float", &dt), 0);
        ck_assert_int_eq(dt, TSHM_DTYPE_FLOAT64);
        ck_assert_int_eq(tshm_dtype_parse("double", &dt), 0);
        ck_assert_int_eq(dt, TSHM_DTYPE_FLOAT64);
        ck_assert_int_eq(tshm_dtype_parse("half", &dt), 0);
        ck_assert_int_eq(dt, TSHM_DTYPE_FLOAT16);
        ck_assert_int_eq(tshm_dtype_parse("?", &dt), 0);
        ck_assert_int_eq(dt, TSHM_DTYPE_BOOL);
        ck_assert_int_eq(tshm_dtype_parse("complex", &dt), 0);
        ck_assert_int_eq(dt, TSHM_DTYPE_COMPLEX128);
}
END_TEST

START_TEST(test_spec_dtype_parse_typestrs)
{
        static const struct {
                const char *s;
                tshm_dtype dtype;
        } ok[] = {
            {"<f4", TSHM_DTYPE_FLOAT32},   {"=f4", TSHM_DTYPE_FLOAT32},
            {"f4", TSHM_DTYPE_FLOAT32},    {"|b1", TSHM_DTYPE_BOOL},
            {"|u1", TSHM_DTYPE_UINT8},     {"<c16", TSHM_DTYPE_COMPLEX128},
            {"<c8", TSHM_DTYPE_COMPLEX64}, {"<i8", TSHM_DTYPE_INT64},
            {"i2", TSHM_DTYPE_INT16},      {"=u8", TSHM_DTYPE_UINT64},
            {"<f2", TSHM_DTYPE_FLOAT16},   {"f8", TSHM_DTYPE_FLOAT64},
            {"|i1", TSHM_DTYPE_INT8},      {"<u4", TSHM_DTYPE_UINT32},
        };
        tshm_dtype dt;
        size_t i;

        for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                dt = (tshm_dtype)0;
                ck_assert_msg(tshm_dtype_parse(ok[i].s, &dt) == 0, "'%s' refused", ok[i].s);
                ck_assert_msg(dt == ok[i].dtype, "'%s' parsed to %d", ok[i].s, (int)dt);
        }
        /* Every dtype's own type string parses back, except bfloat16's
         * "<V2", which says only "2 opaque bytes". */
        for (i = 0; i < NDTYPES; i++) {
                int rv = tshm_dtype_parse(dtypes[i].typestr, &dt);
                if (dtypes[i].dtype == TSHM_DTYPE_BFLOAT16) {
                        ck_assert_int_eq(rv, TSHM_EBADDTYPE);
                } else {
                        ck_assert_int_eq(rv, 0);
                        ck_assert_int_eq(dt, dtypes[i].dtype);
                }
        }
}
END_TEST

START_TEST(test_spec_dtype_parse_refuses)
{
        static const char *const bad[] = {
            ">f4", ">i2",  "float128", "",    "<",   "=",    "|",  "f",
            "<f3", "<f16", "Float32",  "f4 ", " f4", "<<f4", "V2", "<V2",
        };
        tshm_dtype dt = TSHM_DTYPE_UINT16;
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(tshm_dtype_parse(bad[i], &dt) == TSHM_EBADDTYPE, "'%s' accepted",
                              bad[i]);
        }
        ck_assert_int_eq(dt, TSHM_DTYPE_UINT16); /* never written on failure */
        ck_assert_int_eq(tshm_dtype_parse(NULL, &dt), TSHM_EBADDTYPE);
        ck_assert_int_eq(tshm_dtype_parse("float32", NULL), TSHM_EBADDTYPE);
        ck_assert_int_eq(dt, TSHM_DTYPE_UINT16);
}
END_TEST

/* ---- shapes ---- */

static void
expect_shape(const char *s, size_t ndim, const uint64_t *want)
{
        uint64_t shape[TSHM_MAX_NDIM];
        size_t n = 999, i;

        ck_assert_msg(tshm_shape_parse(s, &n, shape) == 0, "'%s' refused", s);
        ck_assert_msg(n == ndim, "'%s': %zu dims, want %zu", s, n, ndim);
        for (i = 0; i < ndim; i++) {
                ck_assert_uint_eq(shape[i], want[i]);
        }
}

START_TEST(test_spec_shape_parse_accepts)
{
        static const uint64_t s34[] = {3, 4}, s7[] = {7}, s123[] = {1, 2, 3}, s0[] = {0},
                              s_max[] = {INT64_MAX}, s_lead[] = {7, 0};
        uint64_t s32[TSHM_MAX_NDIM];
        char buf[256];
        size_t i, off = 0;

        expect_shape("3x4", 2, s34);
        expect_shape("3,4", 2, s34);
        expect_shape("3X4", 2, s34);
        expect_shape("7", 1, s7);
        expect_shape("1x2x3", 3, s123);
        expect_shape("1,2x3", 3, s123);
        expect_shape("0", 1, s0);
        expect_shape("007x0", 2, s_lead);
        expect_shape("9223372036854775807", 1, s_max);
        expect_shape("", 0, NULL);
        expect_shape("scalar", 0, NULL);
        expect_shape("()", 0, NULL);
        /* 32 dimensions. */
        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                s32[i] = i + 1;
                off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%zu", i ? "x" : "", i + 1);
        }
        expect_shape(buf, TSHM_MAX_NDIM, s32);
}
END_TEST

START_TEST(test_spec_shape_parse_refuses)
{
        static const char *const bad[] = {
            "3x",
            "x3",
            "3xx4",
            "-1",
            "a",
            "3x-4",
            " 3",
            "3 ",
            "3,,4",
            "3x4,",
            "x",
            ",",
            "+3",
            "3.0",
            "3x4x",
            "0b10",
            "scalars",
            "3;4",
            "9223372036854775808",
            "99999999999999999999",
            "18446744073709551616",
        };
        uint64_t shape[TSHM_MAX_NDIM];
        size_t n = 999, i;
        char buf[256];
        size_t off = 0;

        shape[0] = 4242;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(tshm_shape_parse(bad[i], &n, shape) == TSHM_EBADSHAPE,
                              "'%s' accepted", bad[i]);
        }
        /* Outputs untouched on failure. */
        ck_assert_uint_eq(n, 999);
        ck_assert_uint_eq(shape[0], 4242);
        /* 33 dimensions. */
        for (i = 0; i <= TSHM_MAX_NDIM; i++) {
                off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s1", i ? "x" : "");
        }
        ck_assert_int_eq(tshm_shape_parse(buf, &n, shape), TSHM_EBADSHAPE);
        ck_assert_uint_eq(n, 999);
        ck_assert_int_eq(tshm_shape_parse(NULL, &n, shape), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_parse("3", NULL, shape), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_parse("3", &n, NULL), TSHM_EBADSHAPE);
}
END_TEST

START_TEST(test_spec_shape_nbytes)
{
        uint64_t nb = 0;
        static const uint64_t s34[] = {3, 4}, s_empty[] = {3, 0, 5};
        uint64_t s32[TSHM_MAX_NDIM];
        size_t i;

        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_FLOAT32, 2, s34, &nb), 0);
        ck_assert_uint_eq(nb, 48);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_COMPLEX128, 2, s34, &nb), 0);
        ck_assert_uint_eq(nb, 192);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_FLOAT64, 0, NULL, &nb), 0);
        ck_assert_uint_eq(nb, 8);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_INT16, 3, s_empty, &nb), 0);
        ck_assert_uint_eq(nb, 0);
        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                s32[i] = i < 3 ? 2 : 1;
        }
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, TSHM_MAX_NDIM, s32, &nb), 0);
        ck_assert_uint_eq(nb, 8);
        /* The largest sizes that fit in int64. */
        {
                const uint64_t a[] = {INT64_MAX}, b[] = {(1ull << 61) - 1};
                ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 1, a, &nb), 0);
                ck_assert_uint_eq(nb, (uint64_t)INT64_MAX);
                ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_FLOAT32, 1, b, &nb), 0);
                ck_assert_uint_eq(nb, (1ull << 63) - 4);
        }
}
END_TEST

START_TEST(test_spec_shape_nbytes_refuses)
{
        static const uint64_t s34[] = {3, 4};
        static const uint64_t over_prod[] = {1ull << 32, 1ull << 32};
        static const uint64_t over_item[] = {1ull << 61};
        static const uint64_t over_one[] = {UINT64_MAX};
        static const uint64_t over_two[] = {INT64_MAX, 2};
        static const uint64_t over_empty[] = {0, 1ull << 62, 1ull << 62};
        static const uint64_t big[] = {1ull << 31, 1ull << 31};
        static const uint64_t over_late[] = {1ull << 31, 1ull << 31, 2};
        uint64_t nb = 77;

        ck_assert_int_eq(tshm_shape_nbytes((tshm_dtype)0, 2, s34, &nb), TSHM_EBADDTYPE);
        ck_assert_int_eq(tshm_shape_nbytes((tshm_dtype)99, 2, s34, &nb), TSHM_EBADDTYPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, TSHM_MAX_NDIM + 1, s34, &nb),
                         TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 2, NULL, &nb), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 2, over_prod, &nb), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_FLOAT32, 1, over_item, &nb), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 1, over_one, &nb), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 2, over_two, &nb), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 3, over_empty, &nb), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 3, over_late, &nb), TSHM_EBADSHAPE);
        ck_assert_uint_eq(nb, 77); /* never written on failure */
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_UINT8, 2, big, &nb), 0);
        ck_assert_uint_eq(nb, 1ull << 62);
        /* 2^62 elements of 4 bytes do not fit. */
        ck_assert_int_eq(tshm_shape_nbytes(TSHM_DTYPE_FLOAT32, 2, big, &nb), TSHM_EBADSHAPE);
        ck_assert_uint_eq(nb, 1ull << 62); /* untouched by the failure */
}
END_TEST

/* ---- errors and version ---- */

static const struct {
        const char *name;
        int value;
        const char *msg;
} errs[] = {
#define X_(name, value, msg) {#name, (value), (msg)},
    TSHM_ERRNO_MAP(X_)
#undef X_
};

#define NERRS (sizeof(errs) / sizeof(errs[0]))

START_TEST(test_spec_error_table)
{
        size_t i, j;

        ck_assert_uint_ge(NERRS, 21);
        for (i = 0; i < NERRS; i++) {
                ck_assert_int_lt(errs[i].value, 0);
                ck_assert_str_eq(tshm_err_name(errs[i].value), errs[i].name);
                ck_assert_str_eq(tshm_strerror(errs[i].value), errs[i].msg);
                ck_assert_uint_gt(strlen(errs[i].msg), 0);
                for (j = i + 1; j < NERRS; j++) {
                        ck_assert_int_ne(errs[i].value, errs[j].value);
                        ck_assert_str_ne(errs[i].name, errs[j].name);
                }
        }
        /* The wire carries these numbers: they never change. */
        ck_assert_int_eq(TSHM_EINVAL, -EINVAL);
        ck_assert_int_eq(TSHM_ENOENT, -ENOENT);
        ck_assert_int_eq(TSHM_ENOMEM, -ENOMEM);
        ck_assert_int_eq(TSHM_EPROTO, -4001);
        ck_assert_int_eq(TSHM_EBADHDR, -4003);
        ck_assert_int_eq(TSHM_ETOOBIG, -4007);
        ck_assert_int_eq(TSHM_ENOTSUP, -4010);
        ck_assert_int_eq(TSHM_ETORN, -4011);
        ck_assert_str_eq(tshm_err_name(TSHM_ENOENT), "ENOENT");
        ck_assert_str_eq(tshm_err_name(TSHM_EBADSHAPE), "EBADSHAPE");
        ck_assert_str_eq(tshm_strerror(TSHM_EPROTO), "protocol violation");
}
END_TEST

START_TEST(test_spec_error_unknown)
{
        ck_assert_str_eq(tshm_err_name(0), "OK");
        ck_assert_str_eq(tshm_strerror(0), "success");
        ck_assert_str_eq(tshm_err_name(-4000), "UNKNOWN");
        ck_assert_str_eq(tshm_err_name(-4012), "UNKNOWN");
        ck_assert_str_eq(tshm_err_name(1), "UNKNOWN");
        ck_assert_str_eq(tshm_err_name(INT_MIN), "UNKNOWN");
        ck_assert_str_eq(tshm_err_name(-EPERM), "UNKNOWN");
        ck_assert_str_eq(tshm_strerror(-4012), "unknown error");
        ck_assert_str_eq(tshm_strerror(-4000), "unknown error");
        ck_assert_str_eq(tshm_strerror(INT_MIN), "unknown error");
        ck_assert_str_eq(tshm_strerror(INT_MAX), "unknown error");
        ck_assert_str_eq(tshm_strerror(5), "unknown error");
        /* Any other negative errno gets the C library's message. */
        ck_assert_str_eq(tshm_strerror(-EPERM), strerror(EPERM));
        ck_assert_str_eq(tshm_strerror(-EPIPE), strerror(EPIPE));
        ck_assert_ptr_nonnull(tshm_strerror(-3999));
}
END_TEST

START_TEST(test_spec_version)
{
        char want[32];

        snprintf(want, sizeof(want), "%d.%d.%d", TSHM_VERSION_MAJOR, TSHM_VERSION_MINOR,
                 TSHM_VERSION_PATCH);
        ck_assert_str_eq(tshm_version_string(), want);
        ck_assert_uint_eq(tshm_version(), TSHM_VERSION_HEX);
        ck_assert_uint_eq(tshm_version() >> 16, TSHM_VERSION_MAJOR);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("spec");

        tshm_test_each(s, 0, NULL, NULL,
                       TSHM_TESTS(test_spec_name_check_accepts, test_spec_name_check_refuses,
                                  test_spec_dtype_tables, test_spec_dtype_parse_names,
                                  test_spec_dtype_parse_typestrs, test_spec_dtype_parse_refuses,
                                  test_spec_shape_parse_accepts, test_spec_shape_parse_refuses,
                                  test_spec_shape_nbytes, test_spec_shape_nbytes_refuses,
                                  test_spec_error_table, test_spec_error_unknown,
                                  test_spec_version));
        return tshm_test_run(s);
}
