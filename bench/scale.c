/*
 * scale.c - many segments at once: create them from several processes, read
 * the daemon's memory, time `tshm ls --json` and tshm_list() over them,
 * unlink them all and check that nothing is left.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define SCALE_RUNS 3
/* A uint8 [1] segment is a 4 KiB header page and one data page. */
#define SCALE_OBJECT_BYTES 8192.0

enum scale_op { SCALE_CREATE, SCALE_UNLINK };

struct scale_arg {
        size_t total;
        enum scale_op op;
};

static void
scale_name(char *buf, size_t len, size_t i)
{
        snprintf(buf, len, "n%07zu", i);
}

/* Worker @idx creates (and closes) or unlinks its slice of the names. */
static int
scale_work(tshm_client *c, unsigned idx, unsigned nworkers, void *arg, uint64_t *ret_count)
{
        static const uint64_t shape[1] = {1};
        const struct scale_arg *a = arg;
        size_t i, lo = a->total * idx / nworkers, hi = a->total * (idx + 1) / nworkers;
        char name[32];
        tshm_seg *seg;
        int rv;

        for (i = lo; i < hi; i++) {
                scale_name(name, sizeof(name), i);
                if (a->op == SCALE_UNLINK) {
                        rv = tshm_unlink(c, name);
                } else if ((rv = tshm_create(c, name, TSHM_DTYPE_UINT8, 1, shape, 0,
                                             TSHM_CREATE_DEFAULT, &seg)) == 0) {
                        rv = tshm_close(seg);
                }
                if (rv < 0) {
                        return rv;
                }
        }
        *ret_count = hi - lo;
        return 0;
}

/* Fewer segments when /dev/shm cannot hold N objects with 20% to spare. */
static size_t
scale_fit(size_t asked)
{
        struct statvfs vfs;
        double avail, room;

        if (statvfs("/dev/shm", &vfs) < 0) {
                return asked;
        }
        avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
        room = avail / (SCALE_OBJECT_BYTES * 1.2);
        if (vfs.f_files > 0 && (double)vfs.f_favail * 0.9 < room) {
                room = (double)vfs.f_favail * 0.9; /* tmpfs inodes */
        }
        if ((double)asked <= room) {
                return asked;
        }
        fprintf(stderr,
                "tshm-bench: note: /dev/shm has %.0f MiB free, room for %.0f segments: "
                "scale test reduced from %zu\n",
                avail / 1048576.0, room, asked);
        return (size_t)room;
}

static void
scale_show_file(const char *path)
{
        char line[512];
        FILE *f = fopen(path, "r");
        int n = 0;

        while (f != NULL && n++ < 20 && fgets(line, sizeof(line), f) != NULL) {
                fprintf(stderr, "  %s", line);
        }
        if (f != NULL) {
                fclose(f);
        }
}

/* One `tshm --socket S ls --json > /dev/null`: its wall time, or -1. */
static double
scale_ls_once(const struct bench_env *env, const char *cli, int *ret_status)
{
        const char *argv[] = {cli, "--socket", env->socket, "ls", "--json", NULL};
        uint64_t t0 = bench_now_ns();
        int fd, status;
        pid_t pid;

        pid = bench_fork();
        if (pid < 0) {
                return -1;
        }
        if (pid == 0) {
                fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void)dup2(fd, STDOUT_FILENO);
                }
                fd = open(env->clierr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void)dup2(fd, STDERR_FILENO);
                }
                (void)setenv("TSHM_SOCKET", env->socket, 1);
                execv(cli, (char *const *)argv);
                _exit(127);
        }
        status = bench_reap(pid);
        *ret_status = status;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "tshm-bench: '%s ls --json' failed (status %#x); its stderr:\n",
                        cli, (unsigned)status);
                scale_show_file(env->clierr);
                return -1;
        }
        return (double)(bench_now_ns() - t0) / 1e9;
}

static void
scale_time_ls(const struct bench_env *env, const struct bench_cfg *cfg, struct bench_scale *r)
{
        double t[SCALE_RUNS];
        size_t i;

        r->ls_s = -1;
        if (cfg->cli_path[0] == '\0' || access(cfg->cli_path, X_OK) != 0) {
                fprintf(stderr,
                        "tshm-bench: note: no tshm CLI at '%s', skipping ls --json "
                        "(use --tshm PATH)\n",
                        cfg->cli_path);
                return;
        }
        fprintf(stderr, "tshm-bench: timing '%s ls --json' over %zu segments\n", cfg->cli_path,
                r->segments);
        for (i = 0; i < SCALE_RUNS; i++) {
                if ((t[i] = scale_ls_once(env, cfg->cli_path, &r->ls_status)) < 0) {
                        return;
                }
        }
        r->ls_s = bench_median(t, SCALE_RUNS);
}

static int
scale_time_list(tshm_client *c, struct bench_scale *r)
{
        double t[SCALE_RUNS];
        tshm_info *infos;
        uint64_t t0;
        size_t i, n;
        int rv;

        for (i = 0; i < SCALE_RUNS; i++) {
                t0 = bench_now_ns();
                if ((rv = tshm_list(c, NULL, &infos, &n)) < 0) {
                        fprintf(stderr, "tshm-bench: tshm_list: %s (%s)\n", tshm_strerror(rv),
                                tshm_errmsg(c));
                        return rv;
                }
                t[i] = (double)(bench_now_ns() - t0) / 1e9;
                tshm_list_free(infos);
                r->list_count = n;
        }
        r->list_s = bench_median(t, SCALE_RUNS);
        return 0;
}

static int
scale_phase(const struct bench_env *env, size_t total, enum scale_op op, double *ret_s)
{
        struct scale_arg a = {.total = total, .op = op};
        uint64_t done;
        int rv;

        fprintf(stderr, "tshm-bench: %s %zu segments from %d processes\n",
                op == SCALE_CREATE ? "creating" : "unlinking", total, BENCH_SCALE_WORKERS);
        rv = bench_workers_run(env->socket, BENCH_SCALE_WORKERS, scale_work, &a, &done, ret_s);
        if (rv == 0 && done != total) {
                fprintf(stderr, "tshm-bench: %llu of %zu done\n", (unsigned long long)done, total);
                rv = TSHM_EIO;
        }
        return rv;
}

int
bench_scale_run(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
                struct bench_scale *ret)
{
        struct bench_scale r = {.asked = cfg->segments, .ls_s = -1};
        tshm_daemon_info st;
        int rv;

        r.segments = scale_fit(cfg->segments);
        r.rss_idle_kib = bench_proc_kib(env->daemon, "VmRSS");
        if ((rv = scale_phase(env, r.segments, SCALE_CREATE, &r.create_s)) < 0) {
                return rv;
        }
        r.rss_kib = bench_proc_kib(env->daemon, "VmRSS");
        scale_time_ls(env, cfg, &r);
        if ((rv = scale_time_list(c, &r)) < 0) {
                return rv;
        }
        if ((rv = scale_phase(env, r.segments, SCALE_UNLINK, &r.unlink_s)) < 0) {
                return rv;
        }
        if ((rv = tshm_daemon_stat(c, &st)) < 0) {
                fprintf(stderr, "tshm-bench: tshm_daemon_stat: %s\n", tshm_strerror(rv));
                return rv;
        }
        r.segments_after = st.segments;
        r.objects_after = bench_count_objects(env);
        r.rss_after_kib = bench_proc_kib(env->daemon, "VmRSS");
        r.hwm_kib = bench_proc_kib(env->daemon, "VmHWM");
        *ret = r;
        return 0;
}
