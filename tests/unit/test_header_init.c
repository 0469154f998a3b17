/*
 * test_header_init.c - building segment headers (proto/header.c): every dtype,
 * NumPy strides, refused specs and object sizes.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "header.h"
#include "header_spec.h"

/* The format: magic, layout, header size, flags and where the data is. */
static void
check_format(const struct tshm__hdr *hdr)
{
        ck_assert_mem_eq(hdr->magic, "TSHMSEG\0", 8);
        ck_assert_uint_eq(hdr->layout, TSHM_HDR_LAYOUT);
        ck_assert_uint_eq(hdr->header_size, sizeof(struct tshm__hdr));
        ck_assert_uint_eq(hdr->flags, 0);
        ck_assert_uint_eq(hdr->data_offset, PAGE);
}

/* The array: @nbytes of data, the spec's dtype and rank, version 0. */
static void
check_array(const struct tshm__hdr *hdr, const struct tshm__seg_spec *spec, uint64_t nbytes)
{
        ck_assert_uint_eq(hdr->data_size, nbytes);
        ck_assert_uint_eq(hdr->dtype, (uint32_t)spec->dtype);
        ck_assert_uint_eq(hdr->itemsize, tshm_dtype_itemsize(spec->dtype));
        ck_assert_uint_eq(hdr->ndim, spec->ndim);
        ck_assert_uint_eq(hdr->seq, 0);
}

/* Ownership and the name, zero-padded. */
static void
check_owner(const struct tshm__hdr *hdr, const struct tshm__seg_spec *spec)
{
        uint32_t i;

        ck_assert_uint_eq(hdr->mode, spec->mode & 0777u);
        ck_assert_uint_eq(hdr->owner_uid, spec->owner_uid);
        ck_assert_uint_eq(hdr->owner_gid, spec->owner_gid);
        ck_assert_uint_eq(hdr->created_ns, spec->created_ns);
        ck_assert_str_eq(hdr->name, spec->name);
        /* Everything past the name is zero. */
        for (i = (uint32_t)strlen(spec->name); i < sizeof(hdr->name); i++) {
                ck_assert_int_eq(hdr->name[i], 0);
        }
}

/* The whole synchronisation line starts at zero: version 0, no writer,
 * nothing torn; so does the kind's reserved area. */
static void
check_zeroed(const struct tshm__hdr *hdr)
{
        uint32_t i;

        for (i = 64; i < 128; i++) {
                ck_assert_uint_eq(((const uint8_t *)hdr)[i], 0);
        }
        for (i = 0; i < sizeof(hdr->kind_reserved); i++) {
                ck_assert_uint_eq(hdr->kind_reserved[i], 0);
        }
}

/* C-contiguous strides: the last dimension varies fastest, and a 0 extent
 * counts as 1 (as NumPy does); past the used dimensions, zeros. */
static void
check_strides(const struct tshm__hdr *hdr, const struct tshm__seg_spec *spec)
{
        uint64_t stride = tshm_dtype_itemsize(spec->dtype);
        uint32_t i;

        for (i = spec->ndim; i-- > 0;) {
                ck_assert_uint_eq(hdr->shape[i], spec->shape[i]);
                ck_assert_int_eq(hdr->strides[i], (int64_t)stride);
                stride *= spec->shape[i] != 0 ? spec->shape[i] : 1;
        }
        for (i = spec->ndim; i < TSHM_MAX_NDIM; i++) {
                ck_assert_uint_eq(hdr->shape[i], 0);
                ck_assert_int_eq(hdr->strides[i], 0);
        }
}

static void
init_and_check(struct tshm__hdr *hdr, const struct tshm__seg_spec *spec)
{
        uint64_t nbytes;

        ck_assert_int_eq(tshm_shape_nbytes(spec->dtype, spec->ndim, spec->shape, &nbytes), 0);
        memset(hdr, 0xee, sizeof(*hdr));
        ck_assert_int_eq(tshm__hdr_init(hdr, spec), 0);
        check_format(hdr);
        check_array(hdr, spec, nbytes);
        check_owner(hdr, spec);
        check_zeroed(hdr);
        check_strides(hdr, spec);
        ck_assert_int_eq(tshm__hdr_validate(hdr, map_size_of(hdr)), 0);
}

