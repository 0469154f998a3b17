/*
 * mirror_out.c - the sending side of a mirror: open the source through the
 * peer thread's client (checking, each time, that the mirror's requester
 * may still read it), connect and authenticate to the peer, open the copy,
 * then send each new version (an array: the newest whole one, one at a
 * time) or frame (a stream: in order, up to PEER_STREAM_WINDOW in flight),
 * straight from the segment's memory. A version is sent from where the
 * source's writers write it; whether it stayed whole while UCX read it is
 * known only when the send completes (the seqlock's retry), so COMMIT
 * follows with the verdict and the receiver publishes only a whole one.
 */
#include <errno.h>
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
realtime_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void out_sent(struct peer_link *link, const struct peer_send *s, bool ok);
static bool out_send_from_waiter(struct mirror_out *m);
static int out_send_version(struct mirror_out *m);

struct mirror_out *
mirror_out_new(struct tshmd_peers *p, const struct peer_cfg *cfg)
{
        struct mirror_out *m = calloc(1, sizeof(*m));

        if (m == NULL) {
                return NULL;
        }
        m->peers = p;
        m->cfg = *cfg;
        m->link.out = m;
        m->link.on_sent = out_sent;
        m->backoff_ns = PEER_RETRY_MIN_NS;
        m->state = OUT_IDLE;
        snprintf(m->info.name, sizeof(m->info.name), "%s", cfg->name);
        snprintf(m->info.remote, sizeof(m->info.remote), "%s", cfg->remote);
        snprintf(m->info.peer, sizeof(m->info.peer), "%s", cfg->peer);
        m->info.state = TSHM_MIRROR_CONNECTING;
        return m;
}

/* The waiter: rings the peer thread on each new version of the source. */
static void *
out_waiter(void *arg)
{
        struct mirror_out *m = arg;
        uint64_t seen = tshm_seg_seq(m->seg);

        while (!m->waiter_quit) {
                int64_t r = tshm_wait(m->seg, seen, 200);

                if (r == TSHM_ETIMEDOUT) {
                        continue;
                }
                if (r > 0 && out_send_from_waiter(m)) {
                        seen = (uint64_t)r;
                        continue;
                }
                peer_ring(m->peers);
                if (r > 0) {
                        seen = (uint64_t)r;
                } else {
                        /* Unlinked or torn: the loop finds out; do not spin. */
                        usleep(100000);
                }
        }
        return NULL;
}

static void
out_waiter_stop(struct mirror_out *m)
{
        if (m->waiting) {
                m->waiter_quit = 1;
                pthread_join(m->waiter, NULL);
                m->waiting = false;
        }
}

/* Close the source (the waiter first: it waits on it). */
static void
out_source_close(struct mirror_out *m)
{
        out_waiter_stop(m);
        if (m->memh != NULL) {
                (void)ucp_mem_unmap(m->peers->ctx, m->memh);
                m->memh = NULL;
        }
        if (m->sub != NULL) {
                (void)tshm_sub_close(m->sub);
                m->sub = NULL;
        } else if (m->seg != NULL) {
                (void)tshm_close(m->seg);
        }
        m->seg = NULL;
        m->nframes = 0;
        m->inflight = false;
        free(m->small);
        m->small = NULL;
}

/* Whether the requester may read a segment described by @info (the rule of
 * tshmd_peer_may(), on the credentials saved with the mirror). */
static bool
out_may_read(const struct peer_cfg *c, const tshm_info *info)
{
        unsigned bits;
        bool in_group = c->gid == info->owner_gid;

        for (uint32_t g = 0; g < c->ngroups; g++) {
                in_group |= c->groups[g] == info->owner_gid;
        }
        if (c->uid == 0) {
                return true;
        }
        if (c->uid == info->owner_uid) {
                bits = (info->mode >> 6) & 7u;
        } else if (in_group) {
                bits = (info->mode >> 3) & 7u;
        } else {
                bits = info->mode & 7u;
        }
        return (bits & 4u) != 0;
}

/* Register the source array's memory, so UCX moves it from where it lies
 * (a stream's slots are registered by UCX as they are sent). */
