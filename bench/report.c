/*
 * report.c - the machine the run was on, and the results as two tables,
 * aligned text or Markdown (for docs/performance.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define TABLE_COLS 12
#define TABLE_ROWS 16
#define CELL 96

/* Targets from the issue; they are reported, never failures. */
#define TARGET_OPEN_RATIO 1.5
#define TARGET_RPS 100000.0
#define TARGET_RPS_RATIO 0.7 /* 8 clients' requests/s / the echo floor's */
#define TARGET_RSS_MIB 32.0
#define TARGET_LS_S 1.0
#define TARGET_SEGMENTS 100000
#define TARGET_WAKE_BLOCK_RATIO 1.2 /* tshm blocking p50 / futex floor p50 */
#define TARGET_WAKE_SPIN_US 1.0     /* tshm spinning p50, one way */
#define TARGET_STREAM_RATIO 0.8     /* 1 MiB frames, GB/s / memcpy GB/s */
#define TARGET_STREAM_BYTES ((size_t)1024 * 1024)

struct table {
        size_t ncols, nrows;
        char cell[TABLE_ROWS][TABLE_COLS][CELL];
};

static void table_set(struct table *t, size_t row, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
table_set(struct table *t, size_t row, size_t col, const char *fmt, ...)
{
        va_list ap;

        if (row >= TABLE_ROWS || col >= TABLE_COLS) {
                return;
        }
        va_start(ap, fmt);
        (void)vsnprintf(t->cell[row][col], CELL, fmt, ap);
        va_end(ap);
        if (row >= t->nrows) {
                t->nrows = row + 1;
        }
}

/* Columns on screen: count UTF-8 lead bytes, so "µs" is two wide. */
static size_t
report_width(const char *s)
{
        size_t n = 0;

        for (; *s != '\0'; s++) {
                n += ((unsigned char)*s & 0xc0u) != 0x80u;
        }
        return n;
}

static void
table_print_text(const struct table *t)
{
        size_t w[TABLE_COLS] = {0}, r, c, pad, total = 0;

        for (r = 0; r < t->nrows; r++) {
                for (c = 0; c < t->ncols; c++) {
                        size_t cw = report_width(t->cell[r][c]);
                        w[c] = cw > w[c] ? cw : w[c];
                }
        }
        for (r = 0; r < t->nrows; r++) {
                for (c = 0; c < t->ncols; c++) {
                        pad = w[c] - report_width(t->cell[r][c]);
                        if (c == 0) {
                                printf("%s%*s", t->cell[r][c], (int)pad, "");
                        } else {
                                printf("  %*s%s", (int)pad, "", t->cell[r][c]);
                        }
                }
                printf("\n");
                if (r == 0) {
                        for (c = 0; c < t->ncols; c++) {
                                total += w[c] + (c > 0 ? 2 : 0);
                        }
                        printf("%.*s\n", (int)total,
                               "----------------------------------------------------------------"
                               "----------------------------------------------------------------"
                               "----------------------------------------------------------------");
                }
        }
}

static void
table_print_markdown(const struct table *t)
{
        size_t r, c;

        for (r = 0; r < t->nrows; r++) {
                for (c = 0; c < t->ncols; c++) {
                        printf("| %s ", t->cell[r][c]);
                }
                printf("|\n");
                if (r == 0) {
                        for (c = 0; c < t->ncols; c++) {
                                printf("| %s ", c == 0 ? "---" : "---:");
                        }
                        printf("|\n");
                }
        }
}

static void
table_print(const struct table *t, bool markdown)
{
        if (markdown) {
                table_print_markdown(t);
        } else {
                table_print_text(t);
        }
        printf("\n");
}

/* 1234567 as "1,234,567". */
static const char *
report_count(char *buf, size_t len, double v)
{
        char digits[32];
        size_t n, i, o = 0;

        snprintf(digits, sizeof(digits), "%.0f", v);
        n = strlen(digits);
        for (i = 0; i < n && o + 2 < len; i++) {
                if (i > 0 && (n - i) % 3 == 0) {
                        buf[o++] = ',';
                }
                buf[o++] = digits[i];
        }
        buf[o] = '\0';
        return buf;
}

static void
report_file_field(const char *path, const char *key, char *out, size_t outlen)
{
        char line[256], *p;
        FILE *f = fopen(path, "r");

        snprintf(out, outlen, "unknown");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
                if (strncmp(line, key, strlen(key)) != 0 || (p = strchr(line, ':')) == NULL) {
                        continue;
                }
                p += 1 + strspn(p + 1, " \t");
                p[strcspn(p, "\n")] = '\0';
                snprintf(out, outlen, "%s", p);
                break;
        }
        if (f != NULL) {
                fclose(f);
        }
}

