/*
 * alloc.h - the one allocator of tshmd and libtshm.
 *
 * Every allocation of the daemon (its own, uthash's and libuv's), of
 * libtshm and of proto/'s encoders goes through these, so that a test can
 * make the Nth allocation from now fail and check that each caller turns it
 * into a clean TSHM_ENOMEM with nothing leaked and nothing half done
 * (tests/unit/test_oom.c, tests/integration/test_client_oom.c).
 *
 * The hook is compiled into the shipped code on purpose: the code a test
 * walks is the code users run, not a build of it with another allocator.
 * What it costs is one relaxed atomic load and one relaxed atomic add per
 * allocation, noise next to malloc itself. Nothing outside a test arms it.
 *
 * tshm__free(p) is free(p), and the others are malloc(), calloc(),
 * realloc() and strdup() when no failure is armed: memory from here may be
 * given to code that frees it with free() (msgpack_sbuffer_destroy()), and
 * memory from malloc() may be given to tshm__free(). The memory is glibc's,
 * so malloc_usable_size() works on it (daemon/queue.c counts it).
 *
 * Outside the walk, because their libraries take no allocator: msgpack-c's
 * unpacker zone (msgpack_unpack_next() in proto/'s decoders; a failure
 * there is reported as TSHM_ENOMEM all the same) and what glibc allocates
 * for itself (stdio, pthread_create in libuv's thread pool).
 */
#ifndef TSHM_ALLOC_H
#define TSHM_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *tshm__malloc(size_t n);
void *tshm__calloc(size_t count, size_t size);
void *tshm__realloc(void *p, size_t n);
void tshm__free(void *p);
char *tshm__strdup(const char *s);

/* Test hooks. Make the @n-th allocation from now fail, once (0 disarms);
 * each of the functions above that allocates counts as one allocation,
 * realloc included. Thread-safe, but a test arms it around one call. */
void tshm__alloc_fail_at(uint64_t n);
/* Allocations made (attempted) since the process started. */
uint64_t tshm__alloc_count(void);
/* Allocations made to fail so far. */
uint64_t tshm__alloc_failures(void);

#endif /* TSHM_ALLOC_H */