static void
out_source_register(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;

        if (!m->stream && m->nbytes > 0) {
                ucp_mem_map_params_t mp = {.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
                                                         UCP_MEM_MAP_PARAM_FIELD_LENGTH,
                                           .address = tshm_seg_data(m->seg),
                                           .length = m->nbytes};
                if (ucp_mem_map(p->ctx, &mp, &m->memh) != UCS_OK) {
                        m->memh = NULL;
                }
        }
}

/* Open the source; 0, or a negative code with the state set. */
static int
out_source_open(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        tshm_client *c;
        tshm_info info;
        int rv;

        if ((rv = peer_stat(p, m->cfg.name, &info)) < 0) {
                peer_set_state(p, &m->info, TSHM_MIRROR_STALE, "the source: %s", tshm_strerror(rv));
                return rv;
        }
        c = p->client;
        if (!out_may_read(&m->cfg, &info)) {
                peer_set_state(p, &m->info, TSHM_MIRROR_STALE,
                               "uid %u, who asked for this mirror, may no longer read '%s'",
                               m->cfg.uid, m->cfg.name);
                return TSHM_EACCES;
        }
        if (info.kind == TSHM_KIND_GROUP) {
                peer_set_state(p, &m->info, TSHM_MIRROR_FAILED, "tensor groups are not mirrored");
                m->state = OUT_FAILED;
                return TSHM_ENOTSUP;
        }
        m->stream = info.kind == TSHM_KIND_STREAM;
        if (m->stream) {
                tshm_stream_info si;
                tshm_sub_opts o = {.start = TSHM_SUB_NEXT};

                if ((rv = tshm_stream_stat(c, m->cfg.name, &si)) == 0) {
                        m->block = si.policy == TSHM_STREAM_BLOCK;
                        o.depth =
                            si.slots - 1 < PEER_STREAM_WINDOW ? si.slots - 1 : PEER_STREAM_WINDOW;
                        /* No more in flight than the subscription may
                         * hold (a 3-slot stream: 2). */
                        m->window = o.depth;
                        rv = tshm_sub_open_opts(c, m->cfg.name, &o, &m->sub);
                }
                if (rv == 0) {
                        m->seg = tshm_sub_seg(m->sub);
                }
        } else {
                rv = tshm_open(c, m->cfg.name, TSHM_OPEN_RDONLY, &m->seg);
        }
        if (rv < 0) {
                peer_set_state(p, &m->info, TSHM_MIRROR_STALE, "opening the source: %s",
                               tshm_strerror(rv));
                return rv;
        }
        m->nbytes = tshm_seg_nbytes(m->seg);
        /* Another segment, maybe, under the name: its versions are counted
         * from 0 again. */
        m->acked_seq = m->sent_seq = 0;
        if (m->nbytes > 0 && m->nbytes <= PEER_SMALL_MAX && m->small == NULL) {
                m->small = malloc(m->nbytes * (m->stream ? PEER_STREAM_WINDOW : 1u));
        }
        pthread_mutex_lock(&p->lock);
        m->info.stream = m->stream;
        pthread_mutex_unlock(&p->lock);
        out_source_register(m);
        m->waiter_quit = 0;
        if (pthread_create(&m->waiter, NULL, out_waiter, m) == 0) {
                m->waiting = true;
        }
        return 0;
}

/* The link is down: close it, let go of the source's frames, retry later. */
static void
out_down(struct mirror_out *m, const char *why)
{
        struct tshmd_peers *p = m->peers;

        if (m->state == OUT_LIVE) {
                tshmd_log(LOG_WARNING, "peer: the mirror of '%s' to %s is down: %s", m->cfg.name,
                          m->cfg.peer, why);
        }
        peer_link_close(p, &m->link);
        /* A stream's subscription would hold a block-policy producer back
         * while nothing is sent: drop it (frames published meanwhile are
         * not sent; the copy says it is stale). */
        if (m->stream) {
                out_source_close(m);
        }
        m->inflight = false;
        m->nframes = 0;
        if (m->state != OUT_FAILED) {
                m->state = OUT_IDLE;
                peer_set_state(p, &m->info, TSHM_MIRROR_STALE, "%s", why);
        }
        m->next_try_ns = p->now_ns + m->backoff_ns;
        m->backoff_ns =
            m->backoff_ns * 2 > PEER_RETRY_MAX_NS ? PEER_RETRY_MAX_NS : m->backoff_ns * 2;
}

