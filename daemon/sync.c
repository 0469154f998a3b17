/*
 * sync.c - the daemon's part in publish/wait (protocol in segsync/sync.c):
 * it wakes the waiters of a segment whose name it removes, and breaks the
 * writer lock that a client's process left held when it exited (a writer
 * killed in the middle of an update): it learns of the exit from the
 * process's pidfd, watched from when the client's connection closes.
 *
 * tshmd keeps no mapping per segment, so each of these maps the header page
 * for the moment it needs it, under hdrmap.c's guard: a client holding the
 * object writable may truncate it at any moment, and tshmd must not die of
 * it. Both are rare: an unlink, and a client that goes away while it had a
 * segment open for writing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#include "sync.h"

static int
sync_mark_unlinked(struct tshm__hdr *hdr, void *arg)
{
        (void)arg;
        __atomic_or_fetch(&hdr->state, TSHM_SYNC_UNLINKED, __ATOMIC_SEQ_CST);
        tshm__sync_bump(hdr);
        return 0;
}

void
tshmd_sync_unlinked(const struct tshmd_shmdir *dir, const char *objname)
{
        /* A header that is gone or cut has no waiters to tell: they see
         * the object's size change instead. */
        (void)tshmd_hdrmap_run(dir, objname, sync_mark_unlinked, NULL);
}

/* A writer lock that a closed connection's process may hold: tshmd waits
 * for that process to exit (its pidfd turns readable) before it breaks the
 * lock. A process may well close its connection and go on writing through
 * its mapping (tshm_disconnect() leaves segments usable), so a closed
 * connection alone proves nothing; an exited process does. */
struct tshmd_pidwatch {
        union {
                uv_handle_t handle;
                uv_poll_t poll;   /* on the pidfd */
                uv_timer_t timer; /* without pidfds: look every SYNC_EXIT_POLL_MS */
        } u;
        struct tshmd_server *srv;
        struct tshmd_pidwatch *prev, *next;
        int pidfd;
        pid_t pid;
        uint64_t serial; /* the segment's, so a new one of the same name is left alone */
        char name[];
};

struct sync_break_arg {
        uint32_t pid; /* the exited holder */
        uint32_t tid; /* tshmd's, to take the lock with */
        bool torn;    /* out: its version was half written */
};

/* Under the guard: no logging here (see hdrmap.c). Returns 1 if it broke
 * the lock, 0 if that process did not hold it. */
static int
sync_break_locked(struct tshm__hdr *hdr, void *arg)
{
        struct sync_break_arg *a = arg;
        uint32_t cur = __atomic_load_n(&hdr->lock, __ATOMIC_SEQ_CST);

        /* Take it with a CAS, as a writer would, so that a writer breaking
         * it at the same moment does not break it twice. */
        if (cur == 0 || __atomic_load_n(&hdr->lock_pid, __ATOMIC_SEQ_CST) != a->pid ||
            !__atomic_compare_exchange_n(&hdr->lock, &cur, a->tid, false, __ATOMIC_SEQ_CST,
                                         __ATOMIC_SEQ_CST)) {
                return 0;
        }
        a->torn = (__atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST) & 1u) != 0;
        tshm__sync_repair(hdr);
        if (cur & TSHM_LOCK_CONTENDED) {
                __atomic_or_fetch(&hdr->lock, TSHM_LOCK_CONTENDED, __ATOMIC_SEQ_CST);
        }
        tshm__sync_unlock(hdr);
        tshm__sync_bump(hdr);
        return 1;
}

/* Break @seg's writer lock if process @pid still holds it. */
static void
sync_break(struct tshmd_server *srv, const struct tshmd_seg *seg, pid_t pid)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct sync_break_arg a = {.pid = (uint32_t)pid, .tid = tshm__tid()};
        int rv;

        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        rv = tshmd_hdrmap_run(&srv->shm, objname, sync_break_locked, &a);
        if (rv == 1) {
                tshmd_log(LOG_NOTICE, "'%s': pid %d exited holding the writer lock; released%s",
                          seg->name, (int)pid,
                          a.torn ? ", its half-written version marked torn" : "");
        } else if (rv == TSHM_EBADHDR) {
                tshmd_log(LOG_WARNING,
                          "'%s': its header was cut while tshmd looked at the writer lock of "
                          "exited pid %d, ignoring",
                          seg->name, (int)pid);
        }
}

