/*
 * client.c - tshm_client: connect, the request/reply round trip, and the
 * public calls built on it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#include "header.h"
#include "spec.h"

void
tshm__client_errmsg(tshm_client *c, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
        va_end(ap);
}

static int
client_timeout_ms(void)
{
        const char *s = getenv("TSHM_TIMEOUT_MS");
        char *end;
        long v;

        if (s == NULL || s[0] == '\0') {
                return TSHM_DEFAULT_TIMEOUT_MS;
        }
        v = strtol(s, &end, 10);
        if (*end != '\0' || v <= 0 || v > 24L * 3600 * 1000) {
                return TSHM_DEFAULT_TIMEOUT_MS;
        }
        return (int)v;
}

/* The connection failed: close it. Later calls fail with TSHM_ECONNRESET
 * rather than reading a reply that belongs to an earlier request. */
static void
client_break(tshm_client *c)
{
        if (c->fd >= 0) {
                (void)close(c->fd);
                c->fd = -1;
        }
}

/* Send the encoded request @sbuf and read one reply frame, both within the
 * client's timeout; @buf, *ret_payload, *ret_len and *ret_fd as
 * tshm__conn_recv() has them. */
static int
client_exchange(tshm_client *c, const msgpack_sbuffer *sbuf, uint8_t *buf, uint8_t **ret_payload,
                size_t *ret_len, int *ret_fd)
{
        int64_t deadline = tshm__now_ms() + c->timeout_ms;
        int rv, sent;

        sent = tshm__conn_send(c->fd, sbuf->data, sbuf->size, deadline);
        /* A daemon that refuses a connection (--max-clients) says why in
         * one frame and closes: the send may fail, the reason is still there
         * to read. */
        if (sent != 0 && sent != TSHM_ECONNRESET) {
                return sent;
        }
        rv = tshm__conn_recv(c->fd, TSHM_PROTO_MAX_REPLY, deadline, buf, ret_payload, ret_len,
                             ret_fd);
        return rv < 0 && sent < 0 ? sent : rv;
}

/* One round trip on the connection as it stands, with c->lock held. On
 * success returns reply->status (0 or the daemon's error, its detail in
 * c->errmsg); a descriptor that came with the reply is in *ret_fd when
 * @ret_fd is given (else closed). */
/* Free what a decoded reply allocated (list, gc and mirrors entries). */
static void
reply_drop_lists(struct tshm__reply *reply)
{
        tshm__free(reply->infos);
        reply->infos = NULL;
        tshm__free(reply->gc);
        reply->gc = NULL;
        tshm__free(reply->mirrors);
        reply->mirrors = NULL;
}

/* The daemon made a handle whose descriptor this process could not take
 * (the kernel dropped it: RLIMIT_NOFILE). As for ENOMEM, only closing the
 * connection gives the handle back. Returns -EMFILE. */
static int
client_fd_dropped(tshm_client *c, const struct tshm__req *req, struct tshm__reply *reply)
{
        tshm__client_errmsg(c,
                            "%s reply: its descriptor was dropped, this process has none left "
                            "(RLIMIT_NOFILE): close segments or raise the limit",
                            tshm__op_name(req->op));
        reply_drop_lists(reply);
        client_break(c);
        return -EMFILE;
}

