/*
 * peer_proto.c - see peer_proto.h. Every message is a map whose keys are fixed by its
 * id; the decoder requires them all, ignores none it does not know (an
 * unknown key is a protocol violation: the peer is newer or hostile, and
 * either way the mirror must not guess), and bounds every value.
 */
#include <stdio.h>
#include <string.h>

#include "mpobj.h"
#include "peer_proto.h"
#include "spec.h"

/* The keys of each message, in wire order. */
static const char *const peer_keys[TSHM_PEER_AM_COUNT][12] = {
    [TSHM_PEER_HELLO] = {"v", "nonce"},
    [TSHM_PEER_CHALLENGE] = {"v", "nonce", "mac"},
    [TSHM_PEER_OPEN] = {"mac", "name", "source", "dtype", "shape", "slots", "policy", "mode",
                        "nbytes"},
    [TSHM_PEER_OPENED] = {"status", "error"},
    [TSHM_PEER_DATA] = {"seq", "publish_ns", "missed", "whole"},
    [TSHM_PEER_COMMIT] = {"seq", "whole"},
    [TSHM_PEER_ACK] = {"seq"},
    [TSHM_PEER_PING] = {NULL},
};

static unsigned
peer_nkeys(uint32_t am)
{
        unsigned n = 0;

        while (n < 12 && peer_keys[am][n] != NULL) {
                n++;
        }
        return n;
}

static int
pack_bin(msgpack_packer *pk, const char *key, const uint8_t *b, size_t n)
{
        return tshm__mp_pack_key(pk, key) | msgpack_pack_bin(pk, n) |
               msgpack_pack_bin_body(pk, b, n);
}

static int
pack_bool(msgpack_packer *pk, const char *key, bool v)
{
        return tshm__mp_pack_key(pk, key) | (v ? msgpack_pack_true(pk) : msgpack_pack_false(pk));
}

static int
pack_i32(msgpack_packer *pk, const char *key, int32_t v)
{
        return tshm__mp_pack_key(pk, key) | msgpack_pack_int32(pk, v);
}

/* Pack the value of @key of @m. */
static int
pack_value(msgpack_packer *pk, const struct tshm__peer_msg *m, const char *key)
{
        const char *dt;

        if (strcmp(key, "v") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->version);
        } else if (strcmp(key, "nonce") == 0) {
                return pack_bin(pk, key, m->nonce, TSHM_PEER_NONCE);
        } else if (strcmp(key, "mac") == 0) {
                return pack_bin(pk, key, m->mac, TSHM_PEER_MAC);
        } else if (strcmp(key, "name") == 0) {
                return tshm__mp_pack_kv_str(pk, key, m->name);
        } else if (strcmp(key, "source") == 0) {
                return tshm__mp_pack_kv_str(pk, key, m->source);
        } else if (strcmp(key, "dtype") == 0) {
                dt = tshm__dtype_name(m->dtype);
                return dt == NULL ? -1 : tshm__mp_pack_kv_str(pk, key, dt);
        } else if (strcmp(key, "shape") == 0) {
                return tshm__mp_pack_key(pk, key) | tshm__mp_pack_shape(pk, m->ndim, m->shape);
        } else if (strcmp(key, "slots") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->slots);
        } else if (strcmp(key, "policy") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->policy);
        } else if (strcmp(key, "mode") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->mode);
        } else if (strcmp(key, "nbytes") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->nbytes);
        } else if (strcmp(key, "status") == 0) {
                return pack_i32(pk, key, m->status);
        } else if (strcmp(key, "error") == 0) {
                return tshm__mp_pack_kv_str(pk, key, m->error);
        } else if (strcmp(key, "seq") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->seq);
        } else if (strcmp(key, "publish_ns") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->publish_ns);
        } else if (strcmp(key, "missed") == 0) {
                return tshm__mp_pack_kv_u64(pk, key, m->missed);
        } else if (strcmp(key, "whole") == 0) {
                return pack_bool(pk, key, m->whole);
        }
        return -1;
}

