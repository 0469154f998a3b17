/*
 * header.h - the fixed-layout header at the start of every tshm segment.
 *
 * The header is a file format: any process can interpret it without the
 * daemon. Fields are little-endian fixed-width integers at fixed offsets
 * (pinned by the static assertions below and documented byte by byte in
 * proto/PROTOCOL.md). tshm only runs on little-endian hosts (checked at
 * build time), so the struct is read in place.
 *
 * A header read from a mapping is untrusted input: tshm__hdr_validate()
 * checks it against the size of the mapping before any field is used.
 *
 * Every process with write access can also write the header. So that a
 * writer cannot grant itself rights or reshape a segment (the daemon adopts
 * headers after a restart), the daemon seals the fields it owns with a keyed
 * MAC (SipHash-2-4 under a key only it can read) in @mac: it checks the seal
 * when it adopts a segment and repairs the header when it hands one out.
 * Sealed: bytes 0-63 (identity, layout, dtype, sizes, mode, owner, time),
 * 128-743 (shape, strides, kind geometry) and 752-1023 (creator, name). Not
 * sealed: the synchronisation line 64-127 (seq), which writers change.
 */
#ifndef TSHM_HEADER_H
#define TSHM_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tshm.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tshm segment headers are little-endian; this host is not"
#endif

#define TSHM_HDR_MAGIC "TSHMSEG\0"
#define TSHM_HDR_LAYOUT 1u         /* bumped on any incompatible layout change */
#define TSHM_HDR_SIZE 1024u        /* bytes of struct tshm__hdr */
#define TSHM_HDR_DATA_OFFSET 4096u /* data starts on the first page boundary after it */

/* flags: what kind of segment this is. Array is the only kind in layout 1;
 * streams (a ring of slots) set TSHM_KIND_STREAM: the kind byte holds a tshm_seg_kind. */
#define TSHM_HDR_KIND_MASK 0xffu
/* An ephemeral segment goes when its creator does (creator_pid and
 * creator_start say who that is). */
#define TSHM_HDR_FLAG_EPHEMERAL (1u << 8)
/* The largest sequence number a reader accepts. seq is a 64-bit counter any
 * writer can store anything into, while the calls that return it share an
 * int64_t with negative error codes: a value above this is not a version
 * but a corrupt counter, reported as torn (TSHM_ETORN), never returned.
 * 2^62 versions at a billion a second last 146 years. */
#define TSHM_SEQ_MAX (UINT64_C(1) << 62)
/* state bits (set by the daemon, read by waiters). */
#define TSHM_SYNC_UNLINKED 1u /* the name was removed: nothing more will be published */
/* lock: set by a writer that sleeps waiting for the lock, so that the
 * holder wakes it on release. Thread ids are below 2^22 (PID_MAX_LIMIT). */
#define TSHM_LOCK_CONTENDED 0x80000000u
#define TSHM_LOCK_TID_MASK 0x7fffffffu
/* A stream whose sleepers on @wake count themselves in its subscriber
 * table's @sleepers, so that a publish wakes (a system call) only when that
 * count is not 0 (segsync/sync.c has the protocol). tshm__hdr_init sets it
 * on every stream. Libraries from before it refuse a header with a flag they
 * do not know, so no sleeper that does not count can open such a stream: a
 * publisher that skips the wake strands nobody. A stream without it (made by
 * an older tshmd and adopted) is woken after every publish, as before. Only
 * streams carry it: an array's readers may hold read-only mappings and have
 * no writable word to count in. */
#define TSHM_HDR_FLAG_WAKE_COUNTED (1u << 9)
/* A tensor group (TSHM_KIND_GROUP) its creator has not published yet:
 * invisible, and removed by a daemon that adopts it (its creator's
 * connection cannot have survived the restart). The daemon clears it at
 * publish. Only groups carry it. */
#define TSHM_HDR_FLAG_UNPUBLISHED (1u << 10)
#define TSHM_HDR_FLAGS_KNOWN                                                                       \
        (TSHM_HDR_KIND_MASK | TSHM_HDR_FLAG_EPHEMERAL | TSHM_HDR_FLAG_WAKE_COUNTED |               \
         TSHM_HDR_FLAG_UNPUBLISHED)

