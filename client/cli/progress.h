/*
 * progress.h - a progress line on stderr for a long copy: bytes done of
 * the total and the rate, redrawn in place. Shown only when stderr is a
 * terminal and the copy is large; otherwise every call does nothing.
 */
#ifndef TSHM_CLI_PROGRESS_H
#define TSHM_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Copies smaller than this finish before a progress line would help. */
#define PROGRESS_MIN_BYTES ((uint64_t)64 << 20)

struct progress {
        bool on;
        const char *what; /* "loading model.safetensors" */
        uint64_t total, done;
        struct timespec start, drawn;
};

/* Start a copy of @total bytes, described by @what (kept, not copied). */
void progress_begin(struct progress *p, const char *what, uint64_t total);

/* @n more bytes are done; redraws at most ten times a second. */
void progress_add(struct progress *p, uint64_t n);

/* The copy ended (done or not): draw the last state and end the line. */
void progress_end(struct progress *p);

/* Write all @len bytes of @buf to @fd in chunks of at most 16 MiB, adding
 * each to @p (NULL: none); SIGINT or SIGTERM caught meanwhile (intr.h)
 * stops it. Returns 0, -EINTR (interrupted) or -errno (-EIO for a write
 * that wrote nothing). */
int progress_write(int fd, const void *buf, uint64_t len, struct progress *p);

#endif /* TSHM_CLI_PROGRESS_H */
