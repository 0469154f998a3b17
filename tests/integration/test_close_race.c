/*
 * test_close_race.c - tshm_close() and tshm_sub_close() on one thread racing
 * tshm_disconnect() of their client on another, many times: neither may
 * touch freed memory (run it under ASan), each close succeeds, and the
 * daemon ends up with none of the client's handles.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#include "fixture.h"

#define ROUNDS 300
#define SEGS 16

FIXTURE_PER_TEST(f)

struct closer {
        tshm_seg *segs[SEGS];
        tshm_sub *sub;
        int *go; /* both threads spin on it, so that they start together */
        int rv;  /* the first failure of a close, or 0 */
};

static void *
closer_run(void *arg)
{
        struct closer *cl = arg;
        int i, rv;

        while (__atomic_load_n(cl->go, __ATOMIC_ACQUIRE) == 0) {
        }
        for (i = 0; i < SEGS; i++) {
                if ((rv = tshm_close(cl->segs[i])) < 0 && cl->rv == 0) {
                        cl->rv = rv;
                }
        }
        if ((rv = tshm_sub_close(cl->sub)) < 0 && cl->rv == 0) {
                cl->rv = rv;
        }
        return NULL;
}

START_TEST(test_close_races_disconnect)
{
        tshm_client *owner = fixture_connect(&f);
        tshm_seg *arr, *st;
        int round;

        ck_assert_int_eq(
            tshm_create(owner, "arr", TSHM_DTYPE_UINT8, 1, (uint64_t[]){64}, 0644, 0, &arr), 0);
        ck_assert_int_eq(tshm_stream_create(owner, "st", TSHM_DTYPE_UINT8, 1, (uint64_t[]){64}, 2,
                                            TSHM_STREAM_OVERWRITE, 0644, 0, &st),
                         0);
        for (round = 0; round < ROUNDS; round++) {
                tshm_client *c = fixture_connect(&f);
                struct closer cl = {.rv = 0};
                pthread_t t;
                int go = 0, i;

                for (i = 0; i < SEGS; i++) {
                        ck_assert_int_eq(
                            tshm_open(c, "arr", i % 2 ? TSHM_OPEN_RDWR : 0, &cl.segs[i]), 0);
                }
                ck_assert_int_eq(tshm_sub_open(c, "st", &cl.sub), 0);
                cl.go = &go;
                ck_assert_int_eq(pthread_create(&t, NULL, closer_run, &cl), 0);
                /* Every third round the disconnect goes first, every third
                 * the closes do, and the rest start together. */
                if (round % 3 == 1) {
                        tshm_disconnect(c);
                        __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
                } else if (round % 3 == 2) {
                        __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
                        ck_assert_int_eq(pthread_join(t, NULL), 0);
                        tshm_disconnect(c);
                } else {
                        __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
                        tshm_disconnect(c);
                }
                if (round % 3 != 2) {
                        ck_assert_int_eq(pthread_join(t, NULL), 0);
                }
                ck_assert_msg(cl.rv == 0, "round %d: a close failed: %s", round,
                              tshm_strerror(cl.rv));
        }
        /* Whatever the order, the daemon released every handle of those
         * clients: only the owner's remain. */
        ck_assert(fixture_wait_opens(owner, "arr", 1));
        ck_assert(fixture_wait_opens(owner, "st", 1));
        ck_assert_int_eq(tshm_close(arr), 0);
        ck_assert_int_eq(tshm_close(st), 0);
        tshm_disconnect(owner);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("close_race");
        TCase *tc;

        tc = tshm_test_case(s, "close_race", 240, TSHM_TESTS(test_close_races_disconnect));
        tcase_add_checked_fixture(tc, setup, teardown);
        return tshm_test_run(s);
}
