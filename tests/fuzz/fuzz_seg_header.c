/*
 * fuzz_seg_header.c - the segment-header validator on arbitrary headers.
 *
 * Input: 8 bytes of mapping size (little-endian), then the header; a short
 * header is padded with zeros, bytes past 1024 are ignored. A header that
 * tshm__hdr_validate() accepts must keep each promise a client relies on
 * before it touches the mapping (header.h, PROTOCOL.md "Segment header"),
 * checked here in 128-bit arithmetic independent of the validator's own:
 * identity and layout, a valid name, dtype and item size, ndim <= 32 with
 * zeros past it, a page-aligned data area after the header and inside the
 * mapping that holds the shape's bytes, C-contiguous strides, and every
 * element that shape and strides reach inside the data area (for a stream:
 * inside one frame, every slot inside the ring, the slot table between the
 * header and the slots). For small mappings each element is also read from a
 * buffer of the mapping's exact size.
 *
 * Independently, the header's name, dtype and shape are given to
 * tshm__hdr_init(): a header it builds must validate against a mapping of
 * tshm__hdr_object_size() bytes, and not against one byte less.
 */
#include <stdbool.h>
#include <string.h>

#include "tshm.h"

#include "fuzz.h"
#include "header.h"
#include "spec.h"

#define PAGE 4096u
#define WALK_MAX_ELEMS 4096u /* walk every element of arrays this small */
#define WALK_MAX_MAP 65536u  /* and read them from a mapping this small */

typedef __int128 i128;

static uint64_t
get_le64(const uint8_t *p)
{
        uint64_t v = 0;
        int i;

        for (i = 7; i >= 0; i--) {
                v = (v << 8) | p[i];
        }
        return v;
}

/* Visit every element, in C order, checking that it lies in the data area;
 * read it from @map, which is zero-filled, when one is given. */
static void
hdr_walk(const struct tshm__hdr *h, const uint8_t *map, uint64_t area)
{
        uint64_t idx[TSHM_MAX_NDIM] = {0};
        uint8_t bits = 0;
        uint32_t d, k;

        for (;;) {
                i128 off = 0;

                for (d = 0; d < h->ndim; d++) {
                        off += (i128)idx[d] * h->strides[d];
                }
                FUZZ_CHECK(off >= 0 && off + h->itemsize <= (i128)area);
                for (k = 0; map != NULL && k < h->itemsize; k++) {
                        bits |= map[h->data_offset + (uint64_t)off + k];
                }
                /* Next index; done when every digit wrapped. */
                for (d = h->ndim; d-- > 0;) {
                        if (++idx[d] < h->shape[d]) {
                                break;
                        }
                        idx[d] = 0;
                }
                if (d == UINT32_MAX) {
                        break;
                }
        }
        /* Also keeps the reads from being optimised away. */
        FUZZ_CHECK(bits == 0);
}

/* Identity: magic, layout, known flags, a valid name, dtype and item size,
 * ndim <= 32 with zeros past it. */
static void
hdr_check_identity(const struct tshm__hdr *h, uint64_t map_size)
{
        uint32_t i;

        FUZZ_CHECK(map_size >= PAGE);
        FUZZ_CHECK(memcmp(h->magic, TSHM_HDR_MAGIC, sizeof(h->magic)) == 0);
        FUZZ_CHECK(h->layout == TSHM_HDR_LAYOUT && h->header_size == TSHM_HDR_SIZE);
        FUZZ_CHECK((h->flags & TSHM_HDR_KIND_MASK) <= TSHM_KIND_STREAM);
        FUZZ_CHECK((h->flags & ~TSHM_HDR_FLAGS_KNOWN) == 0 && h->mode <= 0777u);
        FUZZ_CHECK(memchr(h->name, '\0', sizeof(h->name)) != NULL);
        FUZZ_CHECK(strlen(h->name) <= TSHM_NAME_MAX && tshm__name_check(h->name) == 0);
        FUZZ_CHECK(h->itemsize > 0 && h->itemsize <= 16);
        FUZZ_CHECK(h->itemsize == tshm__dtype_itemsize((tshm_dtype)h->dtype));
        FUZZ_CHECK(h->ndim <= TSHM_MAX_NDIM);
        for (i = h->ndim; i < TSHM_MAX_NDIM; i++) {
                FUZZ_CHECK(h->shape[i] == 0 && h->strides[i] == 0);
        }
}

