/*
 * peer_link.c - what both sides of a mirror do with their endpoint: send a
 * message (its header encoded and kept until UCX is done with it), queue
 * and take what arrived, close; and the small helpers of the peer thread
 * (its clock, its client of this daemon, state changes under the lock,
 * parsing HOST:PORT). It calls no mirror code: a send's completion goes to
 * the link's on_sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "peer_int.h"
#include "tshmd.h"

uint64_t
peer_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
peer_set_state(struct tshmd_peers *p, tshm_mirror_info *info, uint32_t state, const char *fmt, ...)
{
        va_list ap;

        pthread_mutex_lock(&p->lock);
        info->state = state;
        if (fmt == NULL) {
                info->error[0] = '\0';
        } else {
                va_start(ap, fmt);
                vsnprintf(info->error, sizeof(info->error), fmt, ap);
                va_end(ap);
        }
        pthread_mutex_unlock(&p->lock);
}

void
peer_ring(struct tshmd_peers *p)
{
        uint64_t one = 1;

        /* Only EAGAIN can fail it (the counter full: it rings already). */
        if (write(p->wake_fd, &one, sizeof(one)) < 0) {
                return;
        }
}

void
peer_drain(struct tshmd_peers *p)
{
        uint64_t v;

        if (read(p->wake_fd, &v, sizeof(v)) < 0) {
                return; /* nothing to take: EAGAIN */
        }
}

FILE *
peer_state_begin(struct tshmd_peers *p, const char *name, char *tmp, size_t tmplen)
{
        FILE *f;
        int fd;

        snprintf(tmp, tmplen, "%s.tmp", name);
        fd = openat(p->state_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                return NULL;
        }
        if ((f = fdopen(fd, "w")) == NULL) {
                int e = errno;
                (void)close(fd);
                errno = e;
        }
        return f;
}

int
peer_state_commit(struct tshmd_peers *p, FILE *f, const char *tmp, const char *name)
{
        int rv = 0;

        if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
                rv = -errno;
        }
        if (fclose(f) != 0 && rv == 0) {
                rv = -errno;
        }
        if (rv == 0 && renameat(p->state_fd, tmp, p->state_fd, name) < 0) {
                rv = -errno;
        }
        return rv;
}

tshm_client *
peer_client(struct tshmd_peers *p)
{
        if (p->client == NULL && tshm_connect(p->socket_path, &p->client) < 0) {
                p->client = NULL;
        }
        return p->client;
}

int
peer_stat(struct tshmd_peers *p, const char *name, tshm_info *info)
{
        tshm_client *c = peer_client(p);
        int rv;

        if (c == NULL) {
                return TSHM_ENODAEMON;
        }
        if ((rv = tshm_stat(c, name, info)) == TSHM_ECONNRESET) {
                tshm_disconnect(p->client); /* the next call connects again */
                p->client = NULL;
        }
        return rv;
}

int
peer_addr_split(const char *addr, char *host, size_t hostlen, char *port, size_t portlen)
{
        const char *colon, *h = addr;
        size_t hl;
        char *end;
        unsigned long pn;

        if (addr[0] == '[') {
                const char *close = strchr(addr, ']');
                if (close == NULL || close[1] != ':') {
                        return TSHM_EINVAL;
                }
                h = addr + 1;
                hl = (size_t)(close - h);
                colon = close + 1;
        } else {
                colon = strrchr(addr, ':');
                if (colon == NULL) {
                        return TSHM_EINVAL;
                }
                hl = (size_t)(colon - addr);
        }
        if (hl == 0 || hl >= hostlen || strlen(colon + 1) >= portlen || colon[1] == '\0') {
                return TSHM_EINVAL;
        }
        errno = 0;
        pn = strtoul(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || pn == 0 || pn > 65535) {
                return TSHM_EINVAL;
        }
        memcpy(host, h, hl);
        host[hl] = '\0';
        snprintf(port, portlen, "%lu", pn);
        return 0;
}

/* Sends */

static void
peer_send_done(void *request, ucs_status_t status, void *user_data)
{
        struct peer_send *s = user_data;

        if (request != NULL) {
                ucp_request_free(request);
        }
        s->link->sends--;
        s->link->on_sent(s->link, s, status == UCS_OK);
        free(s);
}

