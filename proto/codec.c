/*
 * codec.c - encode and decode tshm requests and replies (PROTOCOL.md).
 *
 * Every payload is checked by tshm__mp_check() before msgpack-c parses it,
 * and no msgpack_object leaves this file: decoders fill plain C structs.
 * Requests are strict (unknown or misplaced keys are protocol errors);
 * replies are lenient (unknown keys are ignored), so a newer daemon can add
 * result fields within one protocol version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

const char *
tshm__op_name(uint32_t op)
{
        switch (op) {
        case TSHM_OP_HELLO:
                return "hello";
        case TSHM_OP_CREATE:
                return "create";
        case TSHM_OP_OPEN:
                return "open";
        case TSHM_OP_CLOSE:
                return "close";
        case TSHM_OP_UNLINK:
                return "unlink";
        case TSHM_OP_STAT:
                return "stat";
        case TSHM_OP_LIST:
                return "list";
        case TSHM_OP_STATS:
                return "stats";
        default:
                return NULL;
        }
}

/* Request keys, as bits for the per-op allowed/required sets. */
enum req_key {
        K_OP = 1u << 0,
        K_ID = 1u << 1,
        K_VERSION = 1u << 2,
        K_NAME = 1u << 3,
        K_DTYPE = 1u << 4,
        K_SHAPE = 1u << 5,
        K_MODE = 1u << 6,
        K_FLAGS = 1u << 7,
        K_WRITABLE = 1u << 8,
        K_HANDLE = 1u << 9,
        K_CURSOR = 1u << 10,
        K_LIMIT = 1u << 11,
};

static const struct {
        const char *name;
        unsigned bit;
} req_keys[] = {
    {"op", K_OP},         {"id", K_ID},         {"version", K_VERSION},
    {"name", K_NAME},     {"dtype", K_DTYPE},   {"shape", K_SHAPE},
    {"mode", K_MODE},     {"flags", K_FLAGS},   {"writable", K_WRITABLE},
    {"handle", K_HANDLE}, {"cursor", K_CURSOR}, {"limit", K_LIMIT},
};

#define NKEYS (sizeof(req_keys) / sizeof(req_keys[0]))

static bool
op_keys(uint32_t op, unsigned *ret_required, unsigned *ret_optional)
{
        unsigned req = K_OP | K_ID, opt = 0;

        switch (op) {
        case TSHM_OP_HELLO:
                req |= K_VERSION;
                break;
        case TSHM_OP_CREATE:
                req |= K_NAME | K_DTYPE | K_SHAPE;
                opt = K_MODE | K_FLAGS;
                break;
        case TSHM_OP_OPEN:
                req |= K_NAME;
                opt = K_WRITABLE;
                break;
        case TSHM_OP_CLOSE:
                req |= K_HANDLE;
                break;
        case TSHM_OP_UNLINK:
        case TSHM_OP_STAT:
                req |= K_NAME;
                break;
        case TSHM_OP_LIST:
                opt = K_CURSOR | K_LIMIT;
                break;
        case TSHM_OP_STATS:
                break;
        default:
                return false;
        }
        *ret_required = req;
        *ret_optional = opt;
        return true;
}

/* ---- encoding helpers ---- */

static int
pack_key(msgpack_packer *pk, const char *key)
{
        return msgpack_pack_str_with_body(pk, key, strlen(key));
}

static int
pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
        return pack_key(pk, key) | msgpack_pack_uint64(pk, v);
}

static int
pack_kv_str(msgpack_packer *pk, const char *key, const char *s)
{
        return pack_key(pk, key) | msgpack_pack_str_with_body(pk, s, strlen(s));
}

static int
pack_shape(msgpack_packer *pk, uint32_t ndim, const uint64_t *shape)
{
        int rv;
        uint32_t i;

        if (ndim > TSHM_MAX_NDIM) {
                return -1;
        }
        rv = msgpack_pack_array(pk, ndim);

        for (i = 0; i < ndim; i++) {
                rv |= msgpack_pack_uint64(pk, shape[i]);
        }
        return rv;
}

