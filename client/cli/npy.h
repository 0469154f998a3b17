/*
 * npy.h - the NumPy .npy file header: parse it from a buffer, and write it
 * exactly as numpy.save() does. Pure code: no I/O, no globals.
 */
#ifndef TSHM_CLI_NPY_H
#define TSHM_CLI_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tshm.h"

/* The magic string, two version bytes and, in versions 2.0 and 3.0, a 4-byte
 * header length: everything npy_header_size() needs to see. */
#define NPY_PREAMBLE_MAX 12

/* The largest header npy_header_size() accepts. NumPy itself refuses headers
 * over 10000 bytes by default; tshm's dtypes and 32 dimensions need far less. */
#define NPY_HEADER_MAX 65536

/* The largest header npy_header_format() writes: 32 extents of at most 19
 * digits and ", " each is 672 bytes, the dict's fixed text about 60, the
 * growth padding 21, and the alignment at most 64 more. */
#define NPY_HEADER_FORMAT_MAX 1024

struct npy_header {
        tshm_dtype dtype;
        bool fortran_order;
        size_t ndim;
        uint64_t shape[TSHM_MAX_NDIM];
        size_t data_offset; /* bytes before the data: preamble plus header */
};

/* Read the preamble at the start of @buf (@len bytes, at least
 * NPY_PREAMBLE_MAX unless the file is shorter) and return in *ret_size the
 * bytes that preamble and header take together. Returns 0, or TSHM_EINVAL (not
 * a .npy file, truncated) or TSHM_ENOTSUP (unknown version, header too large)
 * with a message in @err. */
int npy_header_size(const void *buf, size_t len, size_t *ret_size, char *err, size_t errlen);

/* Parse a whole header (@len bytes from the start of the file, as
 * npy_header_size() measured it). Returns 0 and *ret_hdr, or TSHM_EINVAL
 * (malformed), TSHM_ENOTSUP (big-endian, structured or object dtype),
 * TSHM_EBADDTYPE (a dtype tshm lacks) or TSHM_EBADSHAPE, with a message in
 * @err. */
int npy_header_parse(const void *buf, size_t len, struct npy_header *ret_hdr, char *err,
                     size_t errlen);

/* Write into @buf (at least NPY_HEADER_FORMAT_MAX bytes) the version 1.0
 * header numpy.save() writes for a C-ordered array of @dtype and @shape, and
 * its length in *ret_len. Returns 0, TSHM_ENOTSUP for bfloat16 (NumPy has no
 * such dtype) or TSHM_EBADDTYPE / TSHM_EBADSHAPE. */
int npy_header_format(tshm_dtype dtype, size_t ndim, const uint64_t *shape, char *buf,
                      size_t *ret_len);

#endif /* TSHM_CLI_NPY_H */
