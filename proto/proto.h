/*
 * proto.h - the wire protocol of tshm: framing, request and reply codecs,
 * limits. Shared by tshmd and libtshm; pure code (no sockets, no libuv, no
 * globals) so that it can be unit-tested and fuzzed. PROTOCOL.md is the spec.
 */
#ifndef TSHM_PROTO_H
#define TSHM_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "tshm.h"

#include "error.h"
#include "spec.h"

/*
 * The protocol version, exchanged by hello. Any change to a message's keys,
 * types or meaning bumps it; a peer with another version is refused with
 * TSHM_EVERSION.
 */
/* Version 2: create and open replies carry the segment's geometry, which
 * clients map by (PROTOCOL.md section 6). tshmd also speaks version 1 with
 * clients that ask for it. */
#define TSHM_PROTO_VERSION 2u
#define TSHM_PROTO_VERSION_MIN 1u

/* Hard limits. A frame is a 4-byte big-endian length and that many bytes of
 * one msgpack map. */
#define TSHM_PROTO_MAX_REQUEST (64u * 1024u)       /* bytes of a request frame */
#define TSHM_PROTO_MAX_REPLY (16u * 1024u * 1024u) /* bytes of a reply frame */
#define TSHM_PROTO_MAX_DEPTH 6u                    /* nesting of maps and arrays */
#define TSHM_PROTO_MAX_ELEMS 8192u                 /* entries of one map or array */
#define TSHM_PROTO_LIST_PAGE 4096u                 /* segments in one list reply */

/* Operation numbers, in ranges: 1xx session, 2xx segments, 3xx introspection.
 * Append-only; a retired number is never reused. */
enum tshm__op {
        TSHM_OP_HELLO = 100,
        TSHM_OP_CREATE = 200,
        TSHM_OP_OPEN = 201,
        TSHM_OP_CLOSE = 202,
        TSHM_OP_UNLINK = 203,
        TSHM_OP_CHMOD = 204,
        TSHM_OP_CHOWN = 205,
        TSHM_OP_GC = 206,
        TSHM_OP_STREAM_CREATE = 207,
        TSHM_OP_ATTACH = 208,
        TSHM_OP_PUBLISH = 209,
        TSHM_OP_MIRROR = 210,
        TSHM_OP_STAT = 300,
        TSHM_OP_LIST = 301,
        TSHM_OP_DAEMON_STAT = 302,
        TSHM_OP_MIRRORS = 303,
};

const char *tshm__op_name(uint32_t op);

/* The "flags" of an info map on the wire: the creation flags
 * (TSHM_CREATE_EPHEMERAL, bit 0) and, in bit 1, whether the segment is a
 * stream. The codec moves that bit to and from tshm_info.kind, so
 * tshm_info.flags holds only creation flags. */
#define TSHM_PROTO_INFO_STREAM 2u
/* Bit 2 of it: a tensor group (tshm_info.kind TSHM_KIND_GROUP). */
#define TSHM_PROTO_INFO_GROUP 4u
/* The wire "flags" of create: bit 0 ephemeral (TSHM_CREATE_EPHEMERAL);
 * bit 1 an unpublished tensor group (dtype uint8, one dimension: its
 * bytes), made visible by publish. */
#define TSHM_PROTO_CREATE_EPHEMERAL 1u
#define TSHM_PROTO_CREATE_GROUP 2u
/* A decoded request. Which fields are set depends on op (see PROTOCOL.md);
 * has_* says which optional keys were present. */
struct tshm__req {
        uint32_t op;
        uint64_t id;
        uint32_t version;               /* hello */
        char name[TSHM_NAME_MAX + 1];   /* create, open, unlink, stat */
        tshm_dtype dtype;               /* create */
        uint32_t ndim;                  /* create */
        uint64_t shape[TSHM_MAX_NDIM];  /* create */
        uint32_t mode;                  /* create */
        uint32_t flags;                 /* create */
        bool writable;                  /* open */
        bool remove;                    /* gc: remove what is stale, not only list it */
        uint64_t handle;                /* close */
        uint64_t cursor;                /* list: resume after this serial */
        uint32_t limit;                 /* list: at most this many */
        char prefix[TSHM_NAME_MAX + 1]; /* list: only names that start so ("": all) */
        uint32_t owner;                 /* chown: new owner uid, or TSHM_ID_UNCHANGED */
        uint32_t group;                 /* chown: new group gid, or TSHM_ID_UNCHANGED */
        uint32_t slots;                 /* stream_create */
        uint32_t policy;                /* stream_create */
        bool subscribe;                 /* attach: take a subscriber slot too */
        bool roster;                    /* attach: send the stream's roster, not its table */
        char peer[TSHM_PEER_MAX + 1];   /* mirror: "HOST:PORT" ("" only with stop) */
        char remote[TSHM_NAME_MAX + 1]; /* mirror: the name on the peer ("": @name) */
        bool stop;                      /* mirror: stop mirroring @name */
};