static int
out_connect(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        struct tshm__peer_msg hello = {.am = TSHM_PEER_HELLO, .version = TSHM_PEER_VERSION};
        char host[TSHM_PEER_MAX + 1], port[8];
        ucp_ep_params_t ep = {0};
        struct addrinfo *ai = NULL;
        ucs_status_t st;
        int rv;

        if (m->seg == NULL && (rv = out_source_open(m)) < 0) {
                return rv;
        }
        if (peer_addr_split(m->cfg.peer, host, sizeof(host), port, sizeof(port)) < 0 ||
            getaddrinfo(host, port, &hints, &ai) != 0) {
                peer_set_state(p, &m->info, TSHM_MIRROR_STALE, "cannot resolve %s", m->cfg.peer);
                return TSHM_EINVAL;
        }
        ep.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR;
        ep.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
        ep.sockaddr.addr = ai->ai_addr;
        ep.sockaddr.addrlen = ai->ai_addrlen;
        peer_ep_params(&m->link, &ep);
        st = ucp_ep_create(p->worker, &ep, &m->link.ep);
        freeaddrinfo(ai);
        if (st != UCS_OK) {
                m->link.ep = NULL;
                peer_set_state(p, &m->info, TSHM_MIRROR_STALE, "connecting to %s: %s", m->cfg.peer,
                               ucs_status_string(st));
                return TSHM_EIO;
        }
        m->link.failed = false;
        m->link.heard_ns = p->now_ns;
        if (peer_nonce(m->nonce) < 0) {
                return TSHM_EIO;
        }
        memcpy(hello.nonce, m->nonce, sizeof(hello.nonce));
        if ((rv = peer_send(p, &m->link, &hello, NULL, 0, NULL)) < 0) {
                return rv;
        }
        m->state = OUT_HELLO;
        m->deadline_ns = p->now_ns + PEER_HANDSHAKE_NS;
        peer_set_state(p, &m->info, TSHM_MIRROR_CONNECTING, NULL);
        return 0;
}

/* CHALLENGE: check the receiver knows the secret, then prove we do and ask
 * for the copy. */
static void
out_challenge(struct mirror_out *m, const struct tshm__peer_msg *ch)
{
        struct tshmd_peers *p = m->peers;
        struct tshm__peer_msg open = {.am = TSHM_PEER_OPEN};
        tshm_info info;

        if (ch->version != TSHM_PEER_VERSION) {
                out_down(m, "the peer speaks another version of the peer protocol");
                return;
        }
        if (!peer_mac_ok(p, "tshm-peer-1 receiver", m->nonce, ch->nonce, ch->mac)) {
                tshmd_log(LOG_WARNING, "peer: %s failed authentication (another secret?)",
                          m->cfg.peer);
                out_down(m, "the peer does not know our secret");
                return;
        }
        peer_mac(p, "tshm-peer-1 sender", ch->nonce, m->nonce, open.mac);
        snprintf(open.name, sizeof(open.name), "%s", m->cfg.remote);
        snprintf(open.source, sizeof(open.source), "%.54s/%.200s", p->hostname, m->cfg.name);
        for (char *s = open.source; *s != '\0'; s++) {
                if (*s <= ' ' || *s > '~') {
                        *s = '?';
                }
        }
        open.dtype = tshm_seg_dtype(m->seg);
        open.ndim = (uint32_t)tshm_seg_ndim(m->seg);
        memcpy(open.shape, tshm_seg_shape(m->seg), open.ndim * sizeof(uint64_t));
        open.nbytes = m->nbytes;
        /* The copy gets the source's read bits: known, never guessed. */
        if (peer_stat(p, m->cfg.name, &info) < 0) {
                out_down(m, "cannot stat the source");
                return;
        }
        open.mode = info.mode & 0777u;
        if (m->stream) {
                tshm_stream_info si;
                if (tshm_stream_stat(p->client, m->cfg.name, &si) < 0) {
                        out_down(m, "the source stream is gone");
                        return;
                }
                open.slots = si.slots;
                open.policy = si.policy;
        }
        if (peer_send(p, &m->link, &open, NULL, 0, NULL) < 0) {
                out_down(m, "the link failed");
                return;
        }
        m->state = OUT_OPEN;
}

