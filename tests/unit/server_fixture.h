/*
 * server_fixture.h - a tshmd server with no socket, no state directory and
 * no guard, on /dev/shm under a prefix of its own: what the handler tests
 * (ops_fixture.c) and the out-of-memory walk (test_oom.c) run handlers on.
 */
#ifndef TSHM_TEST_SERVER_FIXTURE_H
#define TSHM_TEST_SERVER_FIXTURE_H

#include "tshmd.h"

/* Fill @cfg with the defaults and the prefix "tshm-test-<tag>-<pid>", and
 * @srv as tshmd_server_start() would, on @loop. */
void server_fixture_init(struct tshmd_server *srv, struct tshmd_config *cfg, uv_loop_t *loop,
                         const char *tag);
/* Remove what its segments left in /dev/shm, free the registry, close the
 * directory and the loop. */
void server_fixture_done(struct tshmd_server *srv, uv_loop_t *loop);

#endif