int
tshm__peer_encode(const struct tshm__peer_msg *m, msgpack_sbuffer *out)
{
        msgpack_packer pk;
        unsigned n, i;
        int rv;

        if (m->am == 0 || m->am >= TSHM_PEER_AM_COUNT || out->size != 0 ||
            m->ndim > TSHM_MAX_NDIM) {
                return TSHM_EINVAL;
        }
        n = peer_nkeys(m->am);
        msgpack_packer_init(&pk, out, tshm__mp_sbuffer_write);
        rv = msgpack_pack_map(&pk, n);
        for (i = 0; i < n; i++) {
                rv |= pack_value(&pk, m, peer_keys[m->am][i]);
        }
        return rv == 0 ? 0 : TSHM_ENOMEM;
}

uint64_t
tshm__peer_geometry_nbytes(const struct tshm__peer_msg *m)
{
        uint64_t nbytes;

        if (tshm__shape_nbytes(m->dtype, m->ndim, m->shape, &nbytes) < 0) {
                return 0;
        }
        return nbytes;
}

static bool
get_bin(const msgpack_object *v, uint8_t *dst, size_t n)
{
        if (v->type != MSGPACK_OBJECT_BIN || v->via.bin.size != n) {
                return false;
        }
        memcpy(dst, v->via.bin.ptr, n);
        return true;
}

/* Printable ASCII without spaces, as a "source" must be. */
static bool
printable(const char *s)
{
        for (; *s != '\0'; s++) {
                if (*s <= ' ' || *s > '~') {
                        return false;
                }
        }
        return true;
}

/* Printable ASCII and spaces, as an "error" must be. */
static bool
printable_or_space(const char *s)
{
        for (; *s != '\0'; s++) {
                if (*s < ' ' || *s > '~') {
                        return false;
                }
        }
        return true;
}

static bool
get_shape(const msgpack_object *v, struct tshm__peer_msg *m)
{
        uint32_t i;

        if (v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size > TSHM_MAX_NDIM) {
                return false;
        }
        for (i = 0; i < v->via.array.size; i++) {
                if (!tshm__mp_obj_u64(&v->via.array.ptr[i], &m->shape[i])) {
                        return false;
                }
        }
        m->ndim = v->via.array.size;
        return true;
}

/* Decode the value @v of @key into @m; false when it has the wrong type or
 * range. */
static bool
get_value(const msgpack_object *v, const char *key, struct tshm__peer_msg *m)
{
        char dtype[32];

        if (strcmp(key, "v") == 0) {
                return tshm__mp_obj_u32(v, &m->version);
        } else if (strcmp(key, "nonce") == 0) {
                return get_bin(v, m->nonce, TSHM_PEER_NONCE);
        } else if (strcmp(key, "mac") == 0) {
                return get_bin(v, m->mac, TSHM_PEER_MAC);
        } else if (strcmp(key, "name") == 0) {
                return v->type == MSGPACK_OBJECT_STR &&
                       tshm__mp_obj_str(v, m->name, sizeof(m->name)) &&
                       tshm__name_check(m->name) == 0;
        } else if (strcmp(key, "source") == 0) {
                return v->type == MSGPACK_OBJECT_STR &&
                       tshm__mp_obj_str(v, m->source, sizeof(m->source)) && printable(m->source);
        } else if (strcmp(key, "dtype") == 0) {
                return v->type == MSGPACK_OBJECT_STR && tshm__mp_obj_str(v, dtype, sizeof(dtype)) &&
                       tshm__dtype_parse(dtype, &m->dtype) == 0;
        } else if (strcmp(key, "shape") == 0) {
                return get_shape(v, m);
        } else if (strcmp(key, "slots") == 0) {
                return tshm__mp_obj_u32(v, &m->slots);
        } else if (strcmp(key, "policy") == 0) {
                return tshm__mp_obj_u32(v, &m->policy);
        } else if (strcmp(key, "mode") == 0) {
                return tshm__mp_obj_u32(v, &m->mode) && m->mode <= 0777u;
        } else if (strcmp(key, "nbytes") == 0) {
                return tshm__mp_obj_u64(v, &m->nbytes);
        } else if (strcmp(key, "status") == 0) {
                return tshm__mp_obj_i32(v, &m->status) && m->status <= 0;
        } else if (strcmp(key, "error") == 0) {
                return v->type == MSGPACK_OBJECT_STR &&
                       tshm__mp_obj_str(v, m->error, sizeof(m->error)) &&
                       printable_or_space(m->error);
        } else if (strcmp(key, "seq") == 0) {
                return tshm__mp_obj_u64(v, &m->seq);
        } else if (strcmp(key, "publish_ns") == 0) {
                return tshm__mp_obj_u64(v, &m->publish_ns);
        } else if (strcmp(key, "missed") == 0) {
                return tshm__mp_obj_u64(v, &m->missed);
        } else if (strcmp(key, "whole") == 0) {
                if (v->type != MSGPACK_OBJECT_BOOLEAN) {
                        return false;
                }
                m->whole = v->via.boolean;
                return true;
        }
        return false;
}

