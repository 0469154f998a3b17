/*
 * conn.c - one client connection: read frames, run the op table on each
 * (ops.c), and send what the handler decided: the one place that encodes a
 * reply (tshmd_reply_encode, reply.c) and sends it with the descriptor that
 * rides on it, at once when nothing waits before it, else through the queue
 * (queue.c). When the client goes, its session ends (session.c).
 *
 * Connections are driven by a uv_poll_t on the raw socket rather than a
 * uv_pipe_t, because replies carry descriptors with SCM_RIGHTS, which
 * libuv's stream writes cannot attach to arbitrary frames.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#define CONN_READ_CHUNK 65536
#define CONN_IOV_MAX 64 /* replies per sendmsg */

union conn_ctl {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
};

static void conn_update(struct tshmd_conn *c);

static struct tshmd_conn *
conn_of(struct tshmd_session *ses)
{
        return (struct tshmd_conn *)(void *)((char *)ses - offsetof(struct tshmd_conn, ses));
}

/* No more requests and no more replies: what is queued is sent, then the
 * connection closes. */
static void
conn_close_on_drain(struct tshmd_conn *c)
{
        c->close_on_drain = true;
        c->ses.gone = true;
}

/* Put @fd on @mh as SCM_RIGHTS, in @ctl. */
static void
conn_attach_fd(struct msghdr *mh, union conn_ctl *ctl, int fd)
{
        struct cmsghdr *cm;

        memset(ctl, 0, sizeof(*ctl));
        mh->msg_control = ctl->buf;
        mh->msg_controllen = sizeof(ctl->buf);
        cm = CMSG_FIRSTHDR(mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
}

/* Send @f at once when nothing is queued before it (the usual case: one
 * request in flight), so that it needs no queue entry. Returns how many
 * bytes went; @f keeps what is left for the queue: the rest of its bytes,
 * and its descriptor if none went. A failure sends nothing and leaves the
 * error to the next flush, which closes the connection from the loop. */
static size_t
conn_send_now(struct tshmd_conn *c, struct tshmd_frame *f)
{
        struct iovec iov = {.iov_base = f->buf, .iov_len = f->len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        union conn_ctl ctl;
        ssize_t n;

        if (c->out_head != NULL) {
                return 0;
        }
        if (f->fd >= 0) {
                conn_attach_fd(&mh, &ctl, f->fd);
        }
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0) {
                return 0;
        }
        /* The descriptor went with the first byte; ours can go. */
        if (f->fd >= 0) {
                (void)close(f->fd);
                f->fd = -1;
        }
        if ((size_t)n < f->len) {
                memmove(f->buf, f->buf + n, f->len - (size_t)n);
        }
        f->len -= (size_t)n;
        return (size_t)n;
}

/* Encode the frame that answers a handler's @rv and @rep, send it or queue
 * it (queue.c) with the descriptor that rides on it, and dispose of @rep. A
 * success that cannot be encoded or queued is undone (rep->undo) and
 * becomes an error (which may not fit either: then the client learns
 * nothing, as it would from a lost frame, and its next request is served). */
static void
conn_send(struct tshmd_conn *c, int rv, struct tshmd_reply *rep)
{
        struct tshmd_frame f;
        size_t sent;

        if (rep->close) {
                conn_close_on_drain(c);
        }
        if (tshmd_reply_encode(rep, rv, &f) < 0) {
                goto out; /* not even an error frame: nothing to send */
        }
        sent = conn_send_now(c, &f);
        if (f.len == 0) {
                tshm__free(f.buf);
                goto out; /* all sent */
        }
        if (tshmd_queue_push(c, f.buf, f.len, f.fd) == 0) {
                goto out;
        }
        if (sent > 0) {
                /* Part of the frame went and its rest is lost: nothing can
                 * follow it on this stream. */
                conn_close_on_drain(c);
                goto out;
        }
        if (f.status != 0) {
                goto out; /* an error frame lost */
        }
        /* A success encoded but not queued (its descriptor went with it):
         * take it back and say so. */
        tshmd_reply_undo(rep);
        rep->msg[0] = '\0';
        if (tshmd_reply_encode(rep, TSHM_ENOMEM, &f) == 0) {
                (void)tshmd_queue_push(c, f.buf, f.len, f.fd);
        }
out:
        tshmd_reply_dispose(rep);
}

/* The next run of queued replies for one sendmsg, in @iov: a reply that
 * carries a descriptor only at its head, since the descriptor rides on the
 * first byte of the sendmsg that carries it and the client takes it with
 * that reply. Returns how many entries. */
static size_t
conn_gather(const struct tshmd_conn *c, struct iovec *iov)
{
        const struct tshmd_out *o;
        size_t n = 0;

        for (o = c->out_head; o != NULL && n < CONN_IOV_MAX; o = o->next) {
                if (n > 0 && o->fd >= 0) {
                        break;
                }
                iov[n].iov_base = o->buf + o->off;
                iov[n].iov_len = o->len - o->off;
                n++;
        }
        return n;
}

/* Send what the queue holds as far as the socket takes it, several replies
 * to a sendmsg. Replies queue only when the socket did not take one at once
 * (conn_send_now): under backpressure, where gathering them saves calls.
 * Returns false when the connection failed. */
static bool
conn_flush(struct tshmd_conn *c)
{
        while (c->out_head != NULL) {
                struct tshmd_out *o = c->out_head;
                struct iovec iov[CONN_IOV_MAX];
                struct msghdr mh = {.msg_iov = iov};
                union conn_ctl ctl;
                size_t take;
                ssize_t n;

                mh.msg_iovlen = conn_gather(c, iov);
                if (o->fd >= 0 && o->off == 0) {
                        conn_attach_fd(&mh, &ctl, o->fd);
                }
                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR) {
                                continue;
                        }
                        return errno == EAGAIN;
                }
                /* The descriptor went with the first byte; ours can go. */
                if (n > 0 && o->fd >= 0) {
                        (void)close(o->fd);
                        o->fd = -1;
                }
                while (n > 0) {
                        o = c->out_head;
                        take = o->len - o->off < (size_t)n ? o->len - o->off : (size_t)n;
                        o->off += take;
                        n -= (ssize_t)take;
                        if (o->off == o->len) {
                                tshmd_queue_pop(c);
                        }
                }
        }
        return true;
}

