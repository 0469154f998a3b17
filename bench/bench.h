/*
 * bench.h - tshm-bench's shared declarations: the run's settings, the
 * environment it owns (temporary directory, daemon, child processes), the
 * sample sets and the results the report prints.
 */
#ifndef TSHM_BENCH_H
#define TSHM_BENCH_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tshm.h"

#define BENCH_MAX_WORKERS 16
#define BENCH_SCALE_WORKERS 4 /* processes that create and unlink in the scale test */

struct bench_cfg {
        const char *tshmd_path;
        const char *cli_path;  /* "" when no CLI was built */
        size_t iterations;     /* recorded samples per latency measurement */
        size_t warmup;         /* unrecorded iterations before them */
        size_t segments;       /* segments of the scale test */
        double load_seconds;   /* duration of each requests/s measurement */
        double stream_seconds; /* duration of each stream throughput measurement */
        unsigned parts;        /* BENCH_PART_* to run */
        bool markdown;
        const char *shm_dir; /* tshmd's --shm-dir, and the raw pipeline's file; NULL: /dev/shm */
};

/* The parts of a run (--only). */
#define BENCH_PART_LATENCY 1u    /* the latency suite, three placements */
#define BENCH_PART_THROUGHPUT 2u /* requests/s and scale */
#define BENCH_PART_PUBLISH 4u    /* wake-up latency: floors, tshm, iceoryx */
#define BENCH_PART_STREAMS 8u    /* stream throughput against memcpy */
#define BENCH_PART_ALL 15u

/* What the run owns and must remove, even when it fails. */
struct bench_env {
        char dir[64];       /* mkdtemp directory */
        char socket[128];   /* the daemon's socket, in dir */
        char notify[128];   /* our NOTIFY_SOCKET, in dir */
        char log[128];      /* the daemon's stderr, in dir */
        char clierr[128];   /* the CLI's stderr, in dir */
        char echo[128];     /* the requests/s floor's socket, in dir */
        char prefix[32];    /* the daemon's --shm-prefix: bench<pid> */
        char state[128];    /* its --state-dir, in dir */
        char shm_dir[256];  /* where the segments are, with a trailing '/' */
        bool shm_dir_given; /* --shm-dir: passed to tshmd */
        pid_t daemon;       /* 0 when not running */
        /* What the daemon keeps in state: <prefix>.key and <prefix>.lock. */
        char state_files[2][192];
};

/* daemon.c: environment, cleanup, the daemon and child processes. */
/* @shm_dir: tshmd's --shm-dir, or NULL for /dev/shm. */
int bench_env_init(struct bench_env *env, const char *shm_dir);
int bench_daemon_start(struct bench_env *env, const char *tshmd_path);
/* SIGTERM and reap; returns the wait status, or -1. */
int bench_daemon_stop(struct bench_env *env);
/* Print the daemon's log (stderr) to our stderr, if it wrote anything. */
void bench_daemon_show_log(const struct bench_env *env);
/* fork() with our signal handlers reset in the child and the child
 * registered, so that cleanup kills it. Children leave with _exit(). */
pid_t bench_fork(void);
/* Reap a registered child; returns its wait status or -1. */
int bench_reap(pid_t pid);
/* A field of /proc/<pid>/status in KiB ("VmRSS"), or -1. */
long bench_proc_kib(pid_t pid, const char *field);
/* Objects /dev/shm/<prefix>.* that the daemon made (floors excluded). */
int bench_count_objects(const struct bench_env *env);

/* stats.c: timestamps and sample sets. */
struct bench_samples {
        uint64_t *ns;
        size_t n, cap;
};

struct bench_summary {
        size_t n;
        double p50_us, p99_us, mean_us;
};

uint64_t bench_now_ns(void);
int bench_samples_init(struct bench_samples *s, size_t cap);
void bench_samples_done(struct bench_samples *s);
void bench_samples_add(struct bench_samples *s, uint64_t ns);
/* Sorts @s and summarises it (nearest-rank percentiles). */
void bench_summarize(struct bench_samples *s, struct bench_summary *ret);
/* Median of a few doubles; sorts @v in place. */
double bench_median(double *v, size_t n);