/* Reserve the 4-byte length prefix. Encoders write one frame into an empty
 * buffer: the prefix is at offset 0. */
static int
frame_begin(msgpack_sbuffer *sbuf)
{
        static const char zero[4] = {0, 0, 0, 0};

        if (sbuf->size != 0) {
                return -1;
        }
        return msgpack_sbuffer_write(sbuf, zero, sizeof(zero));
}

static int
frame_end(msgpack_sbuffer *sbuf, uint32_t max)
{
        if (sbuf->size - 4 > max) {
                return TSHM_ETOOBIG;
        }
        tshm__put_be32((uint8_t *)sbuf->data, (uint32_t)(sbuf->size - 4));
        return 0;
}

int
tshm__req_encode(const struct tshm__req *req, msgpack_sbuffer *out)
{
        msgpack_packer pk;
        unsigned required, optional;
        uint32_t n;
        int rv;

        if (!op_keys(req->op, &required, &optional) || req->ndim > TSHM_MAX_NDIM ||
            out->size != 0) {
                return TSHM_EINVAL;
        }
        /* Send every required key and the optional ones of the op. */
        n = (uint32_t)__builtin_popcount(required | optional);
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        rv = frame_begin(out) | msgpack_pack_map(&pk, n);
        rv |= pack_kv_u64(&pk, "op", req->op) | pack_kv_u64(&pk, "id", req->id);
        if ((required | optional) & K_VERSION) {
                rv |= pack_kv_u64(&pk, "version", req->version);
        }
        if ((required | optional) & K_NAME) {
                rv |= pack_kv_str(&pk, "name", req->name);
        }
        if ((required | optional) & K_DTYPE) {
                const char *dt = tshm_dtype_name(req->dtype);
                rv |= pack_kv_str(&pk, "dtype", dt != NULL ? dt : "");
        }
        if ((required | optional) & K_SHAPE) {
                rv |= pack_key(&pk, "shape") | pack_shape(&pk, req->ndim, req->shape);
        }
        if ((required | optional) & K_MODE) {
                rv |= pack_kv_u64(&pk, "mode", req->mode);
        }
        if ((required | optional) & K_FLAGS) {
                rv |= pack_kv_u64(&pk, "flags", req->flags);
        }
        if ((required | optional) & K_WRITABLE) {
                rv |= pack_key(&pk, "writable");
                rv |= req->writable ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        }
        if ((required | optional) & K_HANDLE) {
                rv |= pack_kv_u64(&pk, "handle", req->handle);
        }
        if ((required | optional) & K_CURSOR) {
                rv |= pack_kv_u64(&pk, "cursor", req->cursor);
        }
        if ((required | optional) & K_LIMIT) {
                rv |= pack_kv_u64(&pk, "limit", req->limit);
        }
        if (rv != 0) {
                return TSHM_ENOMEM;
        }
        return frame_end(out, TSHM_PROTO_MAX_REQUEST);
}

/* ---- decoding helpers ---- */

static bool
obj_u64(const msgpack_object *o, uint64_t *ret)
{
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                return false;
        }
        *ret = o->via.u64;
        return true;
}

static bool
obj_u32(const msgpack_object *o, uint32_t *ret)
{
        uint64_t v;

        if (!obj_u64(o, &v) || v > UINT32_MAX) {
                return false;
        }
        *ret = (uint32_t)v;
        return true;
}

static bool
obj_i32(const msgpack_object *o, int32_t *ret)
{
        if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT32_MAX) {
                *ret = (int32_t)o->via.u64;
                return true;
        }
        if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 >= INT32_MIN) {
                *ret = (int32_t)o->via.i64;
                return true;
        }
        return false;
}

/* Copy a string object into @dst (@cap bytes with the NUL); false if it is
 * not a string, is longer, or holds a NUL byte. */
static bool
obj_str(const msgpack_object *o, char *dst, size_t cap)
{
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap ||
            memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
                return false;
        }
        memcpy(dst, o->via.str.ptr, o->via.str.size);
        dst[o->via.str.size] = '\0';
        return true;
}

