/*
 * create.c - the create operation: check the budgets, reserve the name,
 * make the object (on the loop when small, in the thread pool when large),
 * then answer with the descriptor.
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
create_header(struct tshmd_conn *c, const struct tshm__req *req, const struct tshm__seg_spec *spec,
              struct tshm__hdr *hdr)
{
        int rv;

        if ((rv = tshm__hdr_init(hdr, spec)) < 0) {
                return rv;
        }
        if ((req->flags & TSHM_CREATE_EPHEMERAL) != 0) {
                hdr->flags |= TSHM_HDR_FLAG_EPHEMERAL;
                hdr->creator_pid = (uint32_t)c->pid;
                hdr->creator_start = tshmd_gc_start_time(c->pid);
        }
        tshmd_seal(c->srv->seal_key, hdr);
        return 0;
}

/* Remember an ephemeral segment on the connection that made it. */
static int
create_track_ephemeral(struct tshmd_conn *c, const struct tshmd_seg *seg)
{
        size_t n = strlen(seg->name) + 1;
        struct tshmd_ephemeral *e = malloc(sizeof(*e) + n);

        if (e == NULL) {
                return TSHM_ENOMEM;
        }
        e->serial = seg->serial;
        memcpy(e->name, seg->name, n);
        e->next = c->ephemerals;
        c->ephemerals = e;
        return 0;
}

/* An off-loop create: the object is made and its pages reserved in the
 * thread pool, because posix_fallocate of a large segment takes a while. */
struct create_work {
        uv_work_t work;
        struct tshmd_conn *conn;
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

        cw->fd = tshmd_shm_make(cw->objname, &cw->hdr, cw->seg->size, cw->err, sizeof(cw->err));
}

/* Segments up to this size are made on the loop: reserving a few pages
 * takes microseconds, less than the thread pool's two context switches. */
#define CREATE_INLINE_MAX (1024u * 1024u)

/* Register the outcome of a create and reply to its connection. */
static void
create_finish(struct create_work *cw)
{
        struct tshmd_conn *c = cw->conn;
        struct tshmd_registry *reg = &c->srv->reg;
        struct tshm__reply_enc e;
        uint64_t handle;
        int rv;

        if (cw->fd < 0) {
                tshmd_log(LOG_WARNING, "create '%s' for pid %d uid %u failed: %s", cw->seg->name,
                          (int)c->pid, (unsigned)c->uid, cw->err);
                tshmd_registry_unname(reg, cw->seg);
                if (tshmd_conn_writable(c)) {
                        tshmd_conn_reply_error(c, cw->id, cw->fd, cw->err);
                }
                return;
        }
        cw->seg->state = TSHMD_SEG_READY;
        tshmd_log(LOG_INFO, "created '%s' %s, %llu bytes, mode %04o, for pid %d uid %u",
                  cw->seg->name, tshm_dtype_name((tshm_dtype)cw->seg->dtype),
                  (unsigned long long)cw->seg->nbytes, cw->seg->mode, (int)c->pid,
                  (unsigned)c->uid);
        if (!tshmd_conn_writable(c) || ((cw->seg->flags & TSHM_HDR_FLAG_EPHEMERAL) != 0 &&
                                        (rv = create_track_ephemeral(c, cw->seg)) < 0)) {
                /* The creator went away (or cannot be followed): a
                 * persistent segment stays, like a file; an ephemeral one
                 * goes now. */
                (void)close(cw->fd);
                if ((cw->seg->flags & TSHM_HDR_FLAG_EPHEMERAL) != 0) {
                        (void)tshmd_ops_remove(c->srv, cw->seg);
                        if (tshmd_conn_writable(c)) {
                                tshmd_conn_reply_error(c, cw->id, TSHM_ENOMEM, NULL);
                        }
                }
                return;
        }
        if ((rv = tshmd_ops_handle_new(c, cw->seg, true, &handle)) < 0) {
                (void)close(cw->fd);
                tshmd_conn_reply_error(c, cw->id, rv, NULL);
                return;
        }
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e,
                       tshm__reply_seg(&e, cw->id, handle, cw->seg->size,
                                       (tshm_dtype)cw->seg->dtype, cw->seg->ndim, cw->seg->shape,
                                       cw->seg->slots, cw->seg->policy),
                       cw->id, cw->fd);
}

