/*
 * safetensors.c - parse a safetensors header as hostile input (safetensors.h);
 * safetensors_write.c writes one.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "safetensors.h"

static const struct {
        const char *name;
        tshm_dtype dtype;
} st_dtypes[] = {
    {"BOOL", TSHM_DTYPE_BOOL},   {"U8", TSHM_DTYPE_UINT8},      {"I8", TSHM_DTYPE_INT8},
    {"I16", TSHM_DTYPE_INT16},   {"I32", TSHM_DTYPE_INT32},     {"I64", TSHM_DTYPE_INT64},
    {"U16", TSHM_DTYPE_UINT16},  {"U32", TSHM_DTYPE_UINT32},    {"U64", TSHM_DTYPE_UINT64},
    {"F16", TSHM_DTYPE_FLOAT16}, {"BF16", TSHM_DTYPE_BFLOAT16}, {"F32", TSHM_DTYPE_FLOAT32},
    {"F64", TSHM_DTYPE_FLOAT64},
};

#define ST_NDTYPES (sizeof(st_dtypes) / sizeof(st_dtypes[0]))

void
st_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

const char *
st_shown(const char *name, char *buf, size_t len)
{
        (void)snprintf(buf, len, "'%.*s'%s", ST_NAME_SHOWN, name,
                       strlen(name) > ST_NAME_SHOWN ? "..." : "");
        return buf;
}

const char *
st_dtype_name(tshm_dtype dtype)
{
        size_t i;

        for (i = 0; i < ST_NDTYPES; i++) {
                if (st_dtypes[i].dtype == dtype) {
                        return st_dtypes[i].name;
                }
        }
        return NULL;
}

int
st_header_len(const unsigned char *pre, uint64_t file_size, uint64_t *ret_len, char *err,
              size_t errlen)
{
        uint64_t n = 0;
        int i;

        if (file_size < ST_PREAMBLE) {
                st_err(err, errlen,
                       "truncated: %" PRIu64 " bytes, shorter than the %d-byte header "
                       "length",
                       file_size, ST_PREAMBLE);
                return TSHM_EINVAL;
        }
        for (i = ST_PREAMBLE; i-- > 0;) {
                n = n << 8 | pre[i];
        }
        if (n > ST_HEADER_MAX) {
                st_err(err, errlen, "header length %" PRIu64 " is over the limit of %u bytes", n,
                       ST_HEADER_MAX);
                return TSHM_EINVAL;
        }
        if (n > file_size - ST_PREAMBLE) {
                st_err(err, errlen,
                       "truncated: header length %" PRIu64 " but only %" PRIu64 " bytes follow it",
                       n, file_size - ST_PREAMBLE);
                return TSHM_EINVAL;
        }
        *ret_len = n;
        return 0;
}

/* A JSON integer from 0 to INT64_MAX (jansson refuses larger ones). */
static bool
st_uint(const json_t *v, uint64_t *ret)
{
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
                return false;
        }
        *ret = (uint64_t)json_integer_value(v);
        return true;
}

static int
st_parse_dtype(const char *name, const json_t *v, tshm_dtype *ret, char *err, size_t errlen)
{
        const char *s = json_string_value(v);
        size_t i;

        if (s == NULL) {
                st_err(err, errlen, "tensor %s: dtype is not a string", name);
                return TSHM_EINVAL;
        }
        for (i = 0; i < ST_NDTYPES; i++) {
                if (strcmp(st_dtypes[i].name, s) == 0) {
                        *ret = st_dtypes[i].dtype;
                        return 0;
                }
        }
        if (strncmp(s, "F8_", 3) == 0 || strncmp(s, "F6_", 3) == 0 || strcmp(s, "F4") == 0 ||
            strcmp(s, "C64") == 0) {
                st_err(err, errlen, "tensor %s: dtype '%.32s' has no tshm equivalent", name, s);
        } else {
                st_err(err, errlen, "tensor %s: unknown dtype '%.32s'", name, s);
        }
        return TSHM_EBADDTYPE;
}

