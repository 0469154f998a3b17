/*
 * mirror_in.c - the receiving side: a peer connects (the listener), says
 * HELLO, gets our CHALLENGE, and proves with OPEN that it knows the secret;
 * then we open or make the copy (owned by --peer-uid, read-only) through
 * the peer thread's client and publish what arrives, in order, whole or
 * not at all: an array's version lands in a staging buffer and is copied in
 * under the writer lock only once COMMIT says it left the source whole; a
 * stream's frame lands in a loaned slot (no copy) and is published or
 * discarded the same way. A stream slot that is not free yet (block
 * policy: our subscribers hold it) leaves the frame's bytes with UCX
 * (a rendezvous is not fetched), so the sender's send does not complete
 * and its subscription holds the source's producer back.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "peer_int.h"
#include "tshmd.h"

static uint64_t
in_realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void in_sent(struct peer_link *link, const struct peer_send *s, bool ok);

struct mirror_in *
mirror_in_accept(struct tshmd_peers *p, ucp_conn_request_h req)
{
        ucp_conn_request_attr_t attr = {.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR};
        char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
        unsigned pending = 0, from_host = 0;
        struct mirror_in *m;

        if (ucp_conn_request_query(req, &attr) == UCS_OK) {
                (void)getnameinfo((const struct sockaddr *)&attr.client_address,
                                  sizeof(attr.client_address), host, sizeof(host), serv,
                                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
        }
        /* Connections that have not proven the secret are bounded, in all
         * and per address, and must say HELLO within PEER_HELLO_NS: a flood
         * from one host cannot take every slot, nor hold one for long. */
        for (m = p->ins; m != NULL; m = m->next) {
                if (m->has_link && m->state != IN_LIVE) {
                        pending++;
                        from_host += strcmp(m->host, host) == 0;
                }
        }
        if (pending >= PEER_MAX_PENDING || from_host >= PEER_MAX_PENDING_PER_HOST) {
                tshmd_log(LOG_WARNING,
                          "peer: %u connections not yet authenticated (%u from %s); refusing "
                          "another",
                          pending, from_host, host);
                return NULL;
        }
        m = calloc(1, sizeof(*m));
        if (m == NULL) {
                return NULL;
        }
        m->peers = p;
        m->link.in = m;
        m->link.on_sent = in_sent;
        m->has_link = true;
        m->conn_req = req;
        m->state = IN_HELLO;
        m->deadline_ns = p->now_ns + PEER_HELLO_NS;
        m->link.heard_ns = p->now_ns;
        m->info.incoming = 1;
        m->info.state = TSHM_MIRROR_CONNECTING;
        snprintf(m->host, sizeof(m->host), "%.63s", host);
        snprintf(m->info.peer, sizeof(m->info.peer), "%.200s:%.30s", host, serv);
        return m;
}

/* Create the endpoint for a connection the listener accepted (not in the
 * listener's callback: there we only take note). */
static int
in_ep_create(struct mirror_in *m)
{
        ucp_ep_params_t ep = {.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST,
                              .conn_request = m->conn_req};
        ucs_status_t st;

        m->conn_req = NULL;
        peer_ep_params(&m->link, &ep);
        if ((st = ucp_ep_create(m->peers->worker, &ep, &m->link.ep)) != UCS_OK) {
                m->link.ep = NULL;
                m->has_link = false;
                return TSHM_EIO;
        }
        return 0;
}

/* Forget the version or frame being received (a loaned slot goes back). */
static void
in_drop_current(struct mirror_in *m)
{
        if (m->loaned) {
                (void)tshm_stream_discard(m->seg);
        }
        peer_event_free(m->peers, m->cur);
        m->cur = NULL;
        m->dest = NULL;
        m->loaned = m->receiving = m->received = m->committed = m->whole = false;
}

/* The link is gone: the copy (if any) is stale until the sender is back. */
static void
in_down(struct mirror_in *m, const char *why)
{
        struct tshmd_peers *p = m->peers;

        if (m->state == IN_LIVE) {
                tshmd_log(LOG_WARNING, "peer: the copy '%s' from %s is stale: %s", m->info.name,
                          m->info.peer, why);
        }
        peer_link_close(p, &m->link);
        for (int i = 0; i < 10000 && m->recv_req != NULL; i++) {
                ucp_worker_progress(p->worker);
        }
        in_drop_current(m);
        m->has_link = false;
        m->state = IN_STALE;
        if (m->info.name[0] != '\0') {
                peer_set_state(p, &m->info, TSHM_MIRROR_STALE, "%s", why);
        }
}

