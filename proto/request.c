/*
 * request.c - encode and decode tshm requests (PROTOCOL.md section 3).
 *
 * Every payload is checked by tshm__mp_check() before msgpack-c parses it,
 * and no msgpack_object leaves proto/: the decoder fills a plain C struct.
 * Requests are strict: unknown, duplicate or misplaced keys are protocol
 * errors.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpobj.h"

/* The ops, as bits for the sets of ops that take a key (struct req_field),
 * in the order of req_ops. */
enum {
        O_HELLO = 1u << 0,
        O_CREATE = 1u << 1,
        O_OPEN = 1u << 2,
        O_CLOSE = 1u << 3,
        O_UNLINK = 1u << 4,
        O_CHMOD = 1u << 5,
        O_CHOWN = 1u << 6,
        O_GC = 1u << 7,
        O_STREAM_CREATE = 1u << 8,
        O_ATTACH = 1u << 9,
        O_STAT = 1u << 10,
        O_LIST = 1u << 11,
        O_DAEMON_STAT = 1u << 12,
        O_PUBLISH = 1u << 13,
        O_MIRROR = 1u << 14,
        O_MIRRORS = 1u << 15,
        O_ALL = (1u << 16) - 1,
};

static const struct {
        uint32_t op;
        const char *name;
} req_ops[] = {
    {TSHM_OP_HELLO, "hello"},
    {TSHM_OP_CREATE, "create"},
    {TSHM_OP_OPEN, "open"},
    {TSHM_OP_CLOSE, "close"},
    {TSHM_OP_UNLINK, "unlink"},
    {TSHM_OP_CHMOD, "chmod"},
    {TSHM_OP_CHOWN, "chown"},
    {TSHM_OP_GC, "gc"},
    {TSHM_OP_STREAM_CREATE, "stream_create"},
    {TSHM_OP_ATTACH, "attach"},
    {TSHM_OP_STAT, "stat"},
    {TSHM_OP_LIST, "list"},
    {TSHM_OP_DAEMON_STAT, "daemon_stat"},
    {TSHM_OP_PUBLISH, "publish"},
    {TSHM_OP_MIRROR, "mirror"},
    {TSHM_OP_MIRRORS, "mirrors"},
};

#define NOPS (sizeof(req_ops) / sizeof(req_ops[0]))

_Static_assert(O_ALL == (1u << NOPS) - 1, "one O_ bit per entry of req_ops");

/* The op's index in req_ops, or NOPS for an unknown op. */
static size_t
op_index(uint32_t op)
{
        size_t i;

        for (i = 0; i < NOPS && req_ops[i].op != op; i++) {
        }
        return i;
}

const char *
tshm__op_name(uint32_t op)
{
        size_t i = op_index(op);

        return i < NOPS ? req_ops[i].name : NULL;
}

/* The op's bit in the masks of req_fields, or 0 for an unknown op. */
static unsigned
op_bit(uint32_t op)
{
        size_t i = op_index(op);

        return i < NOPS ? 1u << i : 0;
}

/* How a key's value travels and where it lands in struct tshm__req. */
enum req_type {
        T_U32,    /* uint32_t; a positive integer up to UINT32_MAX */
        T_U64,    /* uint64_t; a positive integer */
        T_BOOL,   /* bool; true or false */
        T_NAME,   /* char[]; a string that passes tshm__name_check() */
        T_PREFIX, /* char[]; "" or a string that passes tshm__name_check() */
        T_DTYPE,  /* tshm_dtype; its name as a string */
        T_SHAPE,  /* uint64_t[TSHM_MAX_NDIM] and ndim; an array of extents */
        T_PEER,   /* char[]; a string that passes tshm__peer_check() */
};

bool
tshm__peer_check(const char *peer)
{
        size_t i;

        for (i = 0; peer[i] != '\0'; i++) {
                /* Printable ASCII without the space: 0x21 to 0x7e. */
                if (peer[i] <= ' ' || peer[i] > '~' || i >= TSHM_PEER_MAX) {
                        return false;
                }
        }
        return i > 0;
}

/* A range check on a decoded value, with its own message. */
typedef int (*req_check_fn)(const struct tshm__req *req, char *err, size_t errlen);

static int
check_mode(const struct tshm__req *req, char *err, size_t errlen)
{
        if (req->mode > 0777u) {
                snprintf(err, errlen, "mode %o has bits outside 0777", req->mode);
                return TSHM_EINVAL;
        }
        return 0;
}

