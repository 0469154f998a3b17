/*
 * fuzz_main.c - replay inputs through a fuzz target without libFuzzer, so
 * that every build, gcc or clang, runs the seed corpus under ctest (after
 * systemd's fuzz-main.c).
 *
 * Usage: fuzz_replay_<target> FILE|DIR...
 * The empty input runs first, then each FILE, then the regular files of each
 * DIR in name order (names starting with '.' are skipped). Each input sits in
 * a buffer of exactly its size, so a sanitizer build catches a read past its
 * end. Exits 0, or 1 when an argument cannot be read or no file was replayed;
 * a bug aborts inside the target.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Read the whole file @path into a malloc'd buffer of exactly its size.
 * Returns 0, or -errno. */
static int
replay_read(const char *path, uint8_t **ret_data, size_t *ret_size)
{
        struct stat st;
        uint8_t *data;
        size_t size, got = 0;
        int fd, rv = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                return -errno;
        }
        if (fstat(fd, &st) < 0) {
                rv = -errno;
                goto out;
        }
        size = (size_t)st.st_size;
        /* malloc(0) may return NULL; keep one byte but pass size 0. */
        data = malloc(size > 0 ? size : 1);
        if (data == NULL) {
                rv = -ENOMEM;
                goto out;
        }
        while (got < size) {
                ssize_t n = read(fd, data + got, size - got);
                if (n < 0 && errno == EINTR) {
                        continue;
                }
                if (n <= 0) {
                        rv = n < 0 ? -errno : -EIO;
                        free(data);
                        goto out;
                }
                got += (size_t)n;
        }
        *ret_data = data;
        *ret_size = size;
out:
        close(fd);
        return rv;
}

static int
replay_file(const char *path)
{
        uint8_t *data = NULL;
        size_t size = 0;
        int rv;

        if ((rv = replay_read(path, &data, &size)) < 0) {
                fprintf(stderr, "replay: %s: %s\n", path, strerror(-rv));
                return rv;
        }
        printf("replay: %s (%zu bytes)\n", path, size);
        fflush(stdout);
        (void)LLVMFuzzerTestOneInput(data, size);
        free(data);
        return 0;
}

static int
replay_filter(const struct dirent *d)
{
        return d->d_name[0] != '.';
}

/* Replay every regular file of @dir, in name order. Returns the number
 * replayed, or -1. */
static int
replay_dir(const char *dir)
{
        struct dirent **names;
        int n, i, count = 0, rv = 0;

        n = scandir(dir, &names, replay_filter, alphasort);
        if (n < 0) {
                fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
                return -1;
        }
        for (i = 0; i < n; i++) {
                char path[4096];
                struct stat st;
                int len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);

                if (rv == 0 && len < (int)sizeof(path) && stat(path, &st) == 0 &&
                    S_ISREG(st.st_mode)) {
                        if (replay_file(path) < 0) {
                                rv = -1;
                        } else {
                                count++;
                        }
                }
                free(names[i]);
        }
        free(names);
        return rv < 0 ? rv : count;
}

int
main(int argc, char **argv)
{
        static const uint8_t empty[1];
        int i, n, total = 0;

        if (argc < 2) {
                fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
                return 1;
        }
        (void)LLVMFuzzerTestOneInput(empty, 0);
        for (i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
                        return 1;
                }
                if (S_ISDIR(st.st_mode)) {
                        n = replay_dir(argv[i]);
                } else {
                        n = replay_file(argv[i]) < 0 ? -1 : 1;
                }
                if (n < 0) {
                        return 1;
                }
                total += n;
        }
        if (total == 0) {
                fprintf(stderr, "replay: no input files\n");
                return 1;
        }
        printf("replay: %d inputs, no failure\n", total);
        return 0;
}
