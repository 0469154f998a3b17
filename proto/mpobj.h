/*
 * mpobj.h - msgpack helpers shared by request.c and reply.c (internal to
 * proto/).
 */
#ifndef TSHM_MPOBJ_H
#define TSHM_MPOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc.h"
#include "proto.h"

/* Packing: each returns 0, or non-zero when the buffer could not grow. */
int tshm__mp_pack_key(msgpack_packer *pk, const char *key);
int tshm__mp_pack_kv_u64(msgpack_packer *pk, const char *key, uint64_t v);
int tshm__mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *s);
/* Non-zero also when @ndim exceeds TSHM_MAX_NDIM. */
int tshm__mp_pack_shape(msgpack_packer *pk, uint32_t ndim, const uint64_t *shape);

/* Framing: reserve the length prefix in an empty buffer, then fill it in.
 * tshm__mp_frame_end returns TSHM_ETOOBIG past @max. */
/* The packer's write callback for a msgpack_sbuffer (alloc.h). */
int tshm__mp_sbuffer_write(void *data, const char *buf, size_t len);
int tshm__mp_frame_begin(msgpack_sbuffer *sbuf);
int tshm__mp_frame_end(msgpack_sbuffer *sbuf, uint32_t max);

/* Typed reads; false when the object has another type or range. */
bool tshm__mp_obj_u64(const msgpack_object *o, uint64_t *ret);
bool tshm__mp_obj_u32(const msgpack_object *o, uint32_t *ret);
bool tshm__mp_obj_i32(const msgpack_object *o, int32_t *ret);
/* Copy a string without NUL bytes into @dst (@cap bytes with the NUL). */
bool tshm__mp_obj_str(const msgpack_object *o, char *dst, size_t cap);
bool tshm__mp_key_is(const msgpack_object *k, const char *name);

/* Map lookups, for the lenient reply decoder. */
const msgpack_object *tshm__mp_map_get(const msgpack_object *map, const char *key);
bool tshm__mp_get_u64(const msgpack_object *map, const char *key, uint64_t *ret);
bool tshm__mp_get_u32(const msgpack_object *map, const char *key, uint32_t *ret);

#endif /* TSHM_MPOBJ_H */