START_TEST(test_header_init_validate_every_dtype)
{
        static const uint64_t s1[] = {7};
        static const uint64_t s3[] = {2, 3, 4};
        static const uint64_t s_empty[] = {3, 0, 2};
        static const uint64_t s_empty_last[] = {5, 0};
        static const uint64_t s_big[] = {1000, 1000};
        uint64_t s32[TSHM_MAX_NDIM];
        struct tshm__seg_spec spec;
        struct tshm__hdr hdr;
        tshm_dtype dt = (tshm_dtype)_i;
        uint32_t i;

        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                s32[i] = (i % 8 == 0) ? 2 : 1;
        }
        spec_init(&spec, dt, 0, NULL); /* 0-d */
        init_and_check(&hdr, &spec);
        ck_assert_uint_eq(hdr.data_size, tshm_dtype_itemsize(dt));
        spec_init(&spec, dt, 1, s1);
        init_and_check(&hdr, &spec);
        ck_assert_uint_eq(hdr.data_size, 7 * tshm_dtype_itemsize(dt));
        spec_init(&spec, dt, 3, s3);
        init_and_check(&hdr, &spec);
        ck_assert_int_eq(hdr.strides[0], (int64_t)(12 * tshm_dtype_itemsize(dt)));
        ck_assert_int_eq(hdr.strides[1], (int64_t)(4 * tshm_dtype_itemsize(dt)));
        ck_assert_int_eq(hdr.strides[2], (int64_t)tshm_dtype_itemsize(dt));
        spec_init(&spec, dt, 3, s_empty);
        init_and_check(&hdr, &spec);
        ck_assert_uint_eq(hdr.data_size, 0);
        spec_init(&spec, dt, 2, s_empty_last);
        init_and_check(&hdr, &spec);
        ck_assert_uint_eq(hdr.data_size, 0);
        spec_init(&spec, dt, 2, s_big);
        init_and_check(&hdr, &spec);
        spec_init(&spec, dt, TSHM_MAX_NDIM, s32);
        init_and_check(&hdr, &spec);
        ck_assert_uint_eq(hdr.data_size, 16 * tshm_dtype_itemsize(dt));
}
END_TEST

START_TEST(test_header_init_strides_numpy)
{
        /* float64 (3, 0, 2) has NumPy strides (16, 16, 8); complex64
         * (4, 5) has (40, 8). */
        static const uint64_t se[] = {3, 0, 2};
        static const uint64_t sc[] = {4, 5};
        struct tshm__seg_spec spec;
        struct tshm__hdr hdr;

        spec_init(&spec, TSHM_DTYPE_FLOAT64, 3, se);
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), 0);
        ck_assert_int_eq(hdr.strides[0], 16);
        ck_assert_int_eq(hdr.strides[1], 16);
        ck_assert_int_eq(hdr.strides[2], 8);
        spec_init(&spec, TSHM_DTYPE_COMPLEX64, 2, sc);
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), 0);
        ck_assert_int_eq(hdr.strides[0], 40);
        ck_assert_int_eq(hdr.strides[1], 8);
        ck_assert_uint_eq(hdr.data_size, 160);
}
END_TEST

START_TEST(test_header_init_rejects)
{
        static const uint64_t s1[] = {4};
        static const uint64_t s_over[] = {1ull << 62, 4};
        struct tshm__seg_spec spec;
        struct tshm__hdr hdr;

        spec_init(&spec, TSHM_DTYPE_UINT8, 1, s1);
        snprintf(spec.name, sizeof(spec.name), "bad/name");
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), TSHM_EBADNAME);
        spec.name[0] = '\0';
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), TSHM_EBADNAME);

        spec_init(&spec, (tshm_dtype)0, 1, s1);
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), TSHM_EBADDTYPE);
        spec_init(&spec, (tshm_dtype)16, 1, s1);
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), TSHM_EBADDTYPE);

        spec_init(&spec, TSHM_DTYPE_UINT8, 1, s1);
        spec.ndim = TSHM_MAX_NDIM + 1;
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), TSHM_EBADSHAPE);
        spec_init(&spec, TSHM_DTYPE_UINT8, 2, s_over);
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), TSHM_EBADSHAPE);

        /* Mode bits outside 0777 are dropped. */
        spec_init(&spec, TSHM_DTYPE_UINT8, 1, s1);
        spec.mode = 04755;
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), 0);
        ck_assert_uint_eq(hdr.mode, 0755);
}
END_TEST

