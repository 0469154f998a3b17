/*
 * cmd_info.c - 'tshm ls' and 'tshm info': segment descriptions as a table,
 * as "key: value" lines, or as JSON with the same keys for both.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tshm.h"

#include "cli.h"
#include "fmt.h"
#include "json.h"
#include "safetensors.h"

/* Characters of fmt_time_local()'s "2026-11-28 04:50:01". */
#define FMT_TIME_LOCAL_WIDTH 19

/* The JSON object for one segment; 'tshm ls --json' writes an array of
 * them and 'tshm info --json' one. The keys are an interface. */
static const char *
stream_policy_name(uint32_t policy)
{
        return policy == TSHM_STREAM_OVERWRITE ? "overwrite" : "block";
}

/* A stream's ring as the daemon reports it; false for an array or when the
 * stat failed (the segment went meanwhile). */
static bool
stream_of(tshm_client *c, const tshm_info *info, tshm_stream_info *si)
{
        return c != NULL && info->kind == TSHM_KIND_STREAM &&
               tshm_stream_stat(c, info->name, si) == 0;
}

static const char *
kind_name(uint32_t kind)
{
        switch (kind) {
        case TSHM_KIND_STREAM:
                return "stream";
        case TSHM_KIND_GROUP:
                return "group";
        default:
                return "array";
        }
}

static void
json_shape(FILE *out, size_t ndim, const uint64_t *shape)
{
        size_t i;

        (void)putc('[', out);
        for (i = 0; i < ndim && i < TSHM_MAX_NDIM; i++) {
                (void)fprintf(out, i == 0 ? "%" PRIu64 : ", %" PRIu64, shape[i]);
        }
        (void)putc(']', out);
}

/* 'tshm info --json' of a group: "tensors" as a list, and "metadata". */
static void
group_json(struct json_obj *o, const tshm_group *g)
{
        FILE *out = o->out;
        struct json_obj t;
        tshm_tensor tt;
        const void *meta;
        char dt[32], *text;
        size_t i, n = tshm_group_count(g), len;

        json_obj_key(o, "tensors");
        (void)fputs(n == 0 ? "[" : "[\n", out);
        for (i = 0; i < n && tshm_group_tensor(g, i, &tt) == 0; i++) {
                (void)fputs("    ", out);
                json_obj_begin(&t, out);
                json_obj_str(&t, "name", tt.name);
                json_obj_str(&t, "dtype", fmt_dtype(tt.dtype, dt));
                json_obj_key(&t, "shape");
                json_shape(out, tt.ndim, tt.shape);
                json_obj_u64(&t, "offset", tt.offset);
                json_obj_u64(&t, "nbytes", tt.nbytes);
                json_obj_end(&t);
                (void)fputs(i + 1 < n ? ",\n" : "\n", out);
        }
        (void)fputs(n == 0 ? "]" : "  ]", out);
        meta = tshm_group_metadata(g, &len);
        if ((text = st_meta_text(meta, len)) != NULL) {
                json_obj_key(o, "metadata");
                (void)fputs(text, out);
                free(text);
        }
}

/* The "mirrors" member of @name's JSON object: those of the @n mirrors in
 * @m that are of @name, if any. */
static void
mirrors_json(struct json_obj *o, const char *name, const tshm_mirror_info *m, size_t n)
{
        bool first = true;
        size_t i;

        for (i = 0; i < n; i++) {
                if (strcmp(m[i].name, name) != 0) {
                        continue;
                }
                if (first) {
                        json_obj_key(o, "mirrors");
                        (void)fputc('[', o->out);
                } else {
                        (void)fputs(", ", o->out);
                }
                first = false;
                cli_mirror_json(o->out, &m[i]);
        }
        if (!first) {
                (void)fputc(']', o->out);
        }
}

/* The JSON object of one segment; with @g, the group it is, described
 * whole; with the @nm mirrors of @mirrors, a "mirrors" key when it has
 * any. */
