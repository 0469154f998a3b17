/*
 * reply.c - encode and decode tshm replies (PROTOCOL.md section 4).
 *
 * Replies are lenient: unknown keys are ignored, so a newer daemon can add
 * result fields within one protocol version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpobj.h"

void
tshm__reply_enc_init(struct tshm__reply_enc *e)
{
        msgpack_sbuffer_init(&e->sbuf);
        msgpack_packer_init(&e->pk, &e->sbuf, tshm__mp_sbuffer_write);
}

void
tshm__reply_enc_done(struct tshm__reply_enc *e)
{
        msgpack_sbuffer_destroy(&e->sbuf);
}

/* Start a reply map of id, status and @extra more pairs. */
static int
reply_begin(struct tshm__reply_enc *e, uint64_t id, int status, uint32_t extra)
{
        int rv = tshm__mp_frame_begin(&e->sbuf) | msgpack_pack_map(&e->pk, 2 + extra);

        rv |= tshm__mp_pack_kv_u64(&e->pk, "id", id);
        rv |= tshm__mp_pack_key(&e->pk, "status") | msgpack_pack_int32(&e->pk, status);
        return rv;
}

static int
reply_end(struct tshm__reply_enc *e, int rv)
{
        if (rv != 0) {
                return TSHM_ENOMEM;
        }
        return tshm__mp_frame_end(&e->sbuf, TSHM_PROTO_MAX_REPLY);
}

int
tshm__reply_error(struct tshm__reply_enc *e, uint64_t id, int status, const char *msg)
{
        int rv = reply_begin(e, id, status, 1);

        rv |= tshm__mp_pack_kv_str(&e->pk, "error", msg != NULL ? msg : tshm__strerror(status));
        return reply_end(e, rv);
}

int
tshm__reply_hello(struct tshm__reply_enc *e, uint64_t id, uint32_t version)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= tshm__mp_pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 2);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "version", version);
        rv |= tshm__mp_pack_kv_str(&e->pk, "server", TSHM__VERSION_STRING);
        return reply_end(e, rv);
}

int
tshm__reply_fd(struct tshm__reply_enc *e, uint64_t id, uint64_t handle, uint64_t size)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= tshm__mp_pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 3);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "handle", handle) |
              tshm__mp_pack_kv_u64(&e->pk, "size", size);
        rv |= tshm__mp_pack_key(&e->pk, "fd") | msgpack_pack_true(&e->pk);
        return reply_end(e, rv);
}

int
tshm__reply_seg(struct tshm__reply_enc *e, uint64_t id, uint64_t handle, uint64_t size,
                tshm_dtype dtype, uint32_t ndim, const uint64_t *shape, uint32_t slots,
                uint32_t policy, uint32_t kind)
{
        int rv = reply_begin(e, id, 0, 1);
        uint32_t i;

        /* "kind" only for a group: an array's and a stream's replies stay
         * what they were before the key existed. */
        rv |= tshm__mp_pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, kind != 0 ? 8 : 7);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "handle", handle) |
              tshm__mp_pack_kv_u64(&e->pk, "size", size);
        rv |= tshm__mp_pack_key(&e->pk, "fd") | msgpack_pack_true(&e->pk);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "dtype", (uint64_t)dtype);
        rv |= tshm__mp_pack_key(&e->pk, "shape") | msgpack_pack_array(&e->pk, ndim);
        for (i = 0; i < ndim; i++) {
                rv |= msgpack_pack_uint64(&e->pk, shape[i]);
        }
        rv |= tshm__mp_pack_kv_u64(&e->pk, "slots", slots) |
              tshm__mp_pack_kv_u64(&e->pk, "policy", policy);
        if (kind != 0) {
                rv |= tshm__mp_pack_kv_u64(&e->pk, "kind", kind);
        }
        return reply_end(e, rv);
}

int
tshm__reply_empty(struct tshm__reply_enc *e, uint64_t id)
{
        return reply_end(e, reply_begin(e, id, 0, 0));
}

