/*
 * conn.c - one client connection: read frames, queue replies (and the
 * descriptors that ride on them), drop the client's handles when it goes.
 *
 * Connections are driven by a uv_poll_t on the raw socket rather than a
 * uv_pipe_t, because replies carry descriptors with SCM_RIGHTS, which
 * libuv's stream writes cannot attach to arbitrary frames.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#define CONN_READ_CHUNK 65536
/* What malloc spends on an allocation besides its usable size (glibc's
 * chunk header). */
#define CONN_MALLOC_OVERHEAD (2 * sizeof(size_t))
/* A reply buffer with more slack than this is cut to its length: msgpack's
 * buffer starts at 8 KiB, and a queue of small replies would otherwise cost
 * 8 KiB each. */
#define CONN_SLACK_MAX 256

static void conn_update(struct tshmd_conn *c);

/* What the allocation @p costs. */
static size_t
conn_cost(void *p)
{
        return p != NULL ? malloc_usable_size(p) + CONN_MALLOC_OVERHEAD : 0;
}

static void
conn_charge(struct tshmd_conn *c, size_t n)
{
        c->queued += n;
        if (c->queued > c->queued_peak) {
                c->queued_peak = c->queued;
        }
        if (c->uidq != NULL) {
                c->uidq->queued += n;
        }
        c->srv->queued += n;
}

static void
conn_uncharge(struct tshmd_conn *c, size_t n)
{
        c->queued -= n;
        if (c->uidq != NULL) {
                c->uidq->queued -= n;
        }
        c->srv->queued -= n;
}

static void
conn_out_free(struct tshmd_conn *c, struct tshmd_out *o)
{
        if (o->fd >= 0) {
                (void)close(o->fd);
        }
        conn_uncharge(c, conn_cost(o->buf) + conn_cost(o));
        free(o->buf);
        free(o);
}

int
tshmd_conn_queue(struct tshmd_conn *c, uint8_t *buf, size_t len, int fd)
{
        struct tshmd_out *o;

        o = malloc(sizeof(*o));
        if (o == NULL) {
                free(buf);
                if (fd >= 0) {
                        (void)close(fd);
                }
                return TSHM_ENOMEM;
        }
        if (malloc_usable_size(buf) > len + CONN_SLACK_MAX) {
                uint8_t *nb = realloc(buf, len);
                if (nb != NULL) { /* else the bigger buffer serves as well */
                        buf = nb;
                }
        }
        o->next = NULL;
        o->buf = buf;
        o->len = len;
        o->off = 0;
        o->fd = fd;
        if (c->out_tail != NULL) {
                c->out_tail->next = o;
        } else {
                c->out_head = o;
        }
        c->out_tail = o;
        conn_charge(c, conn_cost(buf) + conn_cost(o));
        return 0;
}

void
tshmd_conn_reply_error(struct tshmd_conn *c, uint64_t id, int status, const char *msg)
{
        struct tshm__reply_enc e;

        tshm__reply_enc_init(&e);
        if (tshm__reply_error(&e, id, status, msg) == 0) {
                size_t len = e.sbuf.size;
                (void)tshmd_conn_queue(c, (uint8_t *)msgpack_sbuffer_release(&e.sbuf), len, -1);
        }
        tshm__reply_enc_done(&e);
}

bool
tshmd_conn_writable(const struct tshmd_conn *c)
{
        return !c->closing && !c->close_on_drain;
}

/* Send what the socket takes. Returns false when the connection failed. */
static bool
conn_flush(struct tshmd_conn *c)
{
        while (c->out_head != NULL) {
                struct tshmd_out *o = c->out_head;
                union {
                        char buf[CMSG_SPACE(sizeof(int))];
                        struct cmsghdr align;
                } ctl;
                struct iovec iov = {.iov_base = o->buf + o->off, .iov_len = o->len - o->off};
                struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
                ssize_t n;

                if (o->fd >= 0 && o->off == 0) {
                        struct cmsghdr *cm;
                        memset(&ctl, 0, sizeof(ctl));
                        mh.msg_control = ctl.buf;
                        mh.msg_controllen = sizeof(ctl.buf);
                        cm = CMSG_FIRSTHDR(&mh);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(cm), &o->fd, sizeof(int));
                }
                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR) {
                                continue;
                        }
                        return errno == EAGAIN;
                }
                /* The descriptor went with the first byte; ours can go. */
                if (o->fd >= 0) {
                        (void)close(o->fd);
                        o->fd = -1;
                }
                o->off += (size_t)n;
                if (o->off == o->len) {
                        c->out_head = o->next;
                        if (c->out_head == NULL) {
                                c->out_tail = NULL;
                        }
                        conn_out_free(c, o);
                }
        }
        return true;
}

/* Whether @c may have its next request handled: always when nothing is
 * queued for it (so a client that reads its replies is served whatever the
 * others do), else only while it, its uid and the daemon as a whole are
 * under their limits. A connection that hit a limit waits until its own queue
 * is below the low-water mark, so that it does not flap on every reply. */
