/*
 * numfmt.h - floating-point numbers written the way NumPy writes them: the
 * shortest digits that read back to the same value of the element's own
 * type, laid out by NumPy's FloatingFormat ('maxprec' mode, precision 8) in
 * arrays and by the scalar str() rules for 0-d arrays.
 */
#ifndef TSHM_CLI_NUMFMT_H
#define TSHM_CLI_NUMFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for any one number numfmt writes, with its padding. */
#define NUMFMT_BUF 96

/* The binary format a value came from: shortest digits depend on it. */
enum numfmt_kind {
        NUMFMT_F16,
        NUMFMT_BF16,
        NUMFMT_F32,
        NUMFMT_F64,
};

/* Exact conversions of IEEE half and bfloat16 bit patterns. */
double numfmt_half_to_double(uint16_t bits);
double numfmt_bf16_to_double(uint16_t bits);

/*
 * The layout shared by the elements of one array (numpy's FloatingFormat).
 * Feed every element shown to numfmt_float_scan(), call
 * numfmt_float_decide(), feed them again to numfmt_float_measure(), call
 * numfmt_float_finish(), then write each with numfmt_float_format().
 */
struct numfmt_float {
        enum numfmt_kind kind;
        bool sign_plus; /* always write a sign (imaginary parts) */
        bool any_finite;
        bool any_nonfinite;
        bool any_neginf;
        double max_abs; /* of the finite non-zero values */
        double min_abs;
        bool any_nonzero;
        bool exp_format;
        int pad_left;
        int pad_right;
        int precision; /* fraction digits in exponent format */
        int exp_size;  /* exponent digits in exponent format */
};

void numfmt_float_init(struct numfmt_float *f, enum numfmt_kind kind, bool sign_plus);
void numfmt_float_scan(struct numfmt_float *f, double v);
void numfmt_float_decide(struct numfmt_float *f);
void numfmt_float_measure(struct numfmt_float *f, double v);
void numfmt_float_finish(struct numfmt_float *f);
/* Write @v into @buf (NUMFMT_BUF bytes); returns its length. */
size_t numfmt_float_format(const struct numfmt_float *f, double v, char *buf);

/* str() of a NumPy float scalar ("2.0", "0.1", "1e+20", "nan"), into @buf
 * (NUMFMT_BUF bytes). @complex_part selects the rules complex scalars use
 * for their parts: no ".0" on integral values, and with @sign_plus a sign
 * always. Returns the length. */
size_t numfmt_scalar(double v, enum numfmt_kind kind, bool complex_part, bool sign_plus, char *buf);

#endif /* TSHM_CLI_NUMFMT_H */
