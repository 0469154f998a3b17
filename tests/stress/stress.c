/*
 * stress.c - see stress.h.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tshm.h"

#include "stress.h"

void
stress_rng_seed(struct stress_rng *r, uint64_t seed)
{
        r->state = seed;
}

uint64_t
stress_rng_next(struct stress_rng *r)
{
        uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

uint64_t
stress_rng_below(struct stress_rng *r, uint64_t n)
{
        return n == 0 ? 0 : stress_rng_next(r) % n;
}

uint64_t
stress_env_u64(const char *name, uint64_t def)
{
        const char *s = getenv(name);
        char *end;
        unsigned long long v;

        if (s == NULL || s[0] == '\0') {
                return def;
        }
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno != 0 || *end != '\0') {
                fprintf(stderr, "%s='%s' is not a number, using %llu\n", name, s,
                        (unsigned long long)def);
                return def;
        }
        return v;
}

uint64_t
stress_seed(const char *what)
{
        struct timespec ts;
        uint64_t seed;

        if (getenv("TSHM_STRESS_SEED") != NULL) {
                seed = stress_env_u64("TSHM_STRESS_SEED", 1);
        } else {
                (void)clock_gettime(CLOCK_REALTIME, &ts);
                seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^
                       ((uint64_t)getpid() << 32);
        }
        printf("%s: seed %llu (replay with TSHM_STRESS_SEED=%llu)\n", what,
               (unsigned long long)seed, (unsigned long long)seed);
        fflush(stdout);
        return seed;
}

uint64_t
stress_pattern(uint64_t seed, uint64_t index, uint64_t gen)
{
        uint64_t z = seed ^ (index * 0x9e3779b97f4a7c15ull) ^ (gen * 0xd1b54a32d192ed03ull);

        z = (z ^ (z >> 31)) * 0x7fb5d329728ea185ull;
        return z ^ (z >> 27);
}

void
stress_sleep_us(uint64_t us)
{
        struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
}

int64_t
stress_now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void stress_why(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
stress_why(char *why, size_t len, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(why, len, fmt, ap);
        va_end(ap);
}

static int
stress_cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment names behind the objects under @prefix in /dev/shm (not the
 * daemon's own "<prefix>..key"), sorted; free with stress_names_free(). */
static char **
stress_objects(const char *prefix, size_t *ret_n)
{
        size_t plen = strlen(prefix), n = 0, cap = 0;
        char **names = NULL;
        struct dirent *de;
        DIR *d = opendir("/dev/shm");

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)) != NULL) {
                if (strncmp(de->d_name, prefix, plen) != 0 || de->d_name[plen] != '.' ||
                    de->d_name[plen + 1] == '.') {
                        continue;
                }
                if (n == cap) {
                        cap = cap == 0 ? 64 : cap * 2;
                        names = realloc(names, cap * sizeof(*names));
                        ck_assert_ptr_nonnull(names);
                }
                names[n] = strdup(de->d_name + plen + 1);
                ck_assert_ptr_nonnull(names[n]);
                n++;
        }
        (void)closedir(d);
        if (n > 1) {
                qsort(names, n, sizeof(*names), stress_cmp_str);
        }
        *ret_n = n;
        return names;
}

static void
stress_names_free(char **names, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++) {
                free(names[i]);
        }
        free(names);
}

