/*
 * progress.c - the progress line of a long copy (progress.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fmt.h"
#include "intr.h"
#include "progress.h"

static double
progress_since(const struct timespec *a, const struct timespec *b)
{
        return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void
progress_draw(struct progress *p, const struct timespec *now)
{
        char done[FMT_SIZE_BUF], total[FMT_SIZE_BUF];
        double s = progress_since(&p->start, now);

        fmt_size(p->done, done);
        fmt_size(p->total, total);
        /* \033[K clears what a longer earlier line left. */
        (void)fprintf(stderr, "\r%s: %s / %s (%.0f%%), %.1f MB/s\033[K", p->what, done, total,
                      p->total > 0 ? 100.0 * (double)p->done / (double)p->total : 100.0,
                      s > 0 ? (double)p->done / s / 1e6 : 0.0);
        (void)fflush(stderr);
        p->drawn = *now;
}

void
progress_begin(struct progress *p, const char *what, uint64_t total)
{
        memset(p, 0, sizeof(*p));
        p->on = total > PROGRESS_MIN_BYTES && isatty(STDERR_FILENO);
        p->what = what;
        p->total = total;
        (void)clock_gettime(CLOCK_MONOTONIC, &p->start);
        p->drawn = p->start;
}

void
progress_add(struct progress *p, uint64_t n)
{
        struct timespec now;

        p->done += n;
        if (!p->on) {
                return;
        }
        (void)clock_gettime(CLOCK_MONOTONIC, &now);
        if (progress_since(&p->drawn, &now) >= 0.1) {
                progress_draw(p, &now);
        }
}

void
progress_end(struct progress *p)
{
        struct timespec now;

        if (!p->on) {
                return;
        }
        (void)clock_gettime(CLOCK_MONOTONIC, &now);
        progress_draw(p, &now);
        (void)fputc('\n', stderr);
        p->on = false;
}

#define PROGRESS_CHUNK ((size_t)1 << 24)

int
progress_write(int fd, const void *buf, uint64_t len, struct progress *p)
{
        const unsigned char *at = buf;
        ssize_t n;

        while (len > 0) {
                if (intr_caught() != 0) {
                        return -EINTR;
                }
                n = write(fd, at, len < PROGRESS_CHUNK ? (size_t)len : PROGRESS_CHUNK);
                if (n < 0 && errno == EINTR) {
                        continue;
                }
                if (n <= 0) {
                        return n < 0 ? -errno : -EIO;
                }
                at += n;
                len -= (uint64_t)n;
                if (p != NULL) {
                        progress_add(p, (uint64_t)n);
                }
        }
        return 0;
}
