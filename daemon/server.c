/*
 * server.c - the listening socket (bound by us or inherited from systemd),
 * accepting clients, signals and an orderly stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"
#include "tshmd.h"

#include "sync.h"

#define ACCEPTS_PER_WAKE 64

/* The socket path when --socket is not given: $TSHM_SOCKET, else the system
 * socket for root and $XDG_RUNTIME_DIR/tshm/tshm.sock for other users, the
 * same places libtshm looks. */
static int
server_default_path(char *out, size_t outlen)
{
        const char *env = getenv("TSHM_SOCKET"), *xdg = getenv("XDG_RUNTIME_DIR");
        int n;

        if (env != NULL && env[0] != '\0') {
                n = snprintf(out, outlen, "%s", env);
        } else if (geteuid() != 0 && xdg != NULL && xdg[0] != '\0') {
                n = snprintf(out, outlen, "%s/tshm/tshm.sock", xdg);
        } else {
                n = snprintf(out, outlen, "/run/tshm/tshm.sock");
        }
        return n < 0 || (size_t)n >= outlen ? TSHM_ENAMETOOLONG : 0;
}

/* Make the socket's directory if it is missing (only the last level). */
static void
server_mkdir_parent(const char *path)
{
        char dir[108];
        char *slash;

        memcpy(dir, path, strlen(path) + 1);
        slash = strrchr(dir, '/');
        if (slash == NULL || slash == dir) {
                return;
        }
        *slash = '\0';
        if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST) {
                tshmd_log(LOG_WARNING, "cannot create %s: %s", dir, strerror(errno));
        }
}

/* A socket file is there: is a daemon behind it? Only a failed connect
 * proves it stale. */
static int
server_check_stale(const struct sockaddr_un *sa)
{
        struct stat st;
        int fd, rv = 0;

        if (lstat(sa->sun_path, &st) < 0) {
                return 0;
        }
        if (!S_ISSOCK(st.st_mode)) {
                tshmd_log(LOG_ERR, "%s exists and is not a socket", sa->sun_path);
                return TSHM_EEXIST;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                return -errno;
        }
        if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
                tshmd_log(LOG_ERR, "another tshmd is listening on %s", sa->sun_path);
                rv = TSHM_EEXIST;
        } else if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
                rv = -errno;
        }
        (void)close(fd);
        return rv;
}

static int
server_bind(struct tshmd_server *srv)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t n = strlen(srv->socket_path);
        mode_t old;
        int fd, rv;

        /* bind() would silently truncate a longer path. */
        if (n >= sizeof(sa.sun_path)) {
                tshmd_log(LOG_ERR, "socket path too long (%zu bytes, at most %zu)", n,
                          sizeof(sa.sun_path) - 1);
                return TSHM_ENAMETOOLONG;
        }
        memcpy(sa.sun_path, srv->socket_path, n + 1);
        server_mkdir_parent(srv->socket_path);
        if ((rv = server_check_stale(&sa)) < 0) {
                return rv;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
                return -errno;
        }
        /* The mode is right from birth: no window in which others connect. */
        old = umask(~srv->cfg->socket_mode & 0777u);
        rv = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        /* The group too, before listen(): until then nobody can connect. */
        if (rv == 0 && srv->cfg->socket_gid != (gid_t)-1 &&
            chown(sa.sun_path, (uid_t)-1, srv->cfg->socket_gid) < 0) {
                tshmd_log(LOG_ERR, "cannot give %s to group %u: %s", sa.sun_path,
                          (unsigned)srv->cfg->socket_gid, strerror(errno));
                (void)unlink(sa.sun_path);
                (void)close(fd);
                return TSHM_EACCES;
        }
        if (rv < 0 || listen(fd, SOMAXCONN) < 0) {
                rv = -errno;
                tshmd_log(LOG_ERR, "cannot listen on %s: %s", sa.sun_path, strerror(errno));
                (void)close(fd);
                return rv;
        }
        srv->owns_socket_path = true;
        srv->listen_fd = fd;
        return 0;
}

/* Socket activation: systemd passes the listening socket as fd 3. */
static bool
server_inherit(struct tshmd_server *srv)
{
        const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
        struct sockaddr_un sa;
        socklen_t len = sizeof(sa);

        if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != (long)getpid() ||
            strtol(fds, NULL, 10) < 1) {
                return false;
        }
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_FDNAMES");
        if (getsockname(3, (struct sockaddr *)&sa, &len) < 0 || sa.sun_family != AF_UNIX) {
                tshmd_log(LOG_ERR, "LISTEN_FDS is set but fd 3 is not a Unix socket, ignoring");
                return false;
        }
        (void)fcntl(3, F_SETFD, FD_CLOEXEC);
        (void)fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK);
        if (len > offsetof(struct sockaddr_un, sun_path) && sa.sun_path[0] != '\0') {
                snprintf(srv->socket_path, sizeof(srv->socket_path), "%.*s",
                         (int)(len - offsetof(struct sockaddr_un, sun_path)), sa.sun_path);
        }
        srv->listen_fd = 3;
        return true;
}

