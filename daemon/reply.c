/*
 * reply.c - what an op handler decided, and the one place it becomes a
 * frame. Handlers fill a struct tshmd_reply (a kind and plain data) and
 * return a code; conn.c alone turns that into bytes on the socket
 * (tshmd_reply_encode), so a handler can be run and judged without a
 * connection (tests/unit/test_ops.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tshmd.h"

#define REPLY_FIRST_BUF 256

void
tshmd_reply_init(struct tshmd_reply *rep, uint64_t id)
{
        memset(rep, 0, sizeof(*rep));
        rep->id = id;
        rep->kind = TSHMD_REPLY_EMPTY;
        rep->fd = -1;
}

void
tshmd_reply_dispose(struct tshmd_reply *rep)
{
        if (rep->fd >= 0) {
                (void)close(rep->fd);
                rep->fd = -1;
        }
        if (rep->kind == TSHMD_REPLY_LIST) {
                tshm__free(rep->u.list.infos);
        } else if (rep->kind == TSHMD_REPLY_GC) {
                tshm__free(rep->u.gc.items);
        } else if (rep->kind == TSHMD_REPLY_MIRRORS) {
                tshm__free(rep->u.mirrors.items);
        }
        memset(&rep->u, 0, sizeof(rep->u));
        memset(&rep->undo, 0, sizeof(rep->undo));
        rep->kind = TSHMD_REPLY_EMPTY;
}

int
tshmd_reply_fail(struct tshmd_reply *rep, int status, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
        va_end(ap);
        return status;
}

void
tshmd_reply_undo(struct tshmd_reply *rep)
{
        tshmd_undo_fn fn = rep->undo.fn;

        rep->undo.fn = NULL;
        if (fn != NULL) {
                fn(&rep->undo);
        }
}

/* The entries of a list reply, between its begin and end. */
static int
reply_encode_list(const struct tshmd_reply *rep, struct tshm__reply_enc *e)
{
        uint32_t i;
        int rv;

        rv = tshm__reply_list_begin(e, rep->id, rep->u.list.count);
        for (i = 0; rv == 0 && i < rep->u.list.count; i++) {
                rv = tshm__reply_list_add(e, &rep->u.list.infos[i]);
        }
        return rv == 0 ? tshm__reply_list_end(e, rep->u.list.next) : rv;
}

static int
reply_encode_gc(const struct tshmd_reply *rep, struct tshm__reply_enc *e)
{
        const struct tshmd_gc_entry *it = rep->u.gc.items;
        uint32_t i;
        int rv;

        rv = tshm__reply_gc_begin(e, rep->id, rep->u.gc.count);
        for (i = 0; rv == 0 && i < rep->u.gc.count; i++) {
                rv = tshm__reply_gc_add(e, it[i].object, it[i].reason, it[i].removed);
        }
        return rv == 0 ? tshm__reply_gc_end(e) : rv;
}

static int
reply_encode_mirrors(const struct tshmd_reply *rep, struct tshm__reply_enc *e)
{
        uint32_t i;
        int rv;

        rv = tshm__reply_mirrors_begin(e, rep->id, rep->u.mirrors.count);
        for (i = 0; rv == 0 && i < rep->u.mirrors.count; i++) {
                rv = tshm__reply_mirrors_add(e, &rep->u.mirrors.items[i]);
        }
        return rv == 0 ? tshm__reply_mirrors_end(e) : rv;
}

/* Encode the success reply @rep describes, by its kind. */
static int
reply_encode_success(const struct tshmd_reply *rep, struct tshm__reply_enc *e)
{
        const uint64_t id = rep->id;

        switch (rep->kind) {
        case TSHMD_REPLY_EMPTY:
                return tshm__reply_empty(e, id);
        case TSHMD_REPLY_HELLO:
                return tshm__reply_hello(e, id, rep->u.hello.version);
        case TSHMD_REPLY_SEG:
                return tshm__reply_seg(e, id, rep->u.seg.handle, rep->u.seg.size, rep->u.seg.dtype,
                                       rep->u.seg.ndim, rep->u.seg.shape, rep->u.seg.slots,
                                       rep->u.seg.policy, rep->u.seg.kind);
        case TSHMD_REPLY_ATTACH:
                return tshm__reply_fd(e, id, rep->u.attach.entry, rep->u.attach.size);
        case TSHMD_REPLY_STAT:
                if (rep->u.stat.has_stream) {
                        return tshm__reply_stat_stream(e, id, &rep->u.stat.info,
                                                       &rep->u.stat.stream);
                }
                return tshm__reply_stat(e, id, &rep->u.stat.info);
        case TSHMD_REPLY_LIST:
                return reply_encode_list(rep, e);
        case TSHMD_REPLY_DAEMON:
                return tshm__reply_daemon_stat(e, id, &rep->u.daemon);
        case TSHMD_REPLY_GC:
                return reply_encode_gc(rep, e);
        case TSHMD_REPLY_MIRRORS:
                return reply_encode_mirrors(rep, e);
        }
        return TSHM_EINVAL; /* not a kind: a handler's bug */
}

/* Encode with @status (0: the success reply) into @out; 0 or the
 * encoder's error. */
static int
reply_encode_frame(const struct tshmd_reply *rep, int status, struct tshmd_frame *out)
{
        struct tshm__reply_enc e;
        int rv;

        tshm__reply_enc_init(&e);
        /* msgpack's buffer would start at 8 KiB, from outside glibc's
         * per-thread cache, and queue.c would then cut it to the reply's
         * length: a malloc and a realloc of 8 KiB per reply. Most replies
         * (stat: 132 bytes with its length) fit in REPLY_FIRST_BUF; longer
         * ones grow from it by doubling. Without it, the encoder allocates
         * on its first write as before. */
        if ((e.sbuf.data = tshm__malloc(REPLY_FIRST_BUF)) != NULL) {
                e.sbuf.alloc = REPLY_FIRST_BUF;
        }
        if (status == 0) {
                rv = reply_encode_success(rep, &e);
        } else {
                rv = tshm__reply_error(&e, rep->id, status, rep->msg[0] != '\0' ? rep->msg : NULL);
        }
        if (rv == 0) {
                out->len = e.sbuf.size;
                out->buf = (uint8_t *)msgpack_sbuffer_release(&e.sbuf);
                rv = out->buf != NULL ? 0 : TSHM_ENOMEM;
        }
        tshm__reply_enc_done(&e);
        return rv;
}

int
tshmd_reply_encode(struct tshmd_reply *rep, int rv, struct tshmd_frame *out)
{
        int erv;

        out->buf = NULL;
        out->len = 0;
        out->fd = -1;
        out->status = rv;
        if (rv == 0) {
                if ((erv = reply_encode_frame(rep, 0, out)) == 0) {
                        out->fd = rep->fd;
                        rep->fd = -1;
                        return 0;
                }
                /* The client is told the op failed: then it did not
                 * happen. The descriptor stays with @rep (disposed). */
                tshmd_reply_undo(rep);
                rep->msg[0] = '\0';
                out->status = rv = erv;
        }
        if (reply_encode_frame(rep, rv, out) < 0) {
                out->buf = NULL;
                return TSHM_ENOMEM;
        }
        return 0;
}