static int
in_reply(struct mirror_in *m, const struct tshm__peer_msg *msg)
{
        if (peer_send(m->peers, &m->link, msg, NULL, 0, NULL) < 0) {
                m->link.failed = true;
                return TSHM_ECONNRESET;
        }
        return 0;
}

/* Whether @seg has the geometry @open asks for. */
static bool
in_same_geometry(tshm_seg *seg, const struct tshm__peer_msg *open, const tshm_info *info,
                 uint32_t slots, uint32_t policy)
{
        if (tshm_seg_dtype(seg) != open->dtype || tshm_seg_ndim(seg) != open->ndim ||
            memcmp(tshm_seg_shape(seg), open->shape, open->ndim * sizeof(uint64_t)) != 0) {
                return false;
        }
        if (open->slots == 0) {
                return info->kind == TSHM_KIND_ARRAY;
        }
        return info->kind == TSHM_KIND_STREAM && slots == open->slots && policy == open->policy;
}

/* The copies we made: a name is added when the peer thread creates it and
 * dropped when it is found unlinked; the list is saved whole each time
 * (a few hundred names at most, rarely changed). */
static bool
copies_has(const struct tshmd_peers *p, const char *name)
{
        for (size_t i = 0; i < p->ncopies; i++) {
                if (strcmp(p->copies[i], name) == 0) {
                        return true;
                }
        }
        return false;
}

static void
copies_save(struct tshmd_peers *p)
{
        char tmp[80];
        FILE *f = peer_state_begin(p, p->copies_file, tmp, sizeof(tmp));
        int rv = f == NULL ? -errno : 0;

        for (size_t i = 0; f != NULL && i < p->ncopies; i++) {
                fprintf(f, "%s\n", p->copies[i]);
        }
        if (f != NULL) {
                rv = peer_state_commit(p, f, tmp, p->copies_file);
        }
        if (rv < 0) {
                tshmd_log(LOG_WARNING, "peer: cannot save the list of copies: %s", strerror(-rv));
        }
}

static void
copies_add(struct tshmd_peers *p, const char *name)
{
        char(*v)[TSHM_NAME_MAX + 1];

        if (copies_has(p, name) ||
            (v = realloc(p->copies, (p->ncopies + 1) * sizeof(*v))) == NULL) {
                return;
        }
        p->copies = v;
        snprintf(p->copies[p->ncopies++], sizeof(p->copies[0]), "%s", name);
        copies_save(p);
}

static void
copies_remove(struct tshmd_peers *p, const char *name)
{
        for (size_t i = 0; i < p->ncopies; i++) {
                if (strcmp(p->copies[i], name) == 0) {
                        memcpy(p->copies[i], p->copies[--p->ncopies], sizeof(p->copies[0]));
                        copies_save(p);
                        return;
                }
        }
}

void
mirror_in_load_copies(struct tshmd_peers *p)
{
        char line[TSHM_NAME_MAX + 3];
        FILE *f;
        int fd = openat(p->state_fd, p->copies_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
                if (fd >= 0) {
                        (void)close(fd);
                }
                return;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
                line[strcspn(line, "\n")] = '\0';
                if (tshm_name_check(line) == 0 && !copies_has(p, line)) {
                        char(*v)[TSHM_NAME_MAX + 1] =
                            realloc(p->copies, (p->ncopies + 1) * sizeof(*v));
                        if (v == NULL) {
                                break;
                        }
                        p->copies = v;
                        /* tshm_name_check(): at most TSHM_NAME_MAX bytes. */
                        memcpy(p->copies[p->ncopies++], line, strlen(line) + 1);
                }
        }
        (void)fclose(f);
}

/* Whether @m's copy was unlinked here (by its owner, or root). */
static bool
in_unlinked(const struct mirror_in *m)
{
        return tshm_wait(m->seg, tshm_seg_seq(m->seg), 0) == TSHM_ENOENT;
}

/* The copy is gone here: off the list of copies, closed, and the record
 * nameless (freed by the loop once its link is down too). */
static void
in_forget_copy(struct mirror_in *m)
{
        struct tshmd_peers *p = m->peers;

        copies_remove(p, m->info.name);
        /* Not while UCX may still write into it (mirror_in_free closes it). */
        if (m->seg != NULL && m->link.sends == 0) {
                (void)tshm_close(m->seg);
                m->seg = NULL;
        }
        pthread_mutex_lock(&p->lock);
        m->info.name[0] = '\0';
        pthread_mutex_unlock(&p->lock);
}