static int
client_roundtrip(tshm_client *c, struct tshm__req *req, struct tshm__reply *reply, int *ret_fd)
{
        uint8_t buf[TSHM__CONN_BUF];
        msgpack_sbuffer sbuf;
        uint8_t *payload = NULL;
        size_t len;
        int fd = -1, rv;

        req->id = ++c->next_id;
        msgpack_sbuffer_init(&sbuf);
        if ((rv = tshm__req_encode(req, &sbuf)) < 0) {
                goto out;
        }
        if ((rv = client_exchange(c, &sbuf, buf, &payload, &len, &fd)) < 0) {
                tshm__client_errmsg(c, "%s request to %s: %s", tshm__op_name(req->op), c->path,
                                    tshm_strerror(rv));
                /* Nothing was sent, or the reply was read and dropped: the
                 * connection is still in step. */
                if (rv != TSHM_ENOMEM) {
                        client_break(c);
                }
                goto out;
        }
        rv = tshm__reply_decode(payload, len, req->op, reply);
        if (rv == TSHM_ENOMEM) {
                /* In step, but a reply that brought a descriptor made
                 * something in the daemon (a handle) this client cannot
                 * name now: only closing the connection gives it back. */
                tshm__client_errmsg(c, "%s reply: %s", tshm__op_name(req->op), tshm_strerror(rv));
                if (fd >= 0) {
                        client_break(c);
                }
                goto out;
        }
        if (rv == 0 && reply->status < 0 && reply->id == 0) {
                /* Not an answer to this request but to the connection: the
                 * daemon refused it or is closing it. */
                tshm__client_errmsg(c, "%s", reply->error);
                rv = reply->status;
                client_break(c);
                goto out;
        }
        if (rv == 0 && fd == TSHM__CONN_FD_DROPPED) {
                rv = client_fd_dropped(c, req, reply);
                goto out;
        }
        if (rv < 0 || reply->id != req->id || (reply->status == 0 && reply->has_fd != (fd >= 0))) {
                tshm__client_errmsg(c, "malformed reply to %s", tshm__op_name(req->op));
                if (rv == 0) {
                        reply_drop_lists(reply);
                        rv = TSHM_EPROTO;
                }
                client_break(c);
                goto out;
        }
        rv = reply->status;
        if (rv < 0) {
                tshm__client_errmsg(c, "%s", reply->error);
        } else if (ret_fd != NULL) {
                *ret_fd = fd;
                fd = -1;
        }
out:
        if (fd >= 0) {
                (void)close(fd);
        }
        if (payload != buf + 4) {
                tshm__free(payload);
        }
        msgpack_sbuffer_destroy(&sbuf);
        return rv;
}

/* The version handshake on a new connection. It never reconnects: a
 * daemon that closes a new connection (at --max-clients, say) would
 * otherwise be asked again from inside the retry, without end. */
static int
client_hello(tshm_client *c)
{
        struct tshm__req req = {.op = TSHM_OP_HELLO, .version = TSHM_PROTO_VERSION};
        struct tshm__reply reply;
        int rv;

        if ((rv = client_roundtrip(c, &req, &reply, NULL)) < 0) {
                return rv;
        }
        if (reply.version != TSHM_PROTO_VERSION) {
                client_break(c);
                return TSHM_EVERSION;
        }
        return 0;
}

/* Connect again after the daemon went away (say it was restarted), backing
 * off 0, 10, 20, 40 ... 640 ms between tries: about 1.3 s in all, so that a
 * service manager has time to restart it, and never past the client's
 * timeout. A daemon that answers with a refusal (TSHM_ELIMIT, a version it
 * does not speak) is not asked again. Segments mapped before stay mapped;
 * their handles died with the old connection. */
static int
client_reconnect(tshm_client *c)
{
        static const int delays_ms[] = {0, 10, 20, 40, 80, 160, 320, 640};
        int64_t deadline = tshm__now_ms() + c->timeout_ms;
        size_t i;
        int rv = TSHM_ENODAEMON;

        for (i = 0; i < sizeof(delays_ms) / sizeof(delays_ms[0]); i++) {
                struct timespec ts = {0, (long)delays_ms[i] * 1000000L};

                if (i > 0 && tshm__now_ms() + delays_ms[i] >= deadline) {
                        break;
                }
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
                }
                if ((rv = tshm__conn_connect(c->path, c->timeout_ms, &c->fd)) < 0) {
                        continue;
                }
                if ((rv = client_hello(c)) == 0) {
                        c->epoch++;
                        return 0;
                }
                client_break(c);
                if (rv == TSHM_ELIMIT || rv == TSHM_EVERSION || rv == TSHM_ETIMEDOUT) {
                        break;
                }
        }
        return rv;
}

/* One round trip, with c->lock held. A connection lost earlier (a daemon
 * restart) is made again first. Returns as client_roundtrip(). */
int
tshm__client_call(tshm_client *c, struct tshm__req *req, struct tshm__reply *reply, int *ret_fd)
{
        int rv;

        c->errmsg[0] = '\0';
        if (c->fd >= 0 && tshm__conn_dead(c->fd)) {
                client_break(c);
        }
        if (c->fd < 0 && (rv = client_reconnect(c)) < 0) {
                if (rv == TSHM_ELIMIT && c->errmsg[0] != '\0') {
                        return rv; /* the daemon's reason says it all */
                }
                tshm__client_errmsg(c, "the connection to %s was lost and cannot be made again: %s",
                                    c->path, tshm_strerror(rv));
                return rv;
        }
        return client_roundtrip(c, req, reply, ret_fd);
}

