/*
 * header.c - build and validate segment headers (see header.h and the
 * "Segment header" section of PROTOCOL.md).
 */
#include <stdbool.h>
#include <string.h>

#include "header.h"
#include "spec.h"

#define PAGE_SIZE_ ((uint64_t)4096)

int
tshm__hdr_object_size(uint64_t nbytes, uint64_t *ret_size)
{
        uint64_t pages;

        /* Round up without overflow: nbytes is at most INT64_MAX (checked by
         * tshm_shape_nbytes), so this cannot wrap. */
        if (nbytes > (uint64_t)INT64_MAX - 2u * PAGE_SIZE_) {
                return TSHM_EBADSHAPE;
        }
        pages = (nbytes + PAGE_SIZE_ - 1) / PAGE_SIZE_;
        *ret_size = TSHM_HDR_DATA_OFFSET + pages * PAGE_SIZE_;
        return 0;
}

/* A stream's layout: the slot table on the page after the header, then the
 * slots, each frame rounded up to a cache line so that slots never share
 * one. Returns false on bad slots or overflow. */
static bool
hdr_stream_layout(uint32_t slots, uint64_t frame_bytes, uint64_t *ret_data_offset,
                  uint64_t *ret_stride, uint64_t *ret_data_size)
{
        uint64_t ctl = ((uint64_t)slots * 64u + PAGE_SIZE_ - 1) / PAGE_SIZE_ * PAGE_SIZE_;
        uint64_t stride, size;

        if (slots < 2 || slots > TSHM_STREAM_MAX_SLOTS || frame_bytes > (uint64_t)INT64_MAX - 64u) {
                return false;
        }
        stride = (frame_bytes + 63u) / 64u * 64u;
        if (stride == 0) {
                stride = 64;
        }
        if (__builtin_mul_overflow(stride, (uint64_t)slots, &size) ||
            size > (uint64_t)INT64_MAX - 4u * PAGE_SIZE_ - ctl) {
                return false;
        }
        *ret_data_offset = TSHM_HDR_DATA_OFFSET + ctl;
        *ret_stride = stride;
        *ret_data_size = size;
        return true;
}

uint64_t
tshm__hdr_round_pages(uint64_t size, uint64_t page)
{
        if (page == 0 || size % page == 0) {
                return size;
        }
        return size / page >= UINT64_MAX / page ? 0 : (size / page + 1) * page;
}

int
tshm__hdr_spec_size(const struct tshm__seg_spec *spec, uint64_t *ret_size)
{
        uint64_t nbytes, off, stride, size;
        int rv;

        if ((rv = tshm__shape_nbytes(spec->dtype, spec->ndim, spec->shape, &nbytes)) < 0) {
                return rv;
        }
        if (spec->slots == 0) {
                return tshm__hdr_object_size(nbytes, ret_size);
        }
        if (spec->policy > TSHM_STREAM_OVERWRITE ||
            !hdr_stream_layout(spec->slots, nbytes, &off, &stride, &size)) {
                return TSHM_EINVAL;
        }
        *ret_size = off + (size + PAGE_SIZE_ - 1) / PAGE_SIZE_ * PAGE_SIZE_;
        return 0;
}

/* A tensor group's part of tshm__hdr_init(): its kind and the counts publish
 * recorded; no group fields on other kinds. */
static int
hdr_init_group(struct tshm__hdr *hdr, const struct tshm__seg_spec *spec, uint64_t nbytes)
{
        if (spec->group) {
                /* A group's geometry is its bytes; the table of contents
                 * inside says the rest (group.h). */
                if (spec->slots != 0 || spec->dtype != TSHM_DTYPE_UINT8 || spec->ndim != 1 ||
                    spec->group_tensors > TSHM_GROUP_MAX_TENSORS ||
                    spec->group_toc_bytes > nbytes ||
                    spec->group_toc_bytes % TSHM_GROUP_ALIGN != 0) {
                        return TSHM_EINVAL;
                }
                hdr->flags = TSHM_KIND_GROUP | (spec->unpublished ? TSHM_HDR_FLAG_UNPUBLISHED : 0u);
                hdr->group_tensors = spec->group_tensors;
                hdr->group_toc_bytes = spec->group_toc_bytes;
        } else if (spec->unpublished || spec->group_tensors != 0 || spec->group_toc_bytes != 0) {
                return TSHM_EINVAL;
        }
        if (spec->unpublished && (spec->group_tensors != 0 || spec->group_toc_bytes != 0)) {
                /* Publish sets them: an unpublished group has none. */
                return TSHM_EINVAL;
        }
        return 0;
}

