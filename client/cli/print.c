/*
 * print.c - arrays laid out as numpy.core.arrayprint lays them out for
 * str(): _formatArray() with linewidth 75, threshold 1000, edgeitems 3 and
 * separator ' '. Text is streamed to the FILE, so printing needs no memory
 * proportional to the array. Lines numpy wraps lose their trailing blanks
 * (line.rstrip()); to do the same while streaming, trailing blanks are held
 * back in 'pending' until something visible follows them.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tshm.h"

#include "numfmt.h"
#include "print.h"

#define PRINT_LINEWIDTH 75
#define PRINT_THRESHOLD 1000
#define PRINT_EDGEITEMS 3

/* A complex element is two numbers and a 'j'. */
#define WORD_BUF (2 * NUMFMT_BUF + 2)

enum elem_class {
        CLASS_BOOL,
        CLASS_INT,
        CLASS_UINT,
        CLASS_FLOAT,
        CLASS_COMPLEX,
};

struct printer {
        FILE *out;
        tshm_dtype dtype;
        enum elem_class cls;
        enum numfmt_kind kind;
        size_t ndim;
        const uint64_t *shape;
        uint64_t strides[TSHM_MAX_NDIM]; /* bytes */
        bool summarize;
        bool any;           /* an integer was scanned */
        int64_t imin, imax; /* integer range, for the column width */
        uint64_t umax;
        int int_width;
        struct numfmt_float re, im;
        size_t pending; /* blanks owed before the next visible text */
};

typedef void (*visit_fn)(struct printer *pr, const unsigned char *elem);

static int
printer_classify(struct printer *pr)
{
        switch (pr->dtype) {
        case TSHM_DTYPE_BOOL:
                pr->cls = CLASS_BOOL;
                return 0;
        case TSHM_DTYPE_INT8:
        case TSHM_DTYPE_INT16:
        case TSHM_DTYPE_INT32:
        case TSHM_DTYPE_INT64:
                pr->cls = CLASS_INT;
                return 0;
        case TSHM_DTYPE_UINT8:
        case TSHM_DTYPE_UINT16:
        case TSHM_DTYPE_UINT32:
        case TSHM_DTYPE_UINT64:
                pr->cls = CLASS_UINT;
                return 0;
        case TSHM_DTYPE_FLOAT16:
                pr->cls = CLASS_FLOAT;
                pr->kind = NUMFMT_F16;
                return 0;
        case TSHM_DTYPE_BFLOAT16:
                pr->cls = CLASS_FLOAT;
                pr->kind = NUMFMT_BF16;
                return 0;
        case TSHM_DTYPE_FLOAT32:
        case TSHM_DTYPE_COMPLEX64:
                pr->cls = pr->dtype == TSHM_DTYPE_FLOAT32 ? CLASS_FLOAT : CLASS_COMPLEX;
                pr->kind = NUMFMT_F32;
                return 0;
        case TSHM_DTYPE_FLOAT64:
        case TSHM_DTYPE_COMPLEX128:
                pr->cls = pr->dtype == TSHM_DTYPE_FLOAT64 ? CLASS_FLOAT : CLASS_COMPLEX;
                pr->kind = NUMFMT_F64;
                return 0;
        default:
                return TSHM_EBADDTYPE;
        }
}

/* Element loaders. Elements are little-endian like the host (tshm builds
 * only for little-endian hosts); memcpy because nothing promises alignment. */
static int64_t
load_int(const struct printer *pr, const unsigned char *p)
{
        int8_t i8;
        int16_t i16;
        int32_t i32;
        int64_t i64;

        switch (pr->dtype) {
        case TSHM_DTYPE_INT8:
                memcpy(&i8, p, sizeof(i8));
                return i8;
        case TSHM_DTYPE_INT16:
                memcpy(&i16, p, sizeof(i16));
                return i16;
        case TSHM_DTYPE_INT32:
                memcpy(&i32, p, sizeof(i32));
                return i32;
        default:
                memcpy(&i64, p, sizeof(i64));
                return i64;
        }
}

