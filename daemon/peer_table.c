/*
 * peer_table.c - the table of outgoing mirrors: what the main loop asks for
 * (tshmd_peer_mirror_add/remove, the ops of ops_mirror.c), saved in the
 * state directory and read back at start; the peer thread follows it
 * (peer.c, peer_reconcile). Also the snapshot of every mirror's info that
 * `tshm mirror --list` and `tshm ls` show. All under the peers' lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "peer_int.h"
#include "tshmd.h"

/* The table of outgoing mirrors, saved as lines "name peer remote". */

static int
peer_cfg_save(struct tshmd_peers *p)
{
        char tmp[80];
        FILE *f = peer_state_begin(p, p->state_file, tmp, sizeof(tmp));

        if (f == NULL) {
                return -errno;
        }
        for (size_t i = 0; i < p->ncfg; i++) {
                const struct peer_cfg *c = &p->cfg[i];
                fprintf(f, "%s %s %s %u %u", c->name, c->peer, c->remote, c->uid, c->gid);
                for (uint32_t g = 0; g < c->ngroups; g++) {
                        fprintf(f, " %u", c->groups[g]);
                }
                fputc('\n', f);
        }
        return peer_state_commit(p, f, tmp, p->state_file);
}

static int
peer_cfg_append(struct tshmd_peers *p, const struct peer_cfg *add)
{
        struct peer_cfg *c;

        if (p->ncfg >= PEER_MAX_MIRRORS) {
                return TSHM_ELIMIT;
        }
        c = realloc(p->cfg, (p->ncfg + 1) * sizeof(*c));
        if (c == NULL) {
                return TSHM_ENOMEM;
        }
        p->cfg = c;
        p->cfg[p->ncfg++] = *add;
        return 0;
}

/* Parse one saved line "name peer remote uid gid [group...]" into @c. */
static bool
peer_cfg_parse(char *line, struct peer_cfg *c)
{
        char host[TSHM_PEER_MAX + 1], port[8], *tok, *save = NULL, *end;
        unsigned long v[2 + PEER_MAX_GROUPS];
        unsigned n = 0;

        memset(c, 0, sizeof(*c));
        if ((tok = strtok_r(line, " \n", &save)) == NULL ||
            snprintf(c->name, sizeof(c->name), "%s", tok) >= (int)sizeof(c->name) ||
            (tok = strtok_r(NULL, " \n", &save)) == NULL ||
            snprintf(c->peer, sizeof(c->peer), "%s", tok) >= (int)sizeof(c->peer) ||
            (tok = strtok_r(NULL, " \n", &save)) == NULL ||
            snprintf(c->remote, sizeof(c->remote), "%s", tok) >= (int)sizeof(c->remote)) {
                return false;
        }
        while ((tok = strtok_r(NULL, " \n", &save)) != NULL && n < 2 + PEER_MAX_GROUPS) {
                errno = 0;
                v[n] = strtoul(tok, &end, 10);
                if (errno != 0 || *end != '\0' || v[n] > UINT32_MAX) {
                        return false;
                }
                n++;
        }
        if (n < 2 || tok != NULL || tshm_name_check(c->name) < 0 ||
            tshm_name_check(c->remote) < 0 ||
            peer_addr_split(c->peer, host, sizeof(host), port, sizeof(port)) < 0) {
                return false;
        }
        c->uid = (uint32_t)v[0];
        c->gid = (uint32_t)v[1];
        for (unsigned i = 2; i < n; i++) {
                c->groups[c->ngroups++] = (uint32_t)v[i];
        }
        return true;
}

/* Read the saved table; lines that do not parse are logged and skipped. */
void
peer_cfg_load(struct tshmd_peers *p)
{
        char line[2048];
        struct peer_cfg c;
        FILE *f;
        int fd = openat(p->state_fd, p->state_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
                if (fd >= 0) {
                        (void)close(fd);
                }
                return;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
                if (!peer_cfg_parse(line, &c) || peer_cfg_append(p, &c) < 0) {
                        tshmd_log(LOG_WARNING, "peer: skipping a saved mirror that does not parse");
                        continue;
                }
                tshmd_log(LOG_INFO, "peer: resuming the mirror of '%s' to %s as '%s'", c.name,
                          c.peer, c.remote);
        }
        (void)fclose(f);
}

/* The main loop's calls */

