/*
 * ops.c - one handler per protocol operation (PROTOCOL.md). Each handler
 * checks the caller's rights with the credentials the kernel gave at accept,
 * never with anything in the message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tshmd.h"

#include "sync.h"

#define ERRLEN 256

/* Permission bits: r = 4, w = 2, as for files: the owner class if the uid
 * matches, else the group class if any of the client's groups matches, else
 * the others. Root may do anything. */
static bool
ops_may(const struct tshmd_conn *c, const struct tshmd_seg *seg, unsigned want)
{
        unsigned bits;

        if (c->uid == 0) {
                return true;
        }
        if (c->uid == seg->owner_uid) {
                bits = (seg->mode >> 6) & 7u;
        } else if (tshmd_conn_in_group(c, seg->owner_gid)) {
                bits = (seg->mode >> 3) & 7u;
        } else {
                bits = seg->mode & 7u;
        }
        return (bits & want) == want;
}

/* A segment's metadata (shape, owner, mode, opens, a stream's activity) is
 * shown only to those who may read it, as a directory listing would not
 * show what a user cannot read: the same rule as open's. */
static bool
ops_may_see(const struct tshmd_conn *c, const struct tshmd_seg *seg)
{
        return ops_may(c, seg, 4u);
}

/* Queue the frame an encoder built, or an out-of-memory error. */
void
tshmd_ops_send(struct tshmd_conn *c, struct tshm__reply_enc *e, int rv, uint64_t id, int fd)
{
        if (rv == 0) {
                size_t len = e->sbuf.size;
                rv = tshmd_conn_queue(c, (uint8_t *)msgpack_sbuffer_release(&e->sbuf), len, fd);
                fd = -1;
        }
        if (fd >= 0) {
                (void)close(fd);
        }
        tshm__reply_enc_done(e);
        if (rv < 0) {
                tshmd_conn_reply_error(c, id, rv, NULL);
        }
}

void
tshmd_ops_fail(struct tshmd_conn *c, uint64_t id, int status, const char *fmt, ...)
{
        char msg[ERRLEN + 64];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        tshmd_conn_reply_error(c, id, status, msg);
}

static struct tshmd_seg *
ops_lookup(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_seg *seg = tshmd_registry_find(&c->srv->reg, req->name);

        if (seg == NULL || seg->state != TSHMD_SEG_READY) {
                tshmd_ops_fail(c, req->id, TSHM_ENOENT, "'%s'", req->name);
                return NULL;
        }
        return seg;
}

/* Register a new handle for @seg on @c. */
int
tshmd_ops_handle_new(struct tshmd_conn *c, struct tshmd_seg *seg, bool writable, uint64_t *ret_id)
{
        struct tshmd_handle *h = calloc(1, sizeof(*h));

        if (h == NULL) {
                return TSHM_ENOMEM;
        }
        h->id = c->next_handle++;
        h->seg = seg;
        h->writable = writable;
        tshmd_hash_oom = 0;
        HASH_ADD(hh, c->handles, id, sizeof(h->id), h);
        if (tshmd_hash_oom) {
                free(h);
                return TSHM_ENOMEM;
        }
        c->nhandles++;
        tshmd_registry_ref(&c->srv->reg, seg);
        *ret_id = h->id;
        return 0;
}

static void
ops_hello(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshm__reply_enc e;

        if (req->version < TSHM_PROTO_VERSION_MIN || req->version > TSHM_PROTO_VERSION) {
                tshmd_ops_fail(c, req->id, TSHM_EVERSION,
                               "this daemon speaks protocol %u to %u, not %u",
                               TSHM_PROTO_VERSION_MIN, TSHM_PROTO_VERSION, req->version);
                c->close_on_drain = true;
                return;
        }
        c->hello = true;
        /* Version 1 clients get the same replies: the geometry version 2
         * added is keys they ignore. The answer is the version asked. */
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e, tshm__reply_hello(&e, req->id, req->version), req->id, -1);
}

