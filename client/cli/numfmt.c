/*
 * numfmt.c - NumPy-style floating-point text.
 *
 * NumPy prints with Dragon4: the shortest digit string that reads back to
 * the same value of the element's type, cut at 8 fraction digits in arrays.
 * Here the shortest string is found by asking printf for 1, 2, ... 17
 * correctly rounded significant digits (a binary search: if n digits read
 * back, so do n + 1) and reading each back with strtod, rounded to the
 * element's type. Then the layout rules of numpy.core.arrayprint apply.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

/* NumPy's default: np.set_printoptions(precision=8). */
#define NUMFMT_PRECISION 8

/* More zeros than any padding needs: fractions have at most 20 digits. */
static const char zeros[] = "000000000000000000000000";

/* A decimal number d.ddd x 10^exp10, as printf's %e wrote it. */
struct dec {
        bool neg;
        int ndigits;
        int exp10;
        char digits[24]; /* %e with at most 17 significant digits */
};

/* Sign, integer and fraction digits, and exponent, ready to lay out. The
 * bounds: positional text is only used below 1e16, so the integer part has
 * at most 17 characters with its sign; a fraction has at most 3 zeros (values
 * are at least 1e-4) and 17 digits, or 8 digits when cut. The arrays are
 * larger than that so the compiler can prove no snprintf() here truncates. */
struct parts {
        char ip[64];
        char fp[64];
        int exp10;
};

double
numfmt_half_to_double(uint16_t bits)
{
        unsigned exp = (bits >> 10) & 0x1f;
        unsigned mant = bits & 0x3ff;
        double v;

        if (exp == 0) {
                v = ldexp((double)mant, -24);
        } else if (exp == 31) {
                v = mant != 0 ? NAN : INFINITY;
        } else {
                v = ldexp((double)(mant | 0x400), (int)exp - 25);
        }
        return (bits & 0x8000) != 0 ? -v : v;
}

double
numfmt_bf16_to_double(uint16_t bits)
{
        uint32_t u = (uint32_t)bits << 16;
        float f;

        memcpy(&f, &u, sizeof(f));
        return (double)f;
}

/* Round @v to the nearest value of @kind (ties to even, overflow to inf). */
static double
round_kind(double v, enum numfmt_kind kind)
{
        int bits, qmin, e, q;
        double maxv, r;

        switch (kind) {
        case NUMFMT_F16:
                bits = 11;
                qmin = -24;
                maxv = 65504.0;
                break;
        case NUMFMT_BF16:
                bits = 8;
                qmin = -133;
                maxv = 0x1.fep127;
                break;
        case NUMFMT_F32:
                return (double)(float)v;
        case NUMFMT_F64:
        default:
                return v;
        }
        if (v == 0 || !isfinite(v)) {
                return v;
        }
        (void)frexp(v, &e);
        q = e - bits > qmin ? e - bits : qmin;
        r = ldexp(nearbyint(ldexp(v, -q)), q);
        return fabs(r) > maxv ? copysign(INFINITY, v) : r;
}

static bool
roundtrips(double v, enum numfmt_kind kind, int prec, char *buf, size_t len)
{
        (void)snprintf(buf, len, "%.*e", prec, v);
        if (kind == NUMFMT_F32) {
                return (double)strtof(buf, NULL) == v;
        }
        return round_kind(strtod(buf, NULL), kind) == v;
}

/* Read %e output: [-]d[.ddd]e(+|-)dd. Trailing zeros are dropped. */
static void
dec_parse(const char *s, struct dec *d)
{
        d->neg = *s == '-';
        if (d->neg) {
                s++;
        }
        d->ndigits = 0;
        for (; *s != 'e' && *s != '\0'; s++) {
                if (*s != '.' && d->ndigits < (int)sizeof(d->digits) - 1) {
                        d->digits[d->ndigits++] = *s;
                }
        }
        d->exp10 = *s == 'e' ? atoi(s + 1) : 0;
        while (d->ndigits > 1 && d->digits[d->ndigits - 1] == '0') {
                d->ndigits--;
        }
        d->digits[d->ndigits] = '\0';
}

/* The shortest digits of finite @v that read back as @v, at most @maxsig. */
static void
dec_shortest(double v, enum numfmt_kind kind, int maxsig, struct dec *d)
{
        char buf[40];
        int lo = 0, hi = 16, mid;

        while (lo < hi) {
                mid = (lo + hi) / 2;
                if (roundtrips(v, kind, mid, buf, sizeof(buf))) {
                        hi = mid;
                } else {
                        lo = mid + 1;
                }
        }
        if (lo + 1 > maxsig) {
                lo = maxsig - 1;
        }
        (void)snprintf(buf, sizeof(buf), "%.*e", lo, v);
        dec_parse(buf, d);
}

