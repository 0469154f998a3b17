/*
 * test_header.c - building and validating segment headers (proto/header.c).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "header.h"

#define PAGE 4096u

static void
spec_init(struct tshm__seg_spec *spec, tshm_dtype dtype, uint32_t ndim, const uint64_t *shape)
{
        memset(spec, 0, sizeof(*spec));
        snprintf(spec->name, sizeof(spec->name), "hdr-test_%u.%u", (unsigned)dtype, ndim);
        spec->dtype = dtype;
        spec->ndim = ndim;
        if (ndim > 0) {
                memcpy(spec->shape, shape, ndim * sizeof(shape[0]));
        }
        spec->mode = 0640;
        spec->owner_uid = 1000;
        spec->owner_gid = 1001;
        spec->created_ns = 1700000000123456789ull;
}

/* The map size of a segment that holds @hdr's data. */
static uint64_t
map_size_of(const struct tshm__hdr *hdr)
{
        uint64_t size = 0;

        ck_assert_int_eq(tshm__hdr_object_size(hdr->data_size, &size), 0);
        return size;
}

/* Init @hdr from @spec and check everything init promises. */
static void
init_and_check(struct tshm__hdr *hdr, const struct tshm__seg_spec *spec)
{
        uint64_t nbytes, stride;
        size_t itemsize = tshm_dtype_itemsize(spec->dtype);
        uint32_t i;

        ck_assert_int_eq(tshm_shape_nbytes(spec->dtype, spec->ndim, spec->shape, &nbytes), 0);
        memset(hdr, 0xee, sizeof(*hdr));
        ck_assert_int_eq(tshm__hdr_init(hdr, spec), 0);
        ck_assert_mem_eq(hdr->magic, "TSHMSEG\0", 8);
        ck_assert_uint_eq(hdr->layout, TSHM_HDR_LAYOUT);
        ck_assert_uint_eq(hdr->header_size, sizeof(struct tshm__hdr));
        ck_assert_uint_eq(hdr->flags, 0);
        ck_assert_uint_eq(hdr->data_offset, PAGE);
        ck_assert_uint_eq(hdr->data_size, nbytes);
        ck_assert_uint_eq(hdr->dtype, (uint32_t)spec->dtype);
        ck_assert_uint_eq(hdr->itemsize, itemsize);
        ck_assert_uint_eq(hdr->ndim, spec->ndim);
        ck_assert_uint_eq(hdr->mode, spec->mode & 0777u);
        ck_assert_uint_eq(hdr->owner_uid, spec->owner_uid);
        ck_assert_uint_eq(hdr->owner_gid, spec->owner_gid);
        ck_assert_uint_eq(hdr->created_ns, spec->created_ns);
        ck_assert_uint_eq(hdr->seq, 0);
        ck_assert_str_eq(hdr->name, spec->name);
        /* Everything past the name and the used dimensions is zero. */
        for (i = (uint32_t)strlen(spec->name); i < sizeof(hdr->name); i++) {
                ck_assert_int_eq(hdr->name[i], 0);
        }
        /* The whole synchronisation line starts at zero: version 0, no
         * writer, nothing torn. */
        for (i = 64; i < 128; i++) {
                ck_assert_uint_eq(((const uint8_t *)hdr)[i], 0);
        }
        for (i = 0; i < sizeof(hdr->kind_reserved); i++) {
                ck_assert_uint_eq(hdr->kind_reserved[i], 0);
        }
        /* C-contiguous strides: the last dimension varies fastest, and a 0
         * extent counts as 1 (as NumPy does). */
        stride = itemsize;
        for (i = spec->ndim; i-- > 0;) {
                ck_assert_uint_eq(hdr->shape[i], spec->shape[i]);
                ck_assert_int_eq(hdr->strides[i], (int64_t)stride);
                stride *= spec->shape[i] != 0 ? spec->shape[i] : 1;
        }
        for (i = spec->ndim; i < TSHM_MAX_NDIM; i++) {
                ck_assert_uint_eq(hdr->shape[i], 0);
                ck_assert_int_eq(hdr->strides[i], 0);
        }
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

/* A valid header of float32 (4, 6) in @hdr; returns its map size. */
static uint64_t
good_header(struct tshm__hdr *hdr)
{
        static const uint64_t shape[] = {4, 6};
        struct tshm__seg_spec spec;
        uint64_t map;

        spec_init(&spec, TSHM_DTYPE_FLOAT32, 2, shape);
        ck_assert_int_eq(tshm__hdr_init(hdr, &spec), 0);
        map = map_size_of(hdr);
        ck_assert_uint_eq(map, 2 * PAGE);
        ck_assert_int_eq(tshm__hdr_validate(hdr, map), 0);
        return map;
}

START_TEST(test_header_rejects_magic_layout_size)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        hdr.magic[0] = 'X';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.magic[7] = '!';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);

        map = good_header(&hdr);
        hdr.layout = TSHM_HDR_LAYOUT + 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.layout = 0;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);

        map = good_header(&hdr);
        hdr.header_size = TSHM_HDR_SIZE - 8;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.header_size = TSHM_HDR_SIZE * 2;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);

        /* A kind other than array. */
        map = good_header(&hdr);
        hdr.flags = 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

