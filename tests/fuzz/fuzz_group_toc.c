/*
 * fuzz_group_toc.c - a tensor group's table of contents (proto/group.c) as a
 * reader gets it: bytes that anyone with write access may have written.
 *
 * Input: one byte of mode, then
 *  - mode even ("raw"): 8 bytes of data-area size (little-endian), then the
 *    table's bytes. tshm__toc_size() gets its first 64 bytes (zero-padded);
 *    tshm__toc_validate() gets the bytes in a buffer of exactly their size,
 *    and, when tshm__toc_size() accepts a size up to 1 MiB, a buffer of that
 *    size holding them (zero-padded or cut);
 *  - mode odd ("built"): up to 8 tensors (dtype, up to 4 extents, a name of
 *    0..1025 bytes, an extent byte with its top bit set standing for 2^k)
 *    and up to 63 bytes of metadata that tshm__toc_layout() and
 *    tshm__toc_write() make into a table; the rest of the input is 4-byte
 *    mutations of it (an offset, then a byte xor, or a small signed step
 *    added to the 32- or 64-bit field there).
 * A table the validator accepts must keep every promise a reader relies on,
 * checked here independently of the validator's arithmetic: each entry,
 * extent, name and the metadata inside the copy; each name 1..1024 bytes
 * without a NUL; nbytes the shape's (128-bit); each tensor 64-aligned, after
 * the table and the tensor before it, inside the data area; the order a
 * permutation sorted strictly by name (no two equal); and the table exactly
 * what tshm__toc_layout()/tshm__toc_write() make of its own names, dtypes,
 * shapes and metadata, byte for byte (but for the padding after the string
 * area, which the validator does not read). A table built from inputs
 * tshm__toc_layout() takes validates iff its names are unique, and never
 * against a data area one byte short.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "fuzz.h"
#include "group.h"
#include "spec.h"

#define BUILT_MAX_TENSORS 8u
#define BUILT_MAX_NDIM 4u
#define RAW_MAX_TOC (1u << 20)

typedef __int128 i128;

static uint64_t
get_le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;

        while (n-- > 0) {
                v = (v << 8) | p[n];
        }
        return v;
}

/* Whether [p, p + n) lies in [buf, buf + len). */
static bool
in_buf(const void *buf, uint64_t len, const void *p, uint64_t n)
{
        const uint8_t *b = buf, *q = p;

        return q >= b && (uint64_t)(q - b) <= len && n <= len - (uint64_t)(q - b);
}

static int
name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
        int c = memcmp(a, b, alen < blen ? alen : blen);

        return c != 0 ? c : alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Rebuild @buf from its own inputs: the same bytes (the padding after the
 * string area aside) and the same end of data. */
static void
toc_check_canonical(const uint8_t *buf, uint64_t len)
{
        const struct tshm__toc *h = tshm__toc_head(buf);
        struct tshm__toc_spec *t = calloc(h->count + 1u, sizeof(*t));
        struct tshm__toc_layout lay;
        uint64_t meta_len, strings_end;
        const void *meta = tshm__toc_meta(buf, &meta_len);
        uint8_t *again;
        uint32_t i;

        FUZZ_CHECK(t != NULL);
        for (i = 0; i < h->count; i++) {
                const struct tshm__toc_entry *e = tshm__toc_entry_at(buf, i);

                t[i].name = tshm__toc_name(buf, e);
                t[i].name_len = e->name_len;
                t[i].dtype = (tshm_dtype)e->dtype;
                t[i].ndim = e->ndim;
                t[i].shape = tshm__toc_dims(buf, e);
        }
        FUZZ_CHECK(tshm__toc_layout(t, h->count, meta_len, &lay) == 0);
        FUZZ_CHECK(lay.toc_bytes == len && lay.data_end == h->data_end);
        FUZZ_CHECK(lay.strings_bytes == h->strings_bytes);
        again = malloc(lay.toc_bytes);
        FUZZ_CHECK(again != NULL);
        tshm__toc_write(again, &lay, t, h->count, meta, meta_len);
        strings_end = lay.strings_off + lay.strings_bytes;
        FUZZ_CHECK(strings_end <= len && len - strings_end < TSHM_GROUP_ALIGN);
        FUZZ_CHECK(memcmp(again, buf, strings_end) == 0);
        free(again);
        free(t);
}

/* What a table that tshm__toc_validate() accepted promises, about a copy
 * of @len bytes of a data area of @data_size bytes. */
/* Entry @e of a table the validator accepted (@buf, @len bytes, of a data
 * area of @data_size): in bounds, canonical, after *@prev_end, which it
 * moves past its bytes. */