static const char *
sign_str(bool neg, bool sign_plus)
{
        return neg ? "-" : sign_plus ? "+" : "";
}

/* Positional parts of the exact value of @v rounded to @fdigits fraction
 * digits, trailing zeros dropped. */
static void
parts_positional_exact(double v, int fdigits, bool sign_plus, struct parts *p)
{
        char buf[48];
        char *dot;
        size_t n;

        (void)snprintf(buf, sizeof(buf), "%.*f", fdigits, fabs(v));
        dot = strchr(buf, '.');
        if (dot == NULL) {
                dot = buf + strlen(buf);
                dot[1] = '\0';
        }
        *dot = '\0';
        (void)snprintf(p->ip, sizeof(p->ip), "%s%s", sign_str(signbit(v), sign_plus), buf);
        n = strlen(dot + 1);
        while (n > 0 && dot[n] == '0') {
                n--;
        }
        (void)snprintf(p->fp, sizeof(p->fp), "%.*s", (int)n, dot + 1);
}

/*
 * Positional parts. In arrays (@array) NumPy asks Dragon4 for at least the
 * units digit (min_digits=0) and at most NUMFMT_PRECISION fraction digits:
 * a value whose shortest digits stop left of the point still prints every
 * integer digit exactly (float16 22816 is "22816." in an array, "22820.0" as
 * a scalar), and one that needs more fraction digits is cut. Dragon4 cuts
 * the exact value, which is how printf rounds it.
 */
static void
parts_positional(double v, enum numfmt_kind kind, bool array, bool sign_plus, struct parts *p)
{
        struct dec d;
        size_t n;
        int i;

        dec_shortest(v, kind, 17, &d);
        if (array && d.ndigits - 1 - d.exp10 > NUMFMT_PRECISION) {
                parts_positional_exact(v, NUMFMT_PRECISION, sign_plus, p);
                return;
        }
        if (array && d.ndigits - 1 < d.exp10) {
                parts_positional_exact(v, 0, sign_plus, p);
                return;
        }
        n = (size_t)snprintf(p->ip, sizeof(p->ip), "%s", sign_str(d.neg, sign_plus));
        if (d.exp10 < 0) {
                p->ip[n++] = '0';
                p->ip[n] = '\0';
                (void)snprintf(p->fp, sizeof(p->fp), "%.*s%s", -d.exp10 - 1, zeros, d.digits);
                return;
        }
        for (i = 0; i <= d.exp10 && n + 1 < sizeof(p->ip); i++) {
                p->ip[n++] = '0';
                if (i < d.ndigits) {
                        p->ip[n - 1] = d.digits[i];
                }
        }
        p->ip[n] = '\0';
        (void)snprintf(p->fp, sizeof(p->fp), "%s",
                       d.ndigits > d.exp10 + 1 ? d.digits + d.exp10 + 1 : "");
}

/* Scientific parts; with @cut, at most NUMFMT_PRECISION fraction digits. */
static void
parts_scientific(double v, enum numfmt_kind kind, bool cut, bool sign_plus, struct parts *p)
{
        struct dec d;

        dec_shortest(v, kind, cut ? NUMFMT_PRECISION + 1 : 17, &d);
        (void)snprintf(p->ip, sizeof(p->ip), "%s%c", sign_str(d.neg, sign_plus), d.digits[0]);
        (void)snprintf(p->fp, sizeof(p->fp), "%s", d.digits + 1);
        p->exp10 = d.exp10;
}

static int
exp_digits(int exp10)
{
        int a = exp10 < 0 ? -exp10 : exp10;

        return a >= 100 ? 3 : 2;
}

static int
imax(int a, int b)
{
        return a > b ? a : b;
}

void
numfmt_float_init(struct numfmt_float *f, enum numfmt_kind kind, bool sign_plus)
{
        memset(f, 0, sizeof(*f));
        f->kind = kind;
        f->sign_plus = sign_plus;
}

void
numfmt_float_scan(struct numfmt_float *f, double v)
{
        double a = fabs(v);

        if (!isfinite(v)) {
                f->any_nonfinite = true;
                if (isinf(v) && v < 0) {
                        f->any_neginf = true;
                }
                return;
        }
        f->any_finite = true;
        if (a == 0) {
                return;
        }
        if (!f->any_nonzero || a > f->max_abs) {
                f->max_abs = a;
        }
        if (!f->any_nonzero || a < f->min_abs) {
                f->min_abs = a;
        }
        f->any_nonzero = true;
}

/* numpy FloatingFormat.fillFormat(): exponent format for large, tiny or
 * widely spread values. */
