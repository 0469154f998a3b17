/*
 * test_npy.c - the .npy header reader and writer (client/cli/npy.c).
 */
#include <check.h>

#include "check_main.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "npy.h"

/* What numpy.save() (NumPy 1.24) wrote for np.zeros((3, 4), np.float32):
 * a 128-byte header. */
static const char numpy_3x4_f4[] =
    "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
    "                                                          \n";

/* Wrap @dict in a version @major preamble, padded as NumPy pads it. */
static size_t
make_header(unsigned major, const char *dict, unsigned char *buf, size_t cap)
{
        size_t pre = major == 1 ? 10 : 12, len = strlen(dict), total;

        total = (pre + len + 1 + 63) / 64 * 64;
        ck_assert_uint_le(total, cap);
        memcpy(buf, "\x93NUMPY", 6);
        buf[6] = (unsigned char)major;
        buf[7] = 0;
        memset(buf + 8, 0, pre - 8);
        buf[8] = (unsigned char)((total - pre) & 0xff);
        buf[9] = (unsigned char)((total - pre) >> 8);
        memcpy(buf + pre, dict, len);
        memset(buf + pre + len, ' ', total - pre - len - 1);
        buf[total - 1] = '\n';
        return total;
}

/* Parse @dict as a version 1.0 header; returns the status, *hdr filled. */
static int
parse_dict(const char *dict, struct npy_header *hdr, char *err, size_t errlen)
{
        unsigned char buf[4096];
        size_t len = make_header(1, dict, buf, sizeof(buf));

        memset(hdr, 0, sizeof(*hdr));
        return npy_header_parse(buf, len, hdr, err, errlen);
}

START_TEST(test_npy_parses_numpy_header)
{
        struct npy_header hdr;
        size_t size;
        char err[256];

        ck_assert_int_eq(npy_header_size(numpy_3x4_f4, NPY_PREAMBLE_MAX, &size, err, sizeof(err)),
                         0);
        ck_assert_uint_eq(size, 128);
        ck_assert_int_eq(npy_header_parse(numpy_3x4_f4, 128, &hdr, err, sizeof(err)), 0);
        ck_assert_int_eq(hdr.dtype, TSHM_DTYPE_FLOAT32);
        ck_assert(!hdr.fortran_order);
        ck_assert_uint_eq(hdr.ndim, 2);
        ck_assert_uint_eq(hdr.shape[0], 3);
        ck_assert_uint_eq(hdr.shape[1], 4);
        ck_assert_uint_eq(hdr.data_offset, 128);
}
END_TEST

START_TEST(test_npy_parses_shapes_and_spellings)
{
        struct npy_header hdr;
        char err[256];

        ck_assert_int_eq(parse_dict("{'descr': '|b1', 'fortran_order': False, 'shape': (), }", &hdr,
                                    err, sizeof(err)),
                         0);
        ck_assert_int_eq(hdr.dtype, TSHM_DTYPE_BOOL);
        ck_assert_uint_eq(hdr.ndim, 0);
        ck_assert_int_eq(parse_dict("{'descr': '<c16', 'fortran_order': True, 'shape': (7,), }",
                                    &hdr, err, sizeof(err)),
                         0);
        ck_assert_int_eq(hdr.dtype, TSHM_DTYPE_COMPLEX128);
        ck_assert(hdr.fortran_order);
        ck_assert_uint_eq(hdr.ndim, 1);
        ck_assert_uint_eq(hdr.shape[0], 7);
        /* Other key order, double quotes, no trailing commas, Python 2 longs. */
        ck_assert_int_eq(parse_dict("{\"shape\":(0L,3L),\"fortran_order\":False,\"descr\":\"<u2\"}",
                                    &hdr, err, sizeof(err)),
                         0);
        ck_assert_int_eq(hdr.dtype, TSHM_DTYPE_UINT16);
        ck_assert_uint_eq(hdr.ndim, 2);
        ck_assert_uint_eq(hdr.shape[0], 0);
        ck_assert_uint_eq(hdr.shape[1], 3);
}
END_TEST

START_TEST(test_npy_parses_version_2_and_3)
{
        unsigned char buf[256];
        struct npy_header hdr;
        char err[256];
        size_t len;
        unsigned v;

        for (v = 2; v <= 3; v++) {
                len = make_header(v, "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 5), }",
                                  buf, sizeof(buf));
                ck_assert_int_eq(npy_header_parse(buf, len, &hdr, err, sizeof(err)), 0);
                ck_assert_int_eq(hdr.dtype, TSHM_DTYPE_INT64);
                ck_assert_uint_eq(hdr.data_offset, len);
        }
}
END_TEST

/* Headers refused, each with the status it gets. */
static const struct {
        const char *dict;
        int status;
} bad_dicts[] = {
    {"{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", TSHM_ENOTSUP},
    {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", TSHM_ENOTSUP},
    {"{'descr': '<U2', 'fortran_order': False, 'shape': (3,), }", TSHM_EBADDTYPE},
    {"{'descr': '|O', 'fortran_order': False, 'shape': (3,), }", TSHM_EBADDTYPE},
    {"{'descr': '<V2', 'fortran_order': False, 'shape': (3,), }", TSHM_EBADDTYPE},
    {"{'descr': 'f4', 'fortran_order': False, 'shape': (3,), }", TSHM_EBADDTYPE},
    {"{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", TSHM_EINVAL},
    {"{'descr': '<f4', 'shape': (3,), }", TSHM_EINVAL},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", TSHM_EINVAL},
    {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", TSHM_EINVAL},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", TSHM_EINVAL},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", TSHM_EINVAL},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } x", TSHM_EINVAL},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ", TSHM_EINVAL},
    {"{'descr' '<f4', 'fortran_order': False, 'shape': (3,), }", TSHM_EINVAL},
    {"{'descr': '<f4, 'fortran_order': False, 'shape': (3,), }", TSHM_EBADDTYPE},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
     TSHM_EBADSHAPE},
    {"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
     TSHM_EBADSHAPE},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
     "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1), }",
     TSHM_EBADSHAPE},
};

