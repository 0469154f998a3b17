/*
 * group_util.h - what the tensor-group integration tests share: a group of
 * three tensors (two shapes and a scalar) with metadata, how to make, fill
 * and check one, and waits on the daemon's objects.
 */
#ifndef TSHM_TEST_GROUP_UTIL_H
#define TSHM_TEST_GROUP_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "tshm.h"

#include "fixture.h"

extern const uint64_t s34[], s5[];
extern const char meta[]; /* the three's metadata */
extern const tshm_tensor_spec three[3];

/* Create the unpublished group @name of the three (mode 0644, @meta),
 * asserting success. */
tshm_group *make_three(tshm_client *c, const char *name);
/* Fill tensor i's bytes with i + 1. */
void fill(tshm_group *g);
/* Whether tshm_list() shows @name. */
bool listed(tshm_client *c, const char *name);
/* Every tensor of @g lies in its segment's data area, aligned. */
void assert_inside(const tshm_group *g);
/* Wait up to 5 s for the objects under @f's prefix to number @n. */
bool wait_objects(const struct tshmd_fixture *f, int n);

#endif
