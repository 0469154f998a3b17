/*
 * gen_corpus_seg.c - the seeds of seg_header, parse_spec and adopt: valid
 * headers for several dtypes and shapes, spec strings, objects a restarted
 * daemon adopts, and malformed or planted variants (gen_corpus.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tshm.h"

#include "gen_corpus.h"
#include "header.h"
#include "spec.h"

/* ---- seg_header: 8 bytes of mapping size (little-endian), then the header ---- */

static void
hdr_seed(const char *name, const struct tshm__hdr *h, uint64_t map_size)
{
        uint8_t buf[8 + sizeof(*h)];

        memcpy(buf, &map_size, 8); /* tshm hosts are little-endian (header.h) */
        memcpy(buf + 8, h, sizeof(*h));
        seed_write("seg_header", name, buf, sizeof(buf));
}

/* A valid header for @dtype and @shape (@ndim entries); returns its
 * mapping size. */
static uint64_t
hdr_make(struct tshm__hdr *h, tshm_dtype dtype, uint32_t ndim, const uint64_t *shape)
{
        struct tshm__seg_spec spec;
        uint64_t nbytes, size;

        memset(&spec, 0, sizeof(spec));
        strcpy(spec.name, "cam0.frames");
        spec.dtype = dtype;
        spec.ndim = ndim;
        if (ndim > 0) {
                memcpy(spec.shape, shape, ndim * sizeof(shape[0]));
        }
        spec.mode = 0640;
        spec.owner_uid = 1000;
        spec.owner_gid = 1000;
        spec.created_ns = 1700000000000000000ull;
        if (tshm__hdr_init(h, &spec) != 0 || tshm__shape_nbytes(dtype, ndim, shape, &nbytes) != 0 ||
            tshm__hdr_object_size(nbytes, &size) != 0 || tshm__hdr_validate(h, size) != 0) {
                fprintf(stderr, "gen_corpus: cannot make a %s header\n", tshm__dtype_name(dtype));
                exit(1);
        }
        return size;
}

