/*
 * test_truncate_reader.c - a hostile writer truncates an unlinked segment
 * under another user's reader (issue 10, class 6).
 *
 * After an unlink the name is gone, and with it the inotify event on
 * /dev/shm by which tshmd restores a resized object. A reader that still maps
 * the segment must survive a writer that truncates the unlinked object. The
 * writer keeps its O_RDWR descriptor by speaking the protocol itself
 * (truncate_actors.h). The reader also reads and writes a private
 * copy-on-write mapping of the segment (what the Python binding's tensors of
 * read-only segments view): its unwritten pages are the object's, so they
 * fault the same way and must be absorbed the same way, and its writes must
 * never reach the object.
 *
 * Each actor is its own process under its own unprivileged uid. Needs root to
 * switch identities; skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"
#include <msgpack.h>

#include "tshm.h"

#include "fixture.h"
#include "header.h"
#include "proto.h"
#include "truncate_actors.h"

/* ---- (6) an unlinked segment, still mapped, cut by its writer ---- */

#define VICTIM_BYTES (1u << 20)
#define VICTIM_OBJECT (TSHM_HDR_DATA_OFFSET + VICTIM_BYTES)
#define VICTIM_BYTE 7

static int
owner_victim(const struct tshmd_fixture *f, struct board *b)
{
        uint64_t n = VICTIM_BYTES;
        tshm_client *c;
        tshm_seg *s;
        int rv;

        if (tshm_connect(f->socket, &c) < 0 ||
            tshm_create(c, "victim", TSHM_DTYPE_UINT8, 1, &n, 0666, 0, &s) < 0) {
                return 10;
        }
        memset(tshm_seg_data(s), VICTIM_BYTE, VICTIM_BYTES);
        (void)tshm_close(s);
        post(&b->created);
        if (!wait_word(&b->ready, 1) || !wait_word(&b->opened, 1)) {
                return 11;
        }
        if ((rv = tshm_unlink(c, "victim")) < 0) {
                fprintf(stderr, "unlink: %s\n", tshm_err_name(rv));
                return 12;
        }
        post(&b->unlinked);
        tshm_disconnect(c);
        return 0;
}

#define PRIVATE_BYTE 9

/* Touches every page until told to stop. What it reads is the owner's
 * byte, or zero where a cut lost the page (restored empty): never a fault,
 * never anything else. Through its private mapping it also writes
 * PRIVATE_BYTE to every page, which the shared mapping must never show
 * (a cut may drop the private copy: then it reads the object's byte). */
static int
reader_victim(const struct tshmd_fixture *f, struct board *b)
{
        const volatile uint8_t *d;
        volatile uint8_t *p;
        void *pbase, *pdata;
        size_t plen;
        tshm_client *c;
        tshm_seg *s;
        uint64_t i;
        int installed;

        tshm__keep_ro_fd = true; /* as the Python binding sets it */
        if (!wait_word(&b->created, 1) || tshm_connect(f->socket, &c) < 0 ||
            tshm_open(c, "victim", TSHM_OPEN_RDONLY, &s) < 0 ||
            tshm__seg_map_private(s, 0, VICTIM_BYTES, &pbase, &plen, &pdata) < 0) {
                return 10;
        }
        d = tshm_seg_data(s);
        p = pdata;
        post(&b->ready);
        while (__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE) == 0) {
                for (i = 0; i < VICTIM_BYTES; i += 4096) {
                        /* One read each: a cut may change a page between
                         * two reads. */
                        uint8_t dv = d[i], pv = p[i];

                        if (dv != VICTIM_BYTE && dv != 0) {
                                fprintf(stderr, "reader: byte %llu is %u\n", (unsigned long long)i,
                                        dv);
                                return 11;
                        }
                        if (pv != VICTIM_BYTE && pv != 0 && pv != PRIVATE_BYTE) {
                                fprintf(stderr, "reader: private byte %llu is %u\n",
                                        (unsigned long long)i, pv);
                                return 13;
                        }
                        p[i] = PRIVATE_BYTE;
                }
                __atomic_fetch_add(&b->passes, 1, __ATOMIC_RELEASE);
        }
        tshm__sigbus_stats(&b->absorbed, &b->episodes, &installed);
        tshm__seg_unmap_private(pbase, plen);
        if (tshm_close(s) < 0) {
                return 12;
        }
        tshm_disconnect(c);
        return 0;
}

/* Cuts the unlinked object to nothing, again and again, and leaves the
 * restore to whoever does it. */
static int
hostile_cuts_unlinked(const struct tshmd_fixture *f, struct board *b)
{
        uint64_t deadline;
        int sock, fd;

        if (!wait_word(&b->created, 1) || (sock = raw_connect(f->socket)) < 0 ||
            raw_hello(sock) < 0 || (fd = raw_open_rdwr(sock, "victim", 2)) < 0) {
                return 10;
        }
        post(&b->opened);
        if (!wait_word(&b->unlinked, 1)) {
                return 11;
        }
        post(&b->attacking);
        deadline = now_ms() + ATTACK_MS;
        while (now_ms() < deadline) {
                if (ftruncate(fd, 0) < 0) {
                        return 12;
                }
                __atomic_fetch_add(&b->cuts, 1, __ATOMIC_RELAXED);
                sleep_ms(50);
        }
        return 0;
}

START_TEST(test_truncate_unlinked_under_reader)
{
        struct tshmd_fixture f;
        struct board *b = board_new();
        pid_t owner, reader, hostile;
        uint64_t passes, deadline;

        fixture_start(&f, NULL);
        owner = actor(OWNER_UID, owner_victim, &f, b);
        reader = actor(READER_UID, reader_victim, &f, b);
        hostile = actor(HOSTILE_UID, hostile_cuts_unlinked, &f, b);
        ck_assert(actor_ok(owner, "owner"));
        ck_assert(actor_ok(hostile, "hostile"));
        /* The reader keeps going past the last cut: two more passes. */
        passes = __atomic_load_n(&b->passes, __ATOMIC_ACQUIRE);
        deadline = now_ms() + WAIT_MS;
        while (__atomic_load_n(&b->passes, __ATOMIC_ACQUIRE) < passes + 2 && now_ms() < deadline &&
               actor_running(reader)) {
                sleep_ms(5);
        }
        __atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
        ck_assert_msg(actor_ok(reader, "reader"),
                      "the reader of an unlinked segment did not survive its truncation");
        printf("truncate (6): %llu truncations of the unlinked object; the reader made %llu "
               "passes and waited out %llu faults in %llu episodes\n",
               (unsigned long long)b->cuts, (unsigned long long)b->passes,
               (unsigned long long)b->absorbed, (unsigned long long)b->episodes);
        /* The reader may meet no cut page at all when tshmd restores fast
         * (without the restore it meets the first cut for certain and dies):
         * the count is reported, not asserted. */
        assert_daemon_serves(&f);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: the hostile actors need root to switch uids\n");
                return 0;
        }
        s = suite_create("truncate_reader");
        tshm_test_case(s, "hostile", 120, TSHM_TESTS(test_truncate_unlinked_under_reader));
        return tshm_test_run(s);
}