static void
report_machine(const struct bench_cfg *cfg)
{
        char cpu[128], mem[64], date[64];
        struct utsname u;
        time_t now = time(NULL);
        const char *b = cfg->markdown ? "- " : "";

        report_file_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
        report_file_field("/proc/meminfo", "MemTotal", mem, sizeof(mem));
        if (uname(&u) < 0) {
                snprintf(u.release, sizeof(u.release), "unknown");
                snprintf(u.machine, sizeof(u.machine), "unknown");
        }
        (void)strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
        printf("%stshm-bench, libtshm %s, %s\n", cfg->markdown ? "### " : "", tshm_version_string(),
               date);
        if (cfg->markdown) {
                printf("\n");
        }
        printf("%sCPU: %s, %ld cores online (%s)\n", b, cpu, sysconf(_SC_NPROCESSORS_ONLN),
               u.machine);
        printf("%sMemory: %.1f GiB; kernel: Linux %s\n", b, strtod(mem, NULL) / 1048576.0,
               u.release);
        printf("%sSettings: %zu iterations per latency after %zu warm-up, %.1f s per "
               "requests/s run, %zu segments for the scale test, %.1f s per stream size\n\n",
               b, cfg->iterations, cfg->warmup, cfg->load_seconds, cfg->segments,
               cfg->stream_seconds);
}

static const struct {
        const char *label;
        int floor; /* enum bench_lat_id of the floor it is compared with, or -1 */
        const char *floor_name;
} report_lat[LAT_COUNT] = {
    [LAT_FLOOR_SHM] = {"floor a: shm_open+ftruncate+mmap+munmap+close+shm_unlink", -1, "-"},
    [LAT_FLOOR_RTT] = {"floor b: Unix-socket round trip, 16 B", -1, "-"},
    [LAT_FLOOR_FD] = {"floor c: round trip passing an fd, mmap 8 KiB", -1, "-"},
    [LAT_FLOOR_FD_TOUCH] = {"floor c + read the first page", -1, "-"},
    [LAT_CREATE] = {"create (tshm_create, to a usable mapping)", LAT_FLOOR_SHM, "a"},
    [LAT_CREATE_CYCLE] = {"create+close+unlink", LAT_FLOOR_SHM, "a"},
    [LAT_OPEN] = {"open (tshm_open, to a usable mapping)", LAT_FLOOR_FD, "c"},
    [LAT_OPEN_CYCLE] = {"open+close", LAT_FLOOR_FD, "c"},
    [LAT_STAT] = {"stat (tshm_stat)", LAT_FLOOR_RTT, "b"},
};

static void
report_latency(const struct bench_cfg *cfg, const struct bench_results *r, enum bench_place p)
{
        const struct bench_summary *l = r->lat[p];
        struct table t = {.ncols = 7};
        char name[96];
        size_t i, row;

        printf("%sLatency, %s%s\n\n", cfg->markdown ? "#### " : "",
               bench_place_name(p, name, sizeof(name)), cfg->markdown ? "" : ":");

        table_set(&t, 0, 0, "measurement");
        table_set(&t, 0, 1, "p50 µs");
        table_set(&t, 0, 2, "p99 µs");
        table_set(&t, 0, 3, "mean µs");
        table_set(&t, 0, 4, "floor");
        table_set(&t, 0, 5, "p50/floor");
        table_set(&t, 0, 6, "target");
        for (i = 0; i < LAT_COUNT; i++) {
                const struct bench_summary *s = &l[i];
                int f = report_lat[i].floor;
                double ratio = f >= 0 && l[f].p50_us > 0 ? s->p50_us / l[f].p50_us : 0;

                row = i + 1;
                table_set(&t, row, 0, "%s", report_lat[i].label);
                table_set(&t, row, 1, "%.1f", s->p50_us);
                table_set(&t, row, 2, "%.1f", s->p99_us);
                table_set(&t, row, 3, "%.1f", s->mean_us);
                table_set(&t, row, 4, "%s", report_lat[i].floor_name);
                if (f >= 0) {
                        table_set(&t, row, 5, "%.2fx", ratio);
                } else {
                        table_set(&t, row, 5, "-");
                }
                if (i == LAT_OPEN) {
                        table_set(&t, row, 6, "≤ %.1fx: %s", TARGET_OPEN_RATIO,
                                  ratio <= TARGET_OPEN_RATIO ? "PASS" : "MISS");
                } else {
                        table_set(&t, row, 6, "-");
                }
        }
        table_print(&t, cfg->markdown);
        printf("open p50 / (floor c + first-page read) p50 = %.2fx\n\n",
               l[LAT_FLOOR_FD_TOUCH].p50_us > 0 ? l[LAT_OPEN].p50_us / l[LAT_FLOOR_FD_TOUCH].p50_us
                                                : 0);
}

