/*
 * truncate_actors.h - the actors of the truncation tests (test_truncate_*.c):
 * processes under their own uids that tell each other what they did through
 * a shared board, and a hostile writer that speaks the protocol itself to keep
 * the O_RDWR descriptor tshmd sends, as an attacker would.
 */
#ifndef TSHM_TESTS_TRUNCATE_ACTORS_H
#define TSHM_TESTS_TRUNCATE_ACTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fixture.h"
#include "header.h"
#include "proto.h"

#define OWNER_UID 60031
#define READER_UID 60032
#define HOSTILE_UID 60033

#define ATTACK_MS 2500 /* how long each attack runs */
#define WAIT_MS 20000  /* the bound on any step that should take far less */
#define SMALL_BYTES 4096u
#define NSEGS 8          /* segments a writer holds */
#define HOLDER_ROUNDS 16 /* connections it closes with them, before it exits */

/* What the actors tell each other, in a shared anonymous mapping. */
struct board {
        uint32_t created;   /* the owner made its segments */
        uint32_t opened;    /* the hostile actor holds its descriptors */
        uint32_t attacking; /* its truncation loop runs */
        uint32_t unlinked;  /* the owner removed the names */
        uint32_t ready;     /* the reader mapped its segment */
        uint32_t stop;      /* the parent ends the loops */
        uint64_t passes;    /* the reader's passes over every page */
        uint64_t stats;     /* stream stats answered */
        uint64_t cuts;      /* truncations done */
        uint64_t absorbed;  /* faults the reader's libtshm waited out */
        uint64_t episodes;  /* and the episodes they made */
};

/* Exported by libtshm for tests, not API (client/sigbus.c, client/seg.c). */
void tshm__sigbus_stats(uint64_t *ret_absorbed, uint64_t *ret_episodes, int *ret_installed);
int tshm__seg_map_private(tshm_seg *seg, uint64_t offset, uint64_t len, void **ret_base,
                          size_t *ret_len, void **ret_data);
void tshm__seg_unmap_private(void *base, size_t len);
extern bool tshm__keep_ro_fd; /* read-only opens keep the descriptor map_private needs */

/* Milliseconds on the monotonic clock. */
uint64_t now_ms(void);

void sleep_ms(unsigned ms);

/* Wait until *@word is at least @want, up to WAIT_MS. */
bool wait_word(const uint32_t *word, uint32_t want);

struct board *board_new(void);

void post(uint32_t *word);

/* Fork an actor that runs @fn as @uid and exits with what it returns (0:
 * all went as it should). It dies with the test process. */
pid_t actor(uid_t uid, int (*fn)(const struct tshmd_fixture *, struct board *),
            const struct tshmd_fixture *f, struct board *b);

/* Whether @pid still runs (it is not reaped here). */
bool actor_running(pid_t pid);

/* Reap @pid (up to WAIT_MS, then kill it) and say whether it exited 0. */
bool actor_ok(pid_t pid, const char *who);

/* tshmd is still running (not reaped: fixture_stop does that), and serves
 * a new client. */
void assert_daemon_serves(struct tshmd_fixture *f);

int raw_connect(const char *path);

/* Send @req, receive its reply and the descriptor riding on it, if any,
 * into *@ret_fd. Returns 0, 1 for an error reply (tshmd answered), or -1
 * (the connection failed). */
int raw_call(int sock, const struct tshm__req *req, int *ret_fd);

int raw_hello(int sock);

/* An O_RDWR descriptor of @name, kept (libtshm would close it). Returns
 * it, or -2 if tshmd refused, or -1 if the connection failed. */
int raw_open_rdwr(int sock, const char *name, uint64_t id);

/* The hostile loop: every descriptor cut to nothing, then every one grown
 * back, until the parent says stop or @ms pass, so that each object is
 * empty about half of the time. Growing back is the attacker's own doing
 * (tshmd's guard does it too). */
int truncate_loop(struct board *b, const int *fds, int n, off_t size, unsigned ms);

void seg_name(char *buf, size_t len, int i);

/* The object size of a SMALL_BYTES array: the header page and the data. */
#define SMALL_OBJECT (TSHM_HDR_DATA_OFFSET + SMALL_BYTES)

#endif