/* Before handing a segment out, make sure its header says what the registry
 * does: a writer may have scribbled on it. */
static void
ops_check_header(struct tshmd_conn *c, const struct tshmd_seg *seg, int fd, const char *objname)
{
        struct tshm__hdr want;
        int rv;

        tshmd_seal_header_of(seg, c->srv->seal_key, &want);
        if (tshmd_shm_header_intact(fd, &want)) {
                return;
        }
        rv = tshmd_shm_write_header(objname, &want);
        tshmd_log(LOG_WARNING, "the header of '%s' was changed by a client; %s", seg->name,
                  rv == 0 ? "repaired" : "cannot repair it");
}

static void
ops_open(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_server *srv = c->srv;
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshm__reply_enc e;
        struct tshmd_seg *seg;
        uint64_t handle;
        int fd, rv;

        if ((seg = ops_lookup(c, req)) == NULL) {
                return;
        }
        if (!ops_may(c, seg, req->writable ? 6u : 4u)) {
                tshmd_log(LOG_WARNING, "open '%s' %s denied to pid %d uid %u (mode %04o)",
                          seg->name, req->writable ? "read-write" : "read-only", (int)c->pid,
                          (unsigned)c->uid, seg->mode);
                /* The mode and owner only for those who may see them. */
                if (ops_may_see(c, seg)) {
                        tshmd_ops_fail(c, req->id, TSHM_EACCES,
                                       "'%s' is mode %04o, owner %u: %s access denied", seg->name,
                                       seg->mode, seg->owner_uid,
                                       req->writable ? "read-write" : "read");
                } else {
                        tshmd_ops_fail(c, req->id, TSHM_EACCES, "'%s': %s access denied", seg->name,
                                       req->writable ? "read-write" : "read");
                }
                return;
        }
        if (c->nhandles >= srv->cfg->max_opens) {
                tshmd_ops_fail(c, req->id, TSHM_ELIMIT, "open handle limit: %u per connection",
                               srv->cfg->max_opens);
                return;
        }
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        fd = tshmd_shm_open(objname, req->writable, seg->size);
        if (fd < 0) {
                tshmd_log(LOG_ERR, "cannot open the object of '%s': %s", seg->name,
                          tshm_strerror(fd));
                tshmd_ops_fail(c, req->id, fd, "the object of '%s' cannot be opened: %s", seg->name,
                               tshm_strerror(fd));
                return;
        }
        ops_check_header(c, seg, fd, objname);
        if ((rv = tshmd_ops_handle_new(c, seg, req->writable, &handle)) < 0) {
                (void)close(fd);
                tshmd_ops_fail(c, req->id, rv, "%s", tshm_strerror(rv));
                return;
        }
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e,
                       tshm__reply_seg(&e, req->id, handle, seg->size, (tshm_dtype)seg->dtype,
                                       seg->ndim, seg->shape, seg->slots, seg->policy),
                       req->id, fd);
}

static void
ops_close(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_handle *h = NULL;
        struct tshm__reply_enc e;

        HASH_FIND(hh, c->handles, &req->handle, sizeof(req->handle), h);
        if (h == NULL) {
                tshmd_ops_fail(c, req->id, TSHM_EBADF, "no open handle %llu on this connection",
                               (unsigned long long)req->handle);
                return;
        }
        HASH_DEL(c->handles, h);
        c->nhandles--;
        tshmd_stream_leave(h);
        tshmd_registry_unref(&c->srv->reg, h->seg);
        free(h);
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e, tshm__reply_empty(&e, req->id), req->id, -1);
}

