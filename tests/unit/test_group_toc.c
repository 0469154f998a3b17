/*
 * test_group_toc.c - a tensor group's table of contents (proto/group.c):
 * tshm__toc_layout() and tshm__toc_write() make it, and tshm__toc_validate()
 * takes exactly what they make: every derived field off by one, two equal
 * names, a NUL in a name, a table or tensor past the data area, and sizes
 * that overflow are refused without undefined behaviour (CI runs this under
 * ASan and UBSan).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "group.h"

static const uint64_t s34[] = {3, 4}, s5[] = {5};
static const char meta3[] = "{\"__metadata__\":{\"format\":\"pt\"}}";

/* float32 (3, 4), int16 (5), 0-d int64: each dtype's neighbours have
 * another item size, so a dtype off by one changes the size. */
static const struct tshm__toc_spec three[] = {
    {"model.weight", 12, TSHM_DTYPE_FLOAT32, 2, s34},
    {"model.bias", 10, TSHM_DTYPE_INT16, 1, s5},
    {"step", 4, TSHM_DTYPE_INT64, 0, NULL},
};

/* The table of @t (malloc'd), laid out in *@lay. */
static uint8_t *
toc_build(const struct tshm__toc_spec *t, size_t count, const char *meta,
          struct tshm__toc_layout *lay)
{
        size_t meta_len = meta != NULL ? strlen(meta) : 0;
        uint8_t *buf;

        ck_assert_int_eq(tshm__toc_layout(t, count, meta_len, lay), 0);
        buf = malloc(lay->toc_bytes);
        ck_assert_ptr_nonnull(buf);
        tshm__toc_write(buf, lay, t, count, meta, meta_len);
        return buf;
}

/* tshm__toc_validate() of @len bytes at @buf, with an order array of the
 * head's count. */
static int
toc_check(const uint8_t *buf, uint64_t len, uint64_t data_size)
{
        uint32_t count = len >= TSHM_TOC_HEAD ? tshm__toc_head(buf)->count : 0;
        uint32_t *order =
            malloc(((size_t)(count <= TSHM_GROUP_MAX_TENSORS ? count : 0) + 1) * sizeof(*order));
        const char *why = NULL;
        int rv;

        ck_assert_ptr_nonnull(order);
        rv = tshm__toc_validate(buf, len, data_size, order, &why);
        if (rv != 0) {
                ck_assert_ptr_nonnull(why);
        }
        free(order);
        return rv;
}

START_TEST(test_toc_roundtrip)
{
        struct tshm__toc_layout lay;
        uint8_t *buf = toc_build(three, 3, meta3, &lay);
        const struct tshm__toc *h = tshm__toc_head(buf);
        uint32_t order[3];
        const char *why = NULL;
        uint64_t meta_len, end = lay.toc_bytes;
        const void *meta;
        uint32_t i;

        ck_assert_uint_eq(lay.toc_bytes % TSHM_GROUP_ALIGN, 0);
        ck_assert_uint_eq(lay.dims_off, TSHM_TOC_HEAD + 3 * TSHM_TOC_ENTRY);
        ck_assert_uint_eq(lay.strings_off, lay.dims_off + 3 * sizeof(uint64_t));
        ck_assert_uint_eq(lay.strings_bytes, strlen(meta3) + 12 + 10 + 4);
        ck_assert_int_eq(tshm__toc_validate(buf, lay.toc_bytes, lay.data_end, order, &why), 0);
        ck_assert_uint_eq(h->count, 3);
        ck_assert_uint_eq(h->data_end, lay.data_end);
        /* Sorted by name: model.bias, model.weight, step. */
        ck_assert_uint_eq(order[0], 1);
        ck_assert_uint_eq(order[1], 0);
        ck_assert_uint_eq(order[2], 2);
        for (i = 0; i < 3; i++) {
                const struct tshm__toc_entry *e = tshm__toc_entry_at(buf, i);
                uint64_t want;

                ck_assert_uint_eq(e->name_len, three[i].name_len);
                ck_assert_mem_eq(tshm__toc_name(buf, e), three[i].name, e->name_len);
                ck_assert_uint_eq(e->ndim, three[i].ndim);
                if (e->ndim > 0) {
                        ck_assert_mem_eq(tshm__toc_dims(buf, e), three[i].shape,
                                         (size_t)e->ndim * 8);
                }
                want = (end + TSHM_GROUP_ALIGN - 1) / TSHM_GROUP_ALIGN * TSHM_GROUP_ALIGN;
                ck_assert_uint_eq(e->offset, want);
                end = e->offset + e->nbytes;
                ck_assert_int_eq(tshm__toc_name_cmp(buf, e, three[i].name, three[i].name_len), 0);
        }
        ck_assert_uint_eq(tshm__toc_entry_at(buf, 0)->nbytes, 48);
        ck_assert_uint_eq(tshm__toc_entry_at(buf, 1)->nbytes, 10);
        ck_assert_uint_eq(tshm__toc_entry_at(buf, 2)->nbytes, 8);
        ck_assert_uint_eq(end, lay.data_end);
        meta = tshm__toc_meta(buf, &meta_len);
        ck_assert_uint_eq(meta_len, strlen(meta3));
        ck_assert_mem_eq(meta, meta3, meta_len);
        /* A larger data area is fine; one byte less than the last tensor's
         * end is not. */
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end + 4096), 0);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end - 1), TSHM_EBADHDR);
        free(buf);
}
END_TEST

