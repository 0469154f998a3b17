/*
 * cmd_watch.c - 'tshm watch': print each version of a segment (or frame of
 * a stream) as it is published, until interrupted.
 *
 * One line per version: the sequence number (a stream's frame number), the
 * publish time, and for arrays of at most WATCH_SMALL elements the values,
 * read consistently (tshm_read_begin/tshm_read_retry). watch waits on the
 * segment's futex like any reader: it costs the producer nothing, and a
 * version published while a line is printed is reported with the next one
 * (the latest wins: watch is a monitor, not a subscriber).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "cli.h"
#include "fmt.h"
#include "intr.h"
#include "print.h"

#define WATCH_SMALL 16      /* elements: arrays up to this size show their values */
#define WATCH_SLICE_MS 200  /* how often a wait looks for a signal */

/* The values of @seg's current version on one line, into @buf. Returns 0,
 * or 1 when a writer kept overlapping. */
static int
watch_values(tshm_seg *seg, char *buf, size_t len)
{
        uint8_t copy[WATCH_SMALL * 16];
        size_t nbytes = (size_t)tshm_seg_nbytes(seg);
        int tries;

        for (tries = 0; tries < 100; tries++) {
                int64_t seq = tshm_read_begin(seg, 1000);
                FILE *mem;
                char *p;
                int rv;

                if (seq < 0) {
                        return 1;
                }
                memcpy(copy, tshm_seg_data(seg), nbytes);
                rv = tshm_read_retry(seg, (uint64_t)seq);
                if (rv == 1) {
                        continue;
                }
                if ((mem = fmemopen(buf, len, "w")) == NULL) {
                        return 1;
                }
                (void)print_array(mem, copy, tshm_seg_dtype(seg), tshm_seg_ndim(seg),
                                  tshm_seg_shape(seg));
                (void)fclose(mem);
                buf[len - 1] = '\0';
                for (p = buf; *p != '\0'; p++) {
                        if (*p == '\n') {
                                *p = ' ';
                        }
                }
                while (p > buf && p[-1] == ' ') {
                        *--p = '\0';
                }
                if (rv == TSHM_ETORN) {
                        (void)strncat(buf, "(torn)", len - strlen(buf) - 1);
                }
                return 0;
        }
        return 1;
}

int
cmd_watch(const struct cli_ctx *ctx)
{
        const char *name = ctx->argv[0];
        tshm_client *c = NULL;
        tshm_seg *seg = NULL;
        uint64_t last, elems = 1;
        bool small, stream;
        int rv, status;
        size_t i;

        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        if ((rv = tshm_open(c, name, TSHM_OPEN_RDONLY, &seg)) < 0) {
                status = cli_fail_seg(ctx, c, rv, name);
                goto out;
        }
        stream = tshm_seg_is_stream(seg) == 1;
        for (i = 0; i < tshm_seg_ndim(seg); i++) {
                elems *= tshm_seg_shape(seg)[i];
        }
        small = !stream && elems <= WATCH_SMALL;
        last = tshm_seg_seq(seg) & ~(uint64_t)1;
        intr_begin();
        for (;;) {
                char when[FMT_TIME_BUF], values[1024] = "";
                int64_t seq = tshm_wait(seg, last, WATCH_SLICE_MS);

                if (intr_caught() != 0) {
                        status = CLI_EXIT_OK;
                        break;
                }
                if (seq == TSHM_ETIMEDOUT) {
                        continue;
                }
                if (seq < 0) {
                        status = seq == TSHM_ENOENT
                                         ? cli_fail(ctx, "'%s' was unlinked", name)
                                         : cli_fail_tshm(ctx, c, (int)seq, name);
                        break;
                }
                last = (uint64_t)seq;
                fmt_time_iso(tshm_seg_publish_ns(seg), when);
                if (small && watch_values(seg, values, sizeof(values)) != 0) {
                        (void)snprintf(values, sizeof(values), "(a writer kept overlapping)");
                }
                (void)printf("%" PRIu64 "\t%s%s%s\n", stream ? last / 2 : last, when,
                             small ? "\t" : "", values);
                (void)fflush(stdout);
        }
        intr_end();
        (void)tshm_close(seg);
out:
        tshm_disconnect(c);
        return status;
}
