/*
 * ops_mirror.c - the mirror handlers: start and stop a mirror (op mirror)
 * and list them (op mirrors). The rights are checked here, on the
 * requester's credentials, before the peer thread (peer.h) is asked to act:
 * the peer thread itself connects with root's rights (conn.c).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tshmd.h"

#include "peer.h"

/* Whether @peer may stop any mirror of @seg (NULL: the segment is gone):
 * root, the daemon's own user, or the segment's owner. Other readers may
 * stop the mirrors they started (peer_table.c). */
static bool
mirror_may_stop_any(const struct tshmd_peer *peer, const struct tshmd_seg *seg)
{
        return peer->uid == 0 || peer->uid == geteuid() ||
               (seg != NULL && seg->owner_uid == peer->uid);
}

static int
mirror_stop(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
            struct tshmd_reply *rep)
{
        struct tshmd_seg *seg = tshmd_registry_find(&srv->reg, req->name);

        if (seg != NULL && seg->state != TSHMD_SEG_READY) {
                seg = NULL;
        }
        bool any = mirror_may_stop_any(&ses->peer, seg);

        if (!any && (seg == NULL || !tshmd_peer_may(&ses->peer, seg, 4))) {
                return tshmd_reply_fail(
                    rep, seg == NULL ? TSHM_ENOENT : TSHM_EACCES,
                    seg == NULL ? "'%s': no such segment" : "'%s': read access denied", req->name);
        }
        return tshmd_peer_mirror_remove(srv, &ses->peer, any, req->name, rep->msg,
                                        sizeof(rep->msg));
}

int
tshmd_ops_mirror(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                 struct tshmd_reply *rep)
{
        struct tshmd_seg *seg;

        rep->kind = TSHMD_REPLY_EMPTY;
        if (req->stop) {
                return mirror_stop(srv, ses, req, rep);
        }
        /* Only a segment that is named and published can be mirrored: a
         * group still being filled is not there yet for anyone. */
        if ((seg = tshmd_seg_lookup(srv, req->name, rep)) == NULL) {
                return TSHM_ENOENT;
        }
        if (!tshmd_peer_may(&ses->peer, seg, 4)) {
                return tshmd_reply_fail(rep, TSHM_EACCES,
                                        "'%s': read access denied (a mirror needs it)", seg->name);
        }
        return tshmd_peer_mirror_add(srv, &ses->peer, seg->name, req->peer,
                                     req->remote[0] != '\0' ? req->remote : seg->name, rep->msg,
                                     sizeof(rep->msg));
}

/* Whether @m belongs in @peer's listing: its local segment exists and
 * @peer may see it. */
static bool
mirror_listed(struct tshmd_server *srv, const struct tshmd_peer *peer, const tshm_mirror_info *m)
{
        struct tshmd_seg *seg = tshmd_registry_find(&srv->reg, m->name);

        return seg != NULL && seg->state == TSHMD_SEG_READY && tshmd_peer_may_see(peer, seg);
}

int
tshmd_ops_mirrors(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                  struct tshmd_reply *rep)
{
        tshm_mirror_info *all = NULL, *out = NULL;
        size_t n = 0, i, count = 0;
        int rv;

        (void)req;
        if ((rv = tshmd_peer_mirror_snapshot(srv, &all, &n)) < 0) {
                return rv;
        }
        for (i = 0; i < n; i++) {
                count += mirror_listed(srv, &ses->peer, &all[i]);
        }
        /* The snapshot is peer_table.c's (free()); the reply's array is ours
         * (tshm__free() in tshmd_reply_dispose()), so copy what is listed.
         * The count fits a reply: the peer thread bounds its mirrors. */
        if (count > 0 && (out = tshm__calloc(count, sizeof(*out))) == NULL) {
                rv = TSHM_ENOMEM;
                goto out;
        }
        count = 0;
        for (i = 0; i < n; i++) {
                if (mirror_listed(srv, &ses->peer, &all[i])) {
                        out[count++] = all[i];
                }
        }
        rep->kind = TSHMD_REPLY_MIRRORS;
        rep->u.mirrors.items = out;
        rep->u.mirrors.count = (uint32_t)count;
out:
        free(all);
        return rv;
}
