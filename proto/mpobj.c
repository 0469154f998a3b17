/*
 * mpobj.c - small msgpack helpers shared by the request and reply codecs:
 * packing keys and values, framing, and typed reads of decoded objects.
 */
#include <string.h>

#include "mpobj.h"

int
tshm__mp_pack_key(msgpack_packer *pk, const char *key)
{
        return msgpack_pack_str_with_body(pk, key, strlen(key));
}

int
tshm__mp_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
        return tshm__mp_pack_key(pk, key) | msgpack_pack_uint64(pk, v);
}

int
tshm__mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *s)
{
        return tshm__mp_pack_key(pk, key) | msgpack_pack_str_with_body(pk, s, strlen(s));
}

int
tshm__mp_pack_shape(msgpack_packer *pk, uint32_t ndim, const uint64_t *shape)
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

/* msgpack_sbuffer_write() with tshm's allocator (alloc.h), so that what
 * the encoders allocate is in the OOM walk: the same growth (8 KiB, then
 * doubling), the same buffer, which msgpack_sbuffer_destroy() can free. */
int
tshm__mp_sbuffer_write(void *data, const char *buf, size_t len)
{
        msgpack_sbuffer *sbuf = data;

        if (sbuf->alloc - sbuf->size < len) {
                size_t nsize = sbuf->alloc != 0 ? sbuf->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
                void *p;

                while (nsize < sbuf->size + len) {
                        size_t tmp = nsize * 2;
                        if (tmp <= nsize) {
                                nsize = sbuf->size + len;
                                break;
                        }
                        nsize = tmp;
                }
                if ((p = tshm__realloc(sbuf->data, nsize)) == NULL) {
                        return -1;
                }
                sbuf->data = p;
                sbuf->alloc = nsize;
        }
        memcpy(sbuf->data + sbuf->size, buf, len);
        sbuf->size += len;
        return 0;
}

/* Reserve the 4-byte length prefix. Encoders write one frame into an empty
 * buffer: the prefix is at offset 0. */
int
tshm__mp_frame_begin(msgpack_sbuffer *sbuf)
{
        static const char zero[4] = {0, 0, 0, 0};

        if (sbuf->size != 0) {
                return -1;
        }
        return tshm__mp_sbuffer_write(sbuf, zero, sizeof(zero));
}

int
tshm__mp_frame_end(msgpack_sbuffer *sbuf, uint32_t max)
{
        if (sbuf->size - 4 > max) {
                return TSHM_ETOOBIG;
        }
        tshm__put_be32((uint8_t *)sbuf->data, (uint32_t)(sbuf->size - 4));
        return 0;
}

bool
tshm__mp_obj_u64(const msgpack_object *o, uint64_t *ret)
{
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                return false;
        }
        *ret = o->via.u64;
        return true;
}

bool
tshm__mp_obj_u32(const msgpack_object *o, uint32_t *ret)
{
        uint64_t v;

        if (!tshm__mp_obj_u64(o, &v) || v > UINT32_MAX) {
                return false;
        }
        *ret = (uint32_t)v;
        return true;
}

bool
tshm__mp_obj_i32(const msgpack_object *o, int32_t *ret)
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
bool
tshm__mp_obj_str(const msgpack_object *o, char *dst, size_t cap)
{
        if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap ||
            memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
                return false;
        }
        memcpy(dst, o->via.str.ptr, o->via.str.size);
        dst[o->via.str.size] = '\0';
        return true;
}

bool
tshm__mp_key_is(const msgpack_object *k, const char *name)
{
        size_t n = strlen(name);

        return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
               memcmp(k->via.str.ptr, name, n) == 0;
}

const msgpack_object *
tshm__mp_map_get(const msgpack_object *map, const char *key)
{
        uint32_t i;

        if (map->type != MSGPACK_OBJECT_MAP) {
                return NULL;
        }
        for (i = 0; i < map->via.map.size; i++) {
                if (tshm__mp_key_is(&map->via.map.ptr[i].key, key)) {
                        return &map->via.map.ptr[i].val;
                }
        }
        return NULL;
}

bool
tshm__mp_get_u64(const msgpack_object *map, const char *key, uint64_t *ret)
{
        const msgpack_object *o = tshm__mp_map_get(map, key);

        return o != NULL && tshm__mp_obj_u64(o, ret);
}

bool
tshm__mp_get_u32(const msgpack_object *map, const char *key, uint32_t *ret)
{
        const msgpack_object *o = tshm__mp_map_get(map, key);

        return o != NULL && tshm__mp_obj_u32(o, ret);
}
