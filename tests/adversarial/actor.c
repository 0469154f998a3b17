/*
 * actor.c - tshm-adv-actor: the raw moves of a hostile local user, and a C
 * victim, for the adversarial suite (test_adv_*.py drive it, each
 * actor under its own uid).
 *
 * libtshm closes a segment's descriptor once it has mapped it and never
 * writes a header field it does not own, so the hostile moves use the
 * library's internals (linked statically): the open request itself, which
 * returns the O_RDWR descriptor, and the subscriber table of a subscription.
 * Header fields are written with pwrite() on the descriptor, never through a
 * mapping, so that the attacker itself never faults on a truncated object.
 *
 * The verbs live in actor_*.c (see actor.h); this file holds main, the
 * verb table and the helpers they share.
 *
 * Usage: tshm-adv-actor SOCKET COMMAND ARGS...
 *   fd NAME [ro]        open NAME (read-write unless "ro") and keep the
 *                       descriptor; then obey lines on stdin, answering each
 *                       with one line "ok ..." (or "err ..."):
 *                         trunc SIZE            ftruncate(fd, SIZE)
 *                         punch OFF LEN         free those pages, size kept
 *                                               (fallocate PUNCH_HOLE)
 *                         loop SECONDS SIZE     ftruncate(fd, SIZE) in a loop
 *                         set FIELD=VALUE...    write header fields once
 *                         scribble SECONDS FIELD=VALUE...  ... in a loop
 *                         get FIELD             print a header field
 *                         dump FILE             copy the whole object to FILE
 *                         close                 close the handle and the fd
 *                       VALUE is a number (0x.., negative for strides) or
 *                       mono+MS: CLOCK_MONOTONIC now plus MS, in ns.
 *   churn SECONDS       class 1: on segments of its own, truncate to 0
 *                       beside stream stat, unlink and closing writable
 *                       handles, for SECONDS. Exit 3 if the daemon is gone,
 *                       4 if a cut (ftruncate) failed.
 *   fill-subtable NAME  class 5: subscribe read-only, mark every entry of
 *                       the subscriber table active (cursor 0), and exit
 *                       without unsubscribing.
 *   zero-sleepers NAME SECONDS
 *                       class 5: subscribe read-only and store 0 into the
 *                       table's sleeper count, over and over, for SECONDS
 *                       (publishers would skip every wake-up).
 *   victim-frames NAME N
 *                       take N frames of the stream NAME, each waiting
 *                       with no timeout and no spin; print "took N".
 *   pipeline N SECONDS  class 8: N connections sending list requests
 *                       without reading a reply, for SECONDS; then hold them
 *                       until stdin closes.
 *   plant NAME PREFIX KEYHEX UID MODE
 *                       class 7: write /dev/shm/PREFIX.NAME, a 4-element
 *                       float64 segment owned by UID, sealed with KEYHEX.
 *   victim-wait NAME    class 3, as the C reader: tshm_wait, tshm_read_begin
 *                       (1 s timeouts); prints "wait RV cpu S" and
 *                       "read_begin RV cpu S".
 *   victim-take NAME    class 3: subscribe, print "subscribed", wait for a
 *                       line on stdin, tshm_sub_take (1 s); prints
 *                       "take RV NAME seq N cpu S".
 *   group-make, group-hold, group-scribble, group-victim, group-try
 *                       tensor groups (issue 14): see actor_group.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tshm.h"

#include "header.h"
#include "internal.h"
#include "proto.h"

#include "actor.h"

uint64_t
actor_mono_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
actor_cpu_s(void)
{
        struct rusage ru;

        (void)getrusage(RUSAGE_SELF, &ru);
        return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void
actor_nap_us(long us)
{
        struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

        (void)nanosleep(&ts, NULL);
}

int
actor_connect(const char *sock, tshm_client **ret_c)
{
        int rv = tshm_connect(sock, ret_c);

        if (rv < 0) {
                fprintf(stderr, "actor: connect %s: %s\n", sock, tshm_strerror(rv));
                exit(3);
        }
        return 0;
}

/* The open request, keeping the descriptor libtshm would have closed. */
int
actor_raw_open(tshm_client *c, const char *name, bool writable, uint64_t *ret_handle, int *ret_fd)
{
        struct tshm__req req = {.op = TSHM_OP_OPEN, .writable = writable};
        struct tshm__reply reply;
        int fd = -1, rv;

        if ((rv = tshm__client_name(c, &req, name)) < 0 ||
            (rv = tshm__client_call(c, &req, &reply, &fd)) < 0) {
                return rv;
        }
        *ret_handle = reply.handle;
        *ret_fd = fd;
        return 0;
}

int
actor_raw_close(tshm_client *c, uint64_t handle)
{
        struct tshm__req req = {.op = TSHM_OP_CLOSE, .handle = handle};
        struct tshm__reply reply;

        return tshm__client_call(c, &req, &reply, NULL);
}

static const struct {
        const char *name;
        int nargs;
        int (*fn)(const char *sock, int argc, char **argv);
} commands[] = {
    {"fd", 1, actor_cmd_fd},
    {"churn", 1, actor_cmd_churn},
    {"fill-subtable", 1, actor_cmd_fill_subtable},
    {"zero-sleepers", 2, actor_cmd_zero_sleepers},
    {"pipeline", 2, actor_cmd_pipeline},
    {"plant", 5, actor_cmd_plant},
    {"victim-wait", 1, actor_cmd_victim_wait},
    {"victim-take", 1, actor_cmd_victim_take},
    {"victim-frames", 2, actor_cmd_victim_frames},
    {"group-make", 4, actor_cmd_group_make},
    {"group-hold", 1, actor_cmd_group_hold},
    {"group-scribble", 3, actor_cmd_group_scribble},
    {"group-victim", 2, actor_cmd_group_victim},
    {"group-try", 1, actor_cmd_group_try},
};

int
main(int argc, char **argv)
{
        size_t i;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 3) {
                fprintf(stderr, "usage: tshm-adv-actor SOCKET COMMAND ARGS...\n");
                return 2;
        }
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(argv[2], commands[i].name) == 0) {
                        if (argc - 3 < commands[i].nargs) {
                                fprintf(stderr, "actor: %s needs %d arguments\n", argv[2],
                                        commands[i].nargs);
                                return 2;
                        }
                        return commands[i].fn(argv[1], argc - 3, argv + 3);
                }
        }
        fprintf(stderr, "actor: unknown command '%s'\n", argv[2]);
        return 2;
}
