/*
 * guard.c - watch /dev/shm for segments whose size a client changed, and put
 * the size back.
 *
 * Any process holding a read-write descriptor of a shm object can
 * ftruncate() it, and every other process that maps it then faults with
 * SIGBUS past the new end. shm_open objects cannot be sealed (only memfds
 * can, and memfds would not survive a daemon restart), so tshmd watches the
 * directory with inotify (ftruncate raises IN_MODIFY; writes through a
 * mapping raise nothing, so the watch costs nothing on the data path) and
 * restores the size and the reservation of every page, in the thread pool
 * (struct tshmd_restore, below). The bytes past the cut are lost (zeros), and
 * a mapper that touches them in the moment before the restore still faults:
 * docs/security.md states that window.
 *
 * A segment unlinked while handles are still open has no name left to
 * watch or reopen, yet every client that has it open still maps it, and a
 * writer may still hold its descriptor. So tshmd keeps a read-write
 * descriptor of each such object, from just before the unlink until the
 * registry frees the segment (its last handle closed), and watches the
 * inode itself through it (inotify_add_watch on /proc/self/fd/N follows the
 * link to the deleted inode); events on that watch restore the size through
 * the kept descriptor.
 *
 * Not covered: a process that let its connection go (tshm_disconnect()
 * keeps its mappings) no longer counts as a handle, so once the segment is
 * unlinked and no connected handle is left, nothing restores its size.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

/* One unlinked segment whose object tshmd keeps and watches. */
struct tshmd_kept {
        UT_hash_handle hh; /* in srv->kept, by wd */
        int wd;            /* its inotify watch */
        int fd;            /* O_RDWR */
        struct tshmd_server *srv;
        struct tshmd_seg *seg;
};

/* A restore in the thread pool. posix_fallocate of a whole segment takes a
 * while (a GiB: a fraction of a second), and the loop must not stop for it:
 * the same rule as create.c, which makes large objects off the loop.
 *
 * The restore holds a descriptor of its own, duplicated from the one the
 * event came through, and copies the size and the name it needs: the
 * descriptor keeps the object itself alive, so neither an unlink nor the
 * registry freeing the segment (its last handle closed) while the work runs
 * touches anything the work uses. A stop of the daemon waits for it, as
 * uv_run() returns only when no work is left; the result is then logged
 * and nothing is queued again.
 *
 * One restore per object at a time (by inode): a client that truncates in
 * a loop raises events faster than a large fallocate ends, and each would
 * otherwise queue another whole-segment restore. An event while one runs
 * sets @again, and the object is looked at once more when it ends. */
struct tshmd_restore {
        uv_work_t work;
        struct tshmd_restore *next; /* in srv->restoring */
        struct tshmd_server *srv;
        int fd; /* our own, O_RDWR */
        dev_t dev;
        ino_t ino;
        uint64_t size;    /* the segment's size, to put back */
        long long cut;    /* the size the client left */
        int err;          /* result: 0, or the errno of the step that failed */
        const char *step; /* which step failed */
        bool again;       /* resized again while this ran */
        char name[];      /* the segment's, for the log */
};

static void
guard_restore_run(uv_work_t *w)
{
        struct tshmd_restore *r = w->data;

        r->err = 0;
        if (ftruncate(r->fd, (off_t)r->size) < 0) {
                r->err = errno;
                r->step = "ftruncate";
                return;
        }
        /* posix_fallocate returns the error instead of setting errno. */
        if ((r->err = posix_fallocate(r->fd, 0, (off_t)r->size)) != 0) {
                r->step = "posix_fallocate";
        }
}

/* Whether the object behind @st is whole: its size, and every page of it
 * allocated. A writer can take pages back without changing the size
 * (fallocate's PUNCH_HOLE); a reader then faults them in again, and where
 * the backing has no page to give (a full tmpfs, hugetlbfs's reserved pool
 * taken by someone else) that fault is a SIGBUS. */
static bool
guard_whole(const struct stat *st, uint64_t size)
{
        return (uint64_t)st->st_size == size && (uint64_t)st->st_blocks * 512u >= size;
}

static int guard_restore_queue(struct tshmd_restore *r);

/* A cut that reached into the header took it away with the data: put the
 * sealed header back now, not at the next open, or a restart would find a
 * headerless object and not adopt the segment. Only while the object under
 * the segment's name is still the one restored (not an unlinked one whose
 * name went to a new segment). */
