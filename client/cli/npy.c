/*
 * npy.c - the NumPy .npy header (format versions 1.0, 2.0 and 3.0).
 *
 * The header is the repr() of a Python dict with the keys 'descr',
 * 'fortran_order' and 'shape'. NumPy reads it with ast.literal_eval(); this
 * reader accepts the subset of Python literal syntax those three values need
 * and refuses everything else with a message that says why.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tshm.h"

#include "npy.h"

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Alignment numpy.save() pads the header to, and its spare room for the
 * first extent to grow in place (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS). */
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21

/* The longest descr string tshm could accept is "<c16". */
#define NPY_DESCR_MAX 32

struct lexer {
        const char *p;
        const char *end;
        char *err;
        size_t errlen;
};

static void npy_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
npy_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err == NULL || errlen == 0) {
                return;
        }
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static uint32_t
le16(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int
npy_header_size(const void *buf, size_t len, size_t *ret_size, char *err, size_t errlen)
{
        const unsigned char *b = buf;
        size_t pre, hlen;

        if (len < 10 || memcmp(b, npy_magic, sizeof(npy_magic)) != 0) {
                npy_err(err, errlen, "not a .npy file");
                return TSHM_EINVAL;
        }
        if (b[6] < 1 || b[6] > 3 || b[7] != 0) {
                npy_err(err, errlen, "unsupported .npy format version %u.%u", b[6], b[7]);
                return TSHM_ENOTSUP;
        }
        if (b[6] == 1) {
                pre = 10;
                hlen = le16(b + 8);
        } else {
                if (len < 12) {
                        npy_err(err, errlen, "truncated .npy header");
                        return TSHM_EINVAL;
                }
                pre = 12;
                hlen = le32(b + 8);
        }
        if (hlen > NPY_HEADER_MAX - pre) {
                npy_err(err, errlen, ".npy header of %zu bytes is too large", hlen);
                return TSHM_ENOTSUP;
        }
        *ret_size = pre + hlen;
        return 0;
}

static void
lex_skip_ws(struct lexer *lx)
{
        while (lx->p < lx->end &&
               (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r')) {
                lx->p++;
        }
}

/* Consume @ch after optional white space. */
static bool
lex_accept(struct lexer *lx, char ch)
{
        lex_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ch) {
                lx->p++;
                return true;
        }
        return false;
}

static int
lex_expect(struct lexer *lx, char ch, const char *where)
{
        if (!lex_accept(lx, ch)) {
                npy_err(lx->err, lx->errlen, "malformed .npy header: expected '%c' %s", ch, where);
                return TSHM_EINVAL;
        }
        return 0;
}

/* A quoted string without escapes, as repr() writes a short ASCII str. */
static int
lex_string(struct lexer *lx, char *out, size_t outlen)
{
        char quote;
        size_t n = 0;

        lex_skip_ws(lx);
        if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"')) {
                npy_err(lx->err, lx->errlen, "malformed .npy header: expected a string");
                return TSHM_EINVAL;
        }
        quote = *lx->p++;
        while (lx->p < lx->end && *lx->p != quote) {
                if (*lx->p == '\\' || *lx->p == '\n' || *lx->p == '\0' || n + 1 >= outlen) {
                        npy_err(lx->err, lx->errlen, "malformed .npy header: bad string");
                        return TSHM_EINVAL;
                }
                out[n++] = *lx->p++;
        }
        if (lx->p >= lx->end) {
                npy_err(lx->err, lx->errlen, "malformed .npy header: unterminated string");
                return TSHM_EINVAL;
        }
        lx->p++;
        out[n] = '\0';
        return 0;
}

/* A non-negative integer literal; Python 2 files may carry an 'L' suffix. */
static int
lex_uint(struct lexer *lx, uint64_t *ret_v)
{
        uint64_t v = 0;
        bool digits = false;

        lex_skip_ws(lx);
        while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
                uint64_t d = (uint64_t)(*lx->p - '0');
                if (v > ((uint64_t)INT64_MAX - d) / 10) {
                        npy_err(lx->err, lx->errlen, "extent in .npy shape is too large");
                        return TSHM_EBADSHAPE;
                }
                v = v * 10 + d;
                digits = true;
                lx->p++;
        }
        if (!digits) {
                npy_err(lx->err, lx->errlen, "malformed .npy header: bad shape");
                return TSHM_EINVAL;
        }
        if (lx->p < lx->end && (*lx->p == 'L' || *lx->p == 'l')) {
                lx->p++;
        }
        *ret_v = v;
        return 0;
}

