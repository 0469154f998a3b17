/*
 * peer.c - the peer thread: UCX's context, worker and listener, and the
 * loop that drives every mirror towards the table of outgoing mirrors
 * (peer_table.c), with its start and stop.
 *
 * The thread's loop: progress UCX, let each mirror advance, and when none
 * did anything, arm the worker and sleep in epoll on its descriptor and our
 * eventfd (rung by the main loop when the table changes, and by a source's
 * waiter on each new version), for at most 100 ms (1 ms while a receiver
 * waits for a stream slot: a subscriber's release wakes nobody).
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "peer_int.h"
#include "sync.h"
#include "tshmd.h"

/* The link @ep belongs to, or NULL. */
static struct peer_link *
peer_find_link(struct tshmd_peers *p, ucp_ep_h ep)
{
        for (struct mirror_out *m = p->outs; m != NULL; m = m->next) {
                if (m->link.ep == ep) {
                        return &m->link;
                }
        }
        for (struct mirror_in *m = p->ins; m != NULL; m = m->next) {
                if (m->has_link && m->link.ep == ep) {
                        return &m->link;
                }
        }
        return NULL;
}

/* The active-message callback, for every id (@arg says which): decode the
 * header and queue the message on its link. A message that does not decode,
 * or a payload on anything but DATA, fails the link (the loop closes it);
 * nothing of it is kept. */
