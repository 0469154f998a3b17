/*
 * fuzz_parse_spec.c - the parsers of what a segment may be: names, dtypes
 * and shapes (proto/spec.c), as the CLI, libtshm and tshmd use them.
 *
 * The input is a list of strings separated by NUL bytes. Each string goes to
 * tshm__name_check(), tshm__dtype_parse() and tshm__shape_parse(), and each
 * shape parsed to tshm__shape_nbytes() with every dtype. The name check and
 * the shape parser are compared with small reference implementations of the
 * rules in PROTOCOL.md, and the size with 128-bit arithmetic; the dtype
 * parser must return a dtype whose name and type string parse back to it.
 * Refusals return the documented error and leave out-parameters alone.
 * Finally the whole input, read as little-endian uint64 extents, goes to
 * tshm__shape_nbytes() too, to reach extents the text parser refuses.
 */
#include <stdbool.h>
#include <string.h>

#include "tshm.h"

#include "fuzz.h"
#include "spec.h"

#define MAX_STRINGS 64
#define SENTINEL 0x5a5a5a5a5a5a5a5aull
#define DTYPE_SENTINEL ((tshm_dtype)77)

typedef unsigned __int128 u128;

/* Item sizes by dtype number, written out here rather than taken from
 * spec.c; 0 where there is no dtype. */
static const uint64_t itemsizes[] = {0, 1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8, 8, 16, 0};

#define NITEMSIZES (sizeof(itemsizes) / sizeof(itemsizes[0]))

/* The name rule: 1-200 characters of [A-Za-z0-9._-], not starting with '.'. */
static bool
ref_name_ok(const char *s)
{
        static const char allowed[] = "abcdefghijklmnopqrstuvwxyz"
                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789._-";
        size_t n = strlen(s);

        return n >= 1 && n <= TSHM_NAME_MAX && s[0] != '.' && strspn(s, allowed) == n;
}

/* The shape rule: "", "scalar" or "()" for 0-d; else 1-32 decimal extents,
 * each at most 2^63-1, separated by 'x', 'X' or ','. Returns the number of
 * extents, or -1. */
static int
ref_shape(const char *s, uint64_t *shape)
{
        int ndim = 0;

        if (strcmp(s, "") == 0 || strcmp(s, "scalar") == 0 || strcmp(s, "()") == 0) {
                return 0;
        }
        for (;;) {
                size_t digits = strspn(s, "0123456789"), i;
                u128 v = 0;

                if (digits == 0 || ndim == TSHM_MAX_NDIM) {
                        return -1;
                }
                for (i = 0; i < digits; i++) {
                        v = v * 10 + (u128)(s[i] - '0');
                        if (v > INT64_MAX) {
                                return -1;
                        }
                }
                shape[ndim++] = (uint64_t)v;
                s += digits;
                if (*s == '\0') {
                        return ndim;
                }
                if (strchr("xX,", *s) == NULL) {
                        return -1;
                }
                s++;
        }
}

/* The size rule: the product of the non-zero extents times the item size is
 * at most 2^63-1; the size is 0 when an extent is. */
static int
ref_nbytes(unsigned dtype, size_t ndim, const uint64_t *shape, uint64_t *ret_nbytes)
{
        u128 prod = 1;
        bool empty = false;
        size_t i;

        if (dtype >= NITEMSIZES || itemsizes[dtype] == 0) {
                return TSHM_EBADDTYPE;
        }
        if (ndim > TSHM_MAX_NDIM) {
                return TSHM_EBADSHAPE;
        }
        for (i = 0; i < ndim; i++) {
                if (shape[i] == 0) {
                        empty = true;
                        continue;
                }
                prod *= shape[i];
                if (prod > INT64_MAX) {
                        return TSHM_EBADSHAPE;
                }
        }
        prod *= itemsizes[dtype];
        if (prod > INT64_MAX) {
                return TSHM_EBADSHAPE;
        }
        *ret_nbytes = empty ? 0 : (uint64_t)prod;
        return 0;
}

/* tshm__shape_nbytes() against the reference, with every dtype number and a
 * few that are none. */
