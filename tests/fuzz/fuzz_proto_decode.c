/*
 * fuzz_proto_decode.c - the request and reply decoders on arbitrary bytes.
 *
 * The input is one frame payload, without its length prefix. It goes to
 * tshm__req_decode(), then to tshm__reply_decode() as the reply to every op
 * and to an unknown one. Beyond memory errors and leaks, each decoder is held
 * to what it promises:
 * - an accepted request names a known op and carries a valid name, dtype,
 *   shape and mode where its op takes them; re-encoded with
 *   tshm__req_encode() it decodes to the same request;
 * - a refused request says why, in a NUL-terminated message;
 * - an accepted reply has status <= 0, NUL-terminated strings and arrays that
 *   match their counts; re-encoded with the daemon's encoder for its op it
 *   decodes to the same reply;
 * - a refused reply leaves nothing allocated.
 */
#include <string.h>

#include "tshm.h"

#include "fuzz.h"
#include "proto.h"

static const uint32_t ops[] = {
    TSHM_OP_HELLO,       TSHM_OP_CREATE,
    TSHM_OP_OPEN,        TSHM_OP_CLOSE,
    TSHM_OP_UNLINK,      TSHM_OP_CHMOD,
    TSHM_OP_CHOWN,       TSHM_OP_GC,
    TSHM_OP_STAT,        TSHM_OP_LIST,
    TSHM_OP_DAEMON_STAT, TSHM_OP_MIRROR,
    TSHM_OP_MIRRORS,     0 /* unknown */
};

static bool
op_takes_name(uint32_t op)
{
        return op == TSHM_OP_CREATE || op == TSHM_OP_OPEN || op == TSHM_OP_UNLINK ||
               op == TSHM_OP_CHMOD || op == TSHM_OP_CHOWN || op == TSHM_OP_STAT ||
               op == TSHM_OP_MIRROR;
}

static bool
shape_equal(uint32_t ndim, const uint64_t *a, const uint64_t *b)
{
        return memcmp(a, b, ndim * sizeof(a[0])) == 0;
}

static bool
req_equal(const struct tshm__req *a, const struct tshm__req *b)
{
        return a->op == b->op && a->id == b->id && a->version == b->version &&
               strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim &&
               shape_equal(a->ndim, a->shape, b->shape) && a->mode == b->mode &&
               a->flags == b->flags && a->writable == b->writable && a->remove == b->remove &&
               a->handle == b->handle && a->cursor == b->cursor && a->limit == b->limit &&
               a->owner == b->owner && a->group == b->group && strcmp(a->peer, b->peer) == 0 &&
               strcmp(a->remote, b->remote) == 0 && a->stop == b->stop;
}

/* What an accepted request promises. */
static void
req_check(const struct tshm__req *req)
{
        uint32_t i;

        FUZZ_CHECK(tshm__op_name(req->op) != NULL);
        FUZZ_CHECK(memchr(req->name, '\0', sizeof(req->name)) != NULL);
        if (op_takes_name(req->op)) {
                FUZZ_CHECK(tshm__name_check(req->name) == 0);
        } else {
                FUZZ_CHECK(req->name[0] == '\0');
        }
        FUZZ_CHECK(req->ndim <= TSHM_MAX_NDIM);
        for (i = req->ndim; i < TSHM_MAX_NDIM; i++) {
                FUZZ_CHECK(req->shape[i] == 0);
        }
        if (req->op == TSHM_OP_CREATE) {
                FUZZ_CHECK(tshm__dtype_itemsize(req->dtype) > 0);
        } else {
                FUZZ_CHECK(req->dtype == 0 && req->ndim == 0);
        }
        FUZZ_CHECK(req->mode <= 0777u);
        if (req->op == TSHM_OP_MIRROR) {
                FUZZ_CHECK(req->stop || tshm__peer_check(req->peer));
                FUZZ_CHECK(req->remote[0] == '\0' || tshm__name_check(req->remote) == 0);
        } else {
                FUZZ_CHECK(req->peer[0] == '\0' && req->remote[0] == '\0' && !req->stop);
        }
}

/* Encode @req, decode the frame's payload, and require the same request. */
static void
req_roundtrip(const struct tshm__req *req)
{
        struct tshm__req again;
        msgpack_sbuffer sb;
        char err[128];

        msgpack_sbuffer_init(&sb);
        FUZZ_CHECK(tshm__req_encode(req, &sb) == 0);
        FUZZ_CHECK(sb.size >= 4 && sb.size - 4 <= (size_t)TSHM_PROTO_MAX_REQUEST);
        FUZZ_CHECK(tshm__get_be32((const uint8_t *)sb.data) == sb.size - 4);
        FUZZ_CHECK(tshm__req_decode((const uint8_t *)sb.data + 4, sb.size - 4, &again, err,
                                    sizeof(err)) == 0);
        FUZZ_CHECK(req_equal(req, &again));
        msgpack_sbuffer_destroy(&sb);
}

