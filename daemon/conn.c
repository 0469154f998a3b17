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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#define CONN_READ_CHUNK 65536
/* Stop reading a client whose replies pile up unread (a list of 100k
 * segments is about 15 MiB). */
#define CONN_MAX_QUEUED (64u * 1024u * 1024u)

static void conn_update(struct tshmd_conn *c);

static void
conn_out_free(struct tshmd_out *o)
{
        if (o->fd >= 0) {
                (void)close(o->fd);
        }
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
        c->out_bytes += len;
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
                c->out_bytes -= (size_t)n;
                if (o->off == o->len) {
                        c->out_head = o->next;
                        if (c->out_head == NULL) {
                                c->out_tail = NULL;
                        }
                        conn_out_free(o);
                }
        }
        return true;
}

/* Read what is there and handle every whole frame in it: at most one read
 * buffer's worth per wake-up, so one client cannot starve the others. Returns
 * false on EOF or a fatal error. */
static bool
conn_read(struct tshmd_conn *c)
{
        uint8_t buf[CONN_READ_CHUNK];
        const uint8_t *payload;
        size_t off = 0, len;
        ssize_t n;
        int taken;

        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) {
                return false;
        }
        if (n < 0) {
                return errno == EAGAIN || errno == EINTR;
        }
        while (off < (size_t)n && !c->closing && !c->close_on_drain) {
                taken = tshm__frame_feed(&c->rd, buf + off, (size_t)n - off);
                if (taken < 0) {
                        tshmd_log(LOG_WARNING, "client %llu (pid %d, uid %u): %s, closing",
                                  (unsigned long long)c->serial, (int)c->pid, (unsigned)c->uid,
                                  taken == TSHM_ETOOBIG ? "oversized frame" : "out of memory");
                        tshmd_conn_reply_error(c, 0, taken,
                                               taken == TSHM_ETOOBIG
                                                   ? "frame exceeds the 64 KiB request limit"
                                                   : NULL);
                        c->close_on_drain = true;
                        break;
                }
                off += (size_t)taken;
                while (!c->closing && !c->close_on_drain &&
                       tshm__frame_next(&c->rd, &payload, &len)) {
                        tshmd_ops_dispatch(c, payload, len);
                        tshm__frame_consume(&c->rd);
                }
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
        if ((events & UV_READABLE) && !conn_read(c)) {
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

/* Poll for reading unless replies pile up, for writing while they wait. */
static void
conn_update(struct tshmd_conn *c)
{
        unsigned ev = 0;

        if (!c->close_on_drain && c->out_bytes < CONN_MAX_QUEUED) {
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
        struct tshmd_out *o;

        while ((o = c->out_head) != NULL) {
                c->out_head = o->next;
                conn_out_free(o);
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
        conn_update(c);
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
        if (srv->nconns == 0) {
                /* Give back what a burst of clients made glibc keep. */
                (void)malloc_trim(0);
        }
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
                tshmd_log(LOG_WARNING, "client limit %u reached, refusing pid %d uid %u",
                          srv->cfg->max_clients, (int)cred.pid, (unsigned)cred.uid);
                (void)close(fd);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL || uv_poll_init(srv->loop, &c->poll, fd) < 0) {
                tshmd_log(LOG_ERR, "cannot set up a client connection, dropping it");
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
