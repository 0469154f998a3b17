/*
 * ops_fixture.h - the fixture of the op handler tests (test_ops_*.c): a
 * server with no socket, sessions with forged credentials, and helpers that
 * run a handler and decode its reply as a client would.
 */
#ifndef TSHM_TEST_OPS_FIXTURE_H
#define TSHM_TEST_OPS_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <check.h>

#include "tshmd.h"

#define OWNER 1000u
#define OTHER 2000u
#define MEMBER 3000u /* in OWNER's group */

extern struct tshmd_config cfg;
extern struct tshmd_server srv;
extern uv_loop_t loop;
extern const struct tshmd_peer owner, other, member, root;

/* What an off-loop create handed in (the session's complete callback). */
struct ops_done {
        int calls;
        int rv;
        struct tshm__reply r;
        int fd;
};
extern struct ops_done done;

void setup(void);
void teardown(void);
/* The session's complete callback: records into done. */
void on_complete(struct tshmd_session *ses, int rv, struct tshmd_reply *rep);
/* Encode @rep as conn.c does and decode the frame as libtshm does. */
void decode(struct tshmd_reply *rep, int rv, uint32_t op, struct tshm__reply *out, int *ret_fd);
/* Run @fn for @ses and keep its typed reply in @rep (the caller disposes of
 * it). Returns what the handler returned. */
int handle(tshmd_handler_fn fn, struct tshmd_session *ses, const struct tshm__req *req,
           struct tshmd_reply *rep);
/* Run @fn for @ses; the decoded reply in @out, its descriptor in *ret_fd
 * (NULL: closed). Returns what the handler returned. */
int run(tshmd_handler_fn fn, struct tshmd_session *ses, const struct tshm__req *req,
        struct tshm__reply *out, int *ret_fd);
struct tshm__req req_create(const char *name, uint64_t n, uint32_t mode);
struct tshm__req req_named(uint32_t op, const char *name);
/* Create @name (small: on the loop) for @ses; returns its handle. */
uint64_t make(struct tshmd_session *ses, const char *name, uint32_t mode);

#endif
