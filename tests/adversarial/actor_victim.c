/*
 * actor_victim.c - the C reader under attack: "victim-wait" (tshm_wait and
 * tshm_read_begin on a header someone scribbles on) and "victim-take"
 * (tshm_sub_take on a stream someone attacks); each reports its result
 * and the CPU time it spent, so a spin shows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tshm.h"

#include "actor.h"

/* Class 3, the C reader: a counter out of range is torn or a timeout,
 * never a negative non-error or a huge version, and never a spin. */
int
actor_cmd_victim_wait(const char *sock, int argc, char **argv)
{
        tshm_client *c;
        tshm_seg *seg;
        double t0;
        int64_t rv;
        int orv;

        (void)argc;
        (void)actor_connect(sock, &c);
        if ((orv = tshm_open(c, argv[0], TSHM_OPEN_RDONLY, &seg)) < 0) {
                printf("open %d %s\n", orv, tshm_err_name(orv));
                return 0;
        }
        t0 = actor_cpu_s();
        rv = tshm_wait(seg, 0, 1000);
        printf("wait %" PRId64 " %s cpu %.3f\n", rv, rv < 0 ? tshm_err_name((int)rv) : "-",
               actor_cpu_s() - t0);
        t0 = actor_cpu_s();
        rv = tshm_read_begin(seg, 1000);
        printf("read_begin %" PRId64 " %s cpu %.3f\n", rv, rv < 0 ? tshm_err_name((int)rv) : "-",
               actor_cpu_s() - t0);
        (void)tshm_close(seg);
        tshm_disconnect(c);
        return 0;
}

int
actor_cmd_victim_take(const char *sock, int argc, char **argv)
{
        tshm_frame fr = {0};
        char line[64];
        tshm_client *c;
        tshm_sub *sub;
        double t0;
        int rv;

        (void)argc;
        (void)actor_connect(sock, &c);
        if ((rv = tshm_sub_open(c, argv[0], &sub)) < 0) {
                printf("subscribe %d %s\n", rv, tshm_err_name(rv));
                return 0;
        }
        /* Subscribed before the attack: wait for the go. */
        printf("subscribed\n");
        (void)fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL) {
                return 1;
        }
        t0 = actor_cpu_s();
        rv = tshm_sub_take(sub, 1000, &fr);
        printf("take %d %s seq %" PRIu64 " cpu %.3f\n", rv, rv < 0 ? tshm_err_name(rv) : "-",
               rv == 0 ? fr.seq : 0, actor_cpu_s() - t0);
        (void)tshm_sub_close(sub);
        tshm_disconnect(c);
        return 0;
}

/* Take @argv[1] frames of the stream @argv[0], each waiting without a
 * timeout, sleeping at once (no spin): a lost wake-up hangs it. */
int
actor_cmd_victim_frames(const char *sock, int argc, char **argv)
{
        unsigned long n = strtoul(argv[1], NULL, 10), i;
        tshm_frame fr = {0};
        tshm_client *c;
        tshm_sub *sub;
        int rv;

        (void)argc;
        (void)actor_connect(sock, &c);
        if ((rv = tshm_sub_open(c, argv[0], &sub)) < 0) {
                printf("subscribe %d %s\n", rv, tshm_err_name(rv));
                return 0;
        }
        tshm_seg_set_spin(tshm_sub_seg(sub), 0);
        printf("subscribed\n");
        (void)fflush(stdout);
        for (i = 0; i < n; i++) {
                if ((rv = tshm_sub_take(sub, -1, &fr)) < 0 || (rv = tshm_sub_release(sub)) < 0) {
                        printf("take %d %s\n", rv, tshm_err_name(rv));
                        return 0;
                }
        }
        printf("took %lu, last seq %" PRIu64 "\n", n, fr.seq);
        (void)tshm_sub_close(sub);
        tshm_disconnect(c);
        return 0;
}