static void server_on_accept(uv_poll_t *h, int status, int events);

static void
server_on_resume(uv_timer_t *t)
{
        struct tshmd_server *srv = t->data;

        if (srv->listening) {
                (void)uv_poll_start(&srv->listen_poll, UV_READABLE, server_on_accept);
        }
}

static void
server_on_accept(uv_poll_t *h, int status, int events)
{
        struct tshmd_server *srv = h->data;
        int i, fd;

        (void)events;
        if (status < 0) {
                tshmd_log(LOG_ERR, "listening socket failed: %s", uv_strerror(status));
                return;
        }
        for (i = 0; i < ACCEPTS_PER_WAKE && !srv->stopping; i++) {
                fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd >= 0) {
                        tshmd_conn_accept(srv, fd);
                        continue;
                }
                if (errno == EINTR || errno == ECONNABORTED) {
                        continue;
                }
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                        /* Out of descriptors or memory: keep serving the
                         * clients we have, and stop accepting for a moment
                         * rather than spin on a socket that stays readable. */
                        tshmd_log(LOG_WARNING, "accept failed: %s, pausing accepts for 100 ms",
                                  strerror(errno));
                        (void)uv_poll_stop(&srv->listen_poll);
                        (void)uv_timer_start(&srv->accept_timer, server_on_resume, 100, 0);
                } else if (errno != EAGAIN) {
                        tshmd_log(LOG_WARNING, "accept failed: %s", strerror(errno));
                }
                break;
        }
}

/* SIGHUP: read --config again and apply the log level and the limits. A
 * bad file changes nothing. Limits apply to requests from now on: nothing
 * that exists is taken away. */
static void
server_reload(struct tshmd_server *srv)
{
        char err[600];

        if (srv->cfg->config_path[0] == '\0') {
                tshmd_log(LOG_NOTICE, "SIGHUP: no --config file, nothing to reload");
                return;
        }
        if (tshmd_config_load(srv->cfg, srv->cfg->config_path, true, err, sizeof(err)) < 0) {
                tshmd_log(LOG_ERR, "SIGHUP: %s; keeping the settings in force", err);
                return;
        }
        tshmd_log_set_level(srv->cfg->log_level);
        tshmd_log(LOG_NOTICE,
                  "SIGHUP: reloaded %s: max-bytes %llu, max-segments %llu, max-bytes-per-uid "
                  "%llu, max-segments-per-uid %llu, max-clients %u, max-opens %u",
                  srv->cfg->config_path, (unsigned long long)srv->cfg->max_bytes,
                  (unsigned long long)srv->cfg->max_segments,
                  (unsigned long long)srv->cfg->max_bytes_per_uid,
                  (unsigned long long)srv->cfg->max_segments_per_uid, srv->cfg->max_clients,
                  srv->cfg->max_opens);
}

static void
server_on_signal(uv_signal_t *h, int signum)
{
        struct tshmd_server *srv = h->data;

        if (signum == SIGHUP) {
                server_reload(srv);
                return;
        }
        tshmd_log(LOG_NOTICE, "%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
        tshmd_server_stop(srv);
}

static int
server_signals(struct tshmd_server *srv)
{
        struct {
                uv_signal_t *h;
                int sig;
        } sigs[] = {{&srv->sig_term, SIGTERM}, {&srv->sig_int, SIGINT}, {&srv->sig_hup, SIGHUP}};
        size_t i;
        int rv;

        for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
                if ((rv = uv_signal_init(srv->loop, sigs[i].h)) < 0 ||
                    (rv = uv_signal_start(sigs[i].h, server_on_signal, sigs[i].sig)) < 0) {
                        return rv;
                }
                sigs[i].h->data = srv;
        }
        return 0;
}

/* Open the directory of the objects (/dev/shm or --shm-dir) and say what
 * backs it: huge pages are worth a notice, the default is not. */