static void
out_opened(struct mirror_out *m, const struct tshm__peer_msg *op)
{
        struct tshmd_peers *p = m->peers;

        if (op->status < 0) {
                tshmd_log(LOG_WARNING, "peer: %s refused the copy of '%s': %s", m->cfg.peer,
                          m->cfg.name, op->error);
                /* Retried, slowly: the cause (a name taken there, a budget)
                 * may be fixed there meanwhile. */
                m->backoff_ns = PEER_RETRY_MAX_NS;
                out_down(m, op->error[0] != '\0' ? op->error : tshm_strerror(op->status));
                return;
        }
        m->state = OUT_LIVE;
        m->acked_seq = 0;
        m->sent_seq = 0;
        m->backoff_ns = PEER_RETRY_MIN_NS;
        pthread_mutex_lock(&p->lock);
        m->info.reconnects += m->ever_live;
        pthread_mutex_unlock(&p->lock);
        m->ever_live = true;
        peer_set_state(p, &m->info, TSHM_MIRROR_LIVE, NULL);
        tshmd_log(LOG_INFO, "peer: '%s' is mirrored to %s as '%s'", m->cfg.name, m->cfg.peer,
                  m->cfg.remote);
}

static void
out_ack(struct mirror_out *m, const struct tshm__peer_msg *ack)
{
        struct tshmd_peers *p = m->peers;
        bool delivered;

        p->worked_ns = p->now_ns;
        if (!m->stream) {
                if (!m->inflight || ack->seq != m->inflight_seq) {
                        out_down(m, "the peer acknowledged a version not sent");
                        return;
                }
                m->inflight = false;
                m->acked_seq = ack->seq;
                delivered = !m->inflight_torn;
        } else {
                if (m->nframes == 0 || ack->seq != m->frames[0].seq) {
                        out_down(m, "the peer acknowledged a frame not sent");
                        return;
                }
                /* The receiver has every byte: UCX is done with the slot
                 * even if its completion has not run yet. */
                if (!m->frame_sent[0]) {
                        (void)tshm_sub_release_frame(m->sub, ack->seq);
                }
                delivered = !m->frame_torn[0];
                memmove(&m->frames[0], &m->frames[1], (m->nframes - 1) * sizeof(m->frames[0]));
                memmove(&m->frame_sent[0], &m->frame_sent[1],
                        (m->nframes - 1) * sizeof(m->frame_sent[0]));
                memmove(&m->frame_torn[0], &m->frame_torn[1],
                        (m->nframes - 1) * sizeof(m->frame_torn[0]));
                m->nframes--;
        }
        pthread_mutex_lock(&p->lock);
        m->info.seq = ack->seq;
        m->info.sent += delivered;
        pthread_mutex_unlock(&p->lock);
}

static void
out_event(struct mirror_out *m, const struct peer_event *ev)
{
        const struct tshm__peer_msg *msg = &ev->msg;

        if (msg->am == TSHM_PEER_PING) {
                return;
        }
        if (msg->am == TSHM_PEER_CHALLENGE && m->state == OUT_HELLO) {
                out_challenge(m, msg);
        } else if (msg->am == TSHM_PEER_OPENED && m->state == OUT_OPEN) {
                out_opened(m, msg);
        } else if (msg->am == TSHM_PEER_ACK && m->state == OUT_LIVE) {
                out_ack(m, msg);
        } else {
                out_down(m, "the peer broke the protocol");
        }
}

