/*
 * spec.c - the public calls on names, dtypes and shapes. Each is the pure
 * proto/spec.c function of the same name, which tshmd calls directly (the
 * daemon defines no public tshm_* symbol).
 */
#include <stddef.h>
#include <stdint.h>

#include "tshm.h"

#include "spec.h"

int
tshm_dtype_parse(const char *s, tshm_dtype *ret_dtype)
{
        return tshm__dtype_parse(s, ret_dtype);
}

const char *
tshm_dtype_name(tshm_dtype dtype)
{
        return tshm__dtype_name(dtype);
}

const char *
tshm_backing_name(uint32_t backing)
{
        switch (backing) {
        case TSHM_BACKING_TMPFS:
                return "tmpfs";
        case TSHM_BACKING_TMPFS_HUGE:
                return "tmpfs-huge";
        case TSHM_BACKING_HUGETLBFS:
                return "hugetlbfs";
        default:
                return NULL;
        }
}

const char *
tshm_dtype_typestr(tshm_dtype dtype)
{
        return tshm__dtype_typestr(dtype);
}

size_t
tshm_dtype_itemsize(tshm_dtype dtype)
{
        return tshm__dtype_itemsize(dtype);
}

int
tshm_name_check(const char *name)
{
        return tshm__name_check(name);
}

int
tshm_shape_parse(const char *s, size_t *ret_ndim, uint64_t *ret_shape)
{
        return tshm__shape_parse(s, ret_ndim, ret_shape);
}

int
tshm_shape_nbytes(tshm_dtype dtype, size_t ndim, const uint64_t *shape, uint64_t *ret_nbytes)
{
        return tshm__shape_nbytes(dtype, ndim, shape, ret_nbytes);
}