int
tshmd_ops_remove(struct tshmd_server *srv, struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        int rv;

        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        /* Waiters learn that nothing more will be published. If the unlink
         * then fails the flag stays: the segment is being removed anyway. */
        tshmd_sync_unlinked(objname);
        if (seg->opens > 0) {
                /* Still mapped: its size stays guarded without the name. */
                tshmd_guard_keep(srv, seg, objname);
        }
        if ((rv = tshmd_shm_unlink(objname)) < 0 && rv != -ENOENT) {
                tshmd_log(LOG_ERR, "cannot unlink %s: %s", objname, tshm_strerror(rv));
                tshmd_guard_forget(seg);
                return rv;
        }
        tshmd_registry_unname(&srv->reg, seg);
        return 0;
}

static void
ops_unlink(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_server *srv = c->srv;
        struct tshm__reply_enc e;
        struct tshmd_seg *seg;
        int rv;

        if ((seg = ops_lookup(c, req)) == NULL) {
                return;
        }
        if (c->uid != 0 && c->uid != seg->owner_uid) {
                tshmd_log(LOG_WARNING, "unlink '%s' denied to pid %d uid %u (owner %u)", seg->name,
                          (int)c->pid, (unsigned)c->uid, seg->owner_uid);
                /* The owner only for those who may see it (ops_may_see). */
                if (ops_may_see(c, seg)) {
                        tshmd_ops_fail(c, req->id, TSHM_EACCES,
                                       "only the owner (uid %u) may unlink '%s'", seg->owner_uid,
                                       seg->name);
                } else {
                        tshmd_ops_fail(c, req->id, TSHM_EACCES, "only the owner may unlink '%s'",
                                       seg->name);
                }
                return;
        }
        tshmd_log(LOG_INFO, "unlink '%s' for pid %d uid %u (%u still open)", seg->name, (int)c->pid,
                  (unsigned)c->uid, seg->opens);
        if ((rv = tshmd_ops_remove(srv, seg)) < 0) {
                tshmd_ops_fail(c, req->id, rv, "cannot remove the object of '%s': %s", seg->name,
                               tshm_strerror(rv));
                return;
        }
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e, tshm__reply_empty(&e, req->id), req->id, -1);
}

/* The owner (or root) changes a segment's rights. Like chown(2), only root
 * gives a segment away; the owner may pick any group it belongs to. */
static int
ops_may_chown(const struct tshmd_conn *c, const struct tshmd_seg *seg, const struct tshm__req *req,
              char *err, size_t errlen)
{
        if (c->uid == 0) {
                return 0;
        }
        if (c->uid != seg->owner_uid) {
                if (ops_may_see(c, seg)) {
                        snprintf(err, errlen, "only the owner (uid %u) may change '%s'",
                                 seg->owner_uid, seg->name);
                } else {
                        snprintf(err, errlen, "only the owner may change '%s'", seg->name);
                }
                return TSHM_EACCES;
        }
        if (req->op == TSHM_OP_CHOWN && req->owner != TSHM_ID_UNCHANGED && req->owner != c->uid) {
                snprintf(err, errlen, "only root may give '%s' to another user", seg->name);
                return TSHM_EACCES;
        }
        if (req->op == TSHM_OP_CHOWN && req->group != TSHM_ID_UNCHANGED &&
            !tshmd_conn_in_group(c, req->group)) {
                snprintf(err, errlen, "uid %u is not in group %u", (unsigned)c->uid, req->group);
                return TSHM_EACCES;
        }
        return 0;
}

/* Write a header with the new rights, sealed, before the registry takes
 * them: a restart then adopts exactly what was granted. */
static int
ops_write_owner(struct tshmd_server *srv, const struct tshmd_seg *seg, uint32_t mode, uint32_t uid,
                uint32_t gid, const char *objname)
{
        struct tshmd_seg next = *seg;
        struct tshm__hdr hdr;

        next.mode = mode;
        next.owner_uid = uid;
        next.owner_gid = gid;
        tshmd_seal_header_of(&next, srv->seal_key, &hdr);
        return tshmd_shm_write_header(objname, &hdr);
}