static ucs_status_t
peer_am_recv(void *arg, const void *header, size_t header_length, void *data, size_t length,
             const ucp_am_recv_param_t *param)
{
        const struct peer_am_arg *a = arg;
        struct tshmd_peers *p = a->peers;
        struct peer_link *link;
        struct peer_event *ev;
        char err[160];

        if (!(param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ||
            (link = peer_find_link(p, param->reply_ep)) == NULL || link->failed) {
                return UCS_OK;
        }
        ev = calloc(1, sizeof(*ev));
        if (ev == NULL) {
                link->failed = true;
                return UCS_OK;
        }
        if (tshm__peer_decode(a->am, header, header_length, &ev->msg, err, sizeof(err)) < 0 ||
            (length != 0 && a->am != TSHM_PEER_DATA)) {
                tshmd_log(LOG_WARNING, "peer: %s; dropping the link",
                          length != 0 && a->am != TSHM_PEER_DATA ? "a payload where none belongs"
                                                                 : err);
                link->failed = true;
                free(ev);
                return UCS_OK;
        }
        link->heard_ns = p->now_ns;
        if (link->queued >= PEER_MAX_QUEUED) {
                tshmd_log(LOG_WARNING,
                          "peer: more than %u messages waiting from one peer (it "
                          "does not wait for acknowledgements); dropping the link",
                          PEER_MAX_QUEUED);
                link->failed = true;
                free(ev);
                return UCS_OK;
        }
        if (a->am == TSHM_PEER_DATA) {
                ev->data = data;
                ev->length = length;
                ev->rndv = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
        }
        if (link->tail != NULL) {
                link->tail->next = ev;
        } else {
                link->head = ev;
        }
        link->tail = ev;
        link->queued++;
        /* Keep the payload (a persistent eager buffer or a rendezvous
         * descriptor) until the mirror takes it. */
        return ev->data != NULL ? UCS_INPROGRESS : UCS_OK;
}

/* The listener: a peer connects. */
static void
peer_conn_request(ucp_conn_request_h req, void *arg)
{
        struct tshmd_peers *p = arg;
        struct mirror_in *m = mirror_in_accept(p, req);

        if (m == NULL) {
                (void)ucp_listener_reject(p->listener, req);
                return;
        }
        pthread_mutex_lock(&p->lock);
        m->next = p->ins;
        p->ins = m;
        pthread_mutex_unlock(&p->lock);
}

/* Whether mirror @m is the one the table entry @c asks for. */
static bool
peer_cfg_is(const struct mirror_out *m, const struct peer_cfg *c)
{
        return strcmp(m->cfg.name, c->name) == 0 && strcmp(m->cfg.peer, c->peer) == 0 &&
               strcmp(m->cfg.remote, c->remote) == 0 && m->cfg.uid == c->uid;
}

/* The thread: make the running mirrors what the table says. A mirror no
 * longer in it is stopped for good (a later entry of the same name is a new
 * mirror: its source may be another segment, with versions numbered anew). */
static void
peer_reconcile(struct tshmd_peers *p)
{
        struct mirror_out *m;

        pthread_mutex_lock(&p->lock);
        if (!p->cfg_changed) {
                pthread_mutex_unlock(&p->lock);
                return;
        }
        p->cfg_changed = false;
        for (m = p->outs; m != NULL; m = m->next) {
                size_t i;
                for (i = 0; i < p->ncfg && !peer_cfg_is(m, &p->cfg[i]); i++) {
                }
                m->stop |= i == p->ncfg;
        }
        for (size_t i = 0; i < p->ncfg; i++) {
                for (m = p->outs; m != NULL && (m->stop || !peer_cfg_is(m, &p->cfg[i]));
                     m = m->next) {
                }
                if (m == NULL && (m = mirror_out_new(p, &p->cfg[i])) != NULL) {
                        m->next = p->outs;
                        p->outs = m;
                }
        }
        pthread_mutex_unlock(&p->lock);
}

static bool
peer_poll_all(struct tshmd_peers *p)
{
        struct mirror_out **po, *mo;
        struct mirror_in **pi, *mi;
        bool busy = false;

        for (po = &p->outs; (mo = *po) != NULL;) {
                busy |= mirror_out_poll(mo);
                /* A stopped one goes once its sends are done. */
                if (mo->stop && mo->link.sends == 0 && mo->link.ep == NULL) {
                        pthread_mutex_lock(&p->lock);
                        *po = mo->next;
                        pthread_mutex_unlock(&p->lock);
                        mirror_out_free(mo);
                } else {
                        po = &mo->next;
                }
        }
        for (pi = &p->ins; (mi = *pi) != NULL;) {
                busy |= mirror_in_poll(mi);
                if (mirror_in_done(mi)) {
                        /* Found again: UCX's progress in the poll may have
                         * put a new connection at the list's head. */
                        pthread_mutex_lock(&p->lock);
                        for (pi = &p->ins; *pi != mi; pi = &(*pi)->next) {
                        }
                        *pi = mi->next;
                        pthread_mutex_unlock(&p->lock);
                        mirror_in_free(mi);
                } else {
                        pi = &mi->next;
                }
        }
        return busy;
}

static int peer_listen(struct tshmd_peers *p, const char *addr, char *err, size_t errlen);

static void *
peer_thread(void *arg)
{
        struct tshmd_peers *p = arg;
        struct epoll_event evs[4];
        int ep = epoll_create1(EPOLL_CLOEXEC);

        if (ep < 0) {
                tshmd_log(LOG_ERR, "peer: epoll_create1: %s; mirrors are off", strerror(errno));
                return NULL;
        }
        evs[0] = (struct epoll_event){.events = EPOLLIN, .data.fd = p->ucp_fd};
        evs[1] = (struct epoll_event){.events = EPOLLIN, .data.fd = p->wake_fd};
        (void)epoll_ctl(ep, EPOLL_CTL_ADD, p->ucp_fd, &evs[0]);
        (void)epoll_ctl(ep, EPOLL_CTL_ADD, p->wake_fd, &evs[1]);
        pthread_mutex_lock(&p->work);
        while (!p->quit) {
                bool busy;
                int n, timeout_ms;

                p->now_ns = peer_now_ns();
                peer_reconcile(p);
                if (p->listen_addr[0] != '\0' && p->listener == NULL &&
                    p->now_ns - p->listen_tried_ns >= PEER_RETRY_MIN_NS) {
                        char err[256];
                        p->listen_tried_ns = p->now_ns;
                        if (peer_listen(p, p->listen_addr, err, sizeof(err)) == 0) {
                                tshmd_log(LOG_INFO, "peer: listening on %s", p->listen_addr);
                        }
                }
                while (ucp_worker_progress(p->worker) != 0) {
                }
                busy = peer_poll_all(p);
                if (busy) {
                        continue;
                }
                /* --peer-poll-us: for a while after the last version or
                 * frame (not a ping: an idle mirror lets the thread sleep),
                 * look again rather than sleep. The next version
                 * (peer_poll_all reads the sources' counters), message or
                 * free slot is then seen at once, not a wake-up later; the
                 * price is a CPU kept busy meanwhile (docs/remote.md). */
                if (p->now_ns - p->worked_ns < p->poll_ns) {
                        tshm__sync_pause();
                        continue;
                }
                if (ucp_worker_arm(p->worker) == UCS_ERR_BUSY) {
                        continue;
                }
                timeout_ms = mirror_in_backpressured(p) ? 1 : 100;
                pthread_mutex_unlock(&p->work);
                n = epoll_wait(ep, evs, 4, timeout_ms);
                pthread_mutex_lock(&p->work);
                /* The ring is read only when it rang: a read that finds
                 * nothing is a system call per message for nothing. */
                for (int i = 0; i < n; i++) {
                        if (evs[i].data.fd == p->wake_fd) {
                                peer_drain(p);
                        }
                }
        }
        pthread_mutex_unlock(&p->work);
        (void)close(ep);
        return NULL;
}

/* Start-up and shut-down */

static int
peer_ucx_init(struct tshmd_peers *p, char *err, size_t errlen)
{
        ucp_params_t params = {.field_mask = UCP_PARAM_FIELD_FEATURES,
                               .features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP};
        ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                                  .thread_mode = UCS_THREAD_MODE_SERIALIZED};
        ucs_status_t st;

        /* A daemon restarted (kill -9 included) must listen on its port
         * again at once: its old connections linger in TIME_WAIT, and Linux
         * lets a new listener bind beside them only if both set
         * SO_REUSEADDR, which UCX's listener does when this says so. UCX
         * reads it from the environment when the context is made (a user's
         * own setting wins); tshmd sets it before then, and it is the
         * only thread that touches the environment. */
        (void)setenv("UCX_TCP_CM_REUSEADDR", "y", 0);
        if ((st = ucp_init(&params, NULL, &p->ctx)) != UCS_OK) {
                snprintf(err, errlen, "UCX: ucp_init: %s", ucs_status_string(st));
                return TSHM_EIO;
        }
        if ((st = ucp_worker_create(p->ctx, &wp, &p->worker)) != UCS_OK ||
            (st = ucp_worker_get_efd(p->worker, &p->ucp_fd)) != UCS_OK) {
                snprintf(err, errlen, "UCX: the worker: %s", ucs_status_string(st));
                return TSHM_EIO;
        }
        /* Every id up to PEER_AM_IDS gets our handler, unknown ones too
         * (which then drop the link): UCX 1.13 calls whatever its table
         * holds for an id below the table's size, uninitialised for an id
         * nobody registered, and a peer picks the ids it sends. */
        for (uint32_t am = 0; am < PEER_AM_IDS; am++) {
                ucp_am_handler_param_t hp = {
                    .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                                  UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
                    .id = am,
                    .flags = UCP_AM_FLAG_WHOLE_MSG | UCP_AM_FLAG_PERSISTENT_DATA,
                    .cb = peer_am_recv,
                    .arg = &p->am_args[am]};
                p->am_args[am].peers = p;
                p->am_args[am].am = am;
                if ((st = ucp_worker_set_am_recv_handler(p->worker, &hp)) != UCS_OK) {
                        snprintf(err, errlen, "UCX: set_am_recv_handler: %s",
                                 ucs_status_string(st));
                        return TSHM_EIO;
                }
        }
        return 0;
}