int
tshm__hdr_init(struct tshm__hdr *hdr, const struct tshm__seg_spec *spec)
{
        uint64_t nbytes;
        int64_t stride;
        size_t itemsize;
        uint32_t i;
        int rv;

        if ((rv = tshm__name_check(spec->name)) < 0) {
                return rv;
        }
        if ((rv = tshm__shape_nbytes(spec->dtype, spec->ndim, spec->shape, &nbytes)) < 0) {
                return rv;
        }
        itemsize = tshm__dtype_itemsize(spec->dtype);
        memset(hdr, 0, sizeof(*hdr));
        memcpy(hdr->magic, TSHM_HDR_MAGIC, sizeof(hdr->magic));
        hdr->layout = TSHM_HDR_LAYOUT;
        hdr->header_size = TSHM_HDR_SIZE;
        hdr->flags = TSHM_KIND_ARRAY;
        hdr->data_offset = TSHM_HDR_DATA_OFFSET;
        hdr->data_size = nbytes;
        hdr->dtype = (uint32_t)spec->dtype;
        hdr->itemsize = (uint32_t)itemsize;
        hdr->ndim = spec->ndim;
        hdr->mode = spec->mode & 0777u;
        hdr->owner_uid = spec->owner_uid;
        hdr->owner_gid = spec->owner_gid;
        hdr->created_ns = spec->created_ns;
        hdr->seq = 0;
        /* C-contiguous: the last dimension varies fastest. Every stride fits
         * in int64 because the product of the extents times the item size
         * does (tshm_shape_nbytes). */
        stride = (int64_t)itemsize;
        for (i = spec->ndim; i-- > 0;) {
                hdr->shape[i] = spec->shape[i];
                hdr->strides[i] = stride;
                if (spec->shape[i] != 0) {
                        stride *= (int64_t)spec->shape[i];
                }
        }
        memcpy(hdr->name, spec->name, strlen(spec->name));
        if (spec->slots != 0) {
                if (spec->policy > TSHM_STREAM_OVERWRITE ||
                    !hdr_stream_layout(spec->slots, nbytes, &hdr->data_offset, &hdr->slot_stride,
                                       &hdr->data_size)) {
                        return TSHM_EINVAL;
                }
                hdr->flags = TSHM_KIND_STREAM | TSHM_HDR_FLAG_WAKE_COUNTED;
                hdr->slots = spec->slots;
                hdr->policy = spec->policy;
                hdr->ctl_offset = TSHM_HDR_DATA_OFFSET;
                hdr->frame_bytes = nbytes;
        }
        return hdr_init_group(hdr, spec, nbytes);
}

/* The geometry of a segment is a function of its dtype, shape and (for a
 * stream) slots and policy: tshm__hdr_init() computes it, and nothing else
 * ever writes it. So a header is valid only if every geometry field is
 * exactly what tshm__hdr_init() makes of those inputs: no field a writer
 * could rewrite (data_size, strides, slot_stride, ...) is trusted on its own.
 * Strides are C-contiguous; extra room, gaps or overlapping views are not
 * layouts tshm makes, so no reader has to bound them. */
int
tshm__hdr_validate(const struct tshm__hdr *hdr, uint64_t map_size)
{
        struct tshm__seg_spec spec;
        struct tshm__hdr want;
        size_t name_len;
        uint32_t kind;

        if (map_size < TSHM_HDR_DATA_OFFSET) {
                return TSHM_EBADHDR;
        }
        if (memcmp(hdr->magic, TSHM_HDR_MAGIC, sizeof(hdr->magic)) != 0 ||
            hdr->layout != TSHM_HDR_LAYOUT || hdr->header_size != TSHM_HDR_SIZE) {
                return TSHM_EBADHDR;
        }
        kind = hdr->flags & TSHM_HDR_KIND_MASK;
        if (kind > TSHM_KIND_GROUP || (hdr->flags & ~TSHM_HDR_FLAGS_KNOWN) != 0 ||
            (kind != TSHM_KIND_STREAM && (hdr->flags & TSHM_HDR_FLAG_WAKE_COUNTED)) ||
            hdr->mode > 0777u) {
                return TSHM_EBADHDR;
        }
        /* The name: NUL-terminated within TSHM_NAME_MAX (tshm__hdr_init
         * checks its characters). */
        name_len = strnlen(hdr->name, sizeof(hdr->name));
        if (name_len > TSHM_NAME_MAX || hdr->ndim > TSHM_MAX_NDIM) {
                return TSHM_EBADHDR;
        }
        /* What tshm__hdr_init() makes of the inputs; it checks the dtype,
         * the shape's size and the stream's slots and policy. */
        memset(&spec, 0, sizeof(spec));
        memcpy(spec.name, hdr->name,
               name_len < sizeof(spec.name) ? name_len : sizeof(spec.name) - 1);
        spec.dtype = (tshm_dtype)hdr->dtype;
        spec.ndim = hdr->ndim;
        memcpy(spec.shape, hdr->shape, sizeof(spec.shape[0]) * hdr->ndim);
        spec.slots = kind == TSHM_KIND_STREAM ? hdr->slots : 0;
        spec.policy = hdr->policy;
        spec.group = kind == TSHM_KIND_GROUP;
        spec.unpublished = (hdr->flags & TSHM_HDR_FLAG_UNPUBLISHED) != 0;
        spec.group_tensors = hdr->group_tensors;
        spec.group_toc_bytes = hdr->group_toc_bytes;
        if (kind == TSHM_KIND_STREAM && hdr->slots == 0) {
                return TSHM_EBADHDR;
        }
        if (tshm__hdr_init(&want, &spec) < 0) {
                return TSHM_EBADHDR;
        }
        /* Every geometry field, and the unused tails of shape and strides. */
        if (hdr->itemsize != want.itemsize || hdr->data_offset != want.data_offset ||
            hdr->data_size != want.data_size ||
            memcmp(hdr->shape, want.shape, sizeof(hdr->shape)) != 0 ||
            memcmp(hdr->strides, want.strides, sizeof(hdr->strides)) != 0 ||
            hdr->slots != want.slots || hdr->policy != want.policy ||
            hdr->slot_stride != want.slot_stride || hdr->ctl_offset != want.ctl_offset ||
            hdr->frame_bytes != want.frame_bytes || hdr->group_reserved != 0) {
                return TSHM_EBADHDR;
        }
        /* The data area inside the mapping (data_offset and data_size are
         * bounded by tshm__hdr_init, so the sum cannot wrap). */
        if (hdr->data_offset > map_size || hdr->data_size > map_size - hdr->data_offset) {
                return TSHM_EBADHDR;
        }
        return 0;
}