int
tshm_connect(const char *socket_path, tshm_client **ret_client)
{
        tshm_client *c;
        int rv;

        if (ret_client == NULL) {
                return TSHM_EINVAL;
        }
        c = tshm__calloc(1, sizeof(*c));
        if (c == NULL) {
                return TSHM_ENOMEM;
        }
        c->fd = -1;
        c->refs = 1; /* the caller's, dropped by tshm_disconnect() */
        c->timeout_ms = client_timeout_ms();
        if (pthread_mutex_init(&c->lock, NULL) != 0) {
                tshm__free(c);
                return TSHM_ENOMEM;
        }
        if ((rv = tshm__conn_resolve_path(socket_path, c->path, sizeof(c->path))) < 0 ||
            (rv = tshm__conn_connect(c->path, c->timeout_ms, &c->fd)) < 0) {
                goto fail;
        }
        if ((rv = client_hello(c)) < 0) {
                goto fail;
        }
        *ret_client = c;
        return 0;
fail:
        tshm_disconnect(c);
        return rv;
}

/* Drop one reference to @c, with c->lock held; the lock is released. The
 * last reference frees the client. */
static void
client_unref_unlock(tshm_client *c)
{
        bool last = --c->refs == 0;

        (void)pthread_mutex_unlock(&c->lock);
        if (last) {
                (void)pthread_mutex_destroy(&c->lock);
                tshm__free(c);
        }
}

void
tshm_disconnect(tshm_client *c)
{
        if (c == NULL) {
                return;
        }
        /* The segments still on c->segs keep @c alive (their tshm_close()
         * takes c->lock, possibly on another thread right now); once closed,
         * they only unmap. */
        (void)pthread_mutex_lock(&c->lock);
        c->closed = true;
        client_break(c);
        client_unref_unlock(c);
}

const char *
tshm_errmsg(const tshm_client *c)
{
        return c != NULL ? c->errmsg : "";
}

const char *
tshm_client_socket(const tshm_client *c)
{
        return c->path;
}

/* The populate flags of tshm_open() and tshm_create() share their values,
 * so that tshm__seg_populate_auto() reads either. */
_Static_assert(TSHM_OPEN_POPULATE == TSHM_CREATE_POPULATE &&
                   TSHM_OPEN_NOPOPULATE == TSHM_CREATE_NOPOPULATE,
               "populate flags of open and create");
#define CLIENT_POPULATE_BOTH (TSHM_OPEN_POPULATE | TSHM_OPEN_NOPOPULATE)

/* Copy a caller's name into a request, checking it first. */
int
tshm__client_name(tshm_client *c, struct tshm__req *req, const char *name)
{
        if (tshm_name_check(name) < 0) {
                tshm__client_errmsg(c, "'%.*s'", TSHM_NAME_MAX + 8, name != NULL ? name : "(null)");
                return TSHM_EBADNAME;
        }
        memcpy(req->name, name, strlen(name) + 1);
        return 0;
}

/* Map the descriptor of a create or open reply and register the segment.
 * Called with c->lock held. */
int
tshm__client_attach(tshm_client *c, const struct tshm__reply *reply, int fd, bool writable,
                    const char *name, tshm_seg **ret_seg)
{
        struct tshm__req close_req = {.op = TSHM_OP_CLOSE, .handle = reply->handle};
        struct tshm__seg_spec spec;
        struct tshm__reply close_reply;
        tshm_seg *seg;
        int rv;

        memset(&spec, 0, sizeof(spec));
        if (!reply->has_geom || strlen(name) >= sizeof(spec.name)) {
                rv = TSHM_EPROTO;
        } else {
                memcpy(spec.name, name, strlen(name) + 1);
                spec.dtype = reply->dtype;
                spec.ndim = reply->ndim;
                memcpy(spec.shape, reply->shape, sizeof(spec.shape));
                spec.slots = reply->slots;
                spec.policy = reply->policy;
                rv = tshm__seg_map(fd, reply->size, writable, &spec, &seg);
                fd = -1;
        }
        if (fd >= 0) {
                (void)close(fd);
        }
        if (rv < 0) {
                tshm__client_errmsg(c, "'%s'", name);
                /* Give the daemon its handle back; the mapping failed. */
                (void)tshm__client_call(c, &close_req, &close_reply, NULL);
                return rv;
        }
        seg->client = c;
        seg->kind = reply->kind;
        seg->handle = reply->handle;
        seg->epoch = c->epoch;
        /* A stream's producer reads the subscribers' cursors (block policy):
         * every read-write open of a stream fetches the table. */
        if (seg->slots != 0 && writable && (rv = tshm__stream_attach_producer(c, seg)) < 0) {
                (void)tshm__client_call(c, &close_req, &close_reply, NULL);
                tshm__seg_free(seg);
                return rv;
        }
        seg->next = c->segs;
        if (c->segs != NULL) {
                c->segs->prev = seg;
        }
        c->segs = seg;
        c->refs++; /* dropped by tshm_close(seg) */
        *ret_seg = seg;
        return 0;
}