/* Each listed segment against its object; sums the sizes. */
static bool
stress_listed_have_objects(const struct tshmd_fixture *f, const tshm_info *infos, size_t n,
                           char **objs, size_t nobjs, uint64_t *ret_sum, char *why, size_t whylen)
{
        char path[512];
        struct stat st;
        uint64_t sum = 0;
        size_t i;

        memset(&st, 0, sizeof(st));
        for (i = 0; i < n; i++) {
                const char *name = infos[i].name;
                if (nobjs == 0 ||
                    bsearch(&name, objs, nobjs, sizeof(*objs), stress_cmp_str) == NULL) {
                        stress_why(why, whylen, "segment '%s' is listed but has no object",
                                   infos[i].name);
                        return false;
                }
                snprintf(path, sizeof(path), "/dev/shm/%s.%s", f->prefix, infos[i].name);
                if (stat(path, &st) < 0 || (uint64_t)st.st_size != infos[i].size) {
                        stress_why(why, whylen,
                                   "segment '%s' is listed with size %llu, its object "
                                   "has %lld",
                                   infos[i].name, (unsigned long long)infos[i].size,
                                   (long long)st.st_size);
                        return false;
                }
                if (infos[i].opens != 0) {
                        stress_why(why, whylen, "segment '%s' still has %u opens", infos[i].name,
                                   infos[i].opens);
                        return false;
                }
                sum += infos[i].size;
        }
        *ret_sum = sum;
        return true;
}

/* Each object against the listing. */
static bool
stress_objects_listed(const tshm_info *infos, size_t n, char **objs, size_t nobjs, char *why,
                      size_t whylen)
{
        size_t i, j;

        for (i = 0; i < nobjs; i++) {
                for (j = 0; j < n && strcmp(infos[j].name, objs[i]) != 0; j++) {
                }
                if (j == n) {
                        stress_why(why, whylen, "object '%s' in /dev/shm is not listed (orphan)",
                                   objs[i]);
                        return false;
                }
        }
        return true;
}

bool
stress_consistent(const struct tshmd_fixture *f, tshm_client *c, uint64_t clients, char *why,
                  size_t whylen)
{
        tshm_info *infos = NULL;
        tshm_daemon_info st;
        size_t n = 0, nobjs = 0;
        char **objs = NULL;
        uint64_t sum = 0;
        bool ok = false;
        int rv;

        if ((rv = tshm_daemon_stat(c, &st)) < 0) {
                stress_why(why, whylen, "stats: %s", tshm_strerror(rv));
                return false;
        }
        if ((rv = tshm_list(c, NULL, &infos, &n)) < 0) {
                stress_why(why, whylen, "list: %s", tshm_strerror(rv));
                return false;
        }
        objs = stress_objects(f->prefix, &nobjs);
        if (!stress_listed_have_objects(f, infos, n, objs, nobjs, &sum, why, whylen) ||
            !stress_objects_listed(infos, n, objs, nobjs, why, whylen)) {
                goto out;
        }
        if (st.opens != 0 || st.segments != n || st.bytes != sum || st.clients != clients) {
                stress_why(why, whylen,
                           "stats say %llu opens (want 0), %llu segments (%zu listed), %llu bytes "
                           "(listed sizes sum to %llu), %llu clients (want %llu)",
                           (unsigned long long)st.opens, (unsigned long long)st.segments, n,
                           (unsigned long long)st.bytes, (unsigned long long)sum,
                           (unsigned long long)st.clients, (unsigned long long)clients);
                goto out;
        }
        ok = true;
out:
        stress_names_free(objs, nobjs);
        tshm_list_free(infos);
        return ok;
}

void
stress_assert_consistent(const struct tshmd_fixture *f, tshm_client *c, uint64_t clients,
                         int timeout_ms)
{
        int64_t deadline = stress_now_ms() + timeout_ms;
        char why[512] = "";

        /* The daemon sees a killed client's hang-up asynchronously (and a
         * large create may still be finishing in its thread pool): poll. */
        while (!stress_consistent(f, c, clients, why, sizeof(why))) {
                ck_assert_msg(stress_now_ms() < deadline,
                              "daemon and /dev/shm still disagree after %d ms: %s", timeout_ms,
                              why);
                stress_sleep_us(10000);
        }
}

void
stress_assert_serves(tshm_client *c)
{
        static const uint64_t shape[1] = {4096};
        tshm_info info;
        tshm_seg *s;
        int rv;

        rv = tshm_create(c, "stress-probe", TSHM_DTYPE_UINT8, 1, shape, 0, 0, &s);
        ck_assert_msg(rv == 0, "probe create: %s: %s", tshm_strerror(rv), tshm_errmsg(c));
        memset(tshm_seg_data(s), 0x5a, 4096);
        ck_assert_int_eq(tshm_stat(c, "stress-probe", &info), 0);
        ck_assert_uint_eq(info.nbytes, 4096);
        ck_assert_int_eq(tshm_close(s), 0);
        ck_assert_int_eq(tshm_unlink(c, "stress-probe"), 0);
}