/* Run the handler of one request and send its reply, unless it comes
 * later (TSHMD_PENDING: through conn_complete). */
static void
conn_dispatch(struct tshmd_conn *c, const uint8_t *payload, size_t len)
{
        struct tshmd_reply rep;
        int rv;

        tshmd_reply_init(&rep, 0);
        rv = tshmd_ops_dispatch(c->srv, &c->ses, payload, len, &rep);
        if (rv == TSHMD_PENDING) {
                tshmd_reply_dispose(&rep);
                return;
        }
        conn_send(c, rv, &rep);
}

/* Handle the whole frames in the reader and in @data, while @c may.
 * Returns how many bytes of @data were taken; the rest waits. */
static size_t
conn_handle(struct tshmd_conn *c, const uint8_t *data, size_t len)
{
        const uint8_t *payload;
        size_t off = 0, plen;
        int taken;

        for (;;) {
                while (tshm__frame_next(&c->rd, &payload, &plen)) {
                        if (c->closing || c->close_on_drain || !tshmd_queue_may_handle(c)) {
                                return off;
                        }
                        conn_dispatch(c, payload, plen);
                        tshm__frame_consume(&c->rd);
                }
                if (off == len || c->closing || c->close_on_drain) {
                        return off;
                }
                taken = tshm__frame_feed(&c->rd, data + off, len - off);
                if (taken < 0) {
                        struct tshmd_reply rep;

                        tshmd_log(LOG_WARNING, "client %llu (pid %d, uid %u): %s, closing",
                                  (unsigned long long)c->serial, (int)c->ses.peer.pid,
                                  (unsigned)c->ses.peer.uid,
                                  taken == TSHM_ETOOBIG ? "oversized frame" : "out of memory");
                        tshmd_reply_init(&rep, 0);
                        if (taken == TSHM_ETOOBIG) {
                                (void)tshmd_reply_fail(&rep, taken,
                                                       "frame exceeds the 64 KiB request limit");
                        }
                        rep.close = true;
                        conn_send(c, taken, &rep);
                        return len;
                }
                off += (size_t)taken;
        }
}