static void
info_json(FILE *out, tshm_client *c, const tshm_info *info, const tshm_group *g,
          const tshm_mirror_info *mirrors, size_t nm)
{
        tshm_stream_info si;
        struct json_obj o;
        char dt[32], mode[16], created[FMT_TIME_BUF];

        fmt_time_iso(info->created_ns, created);
        (void)snprintf(mode, sizeof(mode), "%04o", info->mode);
        json_obj_begin(&o, out);
        json_obj_str(&o, "name", info->name);
        json_obj_str(&o, "dtype", fmt_dtype(info->dtype, dt));
        json_obj_key(&o, "shape");
        json_shape(out, info->ndim, info->shape);
        json_obj_u64(&o, "nbytes", info->nbytes);
        json_obj_u64(&o, "size", info->size);
        json_obj_u64(&o, "owner", info->owner_uid);
        json_obj_u64(&o, "group", info->owner_gid);
        json_obj_str(&o, "mode", mode);
        json_obj_u64(&o, "opens", info->opens);
        json_obj_str(&o, "created", created);
        json_obj_u64(&o, "created_ns", info->created_ns);
        json_obj_str(&o, "kind", kind_name(info->kind));
        json_obj_str(&o, "backing",
                     tshm_backing_name(info->backing) != NULL ? tshm_backing_name(info->backing)
                                                              : "unknown");
        json_obj_u64(&o, "page_size", info->page_size);
        if (stream_of(c, info, &si)) {
                json_obj_key(&o, "stream");
                (void)fprintf(out,
                              "{\"slots\": %" PRIu32
                              ", \"policy\": \"%s\", \"subscribers\": %" PRIu32
                              ", \"frames\": %" PRIu64 "}",
                              si.slots, stream_policy_name(si.policy), si.subscribers, si.frames);
        }
        if (g != NULL) {
                group_json(&o, g);
        } else if (info->kind == TSHM_KIND_GROUP) {
                json_obj_u64(&o, "tensors", info->tensors);
        }
        mirrors_json(&o, info->name, mirrors, nm);
        json_obj_end(&o);
}

static size_t
zmax(size_t a, size_t b)
{
        return a > b ? a : b;
}

/* Column widths of the 'tshm ls' table. */
struct ls_widths {
        size_t name, dtype, shape, size, owner, opens;
};

static void
ls_measure(const tshm_info *infos, size_t count, struct fmt_name_cache *users, struct ls_widths *w)
{
        char shape[FMT_SHAPE_BUF], size[FMT_SIZE_BUF], dt[32];
        size_t i;

        w->name = strlen("NAME");
        w->dtype = strlen("DTYPE");
        w->shape = strlen("SHAPE");
        w->size = strlen("SIZE");
        w->owner = strlen("OWNER");
        w->opens = strlen("OPENS");
        for (i = 0; i < count; i++) {
                fmt_shape(infos[i].ndim, infos[i].shape, shape);
                fmt_size(infos[i].nbytes, size);
                w->name = zmax(w->name, strlen(infos[i].name));
                w->dtype = zmax(w->dtype, strlen(fmt_dtype(infos[i].dtype, dt)));
                w->shape = zmax(w->shape, strlen(shape));
                w->size = zmax(w->size, strlen(size));
                w->owner = zmax(w->owner, strlen(fmt_user(users, infos[i].owner_uid)));
                w->opens = zmax(w->opens, (size_t)snprintf(NULL, 0, "%" PRIu32, infos[i].opens));
        }
}

/* Columns that a long value would make as wide as itself (a 200-character
 * name, a 32-d shape) give up room first, down to these widths. */
#define LS_NAME_MIN 16
#define LS_SHAPE_MIN 11
#define LS_ELLIPSIS "..."

