/*
 * main.c - tshmd's main(): settings, daemonising, and the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

/* Fork into the background. The parent waits until the child is serving (or
 * failed) and exits with that verdict, so "tshmd && tshm ls" works. Returns
 * the write end of the readiness pipe in the child. */
static int
daemonize(void)
{
        int p[2];
        char ok = 0;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0) {
                perror("tshmd: pipe");
                exit(1);
        }
        pid = fork();
        if (pid < 0) {
                perror("tshmd: fork");
                exit(1);
        }
        if (pid > 0) {
                (void)close(p[1]);
                exit(read(p[0], &ok, 1) == 1 && ok == 1 ? 0 : 1);
        }
        (void)close(p[0]);
        (void)setsid();
        return p[1];
}

static void
detach_stdio(void)
{
        int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

        if (fd >= 0) {
                (void)dup2(fd, STDIN_FILENO);
                (void)dup2(fd, STDOUT_FILENO);
                (void)dup2(fd, STDERR_FILENO);
                (void)close(fd);
        }
}

/* One descriptor per client: take the hard limit, not the 1024 soft one. */
static void
raise_fd_limit(void)
{
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int
main(int argc, char **argv)
{
        struct tshmd_config cfg;
        struct tshmd_server srv;
        uv_loop_t *loop;
        int ready_fd = -1, rv;
        char one = 1, status[200];

        /* libuv allocates through tshm's allocator too (alloc.h); it must be
         * told before it allocates anything, so before any loop exists. */
        (void)uv_replace_allocator(tshm__malloc, tshm__realloc, tshm__calloc, tshm__free);
        loop = uv_default_loop();
        tshmd_config_defaults(&cfg);
        rv = tshmd_config_parse_args(&cfg, argc, argv);
        if (rv != 0) {
                return rv > 0 ? 0 : 2;
        }
        (void)signal(SIGPIPE, SIG_IGN);
        raise_fd_limit();
        if (!cfg.foreground) {
                ready_fd = daemonize();
        }
        tshmd_log_init(cfg.log_level, false);
        if (tshmd_server_start(&srv, loop, &cfg) < 0) {
                tshmd_log(LOG_ERR, "startup failed");
                return 1;
        }
        tshmd_log(LOG_NOTICE, "tshmd %s listening on %s, prefix '%s', %llu segments",
                  tshm_version_string(), srv.socket_path, cfg.shm_prefix,
                  (unsigned long long)srv.reg.segments);
        /* systemctl status shows the STATUS= line. */
        (void)snprintf(status, sizeof(status), "READY=1\nSTATUS=serving on %s, %llu segments",
                       srv.socket_path, (unsigned long long)srv.reg.segments);
        (void)tshmd_notify(status);
        if (ready_fd >= 0) {
                detach_stdio();
                tshmd_log_init(cfg.log_level, true);
                /* If the parent is gone there is nobody to tell. */
                if (write(ready_fd, &one, 1) != 1) {
                        tshmd_log(LOG_DEBUG, "nobody waits for readiness");
                }
                (void)close(ready_fd);
        }
        rv = uv_run(loop, UV_RUN_DEFAULT);
        tshmd_log(LOG_NOTICE, "stopped; %llu segments kept", (unsigned long long)srv.reg.segments);
        tshmd_registry_done(&srv.reg);
        tshmd_state_close(&srv);
        (void)uv_loop_close(loop);
        return rv == 0 ? 0 : 1;
}
