/*
 * spec.c - what a segment may be: names, dtypes and shapes, parsed and
 * checked the same way by the daemon, libtshm and the CLI (the public
 * tshm_dtype_*, tshm_name_check and tshm_shape_* wrap these in
 * client/spec.c).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "spec.h"

struct dtype_desc {
        const char *name;
        const char *typestr; /* little-endian array-interface spelling */
        size_t itemsize;
};

/* Indexed by enum tshm_dtype; entry 0 is unused. */
static const struct dtype_desc dtypes[] = {
    [TSHM_DTYPE_BOOL] = {"bool", "|b1", 1},
    [TSHM_DTYPE_INT8] = {"int8", "|i1", 1},
    [TSHM_DTYPE_INT16] = {"int16", "<i2", 2},
    [TSHM_DTYPE_INT32] = {"int32", "<i4", 4},
    [TSHM_DTYPE_INT64] = {"int64", "<i8", 8},
    [TSHM_DTYPE_UINT8] = {"uint8", "|u1", 1},
    [TSHM_DTYPE_UINT16] = {"uint16", "<u2", 2},
    [TSHM_DTYPE_UINT32] = {"uint32", "<u4", 4},
    [TSHM_DTYPE_UINT64] = {"uint64", "<u8", 8},
    [TSHM_DTYPE_FLOAT16] = {"float16", "<f2", 2},
    [TSHM_DTYPE_BFLOAT16] = {"bfloat16", "<V2", 2},
    [TSHM_DTYPE_FLOAT32] = {"float32", "<f4", 4},
    [TSHM_DTYPE_FLOAT64] = {"float64", "<f8", 8},
    [TSHM_DTYPE_COMPLEX64] = {"complex64", "<c8", 8},
    [TSHM_DTYPE_COMPLEX128] = {"complex128", "<c16", 16},
};

#define NDTYPES (sizeof(dtypes) / sizeof(dtypes[0]))

static const struct dtype_desc *
dtype_get(tshm_dtype dtype)
{
        if ((unsigned)dtype == 0 || (unsigned)dtype >= NDTYPES) {
                return NULL;
        }
        return &dtypes[dtype];
}

const char *
tshm__dtype_name(tshm_dtype dtype)
{
        const struct dtype_desc *d = dtype_get(dtype);
        return d != NULL ? d->name : NULL;
}

const char *
tshm__dtype_typestr(tshm_dtype dtype)
{
        const struct dtype_desc *d = dtype_get(dtype);
        return d != NULL ? d->typestr : NULL;
}

size_t
tshm__dtype_itemsize(tshm_dtype dtype)
{
        const struct dtype_desc *d = dtype_get(dtype);
        return d != NULL ? d->itemsize : 0;
}

/* Aliases NumPy also accepts for the same types. */
static const struct {
        const char *alias;
        tshm_dtype dtype;
} dtype_aliases[] = {
    {"bool_", TSHM_DTYPE_BOOL},         {"?", TSHM_DTYPE_BOOL},
    {"half", TSHM_DTYPE_FLOAT16},       {"single", TSHM_DTYPE_FLOAT32},
    {"double", TSHM_DTYPE_FLOAT64},     {"float", TSHM_DTYPE_FLOAT64},
    {"int", TSHM_DTYPE_INT64},          {"byte", TSHM_DTYPE_INT8},
    {"ubyte", TSHM_DTYPE_UINT8},        {"short", TSHM_DTYPE_INT16},
    {"ushort", TSHM_DTYPE_UINT16},      {"intc", TSHM_DTYPE_INT32},
    {"uintc", TSHM_DTYPE_UINT32},       {"longlong", TSHM_DTYPE_INT64},
    {"ulonglong", TSHM_DTYPE_UINT64},   {"csingle", TSHM_DTYPE_COMPLEX64},
    {"cdouble", TSHM_DTYPE_COMPLEX128}, {"complex", TSHM_DTYPE_COMPLEX128},
};