static void
ops_chown(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_server *srv = c->srv;
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4], err[ERRLEN];
        uint32_t mode, uid, gid;
        struct tshm__reply_enc e;
        struct tshmd_seg *seg;
        int rv;

        if ((seg = ops_lookup(c, req)) == NULL) {
                return;
        }
        if ((rv = ops_may_chown(c, seg, req, err, sizeof(err))) < 0) {
                tshmd_log(LOG_WARNING, "%s '%s' denied to pid %d uid %u", tshm__op_name(req->op),
                          seg->name, (int)c->pid, (unsigned)c->uid);
                tshmd_conn_reply_error(c, req->id, rv, err);
                return;
        }
        mode = req->op == TSHM_OP_CHMOD ? req->mode : seg->mode;
        uid = req->op == TSHM_OP_CHOWN && req->owner != TSHM_ID_UNCHANGED ? req->owner
                                                                          : seg->owner_uid;
        gid = req->op == TSHM_OP_CHOWN && req->group != TSHM_ID_UNCHANGED ? req->group
                                                                          : seg->owner_gid;
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        if ((rv = ops_write_owner(srv, seg, mode, uid, gid, objname)) < 0) {
                tshmd_ops_fail(c, req->id, rv, "cannot update the header of '%s': %s", seg->name,
                               tshm_strerror(rv));
                return;
        }
        tshmd_log(LOG_INFO, "%s '%s': mode %04o owner %u group %u, for pid %d uid %u",
                  tshm__op_name(req->op), seg->name, mode, uid, gid, (int)c->pid, (unsigned)c->uid);
        if ((rv = tshmd_registry_set_owner(&srv->reg, seg, uid)) < 0) {
                tshmd_ops_fail(c, req->id, rv, "%s", tshm_strerror(rv));
                return;
        }
        seg->mode = mode;
        seg->owner_gid = gid;
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e, tshm__reply_empty(&e, req->id), req->id, -1);
}

static void
ops_gc(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshm__reply_enc e;

        /* Objects the registry does not know have no owner to ask: only the
         * administrator decides about them. */
        if (c->uid != 0 && c->uid != geteuid()) {
                tshmd_ops_fail(c, req->id, TSHM_EACCES, "only root or uid %u may collect garbage",
                               (unsigned)geteuid());
                return;
        }
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e, tshmd_gc_scan(c->srv, req->remove, &e, req->id), req->id, -1);
}

static void
ops_stat(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshm__reply_enc e;
        struct tshmd_seg *seg;
        tshm_info info;

        if ((seg = ops_lookup(c, req)) == NULL) {
                return;
        }
        if (!ops_may_see(c, seg)) {
                tshmd_ops_fail(c, req->id, TSHM_EACCES, "'%s': read access denied", seg->name);
                return;
        }
        tshmd_registry_info(seg, &info);
        tshm__reply_enc_init(&e);
        if (info.kind == TSHM_KIND_STREAM) {
                tshm_stream_info st;

                tshmd_stream_info(c->srv, seg, &st);
                tshmd_ops_send(c, &e, tshm__reply_stat_stream(&e, req->id, &info, &st), req->id,
                               -1);
                return;
        }
        tshmd_ops_send(c, &e, tshm__reply_stat(&e, req->id, &info), req->id, -1);
}

