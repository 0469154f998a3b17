/*
 * test_access.c - the permission matrix: clients under distinct uids and
 * groups (owner, group member, other, root) try every op on segments of
 * every mode. Needs root to switch identities; skipped otherwise.
 */
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

#define OWNER_UID 60001
#define GROUP_GID 60001 /* the owner's primary group */
#define MEMBER_UID 60002
#define OTHER_UID 60003

enum actor { OWNER, MEMBER, OTHER, ROOT, NACTORS };
static const char *const actor_names[] = {"owner", "member", "other", "root"};

static const unsigned modes[] = {0000, 0400, 0600, 0640, 0660, 0604, 0606, 0644, 0666,
                                 0700, 0060, 0006, 0200, 0020, 0002, 0777, 0440, 0404};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

/* Become @a: the member has the owner's group only as a supplementary
 * group, so the group class must come from SO_PEERGROUPS. */
static int
become(enum actor a)
{
        gid_t member_groups[] = {GROUP_GID};

        switch (a) {
        case OWNER:
                return setgroups(0, NULL) || setgid(GROUP_GID) || setuid(OWNER_UID) ? -1 : 0;
        case MEMBER:
                return setgroups(1, member_groups) || setgid(MEMBER_UID) || setuid(MEMBER_UID) ? -1
                                                                                               : 0;
        case OTHER:
                return setgroups(0, NULL) || setgid(OTHER_UID) || setuid(OTHER_UID) ? -1 : 0;
        default:
                return 0;
        }
}

/* The rights of @a on a segment of @mode owned by OWNER_UID:GROUP_GID. */
static unsigned
rights(enum actor a, unsigned mode)
{
        switch (a) {
        case OWNER:
                return (mode >> 6) & 7u;
        case MEMBER:
                return (mode >> 3) & 7u;
        case OTHER:
                return mode & 7u;
        default:
                return 7u;
        }
}

static int
check(const char *what, enum actor a, unsigned mode, int got, int want)
{
        if (got == want) {
                return 0;
        }
        fprintf(stderr, "%s by %s on mode %04o: got %s, want %s\n", what, actor_names[a], mode,
                tshm_err_name(got), tshm_err_name(want));
        return 1;
}

/* In a child: every open of every mode as @a. Returns the mismatch count. */
static int
actor_opens(const struct tshmd_fixture *f, enum actor a)
{
        tshm_client *c;
        tshm_seg *s;
        char name[32];
        size_t i;
        int bad = 0, rv;

        if (become(a) < 0 || tshm_connect(f->socket, &c) < 0) {
                return 100;
        }
        for (i = 0; i < NMODES; i++) {
                unsigned r = rights(a, modes[i]);
                snprintf(name, sizeof(name), "m%04o", modes[i]);
                rv = tshm_open(c, name, TSHM_OPEN_RDONLY, &s);
                bad += check("open read-only", a, modes[i], rv, (r & 4u) ? 0 : TSHM_EACCES);
                if (rv == 0) {
                        tshm_close(s);
                }
                rv = tshm_open(c, name, TSHM_OPEN_RDWR, &s);
                bad += check("open read-write", a, modes[i], rv, (r & 6u) == 6u ? 0 : TSHM_EACCES);
                if (rv == 0) {
                        tshm_close(s);
                }
                /* Only the owner and root may unlink, chmod or chown. */
                if (a != OWNER && a != ROOT) {
                        bad += check("unlink", a, modes[i], tshm_unlink(c, name), TSHM_EACCES);
                        bad += check("chmod", a, modes[i], tshm_chmod(c, name, 0777), TSHM_EACCES);
                        bad +=
                            check("chown", a, modes[i],
                                  tshm_chown(c, name, TSHM_ID_UNCHANGED, MEMBER_UID), TSHM_EACCES);
                }
        }
        tshm_disconnect(c);
        return bad;
}

static int
run_as(const struct tshmd_fixture *f, enum actor a,
       int (*fn)(const struct tshmd_fixture *, enum actor))
{
        int status = 0;
        pid_t pid = tshm_test_fork();

        if (pid == 0) {
                _exit(fn(f, a));
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

static int
owner_creates(const struct tshmd_fixture *f, enum actor a)
{
        tshm_client *c;
        tshm_seg *s;
        char name[32];
        size_t i;

        if (become(a) < 0 || tshm_connect(f->socket, &c) < 0) {
                return 100;
        }
        for (i = 0; i < NMODES; i++) {
                snprintf(name, sizeof(name), "m%04o", modes[i]);
                if (tshm_create(c, name, TSHM_DTYPE_INT32, 1, (uint64_t[]){4}, 0600, 0, &s) < 0) {
                        return 101;
                }
                tshm_close(s);
                /* mode 0 at create means the default; chmod sets it exactly. */
                if (tshm_chmod(c, name, modes[i]) < 0) {
                        return 102;
                }
        }
        tshm_disconnect(c);
        return 0;
}

START_TEST(test_access_matrix)
{
        struct tshmd_fixture f;
        tshm_client *root;
        tshm_info info;
        int a;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: the permission matrix needs root to switch uids\n");
                return;
        }
        fixture_start(&f, NULL);
        ck_assert_int_eq(run_as(&f, OWNER, owner_creates), 0);
        root = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(root, "m0640", &info), 0);
        ck_assert_uint_eq(info.owner_uid, OWNER_UID);
        ck_assert_uint_eq(info.owner_gid, GROUP_GID);
        ck_assert_uint_eq(info.mode, 0640);
        for (a = 0; a < NACTORS; a++) {
                ck_assert_msg(run_as(&f, (enum actor)a, actor_opens) == 0,
                              "permission mismatches for %s (see stderr)", actor_names[a]);
        }
        tshm_disconnect(root);
        fixture_teardown(&f);
}
END_TEST