static void
conn_stash_free(struct tshmd_conn *c)
{
        if (c->stash != NULL) {
                tshmd_queue_uncharge(c, c->stash);
                tshm__free(c->stash);
                c->stash = NULL;
        }
        c->stash_len = c->stash_off = 0;
}

/* Handle what was read before @c was throttled, now that it may go on. */
static void
conn_resume(struct tshmd_conn *c)
{
        if (c->stash == NULL) {
                (void)conn_handle(c, NULL, 0); /* a whole frame waits in the reader */
                return;
        }
        c->stash_off += conn_handle(c, c->stash + c->stash_off, c->stash_len - c->stash_off);
        if (c->stash_off == c->stash_len || c->closing || c->close_on_drain) {
                conn_stash_free(c);
        }
}

/* Whether @c has requests read but not handled yet. */
static bool
conn_backlog(const struct tshmd_conn *c)
{
        const uint8_t *payload;
        size_t plen;

        return c->stash != NULL || tshm__frame_next(&c->rd, &payload, &plen);
}

/* Read what is there and handle every whole frame in it: at most one read
 * buffer's worth per wake-up, so one client cannot starve the others. What
 * cannot be handled yet (the client is throttled) is kept in c->stash.
 * Returns false on EOF or a fatal error. */
static bool
conn_read(struct tshmd_conn *c)
{
        uint8_t buf[CONN_READ_CHUNK];
        size_t off;
        ssize_t n;

        if (conn_backlog(c) || c->closing || c->close_on_drain) {
                return true; /* polled before it was throttled */
        }
        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) {
                return false;
        }
        if (n < 0) {
                return errno == EAGAIN || errno == EINTR;
        }
        off = conn_handle(c, buf, (size_t)n);
        if (off < (size_t)n && !c->closing && !c->close_on_drain) {
                c->stash = tshm__malloc((size_t)n - off);
                if (c->stash == NULL) {
                        tshmd_log(LOG_ERR, "client %llu (pid %d): out of memory, closing",
                                  (unsigned long long)c->serial, (int)c->ses.peer.pid);
                        return false;
                }
                memcpy(c->stash, buf + off, (size_t)n - off);
                c->stash_len = (size_t)n - off;
                c->stash_off = 0;
                tshmd_queue_charge(c, c->stash);
        }
        return true;
}

static void
conn_on_poll(uv_poll_t *h, int status, int events)
{
        struct tshmd_conn *c = h->data;

        if (status < 0) {
                tshmd_conn_close(c);
                return;
        }
        /* Send first: what leaves the queue may let a throttled client go
         * on with what it sent before. */
        if ((events & UV_WRITABLE) && !conn_flush(c)) {
                tshmd_conn_close(c);
                return;
        }
        if (!c->closing && conn_backlog(c)) {
                conn_resume(c);
        }
        if (!c->closing && (events & UV_READABLE) && !conn_read(c)) {
                tshmd_conn_close(c);
                return;
        }
        if (!c->closing && !conn_flush(c)) {
                tshmd_conn_close(c);
                return;
        }
        if (!c->closing && c->close_on_drain && c->out_head == NULL) {
                tshmd_conn_close(c);
                return;
        }
        if (!c->closing) {
                conn_update(c);
        }
}

/* Poll for reading unless requests wait for replies to drain, for writing
 * while replies wait. */
