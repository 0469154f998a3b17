/*
 * test_adopt.c - what a restarted tshmd adopts from /dev/shm, which any local
 * user can write to before the daemon (re)starts: only the segments it made
 * itself. An attacker (its own unprivileged uid) plants objects under the
 * prefix while the daemon is down; the restarted daemon must listen, adopt
 * none of them, keep the genuine segments, and keep creating within its
 * budget. Also: the seal key lives in the state directory (a key planted at
 * the old /dev/shm path is not used), a damaged or foreign key is never
 * trusted, and a second daemon on the same prefix and state directory
 * refuses to start, naming the first.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"
#include "header.h"
#include "tshmd.h"

#define ATTACKER_UID 54321
#define HUGE_SIZE (100ull << 30) /* sparse: costs nothing */

/* Run @fn(@arg) in a child as the attacker; true if it returned 0. */
static bool
as_attacker(int (*fn)(const struct tshmd_fixture *, const void *), const struct tshmd_fixture *f,
            const void *arg)
{
        int status;
        pid_t pid = tshm_test_fork();

        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setgid(ATTACKER_UID) < 0 ||
                    setuid(ATTACKER_UID) < 0) {
                        _exit(99);
                }
                _exit(fn(f, arg) == 0 ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void
objpath(const struct tshmd_fixture *f, const char *name, char *out, size_t len)
{
        snprintf(out, len, "/dev/shm/%s.%s", f->prefix, name);
}

/* Write @len bytes of @data into a new object of ours named @name (under
 * the prefix), mode 0600, @size bytes long. */
static int
plant(const struct tshmd_fixture *f, const char *name, const void *data, size_t len, uint64_t size)
{
        char path[300];
        int fd, rv = 0;

        objpath(f, name, path, sizeof(path));
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                return -1;
        }
        if (fchmod(fd, 0600) < 0 || (len > 0 && pwrite(fd, data, len, 0) != (ssize_t)len) ||
            ftruncate(fd, (off_t)size) < 0) {
                rv = -1;
        }
        close(fd);
        return rv;
}

/* What the attacker copies: a real segment's bytes, read through a reader's
 * descriptor (any reader of a segment can). */
struct copy {
        uint8_t *bytes;
        size_t len;
};

static int
plant_copy(const struct tshmd_fixture *f, const void *arg)
{
        const struct copy *cp = arg;

        return plant(f, "victim", cp->bytes, cp->len, cp->len);
}

static int
plant_odd_objects(const struct tshmd_fixture *f, const void *arg)
{
        char path[300], target[300];

        (void)arg;
        objpath(f, "fifo", path, sizeof(path));
        if (mkfifo(path, 0666) < 0) {
                return -1;
        }
        objpath(f, "link", path, sizeof(path));
        objpath(f, "keep", target, sizeof(target));
        if (symlink(target, path) < 0) {
                return -1;
        }
        /* What looks like a create a crash cut short: not the daemon's. */
        return plant(f, ".new.squat", "x", 1, 1);
}

static void
read_object(const struct tshmd_fixture *f, const char *name, struct copy *cp)
{
        char path[300];
        struct stat st;
        int fd;

        objpath(f, name, path, sizeof(path));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        cp->len = (size_t)st.st_size;
        cp->bytes = malloc(cp->len);
        ck_assert_ptr_nonnull(cp->bytes);
        ck_assert_int_eq(pread(fd, cp->bytes, cp->len, 0), (ssize_t)cp->len);
        close(fd);
}

static bool
exists(const struct tshmd_fixture *f, const char *name)
{
        char path[300];
        struct stat st;

        objpath(f, name, path, sizeof(path));
        return lstat(path, &st) == 0;
}

static void
create(tshm_client *c, const char *name, tshm_dtype dtype, uint64_t n, unsigned mode)
{
        tshm_seg *s;
        int rv = tshm_create(c, name, dtype, 1, (uint64_t[]){n}, mode, 0, &s);

        ck_assert_msg(rv == 0, "create %s: %s", name, tshm_strerror(rv));
        if (dtype == TSHM_DTYPE_UINT8) {
                memset(tshm_seg_data(s), 0x5a, n);
        }
        tshm_close(s);
}

