/*
 * state.c - the daemon's state directory: what tshmd keeps that no other
 * user may read or plant.
 *
 * /dev/shm is writable by everyone, and tshmd may first start long after
 * other users logged in (socket activation starts it on the first
 * connection): anything it looked for there could have been planted first.
 * So its secrets and its lock live in a directory of its own, owned by its
 * user and writable by nobody else (made 0700 if missing):
 *
 *   <state-dir>/<prefix>.key   the seal key (seal.c), 16 random bytes, 0600
 *   <state-dir>/<prefix>.lock  locked (fcntl) while a daemon serves the
 *                              prefix; holds its pid, for people
 *
 * A directory, key or lock that is not ours, or that others may write, is
 * refused: tshmd does not start rather than trust it. The directory is
 * opened once and every file in it is reached relative to that descriptor,
 * so what was checked is what is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

#define STATE_KEY_LEN 16

int
tshmd_state_default_dir(uid_t euid, char *buf, size_t len)
{
        const char *sd = getenv("STATE_DIRECTORY"), *xdg = getenv("XDG_STATE_HOME");
        const char *home = getenv("HOME");
        int n;

        /* Relative paths in these variables are invalid (XDG base
         * directory specification): ignored. */
        if (sd != NULL && sd[0] == '/') {
                n = snprintf(buf, len, "%.*s", (int)strcspn(sd, ":"), sd);
        } else if (euid == 0) {
                n = snprintf(buf, len, "/var/lib/tshm");
        } else if (xdg != NULL && xdg[0] == '/') {
                n = snprintf(buf, len, "%s/tshm", xdg);
        } else if (home != NULL && home[0] == '/') {
                n = snprintf(buf, len, "%s/.local/state/tshm", home);
        } else {
                return TSHM_ENOENT;
        }
        return n < 0 || (size_t)n >= len ? TSHM_ENAMETOOLONG : 0;
}

/* Make @path and any missing parent, each 0700; existing ones are left as
 * they are. */
static void
state_mkdirs(const char *path)
{
        char buf[sizeof(((struct tshmd_config *)0)->state_dir)];
        char *p;

        snprintf(buf, sizeof(buf), "%s", path);
        for (p = strchr(buf + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
                *p = '\0';
                (void)mkdir(buf, 0700);
                *p = '/';
        }
        (void)mkdir(buf, 0700);
}

/* Is the object behind @fd ours and closed to others? @what and @path name
 * it in the message. A file (the key, the lock) must be a regular file no
 * one else may read or write; the directory one no one else may write (what
 * matters is who can replace the files in it). */
static int
state_check(int fd, const char *what, const char *path, bool dir)
{
        struct stat st;

        if (fstat(fd, &st) < 0) {
                tshmd_log(LOG_ERR, "cannot stat %s %s: %s", what, path, strerror(errno));
                return -errno;
        }
        if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
                tshmd_log(LOG_ERR, "%s %s is not a %s: refusing it", what, path,
                          dir ? "directory" : "regular file");
                return TSHM_EACCES;
        }
        if (st.st_uid != geteuid()) {
                tshmd_log(LOG_ERR, "%s %s is owned by uid %u, not by tshmd's uid %u: refusing it",
                          what, path, (unsigned)st.st_uid, (unsigned)geteuid());
                return TSHM_EACCES;
        }
        if ((st.st_mode & (dir ? 022u : 077u)) != 0) {
                tshmd_log(LOG_ERR,
                          "%s %s has mode %04o, open to other users: refusing it (chmod %s)", what,
                          path, (unsigned)(st.st_mode & 07777), dir ? "0700" : "0600");
                return TSHM_EACCES;
        }
        return 0;
}