static uint64_t
load_uint(const struct printer *pr, const unsigned char *p)
{
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;

        switch (pr->dtype) {
        case TSHM_DTYPE_UINT8:
                return p[0];
        case TSHM_DTYPE_UINT16:
                memcpy(&u16, p, sizeof(u16));
                return u16;
        case TSHM_DTYPE_UINT32:
                memcpy(&u32, p, sizeof(u32));
                return u32;
        default:
                memcpy(&u64, p, sizeof(u64));
                return u64;
        }
}

/* A floating element, or the real (@part 0) or imaginary (1) part of a
 * complex one. */
static double
load_float(const struct printer *pr, const unsigned char *p, int part)
{
        uint16_t u16;
        float f;
        double d;

        switch (pr->dtype) {
        case TSHM_DTYPE_FLOAT16:
                memcpy(&u16, p, sizeof(u16));
                return numfmt_half_to_double(u16);
        case TSHM_DTYPE_BFLOAT16:
                memcpy(&u16, p, sizeof(u16));
                return numfmt_bf16_to_double(u16);
        case TSHM_DTYPE_FLOAT32:
        case TSHM_DTYPE_COMPLEX64:
                memcpy(&f, p + (size_t)part * sizeof(f), sizeof(f));
                return (double)f;
        default:
                memcpy(&d, p + (size_t)part * sizeof(d), sizeof(d));
                return d;
        }
}

static bool
axis_gap(const struct printer *pr, uint64_t n)
{
        return pr->summarize && n > (uint64_t)PRINT_EDGEITEMS * 2;
}

/* Call @fn on every element that will be shown (numpy's _leading_trailing). */
static void
visit(struct printer *pr, size_t axis, const unsigned char *base, visit_fn fn)
{
        uint64_t i, n;

        if (axis == pr->ndim) {
                fn(pr, base);
                return;
        }
        n = pr->shape[axis];
        for (i = 0; i < n; i++) {
                if (axis_gap(pr, n) && i == PRINT_EDGEITEMS) {
                        i = n - PRINT_EDGEITEMS;
                }
                visit(pr, axis + 1, base + i * pr->strides[axis], fn);
        }
}

static void
pass_scan(struct printer *pr, const unsigned char *p)
{
        int64_t v;
        uint64_t u;

        switch (pr->cls) {
        case CLASS_INT:
                v = load_int(pr, p);
                pr->imin = !pr->any || v < pr->imin ? v : pr->imin;
                pr->imax = !pr->any || v > pr->imax ? v : pr->imax;
                pr->any = true;
                break;
        case CLASS_UINT:
                u = load_uint(pr, p);
                pr->umax = u > pr->umax ? u : pr->umax;
                break;
        case CLASS_COMPLEX:
                numfmt_float_scan(&pr->im, load_float(pr, p, 1));
                numfmt_float_scan(&pr->re, load_float(pr, p, 0));
                break;
        case CLASS_FLOAT:
                numfmt_float_scan(&pr->re, load_float(pr, p, 0));
                break;
        case CLASS_BOOL:
        default:
                break;
        }
}

static void
pass_measure(struct printer *pr, const unsigned char *p)
{
        if (pr->cls == CLASS_COMPLEX) {
                numfmt_float_measure(&pr->im, load_float(pr, p, 1));
        }
        if (pr->cls == CLASS_FLOAT || pr->cls == CLASS_COMPLEX) {
                numfmt_float_measure(&pr->re, load_float(pr, p, 0));
        }
}

/* numpy's IntegerFormat: the width of the longest of min and max. */
static void
printer_int_width(struct printer *pr)
{
        if (pr->cls == CLASS_INT) {
                int a = snprintf(NULL, 0, "%" PRId64, pr->imin);
                int b = snprintf(NULL, 0, "%" PRId64, pr->imax);
                pr->int_width = a > b ? a : b;
        } else if (pr->cls == CLASS_UINT) {
                pr->int_width = snprintf(NULL, 0, "%" PRIu64, pr->umax);
        }
}

