/*
 * seg.c - a mapped segment: map the descriptor the daemon sent, check the
 * header against the mapping, and answer the accessors.
 */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "internal.h"

#include "header.h"
#include "sync.h"

/* Copy into @seg (mapped, seg->map set) the name and the geometry of
 * @hdr, the header tshm__hdr_init() computed from the daemon's word. */
static void
seg_set_geometry(tshm_seg *seg, const struct tshm__hdr *hdr)
{
        uint32_t i;

        seg->data = (uint8_t *)seg->map + hdr->data_offset;
        memcpy(seg->name, hdr->name, sizeof(seg->name) - 1);
        seg->dtype = (tshm_dtype)hdr->dtype;
        seg->ndim = hdr->ndim;
        seg->nbytes = hdr->data_size;
        seg->span = hdr->data_size;
        if ((hdr->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM) {
                /* What the caller sees is one frame; the ring is behind it. */
                seg->nbytes = hdr->frame_bytes;
                seg->slots = hdr->slots;
                seg->policy = hdr->policy;
                seg->stride = hdr->slot_stride;
                /* ctl_offset is 4096: page-aligned in the map. */
                seg->ctl = (struct tshm__slot *)(void *)((uint8_t *)seg->map + hdr->ctl_offset);
        }
        for (i = 0; i < hdr->ndim; i++) {
                seg->shape[i] = hdr->shape[i];
                seg->strides[i] = hdr->strides[i];
        }
}

/* The size of the object that holds @want bytes behind @fd: @want, or on
 * hugetlbfs (tshmd's --shm-dir there) @want rounded up to whole pages, as
 * the daemon makes it there. Mapped and unmapped whole, too: hugetlbfs
 * unmaps only whole pages. */
static uint64_t
seg_object_size(int fd, uint64_t want)
{
        struct statfs fs;

        if (fstatfs(fd, &fs) < 0 || (unsigned long)fs.f_type != (unsigned long)HUGETLBFS_MAGIC ||
            fs.f_bsize <= 0) {
                return want;
        }
        return tshm__hdr_round_pages(want, (uint64_t)fs.f_bsize);
}

int
tshm__seg_map(int fd, uint64_t size, bool writable, const struct tshm__seg_spec *spec,
              tshm_seg **ret_seg)
{
        struct tshm__hdr hdr;
        struct stat st;
        tshm_seg *seg = NULL;
        void *map = MAP_FAILED;
        uint64_t want_size;
        int rv;

        /* The geometry is the daemon's word (its registry), computed here as
         * tshm__hdr_init() lays it out; the header in the mapping is only
         * for the synchronisation line. A writer can rewrite the header at
         * any moment, so nothing of its geometry is ever read: not at open
         * (a writer rewriting it in a loop would make every open fail) and
         * not later. */
        if (tshm__hdr_init(&hdr, spec) < 0 || tshm__hdr_spec_size(spec, &want_size) < 0) {
                rv = TSHM_EPROTO;
                goto out;
        }
        /* Trust the object's real size, not the daemon's word: mapping past
         * the end of a shm object would SIGBUS on access. */
        if (fstat(fd, &st) < 0) {
                rv = -errno;
                goto out;
        }
        /* The layout tshm__hdr_init() made is valid by construction; only
         * the object's size is to check against it. */
        if ((uint64_t)st.st_size != size || size != seg_object_size(fd, want_size) ||
            size > SIZE_MAX) {
                rv = TSHM_EBADHDR;
                goto out;
        }
        map = mmap(NULL, (size_t)size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                rv = errno == ENOMEM ? TSHM_ENOMEM : -errno;
                goto out;
        }
        /* From here on a fault in the mapping (a writer truncated the object)
         * is absorbed until tshmd restores the size: see sigbus.c. */
        if ((rv = tshm__sigbus_register(map, (size_t)size)) < 0) {
                (void)munmap(map, (size_t)size);
                map = MAP_FAILED;
                goto out;
        }
        seg = tshm__calloc(1, sizeof(*seg));
        if (seg == NULL) {
                rv = TSHM_ENOMEM;
                goto out;
        }
        seg->map = map;
        seg->map_size = (size_t)size;
        seg->writable = writable;
        seg->fd = -1;
        if (!writable && tshm__keep_ro_fd) {
                seg->fd = fd;
                fd = -1;
        }
        seg->spin_ns = tshm__sync_default_spin();
        seg->spin_chosen = tshm__sync_spin_chosen();
        seg_set_geometry(seg, &hdr);
        map = MAP_FAILED;
        *ret_seg = seg;
        rv = 0;
out:
        if (map != MAP_FAILED) {
                tshm__sigbus_unregister(map);
                (void)munmap(map, (size_t)size);
        }
        if (fd >= 0) {
                (void)close(fd);
        }
        return rv;
}

/* Debian 12's headers have it; older ones may not (the kernel's ABI). */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* Exported (not API) for the integration test of a truncate under a private
 * mapping; the Python module links libtshm statically. */
__attribute__((visibility("default"))) int
tshm__seg_map_private(tshm_seg *seg, uint64_t offset, uint64_t len, void **ret_base,
                      size_t *ret_len, void **ret_data)
{
        struct statfs fs;
        uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), start, lo, hi;
        void *map;
        int rv;

        if (seg == NULL || seg->writable || seg->fd < 0 || offset > seg->span ||
            len > seg->span - offset) {
                return TSHM_EINVAL;
        }
        /* hugetlbfs maps only whole huge pages. */
        if (fstatfs(seg->fd, &fs) == 0 &&
            (unsigned long)fs.f_type == (unsigned long)HUGETLBFS_MAGIC && fs.f_bsize > 0) {
                page = (uint64_t)fs.f_bsize;
        }
        start = (uint64_t)((uint8_t *)seg->data - (uint8_t *)seg->map) + offset;
        lo = start & ~(page - 1);
        hi = (start + len + page - 1) & ~(page - 1);
        /* An empty range still gets a valid pointer. Rounding up may pass
         * the object's end by less than a page (never a whole page, except
         * for an empty range, which is never read): mmap allows it, and the
         * part of a page past the end reads as zeros. */
        if (hi == lo) {
                hi = lo + page;
        }
        /* MAP_PRIVATE needs only read access to the descriptor, and no
         * write through it can reach the object: the kernel copies a page
         * on its first write (COW). Until then the page is the object's, so
         * reads follow the producer. Not MAP_POPULATE: on a writable private
         * mapping it would copy every page. */
        map =
            mmap(NULL, (size_t)(hi - lo), PROT_READ | PROT_WRITE, MAP_PRIVATE, seg->fd, (off_t)lo);
        if (map == MAP_FAILED) {
                return errno == ENOMEM ? TSHM_ENOMEM : -errno;
        }
        /* Faults on pages still backed by the object, which a hostile writer
         * truncated, are absorbed as for the shared mapping. */
        if ((rv = tshm__sigbus_register(map, (size_t)(hi - lo))) < 0) {
                (void)munmap(map, (size_t)(hi - lo));
                return rv;
        }
        /* Populate read-only when the shared mapping would be: this maps
         * the object's pages without copying them. Best effort. */
        if (hi - lo <= TSHM_POPULATE_AUTO_MAX) {
                (void)madvise(map, (size_t)(hi - lo), MADV_POPULATE_READ);
        }
        *ret_base = map;
        *ret_len = (size_t)(hi - lo);
        *ret_data = (uint8_t *)map + (start - lo);
        return 0;
}