/* The gc entry for @name, or NULL. */
static const tshm_gc_entry *
gc_find(const tshm_gc_entry *g, size_t n, const struct tshmd_fixture *f, const char *name)
{
        char object[300];
        size_t i;

        snprintf(object, sizeof(object), "/%s.%s", f->prefix, name);
        for (i = 0; i < n; i++) {
                if (strcmp(g[i].object, object) == 0) {
                        return &g[i];
                }
        }
        return NULL;
}

START_TEST(test_adopt_refuses_planted_objects)
{
        static const char *const budget[] = {"--max-bytes", "64M", NULL};
        static const char *const mine[] = {"keep", "grown", "wide", "moved"};
        static const char *const foreign[] = {"victim", "fifo", "link"};
        struct tshmd_fixture f;
        const tshm_gc_entry *e;
        tshm_gc_entry *g;
        struct copy cp;
        tshm_client *c;
        tshm_info info;
        tshm_seg *s;
        char path[300];
        size_t n, i;

        fixture_start(&f, budget);
        c = fixture_connect(&f);
        create(c, "keep", TSHM_DTYPE_UINT8, 100, 0644);
        create(c, "grown", TSHM_DTYPE_UINT8, 100, 0644);
        create(c, "wide", TSHM_DTYPE_UINT8, 100, 0644);
        create(c, "victim", TSHM_DTYPE_UINT8, 100, 0644);
        create(c, "orig", TSHM_DTYPE_UINT8, 100, 0644);
        /* A reader of "victim" copies its bytes, sealed header and all; its
         * owner removes it. */
        read_object(&f, "victim", &cp);
        ck_assert_int_eq(tshm_unlink(c, "victim"), 0);
        tshm_disconnect(c);
        fixture_stop(&f);

        /* While the daemon is down. */
        ck_assert_msg(as_attacker(plant_copy, &f, &cp), "could not plant the copy");
        ck_assert_msg(as_attacker(plant_odd_objects, &f, NULL), "could not plant the objects");
        /* A writer that held a descriptor grows "grown" to 100 GiB; someone
         * with the daemon's uid opens "wide" to others. */
        objpath(&f, "grown", path, sizeof(path));
        ck_assert_int_eq(truncate(path, (off_t)HUGE_SIZE), 0);
        objpath(&f, "wide", path, sizeof(path));
        ck_assert_int_eq(chmod(path, 0644), 0);
        /* And moves "orig" to another name: its header no longer names it. */
        {
                char to[300];
                objpath(&f, "orig", path, sizeof(path));
                objpath(&f, "moved", to, sizeof(to));
                ck_assert_int_eq(rename(path, to), 0);
        }

        /* It listens (the FIFO does not block it): fixture_restart waits 10 s
         * at most for READY=1. */
        fixture_restart(&f, NULL);
        c = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(c, "keep", &info), 0);
        ck_assert_int_eq(tshm_open(c, "keep", TSHM_OPEN_RDONLY, &s), 0);
        ck_assert_int_eq(((const uint8_t *)tshm_seg_data(s))[99], 0x5a);
        tshm_close(s);
        for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
                ck_assert_msg(tshm_stat(c, foreign[i], &info) == TSHM_ENOENT,
                              "tshmd adopted the planted '%s'", foreign[i]);
        }
        ck_assert_msg(tshm_stat(c, "grown", &info) == TSHM_ENOENT,
                      "tshmd adopted a segment grown past what its header says");
        ck_assert_msg(tshm_stat(c, "wide", &info) == TSHM_ENOENT,
                      "tshmd adopted an object whose mode is not 0600");
        ck_assert_msg(tshm_stat(c, "orig", &info) == TSHM_ENOENT &&
                          tshm_stat(c, "moved", &info) == TSHM_ENOENT,
                      "tshmd adopted an object whose header names another segment");
        ck_assert_msg(exists(&f, "victim") && exists(&f, ".new.squat"),
                      "tshmd removed another user's objects at start");
        /* Creates still fit the budget: nothing was charged 100 GiB. */
        create(c, "fresh", TSHM_DTYPE_UINT8, 1 << 20, 0644);

        /* gc reports every object it did not adopt; it removes only its own
         * (another user's are left alone, with the reason). */
        ck_assert_int_eq(tshm_gc(c, 1, &g, &n), 0);
        for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
                e = gc_find(g, n, &f, foreign[i]);
                ck_assert_msg(e != NULL, "gc does not report '%s'", foreign[i]);
                ck_assert_msg(!e->removed, "gc removed another user's '%s'", foreign[i]);
                ck_assert_ptr_nonnull(strstr(e->reason, "not by tshmd"));
                ck_assert(exists(&f, foreign[i]));
        }
        for (i = 1; i < sizeof(mine) / sizeof(mine[0]); i++) {
                e = gc_find(g, n, &f, mine[i]);
                ck_assert_msg(e != NULL && e->removed, "gc did not remove its own '%s'", mine[i]);
                ck_assert(!exists(&f, mine[i]));
        }
        ck_assert_ptr_null(gc_find(g, n, &f, "keep"));
        tshm_gc_free(g);
        ck_assert_int_eq(tshm_stat(c, "keep", &info), 0);
        free(cp.bytes);
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

