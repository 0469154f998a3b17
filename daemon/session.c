/*
 * session.c - what one client holds in the daemon, apart from its socket:
 * its credentials (the kernel's word at connect), its open handles, the
 * ephemeral segments it made, and the operations still running for it in
 * the thread pool. conn.c embeds a session in each connection; a unit test
 * makes one with a forged peer and no socket.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tshmd.h"

bool
tshmd_peer_in_group(const struct tshmd_peer *peer, gid_t gid)
{
        uint32_t i;

        if (peer->gid == gid) {
                return true;
        }
        for (i = 0; i < peer->ngroups; i++) {
                if (peer->groups[i] == gid) {
                        return true;
                }
        }
        return false;
}

/* Permission bits: r = 4, w = 2, as for files: the owner class if the uid
 * matches, else the group class if any of the client's groups matches, else
 * the others. Root may do anything. */
bool
tshmd_peer_may(const struct tshmd_peer *peer, const struct tshmd_seg *seg, unsigned want)
{
        unsigned bits;

        if (peer->uid == 0) {
                return true;
        }
        if (peer->uid == seg->owner_uid) {
                bits = (seg->mode >> 6) & 7u;
        } else if (tshmd_peer_in_group(peer, seg->owner_gid)) {
                bits = (seg->mode >> 3) & 7u;
        } else {
                bits = seg->mode & 7u;
        }
        return (bits & want) == want;
}

/* A segment's metadata (shape, owner, mode, opens, a stream's activity) is
 * shown only to those who may read it, as a directory listing would not
 * show what a user cannot read: the same rule as open's. */
bool
tshmd_peer_may_see(const struct tshmd_peer *peer, const struct tshmd_seg *seg)
{
        return tshmd_peer_may(peer, seg, 4u);
}

void
tshmd_session_init(struct tshmd_session *ses, const struct tshmd_peer *peer,
                   tshmd_complete_fn complete)
{
        memset(ses, 0, sizeof(*ses));
        ses->peer = *peer;
        ses->complete = complete;
        ses->next_handle = 1;
}

/* Add @h to the session's table; TSHM_ENOMEM if the table cannot grow. */
/* NOLINTBEGIN(readability-function-size): HASH_ADD expands to ~200 statements. */
static int
session_handle_add(struct tshmd_session *ses, struct tshmd_handle *h)
{
        tshmd_hash_oom = 0;
        HASH_ADD(hh, ses->handles, id, sizeof(h->id), h);
        return tshmd_hash_oom ? TSHM_ENOMEM : 0;
}
/* NOLINTEND(readability-function-size) */

int
tshmd_session_handle_new(struct tshmd_server *srv, struct tshmd_session *ses, struct tshmd_seg *seg,
                         bool writable, uint64_t *ret_id)
{
        struct tshmd_handle *h = tshm__calloc(1, sizeof(*h));

        if (h == NULL) {
                return TSHM_ENOMEM;
        }
        h->id = ses->next_handle++;
        h->seg = seg;
        h->writable = writable;
        if (session_handle_add(ses, h) < 0) {
                tshm__free(h);
                return TSHM_ENOMEM;
        }
        ses->nhandles++;
        tshmd_registry_ref(&srv->reg, seg);
        *ret_id = h->id;
        return 0;
}

struct tshmd_handle *
tshmd_session_handle_find(struct tshmd_session *ses, uint64_t id)
{
        struct tshmd_handle *h = NULL;

        HASH_FIND(hh, ses->handles, &id, sizeof(id), h);
        return h;
}

void
tshmd_session_handle_close(struct tshmd_server *srv, struct tshmd_session *ses,
                           struct tshmd_handle *h)
{
        HASH_DEL(ses->handles, h);
        ses->nhandles--;
        tshmd_stream_leave(h);
        tshmd_registry_unref(&srv->reg, h->seg);
        tshm__free(h);
}

int
tshmd_session_track_ephemeral(struct tshmd_session *ses, const struct tshmd_seg *seg)
{
        size_t n = strlen(seg->name) + 1;
        struct tshmd_ephemeral *e = tshm__malloc(sizeof(*e) + n);

        if (e == NULL) {
                return TSHM_ENOMEM;
        }
        e->serial = seg->serial;
        memcpy(e->name, seg->name, n);
        e->next = ses->ephemerals;
        ses->ephemerals = e;
        return 0;
}

void
tshmd_session_untrack_ephemeral(struct tshmd_session *ses, const struct tshmd_seg *seg)
{
        struct tshmd_ephemeral **pe, *e;

        for (pe = &ses->ephemerals; (e = *pe) != NULL; pe = &e->next) {
                if (e->serial == seg->serial) {
                        *pe = e->next;
                        tshm__free(e);
                        return;
                }
        }
}

/* The segments this session made ephemeral go with it, if each is still
 * the same segment (the serial tells: the name may have been reused). */
static void
session_drop_ephemerals(struct tshmd_server *srv, struct tshmd_session *ses)
{
        struct tshmd_ephemeral *e;

        while ((e = ses->ephemerals) != NULL) {
                struct tshmd_seg *seg = tshmd_registry_find(&srv->reg, e->name);
                ses->ephemerals = e->next;
                if (seg != NULL && seg->serial == e->serial &&
                    (seg->state == TSHMD_SEG_READY || seg->state == TSHMD_SEG_UNPUBLISHED)) {
                        tshmd_log(LOG_INFO, "%s '%s' removed: its creator (pid %d) left",
                                  seg->state == TSHMD_SEG_READY ? "ephemeral" : "unpublished group",
                                  seg->name, (int)ses->peer.pid);
                        (void)tshmd_seg_remove(srv, seg);
                }
                tshm__free(e);
        }
}

void
tshmd_session_end(struct tshmd_server *srv, struct tshmd_session *ses)
{
        struct tshmd_handle *h, *tmp;

        ses->gone = true;
        HASH_ITER(hh, ses->handles, h, tmp)
        {
                /* A client that went away may have died mid-write; one the
                 * daemon lets go because it stops has not. */
                if (h->writable && !srv->stopping) {
                        tshmd_sync_release(srv, &ses->peer, h->seg);
                }
                tshmd_session_handle_close(srv, ses, h);
        }
        session_drop_ephemerals(srv, ses);
}

void
tshmd_session_complete(struct tshmd_session *ses, int rv, struct tshmd_reply *rep)
{
        ses->pending--;
        ses->complete(ses, rv, rep);
}