__attribute__((visibility("default"))) void
tshm__seg_unmap_private(void *base, size_t len)
{
        if (base == NULL) {
                return;
        }
        tshm__sigbus_unregister(base);
        (void)munmap(base, len);
}

void
tshm__seg_free(tshm_seg *seg)
{
        if (seg == NULL) {
                return;
        }
        tshm__stream_unmap(seg);
        if (seg->map != NULL) {
                tshm__sigbus_unregister(seg->map);
                (void)munmap(seg->map, seg->map_size);
        }
        if (seg->fd >= 0) {
                (void)close(seg->fd);
        }
        tshm__free(seg);
}

/* As MADV_POPULATE_READ above. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

void
tshm__seg_touch(void *start, size_t len, bool write)
{
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        uint8_t *p = start, *end = (uint8_t *)start + len;

        /* One byte a page; a write must change nothing, even under a
         * concurrent writer: an atomic add of zero stores what it loaded. A
         * fault here (the object was truncated) is absorbed by sigbus.c. */
        for (; p < end; p += page) {
                if (write) {
                        (void)__atomic_fetch_add(p, 0, __ATOMIC_RELAXED);
                } else {
                        (void)*(volatile const uint8_t *)p;
                }
        }
}

/* Populate the pages that hold [@start, @start + @len), which lie in
 * @seg's mapping. */
static int
seg_populate_pages(tshm_seg *seg, uint8_t *start, size_t len)
{
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t lo = (uintptr_t)start & ~(page - 1);
        uintptr_t hi = ((uintptr_t)start + len + page - 1) & ~(page - 1);
        int advice = seg->writable ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;

        if (len == 0) {
                return 0;
        }
        /* EINTR: a fatal signal is pending; whatever comes next is quick. */
        while (madvise((void *)lo, hi - lo, advice) < 0) {
                switch (errno) {
                case EINTR:
                        continue;
                case EINVAL:
                        /* Before Linux 5.14 (or a mapping madvise cannot
                         * populate): touch each page instead. */
                        tshm__seg_touch((void *)lo, hi - lo, seg->writable);
                        return 0;
                case ENOMEM:
                case EFAULT:
                        /* Out of memory, or a page the object does not
                         * have (truncated under us): madvise reports it
                         * where a touch would SIGBUS. */
                        return TSHM_ENOMEM;
                default:
                        return -errno;
                }
        }
        return 0;
}

