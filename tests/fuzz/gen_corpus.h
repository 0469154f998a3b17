/*
 * gen_corpus.h - what the seed generator's files share: gen_corpus.c writes
 * the seeds, gen_corpus_proto.c, _seg.c, _group.c and _peer.c make them.
 */
#ifndef TSHM_GEN_CORPUS_H
#define TSHM_GEN_CORPUS_H

#include <stddef.h>

/* Report @what with errno's message and exit 1. */
_Noreturn void die(const char *what);
/* Write @len bytes of @data as the seed @name of fuzz target @target. */
void seed_write(const char *target, const char *name, const void *data, size_t len);

/* gen_corpus_proto.c */
void gen_requests(void);
void gen_replies(void);
void gen_bad_keys(void);
void gen_bad_values(void);
void gen_streams(void);

/* gen_corpus_seg.c */
void gen_headers(void);
void gen_specs(void);
void gen_adopt(void);

/* gen_corpus_group.c */
void gen_group_toc(void);
void gen_peer(void);

#endif
