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

bool
tshmd_seg_is_group(const struct tshmd_seg *seg)
{
        return (seg->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_GROUP;
}

bool
tshmd_seg_unpublished(const struct tshmd_seg *seg)
{
        return seg->state == TSHMD_SEG_UNPUBLISHED;
}

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

/* Copy the table of contents out of the object behind @fd and validate it
 * against the data area the registry says @seg has. Returns 0 with the
 * tensor count and the table's size, or TSHM_EBADHDR / TSHM_ENOMEM with
 * the reason in @why. */
static int
group_check_toc(const struct tshmd_seg *seg, int fd, uint32_t *ret_tensors, uint64_t *ret_toc,
                const char **why)
{
        uint8_t head[TSHM_TOC_HEAD];
        uint8_t *toc = NULL;
        uint32_t *order = NULL;
        uint64_t toc_bytes, copy_bytes;
        struct stat st;
        int rv;

        *why = "the segment was resized";
        if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != seg->size) {
                return TSHM_EBADHDR;
        }
        *why = "table of contents cut short";
        if ((rv = group_pread(fd, head, sizeof(head), TSHM_HDR_DATA_OFFSET)) < 0 ||
            (rv = tshm__toc_size(head, seg->nbytes, &toc_bytes, why)) < 0) {
                return rv;
        }
        if ((toc = tshm__malloc(toc_bytes)) == NULL) {
                *why = "no memory for the table of contents";
                rv = TSHM_ENOMEM;
                goto out;
        }
        *why = "table of contents cut short";
        if ((rv = group_pread(fd, toc, toc_bytes, TSHM_HDR_DATA_OFFSET)) < 0) {
                goto out;
        }
        /* The order array is for the copy the validator reads, sized by
         * the copy's count: the creator may have rewritten the head since
         * the read above (the copy's count is checked here, the rest, its
         * size against the @toc_bytes read, by the validator). */
        if ((rv = tshm__toc_size(toc, seg->nbytes, &copy_bytes, why)) < 0) {
                goto out;
        }
        order = tshm__malloc(((uint64_t)tshm__toc_head(toc)->count + 1) * sizeof(*order));
        if (order == NULL) {
                *why = "no memory for the table of contents";
                rv = TSHM_ENOMEM;
                goto out;
        }
        if ((rv = tshm__toc_validate(toc, toc_bytes, seg->nbytes, order, why)) < 0) {
                goto out;
        }
        *ret_tensors = tshm__toc_head(toc)->count;
        *ret_toc = toc_bytes;
out:
        tshm__free(order);
        tshm__free(toc);
        return rv;
}

int
tshmd_ops_publish(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                  struct tshmd_reply *rep)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshmd_handle *h = tshmd_session_handle_find(ses, req->handle);
        struct tshmd_seg *seg;
        struct tshm__hdr hdr;
        uint64_t toc_bytes = 0;
        uint32_t tensors = 0;
        const char *why = "";
        int fd, rv;

        if (h == NULL) {
                return tshmd_reply_fail(rep, TSHM_EBADF, "no open handle %llu on this connection",
                                        (unsigned long long)req->handle);
        }
        seg = h->seg;
        if (!tshmd_seg_is_group(seg) || !tshmd_seg_unpublished(seg) || !h->writable) {
                return tshmd_reply_fail(rep, TSHM_EINVAL, "'%s' is not an unpublished group",
                                        seg->name);
        }
        tshmd_seg_objname(srv, seg, objname, sizeof(objname));
        if ((fd = tshmd_shm_open_rw(&srv->shm, objname)) < 0) {
                return tshmd_reply_fail(rep, fd, "the object of '%s' cannot be opened: %s",
                                        seg->name, tshm__strerror(fd));
        }
        rv = group_check_toc(seg, fd, &tensors, &toc_bytes, &why);
        (void)close(fd);
        if (rv < 0) {
                tshmd_log(LOG_NOTICE, "publish of '%s' for pid %d uid %u refused: %s", seg->name,
                          (int)ses->peer.pid, (unsigned)ses->peer.uid, why);
                return tshmd_reply_fail(rep, rv, "'%s': %s", seg->name, why);
        }
        seg->group_tensors = tensors;
        seg->group_toc_bytes = toc_bytes;
        seg->flags &= ~TSHM_HDR_FLAG_UNPUBLISHED;
        tshmd_seal_header_of(seg, srv->seal_key, &hdr);
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
                  seg->name, tensors, (unsigned long long)seg->nbytes, (int)ses->peer.pid,
                  (unsigned)ses->peer.uid);
        rep->kind = TSHMD_REPLY_EMPTY;
        return 0;
}