static const char *
report_verdict(bool applies, bool ok)
{
        return !applies ? "n/a" : ok ? "PASS" : "MISS";
}

static void
report_scale(struct table *t, size_t row, const struct bench_scale *s)
{
        bool full = s->segments >= TARGET_SEGMENTS;
        double rss = (double)s->rss_kib / 1024.0;
        char a[32], b[32];

        report_count(a, sizeof(a), (double)s->segments);
        table_set(t, row, 0, "create %s segments (uint8 [1]), %d processes", a,
                  BENCH_SCALE_WORKERS);
        table_set(
            t, row, 1, "%.2f s (%s /s)", s->create_s,
            report_count(b, sizeof(b), s->create_s > 0 ? (double)s->segments / s->create_s : 0));
        table_set(t, row, 2, "-");
        table_set(t, row++, 3, "-");
        table_set(t, row, 0, "daemon VmRSS with %s segments (idle: %.1f MiB)", a,
                  (double)s->rss_idle_kib / 1024.0);
        table_set(t, row, 1, "%.1f MiB (peak %.1f)", rss, (double)s->hwm_kib / 1024.0);
        table_set(t, row, 2, "< %.0f MiB", TARGET_RSS_MIB);
        table_set(t, row++, 3, "%s", report_verdict(full, rss < TARGET_RSS_MIB));
        table_set(t, row, 0, "tshm ls --json > /dev/null, %s segments (median of 3)", a);
        if (s->ls_s >= 0) {
                table_set(t, row, 1, "%.3f s", s->ls_s);
        } else {
                table_set(t, row, 1, "not run");
        }
        table_set(t, row, 2, "< %.0f s", TARGET_LS_S);
        table_set(t, row++, 3, "%s", report_verdict(full && s->ls_s >= 0, s->ls_s < TARGET_LS_S));
        table_set(t, row, 0, "tshm_list(), %s segments (median of 3)", a);
        table_set(t, row, 1, "%.3f s (%zu listed)", s->list_s, s->list_count);
        table_set(t, row, 2, "-");
        table_set(t, row++, 3, "%s", s->list_count == s->segments ? "-" : "WRONG COUNT");
        table_set(t, row, 0, "unlink %s segments, %d processes", a, BENCH_SCALE_WORKERS);
        table_set(t, row, 1, "%.2f s", s->unlink_s);
        table_set(t, row, 2, "-");
        table_set(t, row++, 3, "-");
        table_set(t, row, 0, "after unlink: segments / objects in /dev/shm / VmRSS");
        table_set(t, row, 1, "%llu / %d / %.1f MiB", (unsigned long long)s->segments_after,
                  s->objects_after, (double)s->rss_after_kib / 1024.0);
        table_set(t, row, 2, "0 / 0");
        table_set(t, row, 3, "%s",
                  report_verdict(true, s->segments_after == 0 && s->objects_after == 0));
}

/* The lowest and highest of the rounds, as "min–max". */
static const char *
report_range(char *buf, size_t len, const double *v)
{
        double lo = v[0], hi = v[0];
        char a[32], b[32];
        size_t i;

        for (i = 1; i < BENCH_LOAD_ROUNDS; i++) {
                lo = v[i] < lo ? v[i] : lo;
                hi = v[i] > hi ? v[i] : hi;
        }
        /* Cut short if it must be (the caller's cell); said so to gcc's
         * -Wformat-truncation by using the count. */
        if (snprintf(buf, len, "%s–%s", report_count(a, sizeof(a), lo),
                     report_count(b, sizeof(b), hi)) < 0) {
                buf[0] = '\0';
        }
        return buf;
}

