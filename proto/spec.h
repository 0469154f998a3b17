/*
 * spec.h - names, dtypes and shapes (spec.c): the checks and parsers that
 * the daemon, libtshm and the CLI share. Each behaves as the public function
 * of the same name in tshm.h (tshm__dtype_parse as tshm_dtype_parse, ...),
 * which client/spec.c defines by calling it.
 */
#ifndef TSHM_SPEC_H
#define TSHM_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "tshm.h"

int tshm__dtype_parse(const char *s, tshm_dtype *ret_dtype);
const char *tshm__dtype_name(tshm_dtype dtype);
const char *tshm__dtype_typestr(tshm_dtype dtype);
size_t tshm__dtype_itemsize(tshm_dtype dtype);
int tshm__name_check(const char *name);
int tshm__shape_parse(const char *s, size_t *ret_ndim, uint64_t *ret_shape);
int tshm__shape_nbytes(tshm_dtype dtype, size_t ndim, const uint64_t *shape, uint64_t *ret_nbytes);

#endif /* TSHM_SPEC_H */
