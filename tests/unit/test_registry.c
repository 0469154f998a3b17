/*
 * test_registry.c - the daemon's registry: names, budgets, open counts.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "check_main.h"

#include "tshmd.h"

static struct tshm__hdr
make_hdr(const char *name, uint64_t n)
{
        struct tshm__seg_spec spec = {.dtype = TSHM_DTYPE_UINT8, .ndim = 1, .mode = 0640};
        struct tshm__hdr hdr;

        spec.shape[0] = n;
        strcpy(spec.name, name);
        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), 0);
        return hdr;
}

static struct tshmd_seg *
add(struct tshmd_registry *reg, const char *name, uint64_t n)
{
        struct tshm__hdr hdr = make_hdr(name, n);
        struct tshmd_seg *seg = NULL;
        uint64_t size;

        ck_assert_int_eq(tshm__hdr_object_size(n, &size), 0);
        ck_assert_int_eq(tshmd_registry_add(reg, &hdr, size, TSHMD_SEG_READY, &seg), 0);
        return seg;
}

START_TEST(test_registry_find_and_order)
{
        struct tshmd_registry reg;
        struct tshmd_seg *a, *b, *c, *it;
        const char *want[] = {"a", "c"};
        int i = 0;

        tshmd_registry_init(&reg);
        a = add(&reg, "a", 1);
        b = add(&reg, "b", 5000);
        c = add(&reg, "c", 0);
        ck_assert_ptr_eq(tshmd_registry_find(&reg, "b"), b);
        ck_assert_ptr_null(tshmd_registry_find(&reg, "bb"));
        ck_assert_uint_lt(a->serial, b->serial);
        ck_assert_uint_lt(b->serial, c->serial);
        ck_assert_uint_eq(reg.segments, 3);
        ck_assert_uint_eq(reg.bytes, 8192 + 12288 + 4096);
        ck_assert_uint_eq(b->shape[0], 5000);
        ck_assert_uint_eq(b->mode, 0640);
        tshmd_registry_unname(&reg, b);
        ck_assert_ptr_null(tshmd_registry_find(&reg, "b"));
        /* Creation order survives a removal in the middle. */
        for (it = reg.by_name; it != NULL; it = it->hh.next) {
                ck_assert_str_eq(it->name, want[i++]);
        }
        ck_assert_int_eq(i, 2);
        ck_assert_uint_eq(reg.bytes, 8192 + 4096);
        tshmd_registry_done(&reg);
}
END_TEST

START_TEST(test_registry_unlinked_stays_charged_while_open)
{
        struct tshmd_registry reg;
        struct tshmd_seg *s;

        tshmd_registry_init(&reg);
        s = add(&reg, "held", 100);
        tshmd_registry_ref(&reg, s);
        tshmd_registry_ref(&reg, s);
        ck_assert_uint_eq(reg.opens, 2);
        tshmd_registry_unname(&reg, s);
        ck_assert_uint_eq(reg.segments, 0);
        ck_assert_uint_eq(reg.bytes, 8192);
        /* The name is free for a new segment meanwhile. */
        add(&reg, "held", 1);
        ck_assert_uint_eq(reg.bytes, 2ull * 8192);
        tshmd_registry_unref(&reg, s);
        ck_assert_uint_eq(reg.bytes, 2ull * 8192);
        tshmd_registry_unref(&reg, s); /* frees it */
        ck_assert_uint_eq(reg.bytes, 8192);
        ck_assert_uint_eq(reg.opens, 0);
        tshmd_registry_done(&reg);
}
END_TEST

START_TEST(test_registry_admit_checks_budgets)
{
        struct tshmd_config cfg = {.max_bytes = 3ull * 8192, .max_segments = 3};
        struct tshmd_registry reg;
        char err[256];

        tshmd_registry_init(&reg);
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 0, 3ull * 8192, err, sizeof(err)), 0);
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 0, 3ull * 8192 + 1, err, sizeof(err)),
                         TSHM_ENOSPC);
        ck_assert_ptr_nonnull(strstr(err, "--max-bytes=24576, 0 in use, 24577 asked"));
        add(&reg, "x", 100);
        add(&reg, "y", 100);
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 0, 8192, err, sizeof(err)), 0);
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 0, 8193, err, sizeof(err)), TSHM_ENOSPC);
        /* A huge request must not wrap the arithmetic. */
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 0, UINT64_MAX, err, sizeof(err)),
                         TSHM_ENOSPC);
        add(&reg, "z", 1);
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 0, 1, err, sizeof(err)), TSHM_ELIMIT);
        ck_assert_ptr_nonnull(strstr(err, "--max-segments=3"));
        cfg.max_bytes = 0;
        cfg.max_segments = 0;
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 0, UINT64_MAX / 2, err, sizeof(err)), 0);
        tshmd_registry_done(&reg);
}
END_TEST