static void
conn_update(struct tshmd_conn *c)
{
        unsigned ev = 0;

        if (!c->close_on_drain && !conn_backlog(c) && tshmd_queue_may_handle(c)) {
                ev |= UV_READABLE;
        }
        if (c->out_head != NULL) {
                ev |= UV_WRITABLE;
        }
        if (ev != c->poll_events) {
                c->poll_events = ev;
                if (ev == 0) {
                        (void)uv_poll_stop(&c->poll);
                } else {
                        (void)uv_poll_start(&c->poll, (int)ev, conn_on_poll);
                }
        }
}

static void
conn_free(struct tshmd_conn *c)
{
        tshm__frame_reader_done(&c->rd);
        tshm__free(c->ses.peer.groups);
        tshm__free(c);
}

static void
conn_on_close(uv_handle_t *h)
{
        struct tshmd_conn *c = h->data;

        (void)close(c->fd);
        c->fd = -1;
        if (c->ses.pending == 0) {
                conn_free(c);
        }
}

/* The reply of an off-loop operation (session.c calls this through
 * ses->complete). A session that is gone drops it; a connection closed
 * meanwhile is freed by the last one. */
static void
conn_complete(struct tshmd_session *ses, int rv, struct tshmd_reply *rep)
{
        struct tshmd_conn *c = conn_of(ses);

        if (ses->gone) {
                tshmd_reply_dispose(rep);
        } else {
                conn_send(c, rv, rep);
        }
        if (c->closing) {
                /* conn_on_close frees it if it already ran; else it will. */
                if (ses->pending == 0 && c->fd < 0) {
                        conn_free(c);
                }
                return;
        }
        /* A reply was queued off the poll callback: flush it now. */
        if (!conn_flush(c)) {
                tshmd_conn_close(c);
                return;
        }
        if (conn_backlog(c)) {
                conn_resume(c);
        }
        if (!c->closing) {
                conn_update(c);
        }
}

void
tshmd_conn_close(struct tshmd_conn *c)
{
        struct tshmd_server *srv = c->srv;

        if (c->closing) {
                return;
        }
        c->closing = true;
        tshmd_session_end(srv, &c->ses);
        if (c->prev != NULL) {
                c->prev->next = c->next;
        } else {
                srv->conns = c->next;
        }
        if (c->next != NULL) {
                c->next->prev = c->prev;
        }
        srv->nconns--;
        conn_stash_free(c);
        tshmd_queue_drop(c);
        tshmd_log(LOG_DEBUG, "client %llu (pid %d) disconnected", (unsigned long long)c->serial,
                  (int)c->ses.peer.pid);
        uv_close((uv_handle_t *)&c->poll, conn_on_close);
}

/* The peer's supplementary groups as the kernel saw them at connect
 * (SO_PEERGROUPS, Linux 4.13): no name-service lookup, which could block the
 * loop, and nothing the client could claim. */
static int
conn_peer_groups(int fd, struct tshmd_peer *peer)
{
        socklen_t len = 64 * sizeof(gid_t);
        gid_t *groups = NULL;
        int tries;

        for (tries = 0; tries < 3; tries++) {
                gid_t *ng = tshm__realloc(groups, len > 0 ? len : sizeof(gid_t));
                if (ng == NULL) {
                        tshm__free(groups);
                        return TSHM_ENOMEM;
                }
                groups = ng;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
                        peer->groups = groups;
                        peer->ngroups = (uint32_t)(len / sizeof(gid_t));
                        return 0;
                }
                if (errno != ERANGE) {
                        break;
                }
                /* len now holds the size needed. */
        }
        tshm__free(groups);
        return -errno;
}

/* Tell a client we will not serve why, in one error frame (id 0, before
 * its hello is read), so that it reports TSHM_ELIMIT at once instead of
 * taking the closed socket for a lost daemon and trying again. The socket
 * is new and its buffer empty: the frame fits, or it is dropped. */
