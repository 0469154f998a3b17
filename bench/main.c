/*
 * main.c - tshm-bench: start a private tshmd, measure tshm's latencies next
 * to the kernel's floors, requests/s, and the daemon at scale; print a table.
 * Missed targets are reported, not failures: the exit status is 0 when every
 * measurement ran and 1 when one could not.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"

#ifndef TSHMD_PATH
#define TSHMD_PATH "tshmd"
#endif
#ifndef TSHM_CLI_PATH
#define TSHM_CLI_PATH ""
#endif

/* Static: the exit-time cleanup reads it after main() returns. */
static struct bench_env arg_env;

static void
usage(FILE *f)
{
        fprintf(f,
                "Usage: tshm-bench [OPTIONS]\n"
                "Measure tshmd and libtshm against the kernel's floors, on a private daemon.\n"
                "\n"
                "  --tshmd PATH      the daemon to start (default: %s)\n"
                "  --tshm PATH       the CLI for 'ls --json' (default: %s)\n"
                "  --iterations N    samples per latency measurement (default 20000)\n"
                "  --segments N      segments for the scale test (default 100000)\n"
                "  --only PARTS      run only these parts, comma-separated: latency,\n"
                "                    throughput (requests/s and scale), publish (wake-up\n"
                "                    latency), streams (default: all)\n"
                "  --quick           fewer of everything: 5000 iterations, 0.5 s per\n"
                "                    requests/s run, 10000 segments, 0.3 s per stream\n"
                "  --shm-dir DIR     run tshmd with --shm-dir DIR (e.g. a tmpfs mounted with\n"
                "                    huge=within_size), and the raw pipeline on a file there\n"
                "  --markdown        print the tables as Markdown\n"
                "  --help            print this help and exit\n",
                TSHMD_PATH, TSHM_CLI_PATH[0] != '\0' ? TSHM_CLI_PATH : "none built");
}

static bool
parse_count(const char *s, size_t *ret)
{
        unsigned long long v;
        char *end;

        if (s[0] < '0' || s[0] > '9') {
                return false;
        }
        v = strtoull(s, &end, 10);
        if (*end != '\0' || v == 0 || v > 100000000ull) {
                return false;
        }
        *ret = (size_t)v;
        return true;
}

/* "publish,streams" as BENCH_PART_* bits. */
static bool
parse_parts(const char *s, unsigned *ret)
{
        static const struct {
                const char *name;
                unsigned bit;
        } parts[] = {
            {"latency", BENCH_PART_LATENCY},
            {"throughput", BENCH_PART_THROUGHPUT},
            {"publish", BENCH_PART_PUBLISH},
            {"streams", BENCH_PART_STREAMS},
        };
        unsigned bits = 0;
        size_t len, i;

        while (*s != '\0') {
                len = strcspn(s, ",");
                for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
                        if (strlen(parts[i].name) == len && strncmp(s, parts[i].name, len) == 0) {
                                break;
                        }
                }
                if (i == sizeof(parts) / sizeof(parts[0])) {
                        return false;
                }
                bits |= parts[i].bit;
                s += len + (s[len] == ',');
        }
        *ret = bits;
        return bits != 0;
}