START_TEST(test_header_rejects_small_map)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        /* Smaller than the header page. */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, 0), TSHM_EBADHDR);
        ck_assert_int_eq(tshm__hdr_validate(&hdr, sizeof(hdr)), TSHM_EBADHDR);
        ck_assert_int_eq(tshm__hdr_validate(&hdr, PAGE - 1), TSHM_EBADHDR);
        /* The header page alone, with no room for the data. */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, PAGE), TSHM_EBADHDR);
        /* data_offset anywhere but right after the header page, even
         * inside a map large enough for it. */
        hdr.data_offset = 3 * PAGE;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        ck_assert_int_eq(tshm__hdr_validate(&hdr, 4 * PAGE), TSHM_EBADHDR);
        /* Not page-aligned, or inside the header page. */
        hdr.data_offset = PAGE + 8;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, 4 * PAGE), TSHM_EBADHDR);
        hdr.data_offset = 0;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, 4 * PAGE), TSHM_EBADHDR);
        hdr.data_offset = UINT64_MAX & ~(uint64_t)(PAGE - 1);
        ck_assert_int_eq(tshm__hdr_validate(&hdr, 4 * PAGE), TSHM_EBADHDR);
}
END_TEST

START_TEST(test_header_rejects_data_size)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        /* Exactly what the shape needs (float32 4x6: 96 bytes), nothing
         * else: a writer that raises it must not make readers copy more. */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), 0);
        hdr.data_size = 97;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.data_size = map - PAGE;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.data_size = map - PAGE + 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.data_size = UINT64_MAX;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.data_size = UINT64_MAX - PAGE + 1; /* data_offset + data_size wraps to 0 */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* Less than the shape needs. */
        hdr.data_size = 4 * 6 * 4 - 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.data_size = 4 * 6 * 4;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), 0);
        /* The data must also lie inside the mapping. */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, PAGE + 95), TSHM_EBADHDR);
        ck_assert_int_eq(tshm__hdr_validate(&hdr, PAGE + 96), 0);
}
END_TEST

START_TEST(test_header_rejects_dtype_itemsize)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        hdr.dtype = 0;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.dtype = 16;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.dtype = UINT32_MAX;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);

        map = good_header(&hdr);
        hdr.itemsize = 8;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.itemsize = 0;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* Another dtype of the same item size is consistent. */
        hdr.itemsize = 4;
        hdr.dtype = TSHM_DTYPE_INT32;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), 0);
        /* But one of a different size is not. */
        hdr.dtype = TSHM_DTYPE_FLOAT64;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

START_TEST(test_header_rejects_ndim_and_unused_dims)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        hdr.ndim = TSHM_MAX_NDIM + 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.ndim = UINT32_MAX;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);

        /* A shape entry beyond ndim. */
        map = good_header(&hdr);
        hdr.shape[2] = 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.shape[TSHM_MAX_NDIM - 1] = 5;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* A stride beyond ndim. */
        map = good_header(&hdr);
        hdr.strides[2] = 4;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* Fewer dimensions than were filled in. */
        map = good_header(&hdr);
        hdr.ndim = 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

START_TEST(test_header_rejects_strides_outside)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        /* float32 (4, 6): strides (24, 4) and nothing else. Layouts that
         * stay inside the data (transposed, overlapping) are still not what
         * tshm makes, so readers never have to bound them. */
        ck_assert_int_eq(hdr.strides[0], 24);
        ck_assert_int_eq(hdr.strides[1], 4);
        hdr.strides[0] = 4;
        hdr.strides[1] = 16;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.strides[0] = 0;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.strides[0] = 25;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.strides[0] = INT64_MAX / 2;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.strides[0] = INT64_MAX;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* Room made by a larger data_size does not make them valid. */
        map = good_header(&hdr);
        hdr.strides[0] = 1024;
        hdr.data_size = PAGE;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

START_TEST(test_header_rejects_negative_strides)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        hdr.strides[1] = -4;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.strides[0] = -24;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.strides[0] = INT64_MIN;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* Even on an extent of 1, where it would never move. */
        {
                static const uint64_t shape[] = {1, 6};
                struct tshm__seg_spec spec;
                spec_init(&spec, TSHM_DTYPE_FLOAT32, 2, shape);
                ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), 0);
                ck_assert_int_eq(tshm__hdr_validate(&hdr, map_size_of(&hdr)), 0);
                hdr.strides[0] = -24;
                ck_assert_int_eq(tshm__hdr_validate(&hdr, map_size_of(&hdr)), TSHM_EBADHDR);
        }
}
END_TEST

START_TEST(test_header_rejects_name)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        /* No NUL anywhere in the field. */
        memset(hdr.name, 'a', sizeof(hdr.name));
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* NUL-terminated but longer than TSHM_NAME_MAX. */
        hdr.name[TSHM_NAME_MAX + 1] = '\0';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.name[TSHM_NAME_MAX] = '\0';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), 0);
        /* Bad characters, a leading dot, empty. */
        map = good_header(&hdr);
        hdr.name[2] = '/';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.name[0] = '.';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.name[1] = ' ';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.name[0] = '\0';
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