struct tshm__hdr {
        char magic[8];        /*   0: "TSHMSEG\0" */
        uint16_t layout;      /*   8: TSHM_HDR_LAYOUT */
        uint16_t header_size; /*  10: TSHM_HDR_SIZE */
        uint32_t flags;       /*  12: kind and reserved bits, 0 for an array */
        uint64_t data_offset; /*  16: offset of element 0 from the segment start */
        uint64_t data_size;   /*  24: bytes of array data */
        uint32_t dtype;       /*  32: enum tshm_dtype */
        uint32_t itemsize;    /*  36: bytes per element */
        uint32_t ndim;        /*  40: 0..32 */
        uint32_t mode;        /*  44: permission bits (0777 mask) */
        uint32_t owner_uid;   /*  48 */
        uint32_t owner_gid;   /*  52 */
        uint64_t created_ns;  /*  56: CLOCK_REALTIME at create, ns */
        /* 64..127: the synchronisation line, alone in its cache line, not
         * sealed: writers, waiters and the daemon change it (client/sync.c
         * has the protocol). Every field is accessed atomically. */
        uint64_t seq;                   /*  64: even: published version; odd: write in progress */
        uint32_t wake;                  /*  72: futex word, bumped after each publish or event */
        uint32_t state;                 /*  76: TSHM_SYNC_* bits, set by the daemon */
        uint32_t lock;                  /*  80: writer's tid | TSHM_LOCK_CONTENDED, 0 free */
        uint32_t lock_pid;              /*  84: the writer's process id */
        uint64_t lease_until;           /*  88: CLOCK_MONOTONIC ns the writer's lease ends, 0 */
        uint64_t torn_seq;              /*  96: a version a broken write left torn, 0 none */
        uint64_t publish_ns;            /* 104: CLOCK_REALTIME ns of the last publish */
        uint32_t breaks;                /* 112: writer locks broken so far */
        uint32_t sync_reserved[3];      /* 116: 0 */
        uint64_t shape[TSHM_MAX_NDIM];  /* 128: extents, ndim used, rest 0 */
        int64_t strides[TSHM_MAX_NDIM]; /* 384: strides in bytes, ndim used, rest 0 */
        /* 640..743: a stream's ring geometry (0 for an array). */
        uint32_t slots;       /* 640: frames in the ring */
        uint32_t policy;      /* 644: tshm_stream_policy */
        uint64_t slot_stride; /* 648: bytes from one slot's data to the next */
        uint64_t ctl_offset;  /* 656: the slot table (struct tshm__slot[slots]) */
        uint64_t frame_bytes; /* 664: bytes of one frame */
        /* 672..687: a group's table of contents as the daemon validated it
         * at publish (0 for other kinds, and before publish): what a
         * restarted daemon reports without reading the table again. */
        uint32_t group_tensors;    /* 672: tensors */
        uint32_t group_reserved;   /* 676: 0 */
        uint64_t group_toc_bytes;  /* 680: bytes of the table */
        uint8_t kind_reserved[56]; /* 688: 0 */
        uint64_t mac;              /* 744: the daemon's seal (see below) */
        uint32_t creator_pid;      /* 752: an ephemeral segment's creator */
        uint32_t creator_reserved; /* 756: 0 */
        uint64_t creator_start;    /* 760: its start time (/proc/PID/stat, ticks) */
        char name[256];            /* 768: segment name, NUL-padded */
};