static void
entry_check(const uint8_t *buf, uint64_t len, uint64_t data_size, const struct tshm__toc_entry *e,
            uint64_t *prev_end)
{
        const struct tshm__toc *h = tshm__toc_head(buf);
        uint64_t meta_len;
        const void *meta = tshm__toc_meta(buf, &meta_len);
        const uint64_t *dims;
        const char *name;
        uint64_t itemsize;
        i128 prod = 1;
        bool empty = false;
        uint32_t d;

        FUZZ_CHECK(in_buf(buf, len, e, sizeof(*e)));
        FUZZ_CHECK(e->ndim <= TSHM_MAX_NDIM);
        dims = tshm__toc_dims(buf, e);
        FUZZ_CHECK(in_buf(buf, len, dims, (uint64_t)e->ndim * sizeof(uint64_t)));
        FUZZ_CHECK((const uint8_t *)dims >=
                   buf + TSHM_TOC_HEAD + (uint64_t)h->count * TSHM_TOC_ENTRY);
        name = tshm__toc_name(buf, e);
        FUZZ_CHECK(e->name_len >= 1 && e->name_len <= TSHM_GROUP_NAME_MAX);
        FUZZ_CHECK(in_buf(buf, len, name, e->name_len));
        FUZZ_CHECK(memchr(name, '\0', e->name_len) == NULL);
        /* Names and metadata do not overlap. */
        FUZZ_CHECK(name >= (const char *)meta + meta_len);
        itemsize = tshm__dtype_itemsize((tshm_dtype)e->dtype);
        FUZZ_CHECK(itemsize > 0);
        for (d = 0; d < e->ndim; d++) {
                if (dims[d] == 0) {
                        empty = true;
                        continue;
                }
                prod *= dims[d];
                FUZZ_CHECK(prod <= INT64_MAX);
        }
        FUZZ_CHECK(prod * itemsize <= INT64_MAX);
        FUZZ_CHECK((i128)e->nbytes == (empty ? 0 : prod * itemsize));
        FUZZ_CHECK(e->offset % TSHM_GROUP_ALIGN == 0 && e->offset >= *prev_end);
        FUZZ_CHECK((i128)e->offset + e->nbytes <= (i128)data_size);
        FUZZ_CHECK(e->reserved0 == 0 && e->reserved[0] == 0 && e->reserved[1] == 0);
        *prev_end = e->offset + e->nbytes;
        FUZZ_CHECK(tshm__toc_name_cmp(buf, e, name, e->name_len) == 0);
        if (e->name_len > 1) {
                FUZZ_CHECK(tshm__toc_name_cmp(buf, e, name, e->name_len - 1u) > 0);
        }
}

static void
toc_check(const uint8_t *buf, uint64_t len, uint64_t data_size, const uint32_t *order)
{
        const struct tshm__toc *h = tshm__toc_head(buf);
        uint64_t meta_len, prev_end = len;
        const void *meta;
        uint8_t *seen;
        uint32_t i;

        FUZZ_CHECK(memcmp(h->magic, TSHM_TOC_MAGIC, 8) == 0 && h->version == TSHM_TOC_VERSION);
        FUZZ_CHECK(h->count <= TSHM_GROUP_MAX_TENSORS && h->reserved == 0);
        FUZZ_CHECK(h->toc_bytes == len && len % TSHM_GROUP_ALIGN == 0 && len <= TSHM_TOC_MAX);
        FUZZ_CHECK(len <= data_size && h->data_end <= data_size && h->data_end >= len);
        FUZZ_CHECK(data_size <= INT64_MAX);
        FUZZ_CHECK((i128)TSHM_TOC_HEAD + (i128)h->count * TSHM_TOC_ENTRY <= (i128)len);
        meta = tshm__toc_meta(buf, &meta_len);
        FUZZ_CHECK(meta_len <= TSHM_GROUP_META_MAX && in_buf(buf, len, meta, meta_len));
        seen = calloc(h->count + 1u, 1);
        FUZZ_CHECK(seen != NULL);
        for (i = 0; i < h->count; i++) {
                entry_check(buf, len, data_size, tshm__toc_entry_at(buf, i), &prev_end);
                /* The order: a permutation, strictly increasing by name. */
                FUZZ_CHECK(order[i] < h->count && !seen[order[i]]);
                seen[order[i]] = 1;
                if (i > 0) {
                        const struct tshm__toc_entry *a = tshm__toc_entry_at(buf, order[i - 1]);
                        const struct tshm__toc_entry *b = tshm__toc_entry_at(buf, order[i]);

                        FUZZ_CHECK(name_cmp(tshm__toc_name(buf, a), a->name_len,
                                            tshm__toc_name(buf, b), b->name_len) < 0);
                }
        }
        FUZZ_CHECK(prev_end == h->data_end);
        free(seen);
        toc_check_canonical(buf, len);
}