/* Returns 0 to run, 1 to exit 0, -1 to exit 1. */
static int
parse_args(int argc, char **argv, struct bench_cfg *cfg)
{
        static const struct option opts[] = {
            {"tshmd", required_argument, NULL, 'd'},
            {"tshm", required_argument, NULL, 'c'},
            {"iterations", required_argument, NULL, 'n'},
            {"segments", required_argument, NULL, 's'},
            {"only", required_argument, NULL, 'o'},
            {"quick", no_argument, NULL, 'q'},
            {"markdown", no_argument, NULL, 'm'},
            {"shm-dir", required_argument, NULL, 'D'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        bool quick = false, have_n = false, have_s = false;
        int opt;

        while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        cfg->tshmd_path = optarg;
                        break;
                case 'c':
                        cfg->cli_path = optarg;
                        break;
                case 'n':
                case 's':
                        if (!parse_count(optarg, opt == 'n' ? &cfg->iterations : &cfg->segments)) {
                                fprintf(stderr, "tshm-bench: invalid count '%s'\n", optarg);
                                return -1;
                        }
                        *(opt == 'n' ? &have_n : &have_s) = true;
                        break;
                case 'o':
                        if (!parse_parts(optarg, &cfg->parts)) {
                                fprintf(stderr, "tshm-bench: invalid --only '%s'\n", optarg);
                                return -1;
                        }
                        break;
                case 'q':
                        quick = true;
                        break;
                case 'D':
                        cfg->shm_dir = optarg;
                        break;
                case 'm':
                        cfg->markdown = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        fprintf(stderr, "Try 'tshm-bench --help'.\n");
                        return -1;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "tshm-bench: unexpected argument '%s'\n", argv[optind]);
                return -1;
        }
        if (quick) {
                cfg->load_seconds = 0.5;
                cfg->stream_seconds = 0.3;
                cfg->iterations = have_n ? cfg->iterations : 5000;
                cfg->segments = have_s ? cfg->segments : 10000;
        }
        return 0;
}

/* The segment that open, stat and the load processes use. */
static int
main_make_open_target(tshm_client *c)
{
        static const uint64_t shape[1] = {16};
        tshm_seg *seg;
        int rv;

        rv = tshm_create(c, BENCH_OPEN_NAME, TSHM_DTYPE_FLOAT32, 1, shape, 0644,
                         TSHM_CREATE_DEFAULT, &seg);
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: create %s: %s (%s)\n", BENCH_OPEN_NAME,
                        tshm_strerror(rv), tshm_errmsg(c));
                return rv;
        }
        return tshm_close(seg);
}

static int
main_latency_at(tshm_client *c, const struct bench_cfg *cfg, enum bench_place p,
                struct bench_results *res)
{
        struct bench_ctx ctx = {.env = &arg_env, .client = c};
        char name[96];
        size_t i;
        int rv;

        fprintf(stderr, "tshm-bench: latency, %s\n", bench_place_name(p, name, sizeof(name)));
        if ((rv = bench_place_apply(p, arg_env.daemon, &ctx.server_cpus)) < 0) {
                return rv;
        }
        if ((rv = bench_floors_setup(&ctx)) == 0) {
                rv = bench_latency_run(&ctx, cfg);
        }
        bench_floors_teardown(&ctx);
        for (i = 0; i < LAT_COUNT; i++) {
                bench_summarize(&ctx.s[i], &res->lat[p][i]);
                bench_samples_done(&ctx.s[i]);
        }
        res->placed[p] = rv == 0;
        return rv;
}

static int
main_latency(tshm_client *c, const struct bench_cfg *cfg, struct bench_results *res)
{
        int p, rv = 0;

        for (p = 0; p < PLACE_COUNT && rv == 0; p++) {
                if (bench_place_available((enum bench_place)p)) {
                        rv = main_latency_at(c, cfg, (enum bench_place)p, res);
                }
        }
        /* Throughput and scale run unpinned, on every CPU. */
        if (bench_place_restore(arg_env.daemon) < 0 && rv == 0) {
                rv = -1;
        }
        return rv;
}

/* requests/s and scale */
static int
main_throughput(tshm_client *c, const struct bench_cfg *cfg, struct bench_results *res)
{
        int rv;

        if ((rv = bench_load_run(&arg_env, cfg, &res->rps)) < 0) {
                return rv;
        }
        /* Out of the way, so that the scale test counts only its own. */
        if ((rv = tshm_unlink(c, BENCH_OPEN_NAME)) < 0) {
                fprintf(stderr, "tshm-bench: unlink %s: %s\n", BENCH_OPEN_NAME, tshm_strerror(rv));
                return rv;
        }
        return bench_scale_run(&arg_env, cfg, c, &res->scale);
}

