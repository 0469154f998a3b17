/*
 * header_spec.h - what the header tests (test_header_*.c) share: a segment
 * spec to build a header from, and the map size that holds a header's data.
 */
#ifndef TSHM_TESTS_HEADER_SPEC_H
#define TSHM_TESTS_HEADER_SPEC_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "header.h"

#define PAGE ((uint64_t)4096)

static inline void
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
static inline uint64_t
map_size_of(const struct tshm__hdr *hdr)
{
        uint64_t size = 0;

        ck_assert_int_eq(tshm__hdr_object_size(hdr->data_size, &size), 0);
        return size;
}

/* Init @hdr from @spec and check everything init promises. */

#endif
