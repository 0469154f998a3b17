/*
 * group.c - lay out, write and validate a tensor group's table of contents
 * (group.h; PROTOCOL.md section 10).
 */
#include <stdbool.h>
#include <string.h>

#include "group.h"
#include "spec.h"

static uint64_t
align_up(uint64_t v)
{
        return (v + (TSHM_GROUP_ALIGN - 1)) & ~(uint64_t)(TSHM_GROUP_ALIGN - 1);
}

/* @a + @b into *@r, false on overflow or past 2^63 - 1 (every size and
 * offset of a group fits in off_t). */
static bool
add_ok(uint64_t a, uint64_t b, uint64_t *r)
{
        if (a > INT64_MAX || b > (uint64_t)INT64_MAX - a) {
                return false;
        }
        *r = a + b;
        return true;
}

/* The parts before the tensors: entries, dims and strings. */
static int
toc_parts(uint64_t count, uint64_t ndims, uint64_t strings_bytes, struct tshm__toc_layout *lay)
{
        uint64_t end;

        lay->dims_off = TSHM_TOC_HEAD + count * TSHM_TOC_ENTRY;
        lay->strings_off = lay->dims_off + ndims * sizeof(uint64_t);
        lay->strings_bytes = strings_bytes;
        if (!add_ok(lay->strings_off, strings_bytes, &end) || end > TSHM_TOC_MAX) {
                return TSHM_EINVAL;
        }
        lay->toc_bytes = align_up(end);
        return 0;
}

int
tshm__toc_layout(const struct tshm__toc_spec *t, size_t count, uint64_t meta_len,
                 struct tshm__toc_layout *ret)
{
        struct tshm__toc_layout lay;
        uint64_t ndims = 0, strings = meta_len, end, nbytes;
        size_t i;
        int rv;

        if (count > TSHM_GROUP_MAX_TENSORS || meta_len > TSHM_GROUP_META_MAX) {
                return TSHM_EINVAL;
        }
        for (i = 0; i < count; i++) {
                if (t[i].name_len == 0 || t[i].name_len > TSHM_GROUP_NAME_MAX ||
                    memchr(t[i].name, '\0', t[i].name_len) != NULL) {
                        return TSHM_EINVAL;
                }
                if (t[i].ndim > TSHM_MAX_NDIM) {
                        return TSHM_EBADSHAPE;
                }
                ndims += t[i].ndim;
                strings += t[i].name_len;
        }
        if ((rv = toc_parts(count, ndims, strings, &lay)) < 0) {
                return rv;
        }
        end = lay.toc_bytes;
        for (i = 0; i < count; i++) {
                rv = tshm__shape_nbytes(t[i].dtype, t[i].ndim, t[i].shape, &nbytes);
                if (rv < 0) {
                        return rv;
                }
                if (!add_ok(align_up(end), nbytes, &end) || end > INT64_MAX - TSHM_GROUP_ALIGN) {
                        return TSHM_EBADSHAPE;
                }
        }
        lay.data_end = end;
        *ret = lay;
        return 0;
}

void
tshm__toc_write(void *buf, const struct tshm__toc_layout *lay, const struct tshm__toc_spec *t,
                size_t count, const void *meta, uint64_t meta_len)
{
        uint8_t *base = buf;
        struct tshm__toc head;
        struct tshm__toc_entry e;
        uint64_t dims_idx = 0, name_off = meta_len, end = lay->toc_bytes;
        size_t i;

        memset(buf, 0, lay->toc_bytes);
        if (meta_len != 0) {
                memcpy(base + lay->strings_off, meta, meta_len);
        }
        for (i = 0; i < count; i++) {
                memset(&e, 0, sizeof(e));
                e.offset = align_up(end);
                (void)tshm__shape_nbytes(t[i].dtype, t[i].ndim, t[i].shape, &e.nbytes);
                e.name_off = name_off;
                e.name_len = (uint32_t)t[i].name_len;
                e.dtype = (uint32_t)t[i].dtype;
                e.ndim = t[i].ndim;
                e.dims_idx = dims_idx;
                memcpy(base + TSHM_TOC_HEAD + i * TSHM_TOC_ENTRY, &e, sizeof(e));
                if (t[i].ndim != 0) {
                        memcpy(base + lay->dims_off + dims_idx * sizeof(uint64_t), t[i].shape,
                               t[i].ndim * sizeof(uint64_t));
                }
                memcpy(base + lay->strings_off + name_off, t[i].name, t[i].name_len);
                end = e.offset + e.nbytes;
                dims_idx += t[i].ndim;
                name_off += t[i].name_len;
        }
        memset(&head, 0, sizeof(head));
        memcpy(head.magic, TSHM_TOC_MAGIC, sizeof(head.magic));
        head.version = TSHM_TOC_VERSION;
        head.count = (uint32_t)count;
        head.toc_bytes = lay->toc_bytes;
        head.ndims = dims_idx;
        head.strings_bytes = lay->strings_bytes;
        head.meta_len = meta_len;
        head.data_end = lay->data_end;
        memcpy(base, &head, sizeof(head));
}

