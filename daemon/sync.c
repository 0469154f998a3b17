/*
 * sync.c - the daemon's part in publish/wait (protocol in proto/sync.c):
 * it wakes the waiters of a segment whose name it removes, and breaks the
 * writer lock that a client left held when its connection closed (a writer
 * killed in the middle of an update).
 *
 * tshmd keeps no mapping per segment, so each of these maps the header page
 * for the moment it needs it. Both are rare: an unlink, and a client that
 * goes away while it had a segment open for writing.
 */
#include <fcntl.h>
#include <sys/mman.h>
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

/* Whether another live connection is from process @pid: then the lock may be
 * that one's, and the process is alive. */
static bool
sync_pid_connected(const struct tshmd_server *srv, const struct tshmd_conn *gone, pid_t pid)
{
        const struct tshmd_conn *c;

        for (c = srv->conns; c != NULL; c = c->next) {
                if (c != gone && c->pid == pid && !c->closing) {
                        return true;
                }
        }
        return false;
}

void
tshmd_sync_release(struct tshmd_server *srv, const struct tshmd_conn *c, const struct tshmd_seg *seg)
{
        char objname[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 4];
        struct tshm__hdr *hdr;
        uint32_t cur;

        if (seg->state != TSHMD_SEG_READY) {
                return;
        }
        (void)tshmd_shm_objname(srv->cfg->shm_prefix, seg->name, objname, sizeof(objname));
        if ((hdr = tshmd_sync_map(objname)) == NULL) {
                return;
        }
        cur = __atomic_load_n(&hdr->lock, __ATOMIC_SEQ_CST);
        if (cur != 0 && __atomic_load_n(&hdr->lock_pid, __ATOMIC_SEQ_CST) == (uint32_t)c->pid &&
            !sync_pid_connected(srv, c, c->pid)) {
                /* Take it with a CAS, as a writer would, so that a writer
                 * breaking it at the same moment does not break it twice. */
                if (__atomic_compare_exchange_n(&hdr->lock, &cur, (uint32_t)gettid(), false,
                                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                        tshmd_log(LOG_NOTICE,
                                  "'%s': pid %d left holding the writer lock; released%s", seg->name,
                                  (int)c->pid,
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
        }
        tshmd_sync_unmap(hdr);
}