/* A decoded reply. */
struct tshm__reply {
        uint64_t id;
        int32_t status;  /* 0 or a TSHM_E* code */
        char error[256]; /* detail when status < 0, NUL-terminated (truncated) */
        /* hello */
        uint32_t version;
        /* create, open */
        uint64_t handle;
        uint64_t size;
        bool has_fd;
        /* create, stream_create, open: the segment's geometry as the
         * daemon's registry has it (has_geom). Clients map by it, never by
         * the header, which any writer can rewrite. */
        bool has_geom;
        tshm_dtype dtype;
        uint32_t ndim;
        uint64_t shape[TSHM_MAX_NDIM];
        uint32_t slots, policy;
        uint32_t kind; /* tshm_seg_kind: the optional key "kind" (absent: 0) */
        /* stat; a stream's also fills @stream and sets @has_stream */
        tshm_info info;
        tshm_stream_info stream;
        bool has_stream;
        /* list: an array the caller frees with free() */
        tshm_info *infos;
        size_t ninfos;
        uint64_t next_cursor; /* 0 when the listing is complete */
        /* daemon_stat */
        tshm_daemon_info daemon;
        /* gc: an array the caller frees with free() */
        tshm_gc_entry *gc;
        size_t ngc;
        /* mirrors: an array the caller frees with free() */
        tshm_mirror_info *mirrors;
        size_t nmirrors;
};

/* Framing: a reader that accumulates bytes and yields whole frames. */
struct tshm__frame_reader {
        uint8_t *buf;
        size_t cap;
        size_t buffered;
        uint32_t max_frame;
};

void tshm__frame_reader_init(struct tshm__frame_reader *r, uint32_t max_frame);
void tshm__frame_reader_done(struct tshm__frame_reader *r);
/* Append up to @len bytes, stopping at the end of the current frame so that
 * bytes of the next one stay with the caller. Returns the number of bytes
 * taken (0 when a whole frame is waiting: consume it first), TSHM_ETOOBIG
 * as soon as a frame header announces more than max_frame (its body is never
 * buffered), or TSHM_ENOMEM. */
int tshm__frame_feed(struct tshm__frame_reader *r, const void *data, size_t len);
/* If a whole frame is buffered, point ret_payload and ret_len at it and return
 * 1; the frame stays valid until tshm__frame_consume(). Returns 0 when more
 * bytes are needed. */
int tshm__frame_next(const struct tshm__frame_reader *r, const uint8_t **ret_payload,
                     size_t *ret_len);
void tshm__frame_consume(struct tshm__frame_reader *r);

void tshm__put_be32(uint8_t *p, uint32_t v);
uint32_t tshm__get_be32(const uint8_t *p);

/* Check that @len bytes are exactly one msgpack value whose every declared
 * count fits in the bytes left, nested at most @max_depth deep, with at most
 * @max_elems entries per container. Returns 0 or TSHM_EPROTO. This runs
 * before msgpack-c sees the bytes, because msgpack-c sizes its storage from
 * declared counts. */
int tshm__mp_check(const uint8_t *buf, size_t len, unsigned max_depth, uint32_t max_elems);

/* Encode @req into the empty buffer @out as a whole frame (length prefix
 * included). Returns 0, TSHM_EINVAL for an unknown op, an ndim over
 * TSHM_MAX_NDIM or a non-empty @out, or TSHM_ENOMEM. */
int tshm__req_encode(const struct tshm__req *req, msgpack_sbuffer *out);