static void
fuzz_request(const uint8_t *data, size_t size)
{
        struct tshm__req req;
        char err[128];
        int rv;

        memset(err, 'x', sizeof(err));
        rv = tshm__req_decode(data, size, &req, err, sizeof(err));
        if (rv < 0) {
                FUZZ_CHECK(rv == TSHM_EPROTO || rv == TSHM_EBADNAME || rv == TSHM_EBADDTYPE ||
                           rv == TSHM_EBADSHAPE || rv == TSHM_EINVAL);
                FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
                return;
        }
        FUZZ_CHECK(rv == 0);
        req_check(&req);
        req_roundtrip(&req);
}

static bool
info_equal(const tshm_info *a, const tshm_info *b)
{
        return strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim &&
               shape_equal(a->ndim, a->shape, b->shape) && a->nbytes == b->nbytes &&
               a->size == b->size && a->owner_uid == b->owner_uid && a->owner_gid == b->owner_gid &&
               a->mode == b->mode && a->opens == b->opens && a->created_ns == b->created_ns &&
               a->flags == b->flags;
}

static void
info_check(const tshm_info *in)
{
        FUZZ_CHECK(memchr(in->name, '\0', sizeof(in->name)) != NULL);
        FUZZ_CHECK(tshm__dtype_itemsize(in->dtype) > 0);
        FUZZ_CHECK(in->ndim <= TSHM_MAX_NDIM);
}

/* What an accepted reply promises. */
static void
reply_check(const struct tshm__reply *rep, uint32_t op)
{
        size_t i;

        FUZZ_CHECK(rep->status <= 0);
        FUZZ_CHECK(memchr(rep->error, '\0', sizeof(rep->error)) != NULL);
        FUZZ_CHECK((rep->infos == NULL) == (rep->ninfos == 0));
        FUZZ_CHECK((rep->gc == NULL) == (rep->ngc == 0));
        FUZZ_CHECK((rep->mirrors == NULL) == (rep->nmirrors == 0));
        for (i = 0; i < rep->nmirrors; i++) {
                FUZZ_CHECK(memchr(rep->mirrors[i].peer, '\0', sizeof(rep->mirrors[i].peer)) !=
                           NULL);
                FUZZ_CHECK(memchr(rep->mirrors[i].error, '\0', sizeof(rep->mirrors[i].error)) !=
                           NULL);
                FUZZ_CHECK(rep->mirrors[i].incoming <= 1 && rep->mirrors[i].stream <= 1);
        }
        for (i = 0; i < rep->ninfos; i++) {
                info_check(&rep->infos[i]);
        }
        for (i = 0; i < rep->ngc; i++) {
                FUZZ_CHECK(memchr(rep->gc[i].object, '\0', sizeof(rep->gc[i].object)) != NULL);
                FUZZ_CHECK(memchr(rep->gc[i].reason, '\0', sizeof(rep->gc[i].reason)) != NULL);
                FUZZ_CHECK(rep->gc[i].removed == 0 || rep->gc[i].removed == 1);
        }
        if (rep->status == 0 && op == TSHM_OP_STAT) {
                info_check(&rep->info);
        }
}

/* Encode @rep as the daemon would answer @op. Returns false for an op
 * without an encoder (the unknown one). */
static bool
reply_encode(const struct tshm__reply *rep, uint32_t op, struct tshm__reply_enc *e)
{
        size_t i;
        int rv = 0;

        if (rep->status < 0) {
                FUZZ_CHECK(tshm__reply_error(e, rep->id, rep->status, rep->error) == 0);
                return true;
        }
        switch (op) {
        case TSHM_OP_HELLO:
                rv = tshm__reply_hello(e, rep->id, rep->version);
                break;
        case TSHM_OP_CREATE:
        case TSHM_OP_OPEN:
                rv = tshm__reply_fd(e, rep->id, rep->handle, rep->size);
                break;
        case TSHM_OP_CLOSE:
        case TSHM_OP_UNLINK:
        case TSHM_OP_CHMOD:
        case TSHM_OP_CHOWN:
        case TSHM_OP_MIRROR:
                rv = tshm__reply_empty(e, rep->id);
                break;
        case TSHM_OP_STAT:
                rv = tshm__reply_stat(e, rep->id, &rep->info);
                break;
        case TSHM_OP_LIST:
                rv = tshm__reply_list_begin(e, rep->id, (uint32_t)rep->ninfos);
                for (i = 0; rv == 0 && i < rep->ninfos; i++) {
                        rv = tshm__reply_list_add(e, &rep->infos[i]);
                }
                rv = rv < 0 ? rv : tshm__reply_list_end(e, rep->next_cursor);
                break;
        case TSHM_OP_GC:
                rv = tshm__reply_gc_begin(e, rep->id, (uint32_t)rep->ngc);
                for (i = 0; rv == 0 && i < rep->ngc; i++) {
                        rv = tshm__reply_gc_add(e, rep->gc[i].object, rep->gc[i].reason,
                                                rep->gc[i].removed != 0);
                }
                rv = rv < 0 ? rv : tshm__reply_gc_end(e);
                break;
        case TSHM_OP_DAEMON_STAT:
                rv = tshm__reply_daemon_stat(e, rep->id, &rep->daemon);
                break;
        case TSHM_OP_MIRRORS:
                rv = tshm__reply_mirrors_begin(e, rep->id, (uint32_t)rep->nmirrors);
                for (i = 0; rv == 0 && i < rep->nmirrors; i++) {
                        rv = tshm__reply_mirrors_add(e, &rep->mirrors[i]);
                }
                rv = rv < 0 ? rv : tshm__reply_mirrors_end(e);
                break;
        default:
                return false;
        }
        FUZZ_CHECK(rv == 0);
        return true;
}

