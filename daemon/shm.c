/*
 * shm.c - the POSIX shared-memory objects behind segments.
 *
 * Objects are named "/<prefix>.<name>"; prefixes cannot contain '.', so two
 * daemons with different prefixes never see each other's objects. They live
 * in the shm directory (shmdir.c: /dev/shm or --shm-dir) and are opened
 * relative to it, as shm_open() opens them in /dev/shm: never through a
 * symbolic link. They are mode 0600 and owned by the daemon's user: clients
 * get descriptors over the socket and never open them by name. At start the
 * daemon adopts the ones it made before (adopt.c decides which; anyone can
 * plant objects under the prefix in /dev/shm).
 */
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

/* Write @len bytes at @off of the object @fd, which no client holds yet. A
 * hugetlbfs object has no write(): through a mapping of its first page. */
static int
shm_write_new(const struct tshmd_shmdir *dir, int fd, const void *buf, size_t len, off_t off)
{
        void *map;

        if (dir->backing != TSHM_BACKING_HUGETLBFS) {
                ssize_t n = pwrite(fd, buf, len, off);

                return n == (ssize_t)len ? 0 : n < 0 ? -errno : TSHM_EIO;
        }
        map = mmap(NULL, dir->huge_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                return -errno;
        }
        memcpy((uint8_t *)map + off, buf, len);
        (void)munmap(map, dir->huge_size);
        return 0;
}

int
tshmd_shm_objname(const char *prefix, const char *name, char *out, size_t outlen)
{
        int n = snprintf(out, outlen, "/%s.%s", prefix, name);

        return n < 0 || (size_t)n >= outlen ? TSHM_ENAMETOOLONG : 0;
}

/* The name a segment's object is made under before it is complete:
 * "/<prefix>..new.<name>". Names under "<prefix>.." are the daemon's own
 * (a segment name cannot start with '.'), and a restart removes these. */
static int
shm_tmpname(const char *objname, char *out, size_t outlen)
{
        const char *dot = strchr(objname, '.');
        int n;

        if (dot == NULL) {
                return TSHM_EINVAL;
        }
        n = snprintf(out, outlen, "%.*s..new.%s", (int)(dot - objname), objname, dot + 1);
        return n < 0 || (size_t)n >= outlen ? TSHM_ENAMETOOLONG : 0;
}

/* Reserve @size bytes of @fd and write @hdr; a reason goes in @err. */
static int
shm_fill(const struct tshmd_shmdir *dir, int fd, const struct tshm__hdr *hdr, uint64_t size,
         const char *objname, char *err, size_t errlen)
{
        int rv;

        /* fchmod: the umask may have taken bits we rely on being exactly 0600. */
        (void)fchmod(fd, 0600);
        /* Reserve every page now, so that running out of /dev/shm is an
         * error here and never a SIGBUS in a client later. posix_fallocate
         * returns the error instead of setting errno. */
        rv = posix_fallocate(fd, 0, (off_t)size);
        if (rv != 0) {
                struct statvfs vfs;
                unsigned long long avail = 0;
                if (fstatvfs(dir->fd, &vfs) == 0) {
                        avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
                }
                if (rv == ENOSPC) {
                        snprintf(err, errlen, "no space in %s: %llu bytes asked, %llu available",
                                 dir->path, (unsigned long long)size, avail);
                } else {
                        snprintf(err, errlen, "cannot reserve %llu bytes: %s",
                                 (unsigned long long)size, strerror(rv));
                }
                return rv == ENOSPC || rv == EFBIG ? TSHM_ENOSPC : -rv;
        }
        if ((rv = shm_write_new(dir, fd, hdr, sizeof(*hdr), 0)) < 0) {
                snprintf(err, errlen, "cannot write the header of %s: %s", objname,
                         tshm__strerror(rv));
                return rv;
        }
        return 0;
}

int
tshmd_shm_make(const struct tshmd_shmdir *dir, const char *objname, const struct tshm__hdr *hdr,
               uint64_t size, char *err, size_t errlen)
{
        char tmp[TSHMD_PREFIX_MAX + TSHM_NAME_MAX + 16];
        int fd, rv;

        /* The object is made complete under a private name and only then
         * renamed into place, so that a daemon killed half-way leaves no
         * headerless object blocking the name. */
        if ((rv = shm_tmpname(objname, tmp, sizeof(tmp))) < 0) {
                snprintf(err, errlen, "name too long");
                return rv;
        }
        fd = tshmd_shmdir_open_object(dir, tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd == -EEXIST) {
                /* A leftover of an earlier attempt (the name is ours). */
                (void)unlinkat(dir->fd, tmp + 1, 0);
                fd = tshmd_shmdir_open_object(dir, tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
        }
        if (fd < 0) {
                snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(-fd));
                return fd;
        }
        if ((rv = shm_fill(dir, fd, hdr, size, objname, err, errlen)) < 0) {
                goto fail;
        }
        if (renameat2(dir->fd, tmp + 1, dir->fd, objname + 1, RENAME_NOREPLACE) < 0) {
                rv = errno == EEXIST ? TSHM_EEXIST : -errno;
                snprintf(err, errlen, "cannot create %s: %s", objname, strerror(errno));
                goto fail;
        }
        return fd;
fail:
        (void)unlinkat(dir->fd, tmp + 1, 0);
        (void)close(fd);
        return rv;
}

