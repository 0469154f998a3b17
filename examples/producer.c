/*
 * producer.c - open an existing segment read-write and publish a few rounds
 * into it, in place: every element of round k becomes k + i / 100. Each
 * round is bracketed by tshm_write_begin()/tshm_write_end(), which wakes
 * every process waiting on the segment and lets readers tell a whole round
 * from a half-written one.
 *
 *   producer NAME [ROUNDS] [INTERVAL_MS]
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
        long rounds = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
        long interval_ms = argc > 3 ? strtol(argv[3], NULL, 10) : 200;
        struct timespec pause = {interval_ms / 1000, (interval_ms % 1000) * 1000000};
        uint64_t n, i;
        int rv;

        if (argc < 2) {
                fprintf(stderr, "usage: producer NAME [ROUNDS] [INTERVAL_MS]\n");
                return 2;
        }
        if ((rv = tshm_connect(NULL, &c)) < 0 ||
            (rv = tshm_open(c, argv[1], TSHM_OPEN_RDWR, &s)) < 0) {
                fprintf(stderr, "producer: %s %s\n", tshm_strerror(rv), tshm_errmsg(c));
                tshm_disconnect(c);
                return 1;
        }
        if (tshm_seg_dtype(s) != TSHM_DTYPE_FLOAT32) {
                fprintf(stderr, "producer: '%s' is %s, not float32\n", argv[1],
                        tshm_dtype_name(tshm_seg_dtype(s)));
                rv = -1;
                goto out;
        }
        n = tshm_seg_nbytes(s) / sizeof(float);
        for (long k = 1; k <= rounds; k++) {
                float *data = tshm_seg_data(s);
                int64_t seq;

                if ((rv = tshm_write_begin(s, 5000)) < 0) {
                        fprintf(stderr, "producer: %s\n", tshm_strerror(rv));
                        goto out;
                }
                for (i = 0; i < n; i++) {
                        data[i] = (float)k + (float)(i % 100) / 100.0f;
                }
                if ((seq = tshm_write_end(s)) < 0) {
                        rv = (int)seq;
                        fprintf(stderr, "producer: %s\n", tshm_strerror(rv));
                        goto out;
                }
                printf("producer (pid %d): published round %ld into '%s' (%llu floats, version "
                       "%lld)\n",
                       (int)getpid(), k, argv[1], (unsigned long long)n, (long long)seq);
                fflush(stdout);
                nanosleep(&pause, NULL);
        }
out:
        tshm_close(s);
        tshm_disconnect(c);
        return rv < 0 ? 1 : 0;
}