/* Wake-up latency: floors and tshm, then iceoryx when it was built in. */
static int
main_publish(tshm_client *c, const struct bench_cfg *cfg, struct bench_results *res)
{
        int rv;

        if ((rv = bench_wake_run(&arg_env, cfg, c, &res->wake)) < 0) {
                return rv;
        }
#ifdef TSHM_BENCH_ICEORYX
        /* iceoryx is a comparison, not tshm: its failure is a note. */
        (void)bench_iceoryx_run(&arg_env, cfg, &res->wake);
#else
        snprintf(res->wake.iox_note, sizeof(res->wake.iox_note), "not installed");
#endif
        return 0;
}

static int
main_measure(tshm_client *c, const struct bench_cfg *cfg, struct bench_results *res)
{
        int rv;

        if ((cfg->parts & (BENCH_PART_LATENCY | BENCH_PART_THROUGHPUT)) != 0 &&
            (rv = main_make_open_target(c)) < 0) {
                return rv;
        }
        if ((cfg->parts & BENCH_PART_LATENCY) != 0 && (rv = main_latency(c, cfg, res)) < 0) {
                return rv;
        }
        if ((cfg->parts & BENCH_PART_THROUGHPUT) != 0) {
                if ((rv = main_throughput(c, cfg, res)) < 0) {
                        return rv;
                }
        } else if ((cfg->parts & BENCH_PART_LATENCY) != 0 &&
                   (rv = tshm_unlink(c, BENCH_OPEN_NAME)) < 0) {
                return rv;
        }
        if ((cfg->parts & BENCH_PART_PUBLISH) != 0 && (rv = main_publish(c, cfg, res)) < 0) {
                return rv;
        }
        if ((cfg->parts & BENCH_PART_STREAMS) != 0 &&
            (rv = bench_streams_run(&arg_env, cfg, c, &res->streams)) < 0) {
                return rv;
        }
        return 0;
}

/* Stop the daemon and say so if it did not exit cleanly or left objects. */
static void
main_stop(void)
{
        int status = bench_daemon_stop(&arg_env), left;

        if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr,
                        "tshm-bench: warning: tshmd did not exit 0 on SIGTERM "
                        "(status %#x)\n",
                        (unsigned)status);
        }
        if ((left = bench_count_objects(&arg_env)) > 0) {
                fprintf(stderr, "tshm-bench: warning: %d objects left in %s under '%s.'\n", left,
                        arg_env.shm_dir, arg_env.prefix);
        }
        bench_daemon_show_log(&arg_env);
}

int
main(int argc, char **argv)
{
        struct bench_cfg cfg = {
            .tshmd_path = TSHMD_PATH,
            .cli_path = TSHM_CLI_PATH,
            .iterations = 20000,
            .warmup = 1000,
            .segments = 100000,
            .load_seconds = 2.0,
            .stream_seconds = 1.0,
            .parts = BENCH_PART_ALL,
        };
        static struct bench_results res;
        tshm_client *c = NULL;
        int rv;

        if ((rv = parse_args(argc, argv, &cfg)) != 0) {
                return rv > 0 ? 0 : 1;
        }
        if (bench_env_init(&arg_env, cfg.shm_dir) < 0 || bench_place_init() < 0 ||
            bench_daemon_start(&arg_env, cfg.tshmd_path) < 0) {
                return 1;
        }
        if ((rv = tshm_connect(arg_env.socket, &c)) < 0) {
                fprintf(stderr, "tshm-bench: connect %s: %s\n", arg_env.socket, tshm_strerror(rv));
                main_stop();
                return 1;
        }
        rv = main_measure(c, &cfg, &res);
        tshm_disconnect(c);
        main_stop();
        if (rv < 0) {
                fprintf(stderr, "tshm-bench: a measurement failed; no report\n");
                return 1;
        }
        bench_report(&cfg, &res);
        return 0;
}
