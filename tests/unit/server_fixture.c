/*
 * server_fixture.c - see server_fixture.h.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <check.h>

#include "server_fixture.h"

void
server_fixture_init(struct tshmd_server *srv, struct tshmd_config *cfg, uv_loop_t *loop,
                    const char *tag)
{
        char err[640];

        tshmd_log_init(LOG_CRIT, false);
        tshmd_config_defaults(cfg);
        (void)snprintf(cfg->shm_prefix, sizeof(cfg->shm_prefix), "tshm-test-%s-%d", tag,
                       (int)getpid());
        memset(srv, 0, sizeof(*srv));
        ck_assert_int_eq(uv_loop_init(loop), 0);
        srv->loop = loop;
        srv->cfg = cfg;
        srv->guard_fd = srv->state_fd = srv->lock_fd = srv->listen_fd = -1;
        ck_assert_msg(tshmd_shmdir_open(&srv->shm, "", err, sizeof(err)) == 0, "%s", err);
        tshmd_registry_init(&srv->reg);
        tshmd_registry_on_free(&srv->reg, tshmd_guard_forget);
        tshmd_stream_init(&srv->reg);
}

void
server_fixture_done(struct tshmd_server *srv, uv_loop_t *loop)
{
        struct tshmd_seg *seg, *tmp;

        HASH_ITER(hh, srv->reg.by_name, seg, tmp)
        {
                char objname[128];

                tshmd_seg_objname(srv, seg, objname, sizeof(objname));
                (void)tshmd_shm_unlink(&srv->shm, objname);
        }
        tshmd_registry_done(&srv->reg);
        tshmd_shmdir_close(&srv->shm);
        ck_assert_int_eq(uv_loop_close(loop), 0);
}
