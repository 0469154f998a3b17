/*
 * registry.c - what tshmd knows of its segments: names, metadata, open
 * counts and the byte budget. Segments are in a uthash table by name, which
 * also keeps them in creation order for paged listing.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tshmd.h"

int tshmd_hash_oom;
uint8_t tshmd_hash_key[16];
static bool hash_keyed;

unsigned
tshmd_hash(const void *key, size_t len)
{
        return (unsigned)tshmd_seal_siphash(tshmd_hash_key, key, len);
}

/* Draw the key of every table once, before the first one holds anything
 * (a new key would lose what the tables hold). getrandom() only blocks
 * before the kernel's pool is ready, early in boot; should it fail, the
 * clock and pid are still a key no client knows in advance. */
static void
registry_hash_key(void)
{
        size_t got = 0;
        ssize_t n;

        if (hash_keyed) {
                return;
        }
        while (got < sizeof(tshmd_hash_key)) {
                n = getrandom(tshmd_hash_key + got, sizeof(tshmd_hash_key) - got, 0);
                if (n < 0 && errno == EINTR) {
                        continue;
                }
                if (n <= 0) {
                        struct timespec ts;
                        uint64_t mix[2];

                        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
                        mix[0] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
                        mix[1] = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&got;
                        memcpy(tshmd_hash_key, mix, sizeof(tshmd_hash_key));
                        break;
                }
                got += (size_t)n;
        }
        hash_keyed = true;
}

void
tshmd_registry_init(struct tshmd_registry *reg)
{
        registry_hash_key();
        memset(reg, 0, sizeof(*reg));
        reg->next_serial = 1;
}

void
tshmd_registry_on_free(struct tshmd_registry *reg, tshmd_seg_free_fn fn)
{
        /* A fixed few: the hooks are registered at start by tshmd's own
         * files, never by anything a client does. */
        assert(reg->non_free < TSHMD_REGISTRY_HOOKS);
        reg->on_free[reg->non_free++] = fn;
}

static void
registry_run_hooks(struct tshmd_registry *reg, struct tshmd_seg *seg)
{
        unsigned i;

        for (i = 0; i < reg->non_free; i++) {
                reg->on_free[i](seg);
        }
}

/* Take @u out of the usage table and free it. */
static void
registry_usage_del(struct tshmd_registry *reg, struct tshmd_usage *u)
{
        HASH_DEL(reg->usage, u);
        tshm__free(u);
}

void
tshmd_registry_done(struct tshmd_registry *reg)
{
        struct tshmd_seg *seg, *tmp;

        struct tshmd_usage *u, *utmp;

        HASH_ITER(hh, reg->by_name, seg, tmp)
        {
                HASH_DEL(reg->by_name, seg);
                registry_run_hooks(reg, seg);
                tshm__free(seg);
        }
        HASH_ITER(hh, reg->usage, u, utmp)
        {
                registry_usage_del(reg, u);
        }
        memset(reg, 0, sizeof(*reg));
}

struct tshmd_seg *
tshmd_registry_find(struct tshmd_registry *reg, const char *name)
{
        struct tshmd_seg *seg = NULL;

        HASH_FIND_STR(reg->by_name, name, seg);
        return seg;
}

static struct tshmd_usage *
registry_usage_find(const struct tshmd_registry *reg, uint32_t uid)
{
        struct tshmd_usage *u = NULL;

        HASH_FIND(hh, reg->usage, &uid, sizeof(uid), u);
        return u;
}

/* Add @u to the usage table; TSHM_ENOMEM if the table cannot grow. */
/* NOLINTBEGIN(readability-function-size): HASH_ADD expands to ~200 statements. */
static int
registry_usage_add(struct tshmd_registry *reg, struct tshmd_usage *u)
{
        tshmd_hash_oom = 0;
        HASH_ADD(hh, reg->usage, uid, sizeof(u->uid), u);
        return tshmd_hash_oom ? TSHM_ENOMEM : 0;
}
/* NOLINTEND(readability-function-size) */

/* Charge (@sign 1) or release (-1) @bytes and @segments to @uid. Charging
 * may allocate; releasing never fails. */
static int
registry_charge(struct tshmd_registry *reg, uint32_t uid, int sign, uint64_t bytes,
                uint64_t segments)
{
        struct tshmd_usage *u = registry_usage_find(reg, uid);

        if (u == NULL) {
                if (sign < 0 || (u = tshm__calloc(1, sizeof(*u))) == NULL) {
                        return sign < 0 ? 0 : TSHM_ENOMEM;
                }
                u->uid = uid;
                if (registry_usage_add(reg, u) < 0) {
                        tshm__free(u);
                        return TSHM_ENOMEM;
                }
        }
        if (sign > 0) {
                u->bytes += bytes;
                u->segments += segments;
        } else {
                u->bytes -= bytes;
                u->segments -= segments;
        }
        if (u->bytes == 0 && u->segments == 0) {
                registry_usage_del(reg, u);
        }
        return 0;
}