/* Validate @len bytes at @buf (a buffer of exactly that size) and check
 * what an acceptance promises. Returns the validator's result. */
static int
toc_run(const uint8_t *buf, uint64_t len, uint64_t data_size)
{
        uint32_t count = len >= TSHM_TOC_HEAD ? tshm__toc_head(buf)->count : 0;
        uint32_t *order;
        const char *why = NULL;
        int rv;

        /* As large as the head says, so that a write past it is caught. */
        if (count > TSHM_GROUP_MAX_TENSORS) {
                count = 0;
        }
        order = malloc(((size_t)count + 1) * sizeof(*order));
        FUZZ_CHECK(order != NULL);
        rv = tshm__toc_validate(buf, len, data_size, order, &why);
        if (rv == 0) {
                toc_check(buf, len, data_size, order);
        } else {
                FUZZ_CHECK(rv == TSHM_EBADHDR && why != NULL && why[0] != '\0');
        }
        free(order);
        return rv;
}

static void
fuzz_raw(const uint8_t *data, size_t size)
{
        uint8_t head[TSHM_TOC_HEAD] = {0}, *copy;
        uint64_t data_size, toc_bytes = 0;
        const char *why = NULL;
        int rv;

        if (size < 8) {
                return;
        }
        data_size = get_le(data, 8);
        data += 8;
        size -= 8;
        memcpy(head, data, size < sizeof(head) ? size : sizeof(head));
        rv = tshm__toc_size(head, data_size, &toc_bytes, &why);
        if (rv == 0) {
                FUZZ_CHECK(toc_bytes >= TSHM_TOC_HEAD && toc_bytes <= data_size);
                FUZZ_CHECK(data_size <= INT64_MAX);
                FUZZ_CHECK(toc_bytes <= TSHM_TOC_MAX && toc_bytes % TSHM_GROUP_ALIGN == 0);
        } else {
                FUZZ_CHECK(rv == TSHM_EBADHDR && why != NULL);
        }
        /* The bytes as they are, in a buffer of their size. */
        copy = malloc(size + 1);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, data, size);
        (void)toc_run(copy, size, data_size);
        free(copy);
        /* And cut or padded to the size the head names. */
        if (rv == 0 && toc_bytes <= RAW_MAX_TOC && toc_bytes != size) {
                copy = calloc(1, toc_bytes);
                FUZZ_CHECK(copy != NULL);
                memcpy(copy, data, size < toc_bytes ? size : toc_bytes);
                (void)toc_run(copy, toc_bytes, data_size);
                free(copy);
        }
}

/* The inputs of a built table, read from the fuzzer's bytes. */
struct built {
        struct tshm__toc_spec t[BUILT_MAX_TENSORS];
        uint64_t shapes[BUILT_MAX_TENSORS][BUILT_MAX_NDIM];
        char names[BUILT_MAX_TENSORS][TSHM_GROUP_NAME_MAX + 2];
        uint8_t meta[64];
        size_t count, meta_len;
};

/* Take one byte of input, 0 when none is left. */
static uint8_t
take(const uint8_t **p, size_t *n)
{
        uint8_t v = 0;

        if (*n > 0) {
                v = **p;
                (*p)++;
                (*n)--;
        }
        return v;
}

static void
built_read(struct built *b, const uint8_t **p, size_t *n)
{
        size_t i, k;
        uint32_t d;

        memset(b, 0, sizeof(*b));
        b->count = take(p, n) % (BUILT_MAX_TENSORS + 1);
        b->meta_len = take(p, n) % sizeof(b->meta);
        for (k = 0; k < b->meta_len; k++) {
                b->meta[k] = take(p, n);
        }
        for (i = 0; i < b->count; i++) {
                uint8_t nl = take(p, n);
                /* 0..253 bytes, or the limit, or one past it. */
                size_t len = nl == 255   ? TSHM_GROUP_NAME_MAX
                             : nl == 254 ? TSHM_GROUP_NAME_MAX + 1
                                         : nl;
                uint8_t seed = take(p, n);

                b->t[i].dtype = (tshm_dtype)(take(p, n) % 20);
                b->t[i].ndim = take(p, n) % (BUILT_MAX_NDIM + 1);
                for (d = 0; d < b->t[i].ndim; d++) {
                        uint8_t x = take(p, n);

                        b->shapes[i][d] = (x & 0x80) != 0 ? (uint64_t)1 << (x & 63) : x;
                }
                /* A name that repeats its seed byte, then the input's bytes. */
                for (k = 0; k < len; k++) {
                        b->names[i][k] = (char)(k < 8 && *n > 0 ? take(p, n) : seed);
                }
                b->t[i].name = b->names[i];
                b->t[i].name_len = len;
                b->t[i].shape = b->shapes[i];
        }
}

