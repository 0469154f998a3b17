/*
 * alloc.c - the one allocator of tshmd and libtshm, with its failure hook
 * (alloc.h says why it is always compiled in).
 *
 * The only state of tshm's shared code that is not per object: three
 * counters, which is why this is a module of its own and not part of
 * proto/, whose code holds no globals.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

/* Allocations left before the armed failure (0: none armed). */
static uint64_t alloc_countdown;
static uint64_t alloc_made;
static uint64_t alloc_failed;

/* Whether this allocation is the one to fail. The load is the whole cost
 * when nothing is armed; when armed, a compare-and-swap takes the count
 * down so that two threads never both take the last step. */
static bool
alloc_should_fail(void)
{
        uint64_t left = __atomic_load_n(&alloc_countdown, __ATOMIC_RELAXED);

        (void)__atomic_add_fetch(&alloc_made, 1, __ATOMIC_RELAXED);
        while (left != 0) {
                if (__atomic_compare_exchange_n(&alloc_countdown, &left, left - 1, false,
                                                __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
                        if (left == 1) {
                                (void)__atomic_add_fetch(&alloc_failed, 1, __ATOMIC_RELAXED);
                                return true;
                        }
                        return false;
                }
        }
        return false;
}

void *
tshm__malloc(size_t n)
{
        return alloc_should_fail() ? NULL : malloc(n);
}

void *
tshm__calloc(size_t count, size_t size)
{
        return alloc_should_fail() ? NULL : calloc(count, size);
}

void *
tshm__realloc(void *p, size_t n)
{
        return alloc_should_fail() ? NULL : realloc(p, n);
}

void
tshm__free(void *p)
{
        free(p);
}

char *
tshm__strdup(const char *s)
{
        size_t n = strlen(s) + 1;
        char *d = tshm__malloc(n);

        if (d != NULL) {
                memcpy(d, s, n);
        }
        return d;
}

void
tshm__alloc_fail_at(uint64_t n)
{
        __atomic_store_n(&alloc_countdown, n, __ATOMIC_RELAXED);
}

uint64_t
tshm__alloc_count(void)
{
        return __atomic_load_n(&alloc_made, __ATOMIC_RELAXED);
}

uint64_t
tshm__alloc_failures(void)
{
        return __atomic_load_n(&alloc_failed, __ATOMIC_RELAXED);
}