/* Every field of the head and of each entry, and each extent. */
static const struct {
        const char *name;
        size_t off;
        unsigned width;
} head_fields[] =
    {
        {"magic", 0, 8},      {"version", 8, 4},   {"count", 12, 4},
        {"toc_bytes", 16, 8}, {"ndims", 24, 8},    {"strings_bytes", 32, 8},
        {"meta_len", 40, 8},  {"data_end", 48, 8}, {"reserved", 56, 8},
},
  entry_fields[] = {
      {"offset", 0, 8},       {"nbytes", 8, 8},       {"name_off", 16, 8},  {"name_len", 24, 4},
      {"dtype", 28, 4},       {"ndim", 32, 4},        {"reserved0", 36, 4}, {"dims_idx", 40, 8},
      {"reserved[0]", 48, 8}, {"reserved[1]", 56, 8},
};

static void
bump(uint8_t *buf, size_t off, unsigned width, int64_t delta)
{
        uint64_t v = 0;

        memcpy(&v, buf + off, width);
        v += (uint64_t)delta;
        memcpy(buf + off, &v, width);
}

/* Each field of @good plus @delta is refused. */
static void
off_by(const uint8_t *good, const struct tshm__toc_layout *lay, size_t off, unsigned width,
       int64_t delta, const char *what)
{
        uint8_t *buf = malloc(lay->toc_bytes);
        int rv;

        ck_assert_ptr_nonnull(buf);
        memcpy(buf, good, lay->toc_bytes);
        bump(buf, off, width, delta);
        if (memcmp(buf, good, lay->toc_bytes) == 0) {
                /* INT64_MIN in a 32-bit field: no change to refuse. */
                ck_assert_uint_lt(width, 8);
                free(buf);
                return;
        }
        rv = toc_check(buf, lay->toc_bytes, lay->data_end);
        ck_assert_msg(rv == TSHM_EBADHDR, "%s %+lld: validate returned %d", what, (long long)delta,
                      rv);
        free(buf);
}

START_TEST(test_toc_every_field_off_by_one)
{
        static const int64_t deltas[] = {1, -1, 64, -64, INT64_MIN};
        struct tshm__toc_layout lay;
        uint8_t *good = toc_build(three, 3, meta3, &lay);
        char what[64];
        size_t f, d, i;

        ck_assert_int_eq(toc_check(good, lay.toc_bytes, lay.data_end), 0);
        for (d = 0; d < sizeof(deltas) / sizeof(deltas[0]); d++) {
                for (f = 0; f < sizeof(head_fields) / sizeof(head_fields[0]); f++) {
                        off_by(good, &lay, head_fields[f].off, head_fields[f].width, deltas[d],
                               head_fields[f].name);
                }
                for (i = 0; i < 3; i++) {
                        for (f = 0; f < sizeof(entry_fields) / sizeof(entry_fields[0]); f++) {
                                snprintf(what, sizeof(what), "entry %zu %s", i,
                                         entry_fields[f].name);
                                off_by(good, &lay,
                                       TSHM_TOC_HEAD + i * TSHM_TOC_ENTRY + entry_fields[f].off,
                                       entry_fields[f].width, deltas[d], what);
                        }
                }
                /* The extents: (3, 4) and (5). */
                for (i = 0; i < 3; i++) {
                        snprintf(what, sizeof(what), "extent %zu", i);
                        off_by(good, &lay, lay.dims_off + i * 8, 8, deltas[d], what);
                }
        }
        free(good);
}
END_TEST