/* Send the newest version of an array, if it is newer than what the peer
 * has and nothing is in flight. */
static bool
out_pump_array(struct mirror_out *m)
{
        int rv;

        if (m->inflight) {
                return false;
        }
        /* Unlinked: made again under its name, maybe; open that one. */
        if (tshm_wait(m->seg, tshm_seg_seq(m->seg), 0) == TSHM_ENOENT) {
                out_source_close(m);
                out_down(m, "the source was unlinked");
                m->backoff_ns = PEER_RETRY_MIN_NS;
                return true;
        }
        if (tshm_seg_seq(m->seg) == m->acked_seq) {
                return false;
        }
        if ((rv = out_send_version(m)) < 0) {
                out_down(m, "the link failed");
        }
        return rv != 0;
}

/* From the waiter, on a new version of a small array: send it here and
 * now rather than ring the peer thread to, which saves a hand-off between
 * two threads on the way (tens of microseconds on a small virtual machine:
 * docs/performance.md). Only while the peer thread sleeps: the lock is
 * tried, never waited for, so the peer thread may hold it while it joins
 * this thread. Returns whether the version went out whole (else the
 * caller rings the peer thread, which then does what is left). */
static bool
out_send_from_waiter(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        bool sent = false;
        unsigned sends;
        int rv;

        if (m->stream || m->small == NULL || pthread_mutex_trylock(&p->work) != 0) {
                return false;
        }
        if (!p->quit && !m->waiter_quit && m->state == OUT_LIVE && m->link.ep != NULL &&
            !m->link.failed && !m->inflight && tshm_seg_seq(m->seg) != m->acked_seq) {
                p->now_ns = peer_now_ns();
                sends = m->link.sends;
                rv = out_send_version(m);
                if (rv < 0) {
                        m->link.failed = true; /* the peer thread takes it down */
                }
                /* Not completed at once: the peer thread progresses it. */
                sent = rv == 1 && m->link.sends == sends;
        }
        pthread_mutex_unlock(&p->work);
        return sent;
}

/* Copy out (or point at) the array's newest version and send it. Returns
 * 1 when sent, 0 when there is nothing to send yet, or a negative error
 * code when the link failed. */
static int
out_send_version(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        struct tshm__peer_msg data = {.am = TSHM_PEER_DATA};
        int64_t seq;
        int rv;

        /* A writer is mid-version: its publish rings the waiter. */
        if ((seq = tshm_read_begin(m->seg, 0)) < 0 || (uint64_t)seq == m->acked_seq) {
                return 0;
        }
        /* A small version is copied out whole (a few tries while writers
         * race us), then sent from the copy: no COMMIT needed. */
        for (int tries = 0; m->small != NULL && tries < 4 && !data.whole; tries++) {
                memcpy(m->small, tshm_seg_data(m->seg), m->nbytes);
                data.whole = tshm_read_retry(m->seg, (uint64_t)seq) == 0;
                if (!data.whole && (seq = tshm_read_begin(m->seg, 0)) < 0) {
                        return 0;
                }
        }
        data.seq = (uint64_t)seq;
        data.publish_ns = tshm_seg_publish_ns(m->seg);
        if (m->sent_seq != 0 && data.seq > m->sent_seq + 2) {
                pthread_mutex_lock(&p->lock);
                m->info.dropped += (data.seq - m->sent_seq) / 2 - 1;
                pthread_mutex_unlock(&p->lock);
        }
        p->worked_ns = p->now_ns;
        m->inflight = true;
        m->inflight_torn = false;
        m->inflight_seq = data.seq;
        m->sent_seq = data.seq;
        rv = data.whole ? peer_send(p, &m->link, &data, m->small, m->nbytes, NULL)
                        : peer_send(p, &m->link, &data, tshm_seg_data(m->seg), m->nbytes, m->memh);
        return rv < 0 ? rv : 1;
}

