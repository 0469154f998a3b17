/*
 * actor_memory.c - attacks on shared memory: segments of its own cut to
 * nothing under the daemon (churn), a stream's subscriber table claimed
 * and the roster written (fill-subtable), a forged segment planted in
 * /dev/shm under the daemon's prefix (plant).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tshm.h"

#include "header.h"
#include "internal.h"
#include "proto.h"

#include "actor.h"

/* Whether the daemon went away (a request fails for the connection, and a
 * new one cannot be made). */
static bool
churn_daemon_gone(tshm_client *c)
{
        tshm_daemon_info st;
        int rv = tshm_daemon_stat(c, &st);

        if (rv == TSHM_ECONNRESET) {
                rv = tshm_daemon_stat(c, &st);
        }
        return rv == TSHM_ECONNRESET || rv == TSHM_ENODAEMON;
}

/* Cut @fd, a writable descriptor of one of our segments, to nothing; false,
 * said on stdout, where ftruncate failed. */
static bool
churn_cut(int fd)
{
        if (ftruncate(fd, 0) < 0) {
                printf("err ftruncate: %s\n", strerror(errno));
                return false;
        }
        return true;
}

/* Class 1: every path where tshmd reads or writes a header a client can
 * truncate: stat of a stream, unlink, close of a writable handle. */
int
actor_cmd_churn(const char *sock, int argc, char **argv)
{
        uint64_t end = actor_mono_ns() + (uint64_t)(atof(argv[0]) * 1e9), shape[1] = {1024}, h;
        unsigned long rounds = 0, errors = 0;
        tshm_stream_info si;
        tshm_client *c;
        char sname[64], aname[64];
        int fd;

        (void)argc;
        (void)actor_connect(sock, &c);
        snprintf(sname, sizeof(sname), "advchurn-s-%d", (int)getpid());
        snprintf(aname, sizeof(aname), "advchurn-a-%d", (int)getpid());
        while (actor_mono_ns() < end) {
                tshm_seg *st = NULL, *arr = NULL;
                bool cut = true;

                /* A stream of ours, cut to nothing beside stream stat. */
                if (tshm_stream_create(c, sname, TSHM_DTYPE_UINT8, 1, shape, 4, TSHM_STREAM_BLOCK,
                                       0600, 0, &st) == 0 &&
                    actor_raw_open(c, sname, true, &h, &fd) == 0) {
                        cut = churn_cut(fd) && cut;
                        errors += tshm_stream_stat(c, sname, &si) < 0;
                        cut = churn_cut(fd) && cut;
                        errors += tshm_stream_stat(c, sname, &si) < 0;
                        /* ... then closing a writable handle of a cut object. */
                        cut = churn_cut(fd) && cut;
                        (void)actor_raw_close(c, h);
                        (void)close(fd);
                }
                /* An array cut to nothing, then unlinked. */
                if (tshm_create(c, aname, TSHM_DTYPE_UINT8, 1, shape, 0600, 0, &arr) == 0 &&
                    actor_raw_open(c, aname, true, &h, &fd) == 0) {
                        cut = churn_cut(fd) && cut;
                        errors += tshm_unlink(c, aname) < 0;
                        cut = churn_cut(fd) && cut;
                        (void)actor_raw_close(c, h);
                        (void)close(fd);
                }
                (void)tshm_close(arr);
                (void)tshm_unlink(c, sname);
                (void)tshm_close(st);
                if (!cut) {
                        /* What was to be cut was not: the round tested
                         * nothing, and neither would the next. */
                        (void)tshm_unlink(c, aname);
                        tshm_disconnect(c);
                        return 4;
                }
                rounds++;
                if (churn_daemon_gone(c)) {
                        printf("daemon gone after %lu rounds\n", rounds);
                        return 3;
                }
        }
        (void)tshm_unlink(c, sname);
        (void)tshm_unlink(c, aname);
        printf("rounds %lu errors %lu\n", rounds, errors);
        tshm_disconnect(c);
        return 0;
}

/* Class 5: claim every entry of the stream's subscriber table. */
int
actor_cmd_fill_subtable(const char *sock, int argc, char **argv)
{
        tshm_client *c;
        tshm_sub *sub;
        tshm_seg *seg;
        uint32_t i;
        int rv;

        (void)argc;
        (void)actor_connect(sock, &c);
        if ((rv = tshm_sub_open(c, argv[0], &sub)) < 0) {
                printf("err subscribe: %s\n", tshm_strerror(rv));
                return 1;
        }
        seg = tshm_sub_seg(sub);
        /* Every word of every entry it can write: the first two (where an
         * "active" flag and a pid once were) and the cursor. */
        for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                struct tshm__cur_sub *e = &seg->cur->subs[i];

                __atomic_store_n(&e->cursor, 0, __ATOMIC_SEQ_CST);
                __atomic_store_n(&e->reserved0, 1, __ATOMIC_SEQ_CST);
                __atomic_store_n(&e->reserved1, 1, __ATOMIC_SEQ_CST);
        }
        /* And the roster, which says who holds an entry: mapped read-only
         * and sealed, so this must fail. */
        if (seg->ros != NULL &&
            mprotect((void *)seg->ros, TSHM_ROS_SIZE, PROT_READ | PROT_WRITE) == 0) {
                struct tshm__ros *ros = (struct tshm__ros *)(void *)seg->ros;

                for (i = 0; i < TSHM_STREAM_MAX_SUBS; i++) {
                        ros->subs[i].pid = 1;
                }
                printf("ok filled %u, roster written\n", (unsigned)TSHM_STREAM_MAX_SUBS);
        } else {
                printf("ok filled %u, roster refused\n", (unsigned)TSHM_STREAM_MAX_SUBS);
        }
        (void)fflush(stdout);
        _exit(0); /* no unsubscribe: the daemon only sees the connection go */
}

