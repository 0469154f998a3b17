/*
 * fixture.h - start a real tshmd for a test: its own temporary directory,
 * socket and shm prefix, readiness through a NOTIFY_SOCKET the test owns,
 * and a teardown that requires a clean exit.
 */
#ifndef TSHM_TEST_FIXTURE_H
#define TSHM_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tshm.h"

struct tshmd_fixture {
        char dir[64];
        char socket[128];
        char prefix[32];
        char log[128];
        char state[128]; /* its --state-dir: <dir>/state, made by tshmd */
        pid_t pid;
        unsigned nofile; /* if set, tshmd's descriptor limit (soft and hard) */
};

/* Start tshmd with @extra arguments (NULL-terminated, may be NULL). Aborts
 * the test (ck_abort) if it does not report READY=1 within 10 s. */
void fixture_start(struct tshmd_fixture *f, const char *const *extra);
/* The same with a descriptor limit for tshmd. */
void fixture_start_nofile(struct tshmd_fixture *f, const char *const *extra, unsigned nofile);
/* Make the directory and choose the names, without starting tshmd (start it
 * with fixture_restart()). */
void fixture_prepare(struct tshmd_fixture *f);
/* Start another tshmd on the same directory and prefix (a restart). */
void fixture_restart(struct tshmd_fixture *f, const char *const *extra);
/* Run another tshmd on the same directory, prefix and state directory, with
 * @extra arguments, that must fail to start: asserts that it exits non-zero
 * within 10 s without reporting READY=1, and returns its stderr (in a static
 * buffer). @socket: its --socket (NULL: the fixture's). */
const char *fixture_start_fails(const struct tshmd_fixture *f, const char *socket,
                                const char *const *extra);
/* SIGTERM, reap, and assert exit 0 and no sanitizer report in its log. */
void fixture_stop(struct tshmd_fixture *f);
/* Stop, then remove the shm objects under the prefix and the directory. */
void fixture_teardown(struct tshmd_fixture *f);
/* A file whose tests each get a daemon of their own, with default options:
 * the static fixture @f, and the setup() and teardown() to hand check. */
#define FIXTURE_PER_TEST(f)                                                                        \
        static struct tshmd_fixture f;                                                             \
        static void setup(void)                                                                    \
        {                                                                                          \
                fixture_start(&(f), NULL);                                                         \
        }                                                                                          \
        static void teardown(void)                                                                 \
        {                                                                                          \
                fixture_teardown(&(f));                                                            \
        }
/* Connect a client, asserting success. */
tshm_client *fixture_connect(const struct tshmd_fixture *f);
/* Count the segment objects under the fixture's prefix in /dev/shm. */
int fixture_count_objects(const struct tshmd_fixture *f);
/* The field @key ("Rss", "ShmemPmdMapped", ...) of this process's
 * /proc/self/smaps entry for the mapping that holds @addr, in bytes; fails
 * the test if there is none. */
uint64_t fixture_smaps_bytes(const void *addr, const char *key);
/* Wait up to 5 s for @name's open count to become @opens. */
bool fixture_wait_opens(tshm_client *c, const char *name, uint32_t opens);

#endif