static int
check_slots(const struct tshm__req *req, char *err, size_t errlen)
{
        if (req->slots < 2 || req->slots > TSHM_STREAM_MAX_SLOTS) {
                snprintf(err, errlen, "%u slots: a stream has 2 to %u", req->slots,
                         TSHM_STREAM_MAX_SLOTS);
                return TSHM_EINVAL;
        }
        return 0;
}

static int
check_policy(const struct tshm__req *req, char *err, size_t errlen)
{
        if (req->policy > TSHM_STREAM_OVERWRITE) {
                snprintf(err, errlen, "unknown stream policy %u", req->policy);
                return TSHM_EINVAL;
        }
        return 0;
}

/* The one description of every request key, used by the encoder and the
 * decoder alike (PROTOCOL.md section 3). The encoder writes the keys an op
 * takes in this order, which is the wire order of version 1: keep it. */
static const struct req_field {
        const char *key;
        enum req_type type;
        size_t off;        /* offsetof the field in struct tshm__req */
        size_t size;       /* its size (for T_NAME, the buffer's) */
        unsigned required; /* ops (O_*) that must carry the key */
        unsigned optional; /* ops that may carry it */
        bool only_if_set;  /* optional, and sent only when the field is set */
        req_check_fn check;
} req_fields[] = {
#define F_(key, type, field, req, opt, only_if_set, check)                                         \
        {                                                                                          \
                key, type, offsetof(struct tshm__req, field),                                      \
                    sizeof(((struct tshm__req *)0)->field), req, opt, only_if_set, check           \
        }
    F_("op", T_U32, op, O_ALL, 0, false, NULL),
    F_("id", T_U64, id, O_ALL, 0, false, NULL),
    F_("version", T_U32, version, O_HELLO, 0, false, NULL),
    F_("name", T_NAME, name,
       O_CREATE | O_STREAM_CREATE | O_OPEN | O_UNLINK | O_STAT | O_CHMOD | O_CHOWN | O_MIRROR, 0,
       false, NULL),
    F_("dtype", T_DTYPE, dtype, O_CREATE | O_STREAM_CREATE, 0, false, NULL),
    F_("shape", T_SHAPE, shape, O_CREATE | O_STREAM_CREATE, 0, false, NULL),
    F_("mode", T_U32, mode, O_CHMOD, O_CREATE | O_STREAM_CREATE, false, check_mode),
    F_("flags", T_U32, flags, 0, O_CREATE | O_STREAM_CREATE, false, NULL),
    F_("writable", T_BOOL, writable, 0, O_OPEN, false, NULL),
    F_("remove", T_BOOL, remove, 0, O_GC, false, NULL),
    F_("subscribe", T_BOOL, subscribe, O_ATTACH, 0, false, NULL),
    /* Sent only when asked for, so that an attach without it stays what it
     * was before the key existed. */
    F_("roster", T_BOOL, roster, 0, O_ATTACH, true, NULL),
    F_("handle", T_U64, handle, O_ATTACH | O_CLOSE | O_PUBLISH, 0, false, NULL),
    F_("slots", T_U32, slots, O_STREAM_CREATE, 0, false, check_slots),
    F_("policy", T_U32, policy, O_STREAM_CREATE, 0, false, check_policy),
    F_("cursor", T_U64, cursor, 0, O_LIST, false, NULL),
    F_("limit", T_U32, limit, 0, O_LIST, false, NULL),
    /* Sent only when not empty, so that a listing of everything stays what
     * it was before the key existed (and works with older daemons). */
    F_("prefix", T_PREFIX, prefix, 0, O_LIST, true, NULL),
    F_("owner", T_U32, owner, 0, O_CHOWN, false, NULL),
    F_("group", T_U32, group, 0, O_CHOWN, false, NULL),
    /* mirror: peer is required unless stop is true (req_check_keys);
     * remote and stop are sent only when set. */
    F_("peer", T_PEER, peer, 0, O_MIRROR, true, NULL),
    F_("remote", T_PREFIX, remote, 0, O_MIRROR, true, NULL),
    F_("stop", T_BOOL, stop, 0, O_MIRROR, true, NULL),
#undef F_
};

#define NFIELDS (sizeof(req_fields) / sizeof(req_fields[0]))

/* The "seen" set of the decoder holds one bit per field. */
_Static_assert(NFIELDS <= 32, "one bit per request key in an unsigned");