/* The latency measurements, in report order. */
enum bench_lat_id {
        LAT_FLOOR_SHM,      /* a: shm_open+ftruncate+mmap+munmap+close+shm_unlink */
        LAT_FLOOR_RTT,      /* b: Unix-socket round trip, 16 bytes */
        LAT_FLOOR_FD,       /* c: round trip passing an fd, mmap, munmap, close */
        LAT_FLOOR_FD_TOUCH, /* c, reading the first page before munmap */
        LAT_CREATE,         /* tshm_create, to a usable mapping */
        LAT_CREATE_CYCLE,   /* tshm_create + tshm_close + tshm_unlink */
        LAT_OPEN,           /* tshm_open, to a usable mapping */
        LAT_OPEN_CYCLE,     /* tshm_open + tshm_close */
        LAT_STAT,           /* tshm_stat */
        LAT_COUNT
};

/* Where the latency suite runs (placement.c). */
enum bench_place {
        PLACE_SAME,  /* client, daemon and floor servers on one CPU */
        PLACE_SPLIT, /* client on one CPU, daemon and floor servers on another */
        PLACE_FREE,  /* unpinned */
        PLACE_COUNT
};

int bench_place_init(void);
bool bench_place_available(enum bench_place p);
const char *bench_place_name(enum bench_place p, char *buf, size_t len);
/* Pin ourselves and every thread of @daemon for @p; the floor servers get
 * *ret_server when they start. */
int bench_place_apply(enum bench_place p, pid_t daemon, cpu_set_t *ret_server);
int bench_place_restore(pid_t daemon);

/* State the latency steps share. */
struct bench_ctx {
        const struct bench_env *env;
        tshm_client *client;
        cpu_set_t server_cpus; /* where the floor servers run */
        int rtt_sock, fd_sock; /* our ends of the floor servers' sockets */
        pid_t rtt_pid, fd_pid;
        char shm_name[80]; /* floor a's object */
        struct bench_samples s[LAT_COUNT];
};

/* floors.c: the kernel's floors. Setup starts the two server processes. */
int bench_floors_setup(struct bench_ctx *ctx);
void bench_floors_teardown(struct bench_ctx *ctx);
int bench_floor_shm_step(struct bench_ctx *ctx, bool record);
int bench_floor_rtt_step(struct bench_ctx *ctx, bool record);
int bench_floor_fd_step(struct bench_ctx *ctx, bool record);
int bench_floor_fd_touch_step(struct bench_ctx *ctx, bool record);

/* latency.c: tshm's calls, interleaved with the floors in rounds. */
#define BENCH_OPEN_NAME "bench-open"
int bench_latency_run(struct bench_ctx *ctx, const struct bench_cfg *cfg);

/* workers.c: client processes that start together. @fn runs in each child
 * after the start signal; it returns 0 or a TSHM_E* code and its count. Each
 * child connects to tshmd's @socket first, or, when it is NULL, passes @fn
 * no client. */
typedef int (*bench_work_fn)(tshm_client *c, unsigned idx, unsigned nworkers, void *arg,
                             uint64_t *ret_count);
int bench_workers_run(const char *socket, unsigned nworkers, bench_work_fn fn, void *arg,
                      uint64_t *ret_total, double *ret_seconds);

/* echo.c: the requests/s floor, an epoll echo server over a Unix stream
 * socket answering tshm_stat-sized requests with tshm_stat-sized replies. */
#define BENCH_ECHO_REQUEST_BYTES 31 /* a tshm_stat request on the wire */
#define BENCH_ECHO_REPLY_BYTES 132  /* its reply */
struct bench_echo_arg {
        const char *path;
        uint64_t duration_ns;
};
int bench_echo_start(const struct bench_env *env, pid_t *ret_pid);
void bench_echo_stop(const struct bench_env *env, pid_t pid);
int bench_echo_work(tshm_client *c, unsigned idx, unsigned nworkers, void *arg,
                    uint64_t *ret_count);

/* load.c: requests/s of tshm_stat from 1 and 8 processes, alternated with
 * the echo floor with as many processes, BENCH_LOAD_ROUNDS times each. */
#define BENCH_LOAD_ROUNDS 3
#define BENCH_LOAD_CLIENTS 2 /* 1 and 8 processes */
struct bench_rps_row {
        unsigned nprocs;
        double tshm[BENCH_LOAD_ROUNDS], echo[BENCH_LOAD_ROUNDS]; /* requests/s per round */
        double tshm_median, echo_median;
};
struct bench_rps {
        struct bench_rps_row row[BENCH_LOAD_CLIENTS];
};
int bench_load_run(const struct bench_env *env, const struct bench_cfg *cfg, struct bench_rps *ret);