static int
server_shm_dir(struct tshmd_server *srv)
{
        char err[640];
        int rv;

        if ((rv = tshmd_shmdir_open(&srv->shm, srv->cfg->shm_dir, err, sizeof(err))) < 0) {
                tshmd_log(LOG_ERR, "%s", err);
                return rv;
        }
        tshmd_log(srv->shm.backing == TSHM_BACKING_TMPFS ? LOG_INFO : LOG_NOTICE,
                  "segments live in %s (%s%s)", srv->shm.path,
                  tshmd_shmdir_backing_name(srv->shm.backing),
                  srv->shm.huge_within_size ? ", for objects of a huge page or more" : "");
        return 0;
}

int
tshmd_server_start(struct tshmd_server *srv, uv_loop_t *loop, struct tshmd_config *cfg)
{
        int rv;

        memset(srv, 0, sizeof(*srv));
        srv->shm.fd = -1;
        srv->loop = loop;
        srv->cfg = cfg;
        srv->listen_fd = -1;
        srv->guard_fd = -1;
        srv->state_fd = -1;
        srv->lock_fd = -1;
        srv->started_ns = tshm__mono_ns();
        tshmd_registry_init(&srv->reg);
        /* What the registry runs on a segment it frees: guard.c's kept
         * descriptor, then stream.c's tables. */
        tshmd_registry_on_free(&srv->reg, tshmd_guard_forget);
        tshmd_stream_init(&srv->reg);
        /* The lock and the seal key (state.c), before anything under the
         * prefix is touched: a second daemon on it stops here. */
        if ((rv = tshmd_state_open(srv)) < 0) {
                return rv;
        }
        if ((rv = server_shm_dir(srv)) < 0) {
                return rv;
        }
        tshmd_shm_adopt(&srv->shm, &srv->reg, cfg->shm_prefix, srv->seal_key);
        if (!server_inherit(srv)) {
                if (cfg->socket_path[0] != '\0') {
                        memcpy(srv->socket_path, cfg->socket_path, sizeof(srv->socket_path));
                } else if ((rv = server_default_path(srv->socket_path, sizeof(srv->socket_path))) <
                           0) {
                        return rv;
                }
                if ((rv = server_bind(srv)) < 0) {
                        return rv;
                }
        }
        if ((rv = uv_poll_init(loop, &srv->listen_poll, srv->listen_fd)) < 0 ||
            (rv = uv_poll_start(&srv->listen_poll, UV_READABLE, server_on_accept)) < 0) {
                tshmd_log(LOG_ERR, "cannot poll the listening socket: %s", uv_strerror(rv));
                return TSHM_EIO;
        }
        srv->listen_poll.data = srv;
        srv->listening = true;
        if ((rv = uv_timer_init(loop, &srv->accept_timer)) < 0) {
                return TSHM_EIO;
        }
        srv->accept_timer.data = srv;
        (void)tshmd_guard_start(srv); /* logs why when it cannot */
        if ((rv = server_signals(srv)) < 0) {
                tshmd_log(LOG_ERR, "cannot handle signals: %s", uv_strerror(rv));
                return TSHM_EIO;
        }
        /* Last: the peer thread connects to the socket bound above. */
        return tshmd_peer_start(srv);
}

static void
server_on_listen_closed(uv_handle_t *h)
{
        struct tshmd_server *srv = h->data;

        (void)close(srv->listen_fd);
        srv->listen_fd = -1;
}

void
tshmd_server_stop(struct tshmd_server *srv)
{
        if (srv->stopping) {
                return;
        }
        srv->stopping = true;
        (void)tshmd_notify("STOPPING=1\nSTATUS=stopping");
        if (srv->listening) {
                uv_close((uv_handle_t *)&srv->listen_poll, server_on_listen_closed);
                srv->listening = false;
                if (srv->owns_socket_path) {
                        (void)unlink(srv->socket_path);
                }
        }
        tshmd_guard_stop(srv);
        tshmd_sync_stop(srv);
        while (srv->conns != NULL) {
                uv_os_fd_t fd;

                /* Shut down now, not when the loop gets to the close: a
                 * client waiting for a reply (our own peer thread, which we
                 * join below) sees the end at once. */
                if (uv_fileno((uv_handle_t *)&srv->conns->poll, &fd) == 0) {
                        (void)shutdown(fd, SHUT_RDWR);
                }
                tshmd_conn_close(srv->conns);
        }
        /* Every connection is closed and nobody can connect: the peer
         * thread's calls on its own connection to us fail at once, so it
         * ends without the loop's help. */
        tshmd_peer_stop(srv);
        uv_close((uv_handle_t *)&srv->accept_timer, NULL);
        uv_close((uv_handle_t *)&srv->sig_term, NULL);
        uv_close((uv_handle_t *)&srv->sig_int, NULL);
        uv_close((uv_handle_t *)&srv->sig_hup, NULL);
        /* uv_run returns once these closes and any create still in the
         * thread pool have finished. */
}
