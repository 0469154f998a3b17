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
 * restores the size and the reservation of every page at once. The bytes past
 * the cut are lost (zeros), and a mapper that touches them in the moment
 * before the restore still faults: docs/security.md states that window.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#define GUARD_DIR "/dev/shm"

/* Put @seg's object back to its size, reserved. */
static void
guard_check(struct tshmd_server *srv, struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct stat st;
        int fd, rv;

        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        fd = shm_open(objname, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0) {
                return;
        }
        if (fstat(fd, &st) == 0 && (uint64_t)st.st_size != seg->size) {
                /* posix_fallocate returns the error instead of setting errno. */
                if (ftruncate(fd, (off_t)seg->size) < 0 ||
                    (rv = posix_fallocate(fd, 0, (off_t)seg->size)) != 0) {
                        tshmd_log(LOG_ERR,
                                  "segment '%s' was resized to %lld bytes by a client and "
                                  "cannot be restored to %llu: %s",
                                  seg->name, (long long)st.st_size, (unsigned long long)seg->size,
                                  strerror(errno));
                } else {
                        srv->resizes_undone++;
                        tshmd_log(LOG_WARNING,
                                  "segment '%s' was resized to %lld bytes by a client; restored "
                                  "to %llu (bytes past the cut are lost)",
                                  seg->name, (long long)st.st_size, (unsigned long long)seg->size);
                }
        }
        (void)close(fd);
}

static void
guard_on_event(uv_poll_t *h, int status, int events)
{
        struct tshmd_server *srv = h->data;
        char buf[64 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
            __attribute__((aligned(__alignof__(struct inotify_event))));
        size_t plen = strlen(srv->cfg->shm_prefix);
        ssize_t n;
        char *p;

        (void)events;
        if (status < 0) {
                return;
        }
        while ((n = read(srv->guard_fd, buf, sizeof(buf))) > 0) {
                for (p = buf; p + sizeof(struct inotify_event) <= buf + n;) {
                        struct inotify_event ev;
                        const char *name = p + sizeof(ev);
                        struct tshmd_seg *seg;

                        /* Copied out: events are packed, so a cast could
                         * misalign. The name follows, NUL-padded. */
                        memcpy(&ev, p, sizeof(ev));
                        p += sizeof(ev) + ev.len;
                        if (ev.len == 0 || p > buf + n ||
                            strncmp(name, srv->cfg->shm_prefix, plen) != 0 || name[plen] != '.') {
                                continue;
                        }
                        seg = tshmd_registry_find(&srv->reg, name + plen + 1);
                        if (seg != NULL && seg->state == TSHMD_SEG_READY) {
                                guard_check(srv, seg);
                        }
                }
        }
        if (n < 0 && errno == EINVAL) {
                tshmd_log(LOG_ERR, "inotify read failed: buffer too small, ignoring");
        }
}

int
tshmd_guard_start(struct tshmd_server *srv)
{
        int rv;

        srv->guard_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (srv->guard_fd < 0) {
                tshmd_log(LOG_WARNING, "inotify: %s; resized segments will not be restored",
                          strerror(errno));
                return -errno;
        }
        if (inotify_add_watch(srv->guard_fd, GUARD_DIR, IN_MODIFY) < 0) {
                rv = -errno;
                tshmd_log(LOG_WARNING, "cannot watch %s: %s; resized segments will not be restored",
                          GUARD_DIR, strerror(errno));
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
