/*
 * seg.c - what is done to a segment beyond the registry's books: its shm
 * object's name, its removal (waiters told, size still guarded while
 * mapped, object unlinked, name released) and the header check before a
 * descriptor is handed out. Shared by the handlers and by the end of a
 * session (ephemeral segments).
 */
#include <errno.h>
#include <syslog.h>

#include "tshmd.h"

struct tshmd_seg *
tshmd_seg_lookup(struct tshmd_server *srv, const char *name, struct tshmd_reply *rep)
{
        struct tshmd_seg *seg = tshmd_registry_find(&srv->reg, name);

        if (seg == NULL || seg->state != TSHMD_SEG_READY) {
                (void)tshmd_reply_fail(rep, TSHM_ENOENT, "'%s'", name);
                return NULL;
        }
        return seg;
}

void
tshmd_seg_reply(const struct tshmd_seg *seg, uint64_t handle, int fd, struct tshmd_reply *rep)
{
        uint32_t i;

        rep->kind = TSHMD_REPLY_SEG;
        rep->u.seg.handle = handle;
        rep->u.seg.size = seg->size;
        rep->u.seg.dtype = (tshm_dtype)seg->dtype;
        rep->u.seg.ndim = seg->ndim;
        for (i = 0; i < seg->ndim && i < TSHM_MAX_NDIM; i++) {
                rep->u.seg.shape[i] = seg->shape[i];
        }
        rep->u.seg.slots = seg->slots;
        rep->u.seg.policy = seg->policy;
        rep->u.seg.kind = seg->flags & TSHM_HDR_KIND_MASK;
        rep->fd = fd;
}

void
tshmd_seg_objname(const struct tshmd_server *srv, const struct tshmd_seg *seg, char *out,
                  size_t outlen)
{
        /* A registered name always fits: TSHM_NAME_MAX and the prefix limit
         * size every caller's buffer. */
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, out, outlen);
}

void
tshmd_seg_info(const struct tshmd_server *srv, const struct tshmd_seg *seg, tshm_info *info)
{
        tshmd_registry_info(seg, info);
        tshmd_shmdir_describe(&srv->shm, seg->size, &info->backing, &info->page_size);
}

int
tshmd_seg_remove(struct tshmd_server *srv, struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        int rv;

        tshmd_seg_objname(srv, seg, objname, sizeof(objname));
        /* Waiters learn that nothing more will be published. If the unlink
         * then fails the flag stays: the segment is being removed anyway. */
        tshmd_sync_unlinked(&srv->shm, objname);
        if (seg->opens > 0) {
                /* Still mapped: its size stays guarded without the name. */
                tshmd_guard_keep(srv, seg, objname);
        }
        if ((rv = tshmd_shm_unlink(&srv->shm, objname)) < 0 && rv != -ENOENT) {
                tshmd_log(LOG_ERR, "cannot unlink %s: %s", objname, tshm__strerror(rv));
                tshmd_guard_forget(seg);
                return rv;
        }
        tshmd_registry_unname(&srv->reg, seg);
        return 0;
}

void
tshmd_seg_check_header(struct tshmd_server *srv, const struct tshmd_seg *seg, int fd)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshm__hdr want;
        int rv;

        tshmd_seal_header_of(seg, srv->seal_key, &want);
        if (tshmd_shm_header_intact(fd, &want)) {
                return;
        }
        tshmd_seg_objname(srv, seg, objname, sizeof(objname));
        rv = tshmd_shm_write_header(&srv->shm, objname, &want);
        tshmd_log(LOG_WARNING, "the header of '%s' was changed by a client; %s", seg->name,
                  rv == 0 ? "repaired" : "cannot repair it");
}

bool
tshmd_seg_is_group(const struct tshmd_seg *seg)
{
        return (seg->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_GROUP;
}

bool
tshmd_seg_unpublished(const struct tshmd_seg *seg)
{
        return seg->state == TSHMD_SEG_UNPUBLISHED;
}