/* The copy's length must be the head's toc_bytes, and inside the area. */
START_TEST(test_toc_length_and_area)
{
        struct tshm__toc_layout lay;
        uint8_t *good = toc_build(three, 3, NULL, &lay);

        ck_assert_int_eq(toc_check(good, lay.toc_bytes, lay.data_end), 0);
        ck_assert_int_eq(toc_check(good, lay.toc_bytes - 64, lay.data_end), TSHM_EBADHDR);
        ck_assert_int_eq(toc_check(good, TSHM_TOC_HEAD - 1, lay.data_end), TSHM_EBADHDR);
        ck_assert_int_eq(toc_check(good, 0, lay.data_end), TSHM_EBADHDR);
        ck_assert_int_eq(toc_check(good, lay.toc_bytes, lay.toc_bytes - 1), TSHM_EBADHDR);
        ck_assert_int_eq(toc_check(good, lay.toc_bytes, 0), TSHM_EBADHDR);
        free(good);
}
END_TEST

START_TEST(test_toc_size)
{
        struct tshm__toc_layout lay;
        uint8_t *good = toc_build(three, 3, NULL, &lay);
        uint8_t head[TSHM_TOC_HEAD];
        uint64_t toc_bytes = 0;
        const char *why = NULL;

        ck_assert_int_eq(tshm__toc_size(good, lay.data_end, &toc_bytes, &why), 0);
        ck_assert_uint_eq(toc_bytes, lay.toc_bytes);
        ck_assert_int_eq(tshm__toc_size(good, lay.toc_bytes, &toc_bytes, &why), 0);
        ck_assert_int_eq(tshm__toc_size(good, lay.toc_bytes - 1, &toc_bytes, &why), TSHM_EBADHDR);
        ck_assert_int_eq(tshm__toc_size(good, TSHM_TOC_HEAD - 1, &toc_bytes, &why), TSHM_EBADHDR);
        ck_assert_int_eq(tshm__toc_size(good, INT64_MAX, &toc_bytes, &why), 0);
        ck_assert_int_eq(tshm__toc_size(good, (uint64_t)INT64_MAX + 1, &toc_bytes, &why),
                         TSHM_EBADHDR);
        ck_assert_int_eq(tshm__toc_size(good, UINT64_MAX, &toc_bytes, &why), TSHM_EBADHDR);
#define SIZE_FAILS(off, width, value)                                                              \
        do {                                                                                       \
                uint64_t v_ = (value);                                                             \
                memcpy(head, good, sizeof(head));                                                  \
                memcpy(head + (off), &v_, (width));                                                \
                toc_bytes = 12345;                                                                 \
                ck_assert_int_eq(tshm__toc_size(head, INT64_MAX, &toc_bytes, &why), TSHM_EBADHDR); \
                ck_assert_uint_eq(toc_bytes, 12345);                                               \
        } while (0)
        SIZE_FAILS(0, 1, 'X');
        SIZE_FAILS(8, 4, TSHM_TOC_VERSION + 1);
        SIZE_FAILS(8, 4, 0);
        SIZE_FAILS(12, 4, TSHM_GROUP_MAX_TENSORS + 1);
        SIZE_FAILS(12, 4, UINT32_MAX);
        SIZE_FAILS(16, 8, 0);
        SIZE_FAILS(16, 8, TSHM_TOC_HEAD - 1);
        SIZE_FAILS(16, 8, lay.toc_bytes + 1);
        SIZE_FAILS(16, 8, TSHM_TOC_MAX + 64);
        SIZE_FAILS(16, 8, UINT64_MAX);
        SIZE_FAILS(16, 8, UINT64_MAX - 63);
#undef SIZE_FAILS
        free(good);
}
END_TEST

START_TEST(test_toc_duplicate_names)
{
        struct tshm__toc_spec t[3] = {three[0], three[1], three[2]};
        struct tshm__toc_layout lay;
        uint8_t *buf;

        /* The same name first and last. */
        t[2].name = "model.weight";
        t[2].name_len = 12;
        buf = toc_build(t, 3, meta3, &lay);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), TSHM_EBADHDR);
        free(buf);
        /* A prefix of another name is another name. */
        t[2].name_len = 11;
        buf = toc_build(t, 3, meta3, &lay);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        free(buf);
        /* Adjacent entries. */
        t[1] = t[0];
        buf = toc_build(t, 2, NULL, &lay);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), TSHM_EBADHDR);
        free(buf);
}
END_TEST