/* Layout: the data area page-aligned, after the header page, in the map;
 * C-contiguous strides; a stream's ring geometry, or none for an array. */
static void
hdr_check_layout(const struct tshm__hdr *h, uint64_t map_size)
{
        i128 stride = h->itemsize;
        uint32_t i;

        FUZZ_CHECK(h->data_offset >= PAGE && h->data_offset % PAGE == 0);
        FUZZ_CHECK((i128)h->data_offset + h->data_size <= (i128)map_size);
        /* C-contiguous strides, whatever the extents. */
        for (i = h->ndim; i-- > 0;) {
                FUZZ_CHECK(h->strides[i] == stride);
                stride *= h->shape[i] != 0 ? h->shape[i] : 1;
        }
        if ((h->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM) {
                /* Slots that hold a frame each, inside the ring; the slot
                 * table after the header page and before the slots. A
                 * frame's elements are then checked against one frame. */
                FUZZ_CHECK(h->slots >= 2 && h->slots <= TSHM_STREAM_MAX_SLOTS);
                FUZZ_CHECK(h->policy <= TSHM_STREAM_OVERWRITE);
                FUZZ_CHECK(h->slot_stride >= h->frame_bytes && h->slot_stride % 64 == 0 &&
                           h->slot_stride > 0);
                FUZZ_CHECK((i128)h->slots * h->slot_stride <= (i128)h->data_size);
                FUZZ_CHECK(h->ctl_offset == PAGE &&
                           (i128)h->ctl_offset + (i128)h->slots * 64 <= (i128)h->data_offset);
                FUZZ_CHECK(h->frame_bytes <= h->data_size);
        } else {
                FUZZ_CHECK(h->slots == 0 && h->slot_stride == 0 && h->frame_bytes == 0 &&
                           h->policy == 0 && h->ctl_offset == 0);
        }
}

/* Extents: the product of the non-zero extents times the item size fits in
 * int64 (so do element counts and strides), and the data area (@area: what
 * one view spans) holds the shape's bytes; every element, first byte to
 * last, lies inside it. */
static void
hdr_check_extents(const struct tshm__hdr *h, uint64_t map_size, uint64_t area)
{
        i128 lo = 0, hi = 0, nonzero = 1;
        uint8_t *map = NULL;
        bool empty = false;
        uint32_t i;

        for (i = 0; i < h->ndim; i++) {
                if (h->shape[i] == 0) {
                        empty = true;
                        continue;
                }
                nonzero *= h->shape[i];
                FUZZ_CHECK(nonzero <= INT64_MAX);
        }
        FUZZ_CHECK(nonzero * h->itemsize <= INT64_MAX);
        if (empty) {
                return;
        }
        FUZZ_CHECK(nonzero * h->itemsize <= (i128)area);
        /* An array's data is exactly the shape's bytes: a reader that
         * copies data_size bytes into a buffer sized by the shape must not
         * overflow it. */
        FUZZ_CHECK((h->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM ||
                   nonzero * h->itemsize == (i128)h->data_size);
        /* Every element, first byte to last, inside the data area. */
        for (i = 0; i < h->ndim; i++) {
                i128 step = (i128)(h->shape[i] - 1) * h->strides[i];
                if (step < 0) {
                        lo += step;
                } else {
                        hi += step;
                }
        }
        FUZZ_CHECK(lo >= 0 && hi + h->itemsize <= (i128)area);
        if (nonzero <= WALK_MAX_ELEMS) {
                if (map_size <= WALK_MAX_MAP) {
                        map = calloc(1, (size_t)map_size);
                        FUZZ_CHECK(map != NULL);
                }
                hdr_walk(h, map, area);
                free(map);
        }
}

/* What an accepted header promises, about a mapping of @map_size bytes. */
static void
hdr_check(const struct tshm__hdr *h, uint64_t map_size)
{
        bool stream = (h->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM;
        uint64_t area = stream ? h->frame_bytes : h->data_size; /* what one view spans */

        hdr_check_identity(h, map_size);
        hdr_check_layout(h, map_size);
        hdr_check_extents(h, map_size, area);
}

/* The same for a stream of @slots frames of @spec's shape: it validates
 * against a mapping of tshm__hdr_spec_size() bytes and not one byte less,
 * and its geometry is what hdr_check() demands. */
static void
hdr_stream_init_check(const struct tshm__seg_spec *base, uint32_t slots, uint32_t policy)
{
        struct tshm__seg_spec spec = *base;
        struct tshm__hdr built;
        uint64_t size;

        spec.slots = slots % 17; /* small rings: 0, 1 and 17+ are refused elsewhere */
        spec.policy = policy % 3;
        if (spec.slots == 0 || tshm__hdr_init(&built, &spec) < 0) {
                return;
        }
        FUZZ_CHECK(tshm__hdr_spec_size(&spec, &size) == 0);
        FUZZ_CHECK(tshm__hdr_validate(&built, size) == 0);
        hdr_check(&built, size);
        FUZZ_CHECK(tshm__hdr_validate(&built, built.data_offset + built.data_size - 1) ==
                   TSHM_EBADHDR);
}

/* Build a header from what @h names and check that the validator takes it. */
static void
hdr_init_check(const struct tshm__hdr *h)
{
        struct tshm__seg_spec spec;
        struct tshm__hdr built;
        uint64_t nbytes, size;
        int64_t stride;
        uint32_t i;

        memset(&spec, 0, sizeof(spec));
        memcpy(spec.name, h->name, TSHM_NAME_MAX);
        spec.dtype = (tshm_dtype)h->dtype;
        spec.ndim = h->ndim % (TSHM_MAX_NDIM + 1);
        memcpy(spec.shape, h->shape, sizeof(spec.shape));
        spec.mode = h->mode;
        spec.owner_uid = h->owner_uid;
        spec.owner_gid = h->owner_gid;
        spec.created_ns = h->created_ns;
        if (tshm__hdr_init(&built, &spec) < 0) {
                return;
        }
        hdr_stream_init_check(&spec, h->slots, h->policy);
        FUZZ_CHECK(tshm__shape_nbytes(spec.dtype, spec.ndim, spec.shape, &nbytes) == 0);
        FUZZ_CHECK(built.data_size == nbytes && built.ndim == spec.ndim);
        /* C-contiguous strides. */
        stride = (int64_t)built.itemsize;
        for (i = spec.ndim; i-- > 0;) {
                FUZZ_CHECK(built.shape[i] == spec.shape[i] && built.strides[i] == stride);
                stride *= spec.shape[i] != 0 ? (int64_t)spec.shape[i] : 1;
        }
        if (tshm__hdr_object_size(nbytes, &size) < 0) {
                return;
        }
        FUZZ_CHECK(size >= TSHM_HDR_DATA_OFFSET && size % PAGE == 0);
        FUZZ_CHECK(size - TSHM_HDR_DATA_OFFSET >= nbytes &&
                   size - TSHM_HDR_DATA_OFFSET - nbytes < PAGE);
        FUZZ_CHECK(tshm__hdr_validate(&built, size) == 0);
        hdr_check(&built, size);
        if (nbytes > 0) {
                FUZZ_CHECK(tshm__hdr_validate(&built, TSHM_HDR_DATA_OFFSET + nbytes - 1) ==
                           TSHM_EBADHDR);
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct tshm__hdr h;
        uint64_t map_size;
        int rv;

        if (size < 8) {
                return 0;
        }
        map_size = get_le64(data);
        memset(&h, 0, sizeof(h));
        memcpy(&h, data + 8, size - 8 < sizeof(h) ? size - 8 : sizeof(h));
        rv = tshm__hdr_validate(&h, map_size);
        if (rv == 0) {
                hdr_check(&h, map_size);
        } else {
                FUZZ_CHECK(rv == TSHM_EBADHDR);
        }
        hdr_init_check(&h);
        return 0;
}
