/*
 * fuzz_safetensors.c - the CLI's parser of .safetensors headers
 * (client/cli/safetensors.c), which 'tshm load' runs on any file it is
 * given, and its writer, which 'tshm save' uses.
 *
 * The input is 8 bytes of data-area size (little-endian, cut to 40 bits),
 * then the header's JSON. An accepted header keeps every promise: at most
 * TSHM_GROUP_MAX_TENSORS tensors, names of 1 to TSHM_GROUP_NAME_MAX bytes
 * without a NUL, dtypes safetensors names, and tensors sorted by offset
 * that tile the data area exactly, each as long as its shape says. The
 * header st_header_format() writes for them is padded to 8 bytes, parses
 * back to the same tensors and "__metadata__", and formats to itself.
 * A refusal leaves the out-parameter alone and says why.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "fuzz.h"
#include "safetensors.h"

#define SENTINEL ((size_t)0x5a5a5a5a)

static void
check_tiling(const struct st_header *h, uint64_t data_len)
{
        uint64_t at = 0, nbytes;
        size_t i;

        FUZZ_CHECK(h->count <= TSHM_GROUP_MAX_TENSORS && h->nbytes == data_len);
        for (i = 0; i < h->count; i++) {
                const struct st_tensor *t = &h->tensors[i];

                FUZZ_CHECK(t->name_len >= 1 && t->name_len <= TSHM_GROUP_NAME_MAX);
                FUZZ_CHECK(strlen(t->name) == t->name_len);
                FUZZ_CHECK(st_dtype_name(t->dtype) != NULL && t->ndim <= TSHM_MAX_NDIM);
                FUZZ_CHECK(tshm_shape_nbytes(t->dtype, t->ndim, t->shape, &nbytes) == 0);
                FUZZ_CHECK(t->begin == at && t->end - t->begin == nbytes);
                at = t->end;
        }
        FUZZ_CHECK(at == data_len);
}

static bool
same_tensors(const struct st_header *a, const struct st_header *b)
{
        size_t i;

        if (a->count != b->count) {
                return false;
        }
        for (i = 0; i < a->count; i++) {
                const struct st_tensor *x = &a->tensors[i], *y = &b->tensors[i];

                if (x->name_len != y->name_len || memcmp(x->name, y->name, x->name_len) != 0 ||
                    x->dtype != y->dtype || x->ndim != y->ndim || x->begin != y->begin ||
                    x->end != y->end ||
                    memcmp(x->shape, y->shape, x->ndim * sizeof(uint64_t)) != 0) {
                        return false;
                }
        }
        return true;
}

/* Write @h's tensors afresh with the metadata of @meta; the result must
 * describe the same tensors and metadata, and format to itself. */
static void
check_format(const struct st_header *h, const void *meta, size_t meta_len)
{
        struct st_header back;
        char err[ST_ERR_BUF], *text, *again;
        size_t len, len2;

        if (st_header_format(h->tensors, h->count, meta, meta_len, &text, &len, err, sizeof(err)) <
            0) {
                /* Only a name that is not UTF-8 cannot be written, and jansson
                 * refuses those when it parses. */
                FUZZ_CHECK(false);
        }
        FUZZ_CHECK(len % 8 == 0);
        FUZZ_CHECK(st_header_parse(text, len, h->nbytes, &back, err, sizeof(err)) == 0);
        FUZZ_CHECK(same_tensors(h, &back));
        FUZZ_CHECK((h->meta == NULL) == (back.meta == NULL));
        FUZZ_CHECK(h->meta == NULL || json_equal(h->meta, back.meta));
        FUZZ_CHECK(st_header_format(back.tensors, back.count, text, len, &again, &len2, err,
                                    sizeof(err)) == 0);
        FUZZ_CHECK(len2 == len && memcmp(again, text, len) == 0);
        free(again);
        st_header_done(&back);
        free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct st_header h;
        char err[ST_ERR_BUF], *meta;
        uint64_t data_len = 0, hlen;
        int i, rv;

        if (size < ST_PREAMBLE) {
                return 0;
        }
        for (i = 5; i-- > 0;) {
                data_len = data_len << 8 | data[i];
        }
        /* The preamble checks, on the same bytes as a header length. */
        rv = st_header_len(data, size + data_len, &hlen, err, sizeof(err));
        FUZZ_CHECK(rv < 0 ? err[0] != '\0' : hlen <= ST_HEADER_MAX);
        memset(&h, 0, sizeof(h));
        h.count = SENTINEL;
        err[0] = '\0';
        rv =
            st_header_parse(data + ST_PREAMBLE, size - ST_PREAMBLE, data_len, &h, err, sizeof(err));
        if (rv < 0) {
                FUZZ_CHECK(rv == TSHM_EINVAL || rv == TSHM_EBADDTYPE || rv == TSHM_ENOMEM);
                FUZZ_CHECK(h.count == SENTINEL && err[0] != '\0');
                return 0;
        }
        check_tiling(&h, data_len);
        check_format(&h, data + ST_PREAMBLE, size - ST_PREAMBLE);
        free(st_meta_text(data + ST_PREAMBLE, size - ST_PREAMBLE));
        meta = st_meta_text(data + ST_PREAMBLE, size - ST_PREAMBLE);
        FUZZ_CHECK((meta != NULL) == (h.meta != NULL));
        free(meta);
        st_header_done(&h);
        return 0;
}
