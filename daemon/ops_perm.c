/*
 * ops_perm.c - the handlers that change who may use a segment: chmod and
 * chown.
 */
#include <stdio.h>
#include <syslog.h>

#include "tshmd.h"

#define ERRLEN 256

/* The owner (or root) changes a segment's rights. Like chown(2), only root
 * gives a segment away; the owner may pick any group it belongs to. */
static int
ops_perm_may(const struct tshmd_peer *peer, const struct tshmd_seg *seg,
             const struct tshm__req *req, char *err, size_t errlen)
{
        if (peer->uid == 0) {
                return 0;
        }
        if (peer->uid != seg->owner_uid) {
                if (tshmd_peer_may_see(peer, seg)) {
                        snprintf(err, errlen, "only the owner (uid %u) may change '%s'",
                                 seg->owner_uid, seg->name);
                } else {
                        snprintf(err, errlen, "only the owner may change '%s'", seg->name);
                }
                return TSHM_EACCES;
        }
        if (req->op == TSHM_OP_CHOWN && req->owner != TSHM_ID_UNCHANGED &&
            req->owner != peer->uid) {
                snprintf(err, errlen, "only root may give '%s' to another user", seg->name);
                return TSHM_EACCES;
        }
        if (req->op == TSHM_OP_CHOWN && req->group != TSHM_ID_UNCHANGED &&
            !tshmd_peer_in_group(peer, req->group)) {
                snprintf(err, errlen, "uid %u is not in group %u", (unsigned)peer->uid, req->group);
                return TSHM_EACCES;
        }
        return 0;
}

/* Write a header with the new rights, sealed, before the registry takes
 * them: a restart then adopts exactly what was granted. */
static int
ops_perm_write(struct tshmd_server *srv, const struct tshmd_seg *seg, uint32_t mode, uint32_t uid,
               uint32_t gid)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshmd_seg next = *seg;
        struct tshm__hdr hdr;

        next.mode = mode;
        next.owner_uid = uid;
        next.owner_gid = gid;
        tshmd_seal_header_of(&next, srv->seal_key, &hdr);
        tshmd_seg_objname(srv, seg, objname, sizeof(objname));
        return tshmd_shm_write_header(&srv->shm, objname, &hdr);
}

/* chmod and chown: the same checks and the same header write; @req's op
 * says which fields change. */
static int
ops_perm_change(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                struct tshmd_reply *rep)
{
        const struct tshmd_peer *peer = &ses->peer;
        char err[ERRLEN];
        uint32_t mode, uid, gid;
        struct tshmd_seg *seg;
        int rv;

        if ((seg = tshmd_seg_lookup(srv, req->name, rep)) == NULL) {
                return TSHM_ENOENT;
        }
        if ((rv = ops_perm_may(peer, seg, req, err, sizeof(err))) < 0) {
                tshmd_log(LOG_WARNING, "%s '%s' denied to pid %d uid %u", tshm__op_name(req->op),
                          seg->name, (int)peer->pid, (unsigned)peer->uid);
                return tshmd_reply_fail(rep, rv, "%s", err);
        }
        mode = req->op == TSHM_OP_CHMOD ? req->mode : seg->mode;
        uid = req->op == TSHM_OP_CHOWN && req->owner != TSHM_ID_UNCHANGED ? req->owner
                                                                          : seg->owner_uid;
        gid = req->op == TSHM_OP_CHOWN && req->group != TSHM_ID_UNCHANGED ? req->group
                                                                          : seg->owner_gid;
        if ((rv = ops_perm_write(srv, seg, mode, uid, gid)) < 0) {
                return tshmd_reply_fail(rep, rv, "cannot update the header of '%s': %s", seg->name,
                                        tshm__strerror(rv));
        }
        tshmd_log(LOG_INFO, "%s '%s': mode %04o owner %u group %u, for pid %d uid %u",
                  tshm__op_name(req->op), seg->name, mode, uid, gid, (int)peer->pid,
                  (unsigned)peer->uid);
        if ((rv = tshmd_registry_set_owner(&srv->reg, seg, uid)) < 0) {
                return tshmd_reply_fail(rep, rv, "%s", tshm__strerror(rv));
        }
        seg->mode = mode;
        seg->owner_gid = gid;
        rep->kind = TSHMD_REPLY_EMPTY;
        return 0;
}

int
tshmd_ops_chmod(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                struct tshmd_reply *rep)
{
        return ops_perm_change(srv, ses, req, rep);
}

int
tshmd_ops_chown(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                struct tshmd_reply *rep)
{
        return ops_perm_change(srv, ses, req, rep);
}
