/*
 * sync.c - the daemon's part in publish/wait (protocol in proto/sync.c):
 * it wakes the waiters of a segment whose name it removes, and breaks the
 * writer lock that a client's process left held when it exited (a writer
 * killed in the middle of an update): it learns of the exit from the
 * process's pidfd, watched from when the client's connection closes.
 *
 * tshmd keeps no mapping per segment, so each of these maps the header page
 * for the moment it needs it. Both are rare: an unlink, and a client that
 * goes away while it had a segment open for writing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#include "sync.h"

struct tshm__hdr *
tshmd_sync_map(const char *objname)
{
        struct tshm__hdr *hdr;
        int fd;

        fd = shm_open(objname, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0) {
                return NULL;
        }
        /* Every object is at least one page (header and data offset), and
         * the size guard keeps it so; a truncated one fails here, not later. */
        hdr = mmap(NULL, TSHM_HDR_DATA_OFFSET, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        (void)close(fd);
        return hdr == MAP_FAILED ? NULL : hdr;
}

void
tshmd_sync_unmap(struct tshm__hdr *hdr)
{
        (void)munmap(hdr, TSHM_HDR_DATA_OFFSET);
}

void
tshmd_sync_unlinked(const char *objname)
{
        struct tshm__hdr *hdr = tshmd_sync_map(objname);
        if (hdr == NULL) {
                return;
        }
        __atomic_or_fetch(&hdr->state, TSHM_SYNC_UNLINKED, __ATOMIC_SEQ_CST);
        tshm__sync_bump(hdr);
        tshmd_sync_unmap(hdr);
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

/* Break @seg's writer lock if process @pid still holds it. */
static void
sync_break(struct tshmd_server *srv, const struct tshmd_seg *seg, pid_t pid)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshm__hdr *hdr;
        uint32_t cur;

        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        if ((hdr = tshmd_sync_map(objname)) == NULL) {
                return;
        }
        cur = __atomic_load_n(&hdr->lock, __ATOMIC_SEQ_CST);
        /* Take it with a CAS, as a writer would, so that a writer breaking
         * it at the same moment does not break it twice. */
        if (cur != 0 && __atomic_load_n(&hdr->lock_pid, __ATOMIC_SEQ_CST) == (uint32_t)pid &&
            __atomic_compare_exchange_n(&hdr->lock, &cur, tshm__tid(), false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
                tshmd_log(LOG_NOTICE, "'%s': pid %d exited holding the writer lock; released%s",
                          seg->name, (int)pid,
                          (__atomic_load_n(&hdr->seq, __ATOMIC_SEQ_CST) & 1u)
                                  ? ", its half-written version marked torn"
                                  : "");
                tshm__sync_repair(hdr);
                if (cur & TSHM_LOCK_CONTENDED) {
                        __atomic_or_fetch(&hdr->lock, TSHM_LOCK_CONTENDED, __ATOMIC_SEQ_CST);
                }
                tshm__sync_unlock(hdr);
                tshm__sync_bump(hdr);
        }
        tshmd_sync_unmap(hdr);
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
        free(w);
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

void
tshmd_sync_release(struct tshmd_server *srv, const struct tshmd_conn *c, const struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshmd_pidwatch *w;
        struct tshm__hdr *hdr;
        bool held;
        size_t n;
        int pidfd;

        if (seg->state != TSHMD_SEG_READY) {
                return;
        }
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        if ((hdr = tshmd_sync_map(objname)) == NULL) {
                return;
        }
        held = __atomic_load_n(&hdr->lock, __ATOMIC_SEQ_CST) != 0 &&
               __atomic_load_n(&hdr->lock_pid, __ATOMIC_SEQ_CST) == (uint32_t)c->pid;
        tshmd_sync_unmap(hdr);
        if (!held) {
                return;
        }
        pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
        if (pidfd < 0 && errno == ESRCH) {
                /* Gone and reaped already. */
                sync_break(srv, seg, c->pid);
                return;
        }
        n = strlen(seg->name) + 1;
        if ((w = calloc(1, sizeof(*w) + n)) == NULL) {
                if (pidfd >= 0) {
                        (void)close(pidfd);
                }
                return;
        }
        w->srv = srv;
        w->pidfd = pidfd;
        w->pid = c->pid;
        w->serial = seg->serial;
        memcpy(w->name, seg->name, n);
        /* Without a pidfd (ENOSYS), look now and then instead. */
        if ((pidfd >= 0 ? uv_poll_init(srv->loop, &w->u.poll, pidfd)
                        : uv_timer_init(srv->loop, &w->u.timer)) < 0) {
                if (pidfd >= 0) {
                        (void)close(pidfd);
                }
                free(w);
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