static bool
key_is(const msgpack_object *k, const char *name)
{
        size_t n = strlen(name);

        return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
               memcmp(k->via.str.ptr, name, n) == 0;
}

static int
decode_shape(const msgpack_object *o, struct tshm__req *req)
{
        uint32_t i;

        if (o->type != MSGPACK_OBJECT_ARRAY) {
                return TSHM_EPROTO;
        }
        if (o->via.array.size > TSHM_MAX_NDIM) {
                return TSHM_EBADSHAPE;
        }
        for (i = 0; i < o->via.array.size; i++) {
                const msgpack_object *e = &o->via.array.ptr[i];
                if (e->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                        return TSHM_EBADSHAPE;
                }
                if (!obj_u64(e, &req->shape[i])) {
                        return TSHM_EPROTO;
                }
        }
        req->ndim = o->via.array.size;
        return 0;
}

/* Decode one key/value pair into @req. Returns 0 or an error code with a
 * reason in @err. */
static int
decode_kv(const msgpack_object *v, unsigned bit, struct tshm__req *req, char *err, size_t errlen)
{
        char dtype[32];
        int rv = 0;
        bool ok = true;

        switch (bit) {
        case K_OP:
                ok = obj_u32(v, &req->op);
                break;
        case K_ID:
                ok = obj_u64(v, &req->id);
                break;
        case K_VERSION:
                ok = obj_u32(v, &req->version);
                break;
        case K_NAME:
                if (v->type != MSGPACK_OBJECT_STR) {
                        ok = false;
                } else if (!obj_str(v, req->name, sizeof(req->name)) ||
                           tshm_name_check(req->name) < 0) {
                        rv = TSHM_EBADNAME;
                }
                break;
        case K_DTYPE:
                if (v->type != MSGPACK_OBJECT_STR) {
                        ok = false;
                } else if (!obj_str(v, dtype, sizeof(dtype)) ||
                           tshm_dtype_parse(dtype, &req->dtype) < 0) {
                        rv = TSHM_EBADDTYPE;
                }
                break;
        case K_SHAPE:
                rv = decode_shape(v, req);
                break;
        case K_MODE:
                ok = obj_u32(v, &req->mode);
                if (ok && req->mode > 0777u) {
                        snprintf(err, errlen, "mode %o has bits outside 0777", req->mode);
                        return TSHM_EINVAL;
                }
                break;
        case K_FLAGS:
                ok = obj_u32(v, &req->flags);
                break;
        case K_WRITABLE:
                ok = v->type == MSGPACK_OBJECT_BOOLEAN;
                req->writable = ok && v->via.boolean;
                break;
        case K_HANDLE:
                ok = obj_u64(v, &req->handle);
                break;
        case K_CURSOR:
                ok = obj_u64(v, &req->cursor);
                break;
        case K_LIMIT:
                ok = obj_u32(v, &req->limit);
                break;
        default:
                ok = false;
                break;
        }
        if (!ok) {
                rv = TSHM_EPROTO;
        }
        if (rv < 0) {
                snprintf(err, errlen, "%s",
                         rv == TSHM_EPROTO ? "a key has a value of the wrong type"
                                           : tshm_strerror(rv));
        }
        return rv;
}

static int
req_check_keys(const struct tshm__req *req, unsigned seen, char *err, size_t errlen)
{
        unsigned required, optional;

        if (!op_keys(req->op, &required, &optional)) {
                snprintf(err, errlen, "unknown op %u", req->op);
                return TSHM_EPROTO;
        }
        if ((seen & required) != required) {
                snprintf(err, errlen, "%s request lacks a required key", tshm__op_name(req->op));
                return TSHM_EPROTO;
        }
        if ((seen & ~(required | optional)) != 0) {
                snprintf(err, errlen, "%s request has a key it does not take",
                         tshm__op_name(req->op));
                return TSHM_EPROTO;
        }
        return 0;
}

/* The op and id, read first so that even a bad request gets an addressed
 * reply. */