/* The detail of a create refused for its dtype or shape (@rv from
 * tshm_shape_nbytes()): what was asked, never the name, which is fine.
 * E.g. "shape 1099511627776x1099511627776 of float32: more bytes than
 * fit in memory". */
static void
client_shape_errmsg(tshm_client *c, int rv, tshm_dtype dtype, size_t ndim, const uint64_t *shape)
{
        /* Each extent takes at most 20 digits and an "x": the first
         * TSHM_MAX_NDIM of them always fit. */
        char dims[TSHM_MAX_NDIM * 21 + 8];
        const char *dname = tshm_dtype_name(dtype);
        size_t i, len = 0;

        if (rv == TSHM_EBADDTYPE || dname == NULL) {
                tshm__client_errmsg(c, "dtype %d is none of tshm_dtype's", (int)dtype);
                return;
        }
        if (ndim > TSHM_MAX_NDIM || (ndim > 0 && shape == NULL)) {
                tshm__client_errmsg(c, "%zu dimensions of %s: at most %d", ndim, dname,
                                    TSHM_MAX_NDIM);
                return;
        }
        dims[0] = '\0';
        for (i = 0; i < ndim; i++) {
                len += (size_t)snprintf(dims + len, sizeof(dims) - len, "%s%llu", i > 0 ? "x" : "",
                                        (unsigned long long)shape[i]);
        }
        tshm__client_errmsg(c, "shape %s of %s: more bytes than fit in memory",
                            ndim > 0 ? dims : "scalar", dname);
}

int
tshm__client_create(tshm_client *c, struct tshm__req *req, const char *name, size_t ndim,
                    const uint64_t *shape, unsigned mode, unsigned flags, tshm_seg **ret_seg)
{
        struct tshm__reply reply;
        uint64_t nbytes;
        int fd = -1, rv;

        if (c == NULL || ret_seg == NULL) {
                return TSHM_EINVAL;
        }
        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_name(c, req, name)) < 0) {
                goto out;
        }
        if ((rv = tshm_shape_nbytes(req->dtype, ndim, shape, &nbytes)) < 0) {
                client_shape_errmsg(c, rv, req->dtype, ndim, shape);
                goto out;
        }
        if (mode > 0777u ||
            (flags & ~(TSHM_CREATE_EPHEMERAL | TSHM_CREATE_POPULATE | TSHM_CREATE_NOPOPULATE)) !=
                0 ||
            (flags & CLIENT_POPULATE_BOTH) == CLIENT_POPULATE_BOTH) {
                tshm__client_errmsg(c, "mode %o or flags %#x not valid", mode, flags);
                rv = TSHM_EINVAL;
                goto out;
        }
        req->ndim = (uint32_t)ndim;
        if (ndim > 0) {
                memcpy(req->shape, shape, ndim * sizeof(shape[0]));
        }
        req->mode = mode != 0 ? mode : 0600u;
        /* Populating is this process's business: the daemon sees only the
         * flags of the segment. */
        req->flags = (flags & TSHM_CREATE_EPHEMERAL) | (req->flags & TSHM_PROTO_CREATE_GROUP);
        if ((rv = tshm__client_call(c, req, &reply, &fd)) < 0) {
                goto out;
        }
        if ((rv = tshm__client_attach(c, &reply, fd, true, name, ret_seg)) < 0) {
                /* The caller is told the create failed: then it did not
                 * happen (the handle is closed already), and the name is free
                 * for the caller to try again. */
                struct tshm__req unlink_req = {.op = TSHM_OP_UNLINK};
                struct tshm__reply unlink_reply;
                char errmsg[sizeof(c->errmsg)];

                memcpy(errmsg, c->errmsg, sizeof(errmsg));
                memcpy(unlink_req.name, req->name, sizeof(unlink_req.name));
                (void)tshm__client_call(c, &unlink_req, &unlink_reply, NULL);
                memcpy(c->errmsg, errmsg, sizeof(errmsg));
        }