/* scale.c: many segments at once. */
struct bench_scale {
        size_t asked;    /* --segments */
        size_t segments; /* created (fewer when /dev/shm is small) */
        double create_s;
        long rss_idle_kib; /* daemon VmRSS before, with, after the segments */
        long rss_kib;
        long rss_after_kib;
        long hwm_kib;  /* daemon VmHWM at the end */
        double ls_s;   /* median of 3 runs; < 0 when not run */
        int ls_status; /* wait status of the last run */
        double list_s; /* tshm_list(), median of 3 */
        size_t list_count;
        double unlink_s;
        uint64_t segments_after; /* the daemon's count after unlinking all */
        int objects_after;       /* objects left under the prefix */
};
int bench_scale_run(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
                    struct bench_scale *ret);

/* publish.c: wake-up latency, one way, the two ends on two CPUs. */
#define BENCH_SPIN_NS (100 * 1000) /* tshm_seg_set_spin() of the spinning mode */

enum bench_wake_id {
        WAKE_FUTEX,      /* floor: FUTEX_WAKE -> FUTEX_WAIT ping-pong */
        WAKE_SPIN,       /* floor: spinning on a shared cache line */
        WAKE_WAKE_CALL,  /* one FUTEX_WAKE on a shared word nobody waits on (not halved) */
        WAKE_TSHM_BLOCK, /* tshm_write_end -> tshm_wait, spin 0 */
        WAKE_TSHM_SPIN,  /* the same, spinning BENCH_SPIN_NS first */
        WAKE_IOX_BLOCK,  /* iceoryx publish -> subscriber in a waitset */
        WAKE_IOX_POLL,   /* iceoryx publish -> subscriber busy-polling take */
        WAKE_COUNT
};

struct bench_wake {
        int cpus;   /* online */
        bool split; /* the two ends on two CPUs (else one: no spinning) */
        bool ran[WAKE_COUNT];
        struct bench_summary lat[WAKE_COUNT];
        char iox_note[160]; /* why iceoryx did not run, or "" */
};
int bench_wake_run(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
                   struct bench_wake *ret);

/* iceoryx.c, built when CMake finds iceoryx's C binding (TSHM_BENCH_ICEORYX):
 * the same ping-pong over iceoryx, with a RouDi of our own. */
int bench_iceoryx_run(const struct bench_env *env, const struct bench_cfg *cfg,
                      struct bench_wake *ret);

/* stream.c: frames/s and GB/s through a stream, end to end, against memcpy. */
#define BENCH_STREAM_SIZES 3

struct bench_stream_row {
        size_t frame_bytes;
        uint32_t slots;
        uint64_t frames;         /* taken by the subscriber */
        double seconds;          /* from the first loan to the last release */
        double memcpy_gbps;      /* memcpy of one frame, same size, same run */
        double memcpy_ring_gbps; /* the same into @slots buffers in turn */
        double raw_gbps;         /* the same pipeline over plain shared memory, spinning */
        uint64_t page_size;      /* of the stream's segment (tshm_stat), and its backing */
        uint32_t backing;
        bool ran;
};

/* Publish, nobody waiting (stream.c): rows of bench_streams.pub; each
 * sample is the mean of BENCH_PUB_BATCH ops. */
#define BENCH_PUB_BATCH 4096
enum {
        PUB_FLOOR, /* a release store + release fence into shared memory */
        PUB_NONE,  /* tshm_stream_loan + tshm_stream_publish, no subscriber */
        PUB_IDLE,  /* the same, one subscriber that never takes (never sleeps) */
        PUB_ROWS
};

struct bench_streams {
        struct bench_stream_row row[BENCH_STREAM_SIZES];
        struct bench_summary pub[PUB_ROWS]; /* "µs" fields hold ns (samples are ns x 1000) */
        bool pub_ran;
        char note[160]; /* why streams did not run, or "" */
};
int bench_streams_run(const struct bench_env *env, const struct bench_cfg *cfg, tshm_client *c,
                      struct bench_streams *ret);

/* report.c */
struct bench_results {
        bool placed[PLACE_COUNT]; /* measured in that placement */
        struct bench_summary lat[PLACE_COUNT][LAT_COUNT];
        struct bench_rps rps;
        struct bench_scale scale;
        struct bench_wake wake;
        struct bench_streams streams;
};
void bench_report(const struct bench_cfg *cfg, const struct bench_results *r);

#endif /* TSHM_BENCH_H */
