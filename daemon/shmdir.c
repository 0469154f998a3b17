/*
 * shmdir.c - the directory that holds the segments' objects: /dev/shm, or
 * --shm-dir, typically a tmpfs mounted with huge=within_size so that large
 * segments get 2 MiB pages (/dev/shm gets them only when the host's
 * shmem_enabled says so, and on most hosts it says never), or a hugetlbfs
 * mount of pages an admin reserved, where every object is a whole number of
 * pages (tshmd_shmdir_objsize()) and written through a mapping.
 *
 * Every object is opened relative to one descriptor of the directory, taken
 * at start, so a later rename or remount of its path changes nothing.
 *
 * The directory must be as safe as /dev/shm, whose safety the rest of the
 * daemon relies on (adopt.c, gc.c): nobody but root or tshmd's own user owns
 * it, and if others may create entries in it, it is sticky, so that no
 * other user can remove, rename or replace tshmd's objects.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tshmd.h"

#define SHMDIR_DEFAULT "/dev/shm"
#define SHMDIR_PMD_DEFAULT ((uint64_t)2 * 1024 * 1024)

/* The first line of a small /proc or /sys file, or false. */
static bool
shmdir_read_line(const char *path, char *buf, size_t len)
{
        FILE *f = fopen(path, "re");
        bool ok;

        if (f == NULL) {
                return false;
        }
        ok = fgets(buf, (int)len, f) != NULL;
        (void)fclose(f);
        return ok;
}

/* The size of a transparent huge page on this host (the PMD size). */
static uint64_t
shmdir_pmd_size(void)
{
        unsigned long long v = 0;
        char line[64];

        if (shmdir_read_line("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", line,
                             sizeof(line)) &&
            sscanf(line, "%llu", &v) == 1 && v >= 4096u) {
                return v;
        }
        return SHMDIR_PMD_DEFAULT;
}

/* The host-wide override of every tmpfs's huge= option: "force" gives
 * every tmpfs huge pages, "deny" none; anything else leaves it to the
 * mount. Returns 1, -1 or 0 for those three. */
static int
shmdir_host_override(void)
{
        char line[128];

        if (!shmdir_read_line("/sys/kernel/mm/transparent_hugepage/shmem_enabled", line,
                              sizeof(line))) {
                return 0;
        }
        if (strstr(line, "[force]") != NULL) {
                return 1;
        }
        return strstr(line, "[deny]") != NULL ? -1 : 0;
}

/* The huge= option of the tmpfs mounted as device @dev, from the super
 * block options in /proc/self/mountinfo ("never" when it has none). */
static void
shmdir_tmpfs_huge(dev_t dev, char *out, size_t outlen)
{
        char line[4096], want[32];
        FILE *f;

        snprintf(out, outlen, "never");
        snprintf(want, sizeof(want), " %u:%u ", major(dev), minor(dev));
        if ((f = fopen("/proc/self/mountinfo", "re")) == NULL) {
                return;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
                const char *sep = strstr(line, " - ");
                const char *super, *h;

                /* "ID PARENT MAJ:MIN ROOT POINT OPTS ... - FSTYPE SOURCE SUPEROPTS" */
                if (sep == NULL || strstr(line, want) == NULL || strstr(line, want) > sep) {
                        continue;
                }
                /* The super block's options, after FSTYPE and SOURCE. */
                super = strchr(sep + 3, ' ');
                super = super != NULL ? strchr(super + 1, ' ') : NULL;
                if (super != NULL && (h = strstr(super, "huge=")) != NULL) {
                        size_t n = strcspn(h + 5, ", \n");

                        snprintf(out, outlen, "%.*s", (int)n, h + 5);
                }
                break;
        }
        (void)fclose(f);
}

/* What backs the directory: its file system and page size. */
static int
shmdir_backing(struct tshmd_shmdir *dir, const struct stat *st, char *err, size_t errlen)
{
        struct statfs fs;
        char huge[32];
        int force;

        if (fstatfs(dir->fd, &fs) < 0) {
                snprintf(err, errlen, "cannot statfs %s: %s", dir->path, strerror(errno));
                return -errno;
        }
        if ((unsigned long)fs.f_type == (unsigned long)HUGETLBFS_MAGIC) {
                /* Pages an admin reserved (vm.nr_hugepages), of the mount's
                 * pagesize=: every object is a whole number of them. */
                dir->backing = TSHM_BACKING_HUGETLBFS;
                dir->huge_size = (uint64_t)fs.f_bsize;
                dir->huge_within_size = false;
                return 0;
        }
        if ((unsigned long)fs.f_type != (unsigned long)TMPFS_MAGIC) {
                snprintf(err, errlen,
                         "%s is not on a tmpfs or hugetlbfs (file system 0x%lx): segments there "
                         "would be written back to a disk",
                         dir->path, (unsigned long)fs.f_type);
                return TSHM_EINVAL;
        }
        shmdir_tmpfs_huge(st->st_dev, huge, sizeof(huge));
        force = shmdir_host_override();
        /* "advise" gives huge pages only to mappings that ask with
         * madvise(MADV_HUGEPAGE), which tshm's clients do not. */
        if (force > 0 ||
            (force == 0 && (strcmp(huge, "within_size") == 0 || strcmp(huge, "always") == 0))) {
                dir->backing = TSHM_BACKING_TMPFS_HUGE;
                dir->huge_size = shmdir_pmd_size();
                dir->huge_within_size = force == 0 && strcmp(huge, "within_size") == 0;
        } else {
                dir->backing = TSHM_BACKING_TMPFS;
                dir->huge_size = 0;
        }
        return 0;
}