static void *
field_ptr(struct tshm__req *req, const struct req_field *f)
{
        return (char *)req + f->off;
}

static const void *
field_cptr(const struct tshm__req *req, const struct req_field *f)
{
        return (const char *)req + f->off;
}

/* Whether @req carries the key @f: it is required by the op, or optional
 * and (for only_if_set keys) set. */
static bool
field_sent(const struct tshm__req *req, const struct req_field *f, unsigned opbit)
{
        if (f->required & opbit) {
                return true;
        }
        if (!(f->optional & opbit)) {
                return false;
        }
        /* only_if_set applies to T_BOOL (sent when true), T_PREFIX and
         * T_PEER (sent when not empty) fields only. */
        if (!f->only_if_set) {
                return true;
        }
        return f->type == T_PREFIX || f->type == T_PEER ? *(const char *)field_cptr(req, f) != '\0'
                                                        : *(const bool *)field_cptr(req, f);
}

static int
pack_field(msgpack_packer *pk, const struct tshm__req *req, const struct req_field *f)
{
        const void *p = field_cptr(req, f);
        const char *dt;

        switch (f->type) {
        case T_U32:
                return tshm__mp_pack_kv_u64(pk, f->key, *(const uint32_t *)p);
        case T_U64:
                return tshm__mp_pack_kv_u64(pk, f->key, *(const uint64_t *)p);
        case T_BOOL:
                return tshm__mp_pack_key(pk, f->key) |
                       (*(const bool *)p ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
        case T_NAME:
        case T_PREFIX:
        case T_PEER:
                return tshm__mp_pack_kv_str(pk, f->key, (const char *)p);
        case T_DTYPE:
                dt = tshm__dtype_name(*(const tshm_dtype *)p);
                return tshm__mp_pack_kv_str(pk, f->key, dt != NULL ? dt : "");
        case T_SHAPE:
                return tshm__mp_pack_key(pk, f->key) |
                       tshm__mp_pack_shape(pk, req->ndim, (const uint64_t *)p);
        }
        return -1;
}

int
tshm__req_encode(const struct tshm__req *req, msgpack_sbuffer *out)
{
        unsigned opbit = op_bit(req->op);
        msgpack_packer pk;
        uint32_t n = 0;
        size_t k;
        int rv;

        if (opbit == 0 || req->ndim > TSHM_MAX_NDIM || out->size != 0) {
                return TSHM_EINVAL;
        }
        for (k = 0; k < NFIELDS; k++) {
                n += field_sent(req, &req_fields[k], opbit);
        }
        msgpack_packer_init(&pk, out, tshm__mp_sbuffer_write);
        rv = tshm__mp_frame_begin(out) | msgpack_pack_map(&pk, n);
        for (k = 0; k < NFIELDS; k++) {
                if (field_sent(req, &req_fields[k], opbit)) {
                        rv |= pack_field(&pk, req, &req_fields[k]);
                }
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

/* Decode the value @v of the key @f into @req: TSHM_EPROTO for a value of
 * the wrong type, else 0 or the code of an argument error. */
static int
decode_value(const msgpack_object *v, const struct req_field *f, struct tshm__req *req)
{
        void *p = field_ptr(req, f);
        char dtype[32];

        switch (f->type) {
        case T_U32:
                return tshm__mp_obj_u32(v, p) ? 0 : TSHM_EPROTO;
        case T_U64:
                return tshm__mp_obj_u64(v, p) ? 0 : TSHM_EPROTO;
        case T_BOOL:
                if (v->type != MSGPACK_OBJECT_BOOLEAN) {
                        return TSHM_EPROTO;
                }
                *(bool *)p = v->via.boolean;
                return 0;
        case T_NAME:
                if (v->type != MSGPACK_OBJECT_STR) {
                        return TSHM_EPROTO;
                }
                if (!tshm__mp_obj_str(v, p, f->size) || tshm__name_check(p) < 0) {
                        return TSHM_EBADNAME;
                }
                return 0;
        case T_PREFIX:
                if (v->type != MSGPACK_OBJECT_STR) {
                        return TSHM_EPROTO;
                }
                if (!tshm__mp_obj_str(v, p, f->size) ||
                    (*(const char *)p != '\0' && tshm__name_check(p) < 0)) {
                        return TSHM_EBADNAME;
                }
                return 0;
        case T_DTYPE:
                if (v->type != MSGPACK_OBJECT_STR) {
                        return TSHM_EPROTO;
                }
                if (!tshm__mp_obj_str(v, dtype, sizeof(dtype)) || tshm__dtype_parse(dtype, p) < 0) {
                        return TSHM_EBADDTYPE;
                }
                return 0;
        case T_SHAPE:
                return decode_shape(v, req);
        case T_PEER:
                if (v->type != MSGPACK_OBJECT_STR) {
                        return TSHM_EPROTO;
                }
                if (!tshm__mp_obj_str(v, p, f->size) || !tshm__peer_check(p)) {
                        return TSHM_EINVAL;
                }
                return 0;
        }
        return TSHM_EPROTO;
}

/* Decode one key/value pair into @req. Returns 0 or an error code with a
 * reason in @err. */
static int
decode_kv(const msgpack_object *v, const struct req_field *f, struct tshm__req *req, char *err,
          size_t errlen)
{
        int rv = decode_value(v, f, req);

        if (rv == 0 && f->check != NULL) {
                return f->check(req, err, errlen);
        }
        if (rv == TSHM_EINVAL && f->type == T_PEER) {
                snprintf(err, errlen,
                         "a peer is HOST:PORT, 1 to %u bytes of printable ASCII without spaces",
                         TSHM_PEER_MAX);
        } else if (rv < 0) {
                snprintf(err, errlen, "%s",
                         rv == TSHM_EPROTO ? "a key has a value of the wrong type"
                                           : tshm__strerror(rv));
        }
        return rv;
}

static int
req_check_keys(const struct tshm__req *req, unsigned seen, char *err, size_t errlen)
{
        unsigned opbit = op_bit(req->op), required = 0, allowed = 0;
        size_t k;

        if (opbit == 0) {
                snprintf(err, errlen, "unknown op %u", req->op);
                return TSHM_EPROTO;
        }
        for (k = 0; k < NFIELDS; k++) {
                if (req_fields[k].required & opbit) {
                        required |= 1u << k;
                }
                if ((req_fields[k].required | req_fields[k].optional) & opbit) {
                        allowed |= 1u << k;
                }
        }
        if ((seen & required) != required) {
                snprintf(err, errlen, "%s request lacks a required key", tshm__op_name(req->op));
                return TSHM_EPROTO;
        }
        if ((seen & ~allowed) != 0) {
                snprintf(err, errlen, "%s request has a key it does not take",
                         tshm__op_name(req->op));
                return TSHM_EPROTO;
        }
        /* The one key whose need depends on another: a mirror to start
         * names its peer. */
        if (req->op == TSHM_OP_MIRROR && !req->stop && req->peer[0] == '\0') {
                snprintf(err, errlen, "mirror request lacks a peer");
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
                for (k = 0; k < NFIELDS; k++) {
                        if (tshm__mp_key_is(&kv->key, req_fields[k].key)) {
                                break;
                        }
                }
                if (k == NFIELDS || (seen & (1u << k)) != 0) {
                        snprintf(err, errlen, "%s request key",
                                 k == NFIELDS ? "unknown" : "duplicate");
                        return TSHM_EPROTO;
                }
                seen |= 1u << k;
                if ((rv = decode_kv(&kv->val, &req_fields[k], req, err, errlen)) < 0) {
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
        req->owner = TSHM_ID_UNCHANGED;
        req->group = TSHM_ID_UNCHANGED;
        if (tshm__mp_check(buf, len, TSHM_PROTO_MAX_DEPTH, TSHM_PROTO_MAX_ELEMS) < 0) {
                snprintf(err, errlen, "not one well-formed msgpack value within the limits");
                return TSHM_EPROTO;
        }
        msgpack_unpacked_init(&u);
        if ((rv = msgpack_unpack_next(&u, (const char *)buf, len, &off)) !=
            MSGPACK_UNPACK_SUCCESS) {
                /* The unpacker's zone comes from malloc(): out of memory is
                 * the daemon's trouble, not a protocol violation by the
                 * client (mp_check() bounds the depth below msgpack-c's
                 * own limit, which it reports as NOMEM too). */
                if (rv == MSGPACK_UNPACK_NOMEM_ERROR) {
                        snprintf(err, errlen, "out of memory decoding the request");
                        rv = TSHM_ENOMEM;
                } else {
                        snprintf(err, errlen, "msgpack decoding failed");
                        rv = TSHM_EPROTO;
                }
                goto out;
        }
        rv = req_decode_map(&u.data, req, err, errlen);
out:
        msgpack_unpacked_destroy(&u);
        return rv;
}