START_TEST(test_toc_order_bytewise)
{
        static const struct tshm__toc_spec t[] = {
            {"\xff", 1, TSHM_DTYPE_UINT8, 0, NULL}, {"b", 1, TSHM_DTYPE_UINT8, 0, NULL},
            {"ab", 2, TSHM_DTYPE_UINT8, 0, NULL},   {"a", 1, TSHM_DTYPE_UINT8, 0, NULL},
            {"A", 1, TSHM_DTYPE_UINT8, 0, NULL},
        };
        struct tshm__toc_layout lay;
        uint8_t *buf = toc_build(t, 5, NULL, &lay);
        uint32_t order[5];
        const char *why;

        ck_assert_int_eq(tshm__toc_validate(buf, lay.toc_bytes, lay.data_end, order, &why), 0);
        /* A < a < ab < b < 0xff (unsigned bytes, shorter first). */
        ck_assert_uint_eq(order[0], 4);
        ck_assert_uint_eq(order[1], 3);
        ck_assert_uint_eq(order[2], 2);
        ck_assert_uint_eq(order[3], 1);
        ck_assert_uint_eq(order[4], 0);
        free(buf);
}
END_TEST

START_TEST(test_toc_nul_in_name)
{
        struct tshm__toc_spec t[2] = {three[0], three[1]};
        struct tshm__toc_layout lay;
        uint8_t *buf;

        t[1].name = "mo\0del";
        t[1].name_len = 6;
        ck_assert_int_eq(tshm__toc_layout(t, 2, 0, &lay), TSHM_EINVAL);
        t[1].name = "\0";
        t[1].name_len = 1;
        ck_assert_int_eq(tshm__toc_layout(t, 2, 0, &lay), TSHM_EINVAL);
        /* Written in by a writer: first, middle and last byte of a name. */
        t[1] = three[1];
        buf = toc_build(t, 2, meta3, &lay);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        buf[lay.strings_off + strlen(meta3) + 12] = '\0';
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), TSHM_EBADHDR);
        free(buf);
        buf = toc_build(t, 2, meta3, &lay);
        buf[lay.strings_off + strlen(meta3) + 5] = '\0';
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), TSHM_EBADHDR);
        free(buf);
        buf = toc_build(t, 2, meta3, &lay);
        buf[lay.strings_off + strlen(meta3) + 12 + 9] = '\0';
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), TSHM_EBADHDR);
        free(buf);
        /* A NUL in the metadata is the metadata's business. */
        buf = toc_build(t, 2, meta3, &lay);
        buf[lay.strings_off + 3] = '\0';
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        free(buf);
}
END_TEST

START_TEST(test_toc_name_lengths)
{
        static char name[TSHM_GROUP_NAME_MAX + 2];
        struct tshm__toc_spec t[2] = {{"x", 1, TSHM_DTYPE_UINT8, 1, s5},
                                      {name, TSHM_GROUP_NAME_MAX, TSHM_DTYPE_UINT8, 0, NULL}};
        struct tshm__toc_layout lay;
        uint8_t *buf;

        memset(name, 'n', sizeof(name) - 1);
        buf = toc_build(t, 2, NULL, &lay);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        ck_assert_uint_eq(tshm__toc_entry_at(buf, 1)->name_len, TSHM_GROUP_NAME_MAX);
        free(buf);
        t[1].name_len = TSHM_GROUP_NAME_MAX + 1;
        ck_assert_int_eq(tshm__toc_layout(t, 2, 0, &lay), TSHM_EINVAL);
        t[1].name_len = 0;
        ck_assert_int_eq(tshm__toc_layout(t, 2, 0, &lay), TSHM_EINVAL);
        t[1].name_len = SIZE_MAX;
        ck_assert_int_eq(tshm__toc_layout(t, 2, 0, &lay), TSHM_EINVAL);

        /* A writer's table with a name one past the limit: the last name of
         * 1024 bytes grown by one into a string area one byte longer. */
        t[1].name_len = TSHM_GROUP_NAME_MAX;
        t[0].name = "xy";
        t[0].name_len = 2;
        buf = toc_build(t, 2, NULL, &lay);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        /* Move the second name one byte back (over the first's last byte). */
        bump(buf, TSHM_TOC_HEAD + 24, 4, -1);
        bump(buf, TSHM_TOC_HEAD + TSHM_TOC_ENTRY + 16, 8, -1);
        bump(buf, TSHM_TOC_HEAD + TSHM_TOC_ENTRY + 24, 4, 1);
        ck_assert_uint_eq(tshm__toc_entry_at(buf, 1)->name_len, TSHM_GROUP_NAME_MAX + 1);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), TSHM_EBADHDR);
        free(buf);
}
END_TEST