static int
parse_descr(struct lexer *lx, struct npy_header *hdr)
{
        char descr[NPY_DESCR_MAX];
        int rv;

        lex_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == '[') {
                npy_err(lx->err, lx->errlen, "structured dtypes are not supported");
                return TSHM_ENOTSUP;
        }
        if ((rv = lex_string(lx, descr, sizeof(descr))) < 0) {
                return rv;
        }
        if (descr[0] == '>') {
                npy_err(lx->err, lx->errlen,
                        "big-endian dtype '%s' is not supported; save a little-endian "
                        "copy, e.g. arr.astype(arr.dtype.newbyteorder('<'))",
                        descr);
                return TSHM_ENOTSUP;
        }
        if ((descr[0] != '<' && descr[0] != '|' && descr[0] != '=') ||
            tshm_dtype_parse(descr, &hdr->dtype) < 0) {
                npy_err(lx->err, lx->errlen, "dtype '%s' is not supported by tshm", descr);
                return TSHM_EBADDTYPE;
        }
        return 0;
}

static int
parse_bool(struct lexer *lx, bool *ret_b)
{
        lex_skip_ws(lx);
        if ((size_t)(lx->end - lx->p) >= 4 && memcmp(lx->p, "True", 4) == 0) {
                lx->p += 4;
                *ret_b = true;
                return 0;
        }
        if ((size_t)(lx->end - lx->p) >= 5 && memcmp(lx->p, "False", 5) == 0) {
                lx->p += 5;
                *ret_b = false;
                return 0;
        }
        npy_err(lx->err, lx->errlen, "malformed .npy header: fortran_order is not True or False");
        return TSHM_EINVAL;
}

/* A tuple of extents: "()", "(3,)", "(3, 4)"; a trailing comma is optional. */
static int
parse_shape(struct lexer *lx, struct npy_header *hdr)
{
        int rv;

        hdr->ndim = 0;
        if ((rv = lex_expect(lx, '(', "before the shape")) < 0) {
                return rv;
        }
        while (!lex_accept(lx, ')')) {
                if (hdr->ndim == TSHM_MAX_NDIM) {
                        npy_err(lx->err, lx->errlen, ".npy shape has more than %d dimensions",
                                TSHM_MAX_NDIM);
                        return TSHM_EBADSHAPE;
                }
                if ((rv = lex_uint(lx, &hdr->shape[hdr->ndim])) < 0) {
                        return rv;
                }
                hdr->ndim++;
                if (lex_accept(lx, ')')) {
                        break;
                }
                if ((rv = lex_expect(lx, ',', "in the shape")) < 0) {
                        return rv;
                }
        }
        return 0;
}

/* One "'key': value" entry; @seen collects the keys found so far. */
static int
parse_entry(struct lexer *lx, struct npy_header *hdr, unsigned *seen)
{
        char key[32];
        unsigned bit;
        int rv;

        if ((rv = lex_string(lx, key, sizeof(key))) < 0) {
                return rv;
        }
        if (strcmp(key, "descr") == 0) {
                bit = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
                bit = 2;
        } else if (strcmp(key, "shape") == 0) {
                bit = 4;
        } else {
                npy_err(lx->err, lx->errlen, "malformed .npy header: unexpected key '%s'", key);
                return TSHM_EINVAL;
        }
        if ((*seen & bit) != 0) {
                npy_err(lx->err, lx->errlen, "malformed .npy header: key '%s' repeated", key);
                return TSHM_EINVAL;
        }
        *seen |= bit;
        if ((rv = lex_expect(lx, ':', "after a key")) < 0) {
                return rv;
        }
        if (bit == 1) {
                return parse_descr(lx, hdr);
        }
        if (bit == 2) {
                return parse_bool(lx, &hdr->fortran_order);
        }
        return parse_shape(lx, hdr);
}