/* The owner's chmod and chown, and their limits. */
static int
owner_changes(const struct tshmd_fixture *f, enum actor a)
{
        tshm_client *c;
        tshm_info info;
        tshm_seg *s;
        int bad = 0;

        if (become(a) < 0 || tshm_connect(f->socket, &c) < 0) {
                return 100;
        }
        if (tshm_create(c, "mine", TSHM_DTYPE_UINT8, 0, NULL, 0600, 0, &s) < 0) {
                return 101;
        }
        tshm_close(s);
        bad += check("chmod 0644", a, 0600, tshm_chmod(c, "mine", 0644), 0);
        bad += check("chmod 01777", a, 0644, tshm_chmod(c, "mine", 01777), TSHM_EINVAL);
        bad += check("chown to another uid", a, 0644,
                     tshm_chown(c, "mine", MEMBER_UID, TSHM_ID_UNCHANGED), TSHM_EACCES);
        bad += check("chown to a foreign group", a, 0644,
                     tshm_chown(c, "mine", TSHM_ID_UNCHANGED, OTHER_UID), TSHM_EACCES);
        bad += check("chown to its own group", a, 0644,
                     tshm_chown(c, "mine", TSHM_ID_UNCHANGED, GROUP_GID), 0);
        if (tshm_stat(c, "mine", &info) < 0 || info.mode != 0644 || info.owner_gid != GROUP_GID) {
                bad++;
        }
        tshm_disconnect(c);
        return bad;
}

/* A reader of another uid cannot reopen the object writable by its path. */
static int
member_reopens(const struct tshmd_fixture *f, enum actor a)
{
        char path[300];
        tshm_client *c;
        tshm_seg *s;
        int fd, bad = 0;

        if (become(a) < 0 || tshm_connect(f->socket, &c) < 0) {
                return 100;
        }
        if (tshm_open(c, "mine", TSHM_OPEN_RDONLY, &s) < 0) {
                return 101;
        }
        snprintf(path, sizeof(path), "/dev/shm/%s.mine", f->prefix);
        fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
                fprintf(stderr, "member reopened %s read-write\n", path);
                bad++;
                close(fd);
        }
        tshm_close(s);
        tshm_disconnect(c);
        return bad;
}

START_TEST(test_access_owner_changes_and_reopen)
{
        struct tshmd_fixture f;
        tshm_client *root;
        tshm_info info;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: needs root to switch uids\n");
                return;
        }
        fixture_start(&f, NULL);
        ck_assert_int_eq(run_as(&f, OWNER, owner_changes), 0);
        ck_assert_int_eq(run_as(&f, MEMBER, member_reopens), 0);
        /* Root gives it away; the new owner and group survive a restart. */
        root = fixture_connect(&f);
        ck_assert_int_eq(tshm_chown(root, "mine", OTHER_UID, OTHER_UID), 0);
        tshm_disconnect(root);
        fixture_stop(&f);
        fixture_restart(&f, NULL);
        root = fixture_connect(&f);
        ck_assert_int_eq(tshm_stat(root, "mine", &info), 0);
        ck_assert_uint_eq(info.owner_uid, OTHER_UID);
        ck_assert_uint_eq(info.owner_gid, OTHER_UID);
        ck_assert_uint_eq(info.mode, 0644);
        tshm_disconnect(root);
        fixture_teardown(&f);
}
END_TEST

static int
try_connect(const struct tshmd_fixture *f, enum actor a)
{
        tshm_client *c;
        int rv;

        if (become(a) < 0) {
                return 100;
        }
        rv = tshm_connect(f->socket, &c);
        if (rv == 0) {
                tshm_disconnect(c);
                return 0;
        }
        return rv == TSHM_EACCES ? 1 : 2;
}

START_TEST(test_access_socket_gate)
{
        static const char *const extra[] = {"--socket-mode", "0660", "--socket-group", "60001",
                                            NULL};
        struct tshmd_fixture f;

        if (geteuid() != 0) {
                fprintf(stderr, "skipped: needs root to switch uids\n");
                return;
        }
        fixture_start(&f, extra);
        /* Only the socket's group (and root) may talk to the daemon at all. */
        ck_assert_int_eq(run_as(&f, OWNER, try_connect), 0);
        ck_assert_int_eq(run_as(&f, MEMBER, try_connect), 0);
        ck_assert_int_eq(run_as(&f, OTHER, try_connect), 1);
        ck_assert_int_eq(run_as(&f, ROOT, try_connect), 0);
        fixture_teardown(&f);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("access");

        tshm_test_case(s, "matrix", 120,
                       TSHM_TESTS(test_access_matrix, test_access_owner_changes_and_reopen,
                                  test_access_socket_gate));
        return tshm_test_run(s);
}
