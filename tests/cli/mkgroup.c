/*
 * mkgroup.c - a tensor group made as any program of tshm's API would make
 * one, for the CLI tests of 'tshm save' (a group's metadata need not be a
 * safetensors header): publish the group NAME (on $TSHM_SOCKET) with the
 * bytes of METAFILE as its metadata (none when empty) and one tensor per
 * NAME:DTYPE:SHAPE (SHAPE as 'tshm create' takes it; the last two colons
 * split), byte j of tensor i equal to (7 j + 13 i) mod 256.
 * Usage: tshm-test-mkgroup NAME METAFILE [TENSOR:DTYPE:SHAPE...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tshm.h"

/* Split "name:dtype:shape" at its last two colons into @spec and @shape
 * (TSHM_MAX_NDIM extents); returns 0 or -1. */
static int
parse_tensor(char *arg, tshm_tensor_spec *spec, uint64_t *shape)
{
        char *c2 = strrchr(arg, ':'), *c1;
        size_t ndim;

        if (c2 == NULL) {
                return -1;
        }
        *c2 = '\0';
        if ((c1 = strrchr(arg, ':')) == NULL) {
                return -1;
        }
        *c1 = '\0';
        if (tshm_dtype_parse(c1 + 1, &spec->dtype) < 0 ||
            tshm_shape_parse(c2 + 1, &ndim, shape) < 0) {
                return -1;
        }
        spec->name = arg;
        spec->ndim = (uint32_t)ndim;
        spec->shape = shape;
        return 0;
}

static long
read_file(const char *path, char *buf, size_t cap)
{
        FILE *f = fopen(path, "rb");
        size_t n;

        if (f == NULL) {
                return -1;
        }
        n = fread(buf, 1, cap, f);
        (void)fclose(f);
        return (long)n;
}

int
main(int argc, char **argv)
{
        static char meta[1 << 16];
        tshm_tensor_spec specs[64];
        uint64_t shapes[64][TSHM_MAX_NDIM];
        tshm_group_opts opts;
        tshm_client *c = NULL;
        tshm_group *g = NULL;
        tshm_tensor t;
        long mlen;
        int i, n = argc - 3, rv;

        if (argc < 3 || n > 64 || (mlen = read_file(argv[2], meta, sizeof(meta))) < 0) {
                (void)fprintf(stderr,
                              "usage: tshm-test-mkgroup NAME METAFILE [T:DTYPE:SHAPE...]\n");
                return 2;
        }
        for (i = 0; i < n; i++) {
                if (parse_tensor(argv[3 + i], &specs[i], shapes[i]) < 0) {
                        (void)fprintf(stderr, "mkgroup: bad tensor '%s'\n", argv[3 + i]);
                        return 2;
                }
        }
        memset(&opts, 0, sizeof(opts));
        opts.metadata = mlen > 0 ? meta : NULL;
        opts.metadata_len = (size_t)mlen;
        if ((rv = tshm_connect(NULL, &c)) < 0 ||
            (rv = tshm_group_create(c, argv[1], specs, (size_t)n, &opts, &g)) < 0) {
                goto out;
        }
        for (i = 0; i < n && (rv = tshm_group_tensor(g, (size_t)i, &t)) == 0; i++) {
                for (uint64_t j = 0; j < t.nbytes; j++) {
                        ((unsigned char *)t.data)[j] =
                            (unsigned char)((7 * j + 13 * (uint64_t)i) & 0xff);
                }
        }
        if (rv == 0) {
                rv = tshm_group_publish(g);
        }
out:
        if (rv < 0) {
                (void)fprintf(stderr, "mkgroup: %s\n", tshm_strerror(rv));
        }
        (void)tshm_group_close(g);
        tshm_disconnect(c);
        return rv < 0 ? 1 : 0;
}
