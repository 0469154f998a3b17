/*
 * ops_group.c - publish: a tensor group's creator hands it over, complete.
 *
 * A group is made unpublished (create with the group flag, create.c): its
 * name is taken but only its creator's handle sees it, and the session
 * removes it if the creator leaves first. Publish validates the table of
 * contents the creator wrote (proto/group.c), records what it found in the
 * sealed header (so that a restarted daemon reports it without reading the
 * table again), and makes the group READY: open, stat and list see it from
 * the next request on, whole.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#include "group.h"

/* Read exactly @len bytes at @off of @fd: pread, not a mapping, because the
 * creator may truncate the object meanwhile (a short read is then an error,
 * never a SIGBUS). */
static int
group_pread(int fd, void *buf, uint64_t len, uint64_t off)
{
        uint64_t done = 0;
        ssize_t n;

        while (done < len) {
                n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
                if (n <= 0) {
                        return TSHM_EBADHDR;
                }
                done += (uint64_t)n;
        }
        return 0;
}

/* A publish: the table of contents is read and validated on the loop when
 * it is small, else in the thread pool, because a table of many tensors
 * (up to TSHM_TOC_MAX bytes, and a sort of its names) would stall every
 * other client meanwhile. One such check runs at a time, the others wait in
 * the server's queue: the pool's few threads also make large segments and
 * restore resized ones (guard.c), which no user's publishes may hold up,
 * and tshmd holds at most one table's copy. The segment is held by a
 * reference from the request to the reply; the work reads only what is
 * copied here. */
struct tshmd_publish {
        uv_work_t work;
        struct tshmd_publish *next; /* in the server's queue */
        struct tshmd_server *srv;
        struct tshmd_session *ses;
        struct tshmd_seg *seg;
        uint64_t id;
        int fd;             /* the object, read-write (closed by the work's end) */
        uint64_t size;      /* what the registry says of it */
        uint64_t data_size; /* bytes of its data area */
        uint64_t toc_bytes; /* results */
        uint32_t tensors;
        int rv;
        const char *why;
};

/* Tables up to this size are validated on the loop: a copy and a sort of a
 * few thousand names take well under a millisecond. */
#define PUBLISH_INLINE_MAX ((uint64_t)1 << 20)

/* Copy the table of contents out of the object and validate it against
 * the data area (pw->toc_bytes is its size, from the head). Sets pw->rv
 * (0, TSHM_EBADHDR or TSHM_ENOMEM), pw->why and pw->tensors. */
static void
publish_check(struct tshmd_publish *pw)
{
        uint8_t *toc = NULL;
        uint32_t *order = NULL;
        struct stat st;

        pw->why = "the segment was resized";
        pw->rv = TSHM_EBADHDR;
        if (fstat(pw->fd, &st) < 0 || (uint64_t)st.st_size != pw->size) {
                return;
        }
        toc = tshm__malloc(pw->toc_bytes);
        order = tshm__malloc((pw->toc_bytes / TSHM_TOC_ENTRY + 1) * sizeof(*order));
        if (toc == NULL || order == NULL) {
                pw->why = "no memory for the table of contents";
                pw->rv = TSHM_ENOMEM;
                goto out;
        }
        pw->why = "table of contents cut short";
        if ((pw->rv = group_pread(pw->fd, toc, pw->toc_bytes, TSHM_HDR_DATA_OFFSET)) < 0 ||
            (pw->rv = tshm__toc_validate(toc, pw->toc_bytes, pw->data_size, order, &pw->why)) < 0) {
                goto out;
        }
        pw->tensors = tshm__toc_head(toc)->count;
out:
        tshm__free(order);
        tshm__free(toc);
}

static void
publish_run(uv_work_t *w)
{
        publish_check(w->data);
}