START_TEST(test_toc_count_zero)
{
        struct tshm__toc_layout lay;
        uint8_t *buf = toc_build(NULL, 0, NULL, &lay);
        uint32_t order[1];
        const char *why;

        ck_assert_uint_eq(lay.toc_bytes, TSHM_TOC_HEAD);
        ck_assert_uint_eq(lay.data_end, TSHM_TOC_HEAD);
        ck_assert_int_eq(tshm__toc_validate(buf, lay.toc_bytes, lay.data_end, order, &why), 0);
        ck_assert_uint_eq(tshm__toc_head(buf)->count, 0);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, TSHM_TOC_HEAD - 1), TSHM_EBADHDR);
        free(buf);
        /* Only metadata. */
        buf = toc_build(NULL, 0, meta3, &lay);
        ck_assert_uint_eq(lay.toc_bytes, 128);
        ck_assert_uint_eq(lay.data_end, 128);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        free(buf);
}
END_TEST

START_TEST(test_toc_scalar_and_empty)
{
        static const uint64_t s05[] = {0, 5}, s50[] = {5, 0}, s0[] = {0};
        const struct tshm__toc_spec t[] = {
            {"scalar", 6, TSHM_DTYPE_FLOAT64, 0, NULL},  {"empty05", 7, TSHM_DTYPE_FLOAT32, 2, s05},
            {"five", 4, TSHM_DTYPE_UINT8, 1, s5},        {"empty50", 7, TSHM_DTYPE_INT64, 2, s50},
            {"empty0", 6, TSHM_DTYPE_COMPLEX128, 1, s0},
        };
        struct tshm__toc_layout lay;
        uint8_t *buf = toc_build(t, 5, NULL, &lay);
        const struct tshm__toc_entry *e;

        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        e = tshm__toc_entry_at(buf, 0);
        ck_assert_uint_eq(e->nbytes, 8);
        ck_assert_uint_eq(e->offset, lay.toc_bytes);
        e = tshm__toc_entry_at(buf, 1);
        ck_assert_uint_eq(e->nbytes, 0);
        ck_assert_uint_eq(e->offset, lay.toc_bytes + 64);
        e = tshm__toc_entry_at(buf, 2);
        ck_assert_uint_eq(e->nbytes, 5);
        ck_assert_uint_eq(e->offset, lay.toc_bytes + 64); /* an empty tensor takes no room */
        e = tshm__toc_entry_at(buf, 4);
        ck_assert_uint_eq(e->nbytes, 0);
        ck_assert_uint_eq(e->offset, lay.toc_bytes + 128);
        /* The last tensor is empty: the data area ends at its offset. */
        ck_assert_uint_eq(lay.data_end, lay.toc_bytes + 128);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end - 1), TSHM_EBADHDR);
        free(buf);
}
END_TEST