int
tshm__dtype_parse(const char *s, tshm_dtype *ret_dtype)
{
        size_t i;

        if (s == NULL || ret_dtype == NULL) {
                return TSHM_EBADDTYPE;
        }
        for (i = 1; i < NDTYPES; i++) {
                if (strcmp(s, dtypes[i].name) == 0) {
                        *ret_dtype = (tshm_dtype)i;
                        return 0;
                }
        }
        for (i = 0; i < sizeof(dtype_aliases) / sizeof(dtype_aliases[0]); i++) {
                if (strcmp(s, dtype_aliases[i].alias) == 0) {
                        *ret_dtype = dtype_aliases[i].dtype;
                        return 0;
                }
        }
        /* A type string: byte-order mark ('<' little, '=' native, '|' not
         * applicable; native is little on every host tshm builds for) or
         * none, then kind and size. bfloat16 has no type string. */
        if (s[0] == '<' || s[0] == '=' || s[0] == '|') {
                s++;
        }
        for (i = 1; i < NDTYPES; i++) {
                if (i != TSHM_DTYPE_BFLOAT16 && strcmp(s, dtypes[i].typestr + 1) == 0) {
                        *ret_dtype = (tshm_dtype)i;
                        return 0;
                }
        }
        return TSHM_EBADDTYPE;
}

static bool
name_char_ok(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '.' || ch == '_' || ch == '-';
}

int
tshm__name_check(const char *name)
{
        size_t i;

        if (name == NULL || name[0] == '\0' || name[0] == '.') {
                return TSHM_EBADNAME;
        }
        for (i = 0; name[i] != '\0'; i++) {
                if (i >= TSHM_NAME_MAX || !name_char_ok(name[i])) {
                        return TSHM_EBADNAME;
                }
        }
        return 0;
}

int
tshm__shape_nbytes(tshm_dtype dtype, size_t ndim, const uint64_t *shape, uint64_t *ret_nbytes)
{
        uint64_t itemsize, prod = 1;
        bool empty = false;
        size_t i;

        itemsize = tshm__dtype_itemsize(dtype);
        if (itemsize == 0) {
                return TSHM_EBADDTYPE;
        }
        if (ndim > TSHM_MAX_NDIM || (ndim > 0 && shape == NULL)) {
                return TSHM_EBADSHAPE;
        }
        /* The product of the non-zero extents must fit too: a shape like
         * (0, 2^62, 2^62) is refused rather than accepted as empty, so that
         * every accepted shape has element counts and strides that fit in
         * int64 (NumPy and DLPack need that). */
        for (i = 0; i < ndim; i++) {
                if (shape[i] == 0) {
                        empty = true;
                        continue;
                }
                if (prod > (uint64_t)INT64_MAX / shape[i]) {
                        return TSHM_EBADSHAPE;
                }
                prod *= shape[i];
        }
        if (prod > (uint64_t)INT64_MAX / itemsize) {
                return TSHM_EBADSHAPE;
        }
        *ret_nbytes = empty ? 0 : prod * itemsize;
        return 0;
}

int
tshm__shape_parse(const char *s, size_t *ret_ndim, uint64_t *ret_shape)
{
        uint64_t shape[TSHM_MAX_NDIM];
        size_t ndim = 0;
        const char *p = s;

        if (s == NULL || ret_ndim == NULL || ret_shape == NULL) {
                return TSHM_EBADSHAPE;
        }
        if (s[0] == '\0' || strcmp(s, "scalar") == 0 || strcmp(s, "()") == 0) {
                *ret_ndim = 0;
                return 0;
        }
        for (;;) {
                uint64_t v = 0;
                bool digits = false;

                /* Not isdigit(), which consults the locale: only ASCII digits. */
                while (*p >= '0' && *p <= '9') {
                        uint64_t d = (uint64_t)(*p - '0');
                        if (v > ((uint64_t)INT64_MAX - d) / 10) {
                                return TSHM_EBADSHAPE;
                        }
                        v = v * 10 + d;
                        digits = true;
                        p++;
                }
                if (!digits || ndim == TSHM_MAX_NDIM) {
                        return TSHM_EBADSHAPE;
                }
                shape[ndim++] = v;
                if (*p == '\0') {
                        break;
                }
                if (*p != 'x' && *p != 'X' && *p != ',') {
                        return TSHM_EBADSHAPE;
                }
                p++;
        }
        memcpy(ret_shape, shape, ndim * sizeof(shape[0]));
        *ret_ndim = ndim;
        return 0;
}