/* The geometry of an OPEN is whole: a known policy, slots 0 (an array) or
 * 2..TSHM_STREAM_MAX_SLOTS, and nbytes what dtype and shape make. */
static bool
open_geometry_ok(const struct tshm__peer_msg *m)
{
        uint64_t nbytes;

        if (m->slots != 0 && (m->slots < 2 || m->slots > TSHM_STREAM_MAX_SLOTS)) {
                return false;
        }
        if (m->policy > TSHM_STREAM_OVERWRITE || (m->slots == 0 && m->policy != 0)) {
                return false;
        }
        if (tshm__shape_nbytes(m->dtype, m->ndim, m->shape, &nbytes) < 0) {
                return false;
        }
        return nbytes == m->nbytes;
}

static int
peer_decode_map(const msgpack_object *root, struct tshm__peer_msg *m, char *err, size_t errlen)
{
        unsigned n = peer_nkeys(m->am), i, k, seen = 0;

        if (root->type != MSGPACK_OBJECT_MAP || root->via.map.size != n) {
                snprintf(err, errlen, "message %u: not a map of its %u keys", m->am, n);
                return TSHM_EPROTO;
        }
        for (i = 0; i < n; i++) {
                const msgpack_object_kv *kv = &root->via.map.ptr[i];

                for (k = 0; k < n && !tshm__mp_key_is(&kv->key, peer_keys[m->am][k]); k++) {
                }
                if (k == n || (seen & (1u << k)) != 0) {
                        snprintf(err, errlen, "message %u: an unknown or repeated key", m->am);
                        return TSHM_EPROTO;
                }
                seen |= 1u << k;
                if (!get_value(&kv->val, peer_keys[m->am][k], m)) {
                        snprintf(err, errlen, "message %u: a bad value for '%s'", m->am,
                                 peer_keys[m->am][k]);
                        return TSHM_EPROTO;
                }
        }
        if (m->am == TSHM_PEER_OPEN && !open_geometry_ok(m)) {
                snprintf(err, errlen, "open: a geometry that does not add up");
                return TSHM_EPROTO;
        }
        return 0;
}

int
tshm__peer_decode(uint32_t am, const void *buf, size_t len, struct tshm__peer_msg *m, char *err,
                  size_t errlen)
{
        msgpack_unpacked u;
        size_t off = 0;
        int rv;

        memset(m, 0, sizeof(*m));
        m->am = am;
        if (am == 0 || am >= TSHM_PEER_AM_COUNT) {
                snprintf(err, errlen, "unknown message %u", am);
                return TSHM_EPROTO;
        }
        if (len > TSHM_PEER_MAX_HEADER || tshm__mp_check(buf, len, 3, 64) < 0) {
                snprintf(err, errlen, "message %u: not one msgpack value within the limits", am);
                return TSHM_EPROTO;
        }
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
                snprintf(err, errlen, "message %u: msgpack decoding failed", am);
                rv = TSHM_EPROTO;
        } else {
                rv = peer_decode_map(&u.data, m, err, errlen);
        }
        msgpack_unpacked_destroy(&u);
        return rv;
}
