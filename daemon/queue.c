/*
 * queue.c - a connection's output queue, and what queued output costs:
 * counted as allocated (buffers, queue entries and malloc's own overhead),
 * per connection, per uid and in all, against the TSHMD_QUEUE_* limits.
 */
#include <malloc.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

/* What malloc spends on an allocation besides its usable size (glibc's
 * chunk header). */
#define QUEUE_MALLOC_OVERHEAD (2 * sizeof(size_t))
/* A reply buffer with more slack than this is cut to its length: the
 * encoder's buffer grows by doubling (from 256 bytes, reply.c), so a long
 * reply may leave up to half of it unused, and a queue of them would cost
 * twice what it holds. */
#define QUEUE_SLACK_MAX 256

/* What the allocation @p costs. */
static size_t
queue_cost(void *p)
{
        return p != NULL ? malloc_usable_size(p) + QUEUE_MALLOC_OVERHEAD : 0;
}

static void
queue_add(struct tshmd_conn *c, size_t n)
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
queue_sub(struct tshmd_conn *c, size_t n)
{
        c->queued -= n;
        if (c->uidq != NULL) {
                c->uidq->queued -= n;
        }
        c->srv->queued -= n;
}

void
tshmd_queue_charge(struct tshmd_conn *c, void *p)
{
        queue_add(c, queue_cost(p));
}

void
tshmd_queue_uncharge(struct tshmd_conn *c, void *p)
{
        queue_sub(c, queue_cost(p));
}

static void
queue_out_free(struct tshmd_conn *c, struct tshmd_out *o)
{
        if (o->fd >= 0) {
                (void)close(o->fd);
        }
        queue_sub(c, queue_cost(o->buf) + queue_cost(o));
        tshm__free(o->buf);
        tshm__free(o);
}

int
tshmd_queue_push(struct tshmd_conn *c, uint8_t *buf, size_t len, int fd)
{
        struct tshmd_out *o;

        o = tshm__malloc(sizeof(*o));
        if (o == NULL) {
                tshm__free(buf);
                if (fd >= 0) {
                        (void)close(fd);
                }
                return TSHM_ENOMEM;
        }
        if (malloc_usable_size(buf) > len + QUEUE_SLACK_MAX) {
                uint8_t *nb = tshm__realloc(buf, len);
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
        queue_add(c, queue_cost(buf) + queue_cost(o));
        return 0;
}

void
tshmd_queue_pop(struct tshmd_conn *c)
{
        struct tshmd_out *o = c->out_head;

        c->out_head = o->next;
        if (c->out_head == NULL) {
                c->out_tail = NULL;
        }
        queue_out_free(c, o);
}

bool
tshmd_queue_may_handle(struct tshmd_conn *c)
{
        size_t own = c->throttled ? TSHMD_QUEUE_LOW : TSHMD_QUEUE_MAX_CONN;

        /* Always when nothing is queued for it (so a client that reads its
         * replies is served whatever the others do), else only while it,
         * its uid and the daemon as a whole are under their limits. A
         * connection that hit a limit waits until its own queue is below
         * the low-water mark, so that it does not flap on every reply. */
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
                          (unsigned long long)c->serial, (int)c->ses.peer.pid,
                          (unsigned)c->ses.peer.uid, c->queued,
                          c->uidq != NULL ? c->uidq->queued : 0, c->srv->queued);
        }
        return false;
}

/* Add @q to the server's table; TSHM_ENOMEM if the table cannot grow. */
/* NOLINTBEGIN(readability-function-size): HASH_ADD expands to ~200 statements. */
static int
queue_uidq_add(struct tshmd_server *srv, struct tshmd_uidq *q)
{
        tshmd_hash_oom = 0;
        HASH_ADD(hh, srv->uidqs, uid, sizeof(q->uid), q);
        return tshmd_hash_oom ? TSHM_ENOMEM : 0;
}
/* NOLINTEND(readability-function-size) */

int
tshmd_queue_join(struct tshmd_server *srv, struct tshmd_conn *c, uid_t uid)
{
        struct tshmd_uidq *q = NULL;
        uint32_t key = (uint32_t)uid;

        HASH_FIND(hh, srv->uidqs, &key, sizeof(key), q);
        if (q == NULL) {
                if ((q = tshm__calloc(1, sizeof(*q))) == NULL) {
                        return TSHM_ENOMEM;
                }
                q->uid = key;
                if (queue_uidq_add(srv, q) < 0) {
                        tshm__free(q);
                        return TSHM_ENOMEM;
                }
        }
        q->conns++;
        c->uidq = q;
        return 0;
}

void
tshmd_queue_leave(struct tshmd_conn *c)
{
        if (c->uidq != NULL && --c->uidq->conns == 0) {
                HASH_DEL(c->srv->uidqs, c->uidq);
                tshm__free(c->uidq);
        }
        c->uidq = NULL;
}

void
tshmd_queue_drop(struct tshmd_conn *c)
{
        while (c->out_head != NULL) {
                tshmd_queue_pop(c);
        }
        tshmd_queue_leave(c);
        /* glibc keeps freed memory for reuse; a queue that grew large (or
         * the last client leaving) is a good moment to return it. */
        if (c->queued_peak >= TSHMD_QUEUE_LOW || c->srv->nconns == 0) {
                (void)malloc_trim(0);
        }
}
