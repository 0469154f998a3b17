/*
 * test_config.c - tshmd's settings: the default shm prefix depends on the
 * user the daemon runs as.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tshmd.h"

START_TEST(test_config_default_prefix_by_uid)
{
        char a[TSHMD_PREFIX_MAX + 1], b[TSHMD_PREFIX_MAX + 1];

        tshmd_config_default_prefix(0, a, sizeof(a));
        ck_assert_str_eq(a, "tshm");
        tshmd_config_default_prefix(1000, a, sizeof(a));
        ck_assert_str_eq(a, "tshm-1000");
        tshmd_config_default_prefix(1001, b, sizeof(b));
        ck_assert_str_ne(a, b);
        /* The largest uid still fits, whole. */
        tshmd_config_default_prefix((uid_t)-2, a, sizeof(a));
        ck_assert_str_eq(a, "tshm-4294967294");
}
END_TEST

START_TEST(test_config_defaults_use_the_euid)
{
        struct tshmd_config cfg;
        char want[TSHMD_PREFIX_MAX + 1];

        tshmd_config_defaults(&cfg);
        tshmd_config_default_prefix(geteuid(), want, sizeof(want));
        ck_assert_str_eq(cfg.shm_prefix, want);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("config");
        TCase *tc = tcase_create("prefix");
        SRunner *sr;
        int failed;

        tcase_add_test(tc, test_config_default_prefix_by_uid);
        tcase_add_test(tc, test_config_defaults_use_the_euid);
        suite_add_tcase(s, tc);
        sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? 0 : 1;
}
