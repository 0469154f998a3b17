/*
 * print.h - write an array as print(numpy_array) shows it.
 */
#ifndef TSHM_CLI_PRINT_H
#define TSHM_CLI_PRINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tshm.h"

/* Write the C-ordered array of @dtype and @shape (@ndim extents) at @data to
 * @out the way NumPy's str() does with its default print options: elements
 * aligned, lines wrapped at 75 columns, and, above 1000 elements, only the
 * first and last 3 entries of each long axis with "..." between. A 0-d array
 * prints as its scalar. Ends with a newline. Returns 0, TSHM_EBADDTYPE, or
 * TSHM_EIO when writing failed. */
int print_array(FILE *out, const void *data, tshm_dtype dtype, size_t ndim, const uint64_t *shape);

#endif /* TSHM_CLI_PRINT_H */
