/*
 * fuzz_seg_reader.c - what a process that opened a segment does after a
 * writer (or any holder of a stream's subscriber table) rewrites shared
 * memory under it (issue 10, class 2 and 3: geometry is validated once and
 * kept in the handle; counters from shared memory never pass for versions
 * or errors they are not).
 *
 * Input: a spec (dtype, up to 3 small extents, slots, policy) that libtshm
 * maps from a memfd exactly as it maps a daemon's descriptor
 * (tshm__seg_map), then a list of 11-byte operations: a writer storing any
 * 64-bit value at any aligned offset of the header, the slot table or the
 * subscriber table, interleaved with what readers, writers, producers and
 * subscribers call (tshm_wait, tshm_read_begin/retry and a copy of the
 * data, tshm_write_begin/end, tshm_stream_loan/publish, tshm_sub_take/
 * release and a copy of the frame). After each operation:
 *  - the handle's dtype, shape, strides and nbytes are still the spec's;
 *  - every pointer handed out lies in the mapping with its whole array or
 *    frame (copies go to a heap buffer of the spec's exact size, so a
 *    sanitizer build also catches a copy longer than the spec);
 *  - a version number returned is even, at most TSHM_SEQ_MAX and newer than
 *    the one waited after; an error is one the call documents.
 * Every call is made with a timeout of 0, so an input never blocks.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tshm.h"

#include "fuzz.h"
#include "header.h"
#include "internal.h"

#define OP_SIZE 11u

static uint64_t
get_le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;

        while (n-- > 0) {
                v = (v << 8) | p[n];
        }
        return v;
}

struct reader {
        struct tshm__seg_spec spec;
        struct tshm__hdr hdr; /* as built: the geometry the handle must keep */
        uint64_t size, nbytes;
        tshm_seg *seg;
        tshm_sub *sub;
        uint8_t *map;
        uint8_t *buf; /* the spec's nbytes, for copies */
};

/* Whether [p, p + n) lies in the mapping. */
static bool
in_map(const struct reader *r, const void *p, uint64_t n)
{
        const uint8_t *b = p;

        return b >= r->map && (uint64_t)(b - r->map) <= r->size &&
               n <= r->size - (uint64_t)(b - r->map);
}

static void
check_geometry(const struct reader *r)
{
        const tshm_seg *s = r->seg;
        uint32_t i;

        FUZZ_CHECK(tshm_seg_dtype(s) == r->spec.dtype && tshm_seg_ndim(s) == r->spec.ndim);
        FUZZ_CHECK(tshm_seg_nbytes(s) == r->nbytes);
        for (i = 0; i < r->spec.ndim; i++) {
                FUZZ_CHECK(tshm_seg_shape(s)[i] == r->hdr.shape[i]);
                FUZZ_CHECK(tshm_seg_strides(s)[i] == r->hdr.strides[i]);
        }
        FUZZ_CHECK(in_map(r, tshm_seg_data(s), r->hdr.data_size));
}

/* A version from tshm_wait (newer than @after) or, with @any, from
 * tshm_read_begin. */
static void
check_seq(int64_t got, uint64_t after, bool any)
{
        if (got >= 0) {
                FUZZ_CHECK((uint64_t)got <= TSHM_SEQ_MAX && ((uint64_t)got & 1u) == 0 &&
                           (any || (uint64_t)got > after));
        } else {
                FUZZ_CHECK(got == TSHM_ETIMEDOUT || got == TSHM_ENOENT || got == TSHM_ETORN);
        }
}

/* A writable handle on a memfd holding the header @r->spec makes; for a
 * stream also its subscriber table and roster, with entry 0 ours. */
