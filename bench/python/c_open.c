/*
 * c_open.c - the C baseline for bench_python.py: time tshm_open() alone,
 * as a C program calls it, so that the Python numbers are compared with C
 * measured in the same run against the same daemon and segment.
 *
 *   c_open SOCKET NAME ITERATIONS WARMUP [rw]
 *
 * Prints one latency in nanoseconds per line (tshm_open only; the
 * tshm_close after it is not timed). Built by bench_python.py with cc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tshm.h>

static long long
now_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
        tshm_client *c = NULL;
        tshm_seg *s = NULL;
        unsigned flags;
        long n, warm, i;
        long long t0, *lat;
        int rv;

        if (argc < 5) {
                fprintf(stderr, "usage: c_open SOCKET NAME ITERATIONS WARMUP [rw]\n");
                return 2;
        }
        n = strtol(argv[3], NULL, 10);
        warm = strtol(argv[4], NULL, 10);
        flags = argc > 5 && strcmp(argv[5], "rw") == 0 ? TSHM_OPEN_RDWR : TSHM_OPEN_RDONLY;
        lat = calloc((size_t)n, sizeof(*lat));
        if (lat == NULL || (rv = tshm_connect(argv[1], &c)) < 0) {
                fprintf(stderr, "c_open: cannot connect\n");
                return 1;
        }
        for (i = -warm; i < n; i++) {
                t0 = now_ns();
                rv = tshm_open(c, argv[2], flags, &s);
                if (i >= 0) {
                        lat[i] = now_ns() - t0;
                }
                if (rv < 0) {
                        fprintf(stderr, "c_open: %s: %s\n", tshm_strerror(rv), tshm_errmsg(c));
                        return 1;
                }
                (void)tshm_close(s);
        }
        for (i = 0; i < n; i++) {
                printf("%lld\n", lat[i]);
        }
        tshm_disconnect(c);
        free(lat);
        return 0;
}