static void
guard_restore_header(struct tshmd_server *srv, const struct tshmd_restore *r)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshmd_seg *seg = tshmd_registry_find(&srv->reg, r->name);
        struct tshm__hdr want;
        struct stat st;

        if (seg == NULL || (seg->state != TSHMD_SEG_READY && seg->state != TSHMD_SEG_UNPUBLISHED)) {
                return;
        }
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        if (fstatat(srv->shm.fd, objname + 1, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            st.st_dev != r->dev || st.st_ino != r->ino) {
                return;
        }
        tshmd_seal_header_of(seg, srv->seal_key, &want);
        if (!tshmd_shm_header_intact(r->fd, &want) &&
            tshmd_shm_write_header(&srv->shm, objname, &want) < 0) {
                tshmd_log(LOG_ERR, "segment '%s': cannot put its header back after the resize",
                          seg->name);
        }
}

static void
guard_restore_done(uv_work_t *w, int status)
{
        struct tshmd_restore *r = w->data, **pp;
        struct tshmd_server *srv = r->srv;
        struct stat st;

        (void)status; /* work is never cancelled */
        if (r->err != 0) {
                tshmd_log(LOG_ERR,
                          "segment '%s' was resized to %lld bytes by a client and cannot be "
                          "restored to %llu: %s: %s",
                          r->name, r->cut, (unsigned long long)r->size, r->step, strerror(r->err));
        } else {
                srv->resizes_undone++;
                guard_restore_header(srv, r);
                tshmd_log(LOG_WARNING,
                          "segment '%s' was resized to %lld bytes by a client; restored to %llu "
                          "(bytes past the cut are lost)",
                          r->name, r->cut, (unsigned long long)r->size);
        }
        /* Cut again while we worked, and nobody is stopping: once more. */
        if (r->again && srv->guarding && fstat(r->fd, &st) == 0 && !guard_whole(&st, r->size)) {
                r->again = false;
                r->cut = (long long)st.st_size;
                if (guard_restore_queue(r) == 0) {
                        return;
                }
        }
        for (pp = &srv->restoring; *pp != NULL; pp = &(*pp)->next) {
                if (*pp == r) {
                        *pp = r->next;
                        break;
                }
        }
        (void)close(r->fd);
        tshm__free(r);
}

static int
guard_restore_queue(struct tshmd_restore *r)
{
        int rv;

        if ((rv = uv_queue_work(r->srv->loop, &r->work, guard_restore_run, guard_restore_done)) <
            0) {
                tshmd_log(LOG_ERR, "segment '%s' was resized by a client; cannot restore it: %s",
                          r->name, uv_strerror(rv));
        }
        return rv;
}

/* Put @seg's object (open as @fd, read-write) back to its size, reserved,
 * in the thread pool. Only descriptors: a client may cut the object at any
 * moment. */