/* Take over the copy of a record for the same name (the sender is back on a
 * new link): its segment becomes @m's (not its staging buffer: @m sizes its
 * own to the geometry this OPEN announces). */
static void
in_take_over(struct mirror_in *m, const char *name)
{
        for (struct mirror_in *o = m->peers->ins; o != NULL; o = o->next) {
                if (o == m || strcmp(o->info.name, name) != 0) {
                        continue;
                }
                if (o->has_link) {
                        in_down(o, "the sender connected again");
                }
                m->seg = o->seg;
                o->seg = NULL;
                pthread_mutex_lock(&m->peers->lock);
                m->info.sent = o->info.sent;
                m->info.dropped = o->info.dropped;
                m->info.reconnects = o->info.reconnects + 1;
                o->info.name[0] = '\0'; /* freed by the loop */
                pthread_mutex_unlock(&m->peers->lock);
                return;
        }
}

/* Open the copy @open names, only if we made it; else make it, owned by
 * --peer-uid. Returns 0 or a code with @err. */
static int
in_open_or_make(struct mirror_in *m, tshm_client *c, const struct tshm__peer_msg *open, char *err,
                size_t errlen)
{
        struct tshmd_peers *p = m->peers;
        int rv = tshm_open(c, open->name, TSHM_OPEN_RDWR, &m->seg);

        if (rv == 0 && !copies_has(p, open->name)) {
                snprintf(err, errlen, "'%.64s' exists here and was not made for a peer",
                         open->name);
                return TSHM_EEXIST;
        }
        if (rv == TSHM_ENOENT) {
                unsigned mode = open->mode & 0444u;
                rv = open->slots == 0
                         ? tshm_create(c, open->name, open->dtype, open->ndim, open->shape, mode, 0,
                                       &m->seg)
                         : tshm_stream_create(c, open->name, open->dtype, open->ndim, open->shape,
                                              open->slots, (tshm_stream_policy)open->policy, mode,
                                              0, &m->seg);
                if (rv == 0 &&
                    (rv = tshm_chown(c, open->name, p->copy_uid, (uint32_t)getegid())) < 0) {
                        (void)tshm_unlink(c, open->name);
                }
                if (rv == 0) {
                        copies_add(p, open->name);
                }
        }
        if (rv < 0) {
                snprintf(err, errlen, "cannot make the copy '%.100s': %s", open->name,
                         tshm_strerror(rv));
        }
        return rv;
}

/* Open the copy @open names, or make it. Returns 0 or a code with @err. */
static int
in_open_copy(struct mirror_in *m, const struct tshm__peer_msg *open, char *err, size_t errlen)
{
        struct tshmd_peers *p = m->peers;
        tshm_client *c = peer_client(p);
        tshm_stream_info si = {0};
        tshm_info info;
        int rv;

        if (c == NULL) {
                snprintf(err, errlen, "the receiving daemon cannot reach itself");
                return TSHM_EIO;
        }
        in_take_over(m, open->name);
        if (m->seg != NULL && in_unlinked(m)) {
                copies_remove(p, open->name);
                (void)tshm_close(m->seg);
                m->seg = NULL;
        }
        if (m->seg == NULL && (rv = in_open_or_make(m, c, open, err, errlen)) < 0) {
                goto fail;
        }
        /* Never write over a segment of this host's users: only a copy we
         * keep (owned by --peer-uid) of the same geometry is reused. */
        if ((rv = peer_stat(p, open->name, &info)) < 0 ||
            (info.kind == TSHM_KIND_STREAM && (rv = tshm_stream_stat(c, open->name, &si)) < 0)) {
                snprintf(err, errlen, "'%.100s': %s", open->name, tshm_strerror(rv));
                goto fail;
        }
        if (info.owner_uid != p->copy_uid ||
            !in_same_geometry(m->seg, open, &info, si.slots, si.policy)) {
                snprintf(err, errlen,
                         "'%.64s' exists here, not a copy of this geometry for peers "
                         "(owner %u)",
                         open->name, info.owner_uid);
                rv = TSHM_EEXIST;
                goto fail;
        }
        m->stream = open->slots != 0;
        m->nbytes = open->nbytes;
        free(m->staging);
        m->staging = NULL;
        if (!m->stream && m->nbytes > 0 && (m->staging = malloc(m->nbytes)) == NULL) {
                snprintf(err, errlen, "no memory for a %llu-byte staging buffer",
                         (unsigned long long)m->nbytes);
                rv = TSHM_ENOMEM;
                goto fail;
        }
        pthread_mutex_lock(&p->lock);
        snprintf(m->info.name, sizeof(m->info.name), "%s", open->name);
        {
                const char *slash = strrchr(open->source, '/');
                snprintf(m->info.remote, sizeof(m->info.remote), "%.200s",
                         slash != NULL ? slash + 1 : open->source);
        }
        m->info.stream = m->stream;
        pthread_mutex_unlock(&p->lock);
        return 0;
fail:
        if (m->seg != NULL) {
                (void)tshm_close(m->seg);
                m->seg = NULL;
        }
        free(m->staging);
        m->staging = NULL;
        return rv;
}