/* One element as an array entry, into @buf (WORD_BUF bytes). */
static size_t
format_elem(const struct printer *pr, const unsigned char *p, char *buf)
{
        size_t n, m;
        int k;

        switch (pr->cls) {
        case CLASS_BOOL:
                k = snprintf(buf, WORD_BUF, "%s", p[0] != 0 ? " True" : "False");
                break;
        case CLASS_INT:
                k = snprintf(buf, WORD_BUF, "%*" PRId64, pr->int_width, load_int(pr, p));
                break;
        case CLASS_UINT:
                k = snprintf(buf, WORD_BUF, "%*" PRIu64, pr->int_width, load_uint(pr, p));
                break;
        case CLASS_COMPLEX:
                /* The 'j' goes before the imaginary part's trailing blanks. */
                n = numfmt_float_format(&pr->re, load_float(pr, p, 0), buf);
                m = numfmt_float_format(&pr->im, load_float(pr, p, 1), buf + n);
                while (m > 0 && buf[n + m - 1] == ' ') {
                        m--;
                }
                memmove(buf + n + m + 1, buf + n + m, strlen(buf + n + m) + 1);
                buf[n + m] = 'j';
                return strlen(buf);
        case CLASS_FLOAT:
        default:
                return numfmt_float_format(&pr->re, load_float(pr, p, 0), buf);
        }
        return k < 0 ? 0 : (size_t)k;
}

static void
put_spaces(struct printer *pr, size_t n)
{
        for (; n > 0; n--) {
                (void)putc(' ', pr->out);
        }
}

/* Visible text: first the blanks owed. */
static void
put_raw(struct printer *pr, const char *s, size_t len)
{
        put_spaces(pr, pr->pending);
        pr->pending = 0;
        (void)fwrite(s, 1, len, pr->out);
}

/* A word whose trailing blanks are held back. */
static void
put_word(struct printer *pr, const char *s, size_t len)
{
        size_t core = len;

        while (core > 0 && s[core - 1] == ' ') {
                core--;
        }
        if (core == 0) {
                pr->pending += len;
                return;
        }
        put_raw(pr, s, core);
        pr->pending = len - core;
}

/* numpy's _extendLine(), then the separator unless @last. */
static void
row_word(struct printer *pr, const char *word, size_t wlen, size_t hang, size_t elem_width,
         size_t *linelen, bool last)
{
        if (*linelen > hang && *linelen + wlen > elem_width) {
                pr->pending = 0; /* line.rstrip() */
                (void)putc('\n', pr->out);
                put_spaces(pr, hang);
                *linelen = hang;
        }
        put_word(pr, word, wlen);
        *linelen += wlen;
        if (!last) {
                pr->pending++;
                (*linelen)++;
        }
}

/* The last axis: elements wrapped to @width, continuation lines indented
 * by @hang. The line already holds @hang characters (brackets or blanks). */
static void
emit_row(struct printer *pr, const unsigned char *base, size_t axis, size_t hang, size_t width)
{
        uint64_t i, n = pr->shape[axis];
        size_t linelen = hang, wlen;
        char word[WORD_BUF];

        put_raw(pr, "[", 1);
        for (i = 0; i < n; i++) {
                if (axis_gap(pr, n) && i == PRINT_EDGEITEMS) {
                        row_word(pr, "...", 3, hang, width - 1, &linelen, false);
                        i = n - PRINT_EDGEITEMS;
                }
                wlen = format_elem(pr, base + i * pr->strides[axis], word);
                row_word(pr, word, wlen, hang, width - 1, &linelen, i + 1 == n);
        }
        put_raw(pr, "]", 1);
}

static void
put_newlines(struct printer *pr, size_t n)
{
        for (; n > 0; n--) {
                put_raw(pr, "\n", 1);
        }
}