static void
req_peek(const msgpack_object *root, struct tshm__req *req)
{
        uint32_t i;

        for (i = 0; i < root->via.map.size; i++) {
                const msgpack_object_kv *kv = &root->via.map.ptr[i];
                if (key_is(&kv->key, "op")) {
                        (void)obj_u32(&kv->val, &req->op);
                } else if (key_is(&kv->key, "id")) {
                        (void)obj_u64(&kv->val, &req->id);
                }
        }
}

static int
req_decode_map(const msgpack_object *root, struct tshm__req *req, char *err, size_t errlen)
{
        unsigned seen = 0;
        uint32_t i;
        size_t k;
        int rv;

        if (root->type != MSGPACK_OBJECT_MAP) {
                snprintf(err, errlen, "a request must be a map");
                return TSHM_EPROTO;
        }
        req_peek(root, req);
        for (i = 0; i < root->via.map.size; i++) {
                const msgpack_object_kv *kv = &root->via.map.ptr[i];
                for (k = 0; k < NKEYS; k++) {
                        if (key_is(&kv->key, req_keys[k].name)) {
                                break;
                        }
                }
                if (k == NKEYS || (seen & req_keys[k].bit) != 0) {
                        snprintf(err, errlen, "%s request key",
                                 k == NKEYS ? "unknown" : "duplicate");
                        return TSHM_EPROTO;
                }
                seen |= req_keys[k].bit;
                if ((rv = decode_kv(&kv->val, req_keys[k].bit, req, err, errlen)) < 0) {
                        return rv;
                }
        }
        return req_check_keys(req, seen, err, errlen);
}

int
tshm__req_decode(const uint8_t *buf, size_t len, struct tshm__req *req, char *err, size_t errlen)
{
        msgpack_unpacked u;
        size_t off = 0;
        int rv;

        memset(req, 0, sizeof(*req));
        if (tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS) < 0) {
                snprintf(err, errlen, "not one well-formed msgpack value within the limits");
                return TSHM_EPROTO;
        }
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
                snprintf(err, errlen, "msgpack decoding failed");
                rv = TSHM_EPROTO;
                goto out;
        }
        rv = req_decode_map(&u.data, req, err, errlen);
out:
        msgpack_unpacked_destroy(&u);
        return rv;
}

/* ---- replies ---- */

void
tshm__reply_enc_init(struct tshm__reply_enc *e)
{
        msgpack_sbuffer_init(&e->sbuf);
        msgpack_packer_init(&e->pk, &e->sbuf, msgpack_sbuffer_write);
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
        int rv = frame_begin(&e->sbuf) | msgpack_pack_map(&e->pk, 2 + extra);

        rv |= pack_kv_u64(&e->pk, "id", id);
        rv |= pack_key(&e->pk, "status") | msgpack_pack_int32(&e->pk, status);
        return rv;
}

static int
reply_end(struct tshm__reply_enc *e, int rv)
{
        if (rv != 0) {
                return TSHM_ENOMEM;
        }
        return frame_end(&e->sbuf, TSHM_PROTO_MAX_REPLY);
}

int
tshm__reply_error(struct tshm__reply_enc *e, uint64_t id, int status, const char *msg)
{
        int rv = reply_begin(e, id, status, 1);

        rv |= pack_kv_str(&e->pk, "error", msg != NULL ? msg : tshm_strerror(status));
        return reply_end(e, rv);
}

int
tshm__reply_hello(struct tshm__reply_enc *e, uint64_t id, uint32_t version)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 2);
        rv |= pack_kv_u64(&e->pk, "version", version);
        rv |= pack_kv_str(&e->pk, "server", tshm_version_string());
        return reply_end(e, rv);
}