_Static_assert(sizeof(struct tshm__hdr) == TSHM_HDR_SIZE, "header size");
_Static_assert(offsetof(struct tshm__hdr, layout) == 8, "layout offset");
_Static_assert(offsetof(struct tshm__hdr, header_size) == 10, "header_size offset");
_Static_assert(offsetof(struct tshm__hdr, flags) == 12, "flags offset");
_Static_assert(offsetof(struct tshm__hdr, data_offset) == 16, "data_offset offset");
_Static_assert(offsetof(struct tshm__hdr, data_size) == 24, "data_size offset");
_Static_assert(offsetof(struct tshm__hdr, dtype) == 32, "dtype offset");
_Static_assert(offsetof(struct tshm__hdr, itemsize) == 36, "itemsize offset");
_Static_assert(offsetof(struct tshm__hdr, ndim) == 40, "ndim offset");
_Static_assert(offsetof(struct tshm__hdr, mode) == 44, "mode offset");
_Static_assert(offsetof(struct tshm__hdr, owner_uid) == 48, "owner_uid offset");
_Static_assert(offsetof(struct tshm__hdr, owner_gid) == 52, "owner_gid offset");
_Static_assert(offsetof(struct tshm__hdr, created_ns) == 56, "created_ns offset");
_Static_assert(offsetof(struct tshm__hdr, seq) == 64, "seq offset");
_Static_assert(offsetof(struct tshm__hdr, wake) == 72, "wake offset");
_Static_assert(offsetof(struct tshm__hdr, lock) == 80, "lock offset");
_Static_assert(offsetof(struct tshm__hdr, lease_until) == 88, "lease_until offset");
_Static_assert(offsetof(struct tshm__hdr, torn_seq) == 96, "torn_seq offset");
_Static_assert(offsetof(struct tshm__hdr, publish_ns) == 104, "publish_ns offset");
_Static_assert(offsetof(struct tshm__hdr, breaks) == 112, "breaks offset");
_Static_assert(offsetof(struct tshm__hdr, shape) == 128, "shape offset");
_Static_assert(offsetof(struct tshm__hdr, strides) == 384, "strides offset");
_Static_assert(offsetof(struct tshm__hdr, slots) == 640, "slots offset");
_Static_assert(offsetof(struct tshm__hdr, frame_bytes) == 664, "frame_bytes offset");
_Static_assert(offsetof(struct tshm__hdr, group_tensors) == 672, "group_tensors offset");
_Static_assert(offsetof(struct tshm__hdr, group_toc_bytes) == 680, "group_toc_bytes offset");
_Static_assert(offsetof(struct tshm__hdr, kind_reserved) == 688, "kind_reserved offset");

/* A stream's slot table entry, written by producers (client/stream.c). */
struct tshm__slot {
        uint64_t state; /* 2k: frame k is published here; 2k-1: frame k is being written */
        uint64_t ts_ns; /* CLOCK_REALTIME at publish */
        uint8_t reserved[48];
};
_Static_assert(sizeof(struct tshm__slot) == 64, "slot size");

/* A stream's subscriber table: a memfd the daemon makes per stream and hands
 * to its producers and subscribers read-write (a subscriber with a read-only
 * grant must still move its cursor; the frames stay read-only to it). Not a
 * file format: it does not outlive the daemon. Everything in it is written by
 * clients, so nothing in it decides who holds an entry: the roster does. */
#define TSHM_CUR_MAGIC "TSHMCUR\0"
struct tshm__cur_sub {
        uint32_t reserved0; /* 0 (was the active flag: see the roster) */
        uint32_t reserved1; /* 0 */
        uint64_t cursor;    /* the oldest frame it holds, else the next it takes; all
                             * frames before are released; never moves back */
        uint64_t missed;    /* frames it skipped (overwrite policy) */
        uint8_t reserved[40];
};
struct tshm__cur {
        char magic[8];
        uint32_t max_subs; /* TSHM_STREAM_MAX_SUBS */
        uint32_t sleepers; /* threads asleep on the header's @wake (TSHM_HDR_FLAG_WAKE_COUNTED) */
        uint32_t release;  /* futex word: bumped when a slot may have been freed */
        uint32_t prod_waiting; /* a producer sleeps on @release: wake it */
        uint8_t reserved[40];
        struct tshm__cur_sub subs[TSHM_STREAM_MAX_SUBS];
};
_Static_assert(sizeof(struct tshm__cur) == 64 + 64 * TSHM_STREAM_MAX_SUBS, "cursor table size");
#define TSHM_CUR_SIZE 8192u /* bytes of the memfd: the table, in whole pages */