void
tshmd_registry_usage(const struct tshmd_registry *reg, uint32_t uid, uint64_t *ret_bytes,
                     uint64_t *ret_segments)
{
        const struct tshmd_usage *u = registry_usage_find(reg, uid);

        *ret_bytes = u != NULL ? u->bytes : 0;
        *ret_segments = u != NULL ? u->segments : 0;
}

/* Whether @used + @asked fits under @limit (0: no limit), without wrapping. */
static bool
registry_fits(uint64_t limit, uint64_t used, uint64_t asked)
{
        return limit == 0 || (asked <= limit && used <= limit - asked);
}

int
tshmd_registry_admit(const struct tshmd_registry *reg, const struct tshmd_config *cfg, uint32_t uid,
                     uint64_t size, char *err, size_t errlen)
{
        uint64_t ubytes, usegs;

        tshmd_registry_usage(reg, uid, &ubytes, &usegs);
        if (!registry_fits(cfg->max_segments, reg->segments, 1)) {
                snprintf(err, errlen, "segment limit reached: --max-segments=%llu, %llu exist",
                         (unsigned long long)cfg->max_segments, (unsigned long long)reg->segments);
                return TSHM_ELIMIT;
        }
        if (!registry_fits(cfg->max_segments_per_uid, usegs, 1)) {
                snprintf(err, errlen,
                         "segment limit of uid %u reached: --max-segments-per-uid=%llu, %llu owned",
                         uid, (unsigned long long)cfg->max_segments_per_uid,
                         (unsigned long long)usegs);
                return TSHM_ELIMIT;
        }
        if (!registry_fits(cfg->max_bytes, reg->bytes, size)) {
                snprintf(err, errlen, "no space: budget --max-bytes=%llu, %llu in use, %llu asked",
                         (unsigned long long)cfg->max_bytes, (unsigned long long)reg->bytes,
                         (unsigned long long)size);
                return TSHM_ENOSPC;
        }
        if (!registry_fits(cfg->max_bytes_per_uid, ubytes, size)) {
                snprintf(err, errlen,
                         "no space: budget of uid %u --max-bytes-per-uid=%llu, %llu in use, "
                         "%llu asked",
                         uid, (unsigned long long)cfg->max_bytes_per_uid,
                         (unsigned long long)ubytes, (unsigned long long)size);
                return TSHM_ENOSPC;
        }
        return 0;
}

int
tshmd_registry_set_owner(struct tshmd_registry *reg, struct tshmd_seg *seg, uint32_t uid)
{
        uint64_t nseg = seg->state == TSHMD_SEG_UNLINKED ? 0 : 1;
        int rv;

        if (uid == seg->owner_uid) {
                return 0;
        }
        if ((rv = registry_charge(reg, uid, 1, seg->size, nseg)) < 0) {
                return rv;
        }
        (void)registry_charge(reg, seg->owner_uid, -1, seg->size, nseg);
        seg->owner_uid = uid;
        return 0;
}

/* Add @seg under its name (@namelen bytes); TSHM_ENOMEM if the table
 * cannot grow. */
/* NOLINTBEGIN(readability-function-size): HASH_ADD expands to ~200 statements. */
static int
registry_name_add(struct tshmd_registry *reg, struct tshmd_seg *seg, size_t namelen)
{
        tshmd_hash_oom = 0;
        HASH_ADD_KEYPTR(hh, reg->by_name, seg->name, namelen, seg);
        return tshmd_hash_oom ? TSHM_ENOMEM : 0;
}
/* NOLINTEND(readability-function-size) */

int
tshmd_registry_add(struct tshmd_registry *reg, const struct tshm__hdr *hdr, uint64_t size,
                   enum tshmd_seg_state state, struct tshmd_seg **ret_seg)
{
        size_t namelen = strnlen(hdr->name, TSHM_NAME_MAX);
        struct tshmd_seg *seg;

