/*
 * limits_actors.h - what the limits tests (test_limits_*.c) share: the uids
 * their actors run as, forking an actor under its uid, clocks, and counting
 * lines of tshmd's log.
 */
#ifndef TSHM_TESTS_LIMITS_ACTORS_H
#define TSHM_TESTS_LIMITS_ACTORS_H

#include <check.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#define OWNER_UID 60031
#define OTHER_UID 60032
#define VICTIM_UID 60033
#define ATTACKER_UID 60034 /* and up, one per attacking uid */
static inline int
become(uid_t uid)
{
        return setgroups(0, NULL) || setgid(uid) || setuid(uid) ? -1 : 0;
}

static inline int64_t
now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void
sleep_ms(long ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
}

/* Lines of tshmd's log that contain @needle. */
static inline int
log_count(const struct tshmd_fixture *f, const char *needle)
{
        char line[1024];
        int n = 0;
        FILE *log = fopen(f->log, "r");

        while (log != NULL && fgets(line, sizeof(line), log) != NULL) {
                n += strstr(line, needle) != NULL;
        }
        if (log != NULL) {
                fclose(log);
        }
        return n;
}

static inline pid_t
fork_as(uid_t uid, int (*fn)(const struct tshmd_fixture *, const void *),
        const struct tshmd_fixture *f, const void *arg)
{
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                _exit(become(uid) < 0 ? 100 : fn(f, arg));
        }
        return pid;
}

static inline int
reap(pid_t pid)
{
        int status = 0;

        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + (WTERMSIG(status) & 31);
}

#endif