START_TEST(test_header_object_size)
{
        uint64_t size = 0;
        static const uint64_t ns[] = {0, 1, 4095, 4096, 4097, 8192, 1000000, 1ull << 40};
        size_t i;

        ck_assert_int_eq(tshm__hdr_object_size(0, &size), 0);
        ck_assert_uint_eq(size, PAGE);
        ck_assert_int_eq(tshm__hdr_object_size(1, &size), 0);
        ck_assert_uint_eq(size, 2 * PAGE);
        ck_assert_int_eq(tshm__hdr_object_size(4096, &size), 0);
        ck_assert_uint_eq(size, 2 * PAGE);
        ck_assert_int_eq(tshm__hdr_object_size(4097, &size), 0);
        ck_assert_uint_eq(size, 3 * PAGE);
        for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
                ck_assert_int_eq(tshm__hdr_object_size(ns[i], &size), 0);
                ck_assert_uint_eq(size % PAGE, 0);
                ck_assert_uint_ge(size - PAGE, ns[i]);
                ck_assert_uint_lt(size - PAGE - ns[i], PAGE);
        }
        /* The largest accepted size, and just past it. */
        ck_assert_int_eq(tshm__hdr_object_size((uint64_t)INT64_MAX - 2 * PAGE, &size), 0);
        ck_assert_uint_eq(size, (uint64_t)INT64_MAX + 1 - PAGE);
        size = 77;
        ck_assert_int_eq(tshm__hdr_object_size((uint64_t)INT64_MAX - 2 * PAGE + 1, &size),
                         TSHM_EBADSHAPE);
        ck_assert_uint_eq(size, 77); /* untouched */
        ck_assert_int_eq(tshm__hdr_object_size((uint64_t)INT64_MAX, &size), TSHM_EBADSHAPE);
        ck_assert_int_eq(tshm__hdr_object_size(UINT64_MAX, &size), TSHM_EBADSHAPE);
}
END_TEST

/* A stream header: float32 4x6 frames (96 bytes, slots 128 bytes apart),
 * 4 slots, block policy. Returns its map size. */

/* hugetlbfs objects: whole pages, nothing when that overflows. */
START_TEST(test_header_round_pages)
{
        const uint64_t page = 2u << 20;

        ck_assert_uint_eq(tshm__hdr_round_pages(4096, 0), 4096);
        ck_assert_uint_eq(tshm__hdr_round_pages(4096, page), page);
        ck_assert_uint_eq(tshm__hdr_round_pages(page, page), page);
        ck_assert_uint_eq(tshm__hdr_round_pages(page + 1, page), 2 * page);
        ck_assert_uint_eq(tshm__hdr_round_pages(3 * page - 1, page), 3 * page);
        ck_assert_uint_eq(tshm__hdr_round_pages(UINT64_MAX / page * page, page),
                          UINT64_MAX / page * page);
        ck_assert_uint_eq(tshm__hdr_round_pages(UINT64_MAX / page * page + 1, page), 0);
        ck_assert_uint_eq(tshm__hdr_round_pages(UINT64_MAX, page), 0);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("header_init");

        tshm_test_loop(s, 0, test_header_init_validate_every_dtype, TSHM_DTYPE_BOOL,
                       TSHM_DTYPE_COMPLEX128 + 1);
        tshm_test_each(s, 0, NULL, NULL,
                       TSHM_TESTS(test_header_init_strides_numpy, test_header_init_rejects,
                                  test_header_object_size, test_header_round_pages));
        return tshm_test_run(s);
}