static bool
reader_open(struct reader *r)
{
        int fd;

        if (tshm__hdr_init(&r->hdr, &r->spec) < 0 || tshm__hdr_spec_size(&r->spec, &r->size) < 0 ||
            r->size > (64u << 20) ||
            tshm_shape_nbytes(r->spec.dtype, r->spec.ndim, r->spec.shape, &r->nbytes) < 0) {
                return false;
        }
        fd = memfd_create("fuzz-seg", MFD_CLOEXEC);
        FUZZ_CHECK(fd >= 0);
        FUZZ_CHECK(ftruncate(fd, (off_t)r->size) == 0);
        FUZZ_CHECK(pwrite(fd, &r->hdr, sizeof(r->hdr), 0) == (ssize_t)sizeof(r->hdr));
        FUZZ_CHECK(tshm__seg_map(fd, r->size, true, &r->spec, &r->seg) == 0);
        r->map = (uint8_t *)tshm_seg_data(r->seg) - r->hdr.data_offset;
        r->buf = malloc(r->nbytes > 0 ? r->nbytes : 1);
        FUZZ_CHECK(r->buf != NULL);
        if (r->spec.slots != 0) {
                struct tshm__cur *cur;
                struct tshm__ros *ros;

                cur = mmap(NULL, TSHM_CUR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                           -1, 0);
                ros = mmap(NULL, TSHM_ROS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                           -1, 0);
                FUZZ_CHECK(cur != MAP_FAILED && ros != MAP_FAILED);
                memcpy(cur->magic, TSHM_CUR_MAGIC, 8);
                cur->max_subs = TSHM_STREAM_MAX_SUBS;
                memcpy(ros->magic, TSHM_ROS_MAGIC, 8);
                ros->max_subs = TSHM_STREAM_MAX_SUBS;
                ros->subs[0].pid = (uint32_t)getpid();
                ros->subs[0].serial = 1;
                ros->subs[0].start = 1;
                cur->subs[0].cursor = 1;
                r->seg->cur = cur;
                r->seg->ros = ros;
                r->sub = calloc(1, tshm__sub_size());
                FUZZ_CHECK(r->sub != NULL);
                FUZZ_CHECK(tshm__sub_init(r->sub, r->seg, 0) == 0);
        }
        check_geometry(r);
        return true;
}

static void
reader_close(struct reader *r)
{
        free(r->sub);
        free(r->buf);
        /* Unmaps the tables too. */
        tshm__seg_free(r->seg);
}

/* Kinds 0-2 and 8: another process stores @value into shared memory at a
 * place @where picks. Offsets are computed in size_t: they index the
 * mapping. */
static void
reader_scribble(struct reader *r, uint8_t kind, uint16_t where, uint64_t value)
{
        tshm_seg *s = r->seg;
        bool stream = r->spec.slots != 0;

        switch (kind) {
        case 0: /* a writer stores anything into the header */
                memcpy(r->map + (size_t)(where % (TSHM_HDR_SIZE / 8)) * 8, &value, 8);
                break;
        case 1: /* ... or into a stream's slot table (an array's data) */
                if (stream) {
                        memcpy(r->map + r->hdr.ctl_offset +
                                   (size_t)(where % (r->spec.slots * 8u)) * 8u,
                               &value, 8);
                } else if (r->nbytes >= 8) {
                        memcpy(r->map + r->hdr.data_offset + where % (r->nbytes - 7), &value, 8);
                }
                break;
        case 2: /* any holder of the subscriber table stores anything in it */
                if (stream) {
                        memcpy((uint8_t *)s->cur + (size_t)(where % (TSHM_CUR_SIZE / 8)) * 8,
                               &value, 8);
                }
                break;
        default: /* 8: the daemon frees or moves our entry */
                if (stream) {
                        struct tshm__ros *ros = (struct tshm__ros *)(void *)s->ros;

                        if (where & 1u) {
                                ros->subs[0].pid = (uint32_t)value;
                        } else {
                                ros->subs[0].serial = (uint32_t)value;
                        }
                }
                break;
        }
}

/* Kind 4: a reader copies an array between tshm_read_begin and
 * tshm_read_retry; a stream refuses. */
static void
reader_read(struct reader *r)
{
        tshm_seg *s = r->seg;
        int64_t got;
        int rv;

        got = tshm_read_begin(s, 0);
        if (r->spec.slots != 0) {
                FUZZ_CHECK(got == TSHM_EINVAL);
                return;
        }
        check_seq(got, 0, true);
        if (got == 0 || got > 0) {
                memcpy(r->buf, tshm_seg_data(s), (size_t)tshm_seg_nbytes(s));
                rv = tshm_read_retry(s, (uint64_t)got);
                FUZZ_CHECK(rv == 0 || rv == 1 || rv == TSHM_ETORN);
        }
}

/* Kind 5: a writer fills an array with @value's low byte and ends (or, with
 * @value odd, aborts) the write; a stream refuses. */
