/*
 * request.c - encode and decode tshm requests (PROTOCOL.md section 3).
 *
 * Every payload is checked by tshm__mp_check() before msgpack-c parses it,
 * and no msgpack_object leaves proto/: the decoder fills a plain C struct.
 * Requests are strict: unknown, duplicate or misplaced keys are protocol
 * errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpobj.h"

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
        case TSHM_OP_CHMOD:
                return "chmod";
        case TSHM_OP_CHOWN:
                return "chown";
        case TSHM_OP_GC:
                return "gc";
        case TSHM_OP_CREATE_STREAM:
                return "create_stream";
        case TSHM_OP_ATTACH:
                return "attach";
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
        K_OWNER = 1u << 12,
        K_GROUP = 1u << 13,
        K_REMOVE = 1u << 14,
        K_SLOTS = 1u << 15,
        K_POLICY = 1u << 16,
        K_SUBSCRIBE = 1u << 17,
        K_ROSTER = 1u << 18,
};

static const struct {
        const char *name;
        unsigned bit;
} req_keys[] = {
    {"op", K_OP},         {"id", K_ID},         {"version", K_VERSION},
    {"name", K_NAME},     {"dtype", K_DTYPE},   {"shape", K_SHAPE},
    {"mode", K_MODE},     {"flags", K_FLAGS},   {"writable", K_WRITABLE},
    {"handle", K_HANDLE}, {"cursor", K_CURSOR}, {"limit", K_LIMIT},
    {"owner", K_OWNER},   {"group", K_GROUP},   {"remove", K_REMOVE},
    {"slots", K_SLOTS},   {"policy", K_POLICY}, {"subscribe", K_SUBSCRIBE},
    {"roster", K_ROSTER},
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
        case TSHM_OP_CREATE_STREAM:
                req |= K_NAME | K_DTYPE | K_SHAPE | K_SLOTS | K_POLICY;
                opt = K_MODE | K_FLAGS;
                break;
        case TSHM_OP_OPEN:
                req |= K_NAME;
                opt = K_WRITABLE;
                break;
        case TSHM_OP_ATTACH:
                req |= K_HANDLE | K_SUBSCRIBE;
                opt = K_ROSTER;
                break;
        case TSHM_OP_CLOSE:
                req |= K_HANDLE;
                break;
        case TSHM_OP_UNLINK:
        case TSHM_OP_STAT:
                req |= K_NAME;
                break;
        case TSHM_OP_CHMOD:
                req |= K_NAME | K_MODE;
                break;
        case TSHM_OP_CHOWN:
                req |= K_NAME;
                opt = K_OWNER | K_GROUP;
                break;
        case TSHM_OP_GC:
                opt = K_REMOVE;
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
        /* Send every required key and the optional ones of the op (roster
         * only when asked for, so that attach stays what it was). */
        if (!req->roster) {
                optional &= ~(unsigned)K_ROSTER;
        }
        n = (uint32_t)__builtin_popcount(required | optional);
        msgpack_packer_init(&pk, out, tshm__mp_sbuffer_write);
        rv = tshm__mp_frame_begin(out) | msgpack_pack_map(&pk, n);
        rv |= tshm__mp_pack_kv_u64(&pk, "op", req->op) | tshm__mp_pack_kv_u64(&pk, "id", req->id);
        if ((required | optional) & K_VERSION) {
                rv |= tshm__mp_pack_kv_u64(&pk, "version", req->version);
        }
        if ((required | optional) & K_NAME) {
                rv |= tshm__mp_pack_kv_str(&pk, "name", req->name);
        }
        if ((required | optional) & K_DTYPE) {
                const char *dt = tshm_dtype_name(req->dtype);
                rv |= tshm__mp_pack_kv_str(&pk, "dtype", dt != NULL ? dt : "");
        }
        if ((required | optional) & K_SHAPE) {
                rv |= tshm__mp_pack_key(&pk, "shape") |
                      tshm__mp_pack_shape(&pk, req->ndim, req->shape);
        }
        if ((required | optional) & K_MODE) {
                rv |= tshm__mp_pack_kv_u64(&pk, "mode", req->mode);
        }
        if ((required | optional) & K_FLAGS) {
                rv |= tshm__mp_pack_kv_u64(&pk, "flags", req->flags);
        }
        if ((required | optional) & K_WRITABLE) {
                rv |= tshm__mp_pack_key(&pk, "writable");
                rv |= req->writable ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        }
        if ((required | optional) & K_REMOVE) {
                rv |= tshm__mp_pack_key(&pk, "remove");
                rv |= req->remove ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        }
        if ((required | optional) & K_SUBSCRIBE) {
                rv |= tshm__mp_pack_key(&pk, "subscribe");
                rv |= req->subscribe ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        }
        if ((required | optional) & K_ROSTER) {
                rv |= tshm__mp_pack_key(&pk, "roster");
                rv |= msgpack_pack_true(&pk);
        }
        if ((required | optional) & K_HANDLE) {
                rv |= tshm__mp_pack_kv_u64(&pk, "handle", req->handle);
        }
        if ((required | optional) & K_SLOTS) {
                rv |= tshm__mp_pack_kv_u64(&pk, "slots", req->slots) |
                      tshm__mp_pack_kv_u64(&pk, "policy", req->policy);
        }
        if ((required | optional) & K_CURSOR) {
                rv |= tshm__mp_pack_kv_u64(&pk, "cursor", req->cursor);
        }
        if ((required | optional) & K_LIMIT) {
                rv |= tshm__mp_pack_kv_u64(&pk, "limit", req->limit);
        }
        if ((required | optional) & K_OWNER) {
                rv |= tshm__mp_pack_kv_u64(&pk, "owner", req->owner);
        }
        if ((required | optional) & K_GROUP) {
                rv |= tshm__mp_pack_kv_u64(&pk, "group", req->group);
        }
        if (rv != 0) {
                return TSHM_ENOMEM;
        }
        return tshm__mp_frame_end(out, TSHM_PROTO_MAX_REQUEST);
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
                if (!tshm__mp_obj_u64(e, &req->shape[i])) {
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
                ok = tshm__mp_obj_u32(v, &req->op);
                break;
        case K_ID:
                ok = tshm__mp_obj_u64(v, &req->id);
                break;
        case K_VERSION:
                ok = tshm__mp_obj_u32(v, &req->version);
                break;
        case K_NAME:
                if (v->type != MSGPACK_OBJECT_STR) {
                        ok = false;
                } else if (!tshm__mp_obj_str(v, req->name, sizeof(req->name)) ||
                           tshm_name_check(req->name) < 0) {
                        rv = TSHM_EBADNAME;
                }
                break;
        case K_DTYPE:
                if (v->type != MSGPACK_OBJECT_STR) {
                        ok = false;
                } else if (!tshm__mp_obj_str(v, dtype, sizeof(dtype)) ||
                           tshm_dtype_parse(dtype, &req->dtype) < 0) {
                        rv = TSHM_EBADDTYPE;
                }
                break;
        case K_SHAPE:
                rv = decode_shape(v, req);
                break;
        case K_MODE:
                ok = tshm__mp_obj_u32(v, &req->mode);
                if (ok && req->mode > 0777u) {
                        snprintf(err, errlen, "mode %o has bits outside 0777", req->mode);
                        return TSHM_EINVAL;
                }
                break;
        case K_FLAGS:
                ok = tshm__mp_obj_u32(v, &req->flags);
                break;
        case K_WRITABLE:
                ok = v->type == MSGPACK_OBJECT_BOOLEAN;
                req->writable = ok && v->via.boolean;
                break;
        case K_REMOVE:
                ok = v->type == MSGPACK_OBJECT_BOOLEAN;
                req->remove = ok && v->via.boolean;
                break;
        case K_HANDLE:
                ok = tshm__mp_obj_u64(v, &req->handle);
                break;
        case K_SUBSCRIBE:
                ok = v->type == MSGPACK_OBJECT_BOOLEAN;
                req->subscribe = ok && v->via.boolean;
                break;
        case K_ROSTER:
                ok = v->type == MSGPACK_OBJECT_BOOLEAN;
                req->roster = ok && v->via.boolean;
                break;
        case K_SLOTS:
                ok = tshm__mp_obj_u32(v, &req->slots);
                if (ok && (req->slots < 2 || req->slots > TSHM_STREAM_MAX_SLOTS)) {
                        snprintf(err, errlen, "%u slots: a stream has 2 to %u", req->slots,
                                 TSHM_STREAM_MAX_SLOTS);
                        return TSHM_EINVAL;
                }
                break;
        case K_POLICY:
                ok = tshm__mp_obj_u32(v, &req->policy);
                if (ok && req->policy > TSHM_STREAM_OVERWRITE) {
                        snprintf(err, errlen, "unknown stream policy %u", req->policy);
                        return TSHM_EINVAL;
                }
                break;
        case K_CURSOR:
                ok = tshm__mp_obj_u64(v, &req->cursor);
                break;
        case K_LIMIT:
                ok = tshm__mp_obj_u32(v, &req->limit);
                break;
        case K_OWNER:
                ok = tshm__mp_obj_u32(v, &req->owner);
                break;
        case K_GROUP:
                ok = tshm__mp_obj_u32(v, &req->group);
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
                if (tshm__mp_key_is(&kv->key, "op")) {
                        (void)tshm__mp_obj_u32(&kv->val, &req->op);
                } else if (tshm__mp_key_is(&kv->key, "id")) {
                        (void)tshm__mp_obj_u64(&kv->val, &req->id);
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
                        if (tshm__mp_key_is(&kv->key, req_keys[k].name)) {
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
        /* Absent chown ids mean "unchanged", never uid or gid 0. */
        req->owner = TSHM_ID_KEEP;
        req->group = TSHM_ID_KEEP;
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