/* Send the stream's next frames, up to the window. */
static bool
out_pump_stream(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        bool busy = false;

        while (m->state == OUT_LIVE && m->nframes < m->window) {
                struct tshm__peer_msg data = {.am = TSHM_PEER_DATA};
                tshm_frame fr;
                const void *src;
                int rv = tshm_sub_take(m->sub, 0, &fr);

                if (rv == TSHM_ETIMEDOUT) {
                        break;
                }
                if (rv < 0) {
                        out_source_close(m);
                        out_down(m, rv == TSHM_ENOENT ? "the source was unlinked"
                                                      : "the source subscription failed");
                        return true;
                }
                busy = true;
                p->worked_ns = p->now_ns;
                m->frames[m->nframes] = fr;
                m->frame_sent[m->nframes] = false;
                m->frame_torn[m->nframes] = false;
                m->nframes++;
                if (fr.missed > 0) {
                        pthread_mutex_lock(&p->lock);
                        m->info.dropped += fr.missed;
                        pthread_mutex_unlock(&p->lock);
                }
                data.seq = fr.seq;
                data.publish_ns = fr.timestamp_ns;
                data.missed = fr.missed;
                src = fr.data;
                if (m->small != NULL) {
                        /* Copied out and released at once: known whole,
                         * or overwritten meanwhile (not sent). */
                        uint8_t *copy = m->small + (size_t)m->small_next * m->nbytes;
                        memcpy(copy, fr.data, m->nbytes);
                        src = copy;
                        if (tshm_sub_release_frame(m->sub, fr.seq) < 0) {
                                m->nframes--;
                                pthread_mutex_lock(&p->lock);
                                m->info.dropped++;
                                pthread_mutex_unlock(&p->lock);
                                continue;
                        }
                        m->small_next = (m->small_next + 1) % PEER_STREAM_WINDOW;
                        m->frame_sent[m->nframes - 1] = true;
                        data.whole = true;
                }
                /* Under the block policy a frame we hold is never written
                 * over: known whole without a COMMIT, so the receiver can
                 * publish it and fetch the next at once. */
                data.whole |= m->block;
                if (peer_send(p, &m->link, &data, src, m->nbytes, NULL) < 0) {
                        out_down(m, "the link failed");
                        return true;
                }
        }
        return busy;
}

/* A send of @m completed (or failed: @ok false): a DATA is followed by
 * its COMMIT. */
static void
out_sent(struct peer_link *link, const struct peer_send *s, bool ok)
{
        struct mirror_out *m = link->out;
        struct tshmd_peers *p = m->peers;
        struct tshm__peer_msg commit = {.am = TSHM_PEER_COMMIT, .seq = s->seq};

        if (!ok) {
                m->link.failed = true;
                return;
        }
        /* The source closed meanwhile (the link going down): nothing to
         * release or commit. */
        if (s->am != TSHM_PEER_DATA || m->link.ep == NULL || m->state != OUT_LIVE ||
            m->seg == NULL) {
                return;
        }
        if (m->stream) {
                unsigned i;
                for (i = 0; i < m->nframes && m->frames[i].seq != s->seq; i++) {
                }
                /* Acknowledged already (the receiver's ACK may overtake
                 * UCX's own completion), or released at once (small). */
                if (i == m->nframes || m->frame_sent[i]) {
                        return;
                }
                /* Sent from the slot: let go of it now that UCX has read
                 * it. Overwritten meanwhile (overwrite policy): not whole. */
                commit.whole = tshm_sub_release_frame(m->sub, s->seq) == 0;
                m->frame_sent[i] = true;
                m->frame_torn[i] = !s->whole && !commit.whole;
        } else if (!s->whole) {
                commit.whole = tshm_read_retry(m->seg, s->seq) == 0;
                m->inflight_torn = !commit.whole;
        }
        if (s->whole) {
                return;
        }
        if (!commit.whole) {
                pthread_mutex_lock(&p->lock);
                m->info.dropped++;
                pthread_mutex_unlock(&p->lock);
        }
        if (peer_send(p, &m->link, &commit, NULL, 0, NULL) < 0) {
                m->link.failed = true;
        }
}