static void
ops_list(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_registry *reg = &c->srv->reg;
        uint32_t limit = req->limit == 0 || req->limit > TSHM_PROTO_LIST_PAGE ? TSHM_PROTO_LIST_PAGE
                                                                              : req->limit;
        struct tshmd_seg *seg, *first = NULL;
        struct tshm__reply_enc e;
        uint32_t count = 0;
        uint64_t next = 0;
        tshm_info info;
        int rv;

        /* Two passes over the page: count, then encode. Segments are in
         * creation order, so the serial of the last one sent resumes the
         * listing even if segments come and go in between. Segments the
         * caller may not read are left out. */
        for (seg = reg->by_name; seg != NULL; seg = seg->hh.next) {
                if (seg->serial <= req->cursor || seg->state != TSHMD_SEG_READY ||
                    !ops_may_see(c, seg)) {
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
        tshm__reply_enc_init(&e);
        rv = tshm__reply_list_begin(&e, req->id, count);
        for (seg = first; rv == 0 && count > 0 && seg != NULL; seg = seg->hh.next) {
                if (seg->state != TSHMD_SEG_READY || !ops_may_see(c, seg)) {
                        continue;
                }
                tshmd_registry_info(seg, &info);
                rv = tshm__reply_list_add(&e, &info);
                count--;
        }
        if (rv == 0) {
                rv = tshm__reply_list_end(&e, next);
        }
        tshmd_ops_send(c, &e, rv, req->id, -1);
}

static void
ops_daemon_stat(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_server *srv = c->srv;
        struct tshm__reply_enc e;
        tshm_daemon_info st = {
            .segments = srv->reg.segments,
            .bytes = srv->reg.bytes,
            .max_bytes = srv->cfg->max_bytes,
            .clients = srv->nconns,
            .opens = srv->reg.opens,
            .requests = srv->requests,
            .uptime_ns = tshm__mono_ns() - srv->started_ns,
            .shm_free = tshmd_shm_free_bytes(),
            .pid = (uint32_t)getpid(),
            .proto = TSHM_PROTO_VERSION,
        };

        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e, tshm__reply_daemon_stat(&e, req->id, &st), req->id, -1);
}

void
tshmd_ops_dispatch(struct tshmd_conn *c, const uint8_t *payload, size_t len)
{
        struct tshm__req req;
        char err[ERRLEN];
        int rv;

        c->srv->requests++;
        rv = tshm__req_decode(payload, len, &req, err, sizeof(err));
        if (rv == TSHM_EPROTO) {
                /* The stream cannot be trusted any more: say why, then close. */
                tshmd_log(LOG_WARNING, "protocol violation by pid %d uid %u: %s, closing",
                          (int)c->pid, (unsigned)c->uid, err);
                tshmd_conn_reply_error(c, req.id, rv, err);
                c->close_on_drain = true;
                return;
        }
        if (rv < 0) {
                tshmd_conn_reply_error(c, req.id, rv, err);
                return;
        }
        if (!c->hello && req.op != TSHM_OP_HELLO) {
                tshmd_log(LOG_WARNING, "pid %d uid %u sent %s before hello, closing", (int)c->pid,
                          (unsigned)c->uid, tshm__op_name(req.op));
                tshmd_conn_reply_error(c, req.id, TSHM_EPROTO, "the first request must be hello");
                c->close_on_drain = true;
                return;
        }
        switch (req.op) {
        case TSHM_OP_HELLO:
                ops_hello(c, &req);
                break;
        case TSHM_OP_CREATE:
        case TSHM_OP_STREAM_CREATE:
                tshmd_ops_create(c, &req);
                break;
        case TSHM_OP_ATTACH:
                tshmd_stream_attach(c, &req);
                break;
        case TSHM_OP_OPEN:
                ops_open(c, &req);
                break;
        case TSHM_OP_CLOSE:
                ops_close(c, &req);
                break;
        case TSHM_OP_UNLINK:
                ops_unlink(c, &req);
                break;
        case TSHM_OP_CHMOD:
        case TSHM_OP_CHOWN:
                ops_chown(c, &req);
                break;
        case TSHM_OP_GC:
                ops_gc(c, &req);
                break;
        case TSHM_OP_STAT:
                ops_stat(c, &req);
                break;
        case TSHM_OP_LIST:
                ops_list(c, &req);
                break;
        case TSHM_OP_DAEMON_STAT:
                ops_daemon_stat(c, &req);
                break;
        default:
                tshmd_conn_reply_error(c, req.id, TSHM_EPROTO, "unknown op");
                c->close_on_drain = true;
                break;
        }
}