/* Two rows per client count: the echo floor, then tshm against it. */
static size_t
report_rps(struct table *t, size_t row, const struct bench_rps_row *r)
{
        double ratio = r->echo_median > 0 ? r->tshm_median / r->echo_median : 0;
        const char *s = r->nprocs == 1 ? "" : "es";
        char a[32], b[64];

        table_set(t, row, 0, "requests/s, echo floor (epoll, Unix socket), %u client process%s",
                  r->nprocs, s);
        table_set(t, row, 1, "%s /s (%s)", report_count(a, sizeof(a), r->echo_median),
                  report_range(b, sizeof(b), r->echo));
        table_set(t, row, 2, "-");
        table_set(t, row++, 3, "-");
        table_set(t, row, 0, "requests/s (tshm_stat), %u client process%s", r->nprocs, s);
        table_set(t, row, 1, "%s /s (%s), %.2fx floor", report_count(a, sizeof(a), r->tshm_median),
                  report_range(b, sizeof(b), r->tshm), ratio);
        if (r->nprocs == 8) {
                table_set(t, row, 2, "≥ %.1fx floor; ≥ %s /s", TARGET_RPS_RATIO,
                          report_count(a, sizeof(a), TARGET_RPS));
                table_set(t, row, 3, "%s / %s", report_verdict(true, ratio >= TARGET_RPS_RATIO),
                          report_verdict(true, r->tshm_median >= TARGET_RPS));
        } else {
                table_set(t, row, 2, "-");
                table_set(t, row, 3, "-");
        }
        return row + 1;
}

static void
report_throughput(const struct bench_cfg *cfg, const struct bench_results *r)
{
        struct table t = {.ncols = 4};
        size_t row = 1, i;

        table_set(&t, 0, 0, "measurement");
        table_set(&t, 0, 1, "result");
        table_set(&t, 0, 2, "target");
        table_set(&t, 0, 3, "verdict");
        for (i = 0; i < BENCH_LOAD_CLIENTS; i++) {
                row = report_rps(&t, row, &r->rps.row[i]);
        }
        report_scale(&t, row, &r->scale);
        table_print(&t, cfg->markdown);
        printf("%srequests/s: median of %d runs of %.1f s each, alternating with the echo floor; "
               "(lowest–highest run)\n\n",
               cfg->markdown ? "- " : "", BENCH_LOAD_ROUNDS, cfg->load_seconds);
}

static const struct {
        const char *label;
        int floor; /* enum bench_wake_id of the ratio's floor, or -1 */
} report_wake[WAKE_COUNT] = {
    [WAKE_FUTEX] = {"futex floor: FUTEX_WAKE -> FUTEX_WAIT", -1},
    [WAKE_SPIN] = {"spin floor: store -> spinning load", -1},
    [WAKE_WAKE_CALL] = {"FUTEX_WAKE, nobody waiting (one call, not halved)", -1},
    [WAKE_TSHM_BLOCK] = {"tshm write_end -> tshm_wait, blocking (spin 0)", WAKE_FUTEX},
    [WAKE_TSHM_SPIN] = {"tshm write_end -> tshm_wait, spinning (spin 100 µs)", WAKE_SPIN},
    [WAKE_IOX_BLOCK] = {"iceoryx publish -> take, blocking (waitset)", WAKE_FUTEX},
    [WAKE_IOX_POLL] = {"iceoryx publish -> take, busy polling", WAKE_SPIN},
};

static void
report_wake_target(struct table *t, size_t row, int id, const struct bench_wake *w)
{
        double ratio = w->lat[WAKE_FUTEX].p50_us > 0
                           ? w->lat[WAKE_TSHM_BLOCK].p50_us / w->lat[WAKE_FUTEX].p50_us
                           : 0;

        if (id == WAKE_TSHM_BLOCK) {
                table_set(t, row, 7, "p50 ≤ %.1fx futex: %s", TARGET_WAKE_BLOCK_RATIO,
                          report_verdict(w->ran[WAKE_FUTEX], ratio <= TARGET_WAKE_BLOCK_RATIO));
        } else if (id == WAKE_TSHM_SPIN) {
                table_set(t, row, 7, "p50 ≤ %.1f µs: %s", TARGET_WAKE_SPIN_US,
                          report_verdict(true, w->lat[id].p50_us <= TARGET_WAKE_SPIN_US));
        } else {
                table_set(t, row, 7, "-");
        }
}

