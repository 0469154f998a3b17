/*
 * stream.c - the daemon's part in streams: the subscriber table.
 *
 * A stream's frames and slot table live in its shm object, which only
 * writers may change. Subscribers must move their cursors, and a subscriber
 * may hold a read-only grant, so the cursors live apart: in a memfd per
 * stream that tshmd makes on the first attach and hands read-write to every
 * producer and subscriber of the stream (op attach). Who holds which entry
 * is kept apart from it, in the roster: a second memfd that tshmd maps and
 * then seals against writes (F_SEAL_FUTURE_WRITE), so that no other holder
 * can forge it (op attach with roster). The daemon alone allocates and frees
 * subscriber entries, in the roster: one per subscribing handle, freed when
 * the handle closes, which happens when the client closes it or its
 * connection drops (a subscriber killed with -9), so a dead subscriber stops
 * holding the producer back.
 *
 * What a subscriber can do to the shared table (see docs/security.md): move
 * another entry's published cursor, and so stall a block-policy producer
 * until its loan times out. It cannot hold entries, change which frame
 * another subscriber takes (each keeps its cursor in its handle), or change
 * a frame.
 *
 * The table is not persistent: after a daemon restart, streams are adopted
 * without subscribers; their old subscribers must subscribe again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#include "sync.h"

bool
tshmd_stream_is(const struct tshmd_seg *seg)
{
        return (seg->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM;
}

/* A memfd of @size bytes, mapped read-write into *ret_map, then sealed at
 * its size with @seals added. Returns the descriptor or -errno. */
static int
stream_memfd(const char *name, size_t size, unsigned seals, void **ret_map)
{
        void *map = MAP_FAILED;
        int fd, rv;

        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0) {
                return -errno;
        }
        if (ftruncate(fd, (off_t)size) < 0) {
                goto fail;
        }
        /* Mapped before the seals: F_SEAL_FUTURE_WRITE leaves this mapping
         * writable and refuses every later one. */
        map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL | seals) < 0) {
                goto fail;
        }
        *ret_map = map;
        return fd;
fail:
        rv = -errno;
        if (map != MAP_FAILED) {
                (void)munmap(map, size);
        }
        (void)close(fd);
        return rv;
}

/* Make @seg's subscriber table and roster if it has none. Returns 0 or
 * -errno. */
int
tshmd_stream_table(struct tshmd_seg *seg)
{
        struct tshm__cur *cur;
        struct tshm__ros *ros;
        void *map;
        int fd, rfd;

        if (seg->cur != NULL) {
                return 0;
        }
        /* Sealed at its size: every subscriber holds it writable, and one
         * that could shrink it would hand SIGBUS to all the others. */
        if ((fd = stream_memfd("tshm-cursors", TSHM_CUR_SIZE, 0, &map)) < 0) {
                return fd;
        }
        cur = map;
        /* Sealed against writes too: only the daemon's mapping writes it. */
        if ((rfd = stream_memfd("tshm-roster", TSHM_ROS_SIZE, F_SEAL_FUTURE_WRITE, &map)) < 0) {
                (void)munmap(cur, TSHM_CUR_SIZE);
                (void)close(fd);
                return rfd;
        }
        ros = map;
        memcpy(cur->magic, TSHM_CUR_MAGIC, sizeof(cur->magic));
        cur->max_subs = TSHM_STREAM_MAX_SUBS;
        memcpy(ros->magic, TSHM_ROS_MAGIC, sizeof(ros->magic));
        ros->max_subs = TSHM_STREAM_MAX_SUBS;
        seg->cur_fd = fd;
        seg->cur = cur;
        seg->ros_fd = rfd;
        seg->ros = ros;
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
        if (tshmd_hdrmap_run(&srv->shm, objname, stream_load_seq, &seq) < 0) {
                return 0;
        }
        return seq / 2u;
}

/* Take a free subscriber entry for process @pid, starting at the next
 * frame. Returns its index, or TSHM_ELIMIT. Which entries are free is the
 * roster's word (only tshmd writes it), never the shared table's. */
int
tshmd_stream_join(struct tshmd_server *srv, pid_t pid, struct tshmd_seg *seg)
{
        struct tshm__ros *ros = seg->ros;
        uint32_t i;

        for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                struct tshm__ros_entry *r = &ros->subs[i];
                uint64_t start;

                if (r->pid != 0) {
                        continue;
                }
                /* The cursor is set before the entry is held, so a producer
                 * never sees a held entry with a stale cursor. A frame
                 * published between the read of the count and here is one
                 * this subscriber does not get: it joined after it. The
                 * cursor holds the newest frame published (start - 1), which
                 * a subscriber that starts there (TSHM_SUB_NEWEST) takes;
                 * one that starts at start moves it up at once. A cursor
                 * only grows (client/stream.c), so it starts at the lower. */
                start = stream_frames(srv, seg) + 1;
                __atomic_store_n(&seg->cur->subs[i].cursor, start > 1 ? start - 1 : 1,
                                 __ATOMIC_SEQ_CST);
                __atomic_store_n(&seg->cur->subs[i].missed, 0, __ATOMIC_SEQ_CST);
                __atomic_store_n(&r->start, start, __ATOMIC_SEQ_CST);
                __atomic_store_n(&r->serial, ++seg->sub_serial, __ATOMIC_SEQ_CST);
                /* A pid of 0 means free: a connection whose pid the kernel
                 * did not give (another pid namespace) still holds it. */
                __atomic_store_n(&r->pid, pid > 0 ? (uint32_t)pid : UINT32_MAX, __ATOMIC_SEQ_CST);
                (void)__atomic_add_fetch(&ros->gen, 1, __ATOMIC_SEQ_CST);
                seg->subscribers++;
                return (int)i;
        }
        return TSHM_ELIMIT;
}

void
tshmd_stream_leave(struct tshmd_handle *h)
{
        struct tshmd_seg *seg = h->seg;
        struct tshm__ros_entry *r;

        if (h->sub == 0 || seg->cur == NULL) {
                return;
        }
        r = &seg->ros->subs[h->sub - 1];
        __atomic_store_n(&r->pid, 0, __ATOMIC_SEQ_CST);
        (void)__atomic_add_fetch(&seg->ros->gen, 1, __ATOMIC_SEQ_CST);
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

/* Streams' tables go with their segment: the registry runs this on every
 * segment it frees, without knowing what a stream is. */
void
tshmd_stream_init(struct tshmd_registry *reg)
{
        tshmd_registry_on_free(reg, tshmd_stream_free);
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
        if (seg->ros != NULL) {
                (void)munmap(seg->ros, TSHM_ROS_SIZE);
                seg->ros = NULL;
        }
        if (seg->ros_fd >= 0) {
                (void)close(seg->ros_fd);
                seg->ros_fd = -1;
        }
}