static int
st_parse_shape(const char *name, const json_t *v, struct st_tensor *t, uint64_t *dims, char *err,
               size_t errlen)
{
        size_t i, n = json_array_size(v);

        if (!json_is_array(v) || n > TSHM_MAX_NDIM) {
                st_err(err, errlen, "tensor %s: shape is not an array of at most %d extents", name,
                       TSHM_MAX_NDIM);
                return TSHM_EINVAL;
        }
        for (i = 0; i < n; i++) {
                if (!st_uint(json_array_get(v, i), &dims[i])) {
                        st_err(err, errlen,
                               "tensor %s: shape has an extent that is not an "
                               "integer >= 0",
                               name);
                        return TSHM_EINVAL;
                }
        }
        t->ndim = (uint32_t)n;
        t->shape = dims;
        return 0;
}

static int
st_parse_offsets(const char *name, const json_t *v, uint64_t data_len, struct st_tensor *t,
                 char *err, size_t errlen)
{
        if (!json_is_array(v) || json_array_size(v) != 2 ||
            !st_uint(json_array_get(v, 0), &t->begin) || !st_uint(json_array_get(v, 1), &t->end)) {
                st_err(err, errlen, "tensor %s: data_offsets is not [begin, end] (integers >= 0)",
                       name);
                return TSHM_EINVAL;
        }
        if (t->begin > t->end) {
                st_err(err, errlen,
                       "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin",
                       name, t->begin, t->end);
                return TSHM_EINVAL;
        }
        if (t->end > data_len) {
                st_err(err, errlen,
                       "tensor %s: data_offsets [%" PRIu64 ", %" PRIu64
                       "] out of range: the data area has %" PRIu64 " bytes",
                       name, t->begin, t->end, data_len);
                return TSHM_EINVAL;
        }
        return 0;
}

/* The name of tensor @key: 1..TSHM_GROUP_NAME_MAX bytes. */
static int
st_parse_name(const char *key, struct st_tensor *t, char *err, size_t errlen)
{
        char shown[ST_NAME_SHOWN + 8];
        size_t len = strlen(key); /* jansson refuses a NUL in a string */

        if (len == 0 || len > TSHM_GROUP_NAME_MAX) {
                st_err(err, errlen, "tensor name %s is %zu bytes: names are 1 to %d bytes",
                       st_shown(key, shown, sizeof(shown)), len, TSHM_GROUP_NAME_MAX);
                return TSHM_EINVAL;
        }
        t->name = key;
        t->name_len = len;
        return 0;
}

/* One tensor's entry: an object of exactly dtype, shape and data_offsets. */
static int
st_parse_entry(const char *key, json_t *v, uint64_t data_len, struct st_tensor *t, uint64_t *dims,
               char *err, size_t errlen)
{
        char name[ST_NAME_SHOWN + 8], nb[32];
        const char *k;
        json_t *m;
        uint64_t nbytes;
        int rv;

        if ((rv = st_parse_name(key, t, err, errlen)) < 0) {
                return rv;
        }
        (void)st_shown(key, name, sizeof(name));
        if (!json_is_object(v)) {
                st_err(err, errlen, "tensor %s: not a JSON object", name);
                return TSHM_EINVAL;
        }
        json_object_foreach(v, k, m)
        {
                if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 &&
                    strcmp(k, "data_offsets") != 0) {
                        st_err(err, errlen, "tensor %s: unknown key '%.32s'", name, k);
                        return TSHM_EINVAL;
                }
        }
        if (json_object_size(v) != 3) {
                st_err(err, errlen, "tensor %s: lacks one of dtype, shape and data_offsets", name);
                return TSHM_EINVAL;
        }
        if ((rv = st_parse_dtype(name, json_object_get(v, "dtype"), &t->dtype, err, errlen)) < 0 ||
            (rv = st_parse_shape(name, json_object_get(v, "shape"), t, dims, err, errlen)) < 0 ||
            (rv = st_parse_offsets(name, json_object_get(v, "data_offsets"), data_len, t, err,
                                   errlen)) < 0) {
                return rv;
        }
        if (tshm_shape_nbytes(t->dtype, t->ndim, t->shape, &nbytes) < 0) {
                st_err(err, errlen, "tensor %s: shape too large", name);
                return TSHM_EINVAL;
        }
        if (nbytes != t->end - t->begin) {
                (void)snprintf(nb, sizeof(nb), "%" PRIu64, nbytes);
                st_err(err, errlen,
                       "tensor %s: shape and dtype make %s bytes but data_offsets [%" PRIu64
                       ", %" PRIu64 "] span %" PRIu64,
                       name, nb, t->begin, t->end, t->end - t->begin);
                return TSHM_EINVAL;
        }
        return 0;
}