static void
out_update_lag(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        uint64_t lag = 0, now = realtime_ns(), since = 0;

        if (m->state == OUT_LIVE && m->seg != NULL) {
                if (!m->stream && tshm_seg_seq(m->seg) != m->acked_seq) {
                        since = tshm_seg_publish_ns(m->seg);
                } else if (m->stream && m->nframes > 0) {
                        since = m->frames[0].timestamp_ns;
                }
        }
        if (since != 0 && now > since) {
                lag = now - since;
        }
        pthread_mutex_lock(&p->lock);
        m->info.lag_ns = lag;
        pthread_mutex_unlock(&p->lock);
}

/* The requester's right to read the source, checked again once a second
 * while live (an owner may chmod it away under a live mirror): the stat is
 * a round trip to this daemon, off the data path. Returns false, the
 * mirror taken down, when it is gone or cannot be checked (it fails
 * closed; the next connect checks again). */
static bool
out_still_readable(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        tshm_info info;
        int rv;

        if (p->now_ns - m->checked_ns <= PEER_PING_NS) {
                return true;
        }
        m->checked_ns = p->now_ns;
        if ((rv = peer_stat(p, m->cfg.name, &info)) < 0 || !out_may_read(&m->cfg, &info)) {
                out_source_close(m);
                out_down(m, rv < 0 ? "cannot check that the requester may still read the source"
                                   : "the requester may no longer read the source");
                return false;
        }
        return true;
}

bool
mirror_out_poll(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;
        struct peer_event *ev;
        bool busy = false;

        if (m->stop) {
                if (m->link.ep != NULL) {
                        peer_link_close(p, &m->link);
                }
                return false;
        }
        if (m->link.failed && m->link.ep != NULL) {
                out_down(m, "the link failed (the peer or the network is down)");
                return true;
        }
        while (m->link.ep != NULL && (ev = peer_link_pop(&m->link)) != NULL) {
                busy = true;
                out_event(m, ev);
                peer_event_free(p, ev);
        }
        switch (m->state) {
        case OUT_IDLE:
                if (p->now_ns >= m->next_try_ns) {
                        busy = true;
                        if (out_connect(m) < 0) {
                                if (m->link.ep != NULL) {
                                        peer_link_close(p, &m->link);
                                }
                                if (m->state != OUT_FAILED) {
                                        m->state = OUT_IDLE;
                                }
                                m->next_try_ns = p->now_ns + m->backoff_ns;
                                m->backoff_ns = m->backoff_ns * 2 > PEER_RETRY_MAX_NS
                                                    ? PEER_RETRY_MAX_NS
                                                    : m->backoff_ns * 2;
                        }
                }
                break;
        case OUT_HELLO:
        case OUT_OPEN:
                if (p->now_ns > m->deadline_ns) {
                        out_down(m, "no answer from the peer");
                        busy = true;
                }
                break;
        case OUT_LIVE:
                if (!out_still_readable(m)) {
                        return true;
                }
                busy |= m->stream ? out_pump_stream(m) : out_pump_array(m);
                if (m->state == OUT_LIVE && p->now_ns - m->link.heard_ns > PEER_DEAD_NS) {
                        out_down(m, "no word from the peer");
                        busy = true;
                } else if (m->state == OUT_LIVE && p->now_ns - m->link.pinged_ns > PEER_PING_NS) {
                        struct tshm__peer_msg ping = {.am = TSHM_PEER_PING};
                        (void)peer_send(p, &m->link, &ping, NULL, 0, NULL);
                }
                break;
        case OUT_FAILED:
                break;
        }
        out_update_lag(m);
        return busy;
}

void
mirror_out_free(struct mirror_out *m)
{
        struct tshmd_peers *p = m->peers;

        peer_link_close(p, &m->link);
        for (int i = 0; i < 10000 && m->link.sends > 0; i++) {
                ucp_worker_progress(p->worker);
        }
        if (m->link.sends > 0) {
                /* UCX still holds a send that reads the source and calls
                 * back into @m: keep both rather than free them under it. */
                tshmd_log(LOG_WARNING, "peer: the mirror of '%s' left a send behind", m->cfg.name);
                return;
        }
        out_source_close(m);
        free(m);
}