/* A stream's roster: who holds each subscriber entry, in a memfd only the
 * daemon writes (sealed with F_SEAL_FUTURE_WRITE after the daemon mapped it,
 * so every other holder maps it read-only). Producers wait only for entries
 * the roster says are held, and a subscriber learns from it where it starts
 * and whether it still holds its entry. */
#define TSHM_ROS_MAGIC "TSHMROS\0"
struct tshm__ros_entry {
        uint32_t pid;    /* the holder's process; 0: the entry is free */
        uint32_t serial; /* which subscription this is (bumped on every join) */
        uint64_t start;  /* the first frame the holder may take */
};
struct tshm__ros {
        char magic[8];
        uint32_t max_subs; /* TSHM_STREAM_MAX_SUBS */
        uint32_t gen;      /* bumped when a subscriber joins or leaves */
        uint8_t reserved[48];
        struct tshm__ros_entry subs[TSHM_STREAM_MAX_SUBS];
};
#define TSHM_ROS_SIZE 4096u /* bytes of the memfd: one page */
_Static_assert(sizeof(struct tshm__ros) <= TSHM_ROS_SIZE, "roster size");
_Static_assert(offsetof(struct tshm__hdr, mac) == 744, "mac offset");
_Static_assert(offsetof(struct tshm__hdr, creator_pid) == 752, "creator_pid offset");
_Static_assert(offsetof(struct tshm__hdr, creator_start) == 760, "creator_start offset");
_Static_assert(offsetof(struct tshm__hdr, name) == 768, "name offset");

/* What a new segment is made of. */
struct tshm__seg_spec {
        char name[TSHM_NAME_MAX + 1];
        tshm_dtype dtype;
        uint32_t ndim;
        uint64_t shape[TSHM_MAX_NDIM];
        uint32_t mode;
        uint32_t owner_uid;
        uint32_t owner_gid;
        uint64_t created_ns;
        uint32_t slots;  /* 0: an array; else a stream of this many frames */
        uint32_t policy; /* a stream's tshm_stream_policy */
        /* A tensor group (slots 0, dtype uint8, one dimension: its bytes).
         * @unpublished: until its creator publishes it. */
        bool group, unpublished;
        uint32_t group_tensors; /* as the header's, once published */
        uint64_t group_toc_bytes;
};

/* The size of the shm object that @spec describes (array or stream).
 * Returns 0 and *ret_size, or TSHM_EBADSHAPE / TSHM_EBADDTYPE / TSHM_EINVAL
 * (bad slots or policy). */
int tshm__hdr_spec_size(const struct tshm__seg_spec *spec, uint64_t *ret_size);

/* @size rounded up to a whole number of @page bytes (0: unchanged): the
 * size of an object on hugetlbfs, which sizes objects in whole pages.
 * Returns 0 if that does not fit in 64 bits. */
uint64_t tshm__hdr_round_pages(uint64_t size, uint64_t page);

/* The size of the shm object that holds @nbytes of data: the header page
 * plus the data rounded up to whole pages. Returns 0 and *ret_size, or
 * TSHM_EBADSHAPE when it would overflow. */
int tshm__hdr_object_size(uint64_t nbytes, uint64_t *ret_size);

/* Fill @hdr (zeroed first) from @spec, with C-contiguous strides. Returns 0,
 * or TSHM_EBADNAME / TSHM_EBADDTYPE / TSHM_EBADSHAPE. */
int tshm__hdr_init(struct tshm__hdr *hdr, const struct tshm__seg_spec *spec);

/* Validate the header at the start of a mapping of @map_size bytes: magic,
 * layout, header size, name, dtype and item size, ndim, the data area inside
 * the mapping and page-aligned, and every reachable element (shape x
 * strides) inside the data area. Reads each field once, from @hdr; the
 * caller must copy the header first if a writer could change it meanwhile.
 * Returns 0 or TSHM_EBADHDR. */
int tshm__hdr_validate(const struct tshm__hdr *hdr, uint64_t map_size);

#endif /* TSHM_HEADER_H */
