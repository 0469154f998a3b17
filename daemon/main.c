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

/* Whether the service manager handed us a listening socket: LISTEN_FDS set,
 * and LISTEN_PID naming this very process. Asked before daemonize(), whose
 * child has another pid; server.c takes the socket (fd 3) afterwards. */
static bool
main_socket_activated(void)
{
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");

        return pid != NULL && fds != NULL && strtol(pid, NULL, 10) == (long)getpid() &&
               strtol(fds, NULL, 10) >= 1;
}

/* After the fork, the socket the manager passed (inherited as fd 3 like
 * every descriptor) is this child's: say so, or server.c would see a
 * LISTEN_PID that is not ours and bind the default path instead. */
static void
main_keep_activation(void)
{
        char pid[24];

        (void)snprintf(pid, sizeof(pid), "%ld", (long)getpid());
        if (setenv("LISTEN_PID", pid, 1) < 0) {
                perror("tshmd: setenv LISTEN_PID");
                exit(1);
        }
}

/* A user other than root, with no socket given and no XDG_RUNTIME_DIR (a
 * su or sudo shell, cron, a container), would fall back to the system
 * socket in /run/tshm and fail on its permissions with nothing to say what
 * to do. Say it before anything starts. Returns false if so. */
static bool
main_socket_path_usable(const struct tshmd_config *cfg)
{
        const char *env = getenv("TSHM_SOCKET"), *xdg = getenv("XDG_RUNTIME_DIR");
        uid_t uid = geteuid();

        if (cfg->socket_path[0] != '\0' || (env != NULL && env[0] != '\0') || uid == 0 ||
            (xdg != NULL && xdg[0] != '\0')) {
                return true;
        }
        /* A user who may make the socket there (a member of a group the
         * administrator gave /run/tshm to) may use it. */
        if (faccessat(AT_FDCWD, "/run/tshm", W_OK | X_OK, AT_EACCESS) == 0) {
                return true;
        }
        fprintf(stderr,
                "tshmd: no socket to listen on: XDG_RUNTIME_DIR is not set, so the default is\n"
                "the system daemon's /run/tshm/tshm.sock, which uid %u may not create.\n"
                "Do one of these:\n"
                "  - run it in a login session, which sets XDG_RUNTIME_DIR (or set it to a\n"
                "    directory of your own, e.g. XDG_RUNTIME_DIR=/run/user/%u);\n"
                "  - pass --socket PATH (clients then need TSHM_SOCKET=PATH or --socket PATH);\n"
                "  - use the system service instead: systemctl enable --now tshmd.socket\n"
                "    (as root), then join the group tshm to talk to it.\n",
                (unsigned)uid, (unsigned)uid);
        return false;
}

int
main(int argc, char **argv)
{
        struct tshmd_config cfg;
        struct tshmd_server srv;
        uv_loop_t *loop;
        int ready_fd = -1, rv;
        char one = 1, status[200];
        bool activated;

        /* libuv allocates through tshm's allocator too (alloc.h); it must be
         * told before it allocates anything, so before any loop exists. */
        (void)uv_replace_allocator(tshm__malloc, tshm__realloc, tshm__calloc, tshm__free);
        loop = uv_default_loop();
        tshmd_config_defaults(&cfg);
        rv = tshmd_config_parse_args(&cfg, argc, argv);
        if (rv != 0) {
                return rv > 0 ? 0 : 2;
        }
        activated = main_socket_activated();
        if (!activated && !main_socket_path_usable(&cfg)) {
                return 2; /* the command line or environment needs changing */
        }
        (void)signal(SIGPIPE, SIG_IGN);
        raise_fd_limit();
        if (!cfg.foreground) {
                ready_fd = daemonize();
                if (activated) {
                        main_keep_activation();
                }
        }
        tshmd_log_init(cfg.log_level, false);
        if (tshmd_server_start(&srv, loop, &cfg) < 0) {
                tshmd_log(LOG_ERR, "startup failed");
                return 1;
        }
        tshmd_log(LOG_NOTICE, "tshmd %s listening on %s, prefix '%s', %llu segments",
                  TSHM__VERSION_STRING, srv.socket_path, cfg.shm_prefix,
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
        tshmd_shmdir_close(&srv.shm);
        (void)uv_loop_close(loop);
        return rv == 0 ? 0 : 1;
}