int
tshmd_shm_open(const struct tshmd_shmdir *dir, const char *objname, bool writable, uint64_t size)
{
        struct stat st;
        int fd;

        fd = tshmd_shmdir_open_object(dir, objname, writable ? O_RDWR : O_RDONLY, 0);
        if (fd < 0) {
                return fd;
        }
        /* A writer that truncated the object would make every mapper fault
         * past the new end: refuse to hand it out. */
        if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
                (void)close(fd);
                return TSHM_EBADHDR;
        }
        return fd;
}

int
tshmd_shm_open_rw(const struct tshmd_shmdir *dir, const char *objname)
{
        return tshmd_shmdir_open_object(dir, objname, O_RDWR, 0);
}

int
tshmd_shm_unlink(const struct tshmd_shmdir *dir, const char *objname)
{
        return unlinkat(dir->fd, objname + 1, 0) < 0 ? -errno : 0;
}

/* The header ranges the daemon seals: all but the synchronisation line. */
static const struct {
        size_t off, len;
} shm_sealed[] = {{0, 64}, {128, sizeof(struct tshm__hdr) - 128}};

bool
tshmd_shm_header_intact(int fd, const struct tshm__hdr *want)
{
        struct tshm__hdr got;
        size_t i;

        if (pread(fd, &got, sizeof(got), 0) != (ssize_t)sizeof(got)) {
                return false;
        }
        for (i = 0; i < sizeof(shm_sealed) / sizeof(shm_sealed[0]); i++) {
                if (memcmp((const uint8_t *)&got + shm_sealed[i].off,
                           (const uint8_t *)want + shm_sealed[i].off, shm_sealed[i].len) != 0) {
                        return false;
                }
        }
        return true;
}

/* hdrmap's function: store the sealed ranges of @arg into @hdr. Loads and
 * stores only (see hdrmap.c). */
static int
shm_store_sealed(struct tshm__hdr *hdr, void *arg)
{
        const uint8_t *src = arg;
        size_t i, j;

        for (i = 0; i < sizeof(shm_sealed) / sizeof(shm_sealed[0]); i++) {
                for (j = 0; j < shm_sealed[i].len; j++) {
                        ((volatile uint8_t *)hdr)[shm_sealed[i].off + j] =
                            src[shm_sealed[i].off + j];
                }
        }
        return 0;
}

int
tshmd_shm_write_header(const struct tshmd_shmdir *dir, const char *objname,
                       const struct tshm__hdr *hdr)
{
        size_t i;
        int fd, rv = 0;

        if ((fd = tshmd_shm_open_rw(dir, objname)) < 0) {
                return fd;
        }
        if (dir->backing == TSHM_BACKING_HUGETLBFS) {
                /* No write() there: through a mapping, which a client may
                 * cut from under it (hdrmap.c guards the access). */
                rv = tshmd_hdrmap_run_fd(fd, shm_store_sealed, (void *)hdr);
                (void)close(fd);
                return rv;
        }
        /* Around the synchronisation line, which writers change. */
        for (i = 0; i < sizeof(shm_sealed) / sizeof(shm_sealed[0]) && rv == 0; i++) {
                if (pwrite(fd, (const uint8_t *)hdr + shm_sealed[i].off, shm_sealed[i].len,
                           (off_t)shm_sealed[i].off) != (ssize_t)shm_sealed[i].len) {
                        rv = TSHM_EIO;
                }
        }
        (void)close(fd);
        return rv;
}