START_TEST(test_toc_layout_overflow)
{
        static const uint64_t s_2_63[] = {1ull << 31, 1ull << 31, 2}, s_2_62[] = {1ull << 62},
                              s_big[] = {(uint64_t)INT64_MAX - 100}, s_max[] = {UINT64_MAX},
                              s_0_max[] = {0, UINT64_MAX, UINT64_MAX};
        struct tshm__toc_spec t[2] = {{"a", 1, TSHM_DTYPE_UINT8, 3, s_2_63},
                                      {"b", 1, TSHM_DTYPE_UINT8, 1, s_2_62}};
        struct tshm__toc_layout lay;
        uint8_t *buf;

        /* One tensor of 2^63 bytes, 2^62 float32s, INT64_MAX - 100 bytes
         * after the table, UINT64_MAX elements, (0, 2^64-1, 2^64-1). */
        ck_assert_int_eq(tshm__toc_layout(t, 1, 0, &lay), TSHM_EBADSHAPE);
        t[0] = (struct tshm__toc_spec){"a", 1, TSHM_DTYPE_FLOAT32, 1, s_2_62};
        ck_assert_int_eq(tshm__toc_layout(t, 1, 0, &lay), TSHM_EBADSHAPE);
        t[0] = (struct tshm__toc_spec){"a", 1, TSHM_DTYPE_UINT8, 1, s_big};
        ck_assert_int_eq(tshm__toc_layout(t, 1, 0, &lay), TSHM_EBADSHAPE);
        t[0] = (struct tshm__toc_spec){"a", 1, TSHM_DTYPE_UINT8, 1, s_max};
        ck_assert_int_eq(tshm__toc_layout(t, 1, 0, &lay), TSHM_EBADSHAPE);
        t[0] = (struct tshm__toc_spec){"a", 1, TSHM_DTYPE_UINT8, 3, s_0_max};
        ck_assert_int_eq(tshm__toc_layout(t, 1, 0, &lay), TSHM_EBADSHAPE);
        t[0] = (struct tshm__toc_spec){"a", 1, TSHM_DTYPE_UINT8, TSHM_MAX_NDIM + 1, s_0_max};
        ck_assert_int_eq(tshm__toc_layout(t, 1, 0, &lay), TSHM_EBADSHAPE);
        t[0] = (struct tshm__toc_spec){"a", 1, (tshm_dtype)0, 1, s5};
        ck_assert_int_eq(tshm__toc_layout(t, 1, 0, &lay), TSHM_EBADDTYPE);
        /* 2^62 bytes is fine on its own (nothing is touched), twice is
         * 2^63 and more. */
        t[0] = (struct tshm__toc_spec){"a", 1, TSHM_DTYPE_UINT8, 1, s_2_62};
        buf = toc_build(t, 1, NULL, &lay);
        ck_assert_uint_eq(lay.data_end, lay.toc_bytes + (1ull << 62));
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end), 0);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, INT64_MAX), 0);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, UINT64_MAX), TSHM_EBADHDR);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, lay.data_end - 1), TSHM_EBADHDR);
        free(buf);
        ck_assert_int_eq(tshm__toc_layout(t, 2, 0, &lay), TSHM_EBADSHAPE);
        /* Metadata over the limit. */
        ck_assert_int_eq(tshm__toc_layout(t, 1, TSHM_GROUP_META_MAX + 1, &lay), TSHM_EINVAL);
        ck_assert_int_eq(tshm__toc_layout(t, 1, UINT64_MAX, &lay), TSHM_EINVAL);
}
END_TEST

START_TEST(test_toc_layout_count_limits)
{
        struct tshm__toc_spec *t = calloc(TSHM_GROUP_MAX_TENSORS, sizeof(*t));
        struct tshm__toc_layout lay;
        static char name[TSHM_GROUP_NAME_MAX];
        size_t i;

        ck_assert_ptr_nonnull(t);
        /* The count is refused before any spec is read. */
        ck_assert_int_eq(tshm__toc_layout(NULL, (size_t)TSHM_GROUP_MAX_TENSORS + 1, 0, &lay),
                         TSHM_EINVAL);
        ck_assert_int_eq(tshm__toc_layout(NULL, SIZE_MAX, 0, &lay), TSHM_EINVAL);
        for (i = 0; i < TSHM_GROUP_MAX_TENSORS; i++) {
                t[i] = (struct tshm__toc_spec){"x", 1, TSHM_DTYPE_UINT8, 0, NULL};
        }
        ck_assert_int_eq(tshm__toc_layout(t, TSHM_GROUP_MAX_TENSORS, 0, &lay), 0);
        ck_assert_uint_le(lay.toc_bytes, TSHM_TOC_MAX);
        ck_assert_uint_eq(lay.strings_bytes, TSHM_GROUP_MAX_TENSORS);
        /* Names of the limit for a quarter of the tensors: a table over
         * TSHM_TOC_MAX. */
        memset(name, 'n', sizeof(name));
        for (i = 0; i < TSHM_GROUP_MAX_TENSORS / 4; i++) {
                t[i].name = name;
                t[i].name_len = sizeof(name);
        }
        ck_assert_int_eq(tshm__toc_layout(t, TSHM_GROUP_MAX_TENSORS, 0, &lay), TSHM_EINVAL);
        free(t);
}
END_TEST