/* Before the daemon ever ran: a seal key of the attacker's choosing at the
 * path older daemons kept it (/dev/shm/<prefix>..key), and a segment
 * claiming owner root, mode 0666, sealed with it. */
static const uint8_t chosen_key[16] = "attacker's key!";

static int
plant_key(const struct tshmd_fixture *f, const void *arg)
{
        const size_t *keylen = arg;
        struct tshm__seg_spec spec = {.name = "forged",
                                      .dtype = TSHM_DTYPE_UINT8,
                                      .ndim = 1,
                                      .shape = {16},
                                      .mode = 0666,
                                      .owner_uid = 0,
                                      .owner_gid = 0};
        struct tshm__hdr hdr;
        uint64_t size;

        if (tshm__hdr_init(&hdr, &spec) < 0 || tshm__hdr_spec_size(&spec, &size) < 0) {
                return -1;
        }
        tshmd_seal(chosen_key, &hdr);
        if (plant(f, "forged", &hdr, sizeof(hdr), size) < 0) {
                return -1;
        }
        return plant(f, ".key", chosen_key, *keylen, *keylen);
}

static void
planted_key_case(size_t keylen)
{
        struct tshmd_fixture f;
        struct tshm__hdr hdr;
        uint8_t key[32];
        tshm_client *c;
        tshm_info info;
        char path[300];
        int fd;

        fixture_prepare(&f);
        ck_assert_msg(as_attacker(plant_key, &f, &keylen), "could not plant the key");
        fixture_restart(&f, NULL); /* the first start */
        c = fixture_connect(&f);
        ck_assert_msg(tshm_stat(c, "forged", &info) == TSHM_ENOENT,
                      "tshmd adopted a segment sealed with a planted key");
        create(c, "real", TSHM_DTYPE_UINT8, 16, 0600);
        /* The daemon seals with a key of its own, in its state directory. */
        objpath(&f, "real", path, sizeof(path));
        fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(pread(fd, &hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
        close(fd);
        ck_assert_msg(hdr.mac != tshmd_seal_compute(chosen_key, &hdr),
                      "tshmd seals with the key planted in /dev/shm");
        snprintf(path, sizeof(path), "%s/%s.key", f.state, f.prefix);
        fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(read(fd, key, sizeof(key)), 16);
        close(fd);
        ck_assert(memcmp(key, chosen_key, 16) != 0);
        /* The planted objects are another user's: left alone. */
        ck_assert(exists(&f, ".key") && exists(&f, "forged"));
        tshm_disconnect(c);
        fixture_teardown(&f);
}

START_TEST(test_adopt_ignores_a_key_planted_in_dev_shm)
{
        planted_key_case(16);
}
END_TEST

START_TEST(test_adopt_survives_an_empty_planted_key)
{
        planted_key_case(0);
}
END_TEST

/* The state directory and the key in it: a damaged key of ours is
 * replaced; a key or directory that is not ours, or open to others, stops
 * the start with a reason. */
START_TEST(test_adopt_state_dir_is_checked)
{
        struct tshmd_fixture f;
        char key[300];
        const char *out;
        struct stat st;
        int fd;

        fixture_prepare(&f);
        ck_assert_int_eq(mkdir(f.state, 0700), 0);
        snprintf(key, sizeof(key), "%s/%s.key", f.state, f.prefix);
        fd = open(key, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ck_assert_int_ge(fd, 0);
        close(fd);
        /* An empty key (a disk that lost it): replaced, no loop. */
        fixture_restart(&f, NULL);
        fixture_stop(&f);
        ck_assert_int_eq(stat(key, &st), 0);
        ck_assert_int_eq(st.st_size, 16);

        ck_assert_int_eq(chown(key, ATTACKER_UID, ATTACKER_UID), 0);
        out = fixture_start_fails(&f, NULL, NULL);
        ck_assert_msg(strstr(out, "owned by uid 54321") != NULL, "no reason given: %s", out);
        ck_assert_int_eq(chown(key, 0, 0), 0);

        ck_assert_int_eq(chmod(key, 0644), 0);
        out = fixture_start_fails(&f, NULL, NULL);
        ck_assert_msg(strstr(out, "open to other users") != NULL, "no reason given: %s", out);
        ck_assert_int_eq(chmod(key, 0600), 0);

        ck_assert_int_eq(chmod(f.state, 0777), 0);
        out = fixture_start_fails(&f, NULL, NULL);
        ck_assert_msg(strstr(out, "open to other users") != NULL, "no reason given: %s", out);
        ck_assert_int_eq(chmod(f.state, 0700), 0);

        fixture_restart(&f, NULL);
        fixture_teardown(&f);
}
END_TEST

/* Class 10: a second daemon with the same prefix and state directory (on
 * another socket) refuses to start, names the first, and touches nothing. */
START_TEST(test_adopt_second_daemon_refused)
{
        struct tshmd_fixture f;
        char other[160], pid[32];
        tshm_gc_entry *g;
        const char *out;
        tshm_client *c;
        tshm_info info;
        size_t n;

        fixture_start(&f, NULL);
        c = fixture_connect(&f);
        create(c, "live", TSHM_DTYPE_UINT8, 64, 0644);
        snprintf(other, sizeof(other), "%s/other.sock", f.dir);
        out = fixture_start_fails(&f, other, NULL);
        snprintf(pid, sizeof(pid), "pid %d", (int)f.pid);
        ck_assert_msg(strstr(out, pid) != NULL, "the refusal does not name %s: %s", pid, out);
        ck_assert_int_eq(access(other, F_OK), -1);
        /* The first one serves on, its segment whole. */
        ck_assert_int_eq(tshm_stat(c, "live", &info), 0);
        create(c, "after", TSHM_DTYPE_UINT8, 64, 0644);
        ck_assert_int_eq(tshm_gc(c, 0, &g, &n), 0);
        ck_assert_uint_eq(n, 0);
        tshm_gc_free(g);
        ck_assert(exists(&f, "live") && exists(&f, "after"));
        tshm_disconnect(c);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("adopt");

        if (geteuid() != 0) {
                printf("SKIP: test_adopt plays an attacker uid and needs root\n");
                return 77;
        }
        tshm_test_case(s, "adopt", 120,
                       TSHM_TESTS(test_adopt_refuses_planted_objects,
                                  test_adopt_ignores_a_key_planted_in_dev_shm,
                                  test_adopt_survives_an_empty_planted_key,
                                  test_adopt_state_dir_is_checked,
                                  test_adopt_second_daemon_refused));
        return tshm_test_run(s);
}