static void
emit_block(struct printer *pr, const unsigned char *base, size_t axis, size_t hang, size_t width)
{
        uint64_t i, n = pr->shape[axis];
        size_t left = pr->ndim - axis;

        if (left == 1) {
                emit_row(pr, base, axis, hang, width);
                return;
        }
        put_raw(pr, "[", 1);
        for (i = 0; i < n; i++) {
                if (axis_gap(pr, n) && i == PRINT_EDGEITEMS) {
                        put_spaces(pr, hang);
                        put_raw(pr, "...", 3);
                        put_newlines(pr, left - 1);
                        i = n - PRINT_EDGEITEMS;
                }
                if (i > 0) {
                        put_spaces(pr, hang);
                }
                emit_block(pr, base + i * pr->strides[axis], axis + 1, hang + 1, width - 1);
                if (i + 1 < n) {
                        put_newlines(pr, left - 1);
                }
        }
        put_raw(pr, "]", 1);
}

/* str() of a 0-d array: the scalar's own str(). */
static void
emit_scalar(struct printer *pr, const unsigned char *p)
{
        char a[NUMFMT_BUF], b[NUMFMT_BUF];
        double re, im;

        switch (pr->cls) {
        case CLASS_BOOL:
                (void)fputs(p[0] != 0 ? "True" : "False", pr->out);
                break;
        case CLASS_INT:
                (void)fprintf(pr->out, "%" PRId64, load_int(pr, p));
                break;
        case CLASS_UINT:
                (void)fprintf(pr->out, "%" PRIu64, load_uint(pr, p));
                break;
        case CLASS_COMPLEX:
                re = load_float(pr, p, 0);
                im = load_float(pr, p, 1);
                if (re == 0 && !signbit(re)) {
                        (void)numfmt_scalar(im, pr->kind, true, false, b);
                        (void)fprintf(pr->out, "%sj", b);
                } else {
                        (void)numfmt_scalar(re, pr->kind, true, false, a);
                        (void)numfmt_scalar(im, pr->kind, true, true, b);
                        (void)fprintf(pr->out, "(%s%sj)", a, b);
                }
                break;
        case CLASS_FLOAT:
        default:
                (void)numfmt_scalar(load_float(pr, p, 0), pr->kind, false, false, a);
                (void)fputs(a, pr->out);
                break;
        }
}

int
print_array(FILE *out, const void *data, tshm_dtype dtype, size_t ndim, const uint64_t *shape)
{
        struct printer pr;
        uint64_t count = 1;
        size_t i;
        int rv;

        memset(&pr, 0, sizeof(pr));
        pr.out = out;
        pr.dtype = dtype;
        pr.ndim = ndim;
        pr.shape = shape;
        if ((rv = printer_classify(&pr)) < 0 || ndim > TSHM_MAX_NDIM) {
                return rv < 0 ? rv : TSHM_EBADSHAPE;
        }
        for (i = ndim; i-- > 0;) {
                pr.strides[i] =
                    i + 1 == ndim ? tshm_dtype_itemsize(dtype) : pr.strides[i + 1] * shape[i + 1];
                count = shape[i] == 0 ? 0 : count * shape[i];
        }
        if (ndim == 0) {
                emit_scalar(&pr, data);
        } else if (count == 0) {
                (void)fputs("[]", out);
        } else {
                pr.summarize = count > PRINT_THRESHOLD;
                numfmt_float_init(&pr.re, pr.kind, false);
                numfmt_float_init(&pr.im, pr.kind, true);
                visit(&pr, 0, data, pass_scan);
                numfmt_float_decide(&pr.re);
                numfmt_float_decide(&pr.im);
                visit(&pr, 0, data, pass_measure);
                numfmt_float_finish(&pr.re);
                numfmt_float_finish(&pr.im);
                printer_int_width(&pr);
                emit_block(&pr, data, 0, 1, PRINT_LINEWIDTH);
        }
        (void)putc('\n', out);
        return ferror(out) ? TSHM_EIO : 0;
}
