/*
 * ops_seg.c - the handlers of a segment's life through its name: open,
 * close and unlink (create is create.c's).
 */
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

static int
ops_seg_open_denied(const struct tshmd_session *ses, const struct tshmd_seg *seg,
                    const struct tshm__req *req, struct tshmd_reply *rep)
{
        const char *what = req->writable ? "read-write" : "read";

        tshmd_log(LOG_WARNING, "open '%s' %s denied to pid %d uid %u (mode %04o)", seg->name,
                  req->writable ? "read-write" : "read-only", (int)ses->peer.pid,
                  (unsigned)ses->peer.uid, seg->mode);
        /* The mode and owner only for those who may see them. */
        if (tshmd_peer_may_see(&ses->peer, seg)) {
                return tshmd_reply_fail(rep, TSHM_EACCES,
                                        "'%s' is mode %04o, owner %u: %s access denied", seg->name,
                                        seg->mode, seg->owner_uid, what);
        }
        return tshmd_reply_fail(rep, TSHM_EACCES, "'%s': %s access denied", seg->name, what);
}

/* No reply, no handle: the client never learns its id. */
static void
ops_seg_undo_open(const struct tshmd_undo *u)
{
        tshmd_session_handle_close(u->srv, u->ses, tshmd_session_handle_find(u->ses, u->handle));
}

int
tshmd_ops_open(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
               struct tshmd_reply *rep)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshmd_seg *seg;
        uint64_t handle;
        int fd, rv;

        if ((seg = tshmd_seg_lookup(srv, req->name, rep)) == NULL) {
                return TSHM_ENOENT;
        }
        if (!tshmd_peer_may(&ses->peer, seg, req->writable ? 6u : 4u)) {
                return ops_seg_open_denied(ses, seg, req, rep);
        }
        if (ses->nhandles >= srv->cfg->max_opens) {
                return tshmd_reply_fail(rep, TSHM_ELIMIT, "open handle limit: %u per connection",
                                        srv->cfg->max_opens);
        }
        tshmd_seg_objname(srv, seg, objname, sizeof(objname));
        fd = tshmd_shm_open(&srv->shm, objname, req->writable, seg->size);
        if (fd < 0) {
                tshmd_log(LOG_ERR, "cannot open the object of '%s': %s", seg->name,
                          tshm__strerror(fd));
                return tshmd_reply_fail(rep, fd, "the object of '%s' cannot be opened: %s",
                                        seg->name, tshm__strerror(fd));
        }
        tshmd_seg_check_header(srv, seg, fd);
        if ((rv = tshmd_session_handle_new(srv, ses, seg, req->writable, &handle)) < 0) {
                (void)close(fd);
                return tshmd_reply_fail(rep, rv, "%s", tshm__strerror(rv));
        }
        tshmd_seg_reply(seg, handle, fd, rep);
        rep->undo =
            (struct tshmd_undo){.fn = ops_seg_undo_open, .srv = srv, .ses = ses, .handle = handle};
        return 0;
}

int
tshmd_ops_close(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                struct tshmd_reply *rep)
{
        struct tshmd_handle *h = tshmd_session_handle_find(ses, req->handle);
        struct tshmd_seg *seg;
        bool unpublished;

        if (h == NULL) {
                return tshmd_reply_fail(rep, TSHM_EBADF, "no open handle %llu on this connection",
                                        (unsigned long long)req->handle);
        }
        seg = h->seg;
        /* Asked before the handle goes: closing the last handle of an
         * unlinked segment frees it. An unpublished group stays named in the
         * registry, which keeps it. */
        unpublished = tshmd_seg_unpublished(seg);
        tshmd_session_handle_close(srv, ses, h);
        /* Only its creator holds a handle on an unpublished group: the
         * group goes with it, never published. */
        if (unpublished) {
                tshmd_log(LOG_INFO, "unpublished group '%s' removed: its creator closed it",
                          seg->name);
                tshmd_session_untrack_ephemeral(ses, seg);
                (void)tshmd_seg_remove(srv, seg);
        }
        rep->kind = TSHMD_REPLY_EMPTY;
        return 0;
}

int
tshmd_ops_unlink(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                 struct tshmd_reply *rep)
{
        struct tshmd_seg *seg;
        int rv;

        if ((seg = tshmd_seg_lookup(srv, req->name, rep)) == NULL) {
                return TSHM_ENOENT;
        }
        if (ses->peer.uid != 0 && ses->peer.uid != seg->owner_uid) {
                tshmd_log(LOG_WARNING, "unlink '%s' denied to pid %d uid %u (owner %u)", seg->name,
                          (int)ses->peer.pid, (unsigned)ses->peer.uid, seg->owner_uid);
                /* The owner only for those who may see it. */
                if (tshmd_peer_may_see(&ses->peer, seg)) {
                        return tshmd_reply_fail(rep, TSHM_EACCES,
                                                "only the owner (uid %u) may unlink '%s'",
                                                seg->owner_uid, seg->name);
                }
                return tshmd_reply_fail(rep, TSHM_EACCES, "only the owner may unlink '%s'",
                                        seg->name);
        }
        tshmd_log(LOG_INFO, "unlink '%s' for pid %d uid %u (%u still open)", seg->name,
                  (int)ses->peer.pid, (unsigned)ses->peer.uid, seg->opens);
        if ((rv = tshmd_seg_remove(srv, seg)) < 0) {
                return tshmd_reply_fail(rep, rv, "cannot remove the object of '%s': %s", seg->name,
                                        tshm__strerror(rv));
        }
        rep->kind = TSHMD_REPLY_EMPTY;
        return 0;
}