int
npy_header_parse(const void *buf, size_t len, struct npy_header *ret_hdr, char *err, size_t errlen)
{
        struct npy_header hdr;
        struct lexer lx = {.err = err, .errlen = errlen};
        const unsigned char *b = buf;
        unsigned seen = 0;
        size_t size;
        uint64_t nbytes;
        int rv;

        if ((rv = npy_header_size(buf, len, &size, err, errlen)) < 0) {
                return rv;
        }
        if (len < size) {
                npy_err(err, errlen, "truncated .npy header");
                return TSHM_EINVAL;
        }
        memset(&hdr, 0, sizeof(hdr));
        lx.p = (const char *)b + (b[6] == 1 ? 10 : 12);
        lx.end = (const char *)b + size;
        if ((rv = lex_expect(&lx, '{', "at the start of the header")) < 0) {
                return rv;
        }
        while (!lex_accept(&lx, '}')) {
                if ((rv = parse_entry(&lx, &hdr, &seen)) < 0) {
                        return rv;
                }
                if (lex_accept(&lx, '}')) {
                        break;
                }
                if ((rv = lex_expect(&lx, ',', "between entries")) < 0) {
                        return rv;
                }
        }
        lex_skip_ws(&lx);
        if (lx.p != lx.end) {
                npy_err(err, errlen, "malformed .npy header: text after the dict");
                return TSHM_EINVAL;
        }
        if (seen != 7) {
                npy_err(err, errlen,
                        "malformed .npy header: 'descr', 'fortran_order' or "
                        "'shape' missing");
                return TSHM_EINVAL;
        }
        if (tshm_shape_nbytes(hdr.dtype, hdr.ndim, hdr.shape, &nbytes) < 0) {
                npy_err(err, errlen, ".npy shape is too large");
                return TSHM_EBADSHAPE;
        }
        hdr.data_offset = size;
        *ret_hdr = hdr;
        return 0;
}

/* Append to @buf at *@pos; the caller has proved the bound. */
static void fmt_append(char *buf, size_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fmt_append(char *buf, size_t *pos, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf + *pos, NPY_HEADER_FORMAT_MAX - *pos, fmt, ap);
        va_end(ap);
        if (n > 0) {
                *pos += (size_t)n;
        }
}

int
npy_header_format(tshm_dtype dtype, size_t ndim, const uint64_t *shape, char *buf, size_t *ret_len)
{
        const char *descr = tshm_dtype_typestr(dtype);
        uint64_t nbytes;
        size_t pos = 10, i, hlen, padlen;
        int rv;

        if (dtype == TSHM_DTYPE_BFLOAT16) {
                return TSHM_ENOTSUP;
        }
        if ((rv = tshm_shape_nbytes(dtype, ndim, shape, &nbytes)) < 0) {
                return rv;
        }
        /* Every extent is below 2^63 (checked above), so the text stays
         * within the bound NPY_HEADER_FORMAT_MAX documents. */
        fmt_append(buf, &pos, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
        for (i = 0; i < ndim; i++) {
                fmt_append(buf, &pos, i == 0 ? "%" PRIu64 : ", %" PRIu64, shape[i]);
        }
        fmt_append(buf, &pos, "%s), }", ndim == 1 ? "," : "");
        if (ndim > 0) {
                /* numpy.save() leaves room for the first extent to grow. */
                int digits = snprintf(NULL, 0, "%" PRIu64, shape[0]);
                fmt_append(buf, &pos, "%*s", NPY_GROWTH_DIGITS - digits, "");
        }
        /* numpy.lib.format._wrap_header(): pad with spaces and end with a
         * newline so that the data starts on a 64-byte boundary. */
        hlen = pos - 10 + 1;
        padlen = NPY_ALIGN - ((10 + hlen) % NPY_ALIGN);
        memset(buf + pos, ' ', padlen);
        pos += padlen;
        buf[pos++] = '\n';
        memcpy(buf, npy_magic, sizeof(npy_magic));
        buf[6] = 1;
        buf[7] = 0;
        buf[8] = (char)((hlen + padlen) & 0xff);
        buf[9] = (char)((hlen + padlen) >> 8);
        *ret_len = pos;
        return 0;
}