int
peer_send(struct tshmd_peers *p, struct peer_link *link, const struct tshm__peer_msg *m,
          const void *data, size_t len, ucp_mem_h memh)
{
        ucp_request_param_t param = {0};
        struct peer_send *s;
        msgpack_sbuffer sb;
        ucs_status_ptr_t r;
        int rv;

        if (link->ep == NULL || link->failed) {
                return TSHM_ECONNRESET;
        }
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
                return TSHM_ENOMEM;
        }
        msgpack_sbuffer_init(&sb);
        rv = tshm__peer_encode(m, &sb);
        if (rv == 0 && sb.size > sizeof(s->header)) {
                rv = TSHM_ETOOBIG;
        }
        if (rv < 0) {
                msgpack_sbuffer_destroy(&sb);
                free(s);
                return rv;
        }
        memcpy(s->header, sb.data, sb.size);
        s->header_len = sb.size;
        msgpack_sbuffer_destroy(&sb);
        s->link = link;
        s->am = m->am;
        s->seq = m->seq;
        s->whole = m->am == TSHM_PEER_DATA && m->whole;
        param.op_attr_mask =
            UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
        param.cb.send = peer_send_done;
        param.user_data = s;
        /* Every message names its endpoint to the other side's callback. */
        param.flags = UCP_AM_SEND_FLAG_REPLY;
        if (memh != NULL) {
                param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
                param.memh = memh;
        }
        link->sends++;
        link->pinged_ns = p->now_ns;
        r = ucp_am_send_nbx(link->ep, m->am, s->header, s->header_len, data, len, &param);
        if (UCS_PTR_IS_ERR(r)) {
                link->sends--;
                link->failed = true;
                free(s);
                return TSHM_ECONNRESET;
        }
        if (r == NULL) {
                peer_send_done(NULL, UCS_OK, s);
        }
        return 0;
}

/* Receives */

void
peer_link_unlink(struct peer_link *link, struct peer_event *prev, struct peer_event *ev)
{
        if (prev != NULL) {
                prev->next = ev->next;
        } else {
                link->head = ev->next;
        }
        if (link->tail == ev) {
                link->tail = prev;
        }
        ev->next = NULL;
        link->queued--;
}

struct peer_event *
peer_link_pop(struct peer_link *link)
{
        struct peer_event *ev = link->head;

        if (ev != NULL) {
                peer_link_unlink(link, NULL, ev);
        }
        return ev;
}

void
peer_event_free(struct tshmd_peers *p, struct peer_event *ev)
{
        if (ev == NULL) {
                return;
        }
        if (ev->data != NULL) {
                ucp_am_data_release(p->worker, ev->data);
        }
        free(ev);
}

static void
peer_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
        struct peer_link *link = arg;

        (void)ep;
        (void)status;
        link->failed = true;
}

void
peer_link_close(struct tshmd_peers *p, struct peer_link *link)
{
        ucp_request_param_t param = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                     .flags = UCP_EP_CLOSE_FLAG_FORCE};
        struct peer_event *ev;
        ucs_status_ptr_t r;

        while ((ev = peer_link_pop(link)) != NULL) {
                peer_event_free(p, ev);
        }
        if (link->ep != NULL) {
                r = ucp_ep_close_nbx(link->ep, &param);
                if (r != NULL && !UCS_PTR_IS_ERR(r)) {
                        /* A forced close completes at once or soon; the
                         * sends' callbacks run with an error meanwhile. */
                        while (ucp_request_check_status(r) == UCS_INPROGRESS) {
                                ucp_worker_progress(p->worker);
                        }
                        ucp_request_free(r);
                }
                link->ep = NULL;
        }
        link->failed = false;
}

/* The error handler and mode every endpoint gets. */
void
peer_ep_params(struct peer_link *link, ucp_ep_params_t *ep)
{
        ep->field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
        ep->err_mode = UCP_ERR_HANDLING_MODE_PEER;
        ep->err_handler.cb = peer_ep_error;
        ep->err_handler.arg = link;
}