static void
in_hello(struct mirror_in *m, const struct tshm__peer_msg *hello)
{
        struct tshmd_peers *p = m->peers;
        struct tshm__peer_msg ch = {.am = TSHM_PEER_CHALLENGE, .version = TSHM_PEER_VERSION};

        if (hello->version != TSHM_PEER_VERSION || peer_nonce(m->nonce_r) < 0) {
                in_down(m, "another version of the peer protocol");
                return;
        }
        memcpy(m->nonce_s, hello->nonce, sizeof(m->nonce_s));
        memcpy(ch.nonce, m->nonce_r, sizeof(ch.nonce));
        peer_mac(p, "tshm-peer-1 receiver", m->nonce_s, m->nonce_r, ch.mac);
        if (in_reply(m, &ch) == 0) {
                m->state = IN_OPEN;
                m->deadline_ns = m->peers->now_ns + PEER_HANDSHAKE_NS;
        }
}

/* Whether a copy named @name may be kept: one of that name is (taken
 * over), or fewer than PEER_MAX_MIRRORS are (stale ones count: each holds
 * a segment and, for an array, a staging buffer). */
static bool
in_room_for(const struct mirror_in *m, const char *name)
{
        unsigned n = 0;

        for (const struct mirror_in *o = m->peers->ins; o != NULL; o = o->next) {
                if (o->info.name[0] == '\0') {
                        continue;
                }
                if (strcmp(o->info.name, name) == 0) {
                        return true;
                }
                n++;
        }
        return n < PEER_MAX_MIRRORS;
}

static void
in_open(struct mirror_in *m, const struct tshm__peer_msg *open)
{
        struct tshmd_peers *p = m->peers;
        struct tshm__peer_msg ok = {.am = TSHM_PEER_OPENED};

        if (!peer_mac_ok(p, "tshm-peer-1 sender", m->nonce_r, m->nonce_s, open->mac)) {
                tshmd_log(LOG_WARNING, "peer: %s failed authentication; dropping it", m->info.peer);
                in_down(m, "authentication failed");
                return;
        }
        if (!in_room_for(m, open->name)) {
                ok.status = TSHM_ELIMIT;
                snprintf(ok.error, sizeof(ok.error), "this daemon keeps %u copies already",
                         PEER_MAX_MIRRORS);
        } else {
                ok.status = in_open_copy(m, open, ok.error, sizeof(ok.error));
        }
        if (ok.status < 0) {
                tshmd_log(LOG_WARNING, "peer: refusing %s's copy '%s': %s", m->info.peer,
                          open->name, ok.error);
                (void)in_reply(m, &ok);
                /* Wait for the sender to close; the deadline drops it. */
                return;
        }
        if (in_reply(m, &ok) == 0) {
                m->state = IN_LIVE;
                peer_set_state(p, &m->info, TSHM_MIRROR_LIVE, NULL);
                tshmd_log(LOG_INFO, "peer: keeping '%s' in step with %s (%s)", m->info.name,
                          open->source, m->info.peer);
        }
}

static void
in_recv_done(void *request, ucs_status_t status, size_t length, void *user_data)
{
        struct mirror_in *m = user_data;

        ucp_request_free(request);
        m->recv_req = NULL;
        m->link.sends--;
        if (status == UCS_OK && length == m->nbytes) {
                m->received = true;
        } else {
                m->link.failed = true;
        }
}

/* Start fetching the current DATA's bytes into their place. Returns false
 * while a stream slot is not free. */