uint64_t
tshmd_shm_free_bytes(const struct tshmd_shmdir *dir)
{
        struct statvfs vfs;

        if (fstatvfs(dir->fd, &vfs) < 0) {
                return 0;
        }
        return (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

/* Whether the adopted object @entry with header @hdr is one that went with
 * its creator while tshmd was away, removing it if so: a group never
 * published (the connection that would have published it did not survive
 * the restart), or an ephemeral segment whose creator is gone. It is ours,
 * and in the sticky shm directory nobody else can have replaced it since. */
static bool
shm_adopt_gone(int dfd, const char *entry, const struct tshm__hdr *hdr)
{
        if ((hdr->flags & TSHM_HDR_FLAG_UNPUBLISHED) != 0) {
                if (unlinkat(dfd, entry, 0) == 0) {
                        tshmd_log(LOG_NOTICE, "removed group '%s': never published", hdr->name);
                }
                return true;
        }
        if ((hdr->flags & TSHM_HDR_FLAG_EPHEMERAL) != 0 &&
            !tshmd_gc_creator_alive(hdr->creator_pid, hdr->creator_start)) {
                if (unlinkat(dfd, entry, 0) == 0) {
                        tshmd_log(LOG_NOTICE,
                                  "collected ephemeral segment '%s': creator pid %u gone",
                                  hdr->name, hdr->creator_pid);
                }
                return true;
        }
        return false;
}

/* Gather the facts about one object under the prefix, without following a
 * link or blocking on a FIFO; adopt.c decides whether it is ours; register
 * it if so. Anything else is left alone (and listed by gc). */
static void
shm_adopt_one(const struct tshmd_shmdir *dir, struct tshmd_registry *reg, int dfd,
              const char *prefix, const uint8_t key[16], const char *entry)
{
        uint8_t buf[sizeof(struct tshm__hdr)];
        struct tshmd_adopt_obj obj = {.entry = entry, .hdr = buf};
        enum tshmd_adopt_verdict v;
        struct tshmd_seg *seg;
        struct tshm__hdr hdr;
        struct stat st;
        ssize_t n = 0;
        int fd, rv;

        /* O_NOFOLLOW: a link is nobody's segment. O_NONBLOCK: opening a FIFO
         * would wait for a writer, and tshmd would never listen. The facts
         * come from fstat of what was opened, not from the name. */
        fd = openat(dfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
                tshmd_log(LOG_WARNING, "cannot open %s/%s: %s, leaving it alone", dir->path, entry,
                          errno == ELOOP ? "a symbolic link" : strerror(errno));
                return;
        }
        rv = fstat(fd, &st);
        if (rv == 0 && S_ISREG(st.st_mode)) {
                /* pread, not mmap: a client may truncate it meanwhile. */
                n = pread(fd, buf, sizeof(buf), 0);
        }
        (void)close(fd);
        if (rv < 0) {
                return;
        }
        obj.mode = (uint32_t)st.st_mode;
        obj.uid = (uint32_t)st.st_uid;
        obj.size = (uint64_t)st.st_size;
        obj.page = dir->backing == TSHM_BACKING_HUGETLBFS ? dir->huge_size : 0;
        obj.hdr_len = n > 0 ? (size_t)n : 0;
        v = tshmd_adopt_check(&obj, prefix, (uint32_t)geteuid(), key, &hdr);
        if (v != TSHMD_ADOPT_OK) {
                tshmd_log(LOG_WARNING, "%s/%s: %s; not adopted, leaving it alone", dir->path, entry,
                          tshmd_adopt_reason(v));
                return;
        }
        if (tshmd_registry_find(reg, hdr.name) != NULL) {
                return;
        }
        if (shm_adopt_gone(dfd, entry, &hdr)) {
                return;
        }
        if ((rv = tshmd_registry_add(reg, &hdr, obj.size, TSHMD_SEG_READY, &seg)) < 0) {
                tshmd_log(LOG_ERR, "cannot register %s/%s: %s", dir->path, entry,
                          tshm__strerror(rv));
                return;
        }
        tshmd_log(LOG_DEBUG, "adopted segment '%s' (%s, %llu bytes)", hdr.name,
                  tshm__dtype_name((tshm_dtype)hdr.dtype), (unsigned long long)hdr.data_size);
}

/* A "<prefix>..new.*" object is a create that a crash cut short, if it is
 * ours: anyone can make one of that name, and another user's is left alone
 * (the sticky /dev/shm keeps others from swapping ours between the check
 * and the unlink). */
static void
shm_drop_unfinished(const struct tshmd_shmdir *dir, int dfd, const char *entry, size_t plen)
{
        struct stat st;

        if (strncmp(entry + plen, "..new.", 6) != 0) {
                return;
        }
        if (fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                return;
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
                tshmd_log(LOG_WARNING, "%s/%s is not tshmd's (uid %u), leaving it alone", dir->path,
                          entry, (unsigned)st.st_uid);
                return;
        }
        if (unlinkat(dfd, entry, 0) == 0) {
                tshmd_log(LOG_NOTICE, "removed %s/%s: a create that did not finish", dir->path,
                          entry);
        }
}

void
tshmd_shm_adopt(const struct tshmd_shmdir *sd, struct tshmd_registry *reg, const char *prefix,
                const uint8_t key[16])
{
        size_t plen = strlen(prefix);
        struct dirent *de;
        unsigned count = 0;
        DIR *dir;

        if ((dir = tshmd_shmdir_list(sd)) == NULL) {
                tshmd_log(LOG_WARNING, "cannot read %s: %s, adopting nothing", sd->path,
                          strerror(errno));
                return;
        }
        while ((de = readdir(dir)) != NULL) {
                if (strncmp(de->d_name, prefix, plen) != 0 || de->d_name[plen] != '.') {
                        continue;
                }
                /* "<prefix>..*" names are no segment's: "..new." ones are
                 * creates a crash cut short ("..key" is an older tshmd's
                 * seal key, which state.c moves or ignores). */
                if (de->d_name[plen + 1] == '.') {
                        shm_drop_unfinished(sd, dirfd(dir), de->d_name, plen);
                        continue;
                }
                shm_adopt_one(sd, reg, dirfd(dir), prefix, key, de->d_name);
                count++;
        }
        (void)closedir(dir);
        tshmd_registry_sort_created(reg);
        if (count > 0) {
                tshmd_log(LOG_NOTICE, "found %u objects under prefix '%s', %llu segments adopted",
                          count, prefix, (unsigned long long)reg->segments);
        }
}