int
tshmd_shmdir_open(struct tshmd_shmdir *dir, const char *path, char *err, size_t errlen)
{
        struct stat st;
        int rv;

        memset(dir, 0, sizeof(*dir));
        dir->fd = -1;
        if (path == NULL || path[0] == '\0') {
                path = SHMDIR_DEFAULT;
        }
        if (strlen(path) >= sizeof(dir->path)) {
                snprintf(err, errlen, "shm directory path too long");
                return TSHM_ENAMETOOLONG;
        }
        memcpy(dir->path, path, strlen(path) + 1);
        dir->fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir->fd < 0 || fstat(dir->fd, &st) < 0) {
                rv = -errno;
                snprintf(err, errlen, "cannot open the shm directory %s: %s", path,
                         strerror(errno));
                goto fail;
        }
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                snprintf(err, errlen,
                         "%s belongs to uid %u, neither root nor tshmd's user: its owner could "
                         "remove or replace any segment",
                         path, (unsigned)st.st_uid);
                rv = TSHM_EACCES;
                goto fail;
        }
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
                snprintf(err, errlen,
                         "%s is writable by others and not sticky (mode %04o): another user could "
                         "remove or replace any segment; make it 1777 like /dev/shm, or 0700",
                         path, (unsigned)(st.st_mode & 07777));
                rv = TSHM_EACCES;
                goto fail;
        }
        dir->base_page = (uint64_t)sysconf(_SC_PAGESIZE);
        if ((rv = shmdir_backing(dir, &st, err, errlen)) < 0) {
                goto fail;
        }
        return 0;
fail:
        tshmd_shmdir_close(dir);
        return rv;
}

void
tshmd_shmdir_close(struct tshmd_shmdir *dir)
{
        if (dir->fd >= 0) {
                (void)close(dir->fd);
        }
        dir->fd = -1;
}

DIR *
tshmd_shmdir_list(const struct tshmd_shmdir *dir)
{
        /* A descriptor of its own: a DIR owns its position and closes it. */
        int fd = openat(dir->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;

        if (fd < 0) {
                return NULL;
        }
        if ((d = fdopendir(fd)) == NULL) {
                int e = errno;

                (void)close(fd);
                errno = e;
        }
        return d;
}

void
tshmd_shmdir_describe(const struct tshmd_shmdir *dir, uint64_t size, uint32_t *ret_backing,
                      uint64_t *ret_page_size)
{
        *ret_backing = dir->backing;
        /* huge=within_size gives a huge page only where one fits inside the
         * file: an object smaller than one has base pages only. */
        if (dir->huge_size != 0 && (!dir->huge_within_size || size >= dir->huge_size)) {
                *ret_page_size = dir->huge_size;
        } else {
                *ret_page_size = dir->base_page;
        }
}

const char *
tshmd_shmdir_backing_name(uint32_t backing)
{
        switch (backing) {
        case TSHM_BACKING_TMPFS_HUGE:
                return "tmpfs with huge pages";
        case TSHM_BACKING_HUGETLBFS:
                return "hugetlbfs";
        default:
                return "tmpfs";
        }
}

uint64_t
tshmd_shmdir_objsize(const struct tshmd_shmdir *dir, uint64_t size)
{
        /* hugetlbfs sizes an object in whole pages (ftruncate refuses any
         * other size, and a fault in a partial last page is a SIGBUS).
         * Overflow gives 0, which every budget and fallocate refuses. */
        return dir->backing == TSHM_BACKING_HUGETLBFS ? tshm__hdr_round_pages(size, dir->huge_size)
                                                      : size;
}

int
tshmd_shmdir_open_object(const struct tshmd_shmdir *dir, const char *objname, int flags,
                         mode_t mode)
{
        /* As shm_open() opens "/dev/shm/<objname>": never through a link. */
        int fd = openat(dir->fd, objname + 1, flags | O_NOFOLLOW | O_CLOEXEC, mode);

        return fd < 0 ? -errno : fd;
}
