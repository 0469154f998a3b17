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

/* Parse @args (NULL-terminated, without argv[0]) onto the defaults. */
static int
parse(struct tshmd_config *cfg, const char *const *args)
{
        char *argv[16];
        int argc = 0;

        argv[argc++] = (char *)"tshmd";
        while (*args != NULL) {
                argv[argc++] = (char *)*args++;
        }
        argv[argc] = NULL;
        tshmd_config_defaults(cfg);
        optind = 0;
        return tshmd_config_parse_args(cfg, argc, argv);
}

/* Make @path a config file holding @text. */
static void
write_config(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_config_peer_flags)
{
        static const char *const good[] = {"10.1.2.3:7070", "[::1]:1", "host-b.example:65535",
                                           "localhost:9"};
        static const char *const bad[] = {
            "10.1.2.3",  "10.1.2.3:0", "10.1.2.3:65536",  ":7070",    "::1:7070",
            "[::1]7070", "[]:7070",    "[::1]:",          "a b:7070", "host:70x",
            "host:-1",   "[::1]:+5",   "[fe80::1%eth0]:2"};
        struct tshmd_config cfg;
        size_t i;

        ck_assert_int_eq(parse(&cfg, (const char *[]){NULL}), 0);
        ck_assert_str_eq(cfg.peer_listen, "");
        ck_assert_str_eq(cfg.peer_secret, "");
        ck_assert(!cfg.has_peer_uid);
        for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                ck_assert_msg(parse(&cfg, (const char *[]){"--peer-listen", good[i], NULL}) == 0,
                              "--peer-listen %s", good[i]);
                ck_assert_str_eq(cfg.peer_listen, good[i]);
        }
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ck_assert_msg(parse(&cfg, (const char *[]){"--peer-listen", bad[i], NULL}) == -1,
                              "--peer-listen %s was taken", bad[i]);
        }
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-secret", "/etc/tshm/peer.key",
                                                      "--peer-uid", "4242", NULL}),
                         0);
        ck_assert_str_eq(cfg.peer_secret, "/etc/tshm/peer.key");
        ck_assert(cfg.has_peer_uid);
        ck_assert_uint_eq(cfg.peer_uid, 4242);
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-uid", "root", NULL}), 0);
        ck_assert(cfg.has_peer_uid);
        ck_assert_uint_eq(cfg.peer_uid, 0);
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-uid", "no-such-user-tshm", NULL}),
                         -1);
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-uid", "12x", NULL}), -1);
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-uid", "4294967295", NULL}), -1);
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-secret", "", NULL}), -1);
        /* --peer-poll-us: microseconds, 0 (the default) to a second. */
        ck_assert_int_eq(parse(&cfg, (const char *[]){NULL}), 0);
        ck_assert_uint_eq(cfg.peer_poll_us, 0);
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-poll-us", "50", NULL}), 0);
        ck_assert_uint_eq(cfg.peer_poll_us, 50);
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-poll-us", "1000000", NULL}), 0);
        ck_assert_uint_eq(cfg.peer_poll_us, 1000000);
        for (i = 0; i < 6; i++) {
                const char *no[] = {"1000001", "-1", "", "5us", " 5", "18446744073709551617"};

                ck_assert_msg(parse(&cfg, (const char *[]){"--peer-poll-us", no[i], NULL}) == -1,
                              "--peer-poll-us '%s' was taken", no[i]);
        }
}
END_TEST

/* The file has the same keys; a flag wins over it; SIGHUP leaves the peer
 * settings as the daemon started with them (they take a restart). */
START_TEST(test_config_peer_file)
{
        char path[64], err[600];
        struct tshmd_config cfg;

        snprintf(path, sizeof(path), "/tmp/tshm-test-config-%d.conf", (int)getpid());
        write_config(path, "peer-listen = 10.9.8.7:7070\npeer-secret = /k\npeer-uid = 7\n"
                           "peer-poll-us = 250\n");
        ck_assert_int_eq(parse(&cfg, (const char *[]){"--peer-uid", "8", "--config", path, NULL}),
                         0);
        ck_assert_str_eq(cfg.peer_listen, "10.9.8.7:7070");
        ck_assert_str_eq(cfg.peer_secret, "/k");
        ck_assert_uint_eq(cfg.peer_uid, 8);
        ck_assert_uint_eq(cfg.peer_poll_us, 250);

        write_config(path, "peer-listen = 10.9.8.7:7171\npeer-secret = /other\npeer-poll-us = 9\n");
        ck_assert_int_eq(tshmd_config_load(&cfg, path, true, err, sizeof(err)), 0);
        ck_assert_str_eq(cfg.peer_listen, "10.9.8.7:7070");
        ck_assert_str_eq(cfg.peer_secret, "/k");
        ck_assert_uint_eq(cfg.peer_uid, 8);
        ck_assert_uint_eq(cfg.peer_poll_us, 250);

        /* A bad value in the file is refused, with the form expected. */
        write_config(path, "peer-listen = 10.9.8.7:0\n");
        ck_assert_int_eq(tshmd_config_load(&cfg, path, false, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "PORT 1 to 65535") != NULL, "%s", err);
        unlink(path);
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
        tshm_test_case(s, "peer", 0, TSHM_TESTS(test_config_peer_flags, test_config_peer_file));
        return tshm_test_run(s);
}
