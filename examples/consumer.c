/*
 * consumer.c - map a segment read-only and watch it change: no copy and no
 * message per update; the producer's writes land in this mapping.
 *
 *   consumer NAME [LAST_ROUND] [TIMEOUT_S]
 *
 * Prints each new value of element 0 until it reaches LAST_ROUND (exit 0)
 * or TIMEOUT_S passes (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <tshm.h>

int
main(int argc, char **argv)
{
        tshm_client *c = NULL;
        tshm_seg *s = NULL;
        float last = argc > 2 ? strtof(argv[2], NULL) : 5.0f;
        long timeout_s = argc > 3 ? strtol(argv[3], NULL, 10) : 10;
        struct timespec tick = {0, 1000000};
        time_t start = time(NULL);
        float seen = -1.0f;
        int rv;

        if (argc < 2) {
                fprintf(stderr, "usage: consumer NAME [LAST_ROUND] [TIMEOUT_S]\n");
                return 2;
        }
        if ((rv = tshm_connect(NULL, &c)) < 0 ||
            (rv = tshm_open(c, argv[1], TSHM_OPEN_RDONLY, &s)) < 0) {
                fprintf(stderr, "consumer: %s %s\n", tshm_strerror(rv), tshm_errmsg(c));
                tshm_disconnect(c);
                return 1;
        }
        printf("consumer (pid %d): mapped '%s' read-only, waiting for writes\n", (int)getpid(),
               argv[1]);
        fflush(stdout);
        const volatile float *data = tshm_seg_data(s);
        uint64_t n = tshm_seg_nbytes(s) / sizeof(float);
        while (seen < last && time(NULL) - start < timeout_s) {
                if (data[0] != seen) {
                        seen = data[0];
                        printf("consumer (pid %d): sees round %g, last element %g\n", (int)getpid(),
                               seen, n > 0 ? data[n - 1] : 0.0f);
                        fflush(stdout);
                }
                /* Polling keeps this example short; publish/wait replaces it. */
                nanosleep(&tick, NULL);
        }
        tshm_close(s);
        tshm_disconnect(c);
        return seen >= last ? 0 : 1;
}