/* Keep the sleeper count of the stream @argv[0]'s subscriber table at 0 for
 * @argv[1] seconds: a publisher that trusted it would never wake anyone. */
int
actor_cmd_zero_sleepers(const char *sock, int argc, char **argv)
{
        uint64_t until = actor_mono_ns() + strtoull(argv[1], NULL, 10) * 1000000000ull;
        tshm_client *c;
        tshm_sub *sub;
        uint32_t *count;
        int rv;

        (void)argc;
        (void)actor_connect(sock, &c);
        if ((rv = tshm_sub_open(c, argv[0], &sub)) < 0) {
                printf("err subscribe: %s\n", tshm_strerror(rv));
                return 1;
        }
        count = &tshm_sub_seg(sub)->cur->sleepers;
        printf("ok zeroing\n");
        (void)fflush(stdout);
        while (actor_mono_ns() < until) {
                __atomic_store_n(count, 0, __ATOMIC_SEQ_CST);
        }
        _exit(0);
}

/* SipHash-2-4, as daemon/seal.c computes the seal: the attacker knows the
 * algorithm, and here chose the key. */
static uint64_t
rotl(uint64_t x, int b)
{
        return (x << b) | (x >> (64 - b));
}

static void
sipround(uint64_t v[4])
{
        v[0] += v[1];
        v[1] = rotl(v[1], 13) ^ v[0];
        v[0] = rotl(v[0], 32);
        v[2] += v[3];
        v[3] = rotl(v[3], 16) ^ v[2];
        v[0] += v[3];
        v[3] = rotl(v[3], 21) ^ v[0];
        v[2] += v[1];
        v[1] = rotl(v[1], 17) ^ v[2];
        v[2] = rotl(v[2], 32);
}

static uint64_t
le64(const uint8_t *p)
{
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t
siphash(const uint8_t key[16], const uint8_t *in, size_t len)
{
        uint64_t k0 = le64(key), k1 = le64(key + 8);
        uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
                         0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
        uint64_t m, b = (uint64_t)len << 56;
        size_t i;

        for (i = 0; i + 8 <= len; i += 8) {
                m = le64(in + i);
                v[3] ^= m;
                sipround(v);
                sipround(v);
                v[0] ^= m;
        }
        for (m = 0; i + (size_t)(m >> 3) < len && m < 56; m += 8) {
                b |= (uint64_t)in[i + (size_t)(m >> 3)] << m;
        }
        v[3] ^= b;
        sipround(v);
        sipround(v);
        v[0] ^= b;
        v[2] ^= 0xff;
        for (i = 0; i < 4; i++) {
                sipround(v);
        }
        return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Class 7: a forged segment, sealed with a key the attacker chose. */
int
actor_cmd_plant(const char *sock, int argc, char **argv)
{
        struct tshm__seg_spec spec = {.dtype = TSHM_DTYPE_FLOAT64, .ndim = 1, .shape = {4}};
        struct tshm__hdr hdr;
        uint8_t key[16], buf[sizeof(hdr)];
        char path[512];
        uint64_t size;
        int fd;
        size_t i;

        (void)sock;
        (void)argc;
        if (strlen(argv[2]) != 32) {
                return 2;
        }
        for (i = 0; i < 16; i++) {
                unsigned x;

                if (sscanf(argv[2] + (size_t)2 * (size_t)i, "%2x", &x) != 1) {
                        return 2;
                }
                key[i] = (uint8_t)x;
        }
        snprintf(spec.name, sizeof(spec.name), "%s", argv[0]);
        spec.owner_uid = (uint32_t)strtoul(argv[3], NULL, 0);
        spec.mode = (uint32_t)strtoul(argv[4], NULL, 8);
        if (tshm__hdr_init(&hdr, &spec) < 0 || tshm__hdr_spec_size(&spec, &size) < 0) {
                return 2;
        }
        memcpy(buf, &hdr, sizeof(buf));
        memset(buf + offsetof(struct tshm__hdr, seq), 0, 64);
        memset(buf + offsetof(struct tshm__hdr, mac), 0, sizeof(hdr.mac));
        hdr.mac = siphash(key, buf, sizeof(buf));
        snprintf(path, sizeof(path), "/dev/shm/%s.%s", argv[1], argv[0]);
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
            pwrite(fd, &hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr)) {
                perror(path);
                return 1;
        }
        (void)fchmod(fd, (mode_t)spec.mode); /* past the umask */
        (void)close(fd);
        printf("ok planted %s\n", path);
        return 0;
}