static void
reader_write(struct reader *r, uint64_t value)
{
        tshm_seg *s = r->seg;
        int64_t got;
        int rv;

        rv = tshm_write_begin(s, 0);
        if (r->spec.slots != 0) {
                FUZZ_CHECK(rv == TSHM_EINVAL);
                return;
        }
        FUZZ_CHECK(rv == 0 || rv == TSHM_ETIMEDOUT || rv == TSHM_ENOENT || rv == TSHM_ETORN);
        if (rv == 0) {
                memset(tshm_seg_data(s), (int)value, (size_t)r->nbytes);
                got = (value & 1u) ? tshm_write_abort(s) : tshm_write_end(s);
                FUZZ_CHECK(got == TSHM_ETORN || (got > 0 && (got & 1) == 0));
        }
}

/* Kind 6: a stream's subscriber takes a frame, copies it, releases it. */
static void
reader_take(struct reader *r)
{
        tshm_frame fr;
        int rv;

        if (r->spec.slots == 0) {
                return;
        }
        rv = tshm_sub_take(r->sub, 0, &fr);
        FUZZ_CHECK(rv == 0 || rv == TSHM_ETIMEDOUT || rv == TSHM_ENOENT || rv == TSHM_ETORN ||
                   rv == TSHM_ECONNRESET);
        if (rv == 0) {
                FUZZ_CHECK(in_map(r, fr.data, r->nbytes));
                FUZZ_CHECK(fr.seq >= 1 && fr.seq <= TSHM_SEQ_MAX / 2u);
                memcpy(r->buf, fr.data, (size_t)r->nbytes);
                rv = tshm_sub_release(r->sub);
                FUZZ_CHECK(rv == 0 || rv == TSHM_ETORN);
        }
}

/* Kind 7: a stream's producer loans a slot, fills it with @value's low
 * byte and publishes (or, with @value odd, discards) it. */
static void
reader_loan(struct reader *r, uint64_t value)
{
        tshm_seg *s = r->seg;
        int64_t got;
        void *data;
        int rv;

        if (r->spec.slots == 0) {
                return;
        }
        rv = tshm_stream_loan(s, 0, &data);
        FUZZ_CHECK(rv == 0 || rv == TSHM_ETIMEDOUT || rv == TSHM_ENOENT || rv == TSHM_ETORN);
        if (rv == 0) {
                FUZZ_CHECK(in_map(r, data, r->nbytes));
                memset(data, (int)value, (size_t)r->nbytes);
                got = (value & 1u) ? tshm_stream_discard(s) : tshm_stream_publish(s);
                FUZZ_CHECK(got >= 0 || got == TSHM_ETORN);
        }
}

/* One operation: @kind, a 16-bit @where and a 64-bit @value. */
static void
reader_op(struct reader *r, uint8_t kind, uint16_t where, uint64_t value)
{
        tshm_seg *s = r->seg;

        switch (kind % 10) {
        case 0:
        case 1:
        case 2:
        case 8:
                reader_scribble(r, kind % 10, where, value);
                break;
        case 3:
                check_seq(tshm_wait(s, value, 0), value, false);
                break;
        case 4:
                reader_read(r);
                break;
        case 5:
                reader_write(r, value);
                break;
        case 6:
                reader_take(r);
                break;
        case 7:
                reader_loan(r, value);
                break;
        default:
                (void)tshm_seg_seq(s);
                (void)tshm_seg_publish_ns(s);
                break;
        }
        check_geometry(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const tshm_dtype dtypes[] = {TSHM_DTYPE_UINT8,   TSHM_DTYPE_FLOAT32,
                                            TSHM_DTYPE_FLOAT64, TSHM_DTYPE_COMPLEX128,
                                            TSHM_DTYPE_BOOL,    TSHM_DTYPE_INT16};
        struct reader r;
        size_t off;
        uint32_t i;

        if (size < 7) {
                return 0;
        }
        memset(&r, 0, sizeof(r));
        strcpy(r.spec.name, "fuzz.reader");
        r.spec.dtype = dtypes[data[0] % (sizeof(dtypes) / sizeof(dtypes[0]))];
        r.spec.ndim = data[1] % 4;
        for (i = 0; i < r.spec.ndim; i++) {
                r.spec.shape[i] = data[2 + i] % 16;
        }
        r.spec.slots = data[5] % 8 == 0 ? 0 : 2 + data[5] % 7;
        r.spec.policy = data[6] % 2;
        r.spec.mode = 0600;
        if (!reader_open(&r)) {
                return 0;
        }
        for (off = 7; off + OP_SIZE <= size; off += OP_SIZE) {
                reader_op(&r, data[off], (uint16_t)get_le(data + off + 1, 2),
                          get_le(data + off + 3, 8));
        }
        reader_close(&r);
        return 0;
}
