/*
 * consumer.c - map a segment read-only and follow it: no copy and no
 * message per update. tshm_wait() sleeps on the segment's futex until the
 * producer publishes a new version (no polling, no daemon involved), and
 * tshm_read_begin()/tshm_read_retry() make sure what was read is one whole
 * version, not half of the next.
 *
 *   consumer NAME [LAST_ROUND] [TIMEOUT_S]
 *
 * Prints element 0 and the last element of each version it sees until
 * element 0 reaches LAST_ROUND (exit 0) or TIMEOUT_S passes with no new
 * version (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <tshm.h>

int
main(int argc, char **argv)
{
        tshm_client *c = NULL;
        tshm_seg *s = NULL;
        float last = argc > 2 ? strtof(argv[2], NULL) : 5.0f;
        long timeout_s = argc > 3 ? strtol(argv[3], NULL, 10) : 10;
        float first = -1.0f, end = 0.0f;
        uint64_t seen = 0, n;
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
        printf("consumer (pid %d): mapped '%s' read-only, waiting for versions\n", (int)getpid(),
               argv[1]);
        fflush(stdout);
        n = tshm_seg_nbytes(s) / sizeof(float);
        seen = tshm_seg_seq(s) & ~(uint64_t)1;
        while (first < last) {
                const float *data = tshm_seg_data(s);
                int64_t seq = tshm_wait(s, seen, (int)(timeout_s * 1000));

                if (seq < 0) {
                        fprintf(stderr, "consumer: %s\n", tshm_strerror((int)seq));
                        break;
                }
                /* Copy what we need, then check no write overlapped it. */
                do {
                        if ((seq = tshm_read_begin(s, 1000)) < 0) {
                                break;
                        }
                        first = data[0];
                        end = n > 0 ? data[n - 1] : 0.0f;
                } while ((rv = tshm_read_retry(s, (uint64_t)seq)) == 1);
                if (seq < 0) {
                        fprintf(stderr, "consumer: %s\n", tshm_strerror((int)seq));
                        break;
                }
                seen = (uint64_t)seq;
                printf("consumer (pid %d): sees round %g, last element %g (version %lld%s)\n",
                       (int)getpid(), first, end, (long long)seq, rv == TSHM_ETORN ? ", torn" : "");
                fflush(stdout);
        }
        tshm_close(s);
        tshm_disconnect(c);
        return first >= last ? 0 : 1;
}
