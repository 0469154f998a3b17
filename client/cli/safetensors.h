/*
 * safetensors.h - the safetensors file format (github.com/huggingface/
 * safetensors): an 8-byte little-endian header length N, N bytes of a JSON
 * object naming each tensor's dtype, shape and data_offsets (from the end
 * of the header), an optional "__metadata__" object of strings, then the
 * tensors' bytes. Parse a header from a buffer, and write one as the
 * reference implementation does. No I/O.
 *
 * Every header is hostile input: the JSON is parsed strictly (duplicate
 * keys, a NUL in a string, trailing text and unknown keys are errors),
 * and the tensors must tile the data area exactly, as the reference
 * requires: no overlap, no hole, no byte after the last tensor.
 */
#ifndef TSHM_CLI_SAFETENSORS_H
#define TSHM_CLI_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tshm.h"

/* Bytes before the header: its length, u64 little-endian. */
#define ST_PREAMBLE 8

/* The largest header accepted, as the reference implementation's
 * MAX_HEADER_SIZE. */
#define ST_HEADER_MAX 100000000u

/* Room for a message about a file's header. */
#define ST_ERR_BUF 512

struct json_t; /* jansson's; kept out of the CLI's other files (json.h) */

struct st_tensor {
        const char *name; /* NUL-terminated; owned by the header (or the caller when writing) */
        size_t name_len;
        tshm_dtype dtype;
        uint32_t ndim;
        const uint64_t *shape; /* @ndim extents */
        uint64_t begin, end;   /* data_offsets: from the first byte after the header */
};

struct st_header {
        struct st_tensor *tensors; /* by data_offsets; tensors at the same offsets in file order */
        size_t count;
        uint64_t *dims;      /* every tensor's shape */
        struct json_t *root; /* the parsed header: owns the names */
        struct json_t *meta; /* its "__metadata__" (an object of strings), or NULL */
        uint64_t nbytes;     /* the data area: the end of the last tensor */
};

/* The header length from the first ST_PREAMBLE bytes @pre of a file of
 * @file_size bytes: at most ST_HEADER_MAX and within the file. Returns 0
 * and *ret_len, or TSHM_EINVAL with a message in @err. */
int st_header_len(const unsigned char *pre, uint64_t file_size, uint64_t *ret_len, char *err,
                  size_t errlen);

/* Parse the @len header bytes at @buf of a file whose data area (what
 * follows the header) is @data_len bytes. Returns 0 and *ret_hdr (release
 * it with st_header_done()), or TSHM_EINVAL (malformed, or the tensors do
 * not tile the data area), TSHM_EBADDTYPE (a dtype tshm lacks) or
 * TSHM_ENOMEM, with a message in @err. */
int st_header_parse(const void *buf, size_t len, uint64_t data_len, struct st_header *ret_hdr,
                    char *err, size_t errlen);

/* Release what st_header_parse() made; a zeroed header is fine. */
void st_header_done(struct st_header *hdr);

/* The "__metadata__" object of the @len bytes of JSON at @buf (a group's
 * metadata: a safetensors header, or {"__metadata__": {...}}) as JSON text
 * on one line, with the separators of json.h's writer (free() it); NULL
 * when @buf is not a JSON object or has none (or memory ran out). */
char *st_meta_text(const void *buf, size_t len);

/* The safetensors name of @dtype ("F32"), or NULL when it has none
 * (complex64, complex128). */
const char *st_dtype_name(tshm_dtype dtype);

/* Write the header for @count tensors @t, laid end to end in that order
 * (their begin and end are ignored: each starts where the previous one
 * ends), with the "__metadata__" object of the @meta_len bytes of JSON at
 * @meta (st_meta_text()), if any, first: compact JSON as the reference's
 * serde_json writes it, padded with spaces to a multiple of 8 bytes.
 * Returns 0 and the text in *ret_buf (free() it) and its length in
 * *ret_len, or TSHM_EINVAL (a name that is not UTF-8, metadata that is not
 * strings), TSHM_EBADDTYPE (a dtype safetensors lacks) or TSHM_ENOMEM,
 * with a message in @err. */
int st_header_format(const struct st_tensor *t, size_t count, const void *meta, size_t meta_len,
                     char **ret_buf, size_t *ret_len, char *err, size_t errlen);

/* Shared by safetensors.c (parsing) and safetensors_write.c. */
#define ST_META_KEY "__metadata__" /* the key of the header's metadata object */
#define ST_NAME_SHOWN 60           /* bytes of a tensor name quoted in a message */
/* Format a message into @err (@errlen bytes). */
void st_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* @name as a message shows it: quoted, cut after ST_NAME_SHOWN bytes, in
 * @buf (@len bytes). */
const char *st_shown(const char *name, char *buf, size_t len);
/* The "__metadata__" object of the @len bytes of JSON at @buf, a new
 * reference, or NULL when there is none. */
struct json_t *st_meta_parse(const void *buf, size_t len);

#endif /* TSHM_CLI_SAFETENSORS_H */
