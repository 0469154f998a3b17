/*
 * test_header_validate.c - validating segment headers (proto/header.c): each
 * field a writer could rewrite is refused when it lies.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "header.h"
#include "header_spec.h"

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
        hdr.data_size = 4ull * 6 * 4;
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
        ck_assert_uint_eq(hdr->data_size, 4ull * 128);
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
        hdr.data_size = 5ull * 128;
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
        ck_assert_int_eq(tshm__hdr_validate(&hdr, 2 * PAGE + 4ull * 128 - 1), TSHM_EBADHDR);
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

/* Every stream tshm makes says its sleepers count themselves (issue 12), in
 * a bit the libraries from before it refuse, so none of them can sleep on it
 * uncounted; a stream without the bit (an older tshmd's, adopted) is still
 * valid; an array with it is not. */
START_TEST(test_header_wake_counted_flag)
{
        const uint32_t old_known = TSHM_HDR_KIND_MASK | TSHM_HDR_FLAG_EPHEMERAL;
        struct tshm__hdr hdr;
        uint64_t map;

        map = good_stream(&hdr);
        ck_assert_uint_eq(hdr.flags, TSHM_KIND_STREAM | TSHM_HDR_FLAG_WAKE_COUNTED);
        /* What a validator from before the flag checks: it refuses. */
        ck_assert_uint_ne(hdr.flags & ~old_known, 0);
        hdr.flags = TSHM_KIND_STREAM;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), 0);
        map = good_header(&hdr);
        ck_assert_uint_eq(hdr.flags & TSHM_HDR_FLAG_WAKE_COUNTED, 0);
        hdr.flags |= TSHM_HDR_FLAG_WAKE_COUNTED;
        ck_assert_int_eq(tshm__hdr_validate(&hdr, map), TSHM_EBADHDR);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("header_validate");

        tshm_test_each(
            s, 0, NULL, NULL,
            TSHM_TESTS(test_header_rejects_magic_layout_size, test_header_rejects_small_map,
                       test_header_rejects_data_size, test_header_rejects_dtype_itemsize,
                       test_header_rejects_ndim_and_unused_dims,
                       test_header_rejects_strides_outside, test_header_rejects_negative_strides,
                       test_header_rejects_stream_fields, test_header_rejects_name,
                       test_header_rejects_mode, test_header_rejects_overflowing_shape,
                       test_header_wake_counted_flag));
        return tshm_test_run(s);
}
