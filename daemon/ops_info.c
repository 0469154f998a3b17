/*
 * ops_info.c - the handlers that only look: stat, list and daemon_stat, and gc,
 * which looks at what the registry does not know.
 */
#include <string.h>
#include <unistd.h>

#include "tshmd.h"

#include "sync.h"

int
tshmd_ops_stat(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
               struct tshmd_reply *rep)
{
        struct tshmd_seg *seg;

        if ((seg = tshmd_seg_lookup(srv, req->name, rep)) == NULL) {
                return TSHM_ENOENT;
        }
        if (!tshmd_peer_may_see(&ses->peer, seg)) {
                return tshmd_reply_fail(rep, TSHM_EACCES, "'%s': read access denied", seg->name);
        }
        rep->kind = TSHMD_REPLY_STAT;
        tshmd_seg_info(srv, seg, &rep->u.stat.info);
        if (rep->u.stat.info.kind == TSHM_KIND_STREAM) {
                rep->u.stat.has_stream = true;
                tshmd_stream_info(srv, seg, &rep->u.stat.stream);
        }
        return 0;
}

/* Whether @seg belongs in a listing for @peer of the names that start with
 * @prefix (of @plen bytes; 0: every name). */
static bool
ops_info_listed(const struct tshmd_peer *peer, const struct tshmd_seg *seg, const char *prefix,
                size_t plen)
{
        return seg->state == TSHMD_SEG_READY && strncmp(seg->name, prefix, plen) == 0 &&
               tshmd_peer_may_see(peer, seg);
}

int
tshmd_ops_list(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
               struct tshmd_reply *rep)
{
        uint32_t limit = req->limit == 0 || req->limit > TSHM_PROTO_LIST_PAGE ? TSHM_PROTO_LIST_PAGE
                                                                              : req->limit;
        struct tshmd_seg *seg, *first = NULL;
        size_t plen = strlen(req->prefix);
        uint32_t count = 0, i = 0;
        uint64_t next = 0;
        tshm_info *infos = NULL;

        /* Two passes over the page: count, then copy. Segments are in
         * creation order, so the serial of the last one sent resumes the
         * listing even if segments come and go in between. Segments the
         * caller may not read are left out. */
        for (seg = srv->reg.by_name; seg != NULL; seg = seg->hh.next) {
                if (seg->serial <= req->cursor ||
                    !ops_info_listed(&ses->peer, seg, req->prefix, plen)) {
                        continue;
                }
                if (count == limit) {
                        break;
                }
                if (first == NULL) {
                        first = seg;
                }
                count++;
                next = seg->serial;
        }
        if (seg == NULL) {
                next = 0; /* nothing after this page */
        }
        if (count > 0 && (infos = tshm__calloc(count, sizeof(*infos))) == NULL) {
                return TSHM_ENOMEM;
        }
        for (seg = first; i < count && seg != NULL; seg = seg->hh.next) {
                if (ops_info_listed(&ses->peer, seg, req->prefix, plen)) {
                        tshmd_seg_info(srv, seg, &infos[i++]);
                }
        }
        rep->kind = TSHMD_REPLY_LIST;
        rep->u.list.infos = infos;
        rep->u.list.count = count;
        rep->u.list.next = next;
        return 0;
}

int
tshmd_ops_daemon_stat(struct tshmd_server *srv, struct tshmd_session *ses,
                      const struct tshm__req *req, struct tshmd_reply *rep)
{
        tshm_daemon_info st = {
            .segments = srv->reg.segments,
            .bytes = srv->reg.bytes,
            .max_bytes = srv->cfg->max_bytes,
            .clients = srv->nconns,
            .opens = srv->reg.opens,
            .requests = srv->requests,
            .uptime_ns = tshm__mono_ns() - srv->started_ns,
            .shm_free = tshmd_shm_free_bytes(&srv->shm),
            .pid = (uint32_t)getpid(),
            .proto = TSHM_PROTO_VERSION,
        };

        (void)ses;
        (void)req;
        rep->kind = TSHMD_REPLY_DAEMON;
        rep->u.daemon = st;
        return 0;
}

int
tshmd_ops_gc(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
             struct tshmd_reply *rep)
{
        /* Objects the registry does not know have no owner to ask: only the
         * administrator decides about them. */
        if (ses->peer.uid != 0 && ses->peer.uid != geteuid()) {
                return tshmd_reply_fail(rep, TSHM_EACCES, "only root or uid %u may collect garbage",
                                        (unsigned)geteuid());
        }
        rep->kind = TSHMD_REPLY_GC;
        return tshmd_gc_scan(srv, req->remove, &rep->u.gc.items, &rep->u.gc.count);
}