/* Bind the listener on p->listen_addr. Returns 0, TSHM_EINVAL (it does
 * not parse or resolve: for good) or TSHM_EIO (the port is busy, say a
 * connection of the daemon we replace in TIME_WAIT: UCX's listener does
 * not set SO_REUSEADDR; the thread tries again every second). */
static int
peer_listen(struct tshmd_peers *p, const char *addr, char *err, size_t errlen)
{
        struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                                 .ai_socktype = SOCK_STREAM};
        char host[TSHM_PEER_MAX + 1], port[8];
        ucp_listener_params_t lp = {0};
        struct addrinfo *ai = NULL;
        ucs_status_t st;
        int rv;

        if (peer_addr_split(addr, host, sizeof(host), port, sizeof(port)) < 0) {
                snprintf(err, errlen, "--peer-listen %s: not HOST:PORT", addr);
                return TSHM_EINVAL;
        }
        if ((rv = getaddrinfo(host, port, &hints, &ai)) != 0) {
                snprintf(err, errlen, "--peer-listen %s: %s", addr, gai_strerror(rv));
                return TSHM_EINVAL;
        }
        lp.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
        lp.sockaddr.addr = ai->ai_addr;
        lp.sockaddr.addrlen = ai->ai_addrlen;
        lp.conn_handler.cb = peer_conn_request;
        lp.conn_handler.arg = p;
        st = ucp_listener_create(p->worker, &lp, &p->listener);
        freeaddrinfo(ai);
        if (st != UCS_OK) {
                snprintf(err, errlen, "--peer-listen %s: %s", addr, ucs_status_string(st));
                return TSHM_EIO;
        }
        return 0;
}

/* The peers' state, before anything is started. */
static struct tshmd_peers *
peer_new(const struct tshmd_server *srv)
{
        const struct tshmd_config *cfg = srv->cfg;
        struct tshmd_peers *p = calloc(1, sizeof(*p));

        if (p == NULL) {
                return NULL;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->work, NULL);
        p->wake_fd = -1;
        p->ucp_fd = -1;
        p->state_fd = srv->state_fd;
        snprintf(p->state_file, sizeof(p->state_file), "%s.mirrors", cfg->shm_prefix);
        snprintf(p->copies_file, sizeof(p->copies_file), "%s.copies", cfg->shm_prefix);
        snprintf(p->socket_path, sizeof(p->socket_path), "%s", srv->socket_path);
        p->copy_uid = cfg->has_peer_uid ? cfg->peer_uid : (uint32_t)geteuid();
        p->poll_ns = (uint64_t)cfg->peer_poll_us * 1000u;
        if (gethostname(p->hostname, sizeof(p->hostname) - 1) < 0) {
                snprintf(p->hostname, sizeof(p->hostname), "localhost");
        }
        return p;
}