static void
create_done(uv_work_t *w, int status)
{
        struct create_work *cw = w->data;
        struct tshmd_conn *c = cw->conn;

        (void)status; /* work is never cancelled */
        create_finish(cw);
        free(cw);
        tshmd_conn_release(c);
}

void
tshmd_ops_create(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_server *srv = c->srv;
        /* stream_create is create with a ring: slots and policy set. */
        struct tshm__seg_spec spec = {.dtype = req->dtype,
                                      .ndim = req->ndim,
                                      .slots = req->op == TSHM_OP_STREAM_CREATE ? req->slots : 0,
                                      .policy = req->policy};
        struct create_work *cw = NULL;
        char err[ERRLEN];
        uint64_t size;
        int rv;

        if ((req->flags & ~TSHM_CREATE_EPHEMERAL) != 0) {
                tshmd_ops_fail(c, req->id, TSHM_EINVAL, "unknown create flags %#x", req->flags);
                return;
        }
        if (tshmd_registry_find(&srv->reg, req->name) != NULL) {
                tshmd_ops_fail(c, req->id, TSHM_EEXIST, "'%s'", req->name);
                return;
        }
        if (c->nhandles >= srv->cfg->max_opens) {
                tshmd_ops_fail(c, req->id, TSHM_ELIMIT, "open handle limit: %u per connection",
                               srv->cfg->max_opens);
                return;
        }
        memcpy(spec.shape, req->shape, sizeof(spec.shape));
        if ((rv = tshm__hdr_spec_size(&spec, &size)) < 0) {
                tshmd_ops_fail(c, req->id, rv, "%s", tshm_strerror(rv));
                return;
        }
        if ((rv = tshmd_registry_admit(&srv->reg, srv->cfg, (uint32_t)c->uid, size, err,
                                       sizeof(err))) < 0) {
                tshmd_log(LOG_NOTICE, "create '%s' for pid %d uid %u refused: %s", req->name,
                          (int)c->pid, (unsigned)c->uid, err);
                tshmd_conn_reply_error(c, req->id, rv, err);
                return;
        }
        memcpy(spec.name, req->name, sizeof(spec.name));
        spec.mode = req->mode != 0 ? req->mode : 0600u;
        spec.owner_uid = c->uid;
        spec.owner_gid = c->gid;
        spec.created_ns = tshm__real_ns();
        cw = calloc(1, sizeof(*cw));
        if (cw == NULL) {
                rv = TSHM_ENOMEM;
                goto fail;
        }
        if ((rv = create_header(c, req, &spec, &cw->hdr)) < 0 ||
            (rv = tshmd_shm_objname(srv->cfg->shm_prefix, req->name, cw->objname,
                                    sizeof(cw->objname))) < 0 ||
            (rv = tshmd_registry_add(&srv->reg, &cw->hdr, size, TSHMD_SEG_CREATING, &cw->seg)) <
                0) {
                goto fail;
        }
        cw->work.data = cw;
        cw->conn = c;
        cw->id = req->id;
        if (size <= CREATE_INLINE_MAX) {
                create_run(&cw->work);
                create_finish(cw);
                free(cw);
                return;
        }
        if ((rv = uv_queue_work(srv->loop, &cw->work, create_run, create_done)) < 0) {
                tshmd_registry_unname(&srv->reg, cw->seg);
                rv = TSHM_ENOMEM;
                goto fail;
        }
        c->pending++;
        return;
fail:
        free(cw);
        tshmd_ops_fail(c, req->id, rv, "%s", tshm_strerror(rv));
}
