/*
 * placement.c - where the client and its servers run during the latency
 * measurements. A round trip's cost depends mostly on whether the two ends
 * share a CPU: waking a peer on another CPU means an inter-processor
 * interrupt (and, in a VM, a trip through the hypervisor). The scheduler
 * tends to keep a freshly forked echo server on its parent's CPU but leaves a
 * long-running daemon where it was, so an unpinned comparison of tshmd with
 * the floors would compare two placements. The latency suite therefore runs
 * pinned both ways, and unpinned as users get it.
 */
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static cpu_set_t place_all; /* what we were allowed at start */
static int place_cpu[2] = {-1, -1};

int
bench_place_init(void)
{
        int cpu, n = 0;

        if (sched_getaffinity(0, sizeof(place_all), &place_all) < 0) {
                return -1;
        }
        for (cpu = 0; cpu < CPU_SETSIZE && n < 2; cpu++) {
                if (CPU_ISSET(cpu, &place_all)) {
                        place_cpu[n++] = cpu;
                }
        }
        return 0;
}

bool
bench_place_available(enum bench_place p)
{
        return p != PLACE_SPLIT || place_cpu[1] >= 0;
}

const char *
bench_place_name(enum bench_place p, char *buf, size_t len)
{
        switch (p) {
        case PLACE_SAME:
                snprintf(buf, len, "client and server pinned to the same CPU (%d)", place_cpu[0]);
                break;
        case PLACE_SPLIT:
                snprintf(buf, len, "client on CPU %d, server on CPU %d", place_cpu[0],
                         place_cpu[1]);
                break;
        default:
                snprintf(buf, len, "unpinned (the scheduler's choice)");
                break;
        }
        return buf;
}

/* Pin every thread of @pid (tshmd's loop and its thread pool). */
static int
place_pin_process(pid_t pid, const cpu_set_t *set)
{
        char path[64];
        struct dirent *de;
        DIR *d;
        int rv = 0;

        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        if ((d = opendir(path)) == NULL) {
                return -1;
        }
        while ((de = readdir(d)) != NULL) {
                if (de->d_name[0] != '.' &&
                    sched_setaffinity(atoi(de->d_name), sizeof(*set), set) < 0) {
                        rv = -1;
                }
        }
        (void)closedir(d);
        return rv;
}

int
bench_place_apply(enum bench_place p, pid_t daemon, cpu_set_t *ret_server)
{
        cpu_set_t client;

        CPU_ZERO(&client);
        CPU_ZERO(ret_server);
        if (p == PLACE_FREE || place_cpu[0] < 0) {
                client = place_all;
                *ret_server = place_all;
        } else {
                CPU_SET(place_cpu[0], &client);
                CPU_SET(place_cpu[p == PLACE_SPLIT ? 1 : 0], ret_server);
        }
        if (sched_setaffinity(0, sizeof(client), &client) < 0 ||
            place_pin_process(daemon, ret_server) < 0) {
                perror("tshm-bench: sched_setaffinity");
                return -1;
        }
        return 0;
}

int
bench_place_restore(pid_t daemon)
{
        cpu_set_t unused;

        return bench_place_apply(PLACE_FREE, daemon, &unused);
}