static bool
conn_may_handle(struct tshmd_conn *c)
{
        size_t own = c->throttled ? TSHMD_QUEUE_LOW : TSHMD_QUEUE_MAX_CONN;

        if (c->out_head == NULL) {
                c->throttled = false;
                return true;
        }
        if (c->queued < own && (c->uidq == NULL || c->uidq->queued < TSHMD_QUEUE_MAX_UID) &&
            c->srv->queued < TSHMD_QUEUE_MAX_ALL) {
                c->throttled = false;
                return true;
        }
        if (!c->throttled) {
                c->throttled = true;
                tshmd_log(LOG_INFO,
                          "client %llu (pid %d, uid %u) does not read its replies (%zu bytes "
                          "queued, %zu for its uid, %zu in all): pausing it",
                          (unsigned long long)c->serial, (int)c->pid, (unsigned)c->uid, c->queued,
                          c->uidq != NULL ? c->uidq->queued : 0, c->srv->queued);
        }
        return false;
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
                        if (c->closing || c->close_on_drain || !conn_may_handle(c)) {
                                return off;
                        }
                        tshmd_ops_dispatch(c, payload, plen);
                        tshm__frame_consume(&c->rd);
                }
                if (off == len || c->closing || c->close_on_drain) {
                        return off;
                }
                taken = tshm__frame_feed(&c->rd, data + off, len - off);
                if (taken < 0) {
                        tshmd_log(LOG_WARNING, "client %llu (pid %d, uid %u): %s, closing",
                                  (unsigned long long)c->serial, (int)c->pid, (unsigned)c->uid,
                                  taken == TSHM_ETOOBIG ? "oversized frame" : "out of memory");
                        tshmd_conn_reply_error(c, 0, taken,
                                               taken == TSHM_ETOOBIG
                                                   ? "frame exceeds the 64 KiB request limit"
                                                   : NULL);
                        c->close_on_drain = true;
                        return len;
                }
                off += (size_t)taken;
        }
}

