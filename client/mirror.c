/*
 * mirror.c - mirrors: ask the daemon to keep a segment in step with a peer
 * daemon's copy, stop it, and list the mirrors (PROTOCOL.md, ops mirror and
 * mirrors; docs/remote.md).
 */
#include <pthread.h>
#include <string.h>

#include "tshm.h"

#include "internal.h"
#include "proto.h"

int
tshm_mirror_start(tshm_client *c, const char *name, const char *peer, const char *remote)
{
        struct tshm__req req = {.op = TSHM_OP_MIRROR};

        if (c == NULL || peer == NULL || !tshm__peer_check(peer)) {
                return TSHM_EINVAL;
        }
        if (remote != NULL) {
                if (tshm_name_check(remote) < 0) {
                        return TSHM_EBADNAME;
                }
                memcpy(req.remote, remote, strlen(remote) + 1);
        }
        memcpy(req.peer, peer, strlen(peer) + 1);
        return tshm__client_name_call(c, &req, name);
}

int
tshm_mirror_stop(tshm_client *c, const char *name)
{
        struct tshm__req req = {.op = TSHM_OP_MIRROR, .stop = true};

        if (c == NULL) {
                return TSHM_EINVAL;
        }
        return tshm__client_name_call(c, &req, name);
}

int
tshm_mirror_list(tshm_client *c, tshm_mirror_info **ret_mirrors, size_t *ret_count)
{
        struct tshm__req req = {.op = TSHM_OP_MIRRORS};
        struct tshm__reply reply;
        int rv;

        if (c == NULL || ret_mirrors == NULL || ret_count == NULL) {
                return TSHM_EINVAL;
        }
        (void)pthread_mutex_lock(&c->lock);
        if ((rv = tshm__client_call(c, &req, &reply, NULL)) == 0) {
                *ret_mirrors = reply.mirrors;
                *ret_count = reply.nmirrors;
        }
        (void)pthread_mutex_unlock(&c->lock);
        return rv;
}

void
tshm_mirror_list_free(tshm_mirror_info *mirrors)
{
        tshm__free(mirrors);
}

const char *
tshm_mirror_state_name(uint32_t state)
{
        static const char *const names[] = {"connecting", "live", "stale", "failed"};

        return state < sizeof(names) / sizeof(names[0]) ? names[state] : NULL;
}
