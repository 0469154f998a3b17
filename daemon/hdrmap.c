/*
 * hdrmap.c - the daemon's access to a segment's header page, which a client
 * can cut from under it.
 *
 * tshmd must touch a segment's seq line with atomics (mark it unlinked and
 * wake its waiters, read the frame count, break a dead writer's lock with a
 * CAS), and atomics need a mapping: pread/pwrite cannot do a read-modify-
 * write. But any client holding an O_RDWR descriptor can ftruncate() the
 * object at any moment, and an access to a mapped page past the new end
 * raises SIGBUS, which would kill tshmd. So each access maps the header page
 * and runs under a guard: a SIGBUS handler, installed only for the length of
 * the access, that jumps back out when the fault lies in that page, and the
 * access fails with TSHM_EBADHDR. Any other SIGBUS (a bug of tshmd's own, or
 * one sent by kill) gets the disposition that was there before: in tshmd
 * SIG_DFL, so it is raised again and kills as it would have (under ASan,
 * ASan's handler, which reports it).
 *
 * tshmd is single-threaded where it touches headers (libuv's pool threads
 * only pwrite new objects), so the guard is one set of globals and accesses
 * do not nest. The guarded function must not call anything that can be left
 * half done by the jump (malloc, stdio, logging): only loads, stores,
 * atomics and the futex syscall, which returns EFAULT on a cut page rather
 * than raising a signal.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "tshmd.h"

/* The access in progress: written before it starts, read by the handler. */
static sigjmp_buf hdrmap_env;
static volatile sig_atomic_t hdrmap_active;
static uintptr_t hdrmap_lo, hdrmap_hi; /* the guarded page, [lo, hi) */
static struct sigaction hdrmap_prev;   /* SIGBUS's disposition outside accesses */

/* Whether @sa runs a function (rather than SIG_DFL or SIG_IGN). */
static bool
hdrmap_is_handler(const struct sigaction *sa)
{
        return (sa->sa_flags & SA_SIGINFO) != 0
                   ? sa->sa_sigaction != NULL
                   : sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

static void
hdrmap_on_sigbus(int sig, siginfo_t *si, void *uctx)
{
        static const struct sigaction dfl = {.sa_handler = SIG_DFL};
        uintptr_t a = (uintptr_t)si->si_addr;

        (void)uctx;
        /* si_code > 0: raised by the kernel for a fault, so si_addr is the
         * faulting address (a kill() or sigqueue() fills the same bytes with
         * a pid and uid). */
        if (hdrmap_active && si->si_code > 0 && a >= hdrmap_lo && a < hdrmap_hi) {
                hdrmap_active = 0;
                siglongjmp(hdrmap_env, 1);
        }
        /* Not ours: as if this handler had never been installed. A handler
         * that was there before gets the fault itself, with its siginfo:
         * returning runs the faulting instruction again. Otherwise the
         * default action, raised now: SIGBUS stays blocked until this
         * returns, and then kills before the instruction runs again (valgrind
         * does not fault twice reliably). A fault cannot be ignored. */
        (void)sigaction(SIGBUS, &hdrmap_prev, NULL);
        if (hdrmap_is_handler(&hdrmap_prev) && si->si_code > 0) {
                return;
        }
        if (si->si_code > 0) {
                (void)sigaction(SIGBUS, &dfl, NULL);
        }
        (void)raise(sig);
}

/* Run @fn on the page at @hdr, mapped, under the guard. */
static int
hdrmap_guarded(struct tshm__hdr *hdr, tshmd_hdrmap_fn fn, void *arg)
{
        struct sigaction sa;
        volatile int rv = TSHM_EBADHDR; /* set between sigsetjmp and a jump back */

        assert(!hdrmap_active);
        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = hdrmap_on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        (void)sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &hdrmap_prev) < 0) {
                return -errno;
        }
        hdrmap_lo = (uintptr_t)hdr;
        hdrmap_hi = hdrmap_lo + TSHM_HDR_DATA_OFFSET;
        /* savemask 1: the jump out of the handler unblocks SIGBUS again. */
        if (sigsetjmp(hdrmap_env, 1) == 0) {
                hdrmap_active = 1;
                /* Keep the compiler from moving the accesses out of the
                 * window (fn is opaque here, but say so anyway). */
                __atomic_signal_fence(__ATOMIC_SEQ_CST);
                rv = fn(hdr, arg);
                __atomic_signal_fence(__ATOMIC_SEQ_CST);
                hdrmap_active = 0;
        }
        (void)sigaction(SIGBUS, &hdrmap_prev, NULL);
        return rv;
}

int
tshmd_hdrmap_run_fd(int fd, tshmd_hdrmap_fn fn, void *arg)
{
        size_t len = TSHM_HDR_DATA_OFFSET;
        struct tshm__hdr *hdr;
        struct statfs fs;
        struct stat st;
        int rv;

        /* Every object is at least the header page; one cut shorter is
         * refused here already, and one cut during the access faults into
         * the guard. */
        if (fstat(fd, &st) < 0) {
                return -errno;
        }
        if (st.st_size < (off_t)TSHM_HDR_DATA_OFFSET) {
                return TSHM_EBADHDR;
        }
        /* hugetlbfs maps whole huge pages, and unmaps only whole ones. */
        if (fstatfs(fd, &fs) == 0 && (unsigned long)fs.f_type == (unsigned long)HUGETLBFS_MAGIC &&
            fs.f_bsize > 0) {
                len = (size_t)fs.f_bsize;
        }
        hdr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (hdr == MAP_FAILED) {
                return -errno;
        }
        rv = hdrmap_guarded(hdr, fn, arg);
        (void)munmap(hdr, len);
        return rv;
}

int
tshmd_hdrmap_run(const struct tshmd_shmdir *dir, const char *objname, tshmd_hdrmap_fn fn, void *arg)
{
        int fd, rv;

        if ((fd = tshmd_shmdir_open_object(dir, objname, O_RDWR, 0)) < 0) {
                return fd;
        }
        rv = tshmd_hdrmap_run_fd(fd, fn, arg);
        (void)close(fd);
        return rv;
}