/* The width 'tshm ls' fits its rows to, as ps(1) does: none (0: full rows)
 * unless standard output is a terminal and --wide was not given; then
 * $COLUMNS, else the terminal's width, else 80. */
static size_t
ls_term_width(const struct cli_ctx *ctx)
{
        const char *env = getenv("COLUMNS");
        struct winsize ws;
        char *end;
        unsigned long v;

        if (ctx->wide || !isatty(STDOUT_FILENO)) {
                return 0;
        }
        if (env != NULL && env[0] >= '0' && env[0] <= '9') {
                v = strtoul(env, &end, 10);
                if (*end == '\0' && v > 0 && v < 100000) {
                        return v;
                }
        }
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
                return ws.ws_col;
        }
        return 80;
}

static size_t
ls_excess(size_t v, size_t min)
{
        return v > min ? v - min : 0;
}

/* Narrow the NAME and SHAPE columns, the one further above its minimum
 * first, until a row of @fixed other characters fits in @width, or both
 * are at their minimum. */
static void
ls_fit(struct ls_widths *w, size_t fixed, size_t width)
{
        while (fixed + w->name + w->shape > width) {
                size_t en = ls_excess(w->name, LS_NAME_MIN), es = ls_excess(w->shape, LS_SHAPE_MIN);

                if (en == 0 && es == 0) {
                        return;
                }
                if (en >= es) {
                        w->name--;
                } else {
                        w->shape--;
                }
        }
}

/* @s cut to @width characters, ending in an ellipsis when cut, into @buf
 * (at least @width + 1 bytes). */
static const char *
ls_cut(const char *s, size_t width, char *buf)
{
        size_t len = strlen(s), el = strlen(LS_ELLIPSIS);

        if (len <= width || width <= el) {
                return len <= width ? s : &LS_ELLIPSIS[el - width];
        }
        memcpy(buf, s, width - el);
        memcpy(buf + width - el, LS_ELLIPSIS, el + 1);
        return buf;
}

/* One row, cut to @width characters unless it is 0 (what ps does with a
 * line that the narrowed columns still do not fit). */