static void
conn_stash_free(struct tshmd_conn *c)
{
        if (c->stash != NULL) {
                conn_uncharge(c, conn_cost(c->stash));
                free(c->stash);
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
                c->stash = malloc((size_t)n - off);
                if (c->stash == NULL) {
                        tshmd_log(LOG_ERR, "client %llu (pid %d): out of memory, closing",
                                  (unsigned long long)c->serial, (int)c->pid);
                        return false;
                }
                memcpy(c->stash, buf + off, (size_t)n - off);
                c->stash_len = (size_t)n - off;
                c->stash_off = 0;
                conn_charge(c, conn_cost(c->stash));
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

        if (!c->close_on_drain && !conn_backlog(c) && conn_may_handle(c)) {
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

/* Give back what the queue held: replies not taken, and the stash. */
static void
conn_drop_queue(struct tshmd_conn *c)
{
        struct tshmd_out *o;

        while ((o = c->out_head) != NULL) {
                c->out_head = o->next;
                conn_out_free(c, o);
        }
        c->out_tail = NULL;
        conn_stash_free(c);
        if (c->uidq != NULL && --c->uidq->conns == 0) {
                HASH_DEL(c->srv->uidqs, c->uidq);
                free(c->uidq);
        }
        c->uidq = NULL;
        /* glibc keeps freed memory for reuse; a queue that grew large (or
         * the last client leaving) is a good moment to return it. */
        if (c->queued_peak >= TSHMD_QUEUE_LOW || c->srv->nconns == 0) {
                (void)malloc_trim(0);
        }
}

static void
conn_free(struct tshmd_conn *c)
{
        struct tshmd_out *o;

        /* A reply an off-loop operation queued after the close. */
        while ((o = c->out_head) != NULL) {
                c->out_head = o->next;
                conn_out_free(c, o);
        }
        tshm__frame_reader_done(&c->rd);
        free(c->groups);
        free(c);
}

static void
conn_on_close(uv_handle_t *h)
{
        struct tshmd_conn *c = h->data;

        (void)close(c->fd);
        c->fd = -1;
        if (c->pending == 0) {
                conn_free(c);
        }
}

void
tshmd_conn_release(struct tshmd_conn *c)
{
        c->pending--;
        if (c->closing) {
                /* conn_on_close frees it if it already ran; else it will. */
                if (c->pending == 0 && c->fd < 0) {
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

/* The segments this connection made ephemeral go with it. */
static void
conn_drop_ephemerals(struct tshmd_conn *c)
{
        struct tshmd_ephemeral *e;

        while ((e = c->ephemerals) != NULL) {
                struct tshmd_seg *seg = tshmd_registry_find(&c->srv->reg, e->name);
                c->ephemerals = e->next;
                if (seg != NULL && seg->serial == e->serial && seg->state == TSHMD_SEG_READY) {
                        tshmd_log(LOG_INFO, "ephemeral '%s' removed: its creator (pid %d) left",
                                  seg->name, (int)c->pid);
                        (void)tshmd_ops_remove(c->srv, seg);
                }
                free(e);
        }
}

void
tshmd_conn_close(struct tshmd_conn *c)
{
        struct tshmd_server *srv = c->srv;
        struct tshmd_handle *h, *tmp;

        if (c->closing) {
                return;
        }
        c->closing = true;
        HASH_ITER(hh, c->handles, h, tmp)
        {
                HASH_DEL(c->handles, h);
                /* A client that went away may have died mid-write; one the
                 * daemon lets go because it stops has not. */
                if (h->writable && !srv->stopping) {
                        tshmd_sync_release(srv, c, h->seg);
                }
                tshmd_stream_leave(h);
                tshmd_registry_unref(&srv->reg, h->seg);
                free(h);
        }
        c->nhandles = 0;
        conn_drop_ephemerals(c);
        if (c->prev != NULL) {
                c->prev->next = c->next;
        } else {
                srv->conns = c->next;
        }
        if (c->next != NULL) {
                c->next->prev = c->prev;
        }
        srv->nconns--;
        conn_drop_queue(c);
        tshmd_log(LOG_DEBUG, "client %llu (pid %d) disconnected", (unsigned long long)c->serial,
                  (int)c->pid);
        uv_close((uv_handle_t *)&c->poll, conn_on_close);
}

bool
tshmd_conn_in_group(const struct tshmd_conn *c, gid_t gid)
{
        uint32_t i;

        if (c->gid == gid) {
                return true;
        }
        for (i = 0; i < c->ngroups; i++) {
                if (c->groups[i] == gid) {
                        return true;
                }
        }
        return false;
}

/* The peer's supplementary groups as the kernel saw them at connect
 * (SO_PEERGROUPS, Linux 4.13): no name-service lookup, which could block the
 * loop, and nothing the client could claim. */
static int
conn_peer_groups(struct tshmd_conn *c)
{
        socklen_t len = 64 * sizeof(gid_t);
        gid_t *groups = NULL;
        int tries;

        for (tries = 0; tries < 3; tries++) {
                gid_t *ng = realloc(groups, len > 0 ? len : sizeof(gid_t));
                if (ng == NULL) {
                        free(groups);
                        return TSHM_ENOMEM;
                }
                groups = ng;
                if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
                        c->groups = groups;
                        c->ngroups = (uint32_t)(len / sizeof(gid_t));
                        return 0;
                }
                if (errno != ERANGE) {
                        break;
                }
                /* len now holds the size needed. */
        }
        free(groups);
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

/* Count @c's queue with the others of @uid. */
static int
conn_uidq(struct tshmd_server *srv, struct tshmd_conn *c, uid_t uid)
{
        struct tshmd_uidq *q = NULL;
        uint32_t key = (uint32_t)uid;

        HASH_FIND(hh, srv->uidqs, &key, sizeof(key), q);
        if (q == NULL) {
                if ((q = calloc(1, sizeof(*q))) == NULL) {
                        return TSHM_ENOMEM;
                }
                q->uid = key;
                tshmd_hash_oom = 0;
                HASH_ADD(hh, srv->uidqs, uid, sizeof(q->uid), q);
                if (tshmd_hash_oom) {
                        free(q);
                        return TSHM_ENOMEM;
                }
        }
        q->conns++;
        c->uidq = q;
        return 0;
}

void
tshmd_conn_accept(struct tshmd_server *srv, int fd)
{
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
        c = calloc(1, sizeof(*c));
        if (c == NULL || conn_uidq(srv, c, cred.uid) < 0 ||
            uv_poll_init(srv->loop, &c->poll, fd) < 0) {
                tshmd_log(LOG_ERR, "cannot set up a client connection, dropping it");
                if (c != NULL && c->uidq != NULL && --c->uidq->conns == 0) {
                        HASH_DEL(srv->uidqs, c->uidq);
                        free(c->uidq);
                }
                free(c);
                (void)close(fd);
                return;
        }
        c->poll.data = c;
        c->fd = fd;
        c->srv = srv;
        c->serial = ++srv->next_conn;
        c->pid = cred.pid;
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->next_handle = 1;
        if (conn_peer_groups(c) < 0) {
                /* Without them the client is judged by its primary group. */
                tshmd_log(LOG_WARNING, "SO_PEERGROUPS failed for pid %d: %s, using gid only",
                          (int)c->pid, strerror(errno));
        }
        tshm__frame_reader_init(&c->rd, TSHM_PROTO_MAX_REQUEST);
        c->next = srv->conns;
        if (srv->conns != NULL) {
                srv->conns->prev = c;
        }
        srv->conns = c;
        srv->nconns++;
        conn_update(c);
        tshmd_log(LOG_DEBUG, "client %llu connected: pid %d uid %u gid %u",
                  (unsigned long long)c->serial, (int)c->pid, (unsigned)c->uid, (unsigned)c->gid);
}