/* Decode one request payload (without the length prefix). Returns 0, or
 * TSHM_EPROTO with a reason in @err (@errlen bytes, NUL-terminated); for
 * argument errors (bad name, dtype, shape) the matching TSHM_E* code; and
 * TSHM_ENOMEM (also with @err) when msgpack-c cannot allocate its zone. On
 * error req->op and req->id are set when they could be read (else 0). */
int tshm__req_decode(const uint8_t *buf, size_t len, struct tshm__req *req, char *err,
                     size_t errlen);

/*
 * Reply encoding: each tshm__reply_<op>() encodes one whole frame into
 * e->sbuf, a map of id, status and either "error" or "result", behind its
 * length prefix. Returns 0, TSHM_ENOMEM, or TSHM_ETOOBIG when the frame would
 * pass TSHM_PROTO_MAX_REPLY. A list reply is the exception: begin, add each
 * entry, end.
 */
struct tshm__reply_enc {
        msgpack_sbuffer sbuf;
        msgpack_packer pk;
};

void tshm__reply_enc_init(struct tshm__reply_enc *e);
void tshm__reply_enc_done(struct tshm__reply_enc *e);
/* Encode a whole error reply. */
int tshm__reply_error(struct tshm__reply_enc *e, uint64_t id, int status, const char *msg);
/* Encode the success replies of each op. */
int tshm__reply_hello(struct tshm__reply_enc *e, uint64_t id, uint32_t version);
int tshm__reply_fd(struct tshm__reply_enc *e, uint64_t id, uint64_t handle, uint64_t size);
/* The reply of create, stream_create and open: a descriptor reply with the
 * segment's geometry (@slots 0 for an array). */
int tshm__reply_seg(struct tshm__reply_enc *e, uint64_t id, uint64_t handle, uint64_t size,
                    tshm_dtype dtype, uint32_t ndim, const uint64_t *shape, uint32_t slots,
                    uint32_t policy, uint32_t kind);
int tshm__reply_empty(struct tshm__reply_enc *e, uint64_t id);
int tshm__reply_stat(struct tshm__reply_enc *e, uint64_t id, const tshm_info *info);
/* A stream's stat: the info and its stream fields. */
int tshm__reply_stat_stream(struct tshm__reply_enc *e, uint64_t id, const tshm_info *info,
                            const tshm_stream_info *stream);
/* List replies are streamed: begin with the number of entries, add each,
 * then end with the cursor to resume from (0 when complete). */
int tshm__reply_list_begin(struct tshm__reply_enc *e, uint64_t id, uint32_t count);
int tshm__reply_list_add(struct tshm__reply_enc *e, const tshm_info *info);
int tshm__reply_list_end(struct tshm__reply_enc *e, uint64_t next_cursor);
int tshm__reply_daemon_stat(struct tshm__reply_enc *e, uint64_t id, const tshm_daemon_info *st);
/* gc replies, streamed like list replies. */
int tshm__reply_gc_begin(struct tshm__reply_enc *e, uint64_t id, uint32_t count);
int tshm__reply_gc_add(struct tshm__reply_enc *e, const char *object, const char *reason,
                       bool removed);
int tshm__reply_gc_end(struct tshm__reply_enc *e);
/* mirrors replies, streamed the same way: {"mirrors": [map...]}. */
int tshm__reply_mirrors_begin(struct tshm__reply_enc *e, uint64_t id, uint32_t count);
int tshm__reply_mirrors_add(struct tshm__reply_enc *e, const tshm_mirror_info *m);
int tshm__reply_mirrors_end(struct tshm__reply_enc *e);
/* Whether @peer is a well-formed peer address for the wire: 1 to
 * TSHM_PEER_MAX bytes of printable ASCII without spaces (the peer thread
 * parses HOST:PORT itself). */
bool tshm__peer_check(const char *peer);

/* Decode a reply payload to a request of @op. Returns 0 (reply->status may
 * still carry the daemon's error), TSHM_EPROTO, or TSHM_ENOMEM. On success
 * with a list, reply->infos is allocated with malloc(). */
int tshm__reply_decode(const uint8_t *buf, size_t len, uint32_t op, struct tshm__reply *reply);

/* The number of bytes the reply encoder holds (length prefix included). */
static inline size_t
tshm__reply_enc_size(const struct tshm__reply_enc *e)
{
        return e->sbuf.size;
}

#endif /* TSHM_PROTO_H */