int
tshm_seg_populate(tshm_seg *seg, uint64_t offset, uint64_t length)
{
        if (seg == NULL || seg->map == NULL || offset > seg->span || length > seg->span - offset) {
                return TSHM_EINVAL;
        }
        return seg_populate_pages(seg, (uint8_t *)seg->data + offset, (size_t)length);
}

void
tshm__seg_populate_auto(tshm_seg *seg, unsigned flags)
{
        bool want = (flags & TSHM_OPEN_POPULATE) != 0 || ((flags & TSHM_OPEN_NOPOPULATE) == 0 &&
                                                          seg->map_size <= TSHM_POPULATE_AUTO_MAX);

        /* The header page is populated with the data: every call touches
         * it. */
        if (want) {
                (void)seg_populate_pages(seg, seg->map, seg->map_size);
        }
}

void *
tshm_seg_data(const tshm_seg *seg)
{
        return seg->data;
}

const char *
tshm_seg_name(const tshm_seg *seg)
{
        return seg->name;
}

tshm_dtype
tshm_seg_dtype(const tshm_seg *seg)
{
        return seg->dtype;
}

size_t
tshm_seg_ndim(const tshm_seg *seg)
{
        return seg->ndim;
}

const uint64_t *
tshm_seg_shape(const tshm_seg *seg)
{
        return seg->shape;
}

const int64_t *
tshm_seg_strides(const tshm_seg *seg)
{
        return seg->strides;
}

uint64_t
tshm_seg_nbytes(const tshm_seg *seg)
{
        return seg->nbytes;
}

int
tshm_seg_writable(const tshm_seg *seg)
{
        return seg->writable ? 1 : 0;
}

uint64_t
tshm_seg_seq(const tshm_seg *seg)
{
        const struct tshm__hdr *hdr = seg->map;

        /* Writers publish with release order (see the publish protocol);
         * acquire here makes the data they wrote before it visible. */
        return __atomic_load_n(&hdr->seq, __ATOMIC_ACQUIRE);
}

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PAGEMAP_PRESENT (1ull << 63)
#define PAGEMAP_SWAPPED (1ull << 62)
#define PAGEMAP_FILE (1ull << 61) /* file page or shared anonymous */

/* Drop [@lo, @hi) pages of a private mapping, given in page numbers. */
static int
private_drop(uintptr_t lo, uintptr_t hi, uintptr_t page)
{
        if (hi > lo && madvise((void *)(lo * page), (hi - lo) * page, MADV_DONTNEED) < 0) {
                return -errno;
        }
        return 0;
}

/* Off for C programs: a read-only handle then holds no descriptor, as it
 * did before the Python binding needed them. */
__attribute__((visibility("default"))) bool tshm__keep_ro_fd;

__attribute__((visibility("default"))) int
tshm__private_scrub(void *addr, size_t len)
{
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uintptr_t first = (uintptr_t)addr / page;
        uintptr_t end = ((uintptr_t)addr + len + page - 1) / page;
        uintptr_t p = first, run = 0;
        bool in_run = false;
        uint64_t buf[512];
        int fd, rv = 0;

        if (len == 0) {
                return 0;
        }
        /* Opened each time: /proc/self is the process that opens it, and a
         * descriptor kept across fork() would read the parent's. */
        if ((fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0) {
                return private_drop(first, end, page);
        }
        while (p < end && rv == 0) {
                size_t want = end - p < 512 ? end - p : 512;
                ssize_t n = pread(fd, buf, want * sizeof(buf[0]), (off_t)(p * sizeof(buf[0])));
                size_t i;

                if (n <= 0 || (size_t)n % sizeof(buf[0]) != 0) {
                        /* Cannot tell which were written: drop them all. */
                        rv = private_drop(in_run ? run : p, end, page);
                        in_run = false;
                        p = end;
                        break;
                }
                for (i = 0; i < (size_t)n / sizeof(buf[0]); i++, p++) {
                        /* Written (copied): present or swapped, and not the
                         * object's page. */
                        bool mine = (buf[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) != 0 &&
                                    (buf[i] & PAGEMAP_FILE) == 0;

                        if (mine && !in_run) {
                                run = p;
                                in_run = true;
                        } else if (!mine && in_run) {
                                if ((rv = private_drop(run, p, page)) < 0) {
                                        break;
                                }
                                in_run = false;
                        }
                }
        }
        if (rv == 0 && in_run) {
                rv = private_drop(run, p, page);
        }
        (void)close(fd);
        return rv;
}

__attribute__((visibility("default"))) int
tshm__seg_ring(const tshm_seg *seg, uint32_t *ret_slots, uint64_t *ret_stride)
{
        struct statfs fs;

        *ret_slots = seg->slots;
        *ret_stride = seg->stride;
        return seg->fd >= 0 && fstatfs(seg->fd, &fs) == 0 &&
               (unsigned long)fs.f_type == (unsigned long)HUGETLBFS_MAGIC;
}
