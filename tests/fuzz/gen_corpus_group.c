/*
 * gen_corpus_group.c - the seeds of group_toc: valid tables of contents
 * (none, several tensors with metadata, 0-d and empty tensors, a name of
 * TSHM_GROUP_NAME_MAX bytes), each derived field of one of them off by one,
 * two equal names, a NUL in a name, and inputs of the "built" mode with and
 * without mutations (gen_corpus.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "gen_corpus.h"
#include "group.h"

/* ---- raw: a mode byte (0), 8 bytes of data-area size, the table ---- */

static void
raw_seed(const char *name, const void *toc, uint64_t len, uint64_t data_size)
{
        uint8_t *buf = malloc(1 + 8 + len);

        if (buf == NULL) {
                die("malloc");
        }
        buf[0] = 0;
        memcpy(buf + 1, &data_size, 8); /* tshm hosts are little-endian */
        memcpy(buf + 9, toc, len);
        seed_write("group_toc", name, buf, 1 + 8 + len);
        free(buf);
}

/* A table of @t; returns it (malloc'd) and its layout. */
static uint8_t *
toc_make(const struct tshm__toc_spec *t, size_t count, const char *meta,
         struct tshm__toc_layout *lay)
{
        size_t meta_len = meta != NULL ? strlen(meta) : 0;
        uint8_t *buf;

        if (tshm__toc_layout(t, count, meta_len, lay) != 0 ||
            (buf = malloc(lay->toc_bytes)) == NULL) {
                fprintf(stderr, "gen_corpus: cannot lay out a table of contents\n");
                exit(1);
        }
        tshm__toc_write(buf, lay, t, count, meta, meta_len);
        return buf;
}

/* Add @delta to the @width-byte field at @off of a copy of @toc and write
 * it as seed @name. */
static void
raw_bump(const char *name, const uint8_t *toc, const struct tshm__toc_layout *lay, uint64_t off,
         unsigned width, int64_t delta)
{
        uint8_t *buf = malloc(lay->toc_bytes);
        uint64_t v = 0;

        if (buf == NULL) {
                die("malloc");
        }
        memcpy(buf, toc, lay->toc_bytes);
        memcpy(&v, buf + off, width);
        v += (uint64_t)delta;
        memcpy(buf + off, &v, width);
        raw_seed(name, buf, lay->toc_bytes, lay->data_end);
        free(buf);
}

static void
gen_raw(void)
{
        static const uint64_t s34[] = {3, 4}, s0[] = {0, 7}, s5[] = {5};
        static const struct {
                const char *name;
                uint64_t off;
                unsigned width;
        } fields[] = {
            {"count", 12, 4},         {"toc_bytes", 16, 8},     {"ndims", 24, 8},
            {"strings_bytes", 32, 8}, {"meta_len", 40, 8},      {"data_end", 48, 8},
            {"reserved", 56, 8},      {"e0_offset", 64, 8},     {"e0_nbytes", 72, 8},
            {"e0_name_off", 80, 8},   {"e0_name_len", 88, 4},   {"e0_dtype", 92, 4},
            {"e0_ndim", 96, 4},       {"e0_reserved0", 100, 4}, {"e0_dims_idx", 104, 8},
            {"e0_reserved1", 112, 8}, {"e1_offset", 128, 8},    {"e1_name_off", 144, 8},
            {"e1_dims_idx", 168, 8},  {"e2_offset", 192, 8},
        };
        static const char meta_text[] = "{\"__metadata__\":{\"format\":\"pt\"}}";
        char longname[TSHM_GROUP_NAME_MAX + 1], seed[64];
        struct tshm__toc_spec t[3] = {
            {"model.weight", 12, TSHM_DTYPE_FLOAT32, 2, s34},
            {"model.bias", 10, TSHM_DTYPE_FLOAT16, 1, s5},
            {"step", 4, TSHM_DTYPE_INT64, 0, NULL},
        };
        struct tshm__toc_layout lay;
        uint8_t *toc;
        size_t i;

        toc = toc_make(NULL, 0, NULL, &lay);
        raw_seed("empty", toc, lay.toc_bytes, lay.data_end);
        free(toc);

        toc = toc_make(t, 3, meta_text, &lay);
        raw_seed("three", toc, lay.toc_bytes, lay.data_end);
        raw_seed("three-slack", toc, lay.toc_bytes, lay.data_end + 4096);
        raw_seed("three-short-area", toc, lay.toc_bytes, lay.data_end - 1);
        raw_seed("three-cut", toc, lay.toc_bytes - 64, lay.data_end);
        for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                snprintf(seed, sizeof(seed), "three-%s-plus1", fields[i].name);
                raw_bump(seed, toc, &lay, fields[i].off, fields[i].width, 1);
                snprintf(seed, sizeof(seed), "three-%s-minus1", fields[i].name);
                raw_bump(seed, toc, &lay, fields[i].off, fields[i].width, -1);
        }
        /* A NUL in the first name, and the second name made the first's. */
        {
                uint8_t *buf = malloc(lay.toc_bytes);
                uint64_t meta = strlen(meta_text);

                if (buf == NULL) {
                        die("malloc");
                }
                memcpy(buf, toc, lay.toc_bytes);
                buf[lay.strings_off + meta + 5] = 0;
                raw_seed("three-nul-in-name", buf, lay.toc_bytes, lay.data_end);
                free(buf);
        }
        free(toc);

        t[1].name = "model.weight";
        t[1].name_len = 12;
        toc = toc_make(t, 3, NULL, &lay);
        raw_seed("duplicate-names", toc, lay.toc_bytes, lay.data_end);
        free(toc);

        /* 0-d, empty, and a name of the limit. */
        memset(longname, 'n', TSHM_GROUP_NAME_MAX);
        t[0] = (struct tshm__toc_spec){"", 0, TSHM_DTYPE_UINT8, 2, s0};
        t[0].name = longname;
        t[0].name_len = TSHM_GROUP_NAME_MAX;
        t[1] = (struct tshm__toc_spec){"x", 1, TSHM_DTYPE_COMPLEX128, 0, NULL};
        toc = toc_make(t, 2, NULL, &lay);
        raw_seed("long-name-empty-scalar", toc, lay.toc_bytes, lay.data_end);
        free(toc);
}