/* Tensors whose ends pass 2^64 in a data area that claims 2^64 - 1 bytes:
 * the next offset must not wrap to 0 (onto the table). Written by hand:
 * tshm__toc_layout() refuses these shapes. */
START_TEST(test_toc_offsets_do_not_wrap)
{
        /* Table of 320 bytes; tensor 0 ends at 2^63, tensor 1 at
         * 2^64 - 32, tensor 2 would start at align_up(2^64 - 32) = 0. */
        static const uint64_t a[] = {(1ull << 63) - 320}, b[] = {(1ull << 63) - 32}, c[] = {64};
        const struct tshm__toc_spec t[3] = {{"a", 1, TSHM_DTYPE_UINT8, 1, a},
                                            {"b", 1, TSHM_DTYPE_UINT8, 1, b},
                                            {"c", 1, TSHM_DTYPE_UINT8, 1, c}};
        const struct tshm__toc_spec small[3] = {{"a", 1, TSHM_DTYPE_UINT8, 1, c},
                                                {"b", 1, TSHM_DTYPE_UINT8, 1, c},
                                                {"c", 1, TSHM_DTYPE_UINT8, 1, c}};
        struct tshm__toc_layout lay;
        uint8_t *buf;

        ck_assert_int_eq(tshm__toc_layout(t, 3, 0, &lay), TSHM_EBADSHAPE);
        /* The same parts (names, ndims), so the same table size. */
        ck_assert_int_eq(tshm__toc_layout(small, 3, 0, &lay), 0);
        ck_assert_uint_eq(lay.toc_bytes, 320);
        lay.data_end = 64;
        buf = malloc(lay.toc_bytes);
        ck_assert_ptr_nonnull(buf);
        tshm__toc_write(buf, &lay, t, 3, NULL, 0);
        ck_assert_uint_eq(tshm__toc_entry_at(buf, 1)->offset, 1ull << 63);
        ck_assert_uint_eq(tshm__toc_entry_at(buf, 2)->offset, 0);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, UINT64_MAX), TSHM_EBADHDR);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, UINT64_MAX - 63), TSHM_EBADHDR);
        ck_assert_int_eq(toc_check(buf, lay.toc_bytes, INT64_MAX), TSHM_EBADHDR);
        free(buf);
}
END_TEST

/* Heads a writer forges with huge sizes: refused, no overflow (UBSan). */
START_TEST(test_toc_forged_head_sizes)
{
        static const struct {
                size_t off;
                unsigned width;
                uint64_t value;
        } forged[] = {
            {12, 4, TSHM_GROUP_MAX_TENSORS},
            {24, 8, UINT64_MAX},
            {24, 8, 1ull << 61},
            {32, 8, UINT64_MAX},
            {32, 8, 1ull << 63},
            {40, 8, UINT64_MAX},
            {40, 8, TSHM_GROUP_META_MAX + 1},
            {48, 8, UINT64_MAX},
            {48, 8, 0},
            {64, 8, UINT64_MAX - 63},
            {72, 8, UINT64_MAX},
            {80, 8, UINT64_MAX},
            {88, 4, UINT32_MAX},
            {96, 4, UINT32_MAX},
            {104, 8, UINT64_MAX},
        };
        struct tshm__toc_spec t[1] = {three[0]};
        struct tshm__toc_layout lay;
        uint8_t *good = toc_build(t, 1, NULL, &lay), *buf = malloc(lay.toc_bytes);
        size_t i;

        ck_assert_ptr_nonnull(buf);
        for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
                memcpy(buf, good, lay.toc_bytes);
                memcpy(buf + forged[i].off, &forged[i].value, forged[i].width);
                ck_assert_msg(toc_check(buf, lay.toc_bytes, INT64_MAX) == TSHM_EBADHDR,
                              "forged field at %zu accepted", forged[i].off);
        }
        free(buf);
        free(good);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("group_toc");

        tshm_test_each(s, 60, NULL, NULL,
                       TSHM_TESTS(test_toc_roundtrip, test_toc_every_field_off_by_one,
                                  test_toc_length_and_area, test_toc_size, test_toc_duplicate_names,
                                  test_toc_order_bytewise, test_toc_nul_in_name,
                                  test_toc_name_lengths, test_toc_count_zero,
                                  test_toc_scalar_and_empty, test_toc_layout_overflow,
                                  test_toc_layout_count_limits, test_toc_offsets_do_not_wrap,
                                  test_toc_forged_head_sizes));
        return tshm_test_run(s);
}
