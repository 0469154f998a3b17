/*
 * group.h - the table of contents of a tensor group (group.c).
 *
 * A group is a segment of kind TSHM_KIND_GROUP whose data area holds many
 * named tensors: a table of contents at its start, then each tensor's bytes
 * at an offset aligned to TSHM_GROUP_ALIGN. Like the header, the table is a
 * file format (PROTOCOL.md section 10 has it byte by byte) that every reader
 * interprets without the daemon, and it is untrusted input: anyone with
 * write access can rewrite it. So its layout is a function of its inputs
 * (the names' lengths, the dtypes and the shapes, in order), computed here
 * and nowhere else, and a table is valid only when every derived field is
 * exactly what tshm__toc_layout() makes of them: no offset a writer could
 * pick is trusted on its own. Readers validate a private copy of the table
 * (tshm__toc_validate) and use only that copy afterwards.
 */
#ifndef TSHM_GROUP_H
#define TSHM_GROUP_H

#include <stddef.h>
#include <stdint.h>

#include "tshm.h"

#define TSHM_TOC_MAGIC "TSHMTOC\0"
#define TSHM_TOC_VERSION 1u
#define TSHM_TOC_HEAD 64u  /* bytes of struct tshm__toc */
#define TSHM_TOC_ENTRY 64u /* bytes of struct tshm__toc_entry */
/* The largest table, whatever the inputs: readers copy it whole. */
#define TSHM_TOC_MAX (256ull << 20)

struct tshm__toc {
        char magic[8];          /*  0: "TSHMTOC\0" */
        uint32_t version;       /*  8: TSHM_TOC_VERSION */
        uint32_t count;         /* 12: tensors, at most TSHM_GROUP_MAX_TENSORS */
        uint64_t toc_bytes;     /* 16: bytes of the table, a multiple of TSHM_GROUP_ALIGN */
        uint64_t ndims;         /* 24: extents in the dims array (the sum of the ndims) */
        uint64_t strings_bytes; /* 32: bytes of the string area (metadata, then names) */
        uint64_t meta_len;      /* 40: bytes of metadata at the start of the string area */
        uint64_t data_end;      /* 48: end of the last tensor's bytes (toc_bytes if none) */
        uint64_t reserved;      /* 56: 0 */
};
_Static_assert(sizeof(struct tshm__toc) == TSHM_TOC_HEAD, "toc head size");

/* Entry i, at TSHM_TOC_HEAD + i * TSHM_TOC_ENTRY. */
struct tshm__toc_entry {
        uint64_t offset;      /*  0: its bytes, from the start of the data area */
        uint64_t nbytes;      /*  8: product of the extents times the item size */
        uint64_t name_off;    /* 16: its name, from the start of the string area */
        uint32_t name_len;    /* 24: 1..TSHM_GROUP_NAME_MAX bytes, no NUL among them */
        uint32_t dtype;       /* 28: tshm_dtype */
        uint32_t ndim;        /* 32: 0..TSHM_MAX_NDIM */
        uint32_t reserved0;   /* 36: 0 */
        uint64_t dims_idx;    /* 40: its first extent in the dims array */
        uint64_t reserved[2]; /* 48: 0 */
};
_Static_assert(sizeof(struct tshm__toc_entry) == TSHM_TOC_ENTRY, "toc entry size");

/* One tensor to lay out: the inputs of the table. */
struct tshm__toc_spec {
        const char *name;
        size_t name_len;
        tshm_dtype dtype;
        uint32_t ndim;
        const uint64_t *shape;
};

/* Where each part of a table of @count tensors lies: the dims array and
 * the string area (from the table's start), the table's size and the
 * bytes of the data area that holds it and every tensor. */
struct tshm__toc_layout {
        uint64_t dims_off, strings_off, strings_bytes, toc_bytes, data_end;
};

/* Lay out @count tensors and @meta_len bytes of metadata. Returns 0 and
 * *ret, or TSHM_EINVAL (a name empty, too long or with a NUL; too many
 * tensors; metadata over TSHM_GROUP_META_MAX; a table over TSHM_TOC_MAX),
 * TSHM_EBADDTYPE, TSHM_EBADSHAPE (a shape, or a total that does not fit in
 * 63 bits). */
int tshm__toc_layout(const struct tshm__toc_spec *t, size_t count, uint64_t meta_len,
                     struct tshm__toc_layout *ret);

/* Write the table for @t (laid out as @lay says) into @buf, which holds
 * lay->toc_bytes bytes (all of them are written). */
void tshm__toc_write(void *buf, const struct tshm__toc_layout *lay, const struct tshm__toc_spec *t,
                     size_t count, const void *meta, uint64_t meta_len);

/* From the first TSHM_TOC_HEAD bytes of a data area of @data_size bytes,
 * the size of the table to copy and validate: checks the magic, version,
 * count and that toc_bytes is within the data area and TSHM_TOC_MAX (a
 * data area over INT64_MAX bytes, which no segment has, fails).
 * Returns 0 and *ret_toc_bytes, or TSHM_EBADHDR with a reason in *ret_why. */
int tshm__toc_size(const void *head, uint64_t data_size, uint64_t *ret_toc_bytes,
                   const char **ret_why);

/* Validate a private copy of a table: @buf, @len bytes (toc_bytes, as
 * tshm__toc_size said), of a data area of @data_size bytes. Every field
 * must be what tshm__toc_layout() makes of the names' lengths, dtypes and
 * shapes; every name 1..TSHM_GROUP_NAME_MAX bytes without a NUL; every
 * tensor inside the data area. @order (count entries) receives the entries
 * sorted by name, bytewise; two equal names fail. Returns 0, or
 * TSHM_EBADHDR with a reason in *ret_why (static text). Reads @buf only. */
int tshm__toc_validate(const void *buf, uint64_t len, uint64_t data_size, uint32_t *order,
                       const char **ret_why);

/* Accessors of a validated copy. */
static inline const struct tshm__toc *
tshm__toc_head(const void *buf)
{
        return (const struct tshm__toc *)buf;
}
static inline const struct tshm__toc_entry *
tshm__toc_entry_at(const void *buf, uint32_t i)
{
        return (const struct tshm__toc_entry *)(const void *)((const uint8_t *)buf + TSHM_TOC_HEAD +
                                                              (uint64_t)i * TSHM_TOC_ENTRY);
}
const uint64_t *tshm__toc_dims(const void *buf, const struct tshm__toc_entry *e);
const char *tshm__toc_name(const void *buf, const struct tshm__toc_entry *e);
const void *tshm__toc_meta(const void *buf, uint64_t *ret_len);
/* Compare name @e with (@name, @len) bytewise, shorter first on a tie. */
int tshm__toc_name_cmp(const void *buf, const struct tshm__toc_entry *e, const char *name,
                       size_t len);

#endif /* TSHM_GROUP_H */