int
tshm__reply_fd(struct tshm__reply_enc *e, uint64_t id, uint64_t handle, uint64_t size)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 3);
        rv |= pack_kv_u64(&e->pk, "handle", handle) | pack_kv_u64(&e->pk, "size", size);
        rv |= pack_key(&e->pk, "fd") | msgpack_pack_true(&e->pk);
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
        const char *dt = tshm_dtype_name(in->dtype);
        int rv = msgpack_pack_map(pk, 11);

        rv |= pack_kv_str(pk, "name", in->name);
        rv |= pack_kv_str(pk, "dtype", dt != NULL ? dt : "");
        rv |= pack_key(pk, "shape") | pack_shape(pk, in->ndim, in->shape);
        rv |= pack_kv_u64(pk, "nbytes", in->nbytes) | pack_kv_u64(pk, "size", in->size);
        rv |= pack_kv_u64(pk, "owner", in->owner_uid) | pack_kv_u64(pk, "group", in->owner_gid);
        rv |= pack_kv_u64(pk, "mode", in->mode) | pack_kv_u64(pk, "opens", in->opens);
        rv |= pack_kv_u64(pk, "created", in->created_ns) | pack_kv_u64(pk, "flags", in->flags);
        return rv;
}

int
tshm__reply_stat(struct tshm__reply_enc *e, uint64_t id, const tshm_info *info)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= pack_key(&e->pk, "result") | pack_info(&e->pk, info);
        return reply_end(e, rv);
}

int
tshm__reply_list_begin(struct tshm__reply_enc *e, uint64_t id, uint32_t count)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 2);
        rv |= pack_key(&e->pk, "entries") | msgpack_pack_array(&e->pk, count);
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
        return reply_end(e, pack_kv_u64(&e->pk, "next", next_cursor));
}

int
tshm__reply_stats(struct tshm__reply_enc *e, uint64_t id, const tshm_stats *st)
{
        int rv = reply_begin(e, id, 0, 1);

        rv |= pack_key(&e->pk, "result") | msgpack_pack_map(&e->pk, 10);
        rv |= pack_kv_u64(&e->pk, "segments", st->segments);
        rv |= pack_kv_u64(&e->pk, "bytes", st->bytes);
        rv |= pack_kv_u64(&e->pk, "max_bytes", st->max_bytes);
        rv |= pack_kv_u64(&e->pk, "clients", st->clients);
        rv |= pack_kv_u64(&e->pk, "opens", st->opens);
        rv |= pack_kv_u64(&e->pk, "requests", st->requests);
        rv |= pack_kv_u64(&e->pk, "uptime_ns", st->uptime_ns);
        rv |= pack_kv_u64(&e->pk, "shm_free", st->shm_free);
        rv |= pack_kv_u64(&e->pk, "pid", st->pid);
        rv |= pack_kv_u64(&e->pk, "proto", st->proto);
        return reply_end(e, rv);
}

/* ---- reply decoding (lenient: unknown keys are skipped) ---- */

static const msgpack_object *
map_get(const msgpack_object *map, const char *key)
{
        uint32_t i;

        if (map->type != MSGPACK_OBJECT_MAP) {
                return NULL;
        }
        for (i = 0; i < map->via.map.size; i++) {
                if (key_is(&map->via.map.ptr[i].key, key)) {
                        return &map->via.map.ptr[i].val;
                }
        }
        return NULL;
}

static bool
get_u64(const msgpack_object *map, const char *key, uint64_t *ret)
{
        const msgpack_object *o = map_get(map, key);

        return o != NULL && obj_u64(o, ret);
}

static bool
get_u32(const msgpack_object *map, const char *key, uint32_t *ret)
{
        const msgpack_object *o = map_get(map, key);

        return o != NULL && obj_u32(o, ret);
}

static bool
decode_info(const msgpack_object *m, tshm_info *in)
{
        const msgpack_object *name = map_get(m, "name"), *dt = map_get(m, "dtype");
        const msgpack_object *shape = map_get(m, "shape");
        char dtype[32];
        uint32_t i;

        memset(in, 0, sizeof(*in));
        if (name == NULL || !obj_str(name, in->name, sizeof(in->name)) || dt == NULL ||
            !obj_str(dt, dtype, sizeof(dtype)) || tshm_dtype_parse(dtype, &in->dtype) < 0 ||
            shape == NULL || shape->type != MSGPACK_OBJECT_ARRAY ||
            shape->via.array.size > TSHM_MAX_NDIM) {
                return false;
        }
        in->ndim = shape->via.array.size;
        for (i = 0; i < in->ndim; i++) {
                if (!obj_u64(&shape->via.array.ptr[i], &in->shape[i])) {
                        return false;
                }
        }
        return get_u64(m, "nbytes", &in->nbytes) && get_u64(m, "size", &in->size) &&
               get_u32(m, "owner", &in->owner_uid) && get_u32(m, "group", &in->owner_gid) &&
               get_u32(m, "mode", &in->mode) && get_u32(m, "opens", &in->opens) &&
               get_u64(m, "created", &in->created_ns) && get_u32(m, "flags", &in->flags);
}