/* What the sentinel remembers of one fixture. */
struct stress_tracked {
        pid_t pid;
        char dir[64];
        char prefix[32];
};

#define STRESS_TRACKED_MAX 8

static struct stress_tracked *stress_sentinel;

void
stress_sentinel_init(void)
{
        void *p = mmap(NULL, sizeof(struct stress_tracked) * STRESS_TRACKED_MAX,
                       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        /* A failed assertion ends the test process without flushing stdio:
         * line buffering keeps the report lines that led up to it. */
        (void)setvbuf(stdout, NULL, _IOLBF, 0);
        if (p == MAP_FAILED) {
                perror("mmap");
                exit(1);
        }
        memset(p, 0, sizeof(struct stress_tracked) * STRESS_TRACKED_MAX);
        stress_sentinel = p;
}

void
stress_sentinel_track(const struct tshmd_fixture *f)
{
        size_t i, free_slot = STRESS_TRACKED_MAX;

        if (stress_sentinel == NULL) {
                return;
        }
        for (i = 0; i < STRESS_TRACKED_MAX; i++) {
                if (strcmp(stress_sentinel[i].dir, f->dir) == 0) {
                        break;
                }
                if (free_slot == STRESS_TRACKED_MAX && stress_sentinel[i].dir[0] == '\0') {
                        free_slot = i;
                }
        }
        if (i == STRESS_TRACKED_MAX) {
                i = free_slot;
        }
        if (i == STRESS_TRACKED_MAX) {
                return;
        }
        stress_sentinel[i].pid = f->pid;
        snprintf(stress_sentinel[i].dir, sizeof(stress_sentinel[i].dir), "%s", f->dir);
        snprintf(stress_sentinel[i].prefix, sizeof(stress_sentinel[i].prefix), "%s", f->prefix);
}

void
stress_sentinel_cleanup(void)
{
        char path[300];
        struct stat st;
        size_t i;

        if (stress_sentinel == NULL) {
                return;
        }
        for (i = 0; i < STRESS_TRACKED_MAX; i++) {
                struct stress_tracked *t = &stress_sentinel[i];
                struct dirent *de;
                size_t plen;
                DIR *d;

                if (t->dir[0] == '\0') {
                        continue;
                }
                /* fixture_teardown removes the directory: then all is clean. */
                if (stat(t->dir, &st) == 0) {
                        fprintf(stderr, "sentinel: cleaning up after a failed test (%s)\n", t->dir);
                        if (t->pid > 0 && kill(t->pid, SIGKILL) == 0) {
                                (void)waitpid(t->pid, NULL, 0);
                        }
                        plen = strlen(t->prefix);
                        d = opendir("/dev/shm");
                        while (d != NULL && (de = readdir(d)) != NULL) {
                                if (strncmp(de->d_name, t->prefix, plen) == 0 &&
                                    de->d_name[plen] == '.') {
                                        snprintf(path, sizeof(path), "/%s", de->d_name);
                                        (void)shm_unlink(path);
                                }
                        }
                        if (d != NULL) {
                                (void)closedir(d);
                        }
                        snprintf(path, sizeof(path), "rm -rf '%s'", t->dir);
                        (void)!system(path);
                }
                memset(t, 0, sizeof(*t));
        }
}

void
stress_child_init(pid_t parent)
{
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
                _exit(99);
        }
}

const char *
stress_status_str(int status, char *buf, size_t len)
{
        if (WIFEXITED(status)) {
                snprintf(buf, len, "exited %d", WEXITSTATUS(status));
        } else if (WIFSIGNALED(status)) {
                snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
        } else {
                snprintf(buf, len, "status %#x", status);
        }
        return buf;
}