START_TEST(test_registry_per_uid_budgets)
{
        struct tshmd_config cfg = {.max_bytes_per_uid = 2ull * 8192, .max_segments_per_uid = 2};
        struct tshmd_registry reg;
        struct tshm__hdr hdr;
        struct tshmd_seg *seg;
        uint64_t bytes, segs;
        char err[256];

        tshmd_registry_init(&reg);
        hdr = make_hdr("u1", 100);
        hdr.owner_uid = 1000;
        ck_assert_int_eq(tshmd_registry_add(&reg, &hdr, 8192, TSHMD_SEG_READY, &seg), 0);
        tshmd_registry_usage(&reg, 1000, &bytes, &segs);
        ck_assert_uint_eq(bytes, 8192);
        ck_assert_uint_eq(segs, 1);
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 1000, 8193, err, sizeof(err)),
                         TSHM_ENOSPC);
        ck_assert_ptr_nonnull(strstr(err, "uid 1000 --max-bytes-per-uid=16384, 8192 in use, 8193"));
        /* Another uid has its own budget. */
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 1001, 16384, err, sizeof(err)), 0);
        hdr = make_hdr("u2", 1);
        hdr.owner_uid = 1000;
        ck_assert_int_eq(tshmd_registry_add(&reg, &hdr, 4096, TSHMD_SEG_READY, &seg), 0);
        ck_assert_int_eq(tshmd_registry_admit(&reg, &cfg, 1000, 1, err, sizeof(err)), TSHM_ELIMIT);
        ck_assert_ptr_nonnull(strstr(err, "--max-segments-per-uid=2"));
        /* Giving a segment away moves its charges. */
        ck_assert_int_eq(tshmd_registry_set_owner(&reg, seg, 1001), 0);
        tshmd_registry_usage(&reg, 1000, &bytes, &segs);
        ck_assert_uint_eq(bytes, 8192);
        ck_assert_uint_eq(segs, 1);
        tshmd_registry_usage(&reg, 1001, &bytes, &segs);
        ck_assert_uint_eq(bytes, 4096);
        ck_assert_uint_eq(segs, 1);
        /* Unlinked while open: the segment count drops, the bytes wait. */
        tshmd_registry_ref(&reg, seg);
        tshmd_registry_unname(&reg, seg);
        tshmd_registry_usage(&reg, 1001, &bytes, &segs);
        ck_assert_uint_eq(bytes, 4096);
        ck_assert_uint_eq(segs, 0);
        tshmd_registry_unref(&reg, seg);
        tshmd_registry_usage(&reg, 1001, &bytes, &segs);
        ck_assert_uint_eq(bytes, 0);
        tshmd_registry_done(&reg);
}
END_TEST

START_TEST(test_registry_info_copies_everything)
{
        struct tshmd_registry reg;
        struct tshmd_seg *s;
        tshm_info info;

        tshmd_registry_init(&reg);
        s = add(&reg, "info", 42);
        tshmd_registry_ref(&reg, s);
        tshmd_registry_info(s, &info);
        ck_assert_str_eq(info.name, "info");
        ck_assert_int_eq(info.dtype, TSHM_DTYPE_UINT8);
        ck_assert_uint_eq(info.ndim, 1);
        ck_assert_uint_eq(info.shape[0], 42);
        ck_assert_uint_eq(info.nbytes, 42);
        ck_assert_uint_eq(info.size, 8192);
        ck_assert_uint_eq(info.mode, 0640);
        ck_assert_uint_eq(info.opens, 1);
        tshmd_registry_unref(&reg, s);
        tshmd_registry_done(&reg);
}
END_TEST

/* Names hash under a secret key (SipHash-2-4), so a client cannot choose
 * names that all land in one bucket. */
START_TEST(test_registry_hash_is_keyed)
{
        static const uint8_t zero[16];
        struct tshmd_registry reg;
        struct tshmd_seg *seg;

        tshmd_registry_init(&reg);
        ck_assert(memcmp(tshmd_hash_key, zero, sizeof(zero)) != 0);
        seg = add(&reg, "abc", 1);
        ck_assert_uint_eq(seg->hh.hashv,
                          (unsigned)tshmd_seal_siphash(tshmd_hash_key, (const uint8_t *)"abc", 3));
        ck_assert_ptr_eq(tshmd_registry_find(&reg, "abc"), seg);
        tshmd_registry_done(&reg);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("registry");

        tshm_test_case(s, "find_and_order", 0, TSHM_TESTS(test_registry_find_and_order));
        tshm_test_case(s, "unlinked_charged", 0,
                       TSHM_TESTS(test_registry_unlinked_stays_charged_while_open));
        tshm_test_case(s, "admit", 0, TSHM_TESTS(test_registry_admit_checks_budgets));
        tshm_test_case(s, "per_uid", 0, TSHM_TESTS(test_registry_per_uid_budgets));
        tshm_test_case(s, "info", 0, TSHM_TESTS(test_registry_info_copies_everything));
        tshm_test_case(s, "hash", 0, TSHM_TESTS(test_registry_hash_is_keyed));
        return tshm_test_run(s);
}