static void
report_publish(const struct bench_cfg *cfg, const struct bench_wake *w)
{
        struct table t = {.ncols = 8};
        size_t row = 1;
        int id;

        printf("%sWake-up latency, one way (round trip / 2), %s; %d CPUs online%s\n\n",
               cfg->markdown ? "#### " : "",
               w->split ? "the two processes pinned to two CPUs" : "one CPU (no spinning)", w->cpus,
               cfg->markdown ? "" : ":");
        table_set(&t, 0, 0, "measurement");
        table_set(&t, 0, 1, "p50 µs");
        table_set(&t, 0, 2, "p99 µs");
        table_set(&t, 0, 3, "mean µs");
        table_set(&t, 0, 4, "p50 / futex");
        table_set(&t, 0, 5, "p50 / spin");
        table_set(&t, 0, 6, "samples");
        table_set(&t, 0, 7, "target");
        for (id = 0; id < WAKE_COUNT; id++, row++) {
                const struct bench_summary *s = &w->lat[id];
                const struct bench_summary *fu = &w->lat[WAKE_FUTEX], *sp = &w->lat[WAKE_SPIN];

                table_set(&t, row, 0, "%s", report_wake[id].label);
                if (!w->ran[id]) {
                        bool iox = id == WAKE_IOX_BLOCK || id == WAKE_IOX_POLL;

                        table_set(&t, row, 1, "%s",
                                  iox && w->iox_note[0] != '\0' ? w->iox_note : "not run");
                        for (int c = 2; c < 8; c++) {
                                table_set(&t, row, c, "-");
                        }
                        continue;
                }
                table_set(&t, row, 1, "%.2f", s->p50_us);
                table_set(&t, row, 2, "%.2f", s->p99_us);
                table_set(&t, row, 3, "%.2f", s->mean_us);
                if (report_wake[id].floor < 0) {
                        table_set(&t, row, 4, "-");
                        table_set(&t, row, 5, "-");
                } else if (w->ran[WAKE_FUTEX] && fu->p50_us > 0) {
                        table_set(&t, row, 4, "%.2fx", s->p50_us / fu->p50_us);
                } else {
                        table_set(&t, row, 4, "-");
                }
                if (report_wake[id].floor < 0) {
                        /* a floor: no ratio */
                } else if (w->ran[WAKE_SPIN] && sp->p50_us > 0) {
                        table_set(&t, row, 5, "%.2fx", s->p50_us / sp->p50_us);
                } else {
                        table_set(&t, row, 5, "-");
                }
                table_set(&t, row, 6, "%zu", s->n);
                report_wake_target(&t, row, id, w);
        }
        table_print(&t, cfg->markdown);
        if (w->iox_note[0] != '\0') {
                printf("%siceoryx: %s\n\n", cfg->markdown ? "- " : "", w->iox_note);
        }
}

static void
report_streams(const struct bench_cfg *cfg, const struct bench_streams *st)
{
        struct table t = {.ncols = 12};
        char a[32];
        size_t i;

        printf("%sStream throughput, end to end (producer writes every byte, subscriber reads "
               "every byte), block policy%s\n\n",
               cfg->markdown ? "#### " : "", cfg->markdown ? "" : ":");
        table_set(&t, 0, 0, "frame");
        table_set(&t, 0, 1, "slots");
        table_set(&t, 0, 2, "frames/s");
        table_set(&t, 0, 3, "GB/s");
        table_set(&t, 0, 4, "memcpy GB/s");
        table_set(&t, 0, 5, "stream / memcpy");
        table_set(&t, 0, 6, "memcpy, ring GB/s");
        table_set(&t, 0, 7, "raw pipeline GB/s");
        table_set(&t, 0, 8, "stream / raw");
        table_set(&t, 0, 9, "frames (s)");
        table_set(&t, 0, 10, "target");
        table_set(&t, 0, 11, "tshm pages");
        for (i = 0; i < BENCH_STREAM_SIZES; i++) {
                const struct bench_stream_row *r = &st->row[i];
                double b = (double)r->frame_bytes;
                double gbps = r->seconds > 0 ? b * (double)r->frames / r->seconds / 1e9 : 0;
                double ratio = r->memcpy_gbps > 0 ? gbps / r->memcpy_gbps : 0;

                if (b >= 1024 * 1024) {
                        table_set(&t, i + 1, 0, "%.0f MiB", b / (1024 * 1024));
                } else {
                        table_set(&t, i + 1, 0, "%.0f KiB", b / 1024);
                }
                table_set(&t, i + 1, 1, "%u", r->slots);
                if (!r->ran) {
                        table_set(&t, i + 1, 2, "not run");
                        continue;
                }
                table_set(&t, i + 1, 2, "%s",
                          report_count(a, sizeof(a),
                                       r->seconds > 0 ? (double)r->frames / r->seconds : 0));
                table_set(&t, i + 1, 3, "%.2f", gbps);
                table_set(&t, i + 1, 4, "%.2f", r->memcpy_gbps);
                table_set(&t, i + 1, 5, "%.2fx", ratio);
                table_set(&t, i + 1, 6, "%.2f", r->memcpy_ring_gbps);
                table_set(&t, i + 1, 7, "%.2f", r->raw_gbps);
                table_set(&t, i + 1, 8, "%.2fx", r->raw_gbps > 0 ? gbps / r->raw_gbps : 0);
                table_set(&t, i + 1, 9, "%llu (%.2f)", (unsigned long long)r->frames, r->seconds);
                table_set(&t, i + 1, 11, "%s, %llu KiB",
                          tshm_backing_name(r->backing) != NULL ? tshm_backing_name(r->backing)
                                                                : "?",
                          (unsigned long long)(r->page_size / 1024));
                if (r->frame_bytes == TARGET_STREAM_BYTES) {
                        table_set(&t, i + 1, 10, "≥ %.1fx: %s", TARGET_STREAM_RATIO,
                                  report_verdict(true, ratio >= TARGET_STREAM_RATIO));
                } else {
                        table_set(&t, i + 1, 10, "-");
                }
        }
        table_print(&t, cfg->markdown);
}

