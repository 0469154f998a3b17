/*
 * gc.c - what is stale under tshmd's prefix: ephemeral segments whose
 * creator is gone, and objects the registry does not know (no valid header,
 * or a header that names another segment). Found at startup and by the gc
 * operation; removed only when asked, and only if they are tshmd's own
 * (another user's objects under the prefix are reported, never removed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "tshmd.h"

uint64_t
tshmd_gc_start_time(pid_t pid)
{
        char path[64], buf[1024], *p;
        unsigned long long start = 0;
        ssize_t n;
        int fd, field;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                return 0;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        (void)close(fd);
        if (n <= 0) {
                return 0;
        }
        buf[n] = '\0';
        /* The command name may hold spaces and parentheses: the fields
         * start after the last ')'. starttime is field 22; ')' ends 2. */
        p = strrchr(buf, ')');
        for (field = 2; p != NULL && field < 22; field++) {
                p = strchr(p + 1, ' ');
        }
        if (p == NULL || sscanf(p + 1, "%llu", &start) != 1) {
                return 0;
        }
        return start;
}

bool
tshmd_gc_creator_alive(uint32_t pid, uint64_t start)
{
        /* Same pid and same start time: the same process, not a reuse. */
        return pid != 0 && start != 0 && tshmd_gc_start_time((pid_t)pid) == start;
}

/* Why the object @entry (a name under the prefix in the shm directory) is stale, in
 * @why, or false when it is not. @ret_ours says whether it may be removed:
 * only what is tshmd's, a regular file of its user. Another user's object
 * under the prefix (planted, or a daemon of another user given this prefix)
 * is reported, never removed: it is not ours to judge, and removing it
 * could take another daemon's live segment. */
static bool
gc_reason(struct tshmd_server *srv, int dfd, const char *entry, char *why, size_t whylen,
          bool *ret_ours, struct tshmd_seg **ret_seg)
{
        size_t plen = strlen(srv->cfg->shm_prefix);
        struct tshmd_seg *seg;
        struct stat st;

        *ret_seg = NULL;
        *ret_ours = false;
        if (fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                return false; /* gone meanwhile */
        }
        if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
                snprintf(why, whylen, "%s owned by uid %u, not by tshmd: left alone",
                         S_ISREG(st.st_mode) ? "a file" : "not a regular file,",
                         (unsigned)st.st_uid);
                return true;
        }
        *ret_ours = true;
        seg = tshmd_registry_find(&srv->reg, entry + plen + 1);
        *ret_seg = seg;
        if (seg == NULL) {
                snprintf(why, whylen, "%s",
                         "not registered: no valid tshm header, or one naming another segment");
                return true;
        }
        if (seg->state == TSHMD_SEG_READY && (seg->flags & TSHM_HDR_FLAG_EPHEMERAL) != 0 &&
            seg->opens == 0 && !tshmd_gc_creator_alive(seg->creator_pid, seg->creator_start)) {
                snprintf(why, whylen, "%s", "ephemeral, and its creator is gone");
                return true;
        }
        return false;
}

int
tshmd_gc_scan(struct tshmd_server *srv, bool remove, struct tshmd_gc_entry **ret_items,
              uint32_t *ret_count)
{
        size_t plen = strlen(srv->cfg->shm_prefix);
        struct tshmd_gc_entry *items = NULL;
        struct dirent *de;
        uint32_t n = 0;
        DIR *dir;
        int rv;

        items = tshm__calloc(TSHM_PROTO_LIST_PAGE, sizeof(*items));
        dir = tshmd_shmdir_list(&srv->shm);
        if (items == NULL || dir == NULL) {
                rv = items == NULL ? TSHM_ENOMEM : -errno;
                goto out;
        }
        while ((de = readdir(dir)) != NULL && n < TSHM_PROTO_LIST_PAGE) {
                struct tshmd_seg *seg;
                bool ours;

                if (strncmp(de->d_name, srv->cfg->shm_prefix, plen) != 0 ||
                    de->d_name[plen] != '.' || de->d_name[plen + 1] == '.' ||
                    !gc_reason(srv, dirfd(dir), de->d_name, items[n].reason,
                               sizeof(items[n].reason), &ours, &seg)) {
                        continue;
                }
                snprintf(items[n].object, sizeof(items[n].object), "/%s", de->d_name);
                /* Ours, so in the sticky shm directory nobody else can have
                 * put another object under the name since the check. */
                if (remove && ours && unlinkat(dirfd(dir), de->d_name, 0) == 0) {
                        items[n].removed = true;
                        if (seg != NULL) {
                                tshmd_registry_unname(&srv->reg, seg);
                        }
                        tshmd_log(LOG_NOTICE, "gc: removed %s (%s)", items[n].object,
                                  items[n].reason);
                }
                n++;
        }
        rv = 0;
        *ret_items = items;
        *ret_count = n;
        items = NULL; /* the caller's now */
out:
        if (dir != NULL) {
                (void)closedir(dir);
        }
        tshm__free(items);
        return rv;
}
