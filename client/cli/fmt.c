/*
 * fmt.c - values written for people.
 */
#include <grp.h>
#include <inttypes.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "tshm.h"

#include "fmt.h"

/* getpwuid_r()'s scratch space; a larger entry falls back to the number. */
#define FMT_PW_BUF 16384

void
fmt_size(uint64_t bytes, char *buf)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        size_t i = 0;
        double v = (double)bytes, r;

        if (bytes < 1024) {
                (void)snprintf(buf, FMT_SIZE_BUF, "%" PRIu64 " B", bytes);
                return;
        }
        while (v >= 1024 && i + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024;
                i++;
        }
        r = round(v * 10) / 10;
        if (r >= 1024 && i + 1 < sizeof(units) / sizeof(units[0])) {
                /* 1023.96 KiB rounds to 1024.0: say 1 MiB instead. */
                v /= 1024;
                r = round(v * 10) / 10;
                i++;
        }
        if (r == floor(r)) {
                (void)snprintf(buf, FMT_SIZE_BUF, "%.0f %s", r, units[i]);
        } else {
                (void)snprintf(buf, FMT_SIZE_BUF, "%.1f %s", r, units[i]);
        }
}

void
fmt_duration(uint64_t ns, char *buf)
{
        uint64_t s = ns / 1000000000u;
        uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;

        s %= 60;
        if (d > 0) {
                (void)snprintf(buf, FMT_DURATION_BUF,
                               "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", d, h, m, s);
        } else if (h > 0) {
                (void)snprintf(buf, FMT_DURATION_BUF, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h,
                               m, s);
        } else if (m > 0) {
                (void)snprintf(buf, FMT_DURATION_BUF, "%" PRIu64 "m %" PRIu64 "s", m, s);
        } else {
                (void)snprintf(buf, FMT_DURATION_BUF, "%" PRIu64 "s", s);
        }
}

void
fmt_time_local(uint64_t ns, char *buf)
{
        time_t t = (time_t)(ns / 1000000000u);
        struct tm tm;

        if (localtime_r(&t, &tm) == NULL ||
            strftime(buf, FMT_TIME_BUF, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
                (void)snprintf(buf, FMT_TIME_BUF, "@%" PRIu64, ns / 1000000000u);
        }
}

void
fmt_time_iso(uint64_t ns, char *buf)
{
        time_t t = (time_t)(ns / 1000000000u);
        struct tm tm;
        size_t n;

        if (gmtime_r(&t, &tm) == NULL ||
            (n = strftime(buf, FMT_TIME_BUF, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
                (void)snprintf(buf, FMT_TIME_BUF, "1970-01-01T00:00:00.000000000Z");
                return;
        }
        (void)snprintf(buf + n, FMT_TIME_BUF - n, ".%09" PRIu64 "Z", ns % 1000000000u);
}

void
fmt_shape(size_t ndim, const uint64_t *shape, char *buf)
{
        size_t i, pos = 0;
        int n;

        if (ndim == 0) {
                (void)snprintf(buf, FMT_SHAPE_BUF, "()");
                return;
        }
        buf[0] = '\0';
        for (i = 0; i < ndim && i < TSHM_MAX_NDIM; i++) {
                n = snprintf(buf + pos, FMT_SHAPE_BUF - pos, i == 0 ? "%" PRIu64 : "x%" PRIu64,
                             shape[i]);
                if (n < 0 || (size_t)n >= FMT_SHAPE_BUF - pos) {
                        return;
                }
                pos += (size_t)n;
        }
}

const char *
fmt_dtype(tshm_dtype dtype, char *buf)
{
        const char *name = tshm_dtype_name(dtype);

        if (name != NULL) {
                return name;
        }
        (void)snprintf(buf, 32, "dtype(%d)", (int)dtype);
        return buf;
}

/* Find @id in @cache, or claim an entry for it (returned with valid unset). */
static char *
cache_slot(struct fmt_name_cache *cache, uint32_t id, bool *ret_hit)
{
        unsigned i;

        for (i = 0; i < FMT_NAME_CACHE; i++) {
                if (cache->e[i].valid && cache->e[i].id == id) {
                        *ret_hit = true;
                        return cache->e[i].name;
                }
        }
        i = cache->next;
        cache->next = (cache->next + 1) % FMT_NAME_CACHE;
        cache->e[i].valid = true;
        cache->e[i].id = id;
        *ret_hit = false;
        return cache->e[i].name;
}

const char *
fmt_user(struct fmt_name_cache *cache, uint32_t uid)
{
        char scratch[FMT_PW_BUF];
        struct passwd pw, *res = NULL;
        bool hit;
        char *name = cache_slot(cache, uid, &hit);

        if (hit) {
                return name;
        }
        if (getpwuid_r((uid_t)uid, &pw, scratch, sizeof(scratch), &res) == 0 && res != NULL &&
            strlen(pw.pw_name) < FMT_NAME_BUF) {
                (void)snprintf(name, FMT_NAME_BUF, "%s", pw.pw_name);
        } else {
                (void)snprintf(name, FMT_NAME_BUF, "%" PRIu32, uid);
        }
        return name;
}

const char *
fmt_group(struct fmt_name_cache *cache, uint32_t gid)
{
        char scratch[FMT_PW_BUF];
        struct group gr, *res = NULL;
        bool hit;
        char *name = cache_slot(cache, gid, &hit);

        if (hit) {
                return name;
        }
        if (getgrgid_r((gid_t)gid, &gr, scratch, sizeof(scratch), &res) == 0 && res != NULL &&
            strlen(gr.gr_name) < FMT_NAME_BUF) {
                (void)snprintf(name, FMT_NAME_BUF, "%s", gr.gr_name);
        } else {
                (void)snprintf(name, FMT_NAME_BUF, "%" PRIu32, gid);
        }
        return name;
}
