/*
 * ops_stream.c - the attach handler: hand a stream's subscriber table (or
 * its roster) to one of its handles, subscribing it if asked. The tables
 * themselves are stream.c's.
 */
#include <errno.h>
#include <stdint.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

/* Subscribe @h; its entry's index in *ret_index. */
static int
ops_stream_subscribe(struct tshmd_server *srv, struct tshmd_session *ses, struct tshmd_handle *h,
                     struct tshmd_reply *rep, uint64_t *ret_index)
{
        struct tshmd_seg *seg = h->seg;
        int rv;

        if ((rv = tshmd_stream_join(srv, ses->peer.pid, seg)) < 0) {
                return tshmd_reply_fail(rep, rv, "'%s' has %u subscribers, the most a stream may",
                                        seg->name, TSHM_STREAM_MAX_SUBS);
        }
        h->sub = (uint32_t)rv + 1;
        *ret_index = (uint64_t)rv;
        tshmd_log(LOG_INFO, "'%s': pid %d uid %u subscribed (entry %d)", seg->name,
                  (int)ses->peer.pid, (unsigned)ses->peer.uid, rv);
        return 0;
}

/* No reply, no subscription: the client never learns its entry. */
static void
ops_stream_undo_subscribe(const struct tshmd_undo *u)
{
        struct tshmd_handle *h = tshmd_session_handle_find(u->ses, u->handle);

        if (h != NULL) {
                tshmd_stream_leave(h);
        }
}

int
tshmd_ops_attach(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                 struct tshmd_reply *rep)
{
        struct tshmd_handle *h = tshmd_session_handle_find(ses, req->handle);
        uint64_t index = UINT32_MAX;
        struct tshmd_seg *seg;
        int fd, rv;

        if (h == NULL) {
                return tshmd_reply_fail(rep, TSHM_EBADF, "no open handle %llu on this connection",
                                        (unsigned long long)req->handle);
        }
        seg = h->seg;
        if (!tshmd_stream_is(seg)) {
                return tshmd_reply_fail(rep, TSHM_EINVAL, "'%s' is an array, not a stream",
                                        seg->name);
        }
        if (req->roster && req->subscribe) {
                return tshmd_reply_fail(rep, TSHM_EINVAL, "attach: roster and subscribe together");
        }
        if (req->subscribe && h->sub != 0) {
                return tshmd_reply_fail(rep, TSHM_EINVAL, "handle %llu already subscribes to '%s'",
                                        (unsigned long long)req->handle, seg->name);
        }
        if ((rv = tshmd_stream_table(seg)) < 0) {
                return tshmd_reply_fail(rep, rv, "cannot make the subscriber table of '%s': %s",
                                        seg->name, tshm__strerror(rv));
        }
        if (req->subscribe && (rv = ops_stream_subscribe(srv, ses, h, rep, &index)) < 0) {
                return rv;
        }
        fd = dup(req->roster ? seg->ros_fd : seg->cur_fd);
        if (fd < 0) {
                rv = -errno;
                tshmd_stream_leave(h);
                return tshmd_reply_fail(rep, rv, "%s", tshm__strerror(rv));
        }
        rep->kind = TSHMD_REPLY_ATTACH;
        rep->u.attach.entry = index;
        rep->u.attach.size = req->roster ? TSHM_ROS_SIZE : TSHM_CUR_SIZE;
        rep->fd = fd;
        if (req->subscribe) {
                rep->undo = (struct tshmd_undo){
                    .fn = ops_stream_undo_subscribe, .srv = srv, .ses = ses, .handle = h->id};
        }
        return 0;
}
