/*
 * safetensors_write.c - a safetensors header written as the reference
 * (serde_json) writes it: compact JSON, "__metadata__" first, each tensor's
 * dtype, shape and data_offsets, padded with spaces to a multiple of 8
 * bytes. safetensors.c parses; this file only writes.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "safetensors.h"

/* A growing text buffer; after a failed allocation it stays failed. */
struct st_buf {
        char *p;
        size_t len, cap;
        bool oom;
};

static void
buf_put(struct st_buf *b, const char *s, size_t n)
{
        char *p;
        size_t cap;

        if (b->oom) {
                return;
        }
        if (b->len + n > b->cap) {
                cap = b->cap > 0 ? b->cap : 4096;
                while (cap < b->len + n) {
                        cap *= 2;
                }
                if ((p = realloc(b->p, cap)) == NULL) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, s, n);
        b->len += n;
}

static void
buf_puts(struct st_buf *b, const char *s)
{
        buf_put(b, s, strlen(s));
}

static void
buf_u64(struct st_buf *b, uint64_t v)
{
        char s[24];

        (void)snprintf(s, sizeof(s), "%" PRIu64, v);
        buf_puts(b, s);
}

/* The letter of a control character's short escape (n for \n), or 0. */
static char
json_short_escape(unsigned char ch)
{
        switch (ch) {
        case '\b':
                return 'b';
        case '\t':
                return 't';
        case '\n':
                return 'n';
        case '\f':
                return 'f';
        case '\r':
                return 'r';
        default:
                return 0;
        }
}

/* A JSON string as serde_json writes it: '"' and '\' escaped, control
 * characters as \b \t \n \f \r or \u00xx (lower-case hex), the rest (UTF-8
 * included) as is. */
static void
buf_json_string(struct st_buf *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        char esc[8];
        size_t i, run = 0;

        buf_put(b, "\"", 1);
        for (i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];

                if (ch >= 0x20 && ch != '"' && ch != '\\') {
                        continue;
                }
                buf_put(b, s + run, i - run);
                run = i + 1;
                esc[0] = '\\';
                if (ch == '"' || ch == '\\') {
                        esc[1] = (char)ch;
                        buf_put(b, esc, 2);
                } else if ((esc[1] = json_short_escape(ch)) != 0) {
                        buf_put(b, esc, 2);
                } else {
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[ch >> 4];
                        esc[5] = hex[ch & 0xf];
                        buf_put(b, esc, 6);
                }
        }
        buf_put(b, s + run, n - run);
        buf_put(b, "\"", 1);
}

static int
st_format_meta(struct st_buf *b, const json_t *meta, char *err, size_t errlen)
{
        const char *k;
        json_t *v;
        bool first = true;

        if (!json_is_object(meta)) {
                st_err(err, errlen, "__metadata__ is not a JSON object");
                return TSHM_EINVAL;
        }
        buf_puts(b, "\"" ST_META_KEY "\":{");
        json_object_foreach((json_t *)meta, k, v)
        {
                if (!json_is_string(v)) {
                        st_err(err, errlen,
                               "__metadata__ value of '%.60s' is not a string: safetensors "
                               "metadata holds only strings",
                               k);
                        return TSHM_EINVAL;
                }
                buf_puts(b, first ? "" : ",");
                buf_json_string(b, k, strlen(k));
                buf_put(b, ":", 1);
                buf_json_string(b, json_string_value(v), json_string_length(v));
                first = false;
        }
        buf_put(b, "}", 1);
        return 0;
}

static int
st_format_tensor(struct st_buf *b, const struct st_tensor *t, uint64_t begin, char *err,
                 size_t errlen)
{
        char shown[ST_NAME_SHOWN + 8];
        const char *dt = st_dtype_name(t->dtype);
        json_t *check;
        uint64_t nbytes;
        uint32_t d;

        if (dt == NULL) {
                st_err(err, errlen, "tensor %s: safetensors has no dtype %s",
                       st_shown(t->name, shown, sizeof(shown)),
                       tshm_dtype_name(t->dtype) != NULL ? tshm_dtype_name(t->dtype) : "?");
                return TSHM_EBADDTYPE;
        }
        /* jansson checks UTF-8 as it makes a string. */
        if ((check = json_stringn(t->name, t->name_len)) == NULL) {
                st_err(err, errlen, "tensor %s: its name is not UTF-8, which JSON requires",
                       st_shown(t->name, shown, sizeof(shown)));
                return TSHM_EINVAL;
        }
        json_decref(check);
        if (tshm_shape_nbytes(t->dtype, t->ndim, t->shape, &nbytes) < 0) {
                st_err(err, errlen, "tensor %s: bad shape",
                       st_shown(t->name, shown, sizeof(shown)));
                return TSHM_EINVAL;
        }
        buf_json_string(b, t->name, t->name_len);
        buf_puts(b, ":{\"dtype\":\"");
        buf_puts(b, dt);
        buf_puts(b, "\",\"shape\":[");
        for (d = 0; d < t->ndim; d++) {
                buf_puts(b, d > 0 ? "," : "");
                buf_u64(b, t->shape[d]);
        }
        buf_puts(b, "],\"data_offsets\":[");
        buf_u64(b, begin);
        buf_put(b, ",", 1);
        buf_u64(b, begin + nbytes);
        buf_puts(b, "]}");
        return 0;
}

int
st_header_format(const struct st_tensor *t, size_t count, const void *meta_buf, size_t meta_len,
                 char **ret_buf, size_t *ret_len, char *err, size_t errlen)
{
        struct st_buf b = {NULL, 0, 0, false};
        json_t *meta = st_meta_parse(meta_buf, meta_len);
        uint64_t at = 0, nbytes;
        size_t i;
        int rv;

        buf_put(&b, "{", 1);
        if (meta != NULL && (rv = st_format_meta(&b, meta, err, errlen)) < 0) {
                goto fail;
        }
        for (i = 0; i < count; i++) {
                buf_puts(&b, i > 0 || meta != NULL ? "," : "");
                if ((rv = st_format_tensor(&b, &t[i], at, err, errlen)) < 0) {
                        goto fail;
                }
                /* st_format_tensor() checked the shape. */
                (void)tshm_shape_nbytes(t[i].dtype, t[i].ndim, t[i].shape, &nbytes);
                at += nbytes;
        }
        buf_put(&b, "}", 1);
        /* The reference pads with spaces to a multiple of 8 bytes, so that
         * the data starts 8-byte aligned. */
        while (!b.oom && b.len % 8 != 0) {
                buf_put(&b, " ", 1);
        }
        if (b.oom) {
                st_err(err, errlen, "%s", tshm_strerror(TSHM_ENOMEM));
                rv = TSHM_ENOMEM;
                goto fail;
        }
        json_decref(meta);
        *ret_buf = b.p;
        *ret_len = b.len;
        return 0;
fail:
        json_decref(meta);
        free(b.p);
        return rv;
}
