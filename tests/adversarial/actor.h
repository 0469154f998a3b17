/*
 * actor.h - what the parts of tshm-adv-actor share: the helpers every move
 * needs (clocks, the connection, the raw open request that keeps the
 * descriptor) and one entry point per command verb.
 *
 *   actor.c         usage, main and the verb table; the shared helpers
 *   actor_fd.c      fd: a kept descriptor, truncated and its header written
 *   actor_memory.c  churn, fill-subtable, plant: shared memory attacked
 *   actor_proto.c   pipeline: raw protocol requests, replies never read
 *   actor_victim.c  victim-wait, victim-take: the C reader under attack
 *   actor_group.c   group-*: tensor groups made, held, rewritten and read
 *
 * Each command gets the daemon's socket path as an argument (no global) and
 * its own arguments after the verb; it returns the process's exit status.
 */
#ifndef TSHM_ADV_ACTOR_H
#define TSHM_ADV_ACTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "tshm.h"

/* CLOCK_MONOTONIC in ns; this process's CPU time (user + system) in s. */
uint64_t actor_mono_ns(void);
double actor_cpu_s(void);
void actor_nap_us(long us);
/* Connect to @sock, or exit 3. */
int actor_connect(const char *sock, tshm_client **ret_c);
/* The open request, keeping the descriptor libtshm would have closed; and
 * the close request for its handle. */
int actor_raw_open(tshm_client *c, const char *name, bool writable, uint64_t *ret_handle,
                   int *ret_fd);
int actor_raw_close(tshm_client *c, uint64_t handle);

int actor_cmd_fd(const char *sock, int argc, char **argv);
int actor_cmd_churn(const char *sock, int argc, char **argv);
int actor_cmd_fill_subtable(const char *sock, int argc, char **argv);
int actor_cmd_zero_sleepers(const char *sock, int argc, char **argv);
int actor_cmd_victim_frames(const char *sock, int argc, char **argv);
int actor_cmd_pipeline(const char *sock, int argc, char **argv);
int actor_cmd_plant(const char *sock, int argc, char **argv);
int actor_cmd_victim_wait(const char *sock, int argc, char **argv);
int actor_cmd_victim_take(const char *sock, int argc, char **argv);
int actor_cmd_group_make(const char *sock, int argc, char **argv);
int actor_cmd_group_hold(const char *sock, int argc, char **argv);
int actor_cmd_group_scribble(const char *sock, int argc, char **argv);
int actor_cmd_group_victim(const char *sock, int argc, char **argv);
int actor_cmd_group_try(const char *sock, int argc, char **argv);

#endif