/* Without pidfd_open (kernels before 5.3, or valgrind), how often tshmd
 * looks whether a lock holder's process has exited. */
#define SYNC_EXIT_POLL_MS 50

static void
sync_watch_closed(uv_handle_t *h)
{
        struct tshmd_pidwatch *w = h->data;

        if (w->pidfd >= 0) {
                (void)close(w->pidfd);
        }
        tshm__free(w);
}

static void
sync_watch_end(struct tshmd_pidwatch *w)
{
        if (w->prev != NULL) {
                w->prev->next = w->next;
        } else {
                w->srv->pidwatches = w->next;
        }
        if (w->next != NULL) {
                w->next->prev = w->prev;
        }
        uv_close(&w->u.handle, sync_watch_closed);
}

/* The process exited (or the poll failed): break the lock if it is still
 * its, on the same segment. */
static void
sync_watch_exited(struct tshmd_pidwatch *w)
{
        struct tshmd_seg *seg = tshmd_registry_find(&w->srv->reg, w->name);

        if (seg != NULL && seg->serial == w->serial && seg->state == TSHMD_SEG_READY) {
                sync_break(w->srv, seg, w->pid);
        }
        sync_watch_end(w);
}

static void
sync_watch_fired(uv_poll_t *h, int status, int events)
{
        (void)status;
        (void)events;
        sync_watch_exited(h->data);
}

static void
sync_watch_tick(uv_timer_t *t)
{
        struct tshmd_pidwatch *w = t->data;

        if (tshm__sync_thread_gone((uint32_t)w->pid)) {
                sync_watch_exited(w);
        }
}

/* Under the guard: 1 if process *@arg holds the writer lock. */
static int
sync_held_by(struct tshm__hdr *hdr, void *arg)
{
        return __atomic_load_n(&hdr->lock, __ATOMIC_SEQ_CST) != 0 &&
               __atomic_load_n(&hdr->lock_pid, __ATOMIC_SEQ_CST) == *(const uint32_t *)arg;
}

void
tshmd_sync_release(struct tshmd_server *srv, const struct tshmd_peer *peer,
                   const struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        uint32_t pid = (uint32_t)peer->pid;
        struct tshmd_pidwatch *w;
        size_t n;
        int pidfd;

        if (seg->state != TSHMD_SEG_READY) {
                return;
        }
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        /* A header that is gone or cut holds no lock worth breaking. */
        if (tshmd_hdrmap_run(&srv->shm, objname, sync_held_by, &pid) != 1) {
                return;
        }
        pidfd = (int)syscall(SYS_pidfd_open, peer->pid, 0);
        if (pidfd < 0 && errno == ESRCH) {
                /* Gone and reaped already. */
                sync_break(srv, seg, peer->pid);
                return;
        }
        n = strlen(seg->name) + 1;
        if ((w = tshm__calloc(1, sizeof(*w) + n)) == NULL) {
                if (pidfd >= 0) {
                        (void)close(pidfd);
                }
                return;
        }
        w->srv = srv;
        w->pidfd = pidfd;
        w->pid = peer->pid;
        w->serial = seg->serial;
        memcpy(w->name, seg->name, n);
        /* Without a pidfd (ENOSYS), look now and then instead. */
        if ((pidfd >= 0 ? uv_poll_init(srv->loop, &w->u.poll, pidfd)
                        : uv_timer_init(srv->loop, &w->u.timer)) < 0) {
                if (pidfd >= 0) {
                        (void)close(pidfd);
                }
                tshm__free(w);
                return;
        }
        w->u.handle.data = w;
        w->next = srv->pidwatches;
        if (w->next != NULL) {
                w->next->prev = w;
        }
        srv->pidwatches = w;
        if (pidfd >= 0) {
                (void)uv_poll_start(&w->u.poll, UV_READABLE, sync_watch_fired);
        } else {
                (void)uv_timer_start(&w->u.timer, sync_watch_tick, SYNC_EXIT_POLL_MS,
                                     SYNC_EXIT_POLL_MS);
        }
}

void
tshmd_sync_stop(struct tshmd_server *srv)
{
        while (srv->pidwatches != NULL) {
                sync_watch_end(srv->pidwatches);
        }
}