static void
conn_refuse(int fd, uint32_t max_clients)
{
        struct tshm__reply_enc e;
        char msg[128];

        (void)snprintf(msg, sizeof(msg),
                       "tshmd serves at most %u clients at once (--max-clients); try again later",
                       max_clients);
        tshm__reply_enc_init(&e);
        if (tshm__reply_error(&e, 0, TSHM_ELIMIT, msg) == 0) {
                (void)send(fd, e.sbuf.data, e.sbuf.size, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        tshm__reply_enc_done(&e);
}

/* Put @c at the head of the server's list of connections. */
static void
conn_link(struct tshmd_server *srv, struct tshmd_conn *c)
{
        c->next = srv->conns;
        if (srv->conns != NULL) {
                srv->conns->prev = c;
        }
        srv->conns = c;
        srv->nconns++;
}

/* The credentials a connection is judged by: the kernel's word (@cred,
 * SO_PEERCRED) and the supplementary groups. */
static void
conn_peer_init(int fd, const struct ucred *cred, struct tshmd_peer *peer)
{
        peer->pid = cred->pid;
        peer->uid = cred->uid;
        peer->gid = cred->gid;
        /* A connection from our own process is the peer thread (peer.h),
         * acting for requesters whose rights ops_mirror.c has checked on
         * their own credentials, or for a remote daemon that proved the
         * shared secret: it gets root's rights. No other process can have
         * our pid in our pid namespace, and a client in another namespace
         * that SO_PEERCRED cannot map reads as pid 0, which never matches. */
        if (cred->pid != 0 && cred->pid == getpid()) {
                peer->uid = 0;
                peer->gid = 0;
        }
        if (conn_peer_groups(fd, peer) < 0) {
                /* Without them the client is judged by its primary group. */
                tshmd_log(LOG_WARNING, "SO_PEERGROUPS failed for pid %d: %s, using gid only",
                          (int)peer->pid, strerror(errno));
        }
}

void
tshmd_conn_accept(struct tshmd_server *srv, int fd)
{
        struct tshmd_peer peer = {0};
        struct tshmd_conn *c;
        struct ucred cred;
        socklen_t len = sizeof(cred);

        /* The kernel's word on who this is, never the client's. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                tshmd_log(LOG_WARNING, "SO_PEERCRED failed: %s, dropping client", strerror(errno));
                (void)close(fd);
                return;
        }
        if (srv->cfg->max_clients != 0 && srv->nconns >= srv->cfg->max_clients) {
                tshmd_log(LOG_WARNING,
                          "client limit %u (--max-clients) reached, refusing pid %d uid %u",
                          srv->cfg->max_clients, (int)cred.pid, (unsigned)cred.uid);
                conn_refuse(fd, srv->cfg->max_clients);
                (void)close(fd);
                return;
        }
        c = tshm__calloc(1, sizeof(*c));
        if (c != NULL) {
                c->srv = srv;
        }
        if (c == NULL || tshmd_queue_join(srv, c, cred.uid) < 0 ||
            uv_poll_init(srv->loop, &c->poll, fd) < 0) {
                tshmd_log(LOG_ERR, "cannot set up a client connection, dropping it");
                if (c != NULL) {
                        tshmd_queue_leave(c);
                }
                tshm__free(c);
                (void)close(fd);
                return;
        }
        c->poll.data = c;
        c->fd = fd;
        c->serial = ++srv->next_conn;
        conn_peer_init(fd, &cred, &peer);
        tshmd_session_init(&c->ses, &peer, conn_complete);
        tshm__frame_reader_init(&c->rd, TSHM_PROTO_MAX_REQUEST);
        conn_link(srv, c);
        conn_update(c);
        tshmd_log(LOG_DEBUG, "client %llu connected: pid %d uid %u gid %u",
                  (unsigned long long)c->serial, (int)peer.pid, (unsigned)peer.uid,
                  (unsigned)peer.gid);
}
