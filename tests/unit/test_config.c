/*
 * test_config.c - tshmd's settings: the default shm prefix and state
 * directory depend on the user the daemon runs as and its environment.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "check_main.h"

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

START_TEST(test_config_default_state_dir)
{
        char d[512];

        (void)unsetenv("STATE_DIRECTORY");
        (void)unsetenv("XDG_STATE_HOME");
        (void)setenv("HOME", "/home/u", 1);
        ck_assert_int_eq(tshmd_state_default_dir(0, d, sizeof(d)), 0);
        ck_assert_str_eq(d, "/var/lib/tshm");
        ck_assert_int_eq(tshmd_state_default_dir(1000, d, sizeof(d)), 0);
        ck_assert_str_eq(d, "/home/u/.local/state/tshm");
        (void)setenv("XDG_STATE_HOME", "relative", 1); /* invalid: ignored */
        ck_assert_int_eq(tshmd_state_default_dir(1000, d, sizeof(d)), 0);
        ck_assert_str_eq(d, "/home/u/.local/state/tshm");
        (void)setenv("XDG_STATE_HOME", "/x/state", 1);
        ck_assert_int_eq(tshmd_state_default_dir(1000, d, sizeof(d)), 0);
        ck_assert_str_eq(d, "/x/state/tshm");
        /* systemd's StateDirectory= wins, the first of a list. */
        (void)setenv("STATE_DIRECTORY", "/var/lib/tshm:/var/lib/other", 1);
        ck_assert_int_eq(tshmd_state_default_dir(0, d, sizeof(d)), 0);
        ck_assert_str_eq(d, "/var/lib/tshm");
        (void)unsetenv("STATE_DIRECTORY");
        (void)unsetenv("XDG_STATE_HOME");
        (void)unsetenv("HOME");
        ck_assert_int_eq(tshmd_state_default_dir(1000, d, sizeof(d)), TSHM_ENOENT);
}
END_TEST

START_TEST(test_config_state_dir_flag)
{
        char a0[] = "tshmd", a1[] = "--state-dir", a2[] = "/srv/tshm", a3[] = "state";
        char *ok[] = {a0, a1, a2, NULL}, *rel[] = {a0, a1, a3, NULL};
        struct tshmd_config cfg;

        tshmd_config_defaults(&cfg);
        ck_assert_str_eq(cfg.state_dir, "");
        optind = 0;
        ck_assert_int_eq(tshmd_config_parse_args(&cfg, 3, ok), 0);
        ck_assert_str_eq(cfg.state_dir, "/srv/tshm");
        optind = 0;
        ck_assert_int_eq(tshmd_config_parse_args(&cfg, 3, rel), -1);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("config");

        tshm_test_case(s, "prefix", 0,
                       TSHM_TESTS(test_config_default_prefix_by_uid,
                                  test_config_defaults_use_the_euid, test_config_default_state_dir,
                                  test_config_state_dir_flag));
        return tshm_test_run(s);
}
