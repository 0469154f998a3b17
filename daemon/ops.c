/*
 * ops.c - the op table: which handler answers each op of PROTOCOL.md, and
 * whether it needs the handshake first. A handler checks the caller's
 * rights with the credentials the kernel gave at accept (ses->peer), never
 * with anything in the message, decides, and fills a typed reply; it never
 * encodes or sends (conn.c does). The handlers live by concept: ops_seg.c,
 * ops_perm.c, ops_info.c, ops_stream.c, ops_mirror.c and create.c.
 */
#include <stddef.h>
#include <syslog.h>

#include "tshmd.h"

#define OPS_DECODE_ERRLEN 256

struct ops_entry {
        uint32_t op;
        tshmd_handler_fn handler;
        bool needs_hello;
};

static const struct ops_entry ops_table[] = {
    {TSHM_OP_HELLO, tshmd_ops_hello, false},
    {TSHM_OP_CREATE, tshmd_create, true},
    {TSHM_OP_STREAM_CREATE, tshmd_create, true},
    {TSHM_OP_ATTACH, tshmd_ops_attach, true},
    {TSHM_OP_OPEN, tshmd_ops_open, true},
    {TSHM_OP_CLOSE, tshmd_ops_close, true},
    {TSHM_OP_UNLINK, tshmd_ops_unlink, true},
    {TSHM_OP_CHMOD, tshmd_ops_chmod, true},
    {TSHM_OP_CHOWN, tshmd_ops_chown, true},
    {TSHM_OP_GC, tshmd_ops_gc, true},
    {TSHM_OP_STAT, tshmd_ops_stat, true},
    {TSHM_OP_LIST, tshmd_ops_list, true},
    {TSHM_OP_DAEMON_STAT, tshmd_ops_daemon_stat, true},
    {TSHM_OP_PUBLISH, tshmd_ops_publish, true},
    {TSHM_OP_MIRROR, tshmd_ops_mirror, true},
    {TSHM_OP_MIRRORS, tshmd_ops_mirrors, true},
};

static const struct ops_entry *
ops_find(uint32_t op)
{
        size_t i;

        for (i = 0; i < sizeof(ops_table) / sizeof(ops_table[0]); i++) {
                if (ops_table[i].op == op) {
                        return &ops_table[i];
                }
        }
        return NULL;
}

int
tshmd_ops_hello(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                struct tshmd_reply *rep)
{
        (void)srv;
        if (req->version < TSHM_PROTO_VERSION_MIN || req->version > TSHM_PROTO_VERSION) {
                rep->close = true;
                return tshmd_reply_fail(rep, TSHM_EVERSION,
                                        "this daemon speaks protocol %u to %u, not %u",
                                        TSHM_PROTO_VERSION_MIN, TSHM_PROTO_VERSION, req->version);
        }
        ses->hello = true;
        /* Version 1 clients get the same replies: the geometry version 2
         * added is keys they ignore. The answer is the version asked. */
        rep->kind = TSHMD_REPLY_HELLO;
        rep->u.hello.version = req->version;
        return 0;
}

int
tshmd_ops_dispatch(struct tshmd_server *srv, struct tshmd_session *ses, const uint8_t *payload,
                   size_t len, struct tshmd_reply *rep)
{
        const struct ops_entry *e;
        struct tshm__req req;
        int rv;

        srv->requests++;
        /* 256 bytes of detail, as before the table: a client-chosen key in
         * the message is cut at the same place. */
        rv = tshm__req_decode(payload, len, &req, rep->msg, OPS_DECODE_ERRLEN);
        rep->id = req.id;
        if (rv == TSHM_EPROTO) {
                /* The stream cannot be trusted any more: say why, then close. */
                tshmd_log(LOG_WARNING, "protocol violation by pid %d uid %u: %s, closing",
                          (int)ses->peer.pid, (unsigned)ses->peer.uid, rep->msg);
                rep->close = true;
                return rv;
        }
        if (rv < 0) {
                return rv;
        }
        rep->msg[0] = '\0';
        e = ops_find(req.op);
        if (!ses->hello && (e == NULL || e->needs_hello)) {
                tshmd_log(LOG_WARNING, "pid %d uid %u sent %s before hello, closing",
                          (int)ses->peer.pid, (unsigned)ses->peer.uid, tshm__op_name(req.op));
                rep->close = true;
                return tshmd_reply_fail(rep, TSHM_EPROTO, "the first request must be hello");
        }
        if (e == NULL) {
                rep->close = true;
                return tshmd_reply_fail(rep, TSHM_EPROTO, "unknown op");
        }
        return e->handler(srv, ses, &req, rep);
}