static void ls_row(FILE *out, size_t width, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
ls_row(FILE *out, size_t width, const char *fmt, ...)
{
        char line[TSHM_NAME_MAX + FMT_SHAPE_BUF + 512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0) {
                return;
        }
        if (width > 0 && strlen(line) > width) {
                line[width] = '\0';
        }
        (void)fprintf(out, "%s\n", line);
}

/* The STREAM cell of @in into @buf: "4 slots block, 2 subscribers, 5
 * frames", "group, 3 tensors", or "-" for an array. */
static void
ls_ring(tshm_client *c, const tshm_info *in, char *buf, size_t len)
{
        tshm_stream_info si;

        if (stream_of(c, in, &si)) {
                (void)snprintf(buf, len,
                               "%" PRIu32 " slots %s, %" PRIu32 " subscribers, %" PRIu64 " frames",
                               si.slots, stream_policy_name(si.policy), si.subscribers, si.frames);
        } else if (in->kind == TSHM_KIND_GROUP) {
                (void)snprintf(buf, len, "group, %" PRIu64 " tensor%s", in->tensors,
                               in->tensors == 1 ? "" : "s");
        } else {
                (void)snprintf(buf, len, "-");
        }
}

#define LS_RING_BUF 96

/* A line under @name's row for each of its mirrors among the @nm of @m:
 * "    -> host:port (live), lag 3 ms, sent 5, dropped 0". */
static void
ls_mirror_lines(FILE *out, size_t width, const char *name, const tshm_mirror_info *m, size_t nm)
{
        char mark[TSHM_PEER_MAX + TSHM_NAME_MAX + 320];
        size_t i;

        for (i = 0; i < nm; i++) {
                if (strcmp(m[i].name, name) == 0) {
                        cli_mirror_mark(&m[i], mark, sizeof(mark));
                        ls_row(out, width, "    %s", mark);
                }
        }
}

static void
ls_table(FILE *out, tshm_client *c, const tshm_info *infos, size_t count, size_t width,
         const tshm_mirror_info *m, size_t nm)
{
        struct fmt_name_cache users;
        struct ls_widths w;
        char shape[FMT_SHAPE_BUF], size[FMT_SIZE_BUF], created[FMT_TIME_BUF], dt[32];
        char name_cut[TSHM_NAME_MAX + 1], shape_cut[FMT_SHAPE_BUF];
        char(*rings)[LS_RING_BUF] = calloc(count > 0 ? count : 1, LS_RING_BUF);
        size_t i, ring = strlen("STREAM");

        memset(&users, 0, sizeof(users));
        ls_measure(infos, count, &users, &w);
        for (i = 0; i < count && rings != NULL; i++) {
                ls_ring(c, &infos[i], rings[i], LS_RING_BUF);
                ring = zmax(ring, strlen(rings[i]));
        }
        if (width > 0) {
                /* Everything but NAME and SHAPE: the other columns, MODE
                 * (4), the eight two-blank gaps (16) and the widest STREAM
                 * cell, so that a stream's ring is not the first thing cut. */
                ls_fit(&w,
                       w.dtype + w.size + w.owner + w.opens + FMT_TIME_LOCAL_WIDTH + 4 + ring + 16,
                       width);
        }
        ls_row(out, width, "%-*s  %-*s  %-*s  %*s  %-*s  MODE  %*s  %-*s  STREAM", (int)w.name,
               "NAME", (int)w.dtype, "DTYPE", (int)w.shape, "SHAPE", (int)w.size, "SIZE",
               (int)w.owner, "OWNER", (int)w.opens, "OPENS", FMT_TIME_LOCAL_WIDTH, "CREATED");
        for (i = 0; i < count; i++) {
                const tshm_info *in = &infos[i];
                char one[LS_RING_BUF];

                fmt_shape(in->ndim, in->shape, shape);
                fmt_size(in->nbytes, size);
                fmt_time_local(in->created_ns, created);
                if (rings == NULL) {
                        ls_ring(c, in, one, sizeof(one));
                }
                ls_row(out, width, "%-*s  %-*s  %-*s  %*s  %-*s  %04o  %*" PRIu32 "  %-*s  %s",
                       (int)w.name, ls_cut(in->name, w.name, name_cut), (int)w.dtype,
                       fmt_dtype(in->dtype, dt), (int)w.shape, ls_cut(shape, w.shape, shape_cut),
                       (int)w.size, size, (int)w.owner, fmt_user(&users, in->owner_uid), in->mode,
                       (int)w.opens, in->opens, FMT_TIME_LOCAL_WIDTH, created,
                       rings != NULL ? rings[i] : one);
                ls_mirror_lines(out, width, in->name, m, nm);
        }
        free(rings);
}

int
cmd_ls(const struct cli_ctx *ctx)
{
        tshm_mirror_info *m = NULL;
        tshm_client *c = NULL;
        tshm_info *infos = NULL;
        size_t count = 0, nm = 0, i;
        int rv, status;

        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        if ((rv = tshm_list(c, ctx->prefix, &infos, &count)) < 0) {
                status = cli_fail_tshm(ctx, c, rv, NULL);
                goto out;
        }
        if (count > 0) {
                (void)cli_mirrors_fetch(ctx, &m, &nm);
        }
        if (ctx->json) {
                (void)fputs(count == 0 ? "[" : "[\n", stdout);
                for (i = 0; i < count; i++) {
                        (void)fputs("  ", stdout);
                        info_json(stdout, c, &infos[i], NULL, m, nm);
                        (void)fputs(i + 1 < count ? ",\n" : "\n", stdout);
                }
                (void)fputs("]\n", stdout);
        } else {
                ls_table(stdout, c, infos, count, ls_term_width(ctx), m, nm);
        }
        status = cli_flush(ctx, CLI_EXIT_OK);
out:
        tshm_mirror_list_free(m);
        tshm_list_free(infos);
        tshm_disconnect(c);
        return status;
}

static void
info_lines(FILE *out, tshm_client *c, const tshm_info *in)
{
        tshm_stream_info si;
        struct fmt_name_cache names;
        char shape[FMT_SHAPE_BUF], nbytes[FMT_SIZE_BUF], size[FMT_SIZE_BUF];
        char local[FMT_TIME_BUF], iso[FMT_TIME_BUF], dt[32];

        memset(&names, 0, sizeof(names));
        fmt_shape(in->ndim, in->shape, shape);
        fmt_size(in->nbytes, nbytes);
        fmt_size(in->size, size);
        fmt_time_local(in->created_ns, local);
        fmt_time_iso(in->created_ns, iso);
        (void)fprintf(out, "name: %s\n", in->name);
        (void)fprintf(out, "dtype: %s\n", fmt_dtype(in->dtype, dt));
        (void)fprintf(out, "shape: %s\n", shape);
        (void)fprintf(out, "nbytes: %" PRIu64 " (%s)\n", in->nbytes, nbytes);
        (void)fprintf(out, "size: %" PRIu64 " (%s)\n", in->size, size);
        (void)fprintf(out, "owner: %s (%" PRIu32 ")\n", fmt_user(&names, in->owner_uid),
                      in->owner_uid);
        memset(&names, 0, sizeof(names));
        (void)fprintf(out, "group: %s (%" PRIu32 ")\n", fmt_group(&names, in->owner_gid),
                      in->owner_gid);
        (void)fprintf(out, "mode: %04o\n", in->mode);
        (void)fprintf(out, "opens: %" PRIu32 "\n", in->opens);
        (void)fprintf(out, "created: %s (%s)\n", local, iso);
        if (in->page_size != 0) {
                char page[FMT_SIZE_BUF];

                fmt_size(in->page_size, page);
                (void)fprintf(out, "backing: %s, %s pages\n",
                              tshm_backing_name(in->backing) != NULL
                                  ? tshm_backing_name(in->backing)
                                  : "unknown",
                              page);
        }
        if (stream_of(c, in, &si)) {
                (void)fprintf(out, "stream: %" PRIu32 " slots, policy %s\n", si.slots,
                              stream_policy_name(si.policy));
                (void)fprintf(out, "subscribers: %" PRIu32 "\n", si.subscribers);
                (void)fprintf(out, "frames: %" PRIu64 "\n", si.frames);
        }
}

/* Column widths of a group's tensor table. */
struct group_widths {
        size_t name, dtype, shape, offset, nbytes;
};

/* @name as a terminal may show it: a tensor's name is any bytes but NUL
 * (a hostile file's too), so control characters (C0, DEL, and C1 as UTF-8
 * encodes them) are written as \xNN, never sent to the terminal. A new
 * string (free it), or NULL for want of memory. */
static char *
group_name_safe(const char *name, size_t len)
{
        const unsigned char *p = (const unsigned char *)name;
        char *out = malloc(4 * len + 1), *o = out;
        size_t i;

        if (out == NULL) {
                return NULL;
        }
        for (i = 0; i < len; i++) {
                bool c1 = p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f;

                if (p[i] < 0x20 || p[i] == 0x7f || c1) {
                        o += snprintf(o, 5, "\\x%02x", p[i]);
                        if (c1) {
                                o += snprintf(o, 5, "\\x%02x", p[++i]);
                        }
                } else {
                        *o++ = (char)p[i];
                }
        }
        *o = '\0';
        return out;
}

static void
group_measure(const tshm_group *g, struct group_widths *w)
{
        char shape[FMT_SHAPE_BUF], dt[32];
        tshm_tensor t;
        size_t i;

        w->name = strlen("NAME");
        w->dtype = strlen("DTYPE");
        w->shape = strlen("SHAPE");
        w->offset = strlen("OFFSET");
        w->nbytes = strlen("BYTES");
        for (i = 0; tshm_group_tensor(g, i, &t) == 0; i++) {
                fmt_shape(t.ndim, t.shape, shape);
                char *safe = group_name_safe(t.name, t.name_len);

                w->name = zmax(w->name, safe != NULL ? strlen(safe) : t.name_len);
                free(safe);
                w->dtype = zmax(w->dtype, strlen(fmt_dtype(t.dtype, dt)));
                w->shape = zmax(w->shape, strlen(shape));
                w->offset = zmax(w->offset, (size_t)snprintf(NULL, 0, "%" PRIu64, t.offset));
                w->nbytes = zmax(w->nbytes, (size_t)snprintf(NULL, 0, "%" PRIu64, t.nbytes));
        }
}

/* 'tshm info' of a group: its tensors as a table, then its metadata. */
static void
group_lines(FILE *out, const tshm_group *g)
{
        struct group_widths w;
        char shape[FMT_SHAPE_BUF], dt[32];
        tshm_tensor t;
        const void *meta;
        char *text;
        size_t i, len;

        group_measure(g, &w);
        (void)fprintf(out, "tensors: %zu\n", tshm_group_count(g));
        (void)fprintf(out, "  %-*s  %-*s  %-*s  %*s  %*s\n", (int)w.name, "NAME", (int)w.dtype,
                      "DTYPE", (int)w.shape, "SHAPE", (int)w.offset, "OFFSET", (int)w.nbytes,
                      "BYTES");
        for (i = 0; tshm_group_tensor(g, i, &t) == 0; i++) {
                char *safe = group_name_safe(t.name, t.name_len);

                fmt_shape(t.ndim, t.shape, shape);
                (void)fprintf(out, "  %-*s  %-*s  %-*s  %*" PRIu64 "  %*" PRIu64 "\n", (int)w.name,
                              safe != NULL ? safe : "?", (int)w.dtype, fmt_dtype(t.dtype, dt),
                              (int)w.shape, shape, (int)w.offset, t.offset, (int)w.nbytes,
                              t.nbytes);
                free(safe);
        }
        meta = tshm_group_metadata(g, &len);
        if ((text = st_meta_text(meta, len)) != NULL) {
                (void)fprintf(out, "metadata: %s\n", text);
                free(text);
        } else if (len > 0) {
                (void)fprintf(out, "metadata: %zu bytes, no __metadata__\n", len);
        }
}

int
cmd_info(const struct cli_ctx *ctx)
{
        tshm_client *c = NULL;
        tshm_group *g = NULL;
        tshm_info info;
        int rv, status;

        if ((status = cli_connect(ctx, &c)) != 0) {
                return status;
        }
        if ((rv = tshm_stat(c, ctx->argv[0], &info)) < 0) {
                status = cli_fail_seg(ctx, c, rv, ctx->argv[0]);
                goto out;
        }
        /* A group's tensors are in its table of contents: open it (read
         * access, as for any info), nothing to populate but that. */
        if (info.kind == TSHM_KIND_GROUP &&
            (rv = tshm_group_open(c, ctx->argv[0], TSHM_OPEN_NOPOPULATE, &g)) < 0) {
                status = cli_fail_seg(ctx, c, rv, ctx->argv[0]);
                goto out;
        }
        if (ctx->json) {
                info_json(stdout, c, &info, g, NULL, 0);
                (void)putc('\n', stdout);
        } else {
                info_lines(stdout, c, &info);
                if (g != NULL) {
                        group_lines(stdout, g);
                }
        }
        status = cli_flush(ctx, CLI_EXIT_OK);
out:
        (void)tshm_group_close(g); /* read-only: nothing to lose */
        tshm_disconnect(c);
        return status;
}