/* Make @seg visible, as the validated table says. */
static int
publish_commit(struct tshmd_server *srv, struct tshmd_session *ses, struct tshmd_seg *seg,
               const struct tshmd_publish *pw, struct tshmd_reply *rep)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshm__hdr hdr;
        int rv;

        seg->group_tensors = pw->tensors;
        seg->group_toc_bytes = pw->toc_bytes;
        seg->flags &= ~TSHM_HDR_FLAG_UNPUBLISHED;
        tshmd_seal_header_of(seg, srv->seal_key, &hdr);
        tshmd_seg_objname(srv, seg, objname, sizeof(objname));
        if ((rv = tshmd_shm_write_header(&srv->shm, objname, &hdr)) < 0) {
                seg->flags |= TSHM_HDR_FLAG_UNPUBLISHED;
                seg->group_tensors = 0;
                seg->group_toc_bytes = 0;
                return tshmd_reply_fail(rep, rv, "cannot write the header of '%s': %s", seg->name,
                                        tshm__strerror(rv));
        }
        seg->state = TSHMD_SEG_READY;
        /* From now on it lives like any segment: with its creator only if
         * it was made ephemeral. */
        if ((seg->flags & TSHM_HDR_FLAG_EPHEMERAL) == 0) {
                tshmd_session_untrack_ephemeral(ses, seg);
        }
        tshmd_log(LOG_INFO, "published group '%s': %u tensors, %llu bytes, for pid %d uid %u",
                  seg->name, pw->tensors, (unsigned long long)seg->nbytes, (int)ses->peer.pid,
                  (unsigned)ses->peer.uid);
        rep->kind = TSHMD_REPLY_EMPTY;
        return 0;
}

/* The reply of a publish whose table was checked (on the loop or not). */
static int
publish_finish(struct tshmd_publish *pw, struct tshmd_reply *rep)
{
        struct tshmd_seg *seg = pw->seg;

        if (pw->fd >= 0) {
                (void)close(pw->fd);
        }
        if (pw->rv < 0) {
                tshmd_log(LOG_NOTICE, "publish of '%s' for pid %d uid %u refused: %s", seg->name,
                          (int)pw->ses->peer.pid, (unsigned)pw->ses->peer.uid, pw->why);
                return tshmd_reply_fail(rep, pw->rv, "'%s': %s", seg->name, pw->why);
        }
        /* Its creator's handle was closed meanwhile (a client that sent
         * close without waiting for this reply): the group is gone. */
        if (!tshmd_seg_unpublished(seg)) {
                return tshmd_reply_fail(rep, TSHM_ENOENT, "'%s' was removed before its publish",
                                        seg->name);
        }
        return publish_commit(pw->srv, pw->ses, seg, pw, rep);
}

static void publish_done(uv_work_t *w, int status);

/* Open the object of a queued publish when its turn comes: a publish holds
 * no descriptor while it waits, so that nobody can pile up descriptors in
 * tshmd by queueing publishes. Its group may have gone meanwhile (its
 * creator closed it or left): then the name may be another segment's. */
static int
publish_reopen(struct tshmd_server *srv, struct tshmd_publish *pw)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];

        if (!tshmd_seg_unpublished(pw->seg)) {
                pw->why = "the group was removed before its publish";
                return TSHM_ENOENT;
        }
        tshmd_seg_objname(srv, pw->seg, objname, sizeof(objname));
        if ((pw->fd = tshmd_shm_open_rw(&srv->shm, objname)) < 0) {
                pw->why = "its object cannot be opened";
                return pw->fd;
        }
        return 0;
}

/* Start the next waiting publish, if none runs. A failure to queue it is
 * its reply (TSHM_ENOMEM), and the next one is tried. */
static void
publish_next(struct tshmd_server *srv)
{
        struct tshmd_publish *pw;

        while (srv->publish_running == NULL && (pw = srv->publish_head) != NULL) {
                srv->publish_head = pw->next;
                if (srv->publish_head == NULL) {
                        srv->publish_tail = NULL;
                }
                srv->publish_running = pw;
                if ((pw->rv = publish_reopen(srv, pw)) < 0 ||
                    uv_queue_work(srv->loop, &pw->work, publish_run, publish_done) < 0) {
                        if (pw->rv == 0) {
                                pw->rv = TSHM_ENOMEM;
                                pw->why = "cannot queue the publish";
                        }
                        publish_done(&pw->work, 0);
                }
        }
}