static bool
in_receive(struct mirror_in *m)
{
        struct tshmd_peers *p = m->peers;
        ucp_request_param_t param = {.op_attr_mask =
                                         UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
                                     .cb.recv_am = in_recv_done,
                                     .user_data = m};
        ucs_status_ptr_t r;
        int rv;

        if (m->stream && !m->loaned) {
                rv = tshm_stream_loan(m->seg, 0, &m->dest);
                if (rv == TSHM_ETIMEDOUT) {
                        return false;
                }
                if (rv < 0) {
                        in_down(m, rv == TSHM_ENOENT ? "the copy was unlinked here"
                                                     : "cannot loan a slot of the copy");
                        return true;
                }
                m->loaned = true;
        } else if (!m->stream) {
                m->dest = m->staging;
        }
        m->receiving = true;
        if (m->nbytes == 0) {
                m->received = true;
        } else if (!m->cur->rndv) {
                memcpy(m->dest, m->cur->data, m->nbytes);
                ucp_am_data_release(p->worker, m->cur->data);
                m->cur->data = NULL;
                m->received = true;
        } else {
                void *desc = m->cur->data;
                m->cur->data = NULL; /* the receive consumes the descriptor */
                m->link.sends++;
                r = ucp_am_recv_data_nbx(p->worker, desc, m->dest, m->nbytes, &param);
                if (UCS_PTR_IS_ERR(r)) {
                        m->link.sends--;
                        m->link.failed = true;
                } else if (r == NULL) {
                        m->link.sends--;
                        m->received = true;
                } else {
                        m->recv_req = r;
                }
        }
        return true;
}

/* The current version or frame is here and COMMIT said what it is: publish
 * it or drop it, and acknowledge. */
static void
in_finish(struct mirror_in *m)
{
        struct tshmd_peers *p = m->peers;
        struct tshm__peer_msg ack = {.am = TSHM_PEER_ACK, .seq = m->cur->msg.seq};
        uint64_t publish_ns = m->cur->msg.publish_ns, missed = m->cur->msg.missed, now;
        bool published = false;

        p->worked_ns = p->now_ns;
        if (!m->whole) {
                /* Torn on the way out of the source: nothing of it shows. */
        } else if (m->stream) {
                published = tshm_stream_publish(m->seg) > 0;
                m->loaned = false;
        } else if (tshm_write_begin(m->seg, 0) == 0) {
                /* Not waited for: only the copy's owner could hold it, and
                 * one peer thread serves every mirror (dropped, counted). */
                memcpy(tshm_seg_data(m->seg), m->staging, m->nbytes);
                published = tshm_write_end(m->seg) > 0;
        }
        if (m->loaned) {
                (void)tshm_stream_discard(m->seg);
                m->loaned = false;
        }
        now = in_realtime_ns();
        pthread_mutex_lock(&p->lock);
        if (published) {
                m->info.sent++;
        } else {
                m->info.dropped++;
        }
        m->info.dropped += missed;
        m->info.seq = ack.seq;
        m->info.lag_ns = now > publish_ns ? now - publish_ns : 0;
        pthread_mutex_unlock(&p->lock);
        in_drop_current(m);
        (void)in_reply(m, &ack);
}

/* Take the next event to handle: the oldest, except that a DATA waits while
 * another is being received, and what queued behind it does not (the
 * COMMIT of the current one, sent once UCX had read it, may come after the
 * next DATA: the sender has several frames in flight). */
static struct peer_event *
in_next_event(struct mirror_in *m)
{
        struct peer_event *prev = NULL, *ev;

        for (ev = m->link.head; ev != NULL; prev = ev, ev = ev->next) {
                if (ev->msg.am == TSHM_PEER_DATA && m->cur != NULL) {
                        continue;
                }
                peer_link_unlink(&m->link, prev, ev);
                return ev;
        }
        return NULL;
}