/* "__metadata__": an object of strings. */
static int
st_parse_meta(json_t *v, char *err, size_t errlen)
{
        const char *k;
        json_t *m;

        if (!json_is_object(v)) {
                st_err(err, errlen, "__metadata__ is not a JSON object");
                return TSHM_EINVAL;
        }
        json_object_foreach(v, k, m)
        {
                if (!json_is_string(m)) {
                        st_err(err, errlen, "__metadata__ value of '%.60s' is not a string", k);
                        return TSHM_EINVAL;
                }
        }
        return 0;
}

static int
st_cmp(const void *a, const void *b)
{
        const struct st_tensor *x = a, *y = b;

        if (x->begin != y->begin) {
                return x->begin < y->begin ? -1 : 1;
        }
        if (x->end != y->end) {
                return x->end < y->end ? -1 : 1;
        }
        /* Only empty tensors share offsets in a valid file: keep them in
         * file order (their shapes lie in @dims in that order). */
        return x->shape < y->shape ? -1 : x->shape > y->shape;
}

/* The tensors, sorted, must tile [0, @data_len): each begins where the one
 * before ends, and the last ends at @data_len. */
static int
st_check_tiling(const struct st_header *h, uint64_t data_len, char *err, size_t errlen)
{
        char a[ST_NAME_SHOWN + 8], b[ST_NAME_SHOWN + 8];
        uint64_t at = 0;
        size_t i;

        for (i = 0; i < h->count; i++) {
                const struct st_tensor *t = &h->tensors[i];

                if (t->begin < at) {
                        st_err(err, errlen,
                               "tensors %s and %s overlap: data_offsets [%" PRIu64 ", %" PRIu64
                               "] and [%" PRIu64 ", %" PRIu64 "]",
                               st_shown(h->tensors[i - 1].name, a, sizeof(a)),
                               st_shown(t->name, b, sizeof(b)), h->tensors[i - 1].begin,
                               h->tensors[i - 1].end, t->begin, t->end);
                        return TSHM_EINVAL;
                }
                if (t->begin > at) {
                        st_err(err, errlen,
                               "hole in the data area: bytes %" PRIu64 " to %" PRIu64
                               " (before tensor %s) belong to no tensor",
                               at, t->begin, st_shown(t->name, b, sizeof(b)));
                        return TSHM_EINVAL;
                }
                at = t->end;
        }
        if (at != data_len) {
                st_err(err, errlen,
                       "hole in the data area: its last %" PRIu64 " bytes (from byte %" PRIu64
                       ") belong to no tensor",
                       data_len - at, at);
                return TSHM_EINVAL;
        }
        return 0;
}

/* Allocate the tensors and room for every shape of @root's entries. */
static int
st_alloc(struct st_header *h, json_t *root, char *err, size_t errlen)
{
        size_t ndims = 0;
        const char *k;
        json_t *v;

        json_object_foreach(root, k, v)
        {
                if (strcmp(k, ST_META_KEY) != 0) {
                        h->count++;
                        /* An oversized shape is refused before it is read. */
                        ndims += json_array_size(json_object_get(v, "shape")) <= TSHM_MAX_NDIM
                                     ? json_array_size(json_object_get(v, "shape"))
                                     : 0;
                }
        }
        if (h->count > TSHM_GROUP_MAX_TENSORS) {
                st_err(err, errlen, "%zu tensors: tshm takes at most %u in one group", h->count,
                       TSHM_GROUP_MAX_TENSORS);
                return TSHM_EINVAL;
        }
        h->tensors = calloc(h->count > 0 ? h->count : 1, sizeof(*h->tensors));
        h->dims = calloc(ndims > 0 ? ndims : 1, sizeof(*h->dims));
        if (h->tensors == NULL || h->dims == NULL) {
                st_err(err, errlen, "%s", tshm_strerror(TSHM_ENOMEM));
                return TSHM_ENOMEM;
        }
        return 0;
}

