/*
 * cmd_watch.c - 'tshm watch': print each version of a segment (or frame of
 * a stream) as it is published, until interrupted.
 *
 * One line per version: the sequence number (a stream's frame number), the
 * publish time, and for arrays of at most WATCH_SMALL elements the values,
 * read consistently with the number and time shown: all three from one
 * version (tshm_read_begin/tshm_read_retry). watch waits on the
 * segment's futex like any reader: it costs the producer nothing, and a
 * version published while a line is printed is reported with the next one
 * (the latest wins: watch is a monitor, not a subscriber).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

#include "cli.h"
#include "fmt.h"
#include "intr.h"
#include "print.h"

#define WATCH_SMALL 16     /* elements: arrays up to this size show their values */
#define WATCH_SLICE_MS 200 /* how often a wait looks for a signal */

/* One line's worth of a version, read consistently. */
struct watch_read {
        uint64_t seq;        /* the version the rest belongs to */
        uint64_t publish_ns; /* when it was published */
        char values[1024];   /* its values on one line; "" unless asked */
};

/* @copy, one version of @seg's data, as one line of values into @buf. */
static void
watch_format(tshm_seg *seg, const uint8_t *copy, char *buf, size_t len)
{
        FILE *mem;
        char *p;

        buf[0] = '\0';
        if ((mem = fmemopen(buf, len, "w")) == NULL) {
                return;
        }
        (void)print_array(mem, copy, tshm_seg_dtype(seg), tshm_seg_ndim(seg), tshm_seg_shape(seg));
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
}

/* Read the current version of the array @seg into @r: its number, its
 * publish time and, if @values, its values, all of one version (the seqlock:
 * tshm_read_begin, copy, tshm_read_retry). The number may be newer than the
 * one tshm_wait() returned: the line shows the version whose values it
 * prints. Returns 0, or 1 when a writer kept overlapping (@r untouched). */
static int
watch_read_array(tshm_seg *seg, bool values, struct watch_read *r)
{
        uint8_t copy[WATCH_SMALL * 16];
        size_t nbytes = (size_t)tshm_seg_nbytes(seg);
        int tries;

        for (tries = 0; tries < 100; tries++) {
                int64_t seq = tshm_read_begin(seg, 1000);
                uint64_t publish_ns;
                int rv;

                if (seq < 0) {
                        return 1;
                }
                publish_ns = tshm_seg_publish_ns(seg);
                if (values) {
                        memcpy(copy, tshm_seg_data(seg), nbytes);
                }
                rv = tshm_read_retry(seg, (uint64_t)seq);
                if (rv == 1) {
                        continue;
                }
                r->seq = (uint64_t)seq;
                r->publish_ns = publish_ns;
                r->values[0] = '\0';
                if (values) {
                        watch_format(seg, copy, r->values, sizeof(r->values));
                        if (rv == TSHM_ETORN) {
                                (void)strncat(r->values, "(torn)",
                                              sizeof(r->values) - strlen(r->values) - 1);
                        }
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
        /* Only the header and at most 16 elements are read: a large
         * segment's pages would be populated for nothing. */
        if ((rv = tshm_open(c, name, TSHM_OPEN_NOPOPULATE, &seg)) < 0) {
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
                char when[FMT_TIME_BUF];
                struct watch_read r;
                int64_t seq = tshm_wait(seg, last, WATCH_SLICE_MS);

                if (intr_caught() != 0) {
                        status = CLI_EXIT_OK;
                        break;
                }
                if (seq == TSHM_ETIMEDOUT) {
                        continue;
                }
                if (seq < 0) {
                        status = seq == TSHM_ENOENT ? cli_fail(ctx, "'%s' was unlinked", name)
                                                    : cli_fail_tshm(ctx, c, (int)seq, name);
                        break;
                }
                r.seq = (uint64_t)seq;
                r.publish_ns = tshm_seg_publish_ns(seg);
                r.values[0] = '\0';
                if (!stream && watch_read_array(seg, small, &r) != 0 && small) {
                        (void)snprintf(r.values, sizeof(r.values), "(a writer kept overlapping)");
                }
                last = r.seq;
                fmt_time_iso(r.publish_ns, when);
                (void)printf("%" PRIu64 "\t%s%s%s\n", stream ? last / 2 : last, when,
                             small ? "\t" : "", r.values);
                (void)fflush(stdout);
        }
        /* Interrupted is how watch ends: exit 0, not by the signal. */
        intr_end_quietly();
        (void)tshm_close(seg);
out:
        tshm_disconnect(c);
        return status;
}
