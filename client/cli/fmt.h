/*
 * fmt.h - values written for people: sizes, durations, times, shapes,
 * user and group names.
 */
#ifndef TSHM_CLI_FMT_H
#define TSHM_CLI_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tshm.h"

/* Room for each kind of text below, with its NUL. */
#define FMT_SIZE_BUF 32
#define FMT_DURATION_BUF 48
#define FMT_TIME_BUF 48
/* TSHM_MAX_NDIM extents of at most 19 digits, each with a separator. */
#define FMT_SHAPE_BUF (TSHM_MAX_NDIM * 21 + 4)
#define FMT_NAME_BUF 64

/* "48 B", "4 KiB", "1.5 MiB": binary units, one decimal unless whole. */
void fmt_size(uint64_t bytes, char *buf);

/* "1h 2m 3s", "2d 0h 0m 5s", "3s": whole seconds of @ns. */
void fmt_duration(uint64_t ns, char *buf);

/* @ns since the epoch as local time, "2026-11-28 04:50:01". */
void fmt_time_local(uint64_t ns, char *buf);

/* @ns since the epoch in UTC, ISO 8601 with nanoseconds:
 * "2026-11-28T04:50:01.123456789Z". */
void fmt_time_iso(uint64_t ns, char *buf);

/* "3x4", "7", or "()" for a 0-d array. */
void fmt_shape(size_t ndim, const uint64_t *shape, char *buf);

/* The dtype's NumPy name, or "dtype(N)" for one this build does not know
 * (a newer daemon's); @buf holds at least 32 bytes. */
const char *fmt_dtype(tshm_dtype dtype, char *buf);

/* A small cache of id-to-name lookups: a listing has few owners, and each
 * lookup may ask a directory service. */
#define FMT_NAME_CACHE 8

struct fmt_name_cache {
        struct {
                bool valid;
                uint32_t id;
                char name[FMT_NAME_BUF];
        } e[FMT_NAME_CACHE];
        unsigned next; /* the entry to replace next */
};

/* The user or group name of @id, or the number when it has none. The
 * result lives in @cache until its next use. */
const char *fmt_user(struct fmt_name_cache *cache, uint32_t uid);
const char *fmt_group(struct fmt_name_cache *cache, uint32_t gid);

#endif /* TSHM_CLI_FMT_H */