/* Read every entry of @h->root into @h. */
static int
st_parse_entries(struct st_header *h, uint64_t data_len, char *err, size_t errlen)
{
        uint64_t *dims = h->dims;
        size_t i = 0;
        const char *k;
        json_t *v;
        int rv;

        json_object_foreach(h->root, k, v)
        {
                if (strcmp(k, ST_META_KEY) == 0) {
                        if ((rv = st_parse_meta(v, err, errlen)) < 0) {
                                return rv;
                        }
                        h->meta = v;
                        continue;
                }
                if ((rv = st_parse_entry(k, v, data_len, &h->tensors[i], dims, err, errlen)) < 0) {
                        return rv;
                }
                dims += h->tensors[i++].ndim;
        }
        return 0;
}

int
st_header_parse(const void *buf, size_t len, uint64_t data_len, struct st_header *ret_hdr,
                char *err, size_t errlen)
{
        struct st_header h;
        json_error_t jerr;
        int rv;

        memset(&h, 0, sizeof(h));
        /* As the reference: a header must start with its object. */
        if (len == 0 || ((const char *)buf)[0] != '{') {
                st_err(err, errlen, "header does not start with '{'");
                return TSHM_EINVAL;
        }
        /* Strict: one object, no duplicate key, no NUL in a string, nothing
         * after it but blanks (the reference pads with spaces). */
        if ((h.root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
                st_err(err, errlen, "header is not valid JSON: %s (byte %d of the header)",
                       jerr.text, jerr.position);
                return TSHM_EINVAL;
        }
        if (!json_is_object(h.root)) {
                st_err(err, errlen, "header is not a JSON object");
                rv = TSHM_EINVAL;
                goto fail;
        }
        if ((rv = st_alloc(&h, h.root, err, errlen)) < 0 ||
            (rv = st_parse_entries(&h, data_len, err, errlen)) < 0) {
                goto fail;
        }
        qsort(h.tensors, h.count, sizeof(*h.tensors), st_cmp);
        if ((rv = st_check_tiling(&h, data_len, err, errlen)) < 0) {
                goto fail;
        }
        h.nbytes = data_len;
        *ret_hdr = h;
        return 0;
fail:
        st_header_done(&h);
        return rv;
}

void
st_header_done(struct st_header *hdr)
{
        if (hdr == NULL) {
                return;
        }
        free(hdr->tensors);
        free(hdr->dims);
        json_decref(hdr->root);
        memset(hdr, 0, sizeof(*hdr));
}

json_t *
st_meta_parse(const void *buf, size_t len)
{
        json_t *root, *meta;

        if (buf == NULL || len == 0 || (root = json_loadb(buf, len, 0, NULL)) == NULL) {
                return NULL;
        }
        meta = json_is_object(root) ? json_object_get(root, ST_META_KEY) : NULL;
        if (!json_is_object(meta)) {
                json_decref(root);
                return NULL;
        }
        json_incref(meta);
        json_decref(root);
        return meta;
}

char *
st_meta_text(const void *buf, size_t len)
{
        json_t *meta = st_meta_parse(buf, len);
        char *text;

        if (meta == NULL) {
                return NULL;
        }
        /* JSON_INDENT(0): one line, ", " and ": " between items. */
        text = json_dumps(meta, JSON_INDENT(0) | JSON_ENSURE_ASCII);
        json_decref(meta);
        return text;
}