static void
guard_restore(struct tshmd_server *srv, const struct tshmd_seg *seg, int fd)
{
        struct tshmd_restore *r;
        size_t n = strlen(seg->name) + 1;
        struct stat st;

        if (fstat(fd, &st) < 0 || guard_whole(&st, seg->size)) {
                return;
        }
        for (r = srv->restoring; r != NULL; r = r->next) {
                if (r->dev == st.st_dev && r->ino == st.st_ino) {
                        r->again = true;
                        return;
                }
        }
        if ((r = tshm__calloc(1, sizeof(*r) + n)) == NULL) {
                tshmd_log(LOG_ERR, "segment '%s' was resized by a client; cannot restore it: %s",
                          seg->name, strerror(ENOMEM));
                return;
        }
        if ((r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
                tshmd_log(LOG_ERR, "segment '%s' was resized by a client; cannot restore it: %s",
                          seg->name, strerror(errno));
                tshm__free(r);
                return;
        }
        r->work.data = r;
        r->srv = srv;
        r->dev = st.st_dev;
        r->ino = st.st_ino;
        r->size = seg->size;
        r->cut = (long long)st.st_size;
        memcpy(r->name, seg->name, n);
        if (guard_restore_queue(r) < 0) {
                (void)close(r->fd);
                tshm__free(r);
                return;
        }
        r->next = srv->restoring;
        srv->restoring = r;
}

/* The same for a named segment, opened by its name. */
static void
guard_check(struct tshmd_server *srv, struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        int fd;

        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        fd = tshmd_shm_open_rw(&srv->shm, objname);
        if (fd < 0) {
                return;
        }
        guard_restore(srv, seg, fd);
        (void)close(fd);
}

/* The queue overflowed, and events were lost: look at every segment. */
static void
guard_check_all(struct tshmd_server *srv)
{
        struct tshmd_seg *seg, *stmp;
        struct tshmd_kept *k, *ktmp;

        tshmd_log(LOG_WARNING, "inotify queue overflowed; checking the size of every segment");
        HASH_ITER(hh, srv->reg.by_name, seg, stmp)
        {
                if (seg->state == TSHMD_SEG_READY || seg->state == TSHMD_SEG_UNPUBLISHED) {
                        guard_check(srv, seg);
                }
        }
        HASH_ITER(hh, srv->kept, k, ktmp)
        {
                guard_restore(srv, k->seg, k->fd);
        }
}

/* Add @k to the server's table; TSHM_ENOMEM if the table cannot grow. */
/* NOLINTBEGIN(readability-function-size): HASH_ADD expands to ~200 statements. */
static int
guard_kept_add(struct tshmd_server *srv, struct tshmd_kept *k)
{
        tshmd_hash_oom = 0;
        HASH_ADD_INT(srv->kept, wd, k);
        return tshmd_hash_oom ? TSHM_ENOMEM : 0;
}
/* NOLINTEND(readability-function-size) */

void
tshmd_guard_keep(struct tshmd_server *srv, struct tshmd_seg *seg, const char *objname)
{
        char path[sizeof(srv->shm.path) + TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshmd_kept *k;
        int rv;

        if (!srv->guarding || seg->kept != NULL) {
                return;
        }
        if ((k = tshm__calloc(1, sizeof(*k))) == NULL) {
                rv = TSHM_ENOMEM;
                goto fail;
        }
        k->srv = srv;
        k->seg = seg;
        k->wd = -1;
        if ((k->fd = tshmd_shm_open_rw(&srv->shm, objname)) < 0) {
                rv = k->fd;
                goto fail;
        }
        /* The watch is on the inode, so it outlives the name. Through the
         * descriptor, so that it is surely this object's inode; through
         * the name (not yet unlinked) where /proc is not mounted. */
        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", k->fd);
        if ((k->wd = inotify_add_watch(srv->guard_fd, path, IN_MODIFY)) < 0) {
                (void)snprintf(path, sizeof(path), "%s%s", srv->shm.path, objname);
                if ((k->wd = inotify_add_watch(srv->guard_fd, path, IN_MODIFY | IN_DONT_FOLLOW)) <
                    0) {
                        rv = -errno;
                        goto fail;
                }
        }
        if ((rv = guard_kept_add(srv, k)) < 0) {
                goto fail;
        }
        seg->kept = k;
        return;
fail:
        tshmd_log(LOG_WARNING,
                  "cannot keep watching '%s' after its unlink: %s; a client may resize it under "
                  "its %u open handles",
                  seg->name, tshm__strerror(rv), seg->opens);
        if (k != NULL) {
                if (k->wd >= 0) {
                        (void)inotify_rm_watch(srv->guard_fd, k->wd);
                }
                if (k->fd >= 0) {
                        (void)close(k->fd);
                }
                tshm__free(k);
        }
}

void
tshmd_guard_forget(struct tshmd_seg *seg)
{
        struct tshmd_kept *k = seg->kept;

        if (k == NULL) {
                return;
        }
        HASH_DEL(k->srv->kept, k);
        /* After tshmd_guard_stop() the inotify descriptor may be closed,
         * and its watches went with it. */
        if (k->srv->guard_fd >= 0) {
                (void)inotify_rm_watch(k->srv->guard_fd, k->wd);
        }
        (void)close(k->fd);
        tshm__free(k);
        seg->kept = NULL;
}

/* What one read of the queue has restored already: a batch holds many
 * events for the same few objects, and one look after the read covers all
 * of them (a cut after the read queues an event for the next batch). */
struct guard_batch {
        const void *seen[64];
        unsigned n;
};

/* Whether @what was looked at in @b already; records it if not (when the
 * record is full, everything counts as new). */
static bool
guard_seen(struct guard_batch *b, const void *what)
{
        unsigned i;

        for (i = 0; i < b->n; i++) {
                if (b->seen[i] == what) {
                        return true;
                }
        }
        if (b->n < sizeof(b->seen) / sizeof(b->seen[0])) {
                b->seen[b->n++] = what;
        }
        return false;
}

/* An event without a name: on an inode watch (an unlinked segment we
 * keep), or the queue's overflow. */
static void
guard_on_kept(struct tshmd_server *srv, const struct inotify_event *ev, struct guard_batch *b)
{
        struct tshmd_kept *k = NULL;

        if ((ev->mask & IN_Q_OVERFLOW) != 0) {
                guard_check_all(srv);
                return;
        }
        if ((ev->mask & IN_MODIFY) == 0) {
                return;
        }
        HASH_FIND_INT(srv->kept, &ev->wd, k);
        if (k != NULL && !guard_seen(b, k)) {
                guard_restore(srv, k->seg, k->fd);
        }
}

static void
guard_on_event(uv_poll_t *h, int status, int events)
{
        struct tshmd_server *srv = h->data;
        char buf[64 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
            __attribute__((aligned(__alignof__(struct inotify_event))));
        size_t plen = strlen(srv->cfg->shm_prefix);
        struct guard_batch batch = {.n = 0};
        ssize_t n;
        char *p;

        (void)events;
        if (status < 0) {
                return;
        }
        /* One read per wake-up, not until the queue is empty: a client that
         * truncates in a loop refills it as fast as tshmd restores, and
         * must not keep the loop from serving everyone else. The poll is
         * level-triggered, so what is left comes next iteration. */
        if ((n = read(srv->guard_fd, buf, sizeof(buf))) < 0) {
                if (errno == EINVAL) {
                        tshmd_log(LOG_ERR, "inotify read failed: buffer too small, ignoring");
                }
                return;
        }
        for (p = buf; p + sizeof(struct inotify_event) <= buf + n;) {
                struct inotify_event ev;
                const char *name = p + sizeof(ev);
                struct tshmd_seg *seg;

                /* Copied out: events are packed, so a cast could misalign.
                 * The name follows, NUL-padded. */
                memcpy(&ev, p, sizeof(ev));
                p += sizeof(ev) + ev.len;
                if (p > buf + n) {
                        break;
                }
                if (ev.len == 0) {
                        guard_on_kept(srv, &ev, &batch);
                        continue;
                }
                if (strncmp(name, srv->cfg->shm_prefix, plen) != 0 || name[plen] != '.') {
                        continue;
                }
                seg = tshmd_registry_find(&srv->reg, name + plen + 1);
                if (seg != NULL &&
                    (seg->state == TSHMD_SEG_READY || seg->state == TSHMD_SEG_UNPUBLISHED) &&
                    !guard_seen(&batch, seg)) {
                        guard_check(srv, seg);
                }
        }
}

int
tshmd_guard_start(struct tshmd_server *srv)
{
        char path[32];
        int rv;

        srv->guard_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (srv->guard_fd < 0) {
                tshmd_log(LOG_WARNING, "inotify: %s; resized segments will not be restored",
                          strerror(errno));
                return -errno;
        }
        /* The directory tshmd opened at start, through its descriptor (a
         * later rename of the path, or a mount over it, must not move the
         * watch), or through the path where /proc is not mounted. */
        (void)snprintf(path, sizeof(path), "/proc/self/fd/%d", srv->shm.fd);
        if (inotify_add_watch(srv->guard_fd, path, IN_MODIFY) < 0 &&
            inotify_add_watch(srv->guard_fd, srv->shm.path, IN_MODIFY) < 0) {
                rv = -errno;
                tshmd_log(LOG_WARNING, "cannot watch %s: %s; resized segments will not be restored",
                          srv->shm.path, strerror(errno));
                goto fail;
        }
        if ((rv = uv_poll_init(srv->loop, &srv->guard_poll, srv->guard_fd)) < 0 ||
            (rv = uv_poll_start(&srv->guard_poll, UV_READABLE, guard_on_event)) < 0) {
                tshmd_log(LOG_WARNING, "cannot poll inotify: %s", uv_strerror(rv));
                rv = TSHM_EIO;
                goto fail;
        }
        srv->guard_poll.data = srv;
        srv->guarding = true;
        return 0;
fail:
        (void)close(srv->guard_fd);
        srv->guard_fd = -1;
        return rv;
}

static void
guard_on_closed(uv_handle_t *h)
{
        struct tshmd_server *srv = h->data;

        (void)close(srv->guard_fd);
        srv->guard_fd = -1;
}

void
tshmd_guard_stop(struct tshmd_server *srv)
{
        if (srv->guarding) {
                srv->guarding = false;
                uv_close((uv_handle_t *)&srv->guard_poll, guard_on_closed);
        }
}
