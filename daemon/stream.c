/*
 * stream.c - the daemon's part in streams: the subscriber table.
 *
 * A stream's frames and slot table live in its shm object, which only
 * writers may change. Subscribers must move their cursors, and a subscriber
 * may hold a read-only grant, so the cursors live apart: in a memfd per
 * stream that tshmd makes on the first attach and hands read-write to every
 * producer and subscriber of the stream (op attach). The daemon alone
 * allocates and frees subscriber entries: one per subscribing handle, freed
 * when the handle closes, which happens when the client closes it or its
 * connection drops (a subscriber killed with -9), so a dead subscriber stops
 * holding the producer back.
 *
 * What a subscriber can do to the shared table (see docs/security.md): move
 * any cursor, and so stall a block-policy producer until its loan times out
 * or make another subscriber skip frames. It cannot change a frame.
 *
 * The table is not persistent: after a daemon restart, streams are adopted
 * without subscribers; their old subscribers must subscribe again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#include "sync.h"

static bool
stream_is(const struct tshmd_seg *seg)
{
        return (seg->flags & TSHM_HDR_KIND_MASK) == TSHM_HDR_KIND_STREAM;
}

/* Make @seg's subscriber table if it has none. Returns 0 or -errno. */
static int
stream_table(struct tshmd_seg *seg)
{
        struct tshm__cur *cur;
        int fd;

        if (seg->cur != NULL) {
                return 0;
        }
        fd = memfd_create("tshm-cursors", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0) {
                return -errno;
        }
        /* Sealed at its size: every subscriber holds it writable, and one
         * that could shrink it would hand SIGBUS to all the others. */
        if (ftruncate(fd, TSHM_CUR_SIZE) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
                int rv = -errno;
                (void)close(fd);
                return rv;
        }
        cur = mmap(NULL, TSHM_CUR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (cur == MAP_FAILED) {
                int rv = -errno;
                (void)close(fd);
                return rv;
        }
        memcpy(cur->magic, TSHM_CUR_MAGIC, sizeof(cur->magic));
        cur->max_subs = TSHM_STREAM_MAX_SUBS;
        seg->cur_fd = fd;
        seg->cur = cur;
        return 0;
}

/* Wake a producer that waits for a slot: the table changed. */
static void
stream_kick(struct tshm__cur *cur)
{
        (void)__atomic_add_fetch(&cur->release, 1, __ATOMIC_SEQ_CST);
        tshm__futex_wake(&cur->release);
}

/* Under hdrmap.c's guard: the header's seq, into *@arg. */
static int
stream_load_seq(struct tshm__hdr *hdr, void *arg)
{
        *(uint64_t *)arg = __atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST);
        return 0;
}

/* The frames published on @seg so far (the header's seq / 2), or 0 if its
 * object is gone or cut: a writer may truncate it under tshmd, so the page
 * is read under a guard. */
static uint64_t
stream_frames(struct tshmd_server *srv, const struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        uint64_t seq = 0;

        if (seg->state != TSHMD_SEG_READY) {
                return 0;
        }
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        if (tshmd_hdrmap_run(objname, stream_load_seq, &seq) < 0) {
                return 0;
        }
        return seq / 2u;
}

/* Take a free subscriber entry for @c, starting at the next frame. Returns
 * its index, or TSHM_ELIMIT. */
static int
stream_join(struct tshmd_server *srv, struct tshmd_conn *c, struct tshmd_seg *seg)
{
        struct tshm__cur *cur = seg->cur;
        uint32_t i;

        for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                struct tshm__cur_sub *s = &cur->subs[i];

                if (__atomic_load_n(&s->active, __ATOMIC_SEQ_CST) != 0) {
                        continue;
                }
                /* The cursor is set before the entry turns active, so a
                 * producer never sees an active entry with a stale cursor. A
                 * frame published between the read of the count and here is
                 * one this subscriber does not get: it joined after it. */
                __atomic_store_n(&s->cursor, stream_frames(srv, seg) + 1, __ATOMIC_SEQ_CST);
                __atomic_store_n(&s->missed, 0, __ATOMIC_SEQ_CST);
                __atomic_store_n(&s->pid, (uint32_t)c->pid, __ATOMIC_SEQ_CST);
                __atomic_store_n(&s->active, 1, __ATOMIC_SEQ_CST);
                (void)__atomic_add_fetch(&cur->gen, 1, __ATOMIC_SEQ_CST);
                seg->subscribers++;
                return (int)i;
        }
        return TSHM_ELIMIT;
}