static void
report_pub(const struct bench_cfg *cfg, const struct bench_streams *st)
{
        static const char *const label[PUB_ROWS] = {
            [PUB_FLOOR] = "floor: release store + release fence, shared memory",
            [PUB_NONE] = "tshm_stream_loan + tshm_stream_publish, no subscriber",
            [PUB_IDLE] = "the same, one subscriber that never sleeps (overwrite)",
        };
        const struct bench_summary *f = &st->pub[PUB_FLOOR];
        struct table t = {.ncols = 5};
        size_t i;

        printf("%sPublish, nobody waiting: ns per op, 64-byte frames, 8 slots%s\n\n",
               cfg->markdown ? "#### " : "", cfg->markdown ? "" : ":");
        if (!st->pub_ran) {
                printf("not run\n\n");
                return;
        }
        table_set(&t, 0, 0, "measurement");
        table_set(&t, 0, 1, "p50 ns");
        table_set(&t, 0, 2, "p99 ns");
        table_set(&t, 0, 3, "p50 / floor");
        table_set(&t, 0, 4, "samples (ops each)");
        for (i = 0; i < PUB_ROWS; i++) {
                const struct bench_summary *p = &st->pub[i];

                /* bench_summarize's "µs" are ns here (stream.c). */
                table_set(&t, i + 1, 0, "%s", label[i]);
                table_set(&t, i + 1, 1, "%.2f", p->p50_us);
                table_set(&t, i + 1, 2, "%.2f", p->p99_us);
                if (i == PUB_FLOOR || f->p50_us <= 0) {
                        table_set(&t, i + 1, 3, "-");
                } else {
                        table_set(&t, i + 1, 3, "%.1fx", p->p50_us / f->p50_us);
                }
                table_set(&t, i + 1, 4, "%zu (%d)", p->n, BENCH_PUB_BATCH);
        }
        table_print(&t, cfg->markdown);
}

void
bench_report(const struct bench_cfg *cfg, const struct bench_results *r)
{
        int p;

        report_machine(cfg);
        for (p = 0; p < PLACE_COUNT; p++) {
                if (r->placed[p]) {
                        report_latency(cfg, r, (enum bench_place)p);
                }
        }
        if ((cfg->parts & BENCH_PART_THROUGHPUT) != 0) {
                printf("%sThroughput and scale (unpinned)%s\n\n", cfg->markdown ? "#### " : "",
                       cfg->markdown ? "" : ":");
                report_throughput(cfg, r);
                if (r->scale.segments < TARGET_SEGMENTS) {
                        printf("%sRSS and ls targets are for %d segments; this run made %zu "
                               "(n/a)\n\n",
                               cfg->markdown ? "- " : "", TARGET_SEGMENTS, r->scale.segments);
                }
        }
        if ((cfg->parts & BENCH_PART_PUBLISH) != 0) {
                report_publish(cfg, &r->wake);
        }
        if ((cfg->parts & BENCH_PART_STREAMS) != 0) {
                report_streams(cfg, &r->streams);
                report_pub(cfg, &r->streams);
        }
}
