/*
 * test_hdrmap.c - tshmd's guarded access to a header page that a client can
 * truncate under it (daemon/hdrmap.c): a cut during the access is an error,
 * not a SIGBUS; every other SIGBUS stays fatal.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshmd.h"

/* Under AddressSanitizer a SIGBUS that is not ours goes to ASan's handler
 * (installed before ours), which reports it and aborts instead of dying by
 * SIGBUS. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(UNDER_ASAN)
#define UNDER_ASAN 1
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define OBJ_BYTES (TSHM_HDR_DATA_OFFSET + 4096u)

static int
obj_new(off_t size)
{
        int fd = memfd_create("hdrmap-test", MFD_CLOEXEC);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, size), 0);
        return fd;
}

/* Stores a seq of 42 and returns 5. */
static int
hdrmap_store(struct tshm__hdr *hdr, void *arg)
{
        (void)arg;
        __atomic_store_n(&hdr->seq, 42, __ATOMIC_SEQ_CST);
        return 5;
}

/* Cuts the object behind *@arg, as a hostile writer would in the middle of
 * tshmd's access, then touches the page. */
static int
hdrmap_cut_then_touch(struct tshm__hdr *hdr, void *arg)
{
        if (ftruncate(*(int *)arg, 0) < 0) {
                return -1;
        }
        __atomic_fetch_add(&hdr->wake, 1, __ATOMIC_SEQ_CST);
        return 0;
}

START_TEST(test_hdrmap_runs_and_returns)
{
        int fd = obj_new(OBJ_BYTES);
        uint64_t seq = 0;

        ck_assert_int_eq(tshmd_hdrmap_run_fd(fd, hdrmap_store, NULL), 5);
        ck_assert_int_eq(pread(fd, &seq, sizeof(seq), offsetof(struct tshm__hdr, seq)),
                         (ssize_t)sizeof(seq));
        ck_assert_uint_eq(seq, 42);
        (void)close(fd);
}
END_TEST

START_TEST(test_hdrmap_cut_during_access_is_an_error)
{
        struct sigaction before, now;
        int fd = obj_new(OBJ_BYTES), i;

        ck_assert_int_eq(sigaction(SIGBUS, NULL, &before), 0);

        for (i = 0; i < 3; i++) {
                ck_assert_int_eq(tshmd_hdrmap_run_fd(fd, hdrmap_cut_then_touch, &fd), TSHM_EBADHDR);
                /* Restored, it works again: the guard is set up afresh. */
                ck_assert_int_eq(ftruncate(fd, OBJ_BYTES), 0);
                ck_assert_int_eq(tshmd_hdrmap_run_fd(fd, hdrmap_store, NULL), 5);
        }
        /* Outside an access, SIGBUS is back to what it was (SIG_DFL, or
         * ASan's handler). */
        ck_assert_int_eq(sigaction(SIGBUS, NULL, &now), 0);
        ck_assert_ptr_eq((void *)now.sa_handler, (void *)before.sa_handler);
        (void)close(fd);
}
END_TEST

START_TEST(test_hdrmap_short_object_is_refused)
{
        struct tshmd_shmdir dir;
        int fd = obj_new(100);
        char err[640];

        ck_assert_int_eq(tshmd_hdrmap_run_fd(fd, hdrmap_store, NULL), TSHM_EBADHDR);
        (void)close(fd);
        ck_assert_msg(tshmd_shmdir_open(&dir, "", err, sizeof(err)) == 0, "%s", err);
        ck_assert_int_eq(
            tshmd_hdrmap_run(&dir, "/tshm-hdrmap-test-no-such-object", hdrmap_store, NULL),
            -ENOENT);
        tshmd_shmdir_close(&dir);
}
END_TEST

/* A fault during a guarded access, but on another mapping. */
static int
hdrmap_touch_elsewhere(struct tshm__hdr *hdr, void *arg)
{
        (void)hdr;
        return *(volatile uint8_t *)arg;
}

/* A SIGBUS sent during a guarded access. */
static int
hdrmap_raise(struct tshm__hdr *hdr, void *arg)
{
        (void)hdr;
        (void)arg;
        (void)kill(getpid(), SIGBUS);
        return 0;
}

/* Run @fn under the guard in a child and return its wait status. */
static int
hdrmap_child(tshmd_hdrmap_fn fn, bool elsewhere)
{
        int status = 0;
        pid_t pid = tshm_test_fork();

        if (pid == 0) {
                int fd = obj_new(OBJ_BYTES), other = obj_new(8192);
                uint8_t *p = mmap(NULL, 8192, PROT_READ, MAP_SHARED, other, 0);

                if (p == MAP_FAILED || ftruncate(other, 0) < 0) {
                        _exit(2);
                }
                (void)tshmd_hdrmap_run_fd(fd, fn, elsewhere ? (void *)(p + 4096) : NULL);
                _exit(0);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return status;
}

START_TEST(test_hdrmap_other_sigbus_stays_fatal)
{
        int status = hdrmap_child(hdrmap_touch_elsewhere, true);

        ck_assert_msg((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
                          (UNDER_ASAN && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)),
                      "a fault outside the guarded page did not kill: status %#x", status);
        status = hdrmap_child(hdrmap_raise, false);
        ck_assert_msg((WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS) ||
                          (UNDER_ASAN && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)),
                      "a SIGBUS sent during an access did not kill: status %#x", status);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("hdrmap");

        tshm_test_case(
            s, "hdrmap", 0,
            TSHM_TESTS(test_hdrmap_runs_and_returns, test_hdrmap_cut_during_access_is_an_error,
                       test_hdrmap_short_object_is_refused, test_hdrmap_other_sigbus_stays_fatal));
        return tshm_test_run(s);
}
