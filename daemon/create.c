/*
 * create.c - the create operation: check the budgets, reserve the name,
 * make the object (on the loop when small, in the thread pool when large),
 * then answer with the descriptor. The one handler that may answer later:
 * it returns TSHMD_PENDING and hands its reply to tshmd_session_complete().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tshmd.h"

#include "sync.h"

#define ERRLEN 256

/* The header of a new segment; an ephemeral one records its creator. */
static int
create_header(struct tshmd_server *srv, const struct tshmd_peer *peer, const struct tshm__req *req,
              const struct tshm__seg_spec *spec, struct tshm__hdr *hdr)
{
        int rv;

        if ((rv = tshm__hdr_init(hdr, spec)) < 0) {
                return rv;
        }
        if ((req->flags & TSHM_PROTO_CREATE_EPHEMERAL) != 0) {
                hdr->flags |= TSHM_HDR_FLAG_EPHEMERAL;
                hdr->creator_pid = (uint32_t)peer->pid;
                hdr->creator_start = tshmd_gc_start_time(peer->pid);
        }
        tshmd_seal(srv->seal_key, hdr);
        return 0;
}

/* A create: the object is made and its pages reserved on the loop when the
 * segment is small, else in the thread pool, because posix_fallocate of a
 * large segment takes a while. */
struct create_work {
        uv_work_t work;
        struct tshmd_server *srv;
        struct tshmd_session *ses;
        struct tshmd_seg *seg;
        uint64_t id;
        struct tshm__hdr hdr;
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        int fd; /* result: a descriptor or an error */
        char err[ERRLEN];
};

static void
create_run(uv_work_t *w)
{
        struct create_work *cw = w->data;

        /* srv->shm is read-only once the loop runs: safe off the loop. */
        cw->fd = tshmd_shm_make(&cw->srv->shm, cw->objname, &cw->hdr, cw->seg->size, cw->err,
                                sizeof(cw->err));
}

/* Segments up to this size are made on the loop: reserving a few pages
 * takes microseconds, less than the thread pool's two context switches. */
#define CREATE_INLINE_MAX ((uint64_t)1024 * 1024)

/* Whether the session removes @seg when it ends: an ephemeral segment, and
 * a group until it is published (ops_group.c untracks it then, unless it
 * is ephemeral too). */
static bool
create_tracked(const struct tshmd_seg *seg)
{
        return (seg->flags & (TSHM_HDR_FLAG_EPHEMERAL | TSHM_HDR_FLAG_UNPUBLISHED)) != 0;
}

/* A create whose reply cannot be sent did not happen: its handle, its
 * ephemeral entry and the segment go (the descriptor goes with the
 * reply). */
static void
create_undo(const struct tshmd_undo *u)
{
        tshmd_session_handle_close(u->srv, u->ses, tshmd_session_handle_find(u->ses, u->handle));
        if (create_tracked(u->seg)) {
                tshmd_session_untrack_ephemeral(u->ses, u->seg);
        }
        (void)tshmd_seg_remove(u->srv, u->seg);
}

/* Register the outcome of a create and decide its reply. When the session
 * went away meanwhile (ses->gone) the reply is dropped by whoever the
 * session belongs to: a persistent segment stays, like a file; an
 * ephemeral one goes now. */
static int
create_finish(struct create_work *cw, struct tshmd_reply *rep)
{
        struct tshmd_server *srv = cw->srv;
        struct tshmd_session *ses = cw->ses;
        struct tshmd_seg *seg = cw->seg;
        bool ephemeral = create_tracked(seg);
        uint64_t handle;
        int rv;

        if (cw->fd < 0) {
                tshmd_log(LOG_WARNING, "create '%s' for pid %d uid %u failed: %s", seg->name,
                          (int)ses->peer.pid, (unsigned)ses->peer.uid, cw->err);
                tshmd_registry_unname(&srv->reg, seg);
                return tshmd_reply_fail(rep, cw->fd, "%s", cw->err);
        }
        seg->state =
            (seg->flags & TSHM_HDR_FLAG_UNPUBLISHED) != 0 ? TSHMD_SEG_UNPUBLISHED : TSHMD_SEG_READY;
        tshmd_log(LOG_INFO, "created '%s' %s, %llu bytes, mode %04o, for pid %d uid %u", seg->name,
                  tshm__dtype_name((tshm_dtype)seg->dtype), (unsigned long long)seg->nbytes,
                  seg->mode, (int)ses->peer.pid, (unsigned)ses->peer.uid);
        if (ses->gone) {
                (void)close(cw->fd);
                if (ephemeral) {
                        (void)tshmd_seg_remove(srv, seg);
                }
                return TSHM_ECONNRESET; /* nobody gets this reply */
        }
        if (ephemeral && (rv = tshmd_session_track_ephemeral(ses, seg)) < 0) {
                goto undo;
        }
        if ((rv = tshmd_session_handle_new(srv, ses, seg, true, &handle)) < 0) {
                goto untrack;
        }
        tshmd_seg_reply(seg, handle, cw->fd, rep);
        rep->undo = (struct tshmd_undo){
            .fn = create_undo, .srv = srv, .ses = ses, .seg = seg, .handle = handle};
        return 0;
        /* The client is told the create failed: then it did not happen, and
         * the name is free again. */
untrack:
        if (ephemeral) {
                tshmd_session_untrack_ephemeral(ses, seg);
        }
undo:
        (void)close(cw->fd);
        (void)tshmd_seg_remove(srv, seg);
        return rv;
}

