/*
 * publish.c - a producer for the CLI tests: publish COUNT versions of the
 * int32 segment or stream NAME (on $TSHM_SOCKET), every element equal to
 * the version's number, PAUSE_MS apart.
 * Usage: tshm-test-publish NAME COUNT PAUSE_MS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tshm.h"

static void
fill(void *data, uint64_t nbytes, int32_t v)
{
        int32_t *a = data;

        for (uint64_t i = 0; i < nbytes / sizeof(int32_t); i++) {
                a[i] = v;
        }
}

int
main(int argc, char **argv)
{
        struct timespec pause;
        tshm_client *c = NULL;
        tshm_seg *s = NULL;
        long count, ms, n;
        int rv;

        if (argc != 4) {
                fprintf(stderr, "usage: %s NAME COUNT PAUSE_MS\n", argv[0]);
                return 2;
        }
        count = atol(argv[2]);
        ms = atol(argv[3]);
        pause.tv_sec = ms / 1000;
        pause.tv_nsec = (ms % 1000) * 1000000L;
        if ((rv = tshm_connect(NULL, &c)) < 0 ||
            (rv = tshm_open(c, argv[1], TSHM_OPEN_RDWR, &s)) < 0 ||
            tshm_seg_dtype(s) != TSHM_DTYPE_INT32) {
                fprintf(stderr, "publish: %s: %s\n", argv[1],
                        rv < 0 ? tshm_strerror(rv) : "not int32");
                return 1;
        }
        for (n = 1; n <= count; n++) {
                void *data = tshm_seg_data(s);
                int64_t got;

                if (tshm_seg_is_stream(s)) {
                        if ((rv = tshm_stream_loan(s, 5000, &data)) < 0) {
                                break;
                        }
                        fill(data, tshm_seg_nbytes(s), (int32_t)n);
                        got = tshm_stream_publish(s);
                } else {
                        if ((rv = tshm_write_begin(s, 5000)) < 0) {
                                break;
                        }
                        fill(data, tshm_seg_nbytes(s), (int32_t)n);
                        got = tshm_write_end(s);
                }
                if (got < 0) {
                        rv = (int)got;
                        break;
                }
                nanosleep(&pause, NULL);
        }
        if (rv < 0) {
                fprintf(stderr, "publish: %s\n", tshm_strerror(rv));
        }
        tshm_close(s);
        tshm_disconnect(c);
        return rv < 0 ? 1 : 0;
}