int
tshmd_peer_start(struct tshmd_server *srv)
{
        const struct tshmd_config *cfg = srv->cfg;
        struct tshmd_peers *p;
        char err[256] = "";
        int rv;

        if (cfg->peer_secret[0] == '\0') {
                if (cfg->peer_listen[0] != '\0') {
                        tshmd_log(LOG_ERR, "--peer-listen needs --peer-secret: peers must "
                                           "authenticate");
                        return TSHM_EINVAL;
                }
                return 0;
        }
        if ((p = peer_new(srv)) == NULL) {
                return TSHM_ENOMEM;
        }
        srv->peers = p;
        if ((rv = peer_secret_load(p, cfg->peer_secret, err, sizeof(err))) < 0 ||
            (rv = peer_ucx_init(p, err, sizeof(err))) < 0) {
                goto fail;
        }
        if (cfg->peer_listen[0] != '\0' &&
            (rv = peer_listen(p, cfg->peer_listen, err, sizeof(err))) < 0) {
                if (rv != TSHM_EIO) {
                        goto fail;
                }
                tshmd_log(LOG_WARNING, "peer: %s; trying again every second", err);
        }
        if ((p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
                rv = -errno;
                snprintf(err, sizeof(err), "eventfd: %s", strerror(errno));
                goto fail;
        }
        snprintf(p->listen_addr, sizeof(p->listen_addr), "%s", cfg->peer_listen);
        p->listen_tried_ns = peer_now_ns();
        peer_cfg_load(p);
        mirror_in_load_copies(p);
        p->cfg_changed = true;
        if ((rv = -pthread_create(&p->thread, NULL, peer_thread, p)) < 0) {
                snprintf(err, sizeof(err), "cannot start the peer thread: %s", strerror(-rv));
                goto fail;
        }
        p->started = true;
        if (p->listener != NULL) {
                tshmd_log(LOG_INFO, "peer: listening on %s; copies are owned by uid %u",
                          cfg->peer_listen, p->copy_uid);
        }
        return 0;
fail:
        tshmd_log(LOG_ERR, "peer: %s", err);
        tshmd_peer_stop(srv);
        return rv;
}

void
tshmd_peer_stop(struct tshmd_server *srv)
{
        struct tshmd_peers *p = srv->peers;

        if (p == NULL) {
                return;
        }
        if (p->started) {
                p->quit = 1;
                peer_ring(p);
                pthread_join(p->thread, NULL);
        }
        /* The waiters still running (their mirrors are stopped below) try
         * the worker too: it is ours now. */
        pthread_mutex_lock(&p->work);
        /* Called from the loop's thread, which will not answer our own
         * client any more: let go of it first, so that closing the sources
         * and copies below talks to nobody (libtshm allows closing a
         * client's segments after it is disconnected). */
        if (p->client != NULL) {
                tshm_disconnect(p->client);
                p->client = NULL;
        }
        /* No new connections first: the progress below would add them.
         * Those not answered yet are refused while the listener lives. */
        if (p->listener != NULL) {
                for (struct mirror_in *i = p->ins; i != NULL; i = i->next) {
                        if (i->conn_req != NULL) {
                                (void)ucp_listener_reject(p->listener, i->conn_req);
                                i->conn_req = NULL;
                        }
                }
                ucp_listener_destroy(p->listener);
                p->listener = NULL;
        }
        /* Stop every mirror, waiting for what is in flight. */
        while (p->outs != NULL) {
                struct mirror_out *o = p->outs;
                p->outs = o->next;
                mirror_out_free(o);
        }
        while (p->ins != NULL) {
                struct mirror_in *i = p->ins;
                p->ins = i->next;
                mirror_in_free(i);
        }
        if (p->worker != NULL) {
                ucp_worker_destroy(p->worker);
        }
        pthread_mutex_unlock(&p->work);
        if (p->ctx != NULL) {
                ucp_cleanup(p->ctx);
        }
        if (p->wake_fd >= 0) {
                (void)close(p->wake_fd);
        }
        free(p->cfg);
        free(p->copies);
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->work);
        explicit_bzero(p->secret, sizeof(p->secret));
        free(p);
        srv->peers = NULL;
}