/* Take <prefix>.lock, or say which daemon holds it. */
static int
state_lock(struct tshmd_server *srv, const char *dir)
{
        const char *prefix = srv->cfg->shm_prefix;
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        char name[TSHMD_PREFIX_MAX + 8], path[sizeof(srv->cfg->state_dir) + sizeof(name)];
        char pid[24];
        int fd, n, rv;

        snprintf(name, sizeof(name), "%s.lock", prefix);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = openat(srv->state_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                    0600);
        if (fd < 0) {
                rv = -errno;
                tshmd_log(LOG_ERR, "cannot open the lock %s: %s", path, strerror(errno));
                return rv;
        }
        if ((rv = state_check(fd, "the lock", path, false)) < 0) {
                goto fail;
        }
        /* A POSIX record lock: the kernel drops it when the process ends,
         * however it ends, and F_GETLK names the holder. (Closing any other
         * descriptor of this file would drop it too: nothing else opens it.) */
        if (fcntl(fd, F_SETLK, &fl) < 0) {
                if (errno != EAGAIN && errno != EACCES) {
                        rv = -errno;
                        tshmd_log(LOG_ERR, "cannot lock %s: %s", path, strerror(errno));
                        goto fail;
                }
                fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET};
                n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
                pid[n > 0 ? n : 0] = '\0';
                pid[strcspn(pid, "\n")] = '\0';
                if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0) {
                        snprintf(pid, sizeof(pid), "%d", (int)fl.l_pid);
                }
                tshmd_log(LOG_ERR,
                          "another tshmd (pid %s) is running with prefix '%s' and state "
                          "directory %s (it holds %s): not starting a second one",
                          pid[0] != '\0' ? pid : "unknown", prefix, dir, path);
                rv = TSHM_EEXIST;
                goto fail;
        }
        n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
                tshmd_log(LOG_WARNING, "cannot write the pid into %s, ignoring", path);
        }
        srv->lock_fd = fd;
        return 0;
fail:
        (void)close(fd);
        return rv;
}

/* The seal key of an older tshmd, "/dev/shm/<prefix>..key", if it is one
 * that this daemon's user made: a regular file of 16 bytes, ours, mode
 * 0600. Nobody else can make such a file, so it is safe to keep using it
 * (segments sealed with it stay adoptable). Anything else there was planted
 * by another user and is ignored. */
static bool
state_old_key(const char *prefix, uint8_t key[STATE_KEY_LEN])
{
        char path[TSHMD_PREFIX_MAX + 24];
        struct stat st;
        bool ok;
        int fd;

        memset(&st, 0, sizeof(st));
        snprintf(path, sizeof(path), "/dev/shm/%s..key", prefix);
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOENT) {
                        tshmd_log(LOG_WARNING, "ignoring %s: %s", path, strerror(errno));
                }
                return false;
        }
        ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
             (st.st_mode & 07777) == 0600 && st.st_size == STATE_KEY_LEN &&
             pread(fd, key, STATE_KEY_LEN, 0) == STATE_KEY_LEN;
        (void)close(fd);
        if (!ok) {
                tshmd_log(LOG_WARNING,
                          "ignoring %s: not a seal key this daemon's user made (owner uid %u, "
                          "mode %04o, %lld bytes); left alone",
                          path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                          (long long)st.st_size);
        }
        return ok;
}

/* Write @key as <prefix>.key: into a new file, then renamed over the name,
 * so that a crash leaves the old key or the new one, never half of one. */
static int
state_write_key(int dfd, const char *name, const char *dir, const uint8_t key[STATE_KEY_LEN])
{
        char tmp[TSHMD_PREFIX_MAX + 16];
        int fd, rv = 0;

        snprintf(tmp, sizeof(tmp), "%s.new", name);
        (void)unlinkat(dfd, tmp, 0);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                rv = -errno;
                tshmd_log(LOG_ERR, "cannot create %s/%s: %s", dir, tmp, strerror(errno));
                return rv;
        }
        if (write(fd, key, STATE_KEY_LEN) != STATE_KEY_LEN || fsync(fd) < 0) {
                rv = errno != 0 ? -errno : TSHM_EIO;
        }
        (void)close(fd);
        if (rv == 0 && renameat(dfd, tmp, dfd, name) < 0) {
                rv = -errno;
        }
        if (rv < 0) {
                tshmd_log(LOG_ERR, "cannot write the seal key %s/%s: %s", dir, name,
                          tshm__strerror(rv));
                (void)unlinkat(dfd, tmp, 0);
                return rv;
        }
        (void)fsync(dfd);
        return 0;
}