int
tshmd_peer_mirror_add(struct tshmd_server *srv, const struct tshmd_peer *who, const char *name,
                      const char *peer, const char *remote, char *err, size_t errlen)
{
        struct tshmd_peers *p = srv->peers;
        char host[TSHM_PEER_MAX + 1], port[8];
        struct peer_cfg c = {.uid = who->uid, .gid = who->gid};
        int rv = 0;

        if (p == NULL) {
                snprintf(err, errlen, "this daemon has no --peer-secret: mirrors are off");
                return TSHM_ENOTSUP;
        }
        if (peer_addr_split(peer, host, sizeof(host), port, sizeof(port)) < 0) {
                snprintf(err, errlen, "'%s' is not HOST:PORT (or [IPV6]:PORT)", peer);
                return TSHM_EINVAL;
        }
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->ncfg; i++) {
                if (strcmp(p->cfg[i].name, name) == 0) {
                        snprintf(err, errlen, "'%s' is mirrored already (to %s as '%s')", name,
                                 p->cfg[i].peer, p->cfg[i].remote);
                        rv = TSHM_EEXIST;
                        break;
                }
        }
        snprintf(c.name, sizeof(c.name), "%s", name);
        snprintf(c.peer, sizeof(c.peer), "%s", peer);
        snprintf(c.remote, sizeof(c.remote), "%s",
                 remote != NULL && *remote != '\0' ? remote : name);
        for (uint32_t g = 0; g < who->ngroups && c.ngroups < PEER_MAX_GROUPS; g++) {
                c.groups[c.ngroups++] = who->groups[g];
        }
        if (rv == 0 && (rv = peer_cfg_append(p, &c)) < 0) {
                snprintf(err, errlen, "cannot add a mirror: %s", tshm_strerror(rv));
        }
        if (rv == 0) {
                int sv = peer_cfg_save(p);
                if (sv < 0) {
                        tshmd_log(LOG_WARNING,
                                  "peer: cannot save the mirrors (%s): this one will not "
                                  "survive a restart",
                                  strerror(-sv));
                }
                p->cfg_changed = true;
        }
        pthread_mutex_unlock(&p->lock);
        if (rv == 0) {
                tshmd_log(LOG_INFO, "peer: mirroring '%s' to %s", name, peer);
                peer_ring(p);
        }
        return rv;
}

int
tshmd_peer_mirror_remove(struct tshmd_server *srv, const struct tshmd_peer *who, bool any,
                         const char *name, char *err, size_t errlen)
{
        struct tshmd_peers *p = srv->peers;
        int rv = TSHM_ENOENT;

        if (p == NULL) {
                snprintf(err, errlen, "this daemon has no --peer-secret: mirrors are off");
                return TSHM_ENOTSUP;
        }
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->ncfg; i++) {
                if (strcmp(p->cfg[i].name, name) != 0) {
                        continue;
                }
                /* A reader may not stop what another reader started. */
                if (!any && p->cfg[i].uid != who->uid) {
                        snprintf(err, errlen,
                                 "'%s' is mirrored by uid %u: only that user, the owner or root "
                                 "may stop it",
                                 name, p->cfg[i].uid);
                        rv = TSHM_EACCES;
                        break;
                }
                p->cfg[i] = p->cfg[--p->ncfg];
                p->cfg_changed = true;
                rv = 0;
                break;
        }
        if (rv == 0) {
                (void)peer_cfg_save(p);
        } else if (rv == TSHM_ENOENT) {
                snprintf(err, errlen, "'%s' is not mirrored", name);
        }
        pthread_mutex_unlock(&p->lock);
        if (rv == 0) {
                tshmd_log(LOG_INFO, "peer: stopped mirroring '%s'", name);
                peer_ring(p);
        }
        return rv;
}

int
tshmd_peer_mirror_snapshot(struct tshmd_server *srv, tshm_mirror_info **ret, size_t *ret_count)
{
        struct tshmd_peers *p = srv->peers;
        tshm_mirror_info *v = NULL;
        size_t n = 0, cap = 0;
        int rv = 0;

        *ret = NULL;
        *ret_count = 0;
        if (p == NULL) {
                return 0;
        }
        pthread_mutex_lock(&p->lock);
        for (struct mirror_out *m = p->outs; m != NULL; m = m->next) {
                cap += !m->stop;
        }
        for (struct mirror_in *m = p->ins; m != NULL; m = m->next) {
                cap += m->info.name[0] != '\0';
        }
        if (cap > 0 && (v = calloc(cap, sizeof(*v))) == NULL) {
                rv = TSHM_ENOMEM;
        }
        for (struct mirror_out *m = p->outs; v != NULL && m != NULL; m = m->next) {
                if (!m->stop) {
                        v[n++] = m->info;
                }
        }
        for (struct mirror_in *m = p->ins; v != NULL && m != NULL; m = m->next) {
                if (m->info.name[0] != '\0') {
                        v[n++] = m->info;
                }
        }
        pthread_mutex_unlock(&p->lock);
        *ret = v;
        *ret_count = n;
        return rv;
}