int
tshm__toc_size(const void *head, uint64_t data_size, uint64_t *ret_toc_bytes, const char **ret_why)
{
        struct tshm__toc h;

        /* The head is read only once the data area is known to hold it. */
        if (data_size < TSHM_TOC_HEAD) {
                *ret_why = "no table of contents (the segment is too small)";
                return TSHM_EBADHDR;
        }
        memcpy(&h, head, sizeof(h));
        if (memcmp(h.magic, TSHM_TOC_MAGIC, sizeof(h.magic)) != 0) {
                *ret_why = "no table of contents (bad magic)";
                return TSHM_EBADHDR;
        }
        /* No segment is larger (off_t); past it, tensors' ends could pass
         * 2^64 and the next offset wrap to the start of the table. */
        if (data_size > INT64_MAX) {
                *ret_why = "a data area larger than any segment";
                return TSHM_EBADHDR;
        }
        if (h.version != TSHM_TOC_VERSION) {
                *ret_why = "table of contents of an unknown version";
                return TSHM_EBADHDR;
        }
        if (h.count > TSHM_GROUP_MAX_TENSORS) {
                *ret_why = "more tensors than a group holds";
                return TSHM_EBADHDR;
        }
        if (h.toc_bytes < TSHM_TOC_HEAD || h.toc_bytes > TSHM_TOC_MAX || h.toc_bytes > data_size ||
            h.toc_bytes % TSHM_GROUP_ALIGN != 0) {
                *ret_why = "table of contents larger than the segment";
                return TSHM_EBADHDR;
        }
        *ret_toc_bytes = h.toc_bytes;
        return 0;
}

const uint64_t *
tshm__toc_dims(const void *buf, const struct tshm__toc_entry *e)
{
        const struct tshm__toc *h = buf;
        uint64_t dims_off = TSHM_TOC_HEAD + (uint64_t)h->count * TSHM_TOC_ENTRY;

        return (const uint64_t *)(const void *)((const uint8_t *)buf + dims_off +
                                                e->dims_idx * sizeof(uint64_t));
}

static const char *
toc_strings(const void *buf)
{
        const struct tshm__toc *h = buf;

        return (const char *)buf + TSHM_TOC_HEAD + (uint64_t)h->count * TSHM_TOC_ENTRY +
               h->ndims * sizeof(uint64_t);
}

const char *
tshm__toc_name(const void *buf, const struct tshm__toc_entry *e)
{
        return toc_strings(buf) + e->name_off;
}

const void *
tshm__toc_meta(const void *buf, uint64_t *ret_len)
{
        *ret_len = tshm__toc_head(buf)->meta_len;
        return toc_strings(buf);
}

int
tshm__toc_name_cmp(const void *buf, const struct tshm__toc_entry *e, const char *name, size_t len)
{
        size_t n = e->name_len < len ? e->name_len : len;
        int c = memcmp(tshm__toc_name(buf, e), name, n);

        if (c != 0) {
                return c;
        }
        return e->name_len < len ? -1 : e->name_len > len ? 1 : 0;
}

static int
entry_cmp(const void *buf, uint32_t a, uint32_t b)
{
        const struct tshm__toc_entry *eb = tshm__toc_entry_at(buf, b);

        return tshm__toc_name_cmp(buf, tshm__toc_entry_at(buf, a), tshm__toc_name(buf, eb),
                                  eb->name_len);
}

/* Heapsort of @order by name: no allocation, no recursion, O(n log n) for
 * any input (a hostile table picks the names). */
static void
sift_down(const void *buf, uint32_t *order, size_t root, size_t n)
{
        size_t child;
        uint32_t tmp;

        while ((child = 2 * root + 1) < n) {
                if (child + 1 < n && entry_cmp(buf, order[child], order[child + 1]) < 0) {
                        child++;
                }
                if (entry_cmp(buf, order[root], order[child]) >= 0) {
                        return;
                }
                tmp = order[root];
                order[root] = order[child];
                order[child] = tmp;
                root = child;
        }
}