static bool
daemon_info_equal(const tshm_daemon_info *a, const tshm_daemon_info *b)
{
        return a->segments == b->segments && a->bytes == b->bytes && a->max_bytes == b->max_bytes &&
               a->clients == b->clients && a->opens == b->opens && a->requests == b->requests &&
               a->uptime_ns == b->uptime_ns && a->shm_free == b->shm_free && a->pid == b->pid &&
               a->proto == b->proto;
}

/* The fields of @op's reply that survive an encode and decode. */
static bool
reply_equal(const struct tshm__reply *a, const struct tshm__reply *b, uint32_t op)
{
        size_t i;

        if (a->id != b->id || a->status != b->status) {
                return false;
        }
        if (a->status < 0) {
                return strcmp(a->error, b->error) == 0;
        }
        switch (op) {
        case TSHM_OP_HELLO:
                return a->version == b->version;
        case TSHM_OP_CREATE:
        case TSHM_OP_OPEN:
                return a->handle == b->handle && a->size == b->size && b->has_fd;
        case TSHM_OP_STAT:
                return info_equal(&a->info, &b->info);
        case TSHM_OP_LIST:
                if (a->ninfos != b->ninfos || a->next_cursor != b->next_cursor) {
                        return false;
                }
                for (i = 0; i < a->ninfos; i++) {
                        if (!info_equal(&a->infos[i], &b->infos[i])) {
                                return false;
                        }
                }
                return true;
        case TSHM_OP_GC:
                if (a->ngc != b->ngc) {
                        return false;
                }
                for (i = 0; i < a->ngc; i++) {
                        if (strcmp(a->gc[i].object, b->gc[i].object) != 0 ||
                            strcmp(a->gc[i].reason, b->gc[i].reason) != 0 ||
                            a->gc[i].removed != b->gc[i].removed) {
                                return false;
                        }
                }
                return true;
        case TSHM_OP_DAEMON_STAT:
                return daemon_info_equal(&a->daemon, &b->daemon);
        case TSHM_OP_MIRRORS:
                /* Every field travels; the padding and tails are zero on
                 * both sides (the decoder clears each entry). */
                return a->nmirrors == b->nmirrors &&
                       (a->nmirrors == 0 ||
                        memcmp(a->mirrors, b->mirrors, a->nmirrors * sizeof(a->mirrors[0])) == 0);
        default:
                return true;
        }
}

static void
reply_free(struct tshm__reply *rep)
{
        free(rep->infos);
        free(rep->gc);
        free(rep->mirrors);
}

static void
reply_roundtrip(const struct tshm__reply *rep, uint32_t op)
{
        struct tshm__reply_enc e;
        struct tshm__reply again;
        const uint8_t *frame;

        tshm__reply_enc_init(&e);
        if (reply_encode(rep, op, &e)) {
                frame = (const uint8_t *)e.sbuf.data;
                FUZZ_CHECK(tshm__reply_enc_size(&e) >= 4);
                FUZZ_CHECK(tshm__get_be32(frame) == tshm__reply_enc_size(&e) - 4);
                FUZZ_CHECK(
                    tshm__reply_decode(frame + 4, tshm__reply_enc_size(&e) - 4, op, &again) == 0);
                reply_check(&again, op);
                FUZZ_CHECK(reply_equal(rep, &again, op));
                reply_free(&again);
        }
        tshm__reply_enc_done(&e);
}

static void
fuzz_reply(const uint8_t *data, size_t size, uint32_t op)
{
        struct tshm__reply rep;
        int rv;

        rv = tshm__reply_decode(data, size, op, &rep);
        if (rv < 0) {
                FUZZ_CHECK(rv == TSHM_EPROTO || rv == TSHM_ENOMEM);
                FUZZ_CHECK(rep.infos == NULL && rep.gc == NULL && rep.mirrors == NULL);
                return;
        }
        FUZZ_CHECK(rv == 0);
        reply_check(&rep, op);
        reply_roundtrip(&rep, op);
        reply_free(&rep);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        size_t i;

        fuzz_request(data, size);
        for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
                fuzz_reply(data, size, ops[i]);
        }
        return 0;
}