static int
decode_list(const msgpack_object *res, struct tshm__reply *reply)
{
        const msgpack_object *entries = map_get(res, "entries");
        uint32_t i, n;

        if (entries == NULL || entries->type != MSGPACK_OBJECT_ARRAY ||
            !get_u64(res, "next", &reply->next_cursor)) {
                return TSHM_EPROTO;
        }
        n = entries->via.array.size;
        if (n > 0) {
                reply->infos = calloc(n, sizeof(*reply->infos));
                if (reply->infos == NULL) {
                        return TSHM_ENOMEM;
                }
        }
        for (i = 0; i < n; i++) {
                if (!decode_info(&entries->via.array.ptr[i], &reply->infos[i])) {
                        free(reply->infos);
                        reply->infos = NULL;
                        return TSHM_EPROTO;
                }
        }
        reply->ninfos = n;
        return 0;
}

static bool
decode_stats(const msgpack_object *m, tshm_stats *st)
{
        return get_u64(m, "segments", &st->segments) && get_u64(m, "bytes", &st->bytes) &&
               get_u64(m, "max_bytes", &st->max_bytes) && get_u64(m, "clients", &st->clients) &&
               get_u64(m, "opens", &st->opens) && get_u64(m, "requests", &st->requests) &&
               get_u64(m, "uptime_ns", &st->uptime_ns) && get_u64(m, "shm_free", &st->shm_free) &&
               get_u32(m, "pid", &st->pid) && get_u32(m, "proto", &st->proto);
}

static int
decode_result(const msgpack_object *res, uint32_t op, struct tshm__reply *reply)
{
        const msgpack_object *fd;

        switch (op) {
        case TSHM_OP_HELLO:
                return get_u32(res, "version", &reply->version) ? 0 : TSHM_EPROTO;
        case TSHM_OP_CREATE:
        case TSHM_OP_OPEN:
                fd = map_get(res, "fd");
                reply->has_fd = fd != NULL && fd->type == MSGPACK_OBJECT_BOOLEAN && fd->via.boolean;
                return get_u64(res, "handle", &reply->handle) && get_u64(res, "size", &reply->size)
                           ? 0
                           : TSHM_EPROTO;
        case TSHM_OP_STAT:
                return decode_info(res, &reply->info) ? 0 : TSHM_EPROTO;
        case TSHM_OP_LIST:
                return decode_list(res, reply);
        case TSHM_OP_STATS:
                return decode_stats(res, &reply->stats) ? 0 : TSHM_EPROTO;
        default:
                return 0;
        }
}

static int
reply_decode_map(const msgpack_object *root, uint32_t op, struct tshm__reply *reply)
{
        const msgpack_object *o, *res;

        if (root->type != MSGPACK_OBJECT_MAP || !get_u64(root, "id", &reply->id) ||
            (o = map_get(root, "status")) == NULL || !obj_i32(o, &reply->status) ||
            reply->status > 0) {
                return TSHM_EPROTO;
        }
        if (reply->status < 0) {
                o = map_get(root, "error");
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
        res = map_get(root, "result");
        if (res == NULL) {
                /* close and unlink carry no result; others must. */
                return op == TSHM_OP_CLOSE || op == TSHM_OP_UNLINK ? 0 : TSHM_EPROTO;
        }
        if (res->type != MSGPACK_OBJECT_MAP) {
                return TSHM_EPROTO;
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
        if (msgpack_unpack_next(&u, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
                rv = TSHM_EPROTO;
                goto out;
        }
        rv = reply_decode_map(&u.data, op, reply);
out:
        msgpack_unpacked_destroy(&u);
        return rv;
}
