/*
 * group_util.c - what the tensor-group integration tests share (group_util.h).
 */
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "tshm.h"

#include "group_util.h"

const uint64_t s34[] = {3, 4}, s5[] = {5};
const char meta[] = "{\"__metadata__\":{\"format\":\"pt\"}}";
const tshm_tensor_spec three[] = {
    {"model.weight", TSHM_DTYPE_FLOAT32, 2, s34},
    {"model.bias", TSHM_DTYPE_INT16, 1, s5},
    {"step", TSHM_DTYPE_INT64, 0, NULL},
};

tshm_group *
make_three(tshm_client *c, const char *name)
{
        tshm_group_opts opts = {.mode = 0644, .metadata = meta, .metadata_len = strlen(meta)};
        tshm_group *g = NULL;
        int rv = tshm_group_create(c, name, three, 3, &opts, &g);

        ck_assert_msg(rv == 0, "create '%s': %s (%s)", name, tshm_strerror(rv), tshm_errmsg(c));
        return g;
}

/* Fill tensor i's bytes with i + 1. */
void
fill(tshm_group *g)
{
        tshm_tensor t;
        size_t i;

        for (i = 0; i < tshm_group_count(g); i++) {
                ck_assert_int_eq(tshm_group_tensor(g, i, &t), 0);
                memset(t.data, (int)i + 1, t.nbytes);
        }
}

bool
listed(tshm_client *c, const char *name)
{
        tshm_info *infos = NULL;
        size_t n = 0, i;
        bool found = false;

        ck_assert_int_eq(tshm_list(c, NULL, &infos, &n), 0);
        for (i = 0; i < n; i++) {
                found = found || strcmp(infos[i].name, name) == 0;
        }
        tshm_list_free(infos);
        return found;
}

/* Every tensor of @g lies in its segment's data area. */
void
assert_inside(const tshm_group *g)
{
        const tshm_seg *s = tshm_group_seg(g);
        const uint8_t *lo = tshm_seg_data(s), *hi = lo + tshm_seg_nbytes(s);
        tshm_tensor t;
        size_t i;

        for (i = 0; i < tshm_group_count(g); i++) {
                ck_assert_int_eq(tshm_group_tensor(g, i, &t), 0);
                ck_assert((const uint8_t *)t.data >= lo && (const uint8_t *)t.data <= hi);
                ck_assert_uint_le(t.nbytes, (uint64_t)(hi - (const uint8_t *)t.data));
                ck_assert_uint_eq((uintptr_t)t.data % TSHM_GROUP_ALIGN, 0);
        }
}

/* Wait up to 5 s for the objects under the prefix to number @n. */
bool
wait_objects(const struct tshmd_fixture *f, int n)
{
        int i;

        for (i = 0; i < 500; i++) {
                if (fixture_count_objects(f) == n) {
                        return true;
                }
                usleep(10000);
        }
        return false;
}