static void
sort_by_name(const void *buf, uint32_t *order, size_t n)
{
        size_t i;
        uint32_t tmp;

        for (i = n / 2; i-- > 0;) {
                sift_down(buf, order, i, n);
        }
        for (i = n; i-- > 1;) {
                tmp = order[0];
                order[0] = order[i];
                order[i] = tmp;
                sift_down(buf, order, 0, i);
        }
}

/* Entry @e against what the layout makes of its inputs, given the running
 * sums before it. */
static const char *
entry_check(const struct tshm__toc_entry *e, const uint64_t *dims, uint64_t dims_idx,
            uint64_t name_off, uint64_t end, uint64_t data_size)
{
        uint64_t nbytes;

        if (e->reserved0 != 0 || e->reserved[0] != 0 || e->reserved[1] != 0) {
                return "a reserved field of an entry is not 0";
        }
        if (e->name_len == 0 || e->name_len > TSHM_GROUP_NAME_MAX || e->name_off != name_off) {
                return "an entry's name is out of place or of a bad length";
        }
        if (e->ndim > TSHM_MAX_NDIM || e->dims_idx != dims_idx) {
                return "an entry's shape is out of place";
        }
        if (tshm__shape_nbytes((tshm_dtype)e->dtype, e->ndim, dims, &nbytes) < 0 ||
            e->nbytes != nbytes) {
                return "an entry's dtype, shape or size is bad";
        }
        if (e->offset != align_up(end)) {
                return "an entry's data is out of place";
        }
        if (e->offset > data_size || e->nbytes > data_size - e->offset) {
                return "an entry's data goes beyond the segment";
        }
        return NULL;
}

int
tshm__toc_validate(const void *buf, uint64_t len, uint64_t data_size, uint32_t *order,
                   const char **ret_why)
{
        struct tshm__toc h;
        struct tshm__toc_layout lay;
        const uint8_t *strings;
        uint64_t dims_idx = 0, name_off, end, toc_bytes;
        uint32_t i;
        int rv;

        if (len < TSHM_TOC_HEAD) {
                *ret_why = "table of contents cut short";
                return TSHM_EBADHDR;
        }
        if ((rv = tshm__toc_size(buf, data_size, &toc_bytes, ret_why)) < 0) {
                return rv;
        }
        memcpy(&h, buf, sizeof(h));
        if (toc_bytes != len || h.reserved != 0 || h.meta_len > TSHM_GROUP_META_MAX ||
            h.ndims > (uint64_t)h.count * TSHM_MAX_NDIM || h.strings_bytes > TSHM_TOC_MAX ||
            h.meta_len > h.strings_bytes ||
            toc_parts(h.count, h.ndims, h.strings_bytes, &lay) < 0 || lay.toc_bytes != toc_bytes) {
                *ret_why = "table of contents: its sizes disagree";
                return TSHM_EBADHDR;
        }
        strings = (const uint8_t *)buf + lay.strings_off;
        name_off = h.meta_len;
        end = toc_bytes;
        for (i = 0; i < h.count; i++) {
                const struct tshm__toc_entry *e = tshm__toc_entry_at(buf, i);
                const char *why;

                if (e->dims_idx != dims_idx || e->ndim > TSHM_MAX_NDIM ||
                    dims_idx + e->ndim > h.ndims || e->name_off != name_off ||
                    e->name_len > h.strings_bytes - name_off) {
                        *ret_why = "an entry's shape or name is beyond the table";
                        return TSHM_EBADHDR;
                }
                why = entry_check(e, tshm__toc_dims(buf, e), dims_idx, name_off, end, data_size);
                if (why == NULL && memchr(strings + name_off, '\0', e->name_len) != NULL) {
                        why = "an entry's name holds a NUL byte";
                }
                if (why != NULL) {
                        *ret_why = why;
                        return TSHM_EBADHDR;
                }
                dims_idx += e->ndim;
                name_off += e->name_len;
                end = e->offset + e->nbytes;
                order[i] = i;
        }
        if (dims_idx != h.ndims || name_off != h.strings_bytes || end != h.data_end) {
                *ret_why = "table of contents: its sizes disagree with its entries";
                return TSHM_EBADHDR;
        }
        sort_by_name(buf, order, h.count);
        for (i = 1; i < h.count; i++) {
                if (entry_cmp(buf, order[i - 1], order[i]) == 0) {
                        *ret_why = "two tensors have the same name";
                        return TSHM_EBADHDR;
                }
        }
        return 0;
}