/* Read <prefix>.key, or make it: moved from an older tshmd's /dev/shm, or
 * new from the kernel's random pool. A damaged key of ours is replaced
 * (segments sealed with it will not be adopted); one that is not ours, or
 * that others can read, stops the start. Never loops. */
static int
state_key(struct tshmd_server *srv, const char *dir)
{
        const char *prefix = srv->cfg->shm_prefix;
        char name[TSHMD_PREFIX_MAX + 8], path[sizeof(srv->cfg->state_dir) + sizeof(name)];
        uint8_t *key = srv->seal_key;
        bool moved = false, good;
        struct stat st;
        int fd, rv;

        snprintf(name, sizeof(name), "%s.key", prefix);
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = openat(srv->state_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
                if ((rv = state_check(fd, "the seal key", path, false)) < 0) {
                        (void)close(fd);
                        return rv;
                }
                good = fstat(fd, &st) == 0 && st.st_size == STATE_KEY_LEN &&
                       pread(fd, key, STATE_KEY_LEN, 0) == STATE_KEY_LEN;
                (void)close(fd);
                if (good) {
                        return 0;
                }
                tshmd_log(LOG_ERR,
                          "the seal key %s is damaged; making a new one (segments sealed with "
                          "the old one will not be adopted)",
                          path);
        } else if (errno != ENOENT) {
                rv = -errno;
                tshmd_log(LOG_ERR, "cannot open the seal key %s: %s", path, strerror(errno));
                return rv;
        } else {
                moved = state_old_key(prefix, key);
        }
        if (!moved && getrandom(key, STATE_KEY_LEN, 0) != STATE_KEY_LEN) {
                rv = -errno;
                tshmd_log(LOG_ERR, "cannot make a seal key: %s", strerror(errno));
                return rv;
        }
        if ((rv = state_write_key(srv->state_fd, name, dir, key)) < 0) {
                return rv;
        }
        if (moved) {
                char old[TSHMD_PREFIX_MAX + 8];
                snprintf(old, sizeof(old), "/%s..key", prefix);
                (void)shm_unlink(old);
                tshmd_log(LOG_NOTICE, "moved the seal key from /dev/shm%s to %s", old, path);
        }
        return 0;
}

int
tshmd_state_open(struct tshmd_server *srv)
{
        char dir[sizeof(srv->cfg->state_dir)];
        int rv;

        if (srv->cfg->state_dir[0] != '\0') {
                snprintf(dir, sizeof(dir), "%s", srv->cfg->state_dir);
        } else if ((rv = tshmd_state_default_dir(geteuid(), dir, sizeof(dir))) < 0) {
                tshmd_log(LOG_ERR, "no state directory: set --state-dir (or HOME)");
                return rv;
        }
        state_mkdirs(dir);
        srv->state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (srv->state_fd < 0) {
                rv = -errno;
                tshmd_log(LOG_ERR, "cannot open the state directory %s: %s", dir, strerror(errno));
                return rv;
        }
        /* The lock before the key, and both before anything is adopted: a
         * second daemon on the same prefix must touch nothing. */
        if ((rv = state_check(srv->state_fd, "the state directory", dir, true)) < 0 ||
            (rv = state_lock(srv, dir)) < 0 || (rv = state_key(srv, dir)) < 0) {
                tshmd_state_close(srv);
                return rv;
        }
        return 0;
}

void
tshmd_state_close(struct tshmd_server *srv)
{
        if (srv->lock_fd >= 0) {
                (void)close(srv->lock_fd);
                srv->lock_fd = -1;
        }
        if (srv->state_fd >= 0) {
                (void)close(srv->state_fd);
                srv->state_fd = -1;
        }
}