START_TEST(test_header_rejects_mode)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        hdr.mode = 0777;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), 0);
        hdr.mode = 01000;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.mode = 04600;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

START_TEST(test_header_rejects_overflowing_shape)
{
        struct tshm__hdr hdr;
        uint64_t map = good_header(&hdr);

        /* Extents whose product does not fit. */
        hdr.shape[0] = 1ull << 40;
        hdr.shape[1] = 1ull << 40;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.shape[0] = UINT64_MAX;
        hdr.shape[1] = 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
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
static uint64_t
good_stream(struct tshm__hdr *hdr)
{
        static const uint64_t shape[] = {4, 6};
        struct tshm__seg_spec spec;
        uint64_t size = 0;

        spec_init(&spec, TSHM_DTYPE_FLOAT32, 2, shape);
        spec.slots = 4;
        spec.policy = TSHM_STREAM_BLOCK;
        ck_assert_int_eq(tshm__hdr_init(hdr, &spec), 0);
        ck_assert_int_eq(tshm__hdr_spec_size(&spec, &size), 0);
        ck_assert_uint_eq(hdr->frame_bytes, 96);
        ck_assert_uint_eq(hdr->slot_stride, 128);
        ck_assert_uint_eq(hdr->data_size, 4 * 128);
        ck_assert_uint_eq(hdr->ctl_offset, PAGE);
        ck_assert_uint_eq(hdr->data_offset, 2 * PAGE);
        ck_assert_int_eq(tshm__hdr_validate(hdr, size), 0);
        return size;
}

/* Every stream field a writer could rewrite: each must be exactly what the
 * frame's shape and the slot count imply, or a subscriber or producer would
 * index outside its mapping (slot_stride or data_offset moved), or bound a
 * frame's view by the whole ring (strides). */
START_TEST(test_header_rejects_stream_fields)
{
        struct tshm__hdr hdr;
        uint64_t map = good_stream(&hdr);

        hdr.slot_stride = 64; /* slots overlap frames */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.slot_stride = 192; /* the last slot ends past the ring */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.slot_stride = UINT64_MAX - 63;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.frame_bytes = 128;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.ctl_offset = 0; /* the slot table over the header */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.ctl_offset = map; /* past the map */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.data_offset = PAGE; /* slots over the slot table */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.data_size = 5 * 128;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.slots = 5; /* more slots than the ring holds */
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.slots = 0;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.slots = 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        hdr.slots = TSHM_STREAM_MAX_SLOTS + 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_stream(&hdr);
        hdr.policy = TSHM_STREAM_OVERWRITE + 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* Strides that stay inside the ring but leave one frame. */
        map = good_stream(&hdr);
        hdr.strides[0] = 128;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        /* The ring must fit in the mapping. */
        map = good_stream(&hdr);
        ck_assert_int_eq(tshm__hdr_validate(&hdr, 2 * PAGE + 4 * 128 - 1), TSHM_EBADHDR);
        /* An array that claims slots, and a stream kind without them. */
        map = good_header(&hdr);
        hdr.slots = 4;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.policy = 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.slot_stride = 128;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.flags = TSHM_KIND_STREAM;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
        map = good_header(&hdr);
        hdr.flags = TSHM_KIND_STREAM + 1;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

#define ADD_CASE(s, fn)                                                                            \
        do {                                                                                       \
                TCase *tc_ = tcase_create(#fn);                                                    \
                tcase_add_test(tc_, fn);                                                           \
                suite_add_tcase((s), tc_);                                                         \
        } while (0)

static Suite *
header_suite(void)
{
        Suite *s = suite_create("header");
        TCase *tc = tcase_create("test_header_init_validate_every_dtype");

        tcase_add_loop_test(tc, test_header_init_validate_every_dtype, TSHM_DTYPE_BOOL,
                            TSHM_DTYPE_COMPLEX128 + 1);
        suite_add_tcase(s, tc);
        ADD_CASE(s, test_header_init_strides_numpy);
        ADD_CASE(s, test_header_init_rejects);
        ADD_CASE(s, test_header_rejects_magic_layout_size);
        ADD_CASE(s, test_header_rejects_small_map);
        ADD_CASE(s, test_header_rejects_data_size);
        ADD_CASE(s, test_header_rejects_dtype_itemsize);
        ADD_CASE(s, test_header_rejects_ndim_and_unused_dims);
        ADD_CASE(s, test_header_rejects_strides_outside);
        ADD_CASE(s, test_header_rejects_negative_strides);
        ADD_CASE(s, test_header_rejects_stream_fields);
        ADD_CASE(s, test_header_rejects_name);
        ADD_CASE(s, test_header_rejects_mode);
        ADD_CASE(s, test_header_rejects_overflowing_shape);
        ADD_CASE(s, test_header_object_size);
        return s;
}

int
main(void)
{
        SRunner *sr = srunner_create(header_suite());
        int failed;

        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
