/*
 * test_seal.c - the daemon's header seal: SipHash-2-4 against the reference
 * vectors, and a seal that any change to a sealed field breaks.
 */
#include <string.h>

#include <check.h>

#include "check_main.h"

#include "tshmd.h"

START_TEST(test_seal_siphash_reference_vectors)
{
        /* From the SipHash paper's reference implementation (vectors.h):
         * key 00..0f, message 00..(n-1). */
        static const struct {
                size_t len;
                uint64_t want;
        } vectors[] = {{0, 0x726fdb47dd0e0e31ULL},  {1, 0x74f839c593dc67fdULL},
                       {7, 0xab0200f58b01d137ULL},  {8, 0x93f5f5799a932462ULL},
                       {15, 0xa129ca6149be45e5ULL}, {63, 0x958a324ceb064572ULL}};
        uint8_t key[16], msg[64];
        size_t i;

        for (i = 0; i < 16; i++) {
                key[i] = (uint8_t)i;
        }
        for (i = 0; i < 64; i++) {
                msg[i] = (uint8_t)i;
        }
        for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
                ck_assert_msg(tshmd_seal_siphash(key, msg, vectors[i].len) == vectors[i].want,
                              "length %zu", vectors[i].len);
        }
}
END_TEST

START_TEST(test_seal_covers_owned_fields_only)
{
        struct tshm__seg_spec spec = {.name = "sealed",
                                      .dtype = TSHM_DTYPE_FLOAT32,
                                      .ndim = 2,
                                      .shape = {3, 4},
                                      .mode = 0640};
        uint8_t key[16] = {1, 2, 3}, other[16] = {1, 2, 4};
        struct tshm__hdr hdr, t;

        ck_assert_int_eq(tshm__hdr_init(&hdr, &spec), 0);
        tshmd_seal(key, &hdr);
        ck_assert(tshmd_seal_ok(key, &hdr));
        ck_assert(!tshmd_seal_ok(other, &hdr));
        /* The sequence counter is the writers': no effect. */
        t = hdr;
        t.seq = 42;
        ck_assert(tshmd_seal_ok(key, &t));
        /* Rights, shape, name, creator: any change breaks the seal. */
        t = hdr;
        t.mode = 0666;
        ck_assert(!tshmd_seal_ok(key, &t));
        t = hdr;
        t.owner_uid = 0;
        t.owner_gid = 1;
        ck_assert(!tshmd_seal_ok(key, &t));
        t = hdr;
        t.shape[0] = 2;
        ck_assert(!tshmd_seal_ok(key, &t));
        t = hdr;
        t.name[0] = 'S';
        ck_assert(!tshmd_seal_ok(key, &t));
        t = hdr;
        t.creator_pid = 1;
        ck_assert(!tshmd_seal_ok(key, &t));
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("seal");

        tshm_test_case(
            s, "seal", 0,
            TSHM_TESTS(test_seal_siphash_reference_vectors, test_seal_covers_owned_fields_only));
        return tshm_test_run(s);
}