static void
publish_done(uv_work_t *w, int status)
{
        struct tshmd_publish *pw = w->data;
        struct tshmd_server *srv;
        struct tshmd_reply rep;
        int rv;

        (void)status; /* work is never cancelled */
        tshmd_reply_init(&rep, pw->id);
        if (pw->ses->gone) {
                /* Nobody gets the reply, and the session's end removed the
                 * group (it was tracked): nothing to publish. */
                if (pw->fd >= 0) {
                        (void)close(pw->fd);
                }
                rv = TSHM_ECONNRESET;
        } else {
                rv = publish_finish(pw, &rep);
        }
        pw->seg->publishing = false;
        tshmd_registry_unref(&pw->srv->reg, pw->seg);
        tshmd_session_complete(pw->ses, rv, &rep);
        srv = pw->srv;
        if (srv->publish_running == pw) {
                srv->publish_running = NULL;
        }
        tshm__free(pw);
        publish_next(srv);
}

/* Open the object of @seg and read the head of its table: the size of the
 * table in pw->toc_bytes, or an error reply. */
static int
publish_open(struct tshmd_server *srv, struct tshmd_publish *pw, struct tshmd_reply *rep)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        uint8_t head[TSHM_TOC_HEAD];
        const char *why = "table of contents cut short";
        int rv;

        tshmd_seg_objname(srv, pw->seg, objname, sizeof(objname));
        if ((pw->fd = tshmd_shm_open_rw(&srv->shm, objname)) < 0) {
                return tshmd_reply_fail(rep, pw->fd, "the object of '%s' cannot be opened: %s",
                                        pw->seg->name, tshm__strerror(pw->fd));
        }
        if ((rv = group_pread(pw->fd, head, sizeof(head), TSHM_HDR_DATA_OFFSET)) < 0 ||
            (rv = tshm__toc_size(head, pw->data_size, &pw->toc_bytes, &why)) < 0) {
                (void)close(pw->fd);
                return tshmd_reply_fail(rep, rv, "'%s': %s", pw->seg->name, why);
        }
        return 0;
}

int
tshmd_ops_publish(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                  struct tshmd_reply *rep)
{
        struct tshmd_handle *h = tshmd_session_handle_find(ses, req->handle);
        struct tshmd_publish *pw;
        int rv;

        if (h == NULL) {
                return tshmd_reply_fail(rep, TSHM_EBADF, "no open handle %llu on this connection",
                                        (unsigned long long)req->handle);
        }
        if (!tshmd_seg_is_group(h->seg) || !tshmd_seg_unpublished(h->seg) || !h->writable ||
            h->seg->publishing) {
                return tshmd_reply_fail(rep, TSHM_EINVAL, "'%s' is not an unpublished group",
                                        h->seg->name);
        }
        if ((pw = tshm__calloc(1, sizeof(*pw))) == NULL) {
                return tshmd_reply_fail(rep, TSHM_ENOMEM, "no memory for a publish");
        }
        *pw = (struct tshmd_publish){.srv = srv,
                                     .ses = ses,
                                     .seg = h->seg,
                                     .id = req->id,
                                     .size = h->seg->size,
                                     .data_size = h->seg->nbytes};
        pw->work.data = pw;
        if ((rv = publish_open(srv, pw, rep)) < 0) {
                tshm__free(pw);
                return rv;
        }
        if (pw->toc_bytes <= PUBLISH_INLINE_MAX) {
                publish_check(pw);
                rv = publish_finish(pw, rep);
                tshm__free(pw);
                return rv;
        }
        /* One at a time per group: a second publish sent meanwhile is
         * refused above. */
        (void)close(pw->fd); /* opened again when its turn comes */
        pw->fd = -1;
        pw->seg->publishing = true;
        tshmd_registry_ref(&srv->reg, pw->seg);
        ses->pending++;
        if (srv->publish_tail != NULL) {
                srv->publish_tail->next = pw;
        } else {
                srv->publish_head = pw;
        }
        srv->publish_tail = pw;
        publish_next(srv);
        return TSHMD_PENDING;
}
