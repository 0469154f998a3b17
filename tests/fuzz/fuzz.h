/*
 * fuzz.h - what every fuzz target in tests/fuzz defines, and the check its
 * invariants use. A target is built twice: against libFuzzer (TSHM_FUZZ=ON,
 * clang), and against fuzz_main.c, which replays the seed corpus under ctest.
 */
#ifndef TSHM_FUZZ_H
#define TSHM_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Run one input. Returns 0 (libFuzzer reserves other values); a bug aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated invariant is a bug like a memory error: say which one and abort,
 * so that libFuzzer saves the input and the replay fails. */
#define FUZZ_CHECK(cond) fuzz_check((cond), __FILE__, __LINE__, #cond)

static inline void
fuzz_check(bool ok, const char *file, int line, const char *what)
{
        if (!ok) {
                fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
                abort();
        }
}

#endif /* TSHM_FUZZ_H */