/* Handle queued messages (in_next_event() says in which order). */
static bool
in_events(struct mirror_in *m)
{
        struct peer_event *ev;
        bool busy = false;

        while (m->has_link && (ev = in_next_event(m)) != NULL) {
                const struct tshm__peer_msg *msg = &ev->msg;

                busy = true;
                if (msg->am == TSHM_PEER_PING) {
                        peer_event_free(m->peers, ev);
                        continue;
                }
                if (msg->am == TSHM_PEER_HELLO && m->state == IN_HELLO) {
                        in_hello(m, msg);
                } else if (msg->am == TSHM_PEER_OPEN && m->state == IN_OPEN) {
                        in_open(m, msg);
                } else if (msg->am == TSHM_PEER_DATA && m->state == IN_LIVE &&
                           ev->length == m->nbytes) {
                        m->peers->worked_ns = m->peers->now_ns;
                        m->cur = ev;
                        /* Known whole by the sender: no COMMIT follows. */
                        m->committed = m->whole = msg->whole;
                        continue; /* kept: its payload is fetched below */
                } else if (msg->am == TSHM_PEER_COMMIT && m->state == IN_LIVE && m->cur != NULL &&
                           !m->committed && msg->seq == m->cur->msg.seq) {
                        m->committed = true;
                        m->whole = msg->whole;
                } else {
                        tshmd_log(LOG_WARNING,
                                  "peer: %s broke the protocol (message %u); "
                                  "dropping it",
                                  m->info.peer, msg->am);
                        peer_event_free(m->peers, ev);
                        in_down(m, "the sender broke the protocol");
                        return true;
                }
                peer_event_free(m->peers, ev);
        }
        return busy;
}

bool
mirror_in_poll(struct mirror_in *m)
{
        struct tshmd_peers *p = m->peers;
        bool busy = false;

        if (m->conn_req != NULL) {
                busy = true;
                if (in_ep_create(m) < 0) {
                        return true;
                }
        }
        if (!m->has_link) {
                /* A stale copy: forget it once it is gone here. */
                if (m->seg != NULL && in_unlinked(m)) {
                        in_forget_copy(m);
                }
                return busy;
        }
        if (m->link.failed) {
                in_down(m, "the link failed (the sender or the network is down)");
                return true;
        }
        busy |= in_events(m);
        if (!m->has_link) {
                return true;
        }
        if (m->cur != NULL && !m->receiving) {
                busy |= in_receive(m);
                if (!m->has_link) {
                        return true; /* in_down said why */
                }
        }
        if (m->cur != NULL && m->received && m->committed) {
                in_finish(m);
                busy = true;
        }
        if (m->state != IN_LIVE && p->now_ns > m->deadline_ns) {
                in_down(m, "no handshake in time");
                return true;
        }
        if (m->state == IN_LIVE && p->now_ns - m->link.heard_ns > PEER_DEAD_NS) {
                in_down(m, "no word from the sender");
                return true;
        }
        /* The copy unlinked here: drop the link; the sender connects again
         * and the copy is made anew. Checked once a second. */
        if (m->state == IN_LIVE && p->now_ns - m->checked_ns > PEER_PING_NS) {
                m->checked_ns = p->now_ns;
                if (in_unlinked(m)) {
                        in_down(m, "the copy was unlinked here");
                        in_forget_copy(m);
                        return true;
                }
        }
        if (m->state == IN_LIVE && p->now_ns - m->link.pinged_ns > PEER_PING_NS) {
                struct tshm__peer_msg ping = {.am = TSHM_PEER_PING};
                (void)in_reply(m, &ping);
        }
        return busy;
}

static void
in_sent(struct peer_link *link, const struct peer_send *s, bool ok)
{
        (void)s;
        if (!ok) {
                link->failed = true;
        }
}

bool
mirror_in_done(const struct mirror_in *m)
{
        return !m->has_link && m->conn_req == NULL && m->info.name[0] == '\0' &&
               m->link.sends == 0 && m->recv_req == NULL;
}

bool
mirror_in_backpressured(const struct tshmd_peers *p)
{
        for (const struct mirror_in *m = p->ins; m != NULL; m = m->next) {
                if (m->has_link && m->cur != NULL && !m->receiving) {
                        return true;
                }
        }
        return false;
}

void
mirror_in_free(struct mirror_in *m)
{
        struct tshmd_peers *p = m->peers;

        if (m->conn_req != NULL && p->listener != NULL) {
                (void)ucp_listener_reject(p->listener, m->conn_req);
        }
        if (m->has_link || m->link.ep != NULL) {
                in_down(m, "stopping");
        }
        for (int i = 0; i < 10000 && m->link.sends > 0; i++) {
                ucp_worker_progress(p->worker);
        }
        if (m->link.sends > 0) {
                /* A receive still writes into the copy and calls back into
                 * @m: keep both rather than free them under it. */
                tshmd_log(LOG_WARNING, "peer: the copy '%s' left a receive behind", m->info.name);
                return;
        }
        in_drop_current(m);
        if (m->seg != NULL) {
                (void)tshm_close(m->seg);
        }
        free(m->staging);
        free(m);
}