START_TEST(test_npy_refuses_bad_header)
{
        struct npy_header hdr;
        char err[256] = "";
        int rv;

        rv = parse_dict(bad_dicts[_i].dict, &hdr, err, sizeof(err));
        ck_assert_msg(rv == bad_dicts[_i].status, "%s: got %d, want %d", bad_dicts[_i].dict, rv,
                      bad_dicts[_i].status);
        ck_assert_msg(err[0] != '\0', "no message for %s", bad_dicts[_i].dict);
}
END_TEST

START_TEST(test_npy_refuses_bad_preamble)
{
        unsigned char buf[128];
        size_t size;
        char err[256];

        memcpy(buf, numpy_3x4_f4, sizeof(buf));
        ck_assert_int_eq(npy_header_size(buf, 5, &size, err, sizeof(err)), TSHM_EINVAL);
        buf[1] = 'n';
        ck_assert_int_eq(npy_header_size(buf, sizeof(buf), &size, err, sizeof(err)), TSHM_EINVAL);
        memcpy(buf, numpy_3x4_f4, sizeof(buf));
        buf[6] = 4;
        ck_assert_int_eq(npy_header_size(buf, sizeof(buf), &size, err, sizeof(err)), TSHM_ENOTSUP);
        memcpy(buf, numpy_3x4_f4, sizeof(buf));
        /* The whole header must be there. */
        ck_assert_int_eq(npy_header_parse(buf, 100, &(struct npy_header){0}, err, sizeof(err)),
                         TSHM_EINVAL);
        buf[6] = 2;
        buf[8] = buf[9] = buf[10] = buf[11] = 0xff;
        ck_assert_int_eq(npy_header_size(buf, sizeof(buf), &size, err, sizeof(err)), TSHM_ENOTSUP);
}
END_TEST

START_TEST(test_npy_formats_like_numpy)
{
        char buf[NPY_HEADER_FORMAT_MAX];
        uint64_t shape[2] = {3, 4};
        size_t len;

        ck_assert_int_eq(npy_header_format(TSHM_DTYPE_FLOAT32, 2, shape, buf, &len), 0);
        ck_assert_uint_eq(len, 128);
        ck_assert(memcmp(buf, numpy_3x4_f4, 128) == 0);
}
END_TEST

START_TEST(test_npy_formats_every_rank)
{
        uint64_t shape[TSHM_MAX_NDIM];
        char buf[NPY_HEADER_FORMAT_MAX];
        struct npy_header hdr;
        char err[256];
        size_t len, i, ndim;

        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                shape[i] = i == 0 ? 123456789 : 1;
        }
        for (ndim = 0; ndim <= TSHM_MAX_NDIM; ndim++) {
                ck_assert_int_eq(npy_header_format(TSHM_DTYPE_INT16, ndim, shape, buf, &len), 0);
                ck_assert_uint_eq(len % 64, 0);
                ck_assert_uint_le(len, NPY_HEADER_FORMAT_MAX);
                ck_assert_int_eq(buf[len - 1], '\n');
                ck_assert_int_eq(npy_header_parse(buf, len, &hdr, err, sizeof(err)), 0);
                ck_assert_uint_eq(hdr.ndim, ndim);
                ck_assert_uint_eq(hdr.data_offset, len);
        }
        /* NumPy writes (3,) and (), with the room for growth after them. */
        ck_assert_int_eq(npy_header_format(TSHM_DTYPE_BOOL, 1, shape, buf, &len), 0);
        ck_assert_ptr_nonnull(strstr(buf + 10, "'descr': '|b1', 'fortran_order': False, "
                                               "'shape': (123456789,), }"));
        ck_assert_int_eq(npy_header_format(TSHM_DTYPE_COMPLEX64, 0, shape, buf, &len), 0);
        ck_assert_ptr_nonnull(strstr(buf + 10, "'shape': (), }"));
}
END_TEST

START_TEST(test_npy_refuses_to_format_bfloat16)
{
        char buf[NPY_HEADER_FORMAT_MAX];
        uint64_t shape[1] = {2};
        size_t len;

        ck_assert_int_eq(npy_header_format(TSHM_DTYPE_BFLOAT16, 1, shape, buf, &len), TSHM_ENOTSUP);
        ck_assert_int_eq(npy_header_format((tshm_dtype)99, 1, shape, buf, &len), TSHM_EBADDTYPE);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("npy");
        TCase *tc;

        tc = tshm_test_case(
            s, "parse", 0,
            TSHM_TESTS(test_npy_parses_numpy_header, test_npy_parses_shapes_and_spellings,
                       test_npy_parses_version_2_and_3, test_npy_refuses_bad_preamble));
        tcase_add_loop_test(tc, test_npy_refuses_bad_header, 0,
                            (int)(sizeof(bad_dicts) / sizeof(bad_dicts[0])));
        tshm_test_case(s, "format", 0,
                       TSHM_TESTS(test_npy_formats_like_numpy, test_npy_formats_every_rank,
                                  test_npy_refuses_to_format_bfloat16));
        return tshm_test_run(s);
}