void
numfmt_float_decide(struct numfmt_float *f)
{
        f->exp_format = f->any_nonzero && (f->max_abs >= 1e8 || f->min_abs < 1e-4 ||
                                           f->max_abs / f->min_abs > 1000.0);
}

void
numfmt_float_measure(struct numfmt_float *f, double v)
{
        struct parts p;

        if (!isfinite(v)) {
                return;
        }
        if (f->exp_format) {
                parts_scientific(v, f->kind, true, f->sign_plus, &p);
                f->precision = imax(f->precision, (int)strlen(p.fp));
                f->exp_size = imax(f->exp_size, exp_digits(p.exp10));
                f->pad_left = imax(f->pad_left, (int)strlen(p.ip));
        } else {
                parts_positional(v, f->kind, true, f->sign_plus, &p);
                f->pad_left = imax(f->pad_left, (int)strlen(p.ip));
                f->pad_right = imax(f->pad_right, (int)strlen(p.fp));
        }
}

void
numfmt_float_finish(struct numfmt_float *f)
{
        int offset, inflen;

        if (f->exp_format && f->any_finite) {
                f->pad_right = f->exp_size + 2 + f->precision;
        }
        if (f->any_nonfinite) {
                offset = f->pad_right + 1;
                inflen = 3 + (f->sign_plus || f->any_neginf ? 1 : 0);
                f->pad_left = imax(f->pad_left, imax(3 - offset, inflen - offset));
        }
}

static const char *
nonfinite_str(double v, bool sign_plus)
{
        if (isnan(v)) {
                return sign_plus ? "+nan" : "nan";
        }
        return v < 0 ? "-inf" : sign_plus ? "+inf" : "inf";
}

static size_t
clamp_len(int n)
{
        return n < 0 ? 0 : n >= NUMFMT_BUF ? NUMFMT_BUF - 1 : (size_t)n;
}

/* In exponent format NumPy asks Dragon4 for exactly f->precision fraction
 * digits (min_digits), so each number shows its exact value rounded there,
 * as printf's %e does. */
static int
format_exp(const struct numfmt_float *f, double v, char *buf)
{
        char tmp[48], ip[8];
        const char *e;
        int exp10, prec = f->precision;

        (void)snprintf(tmp, sizeof(tmp), "%.*e", prec, fabs(v));
        e = strchr(tmp, 'e');
        exp10 = e != NULL ? atoi(e + 1) : 0;
        (void)snprintf(ip, sizeof(ip), "%s%c", sign_str(signbit(v), f->sign_plus), tmp[0]);
        return snprintf(buf, NUMFMT_BUF, "%*s.%.*se%c%0*d", f->pad_left, ip, prec,
                        prec > 0 ? tmp + 2 : "", exp10 < 0 ? '-' : '+', f->exp_size,
                        exp10 < 0 ? -exp10 : exp10);
}

size_t
numfmt_float_format(const struct numfmt_float *f, double v, char *buf)
{
        struct parts p;
        int n;

        if (!isfinite(v)) {
                n = snprintf(buf, NUMFMT_BUF, "%*s", f->pad_left + f->pad_right + 1,
                             nonfinite_str(v, f->sign_plus));
        } else if (f->exp_format) {
                n = format_exp(f, v, buf);
        } else {
                parts_positional(v, f->kind, true, f->sign_plus, &p);
                n = snprintf(buf, NUMFMT_BUF, "%*s.%-*s", f->pad_left, p.ip, f->pad_right, p.fp);
        }
        return clamp_len(n);
}

size_t
numfmt_scalar(double v, enum numfmt_kind kind, bool complex_part, bool sign_plus, char *buf)
{
        struct parts p;
        double a = fabs(v);
        int n;

        if (!isfinite(v)) {
                n = snprintf(buf, NUMFMT_BUF, "%s", nonfinite_str(v, sign_plus));
        } else if (a == 0 || (a >= 1e-4 && a < 1e16)) {
                parts_positional(v, kind, false, sign_plus, &p);
                n = snprintf(buf, NUMFMT_BUF, "%s%s%s", p.ip,
                             p.fp[0] != '\0' ? "."
                             : complex_part  ? ""
                                             : ".0",
                             p.fp);
        } else {
                parts_scientific(v, kind, false, sign_plus, &p);
                n = snprintf(buf, NUMFMT_BUF, "%s%s%se%c%02d", p.ip, p.fp[0] != '\0' ? "." : "",
                             p.fp, p.exp10 < 0 ? '-' : '+', p.exp10 < 0 ? -p.exp10 : p.exp10);
        }
        return clamp_len(n);
}