        /* The shape and the name live in the same allocation, behind the
         * struct: about 200 bytes a segment, so 100k segments fit in 32 MiB. */
        seg = tshm__malloc(sizeof(*seg) + hdr->ndim * sizeof(uint64_t) + namelen + 1);
        if (seg == NULL) {
                return TSHM_ENOMEM;
        }
        memset(seg, 0, sizeof(*seg));
        seg->shape = (uint64_t *)(seg + 1);
        seg->name = (char *)(seg->shape + hdr->ndim);
        memcpy(seg->shape, hdr->shape, hdr->ndim * sizeof(uint64_t));
        memcpy(seg->name, hdr->name, namelen);
        seg->name[namelen] = '\0';
        seg->serial = reg->next_serial;
        seg->size = size;
        /* A stream's nbytes is one frame's, as its shape says. */
        seg->nbytes = (hdr->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM ? hdr->frame_bytes
                                                                            : hdr->data_size;
        seg->created_ns = hdr->created_ns;
        seg->owner_uid = hdr->owner_uid;
        seg->owner_gid = hdr->owner_gid;
        seg->mode = hdr->mode;
        seg->flags = hdr->flags;
        seg->creator_pid = hdr->creator_pid;
        seg->creator_start = hdr->creator_start;
        seg->dtype = (uint8_t)hdr->dtype;
        seg->ndim = (uint8_t)hdr->ndim;
        seg->state = (uint8_t)state;
        seg->slots = hdr->slots;
        seg->policy = hdr->policy;
        seg->group_tensors = hdr->group_tensors;
        seg->group_toc_bytes = hdr->group_toc_bytes;
        seg->cur_fd = -1;
        seg->ros_fd = -1;
        if (registry_charge(reg, seg->owner_uid, 1, size, 1) < 0) {
                tshm__free(seg);
                return TSHM_ENOMEM;
        }
        if (registry_name_add(reg, seg, namelen) < 0) {
                (void)registry_charge(reg, seg->owner_uid, -1, size, 1);
                tshm__free(seg);
                return TSHM_ENOMEM;
        }
        reg->next_serial++;
        reg->segments++;
        reg->bytes += size;
        *ret_seg = seg;
        return 0;
}

/* Creation order: creation time, then name for segments made in the same
 * nanosecond (or with equal times in their headers). */
static int
registry_cmp_created(const struct tshmd_seg *a, const struct tshmd_seg *b)
{
        if (a->created_ns != b->created_ns) {
                return a->created_ns < b->created_ns ? -1 : 1;
        }
        return strcmp(a->name, b->name);
}

/* NOLINTBEGIN(readability-function-size): HASH_SRT expands to ~80 statements. */
void
tshmd_registry_sort_created(struct tshmd_registry *reg)
{
        struct tshmd_seg *seg;
        uint64_t serial = 1;

        HASH_SRT(hh, reg->by_name, registry_cmp_created);
        /* The list cursor is a serial and expects serials in this order;
         * nothing holds one yet at start-up, so renumber. */
        for (seg = reg->by_name; seg != NULL; seg = seg->hh.next) {
                seg->serial = serial++;
        }
        reg->next_serial = serial;
}
/* NOLINTEND(readability-function-size) */

static void
registry_free(struct tshmd_registry *reg, struct tshmd_seg *seg)
{
        reg->bytes -= seg->size;
        (void)registry_charge(reg, seg->owner_uid, -1, seg->size, 0);
        registry_run_hooks(reg, seg);
        tshm__free(seg);
}

void
tshmd_registry_unname(struct tshmd_registry *reg, struct tshmd_seg *seg)
{
        if (seg->state == TSHMD_SEG_UNLINKED) {
                return;
        }
        HASH_DEL(reg->by_name, seg);
        reg->segments--;
        (void)registry_charge(reg, seg->owner_uid, -1, 0, 1);
        seg->state = TSHMD_SEG_UNLINKED;
        /* The pages stay in use while a client maps them, so the budget is
         * charged until the last handle closes. */
        if (seg->opens == 0) {
                registry_free(reg, seg);
        }
}

void
tshmd_registry_ref(struct tshmd_registry *reg, struct tshmd_seg *seg)
{
        seg->opens++;
        reg->opens++;
}

void
tshmd_registry_unref(struct tshmd_registry *reg, struct tshmd_seg *seg)
{
        seg->opens--;
        reg->opens--;
        if (seg->opens == 0 && seg->state == TSHMD_SEG_UNLINKED) {
                registry_free(reg, seg);
        }
}

void
tshmd_registry_info(const struct tshmd_seg *seg, tshm_info *info)
{
        memset(info, 0, sizeof(*info));
        memcpy(info->name, seg->name, strlen(seg->name) + 1);
        info->dtype = (tshm_dtype)seg->dtype;
        info->ndim = seg->ndim;
        memcpy(info->shape, seg->shape, seg->ndim * sizeof(uint64_t));
        info->nbytes = seg->nbytes;
        info->size = seg->size;
        info->owner_uid = seg->owner_uid;
        info->owner_gid = seg->owner_gid;
        info->mode = seg->mode;
        info->opens = seg->opens;
        info->created_ns = seg->created_ns;
        info->flags = (seg->flags & TSHM_HDR_FLAG_EPHEMERAL) != 0 ? TSHM_CREATE_EPHEMERAL : 0;
        if ((seg->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM) {
                info->kind = TSHM_KIND_STREAM;
        }
        if ((seg->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_GROUP) {
                info->kind = TSHM_KIND_GROUP;
                info->tensors = seg->group_tensors;
        }
}