void
gen_headers(void)
{
        static const uint64_t s34[] = {3, 4}, s234[] = {2, 3, 4}, s05[] = {0, 5},
                              sbig[] = {1024, 1024}, s1[] = {1},
                              s32[TSHM_MAX_NDIM] = {2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1,
                                                    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        struct tshm__hdr h;
        uint64_t size;

        hdr_seed("float32-3x4", &h, hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34));
        hdr_seed("uint8-scalar", &h, hdr_make(&h, TSHM_DTYPE_UINT8, 0, NULL));
        hdr_seed("complex128-2x3x4", &h, hdr_make(&h, TSHM_DTYPE_COMPLEX128, 3, s234));
        hdr_seed("bool-0x5", &h, hdr_make(&h, TSHM_DTYPE_BOOL, 2, s05));
        hdr_seed("int64-1024x1024", &h, hdr_make(&h, TSHM_DTYPE_INT64, 2, sbig));
        hdr_seed("bfloat16-1", &h, hdr_make(&h, TSHM_DTYPE_BFLOAT16, 1, s1));
        hdr_seed("float16-32d", &h, hdr_make(&h, TSHM_DTYPE_FLOAT16, TSHM_MAX_NDIM, s32));
        /* Valid without being C-contiguous: Fortran order, a broadcast
         * (zero) stride, and an ephemeral segment in a larger mapping. */
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.strides[0] = 4;
        h.strides[1] = 12;
        hdr_seed("float32-3x4-fortran", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_INT32, 2, s34);
        h.strides[0] = 0;
        hdr_seed("int32-3x4-broadcast", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_UINT16, 3, s234);
        h.flags |= TSHM_HDR_FLAG_EPHEMERAL;
        h.creator_pid = 4242;
        hdr_seed("uint16-ephemeral", &h, size + 65536);
        /* Invalid, one fault each. */
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        hdr_seed("bad-map-too-small", &h, TSHM_HDR_DATA_OFFSET + 47);
        h.strides[1] = -4;
        hdr_seed("bad-negative-stride", &h, size);
        h.strides[1] = 4096;
        hdr_seed("bad-stride-past-end", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.magic[0] = 'X';
        hdr_seed("bad-magic", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        memset(h.name, 'a', sizeof(h.name));
        hdr_seed("bad-name-unterminated", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.flags |= 1u << 20;
        hdr_seed("bad-unknown-flag", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.data_offset = TSHM_HDR_DATA_OFFSET + 8;
        hdr_seed("bad-data-unaligned", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.itemsize = 8;
        hdr_seed("bad-itemsize", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_FLOAT32, 2, s34);
        h.shape[5] = 1;
        hdr_seed("bad-shape-past-ndim", &h, size);
        size = hdr_make(&h, TSHM_DTYPE_INT8, 2, s34);
        h.shape[0] = 1ull << 62;
        h.shape[1] = 4;
        hdr_seed("bad-shape-overflow", &h, size);
}

/* ---- parse_spec: NUL-separated strings ---- */

static void
spec_seed(const char *name, const char *s, size_t len)
{
        seed_write("parse_spec", name, s, len);
}

#define SPEC_SEED(name, lit) spec_seed(name, lit, sizeof(lit) - 1)

void
gen_specs(void)
{
        char buf[512];
        size_t n;
        int i;

        SPEC_SEED("create-float32", "frames\0float32\0"
                                    "480x640x3");
        SPEC_SEED("typestr-scalar", "a.b-c_d\0<f4\0scalar");
        SPEC_SEED("bfloat16-0d", "Z9\0bfloat16\0()");
        SPEC_SEED("aliases", "x\0double\0"
                             "1,2,3\0csingle\0"
                             "4X5\0?\0");
        SPEC_SEED("typestrs", "|b1\0=i8\0<c16\0u2\0<V2\0|f4");
        SPEC_SEED("bad-chars", ".hidden\0float128\0"
                               "3x\0with space\0x3\0"
                               "3,,4\0-1");
        SPEC_SEED("edge-extents", "9223372036854775807\0"
                                  "9223372036854775808\0"
                                  "0x9223372036854775807x2\0"
                                  "4611686018427387904x2");
        /* A name of exactly 200 characters and one of 201. */
        memset(buf, 'n', 200);
        buf[200] = '\0';
        memcpy(buf + 201, buf, 200);
        buf[401] = 'n';
        spec_seed("name-200-201", buf, 402);
        /* 32 and 33 dimensions. */
        n = 0;
        for (i = 0; i < 32; i++) {
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s1", i > 0 ? "x" : "");
        }
        buf[n++] = '\0';
        memcpy(buf + n, buf, n - 1);
        n += n - 1;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "x1");
        spec_seed("ndim-32-33", buf, n);
}

/* ---- adopt: object facts, an entry name, then header bytes (fuzz_adopt.c) ---- */

#define ADOPT_SEAL 1u       /* the harness seals the header with the daemon's key */
#define ADOPT_HUGETLBFS 32u /* a hugetlbfs directory of 2 MiB pages */
#define ADOPT_REG_0600 (S_IFREG | 0600u)

struct adopt_facts {
        uint32_t mode, uid, euid;
        uint64_t size;
};

static void
adopt_seed(const char *name, uint8_t flags, const struct adopt_facts *o, const char *entry,
           const struct tshm__hdr *h, size_t hlen)
{
        uint8_t buf[22 + 255 + sizeof(*h)];
        /* The entry goes in as a length byte and its bytes, no NUL. */
        size_t elen = strnlen(entry, 256);

        if (elen > 255) {
                fprintf(stderr, "gen_corpus: adopt seed %s: entry name over 255 bytes\n", name);
                exit(1);
        }
        /* tshm hosts are little-endian (header.h). */
        buf[0] = flags;
        memcpy(buf + 1, &o->mode, 4);
        memcpy(buf + 5, &o->uid, 4);
        memcpy(buf + 9, &o->euid, 4);
        memcpy(buf + 13, &o->size, 8);
        buf[21] = (uint8_t)elen;
        memcpy(buf + 22, entry, elen);
        memcpy(buf + 22 + elen, h, hlen);
        seed_write("adopt", name, buf, 22 + elen + hlen);
}

/* A header as the daemon makes it (unsealed: the harness seals), and the
 * size of its object. @slots: 0 for an array. */
static uint64_t
adopt_hdr(struct tshm__hdr *h, uint32_t slots, uint32_t owner)
{
        struct tshm__seg_spec spec;
        uint64_t size;

        memset(&spec, 0, sizeof(spec));
        strcpy(spec.name, "frames");
        spec.dtype = TSHM_DTYPE_FLOAT32;
        spec.ndim = 3;
        spec.shape[0] = 48;
        spec.shape[1] = 64;
        spec.shape[2] = 3;
        spec.mode = 0640;
        spec.owner_uid = owner;
        spec.owner_gid = owner;
        spec.created_ns = 1700000000000000000ull;
        spec.slots = slots;
        if (tshm__hdr_init(h, &spec) != 0 || tshm__hdr_spec_size(&spec, &size) != 0 ||
            tshm__hdr_validate(h, size) != 0) {
                fprintf(stderr, "gen_corpus: cannot make an adoption header\n");
                exit(1);
        }
        return size;
}

void
gen_adopt(void)
{
        struct adopt_facts ok, o;
        struct tshm__hdr h, s;

        ok = (struct adopt_facts){ADOPT_REG_0600, 0, 0, adopt_hdr(&h, 0, 1000)};
        adopt_seed("array-ok", ADOPT_SEAL, &ok, "tshm.frames", &h, sizeof(h));
        o = (struct adopt_facts){ADOPT_REG_0600, 1000, 1000, ok.size};
        adopt_seed("array-ok-uid-1000", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        o = (struct adopt_facts){ADOPT_REG_0600, 0, 0, adopt_hdr(&s, 8, 1000)};
        adopt_seed("stream-ok", ADOPT_SEAL, &o, "tshm.frames", &s, sizeof(s));
        o.size += 4096;
        adopt_seed("stream-grown", ADOPT_SEAL, &o, "tshm.frames", &s, sizeof(s));
        s = h;
        s.flags |= TSHM_HDR_FLAG_EPHEMERAL;
        s.creator_pid = 4242;
        s.creator_start = 123456;
        adopt_seed("ephemeral-ok", ADOPT_SEAL, &ok, "tshm.frames", &s, sizeof(s));
        /* What another user plants, and what the daemon's own can become. */
        o = ok;
        o.uid = 1000;
        adopt_seed("not-owner", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        o = ok;
        o.mode = S_IFREG | 0644;
        adopt_seed("mode-0644", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        o = (struct adopt_facts){S_IFIFO | 0666, 1000, 0, 0};
        adopt_seed("fifo", 0, &o, "tshm.fifo", &h, 0);
        o = (struct adopt_facts){S_IFLNK | 0777, 1000, 0, 11};
        adopt_seed("symlink", 0, &o, "tshm.link", &h, 0);
        o = ok;
        o.size = 100ull << 30;
        adopt_seed("grown-100g", ADOPT_SEAL, &o, "tshm.frames", &h, sizeof(h));
        adopt_seed("wrong-name", ADOPT_SEAL, &ok, "tshm.other", &h, sizeof(h));
        adopt_seed("new-leftover", ADOPT_SEAL, &ok, "tshm..new.frames", &h, sizeof(h));
        adopt_seed("other-prefix", ADOPT_SEAL, &ok, "tshmx.frames", &h, sizeof(h));
        adopt_seed("not-sealed", 0, &ok, "tshm.frames", &h, sizeof(h));
        adopt_seed("short-header", ADOPT_SEAL, &ok, "tshm.frames", &h, sizeof(h) / 2);
        o = (struct adopt_facts){ADOPT_REG_0600, 0, 0, 0};
        adopt_seed("empty-file", 0, &o, "tshm.frames", &h, 0);
        /* On hugetlbfs: the size in whole 2 MiB pages is the one adopted,
         * the exact one is not. */
        o = ok;
        o.size = (ok.size + (2u << 20) - 1) / (2u << 20) * (2u << 20);
        adopt_seed("hugetlbfs-ok", ADOPT_SEAL | ADOPT_HUGETLBFS, &o, "tshm.frames", &h, sizeof(h));
        adopt_seed("hugetlbfs-exact-size", ADOPT_SEAL | ADOPT_HUGETLBFS, &ok, "tshm.frames", &h,
                   sizeof(h));
        /* Every helper flag on, over facts that say otherwise. */
        o = (struct adopt_facts){S_IFIFO | 0777, 7, 0, 1};
        adopt_seed("all-flags", 63, &o, "x", &h, sizeof(h));
}