out:
        (void)pthread_mutex_unlock(&c->lock);
        /* Outside the lock: other threads' calls on @c need not wait for
         * this one's page tables. */
        if (rv == 0) {
                tshm__seg_populate_auto(*ret_seg, flags);
        }
        return rv;
}

int
tshm_create(tshm_client *c, const char *name, tshm_dtype dtype, size_t ndim, const uint64_t *shape,
            unsigned mode, unsigned flags, tshm_seg **ret_seg)
{
        struct tshm__req req = {.op = TSHM_OP_CREATE, .dtype = dtype};

        return tshm__client_create(c, &req, name, ndim, shape, mode, flags, ret_seg);
}

int
tshm_open(tshm_client *c, const char *name, unsigned flags, tshm_seg **ret_seg)
{
        struct tshm__req req = {.op = TSHM_OP_OPEN, .writable = (flags & TSHM_OPEN_RDWR) != 0};
        struct tshm__reply reply;
        int fd = -1, rv;

        if (c == NULL || ret_seg == NULL ||
            (flags & ~(TSHM_OPEN_RDWR | TSHM_OPEN_POPULATE | TSHM_OPEN_NOPOPULATE)) != 0 ||
            (flags & CLIENT_POPULATE_BOTH) == CLIENT_POPULATE_BOTH) {
                return TSHM_EINVAL;
        }
        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_name(c, &req, name)) < 0) {
                goto out;
        }
        if ((rv = tshm__client_call(c, &req, &reply, &fd)) < 0) {
                goto out;
        }
        rv = tshm__client_attach(c, &reply, fd, req.writable, name, ret_seg);
out:
        (void)pthread_mutex_unlock(&c->lock);
        if (rv == 0) {
                tshm__seg_populate_auto(*ret_seg, flags);
        }
        return rv;
}

int
tshm_close(tshm_seg *seg)
{
        struct tshm__req req = {.op = TSHM_OP_CLOSE};
        struct tshm__reply reply;
        tshm_client *c;
        int rv = 0;

        if (seg == NULL) {
                return 0;
        }
        /* seg->client never changes once set, and the reference the segment
         * holds keeps it valid even if tshm_disconnect() runs meanwhile. */
        c = seg->client;
        if (c != NULL) {
                (void)pthread_mutex_lock(&c->lock);
                req.handle = seg->handle;
                /* A handle from before a reconnect died with its connection;
                 * so did one on a broken connection: no need to reconnect. */
                if (!c->closed && c->fd >= 0 && tshm__conn_dead(c->fd)) {
                        client_break(c);
                }
                if (!c->closed && seg->epoch == c->epoch && c->fd >= 0) {
                        rv = tshm__client_call(c, &req, &reply, NULL);
                }
                if (seg->prev != NULL) {
                        seg->prev->next = seg->next;
                } else {
                        c->segs = seg->next;
                }
                if (seg->next != NULL) {
                        seg->next->prev = seg->prev;
                }
                client_unref_unlock(c);
        }
        tshm__seg_free(seg);
        return rv;
}

int
tshm__client_name_call(tshm_client *c, struct tshm__req *req, const char *name)
{
        struct tshm__reply reply;
        int rv;

        if (c == NULL) {
                return TSHM_EINVAL;
        }
        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_name(c, req, name)) == 0) {
                rv = tshm__client_call(c, req, &reply, NULL);
        }
        (void)pthread_mutex_unlock(&c->lock);
        return rv;
}

int
tshm_unlink(tshm_client *c, const char *name)
{
        struct tshm__req req = {.op = TSHM_OP_UNLINK};

        return tshm__client_name_call(c, &req, name);
}

int
tshm_chmod(tshm_client *c, const char *name, unsigned mode)
{
        struct tshm__req req = {.op = TSHM_OP_CHMOD, .mode = mode};

        if (mode > 0777u) {
                return TSHM_EINVAL;
        }
        return tshm__client_name_call(c, &req, name);
}

int
tshm_chown(tshm_client *c, const char *name, uint32_t uid, uint32_t gid)
{
        struct tshm__req req = {.op = TSHM_OP_CHOWN, .owner = uid, .group = gid};

        return tshm__client_name_call(c, &req, name);
}