static int
pack_info(msgpack_packer *pk, const tshm_info *in)
{
        const char *dt = tshm__dtype_name(in->dtype);
        bool group = in->kind == TSHM_KIND_GROUP;
        int rv = msgpack_pack_map(pk, group ? 14 : 13);

        rv |= tshm__mp_pack_kv_str(pk, "name", in->name);
        rv |= tshm__mp_pack_kv_str(pk, "dtype", dt != NULL ? dt : "");
        rv |= tshm__mp_pack_key(pk, "shape") | tshm__mp_pack_shape(pk, in->ndim, in->shape);
        rv |= tshm__mp_pack_kv_u64(pk, "nbytes", in->nbytes) |
              tshm__mp_pack_kv_u64(pk, "size", in->size);
        rv |= tshm__mp_pack_kv_u64(pk, "owner", in->owner_uid) |
              tshm__mp_pack_kv_u64(pk, "group", in->owner_gid);
        rv |= tshm__mp_pack_kv_u64(pk, "mode", in->mode) |
              tshm__mp_pack_kv_u64(pk, "opens", in->opens);
        rv |= tshm__mp_pack_kv_u64(pk, "created", in->created_ns) |
              tshm__mp_pack_kv_u64(
                  pk, "flags",
                  in->flags | (in->kind == TSHM_KIND_STREAM ? TSHM_PROTO_INFO_STREAM : 0u) |
                      (group ? TSHM_PROTO_INFO_GROUP : 0u));
        rv |= tshm__mp_pack_kv_u64(pk, "backing", in->backing) |
              tshm__mp_pack_kv_u64(pk, "page", in->page_size);
        if (group) {
                rv |= tshm__mp_pack_kv_u64(pk, "tensors", in->tensors);
        }
        return rv;
}

int
tshm__reply_stat(struct tshm__reply_enc *e, uint64_t id, const tshm_info *info)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= tshm__mp_pack_key(&e->pk, "result") | pack_info(&e->pk, info);
        return reply_end(e, rv);
}

int
tshm__reply_stat_stream(struct tshm__reply_enc *e, uint64_t id, const tshm_info *info,
                        const tshm_stream_info *st)
{
        int rv = reply_begin(e, id, 0, 2);

        rv |= tshm__mp_pack_key(&e->pk, "result") | pack_info(&e->pk, info);
        rv |= tshm__mp_pack_key(&e->pk, "stream") | msgpack_pack_map(&e->pk, 4);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "slots", st->slots) |
              tshm__mp_pack_kv_u64(&e->pk, "policy", st->policy);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "subscribers", st->subscribers) |
              tshm__mp_pack_kv_u64(&e->pk, "frames", st->frames);
        return reply_end(e, rv);
}

int
tshm__reply_list_begin(struct tshm__reply_enc *e, uint64_t id, uint32_t count)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= tshm__mp_pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 2);
        rv |= tshm__mp_pack_key(&e->pk, "entries") | msgpack_pack_array(&e->pk, count);
        return rv != 0 ? TSHM_ENOMEM : 0;
}

int
tshm__reply_list_add(struct tshm__reply_enc *e, const tshm_info *info)
{
        return pack_info(&e->pk, info) != 0 ? TSHM_ENOMEM : 0;
}

int
tshm__reply_list_end(struct tshm__reply_enc *e, uint64_t next_cursor)
{
        return reply_end(e, tshm__mp_pack_kv_u64(&e->pk, "next", next_cursor));
}

int
tshm__reply_daemon_stat(struct tshm__reply_enc *e, uint64_t id, const tshm_daemon_info *st)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= tshm__mp_pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 10);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "segments", st->segments);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "bytes", st->bytes);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "max_bytes", st->max_bytes);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "clients", st->clients);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "opens", st->opens);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "requests", st->requests);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "uptime_ns", st->uptime_ns);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "shm_free", st->shm_free);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "pid", st->pid);
        rv |= tshm__mp_pack_kv_u64(&e->pk, "proto", st->proto);
        return reply_end(e, rv);
}

int
tshm__reply_gc_begin(struct tshm__reply_enc *e, uint64_t id, uint32_t count)
{
        return tshm__reply_list_begin(e, id, count);
}

int
tshm__reply_gc_add(struct tshm__reply_enc *e, const char *object, const char *reason, bool removed)
{
        int rv = msgpack_pack_map(&e->pk, 3);

        rv |= tshm__mp_pack_kv_str(&e->pk, "object", object);
        rv |= tshm__mp_pack_kv_str(&e->pk, "reason", reason);
        rv |= tshm__mp_pack_key(&e->pk, "removed");
        rv |= removed ? msgpack_pack_true(&e->pk) : msgpack_pack_false(&e->pk);
        return rv != 0 ? TSHM_ENOMEM : 0;
}