void
tshmd_stream_attach(struct tshmd_conn *c, const struct tshm__req *req)
{
        struct tshmd_handle *h = NULL;
        struct tshm__reply_enc e;
        struct tshmd_seg *seg;
        uint64_t index = UINT32_MAX;
        int fd, rv;

        HASH_FIND(hh, c->handles, &req->handle, sizeof(req->handle), h);
        if (h == NULL) {
                tshmd_ops_fail(c, req->id, TSHM_EBADF, "no open handle %llu on this connection",
                               (unsigned long long)req->handle);
                return;
        }
        seg = h->seg;
        if (!stream_is(seg)) {
                tshmd_ops_fail(c, req->id, TSHM_EINVAL, "'%s' is an array, not a stream",
                               seg->name);
                return;
        }
        if (req->subscribe && h->sub != 0) {
                tshmd_ops_fail(c, req->id, TSHM_EINVAL, "handle %llu already subscribes to '%s'",
                               (unsigned long long)req->handle, seg->name);
                return;
        }
        if ((rv = stream_table(seg)) < 0) {
                tshmd_ops_fail(c, req->id, rv, "cannot make the subscriber table of '%s': %s",
                               seg->name, tshm_strerror(rv));
                return;
        }
        if (req->subscribe) {
                if ((rv = stream_join(c->srv, c, seg)) < 0) {
                        tshmd_ops_fail(c, req->id, rv, "'%s' has %u subscribers, the most a stream may",
                                       seg->name, TSHM_STREAM_MAX_SUBS);
                        return;
                }
                h->sub = (uint32_t)rv + 1;
                index = (uint64_t)rv;
                tshmd_log(LOG_INFO, "'%s': pid %d uid %u subscribed (entry %d)", seg->name,
                          (int)c->pid, (unsigned)c->uid, rv);
        }
        fd = dup(seg->cur_fd);
        if (fd < 0) {
                rv = -errno;
                tshmd_stream_leave(h);
                tshmd_ops_fail(c, req->id, rv, "%s", tshm_strerror(rv));
                return;
        }
        tshm__reply_enc_init(&e);
        tshmd_ops_send(c, &e, tshm__reply_fd(&e, req->id, index, TSHM_CUR_SIZE), req->id, fd);
}

void
tshmd_stream_leave(struct tshmd_handle *h)
{
        struct tshmd_seg *seg = h->seg;
        struct tshm__cur_sub *s;

        if (h->sub == 0 || seg->cur == NULL) {
                return;
        }
        s = &seg->cur->subs[h->sub - 1];
        __atomic_store_n(&s->active, 0, __ATOMIC_SEQ_CST);
        (void)__atomic_add_fetch(&seg->cur->gen, 1, __ATOMIC_SEQ_CST);
        stream_kick(seg->cur);
        seg->subscribers--;
        h->sub = 0;
}

void
tshmd_stream_info(struct tshmd_server *srv, const struct tshmd_seg *seg, tshm_stream_info *ret_info)
{
        memset(ret_info, 0, sizeof(*ret_info));
        ret_info->slots = seg->slots;
        ret_info->policy = seg->policy;
        ret_info->subscribers = seg->subscribers;
        ret_info->frames = stream_frames(srv, seg);
}

void
tshmd_stream_free(struct tshmd_seg *seg)
{
        if (seg->cur != NULL) {
                (void)munmap(seg->cur, TSHM_CUR_SIZE);
                seg->cur = NULL;
        }
        if (seg->cur_fd >= 0) {
                (void)close(seg->cur_fd);
                seg->cur_fd = -1;
        }
}