static void
create_done(uv_work_t *w, int status)
{
        struct create_work *cw = w->data;
        struct tshmd_reply rep;
        int rv;

        (void)status; /* work is never cancelled */
        tshmd_reply_init(&rep, cw->id);
        rv = create_finish(cw, &rep);
        tshmd_session_complete(cw->ses, rv, &rep);
        tshm__free(cw);
}

/* Check a create against the request's flags, the names, the session's
 * handles and the budgets; its size in *ret_size. */
static int
create_admit(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
             const struct tshm__seg_spec *spec, struct tshmd_reply *rep, uint64_t *ret_size)
{
        char err[ERRLEN];
        uint64_t size;
        int rv;

        if ((req->flags & ~(TSHM_PROTO_CREATE_EPHEMERAL | TSHM_PROTO_CREATE_GROUP)) != 0 ||
            ((req->flags & TSHM_PROTO_CREATE_GROUP) != 0 && req->op != TSHM_OP_CREATE)) {
                return tshmd_reply_fail(rep, TSHM_EINVAL, "unknown create flags %#x", req->flags);
        }
        if ((req->flags & TSHM_PROTO_CREATE_GROUP) != 0 &&
            (req->dtype != TSHM_DTYPE_UINT8 || req->ndim != 1)) {
                return tshmd_reply_fail(rep, TSHM_EINVAL,
                                        "a group is made as its bytes: dtype uint8, one dimension");
        }
        if (tshmd_registry_find(&srv->reg, req->name) != NULL) {
                return tshmd_reply_fail(rep, TSHM_EEXIST, "'%s'", req->name);
        }
        if (ses->nhandles >= srv->cfg->max_opens) {
                return tshmd_reply_fail(rep, TSHM_ELIMIT, "open handle limit: %u per connection",
                                        srv->cfg->max_opens);
        }
        if ((rv = tshm__hdr_spec_size(spec, &size)) < 0) {
                return tshmd_reply_fail(rep, rv, "%s", tshm__strerror(rv));
        }
        /* What the object takes, and what the budget is charged. */
        size = tshmd_shmdir_objsize(&srv->shm, size);
        if ((rv = tshmd_registry_admit(&srv->reg, srv->cfg, (uint32_t)ses->peer.uid, size, err,
                                       sizeof(err))) < 0) {
                tshmd_log(LOG_NOTICE, "create '%s' for pid %d uid %u refused: %s", req->name,
                          (int)ses->peer.pid, (unsigned)ses->peer.uid, err);
                return tshmd_reply_fail(rep, rv, "%s", err);
        }
        *ret_size = size;
        return 0;
}

int
tshmd_create(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
             struct tshmd_reply *rep)
{
        /* stream_create is create with a ring: slots and policy set. */
        struct tshm__seg_spec spec = {.dtype = req->dtype,
                                      .ndim = req->ndim,
                                      .slots = req->op == TSHM_OP_STREAM_CREATE ? req->slots : 0,
                                      .policy = req->policy,
                                      .group = (req->flags & TSHM_PROTO_CREATE_GROUP) != 0,
                                      .unpublished = (req->flags & TSHM_PROTO_CREATE_GROUP) != 0};
        struct create_work *cw = NULL;
        uint64_t size = 0; /* set by create_admit(); gcc -O2 cannot tell */
        int rv;

        memcpy(spec.shape, req->shape, sizeof(spec.shape));
        if ((rv = create_admit(srv, ses, req, &spec, rep, &size)) < 0) {
                return rv;
        }
        memcpy(spec.name, req->name, sizeof(spec.name));
        spec.mode = req->mode != 0 ? req->mode : 0600u;
        spec.owner_uid = ses->peer.uid;
        spec.owner_gid = ses->peer.gid;
        spec.created_ns = tshm__real_ns();
        cw = tshm__calloc(1, sizeof(*cw));
        if (cw == NULL) {
                rv = TSHM_ENOMEM;
                goto fail;
        }
        if ((rv = create_header(srv, &ses->peer, req, &spec, &cw->hdr)) < 0 ||
            (rv = tshmd_shm_objname(srv->cfg->shm_prefix, req->name, cw->objname,
                                    sizeof(cw->objname))) < 0 ||
            (rv = tshmd_registry_add(&srv->reg, &cw->hdr, size, TSHMD_SEG_CREATING, &cw->seg)) <
                0) {
                goto fail;
        }
        cw->work.data = cw;
        cw->srv = srv;
        cw->ses = ses;
        cw->id = req->id;
        if (size <= CREATE_INLINE_MAX) {
                create_run(&cw->work);
                rv = create_finish(cw, rep);
                tshm__free(cw);
                return rv;
        }
        if ((rv = uv_queue_work(srv->loop, &cw->work, create_run, create_done)) < 0) {
                tshmd_registry_unname(&srv->reg, cw->seg);
                rv = TSHM_ENOMEM;
                goto fail;
        }
        ses->pending++;
        return TSHMD_PENDING;
fail:
        tshm__free(cw);
        return tshmd_reply_fail(rep, rv, "%s", tshm__strerror(rv));
}