int
tshm__client_stat(tshm_client *c, const char *name, struct tshm__reply *ret_reply)
{
        struct tshm__req req = {.op = TSHM_OP_STAT};
        int rv;

        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_name(c, &req, name)) == 0) {
                rv = tshm__client_call(c, &req, ret_reply, NULL);
        }
        (void)pthread_mutex_unlock(&c->lock);
        return rv;
}

int
tshm_stat(tshm_client *c, const char *name, tshm_info *ret_info)
{
        struct tshm__reply reply;
        int rv;

        if (c == NULL || ret_info == NULL) {
                return TSHM_EINVAL;
        }
        if ((rv = tshm__client_stat(c, name, &reply)) == 0) {
                *ret_info = reply.info;
        }
        return rv;
}

/* Append a page of entries to *all. */
static int
list_append(tshm_info **all, size_t *n, size_t *cap, const struct tshm__reply *reply)
{
        if (*n + reply->ninfos > *cap) {
                size_t ncap = *cap * 2 > *n + reply->ninfos ? *cap * 2 : *n + reply->ninfos;
                tshm_info *na = tshm__realloc(*all, ncap * sizeof(**all));
                if (na == NULL) {
                        return TSHM_ENOMEM;
                }
                *all = na;
                *cap = ncap;
        }
        if (reply->ninfos > 0) {
                memcpy(*all + *n, reply->infos, reply->ninfos * sizeof(**all));
        }
        *n += reply->ninfos;
        return 0;
}

int
tshm_list(tshm_client *c, const char *prefix, tshm_info **ret_infos, size_t *ret_count)
{
        struct tshm__req req = {.op = TSHM_OP_LIST, .limit = TSHM_PROTO_LIST_PAGE};
        struct tshm__reply reply;
        tshm_info *all = NULL;
        size_t n = 0, cap = 0;
        int rv;

        if (c == NULL || ret_infos == NULL || ret_count == NULL) {
                return TSHM_EINVAL;
        }
        if (prefix != NULL && prefix[0] != '\0') {
                /* A prefix is the start of a valid name: no name can
                 * start with anything else, so it is refused, not listed
                 * as nothing. */
                if (tshm__name_check(prefix) < 0) {
                        return TSHM_EBADNAME;
                }
                memcpy(req.prefix, prefix, strlen(prefix) + 1);
        }
        (void)pthread_mutex_lock(&c->lock);
        do {
                if ((rv = tshm__client_call(c, &req, &reply, NULL)) < 0) {
                        goto fail;
                }
                rv = list_append(&all, &n, &cap, &reply);
                tshm__free(reply.infos);
                if (rv < 0) {
                        goto fail;
                }
                req.cursor = reply.next_cursor;
        } while (reply.next_cursor != 0);
        (void)pthread_mutex_unlock(&c->lock);
        *ret_infos = all;
        *ret_count = n;
        return 0;
fail:
        (void)pthread_mutex_unlock(&c->lock);
        tshm__free(all);
        return rv;
}

int
tshm_gc(tshm_client *c, int remove, tshm_gc_entry **ret_entries, size_t *ret_count)
{
        struct tshm__req req = {.op = TSHM_OP_GC, .remove = remove != 0};
        struct tshm__reply reply;
        int rv;

        if (c == NULL || ret_entries == NULL || ret_count == NULL) {
                return TSHM_EINVAL;
        }
        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_call(c, &req, &reply, NULL)) == 0) {
                *ret_entries = reply.gc;
                *ret_count = reply.ngc;
        }
        (void)pthread_mutex_unlock(&c->lock);
        return rv;
}

void
tshm_gc_free(tshm_gc_entry *entries)
{
        tshm__free(entries);
}

void
tshm_list_free(tshm_info *infos)
{
        tshm__free(infos);
}

int
tshm_daemon_stat(tshm_client *c, tshm_daemon_info *ret_info)
{
        struct tshm__req req = {.op = TSHM_OP_DAEMON_STAT};
        struct tshm__reply reply;
        int rv;

        if (c == NULL || ret_info == NULL) {
                return TSHM_EINVAL;
        }
        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_call(c, &req, &reply, NULL)) == 0) {
                *ret_info = reply.daemon;
        }
        (void)pthread_mutex_unlock(&c->lock);
        return rv;
}