/* Tensors whose ends pass 2^64 in a data area claiming 2^64 - 1 bytes, the
 * third tensor's offset wrapped to 0 (written by hand: layout refuses the
 * shapes). */
static void
gen_wrap(void)
{
        static const uint64_t a[] = {(1ull << 63) - 320}, b[] = {(1ull << 63) - 32}, c[] = {64};
        const struct tshm__toc_spec t[3] = {{"a", 1, TSHM_DTYPE_UINT8, 1, a},
                                            {"b", 1, TSHM_DTYPE_UINT8, 1, b},
                                            {"c", 1, TSHM_DTYPE_UINT8, 1, c}};
        const struct tshm__toc_spec small[3] = {{"a", 1, TSHM_DTYPE_UINT8, 1, c},
                                                {"b", 1, TSHM_DTYPE_UINT8, 1, c},
                                                {"c", 1, TSHM_DTYPE_UINT8, 1, c}};
        struct tshm__toc_layout lay;
        uint8_t *toc = toc_make(small, 3, NULL, &lay);

        lay.data_end = 64;
        tshm__toc_write(toc, &lay, t, 3, NULL, 0);
        raw_seed("crash-offset-wrap", toc, lay.toc_bytes, UINT64_MAX);
        free(toc);
}

/* ---- built: a mode byte (1), slack, count, metadata, tensors, mutations ---- */

static void
gen_built(void)
{
        /* slack, count 2, 3 bytes of meta; "w" f32 [3,4]; "b" f16 [2^40]. */
        static const uint8_t two[] = {1, 7, 2, 3,   '{', '}', ' ', 1, 'w',       12,
                                      2, 3, 4, 'w', 1,   'b', 10,  1, 0x80 | 40, 'b'};
        /* The same, then mutations: a byte xor, 64- and 32-bit steps. */
        static const uint8_t mutated[] = {1, 7,   2,  3, '{', '}', ' ', 1, 'w', 12, 2,  3, 4, 'w',
                                          1, 'b', 10, 1, 5,   'b', 64,  0, 1,   1,  72, 0, 2, 0xff};
        /* Equal names. */
        static const uint8_t dup[] = {1, 0, 2, 0, 1, 'a', 6, 0, 'a', 1, 'a', 6, 1, 9, 'a'};
        /* Names of the limit and one past it. */
        static const uint8_t limits[] = {1, 0, 2, 0, 255, 'L', 6, 1, 64, 'L', 254, 'M', 6, 0, 'M'};
        /* A shape whose product passes 2^63. */
        static const uint8_t huge[] = {1,  0, 1,         0,         1,        'h',
                                       13, 3, 0x80 | 40, 0x80 | 20, 0x80 | 3, 'h'};
        static const uint8_t none[] = {1, 0, 0, 5, 'm', 'e', 't', 'a', '!'};

        seed_write("group_toc", "built-two", two, sizeof(two));
        seed_write("group_toc", "built-mutated", mutated, sizeof(mutated));
        seed_write("group_toc", "built-dup", dup, sizeof(dup));
        seed_write("group_toc", "built-name-limits", limits, sizeof(limits));
        seed_write("group_toc", "built-huge-shape", huge, sizeof(huge));
        seed_write("group_toc", "built-none", none, sizeof(none));
}

void
gen_group_toc(void)
{
        gen_raw();
        gen_wrap();
        gen_built();
}