int
tshm__reply_gc_end(struct tshm__reply_enc *e)
{
        return tshm__reply_list_end(e, 0);
}

int
tshm__reply_mirrors_begin(struct tshm__reply_enc *e, uint64_t id, uint32_t count)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= tshm__mp_pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 1);
        rv |= tshm__mp_pack_key(&e->pk, "mirrors") | msgpack_pack_array(&e->pk, count);
        return rv != 0 ? TSHM_ENOMEM : 0;
}

int
tshm__reply_mirrors_add(struct tshm__reply_enc *e, const tshm_mirror_info *m)
{
        msgpack_packer *pk = &e->pk;
        int rv = msgpack_pack_map(pk, 12);

        rv |= tshm__mp_pack_kv_str(pk, "name", m->name);
        rv |= tshm__mp_pack_kv_str(pk, "remote", m->remote);
        rv |= tshm__mp_pack_kv_str(pk, "peer", m->peer);
        rv |= tshm__mp_pack_key(pk, "incoming") |
              (m->incoming ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
        rv |= tshm__mp_pack_key(pk, "stream") |
              (m->stream ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
        rv |= tshm__mp_pack_kv_u64(pk, "state", m->state);
        rv |= tshm__mp_pack_kv_u64(pk, "sent", m->sent);
        rv |= tshm__mp_pack_kv_u64(pk, "dropped", m->dropped);
        rv |= tshm__mp_pack_kv_u64(pk, "lag_ns", m->lag_ns);
        rv |= tshm__mp_pack_kv_u64(pk, "seq", m->seq);
        rv |= tshm__mp_pack_kv_u64(pk, "reconnects", m->reconnects);
        rv |= tshm__mp_pack_kv_str(pk, "error", m->error);
        return rv != 0 ? TSHM_ENOMEM : 0;
}

int
tshm__reply_mirrors_end(struct tshm__reply_enc *e)
{
        return reply_end(e, 0);
}

static bool
decode_info(const msgpack_object *m, tshm_info *in)
{
        const msgpack_object *name = tshm__mp_map_get(m, "name"),
                             *dt = tshm__mp_map_get(m, "dtype");
        const msgpack_object *shape = tshm__mp_map_get(m, "shape");
        char dtype[32];
        uint32_t i;

        memset(in, 0, sizeof(*in));
        if (name == NULL || !tshm__mp_obj_str(name, in->name, sizeof(in->name)) || dt == NULL ||
            !tshm__mp_obj_str(dt, dtype, sizeof(dtype)) ||
            tshm__dtype_parse(dtype, &in->dtype) < 0 || shape == NULL ||
            shape->type != MSGPACK_OBJECT_ARRAY || shape->via.array.size > TSHM_MAX_NDIM) {
                return false;
        }
        in->ndim = shape->via.array.size;
        for (i = 0; i < in->ndim; i++) {
                if (!tshm__mp_obj_u64(&shape->via.array.ptr[i], &in->shape[i])) {
                        return false;
                }
        }
        if (!tshm__mp_get_u64(m, "nbytes", &in->nbytes) ||
            !tshm__mp_get_u64(m, "size", &in->size) ||
            !tshm__mp_get_u32(m, "owner", &in->owner_uid) ||
            !tshm__mp_get_u32(m, "group", &in->owner_gid) ||
            !tshm__mp_get_u32(m, "mode", &in->mode) || !tshm__mp_get_u32(m, "opens", &in->opens) ||
            !tshm__mp_get_u64(m, "created", &in->created_ns) ||
            !tshm__mp_get_u32(m, "flags", &in->flags)) {
                return false;
        }
        /* Optional: older daemons leave both out (read as 0). */
        if ((tshm__mp_map_get(m, "backing") != NULL &&
             !tshm__mp_get_u32(m, "backing", &in->backing)) ||
            (tshm__mp_map_get(m, "page") != NULL && !tshm__mp_get_u64(m, "page", &in->page_size))) {
                return false;
        }
        in->kind = (in->flags & TSHM_PROTO_INFO_STREAM) != 0  ? TSHM_KIND_STREAM
                   : (in->flags & TSHM_PROTO_INFO_GROUP) != 0 ? TSHM_KIND_GROUP
                                                              : TSHM_KIND_ARRAY;
        in->flags &= ~(TSHM_PROTO_INFO_STREAM | TSHM_PROTO_INFO_GROUP);
        /* A group's tensor count; optional like the two above. */
        if (tshm__mp_map_get(m, "tensors") != NULL &&
            !tshm__mp_get_u64(m, "tensors", &in->tensors)) {
                return false;
        }
        return true;
}

static int
decode_list(const msgpack_object *res, struct tshm__reply *reply)
{
        const msgpack_object *entries = tshm__mp_map_get(res, "entries");
        uint32_t i, n;

        if (entries == NULL || entries->type != MSGPACK_OBJECT_ARRAY ||
            !tshm__mp_get_u64(res, "next", &reply->next_cursor)) {
                return TSHM_EPROTO;
        }
        n = entries->via.array.size;
        if (n > 0) {
                reply->infos = tshm__calloc(n, sizeof(*reply->infos));
                if (reply->infos == NULL) {
                        return TSHM_ENOMEM;
                }
        }
        for (i = 0; i < n; i++) {
                if (!decode_info(&entries->via.array.ptr[i], &reply->infos[i])) {
                        tshm__free(reply->infos);
                        reply->infos = NULL;
                        return TSHM_EPROTO;
                }
        }
        reply->ninfos = n;
        return 0;
}

static bool
decode_gc_entry(const msgpack_object *m, tshm_gc_entry *g)
{
        const msgpack_object *removed = tshm__mp_map_get(m, "removed");
        const msgpack_object *o = tshm__mp_map_get(m, "object");
        const msgpack_object *r = tshm__mp_map_get(m, "reason");

        memset(g, 0, sizeof(*g));
        if (o == NULL || r == NULL || removed == NULL || removed->type != MSGPACK_OBJECT_BOOLEAN ||
            r->type != MSGPACK_OBJECT_STR || !tshm__mp_obj_str(o, g->object, sizeof(g->object))) {
                return false;
        }
        /* A reason longer than the field is cut, not refused. */
        snprintf(g->reason, sizeof(g->reason), "%.*s", (int)r->via.str.size, r->via.str.ptr);
        g->removed = removed->via.boolean ? 1 : 0;
        return true;
}

static int
decode_gc(const msgpack_object *res, struct tshm__reply *reply)
{
        const msgpack_object *entries = tshm__mp_map_get(res, "entries");
        uint32_t i, n;

        if (entries == NULL || entries->type != MSGPACK_OBJECT_ARRAY) {
                return TSHM_EPROTO;
        }
        n = entries->via.array.size;
        if (n > 0 && (reply->gc = tshm__calloc(n, sizeof(*reply->gc))) == NULL) {
                return TSHM_ENOMEM;
        }
        for (i = 0; i < n; i++) {
                if (!decode_gc_entry(&entries->via.array.ptr[i], &reply->gc[i])) {
                        tshm__free(reply->gc);
                        reply->gc = NULL;
                        return TSHM_EPROTO;
                }
        }
        reply->ngc = n;
        return 0;
}

static bool
mirror_get_bool(const msgpack_object *m, const char *key, uint8_t *ret)
{
        const msgpack_object *o = tshm__mp_map_get(m, key);

        if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN) {
                return false;
        }
        *ret = o->via.boolean ? 1 : 0;
        return true;
}

static bool
decode_mirror(const msgpack_object *m, tshm_mirror_info *mi)
{
        const msgpack_object *name = tshm__mp_map_get(m, "name");
        const msgpack_object *remote = tshm__mp_map_get(m, "remote");
        const msgpack_object *peer = tshm__mp_map_get(m, "peer");
        const msgpack_object *error = tshm__mp_map_get(m, "error");

        memset(mi, 0, sizeof(*mi));
        if (m->type != MSGPACK_OBJECT_MAP || name == NULL ||
            !tshm__mp_obj_str(name, mi->name, sizeof(mi->name)) || remote == NULL ||
            !tshm__mp_obj_str(remote, mi->remote, sizeof(mi->remote)) || peer == NULL ||
            !tshm__mp_obj_str(peer, mi->peer, sizeof(mi->peer)) || error == NULL ||
            error->type != MSGPACK_OBJECT_STR) {
                return false;
        }
        /* An error longer than the field is cut, not refused. */
        snprintf(mi->error, sizeof(mi->error), "%.*s", (int)error->via.str.size,
                 error->via.str.ptr);
        return mirror_get_bool(m, "incoming", &mi->incoming) &&
               mirror_get_bool(m, "stream", &mi->stream) &&
               tshm__mp_get_u32(m, "state", &mi->state) && tshm__mp_get_u64(m, "sent", &mi->sent) &&
               tshm__mp_get_u64(m, "dropped", &mi->dropped) &&
               tshm__mp_get_u64(m, "lag_ns", &mi->lag_ns) && tshm__mp_get_u64(m, "seq", &mi->seq) &&
               tshm__mp_get_u64(m, "reconnects", &mi->reconnects);
}

static int
decode_mirrors(const msgpack_object *res, struct tshm__reply *reply)
{
        const msgpack_object *arr = tshm__mp_map_get(res, "mirrors");
        uint32_t i, n;

        if (arr == NULL || arr->type != MSGPACK_OBJECT_ARRAY) {
                return TSHM_EPROTO;
        }
        n = arr->via.array.size;
        if (n > 0 && (reply->mirrors = tshm__calloc(n, sizeof(*reply->mirrors))) == NULL) {
                return TSHM_ENOMEM;
        }
        for (i = 0; i < n; i++) {
                if (!decode_mirror(&arr->via.array.ptr[i], &reply->mirrors[i])) {
                        tshm__free(reply->mirrors);
                        reply->mirrors = NULL;
                        return TSHM_EPROTO;
                }
        }
        reply->nmirrors = n;
        return 0;
}

static bool
decode_daemon_stat(const msgpack_object *m, tshm_daemon_info *st)
{
        return tshm__mp_get_u64(m, "segments", &st->segments) &&
               tshm__mp_get_u64(m, "bytes", &st->bytes) &&
               tshm__mp_get_u64(m, "max_bytes", &st->max_bytes) &&
               tshm__mp_get_u64(m, "clients", &st->clients) &&
               tshm__mp_get_u64(m, "opens", &st->opens) &&
               tshm__mp_get_u64(m, "requests", &st->requests) &&
               tshm__mp_get_u64(m, "uptime_ns", &st->uptime_ns) &&
               tshm__mp_get_u64(m, "shm_free", &st->shm_free) &&
               tshm__mp_get_u32(m, "pid", &st->pid) && tshm__mp_get_u32(m, "proto", &st->proto);
}

/* The geometry of a create or open reply, if it has one (all of dtype,
 * shape, slots and policy, or none). */
static int
decode_geom(const msgpack_object *res, struct tshm__reply *reply)
{
        const msgpack_object *shape = tshm__mp_map_get(res, "shape");
        uint32_t dtype, i;

        if (shape == NULL && tshm__mp_map_get(res, "dtype") == NULL) {
                return 0;
        }
        if (shape == NULL || shape->type != MSGPACK_OBJECT_ARRAY ||
            shape->via.array.size > TSHM_MAX_NDIM || !tshm__mp_get_u32(res, "dtype", &dtype) ||
            !tshm__mp_get_u32(res, "slots", &reply->slots) ||
            !tshm__mp_get_u32(res, "policy", &reply->policy) ||
            (tshm__mp_map_get(res, "kind") != NULL &&
             !tshm__mp_get_u32(res, "kind", &reply->kind))) {
                return TSHM_EPROTO;
        }
        reply->dtype = (tshm_dtype)dtype;
        reply->ndim = shape->via.array.size;
        for (i = 0; i < reply->ndim; i++) {
                if (!tshm__mp_obj_u64(&shape->via.array.ptr[i], &reply->shape[i])) {
                        return TSHM_EPROTO;
                }
        }
        reply->has_geom = true;
        return 0;
}

static int
decode_result(const msgpack_object *res, uint32_t op, struct tshm__reply *reply)
{
        const msgpack_object *fd;

        switch (op) {
        case TSHM_OP_HELLO:
                return tshm__mp_get_u32(res, "version", &reply->version) ? 0 : TSHM_EPROTO;
        case TSHM_OP_CREATE:
        case TSHM_OP_STREAM_CREATE:
        case TSHM_OP_OPEN:
        case TSHM_OP_ATTACH:
                fd = tshm__mp_map_get(res, "fd");
                reply->has_fd = fd != NULL && fd->type == MSGPACK_OBJECT_BOOLEAN && fd->via.boolean;
                if (!tshm__mp_get_u64(res, "handle", &reply->handle) ||
                    !tshm__mp_get_u64(res, "size", &reply->size)) {
                        return TSHM_EPROTO;
                }
                return decode_geom(res, reply);
        case TSHM_OP_STAT:
                return decode_info(res, &reply->info) ? 0 : TSHM_EPROTO;
        case TSHM_OP_LIST:
                return decode_list(res, reply);
        case TSHM_OP_GC:
                return decode_gc(res, reply);
        case TSHM_OP_MIRRORS:
                return decode_mirrors(res, reply);
        case TSHM_OP_DAEMON_STAT:
                return decode_daemon_stat(res, &reply->daemon) ? 0 : TSHM_EPROTO;
        default:
                return 0;
        }
}

static int
reply_decode_map(const msgpack_object *root, uint32_t op, struct tshm__reply *reply)
{
        const msgpack_object *o, *res;

        if (root->type != MSGPACK_OBJECT_MAP || !tshm__mp_get_u64(root, "id", &reply->id) ||
            (o = tshm__mp_map_get(root, "status")) == NULL ||
            !tshm__mp_obj_i32(o, &reply->status) || reply->status > 0) {
                return TSHM_EPROTO;
        }
        if (reply->status < 0) {
                o = tshm__mp_map_get(root, "error");
                if (o != NULL && o->type == MSGPACK_OBJECT_STR) {
                        size_t n = o->via.str.size;
                        if (n >= sizeof(reply->error)) {
                                n = sizeof(reply->error) - 1;
                        }
                        memcpy(reply->error, o->via.str.ptr, n);
                        reply->error[n] = '\0';
                }
                return 0;
        }
        res = tshm__mp_map_get(root, "result");
        if (res == NULL) {
                /* close, unlink, chmod and chown carry no result; others must. */
                return op == TSHM_OP_CLOSE || op == TSHM_OP_UNLINK || op == TSHM_OP_CHMOD ||
                               op == TSHM_OP_CHOWN || op == TSHM_OP_PUBLISH || op == TSHM_OP_MIRROR
                           ? 0
                           : TSHM_EPROTO;
        }
        if (res->type != MSGPACK_OBJECT_MAP) {
                return TSHM_EPROTO;
        }
        /* A stream's stat carries its ring beside the result. */
        o = tshm__mp_map_get(root, "stream");
        if (op == TSHM_OP_STAT && o != NULL) {
                if (o->type != MSGPACK_OBJECT_MAP ||
                    !tshm__mp_get_u32(o, "slots", &reply->stream.slots) ||
                    !tshm__mp_get_u32(o, "policy", &reply->stream.policy) ||
                    !tshm__mp_get_u32(o, "subscribers", &reply->stream.subscribers) ||
                    !tshm__mp_get_u64(o, "frames", &reply->stream.frames)) {
                        return TSHM_EPROTO;
                }
                reply->has_stream = true;
        }
        return decode_result(res, op, reply);
}

int
tshm__reply_decode(const uint8_t *buf, size_t len, uint32_t op, struct tshm__reply *reply)
{
        msgpack_unpacked u;
        size_t off = 0;
        int rv;

        memset(reply, 0, sizeof(*reply));
        if (tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_LIST_PAGE * 2u) < 0) {
                return TSHM_EPROTO;
        }
        msgpack_unpacked_init(&u);
        if ((rv = msgpack_unpack_next(&u, (const char *)buf, len, &off)) !=
            MSGPACK_UNPACK_SUCCESS) {
                rv = rv == MSGPACK_UNPACK_NOMEM_ERROR ? TSHM_ENOMEM : TSHM_EPROTO;
                goto out;
        }
        rv = reply_decode_map(&u.data, op, reply);
out:
        msgpack_unpacked_destroy(&u);
        return rv;
}
