/*
 * peer.h - mirrors: segments kept in step between this daemon and other
 * hosts' daemons over UCX (docs/remote.md).
 *
 * One thread of its own (the peer thread) owns UCX and every mirror: it
 * listens for peers (--peer-listen), connects to them, authenticates both
 * ways with the shared secret (--peer-secret), and moves versions and
 * frames. It reads sources and writes copies as a libtshm client of this
 * daemon (a connection from our own process, which conn.c gives root's
 * rights: the checks that matter are made here and in ops_mirror.c on the
 * requester's credentials, before the peer thread acts).
 *
 * The main loop talks to it only through the calls below, each safe from
 * the loop's thread and none blocking on the network.
 */
#ifndef TSHMD_PEER_H
#define TSHMD_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include "tshm.h"

struct tshmd_server;

/* Start the peer thread if the configuration asks for peers (a
 * --peer-secret; a --peer-listen too, to receive), and resume the mirrors
 * saved in the state directory. Returns 0 (also when no peers are
 * configured: srv->peers stays NULL), or a negative code after logging why
 * (a secret file that is missing, unsafe or too short, an address that does
 * not parse or bind). */
int tshmd_peer_start(struct tshmd_server *srv);

/* Stop the peer thread and free everything (mirrors stay saved). NULL-safe
 * on srv->peers. */
void tshmd_peer_stop(struct tshmd_server *srv);

/* Take on a mirror of @name to @peer as @remote for @who (ops_mirror.c
 * checked @who may read @name; the peer thread checks it again, on @who's
 * uid and groups as they were, each time it opens the source: a name
 * unlinked and made again by someone else is not sent); saved in the state
 * directory. Returns 0, or
 * TSHM_ENOTSUP (no peers configured), TSHM_EEXIST (@name is mirrored
 * already), TSHM_EINVAL (@peer does not parse), TSHM_ELIMIT, TSHM_ENOMEM;
 * a reason in @err. */
struct tshmd_peer;
int tshmd_peer_mirror_add(struct tshmd_server *srv, const struct tshmd_peer *who, const char *name,
                          const char *peer, const char *remote, char *err, size_t errlen);

/* Stop the outgoing mirror of @name, on behalf of @who: the user who
 * started it, or anyone when @any (root, the daemon's user, the source's
 * owner). Returns 0, TSHM_ENOENT, TSHM_EACCES or TSHM_ENOTSUP. */
int tshmd_peer_mirror_remove(struct tshmd_server *srv, const struct tshmd_peer *who, bool any,
                             const char *name, char *err, size_t errlen);

/* A snapshot of every mirror, outgoing and incoming, in *ret (free() it;
 * NULL if none) and *ret_count. Returns 0 or TSHM_ENOMEM. With no peers
 * configured: 0 and none. */
int tshmd_peer_mirror_snapshot(struct tshmd_server *srv, tshm_mirror_info **ret, size_t *ret_count);

#endif
