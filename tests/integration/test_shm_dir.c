/*
 * test_shm_dir.c - tshmd --shm-dir (issue 12): segments made in another
 * directory than /dev/shm work as they do there (data shared, stat, the
 * resize defence, gc, restart adoption, unlink) and never touch /dev/shm;
 * an unsafe or unsuitable directory keeps the daemon from starting, with
 * the reason; and on a tmpfs mounted with huge=within_size (root only: it
 * mounts one) a large segment is mapped with 2 MiB pages, which stat reports;
 * on hugetlbfs (root: it reserves pages) everything works with sizes in
 * whole huge pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

#define MiB ((uint64_t)1024 * 1024)

/* A fresh directory on /dev/shm's tmpfs (mode 0700, ours). */
static void
make_tmpfs_dir(char *buf, size_t len)
{
        snprintf(buf, len, "/dev/shm/tshm-test-dir-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(buf));
}

static void
remove_dir(const char *dir)
{
        char cmd[300];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
}

/* The size of @dir/<prefix>.<name>, or -1 if there is none. */
static long long
object_size(const char *dir, const struct tshmd_fixture *f, const char *name)
{
        char path[300];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s.%s", dir, f->prefix, name);
        return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void
fill_and_check(tshm_seg *s, uint64_t n, uint8_t seed, bool fill)
{
        uint8_t *p = tshm_seg_data(s);
        uint64_t i;

        for (i = 0; i < n; i += 4093) {
                if (fill) {
                        p[i] = (uint8_t)(seed + i);
                } else {
                        ck_assert_uint_eq(p[i], (uint8_t)(seed + i));
                }
        }
}

/* Everything a segment does, in a directory of the admin's choice. */
START_TEST(test_shm_dir_works_like_dev_shm)
{
        char dir[64], flag[80], path[300];
        const char *args[3];
        struct tshmd_fixture f;
        tshm_gc_entry *g = NULL;
        tshm_client *a, *b;
        tshm_seg *s, *r;
        tshm_info info;
        size_t n = 0, i;
        long long want = 4096 + (long long)MiB;
        bool listed = false;
        int fd, tries;

        make_tmpfs_dir(dir, sizeof(dir));
        snprintf(flag, sizeof(flag), "--shm-dir=%s", dir);
        args[0] = flag;
        args[1] = NULL;
        fixture_start(&f, args);
        a = fixture_connect(&f);
        b = fixture_connect(&f);
        ck_assert_int_eq(tshm_create(a, "a", TSHM_DTYPE_UINT8, 1, (uint64_t[]){MiB}, 0644, 0, &s),
                         0);
        fill_and_check(s, MiB, 3, true);
        /* The object is in the directory, and nothing went to /dev/shm. */
        ck_assert_int_eq(object_size(dir, &f, "a"), want);
        ck_assert_int_eq(fixture_count_objects(&f), 0);
        ck_assert_int_eq(tshm_stat(b, "a", &info), 0);
        ck_assert_uint_eq(info.backing, TSHM_BACKING_TMPFS);
        ck_assert_uint_eq(info.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
        ck_assert_str_eq(tshm_backing_name(info.backing), "tmpfs");
        ck_assert_int_eq(tshm_open(b, "a", TSHM_OPEN_RDONLY, &r), 0);
        fill_and_check(r, MiB, 3, false);
        tshm_close(r);

        /* The resize defence watches this directory: a cut is undone. */
        snprintf(path, sizeof(path), "%s/%s.a", dir, f.prefix);
        ck_assert_int_ge(fd = open(path, O_RDWR), 0);
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        (void)close(fd);
        for (tries = 0; tries < 500 && object_size(dir, &f, "a") != want; tries++) {
                usleep(10000);
        }
        ck_assert_int_eq(object_size(dir, &f, "a"), want);
        /* Bytes past the cut are lost (the creator's mapping reads zeros);
         * the header is put back, so that a restart still adopts it. */
        fill_and_check(s, MiB, 5, true);

        /* gc looks at this directory: a stray object under the prefix is
         * listed (and not removed: it is not a segment of ours). */
        snprintf(path, sizeof(path), "%s/%s.stray", dir, f.prefix);
        ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
        ck_assert_int_eq(write(fd, "junk", 4), 4);
        (void)close(fd);
        ck_assert_int_eq(tshm_gc(a, 0, &g, &n), 0);
        for (i = 0; i < n; i++) {
                listed |= strstr(g[i].object, ".stray") != NULL;
        }
        tshm_gc_free(g);
        ck_assert_msg(listed, "gc did not list the stray object in --shm-dir");
        ck_assert_int_eq(unlink(path), 0);
        tshm_close(s);
        tshm_disconnect(a);
        tshm_disconnect(b);

        /* A restart on the same directory adopts the segment, data and all;
         * one on /dev/shm does not find it. */
        fixture_stop(&f);
        fixture_restart(&f, NULL);
        a = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(a, "a", &info), TSHM_ENOENT);
        tshm_disconnect(a);
        fixture_stop(&f);
        fixture_restart(&f, args);
        a = fixture_connect(&f);
        ck_assert_int_eq(tshm_open(a, "a", TSHM_OPEN_RDONLY, &r), 0);
        fill_and_check(r, MiB, 5, false);
        tshm_close(r);
        ck_assert_int_eq(tshm_unlink(a, "a"), 0);
        ck_assert_int_eq(object_size(dir, &f, "a"), -1);
        tshm_disconnect(a);
        fixture_teardown(&f);
        remove_dir(dir);
}
END_TEST

static void
assert_refused(struct tshmd_fixture *f, const char *dir, const char *why)
{
        char flag[300];
        const char *args[] = {flag, NULL};
        const char *err;

        snprintf(flag, sizeof(flag), "--shm-dir=%s", dir);
        err = fixture_start_fails(f, NULL, args);
        ck_assert_msg(strstr(err, why) != NULL, "--shm-dir=%s: expected '%s' in: %s", dir, why,
                      err);
}

/* A directory where another user could swap segments, or one that is not
 * memory, keeps tshmd from starting, and says why. */
START_TEST(test_shm_dir_unsafe_is_refused)
{
        struct tshmd_fixture f;
        char dir[64];

        fixture_prepare(&f);
        make_tmpfs_dir(dir, sizeof(dir));
        ck_assert_int_eq(chmod(dir, 0777), 0);
        assert_refused(&f, dir, "writable by others and not sticky");
        ck_assert_int_eq(chmod(dir, 0770), 0);
        assert_refused(&f, dir, "writable by others and not sticky");
        assert_refused(&f, "/proc", "is not on a tmpfs");
        assert_refused(&f, "/dev/shm/tshm-no-such-dir", "cannot open the shm directory");
        assert_refused(&f, "relative/dir", "shm-dir");
        if (geteuid() == 0) {
                /* Another user's directory, even a sticky one. */
                ck_assert_int_eq(chmod(dir, 01777), 0);
                ck_assert_int_eq(chown(dir, 65534, 65534), 0);
                assert_refused(&f, dir, "belongs to uid 65534");
        }
        remove_dir(dir);
        remove_dir(f.dir);
}
END_TEST

/* Whether the host lets a tmpfs mount have huge pages at all. */
static bool
host_denies_shmem_huge(void)
{
        char line[128] = "";
        FILE *fp = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");

        if (fp == NULL) {
                return true; /* no THP in this kernel */
        }
        (void)!fgets(line, sizeof(line), fp);
        fclose(fp);
        return strstr(line, "[deny]") != NULL;
}

/* On a tmpfs mounted with huge=within_size, a segment of 2 MiB or more is
 * mapped with 2 MiB pages (its mapping's ShmemPmdMapped), and stat says so;
 * a small one is not, and stat says that too; restart adoption works. */
START_TEST(test_shm_dir_huge_pages)
{
        char dir[64], flag[80];
        const char *args[] = {flag, NULL};
        struct tshmd_fixture f;
        tshm_info big, small;
        tshm_client *c;
        tshm_seg *s, *t, *r;
        bool huge_host = !host_denies_shmem_huge();

        if (geteuid() != 0) {
                /* CI runs as root; a developer's unprivileged run cannot
                 * mount, and says so in the log. */
                fprintf(stderr, "test_shm_dir_huge_pages: not root, no tmpfs mounted; not run\n");
                return;
        }
        make_tmpfs_dir(dir, sizeof(dir));
        ck_assert_msg(mount("tshm-test-huge", dir, "tmpfs", MS_NOSUID | MS_NODEV,
                            "huge=within_size,size=64m,mode=1777") == 0,
                      "mount: %s", strerror(errno));
        snprintf(flag, sizeof(flag), "--shm-dir=%s", dir);
        fixture_start(&f, args);
        c = fixture_connect(&f);
        ck_assert_int_eq(
            tshm_create(c, "big", TSHM_DTYPE_UINT8, 1, (uint64_t[]){8 * MiB}, 0, 0, &s), 0);
        ck_assert_int_eq(tshm_create(c, "small", TSHM_DTYPE_UINT8, 1, (uint64_t[]){100}, 0, 0, &t),
                         0);
        ck_assert_int_eq(tshm_stat(c, "big", &big), 0);
        ck_assert_int_eq(tshm_stat(c, "small", &small), 0);
        ck_assert_uint_eq(small.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
        if (huge_host) {
                ck_assert_uint_eq(big.backing, TSHM_BACKING_TMPFS_HUGE);
                ck_assert_str_eq(tshm_backing_name(big.backing), "tmpfs-huge");
                ck_assert_uint_eq(small.backing, TSHM_BACKING_TMPFS_HUGE);
                ck_assert_uint_ge(big.page_size, 2 * MiB);
                /* What the kernel actually did: the populated mapping of the
                 * creator holds huge pages. */
                ck_assert_uint_ge(fixture_smaps_bytes(tshm_seg_data(s), "ShmemPmdMapped"), 2 * MiB);
        } else {
                ck_assert_uint_eq(big.backing, TSHM_BACKING_TMPFS);
                ck_assert_uint_eq(big.page_size, (uint64_t)sysconf(_SC_PAGESIZE));
        }
        fill_and_check(s, 8 * MiB, 11, true);
        tshm_close(s);
        tshm_close(t);
        tshm_disconnect(c);

        /* Adopted after a restart, the data intact, the mapping huge. */
        fixture_stop(&f);
        fixture_restart(&f, args);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_open(c, "big", TSHM_OPEN_RDONLY, &r), 0);
        fill_and_check(r, 8 * MiB, 11, false);
        if (huge_host) {
                ck_assert_uint_ge(fixture_smaps_bytes(tshm_seg_data(r), "ShmemPmdMapped"), 2 * MiB);
        }
        tshm_close(r);
        ck_assert_int_eq(tshm_unlink(c, "big"), 0);
        ck_assert_int_eq(tshm_unlink(c, "small"), 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
        ck_assert_int_eq(umount(dir), 0);
        remove_dir(dir);
}
END_TEST

/* Whether this process maps anything of @path (its /proc/self/maps). */
static bool
mapped(const char *path)
{
        char line[512];
        bool found = false;
        FILE *fp = fopen("/proc/self/maps", "r");

        ck_assert_ptr_nonnull(fp);
        while (!found && fgets(line, sizeof(line), fp) != NULL) {
                found = strstr(line, path) != NULL;
        }
        fclose(fp);
        return found;
}

static long
read_long(const char *path)
{
        long v = -1;
        FILE *fp = fopen(path, "r");

        ck_assert_ptr_nonnull(fp);
        ck_assert_int_eq(fscanf(fp, "%ld", &v), 1);
        fclose(fp);
        return v;
}

static void
write_long(const char *path, long v)
{
        FILE *fp = fopen(path, "w");

        ck_assert_ptr_nonnull(fp);
        ck_assert_int_gt(fprintf(fp, "%ld\n", v), 0);
        ck_assert_int_eq(fclose(fp), 0);
}

#define NR_HUGEPAGES "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
#define FREE_HUGEPAGES "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

/* hugetlbfs, where an admin reserved 2 MiB pages: every object is a whole
 * number of them (sizes round up), written through mappings (no write()),
 * mapped and unmapped whole; arrays, streams, chmod's header write, the
 * resize defence, adoption and a full pool all work. Root only (it
 * reserves pages and mounts). */
START_TEST(test_shm_dir_hugetlbfs)
{
        char dir[64], flag[80], obj[300];
        const char *args[] = {flag, NULL};
        struct tshmd_fixture f;
        tshm_client *c;
        tshm_seg *s, *r, *st;
        tshm_sub *sub;
        tshm_frame fr;
        tshm_info info;
        void *d;
        long nr, want;
        int fd, tries;

        if (geteuid() != 0 || access(NR_HUGEPAGES, W_OK) != 0) {
                fprintf(stderr, "test_shm_dir_hugetlbfs: not root or no 2 MiB pages; not run\n");
                return;
        }
        nr = read_long(NR_HUGEPAGES);
        write_long(NR_HUGEPAGES, nr + 8);
        if (read_long(FREE_HUGEPAGES) < 8) {
                /* Fragmented memory has no free 2 MiB blocks: compact it
                 * and ask again. */
                write_long("/proc/sys/vm/compact_memory", 1);
                write_long(NR_HUGEPAGES, nr + 8);
        }
        if (read_long(FREE_HUGEPAGES) < 8) {
                write_long(NR_HUGEPAGES, nr);
                fprintf(stderr, "test_shm_dir_hugetlbfs: the kernel could not reserve 8 pages of "
                                "2 MiB; not run\n");
                return;
        }
        make_tmpfs_dir(dir, sizeof(dir));
        ck_assert_msg(mount("tshm-test-htlb", dir, "hugetlbfs", MS_NOSUID | MS_NODEV,
                            "mode=1777,pagesize=2M,size=16M") == 0,
                      "mount: %s", strerror(errno));
        snprintf(flag, sizeof(flag), "--shm-dir=%s", dir);
        fixture_start(&f, args);
        c = fixture_connect(&f);

        /* 3 MiB of data and the header page: two 2 MiB pages. */
        ck_assert_int_eq(
            tshm_create(c, "a", TSHM_DTYPE_UINT8, 1, (uint64_t[]){3 * MiB}, 0644, 0, &s), 0);
        fill_and_check(s, 3 * MiB, 17, true);
        ck_assert_int_eq(tshm_stat(c, "a", &info), 0);
        ck_assert_uint_eq(info.backing, TSHM_BACKING_HUGETLBFS);
        ck_assert_str_eq(tshm_backing_name(info.backing), "hugetlbfs");
        ck_assert_uint_eq(info.page_size, 2 * MiB);
        ck_assert_uint_eq(info.size, 4 * MiB);
        ck_assert_int_eq(object_size(dir, &f, "a"), (long long)(4 * MiB));
        ck_assert_int_eq(tshm_open(c, "a", TSHM_OPEN_RDONLY, &r), 0);
        fill_and_check(r, 3 * MiB, 17, false);
        /* Closed means unmapped: hugetlbfs unmaps only whole pages. */
        snprintf(obj, sizeof(obj), "%s/%s.a", dir, f.prefix);
        ck_assert(mapped(obj));
        tshm_close(r);
        tshm_close(s);
        ck_assert_msg(!mapped(obj), "a closed segment is still mapped");

        /* A stream: a frame goes through. */
        ck_assert_int_eq(tshm_stream_create(c, "st", TSHM_DTYPE_INT32, 1, (uint64_t[]){1024}, 4,
                                            TSHM_STREAM_BLOCK, 0, 0, &st),
                         0);
        ck_assert_int_eq(tshm_sub_open(c, "st", &sub), 0);
        ck_assert_int_eq(tshm_stream_loan(st, 1000, &d), 0);
        ((int32_t *)d)[1023] = 77;
        ck_assert_int_eq(tshm_stream_publish(st), 1);
        ck_assert_int_eq(tshm_sub_take(sub, 1000, &fr), 0);
        ck_assert_int_eq(((const int32_t *)fr.data)[1023], 77);
        ck_assert_int_eq(tshm_sub_release(sub), 0);
        ck_assert_int_eq(tshm_sub_close(sub), 0);
        tshm_close(st);

        /* chmod rewrites the header through a mapping; a cut is undone,
         * header and all; both survive a restart. */
        ck_assert_int_eq(tshm_chmod(c, "a", 0640), 0);
        ck_assert_int_ge(fd = open(obj, O_RDWR), 0);
        ck_assert_int_eq(ftruncate(fd, 0), 0);
        (void)close(fd);
        want = (long)(4 * MiB);
        for (tries = 0; tries < 500 && object_size(dir, &f, "a") != want; tries++) {
                usleep(10000);
        }
        ck_assert_int_eq(object_size(dir, &f, "a"), want);
        tshm_disconnect(c);
        fixture_stop(&f);
        fixture_restart(&f, args);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(c, "a", &info), 0);
        ck_assert_uint_eq(info.mode, 0640);
        ck_assert_int_eq(tshm_open(c, "a", TSHM_OPEN_RDWR, &s), 0);
        fill_and_check(s, 3 * MiB, 23, true);
        tshm_close(s);

        /* The pool (16 MiB mount, 8 pages) is smaller than this: a clean
         * TSHM_ENOSPC, nothing left behind, the others intact. */
        ck_assert_int_eq(
            tshm_create(c, "huge", TSHM_DTYPE_UINT8, 1, (uint64_t[]){32 * MiB}, 0, 0, &s),
            TSHM_ENOSPC);
        ck_assert_int_eq(object_size(dir, &f, "huge"), -1);
        ck_assert_int_eq(tshm_open(c, "a", TSHM_OPEN_RDONLY, &r), 0);
        fill_and_check(r, 3 * MiB, 23, false);
        tshm_close(r);
        ck_assert_int_eq(tshm_unlink(c, "a"), 0);
        ck_assert_int_eq(tshm_unlink(c, "st"), 0);
        tshm_disconnect(c);
        fixture_teardown(&f);
        ck_assert_int_eq(umount(dir), 0);
        remove_dir(dir);
        write_long(NR_HUGEPAGES, nr);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("shm_dir");

        tshm_test_case(s, "shm_dir", 120,
                       TSHM_TESTS(test_shm_dir_works_like_dev_shm, test_shm_dir_unsafe_is_refused,
                                  test_shm_dir_huge_pages, test_shm_dir_hugetlbfs));
        return tshm_test_run(s);
}
