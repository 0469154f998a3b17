/*
 * gen_corpus.c - write the seed corpus of the fuzz targets with the real
 * encoders, so that the seeds follow the protocol as it is.
 *
 * Usage: gen_corpus DIR   (DIR is tests/fuzz/corpus; the build's
 * "fuzz-corpus" target runs it there). Writes DIR/<target>/<seed> for
 * proto_decode, frame_stream, seg_header, parse_spec, adopt and group_toc: a valid
 * request and reply for every op, whole frames and streams of them, valid
 * headers for several dtypes and shapes, valid spec strings, objects a
 * restarted daemon adopts, and malformed or planted variants of each. The
 * output is deterministic; commit it. ctest does not run this.
 *
 * This file writes the seeds; gen_corpus_proto.c makes those of the codec
 * targets (proto_decode, frame_stream), gen_corpus_seg.c those of the
 * segment targets (seg_header, parse_spec, adopt), gen_corpus_group.c those
 * of group_toc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tshm.h"

#include "gen_corpus.h"

static const char *root;

_Noreturn void
die(const char *what)
{
        fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
        exit(1);
}

void
seed_write(const char *target, const char *name, const void *data, size_t len)
{
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", root, target);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                die(path);
        }
        snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
        f = fopen(path, "wb");
        if (f == NULL || (len > 0 && fwrite(data, len, 1, f) != 1) || fclose(f) != 0) {
                die(path);
        }
}

int
main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
                return 1;
        }
        root = argv[1];
        if (mkdir(root, 0755) < 0 && errno != EEXIST) {
                die(root);
        }
        gen_requests();
        gen_replies();
        gen_bad_keys();
        gen_bad_values();
        gen_streams();
        gen_headers();
        gen_specs();
        gen_adopt();
        gen_group_toc();
        gen_peer();
        return 0;
}