static void
check_nbytes(size_t ndim, const uint64_t *shape)
{
        unsigned d;

        for (d = 0; d <= NITEMSIZES; d++) {
                bool known = d < NITEMSIZES && itemsizes[d] != 0;
                uint64_t got = SENTINEL, want = SENTINEL;
                int rv = tshm__shape_nbytes((tshm_dtype)d, ndim, shape, &got);

                FUZZ_CHECK(rv == ref_nbytes(d, ndim, shape, &want));
                FUZZ_CHECK(got == want);
                FUZZ_CHECK(tshm__dtype_itemsize((tshm_dtype)d) == (known ? itemsizes[d] : 0));
                FUZZ_CHECK((tshm__dtype_name((tshm_dtype)d) != NULL) == known);
                FUZZ_CHECK((tshm__dtype_typestr((tshm_dtype)d) != NULL) == known);
        }
}

static void
check_name(const char *s)
{
        int rv = tshm__name_check(s);

        FUZZ_CHECK(rv == 0 || rv == TSHM_EBADNAME);
        FUZZ_CHECK((rv == 0) == ref_name_ok(s));
}

static void
check_dtype(const char *s)
{
        tshm_dtype d = DTYPE_SENTINEL, again;
        const char *name, *typestr;
        int rv = tshm__dtype_parse(s, &d);

        if (rv < 0) {
                FUZZ_CHECK(rv == TSHM_EBADDTYPE && d == DTYPE_SENTINEL);
                return;
        }
        FUZZ_CHECK(rv == 0 && (unsigned)d < NITEMSIZES && itemsizes[d] != 0);
        FUZZ_CHECK(strlen(s) <= 16 &&
                   strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_<=|?") == strlen(s));
        name = tshm__dtype_name(d);
        typestr = tshm__dtype_typestr(d);
        FUZZ_CHECK(name != NULL && typestr != NULL);
        FUZZ_CHECK(tshm__dtype_parse(name, &again) == 0 && again == d);
        if (d != TSHM_DTYPE_BFLOAT16) {
                FUZZ_CHECK(tshm__dtype_parse(typestr, &again) == 0 && again == d);
                FUZZ_CHECK(tshm__dtype_parse(typestr + 1, &again) == 0 && again == d);
        }
}

static void
check_shape(const char *s)
{
        uint64_t shape[TSHM_MAX_NDIM], want[TSHM_MAX_NDIM];
        size_t ndim = SENTINEL, i;
        int rv, ref;

        for (i = 0; i < TSHM_MAX_NDIM; i++) {
                shape[i] = SENTINEL;
        }
        rv = tshm__shape_parse(s, &ndim, shape);
        ref = ref_shape(s, want);
        if (rv < 0) {
                FUZZ_CHECK(rv == TSHM_EBADSHAPE && ref < 0);
                FUZZ_CHECK(ndim == SENTINEL && shape[0] == SENTINEL);
                return;
        }
        FUZZ_CHECK(rv == 0 && ref >= 0 && ndim == (size_t)ref && ndim <= TSHM_MAX_NDIM);
        for (i = 0; i < ndim; i++) {
                FUZZ_CHECK(shape[i] == want[i] && shape[i] <= INT64_MAX);
        }
        for (; i < TSHM_MAX_NDIM; i++) {
                FUZZ_CHECK(shape[i] == SENTINEL);
        }
        check_nbytes(ndim, shape);
}

/* The input as raw extents: up to 40 little-endian uint64, so that ndim
 * passes the limit too. */
static void
check_raw(const uint8_t *data, size_t size)
{
        uint64_t shape[TSHM_MAX_NDIM + 8];
        size_t ndim = size / 8, i;

        if (ndim > sizeof(shape) / sizeof(shape[0])) {
                ndim = sizeof(shape) / sizeof(shape[0]);
        }
        for (i = 0; i < ndim; i++) {
                memcpy(&shape[i], data + 8 * i, 8);
        }
        check_nbytes(ndim, shape);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t pos = 0;
        int n;

        for (n = 0; n < MAX_STRINGS && pos <= size; n++) {
                const uint8_t *end = memchr(data + pos, '\0', size - pos);
                size_t len = end != NULL ? (size_t)(end - (data + pos)) : size - pos;
                /* A buffer of exactly the string, so that reading past its
                 * NUL is caught. */
                char *s = malloc(len + 1);

                FUZZ_CHECK(s != NULL);
                memcpy(s, data + pos, len);
                s[len] = '\0';
                check_name(s);
                check_dtype(s);
                check_shape(s);
                free(s);
                pos += len + 1;
        }
        check_raw(data, size);
        return 0;
}