static bool
built_unique(const struct built *b)
{
        size_t i, j;

        for (i = 0; i < b->count; i++) {
                for (j = i + 1; j < b->count; j++) {
                        if (b->t[i].name_len == b->t[j].name_len &&
                            memcmp(b->t[i].name, b->t[j].name, b->t[i].name_len) == 0) {
                                return false;
                        }
                }
        }
        return true;
}

static void
mutate(uint8_t *buf, uint64_t len, const uint8_t *m)
{
        uint64_t off = get_le(m, 2) % len;
        int8_t step = (int8_t)m[3];

        switch (m[2] % 3) {
        case 0:
                buf[off] ^= m[3];
                break;
        case 1: {
                uint64_t v;

                off &= ~(uint64_t)7;
                if (off + 8 > len) {
                        break;
                }
                memcpy(&v, buf + off, 8);
                v += (uint64_t)(int64_t)step;
                memcpy(buf + off, &v, 8);
                break;
        }
        default: {
                uint32_t v;

                off &= ~(uint64_t)3;
                if (off + 4 > len) {
                        break;
                }
                memcpy(&v, buf + off, 4);
                v += (uint32_t)(int32_t)step;
                memcpy(buf + off, &v, 4);
                break;
        }
        }
}

static void
fuzz_built(const uint8_t *data, size_t size)
{
        struct built *b = malloc(sizeof(*b));
        struct tshm__toc_layout lay;
        uint64_t data_size;
        uint8_t slack;
        uint8_t *buf;
        size_t i;
        int rv;

        FUZZ_CHECK(b != NULL);
        slack = take(&data, &size);
        built_read(b, &data, &size);
        rv = tshm__toc_layout(b->t, b->count, b->meta_len, &lay);
        for (i = 0; i < b->count; i++) {
                if (b->t[i].name_len == 0 || b->t[i].name_len > TSHM_GROUP_NAME_MAX ||
                    memchr(b->t[i].name, '\0', b->t[i].name_len) != NULL) {
                        FUZZ_CHECK(rv == TSHM_EINVAL);
                }
        }
        if (rv < 0) {
                FUZZ_CHECK(rv == TSHM_EINVAL || rv == TSHM_EBADSHAPE || rv == TSHM_EBADDTYPE);
                free(b);
                return;
        }
        FUZZ_CHECK(lay.toc_bytes % TSHM_GROUP_ALIGN == 0 && lay.toc_bytes <= lay.data_end);
        FUZZ_CHECK(lay.data_end <= INT64_MAX);
        buf = malloc(lay.toc_bytes);
        FUZZ_CHECK(buf != NULL);
        tshm__toc_write(buf, &lay, b->t, b->count, b->meta, b->meta_len);
        data_size = lay.data_end + slack;
        rv = toc_run(buf, lay.toc_bytes, data_size);
        FUZZ_CHECK((rv == 0) == built_unique(b));
        /* One byte short of the last tensor's end is refused. */
        FUZZ_CHECK(toc_run(buf, lay.toc_bytes, lay.data_end - 1) == TSHM_EBADHDR);
        if (rv == 0) {
                for (i = 0; i < b->count; i++) {
                        const struct tshm__toc_entry *e = tshm__toc_entry_at(buf, (uint32_t)i);

                        FUZZ_CHECK(e->name_len == b->t[i].name_len);
                        FUZZ_CHECK(memcmp(tshm__toc_name(buf, e), b->t[i].name, e->name_len) == 0);
                        FUZZ_CHECK(e->dtype == (uint32_t)b->t[i].dtype && e->ndim == b->t[i].ndim);
                        FUZZ_CHECK(e->ndim == 0 || memcmp(tshm__toc_dims(buf, e), b->t[i].shape,
                                                          e->ndim * sizeof(uint64_t)) == 0);
                }
        }
        /* Then whatever a writer does to it. */
        if (size >= 4) {
                while (size >= 4) {
                        mutate(buf, lay.toc_bytes, data);
                        data += 4;
                        size -= 4;
                }
                (void)toc_run(buf, lay.toc_bytes, data_size);
        }
        free(buf);
        free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1) {
                return 0;
        }
        if ((data[0] & 1) == 0) {
                fuzz_raw(data + 1, size - 1);
        } else {
                fuzz_built(data + 1, size - 1);
        }
        return 0;
}
