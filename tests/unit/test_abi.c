/*
 * test_abi.c - the layout of every public struct of tshm.h, pinned.
 *
 * These structs are filled by libtshm and read by programs built against
 * an older or newer tshm.h, so their sizes and offsets are ABI (SOVERSION).
 * A change here is an ABI break: bump TSHM_SOVERSION, or take the room from
 * the struct's reserved tail instead. The pins are for LP64 (x86_64,
 * aarch64), where tshm is built; the static asserts make a drift a build
 * failure, and the test repeats them at run time so ctest reports them.
 */
#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "check_main.h"

#include "tshm.h"

#if UINTPTR_MAX == UINT64_MAX
#define TSHM_ABI_PINNED 1
#define PIN(type, field, off)                                                                      \
        _Static_assert(offsetof(type, field) == (off), #type "." #field " moved");
#define SIZE(type, n) _Static_assert(sizeof(type) == (n), "sizeof(" #type ") changed");
#else
#define TSHM_ABI_PINNED 0
#define PIN(type, field, off)
#define SIZE(type, n)
#endif

#define TSHM_ABI_LAYOUT(SIZE, PIN)                                                                 \
        SIZE(tshm_info, 552)                                                                       \
        PIN(tshm_info, name, 0)                                                                    \
        PIN(tshm_info, dtype, 204)                                                                 \
        PIN(tshm_info, ndim, 208)                                                                  \
        PIN(tshm_info, reserved0, 212)                                                             \
        PIN(tshm_info, shape, 216)                                                                 \
        PIN(tshm_info, nbytes, 472)                                                                \
        PIN(tshm_info, size, 480)                                                                  \
        PIN(tshm_info, owner_uid, 488)                                                             \
        PIN(tshm_info, owner_gid, 492)                                                             \
        PIN(tshm_info, mode, 496)                                                                  \
        PIN(tshm_info, opens, 500)                                                                 \
        PIN(tshm_info, created_ns, 504)                                                            \
        PIN(tshm_info, flags, 512)                                                                 \
        PIN(tshm_info, kind, 516)                                                                  \
        PIN(tshm_info, page_size, 520)                                                             \
        PIN(tshm_info, backing, 528)                                                               \
        PIN(tshm_info, reserved1, 532)                                                             \
        PIN(tshm_info, tensors, 536)                                                               \
        PIN(tshm_info, reserved, 544)                                                              \
        SIZE(tshm_stream_info, 56)                                                                 \
        PIN(tshm_stream_info, slots, 0)                                                            \
        PIN(tshm_stream_info, policy, 4)                                                           \
        PIN(tshm_stream_info, subscribers, 8)                                                      \
        PIN(tshm_stream_info, reserved0, 12)                                                       \
        PIN(tshm_stream_info, frames, 16)                                                          \
        PIN(tshm_stream_info, reserved, 24)                                                        \
        SIZE(tshm_daemon_info, 104)                                                                \
        PIN(tshm_daemon_info, segments, 0)                                                         \
        PIN(tshm_daemon_info, bytes, 8)                                                            \
        PIN(tshm_daemon_info, max_bytes, 16)                                                       \
        PIN(tshm_daemon_info, clients, 24)                                                         \
        PIN(tshm_daemon_info, opens, 32)                                                           \
        PIN(tshm_daemon_info, requests, 40)                                                        \
        PIN(tshm_daemon_info, uptime_ns, 48)                                                       \
        PIN(tshm_daemon_info, shm_free, 56)                                                        \
        PIN(tshm_daemon_info, pid, 64)                                                             \
        PIN(tshm_daemon_info, proto, 68)                                                           \
        PIN(tshm_daemon_info, reserved, 72)                                                        \
        SIZE(tshm_frame, 64)                                                                       \
        PIN(tshm_frame, data, 0)                                                                   \
        PIN(tshm_frame, seq, 8)                                                                    \
        PIN(tshm_frame, timestamp_ns, 16)                                                          \
        PIN(tshm_frame, missed, 24)                                                                \
        PIN(tshm_frame, reserved, 32)                                                              \
        SIZE(tshm_gc_entry, 424)                                                                   \
        PIN(tshm_gc_entry, object, 0)                                                              \
        PIN(tshm_gc_entry, reason, 256)                                                            \
        PIN(tshm_gc_entry, removed, 384)                                                           \
        PIN(tshm_gc_entry, reserved0, 388)                                                         \
        PIN(tshm_gc_entry, reserved, 392)                                                          \
        SIZE(tshm_sub_opts, 32)                                                                    \
        PIN(tshm_sub_opts, depth, 0)                                                               \
        PIN(tshm_sub_opts, start, 4)                                                               \
        PIN(tshm_sub_opts, reserved, 8)                                                            \
        SIZE(tshm_waitable, 48)                                                                    \
        PIN(tshm_waitable, seg, 0)                                                                 \
        PIN(tshm_waitable, sub, 8)                                                                 \
        PIN(tshm_waitable, after_seq, 16)                                                          \
        PIN(tshm_waitable, ready, 24)                                                              \
        PIN(tshm_waitable, reserved0, 28)                                                          \
        PIN(tshm_waitable, reserved, 32)                                                           \
        SIZE(tshm_tensor_spec, 24)                                                                 \
        PIN(tshm_tensor_spec, name, 0)                                                             \
        PIN(tshm_tensor_spec, dtype, 8)                                                            \
        PIN(tshm_tensor_spec, ndim, 12)                                                            \
        PIN(tshm_tensor_spec, shape, 16)                                                           \
        SIZE(tshm_tensor, 88)                                                                      \
        PIN(tshm_tensor, name, 0)                                                                  \
        PIN(tshm_tensor, name_len, 8)                                                              \
        PIN(tshm_tensor, dtype, 16)                                                                \
        PIN(tshm_tensor, ndim, 20)                                                                 \
        PIN(tshm_tensor, shape, 24)                                                                \
        PIN(tshm_tensor, data, 32)                                                                 \
        PIN(tshm_tensor, nbytes, 40)                                                               \
        PIN(tshm_tensor, offset, 48)                                                               \
        PIN(tshm_tensor, reserved, 56)                                                             \
        SIZE(tshm_group_opts, 56)                                                                  \
        PIN(tshm_group_opts, mode, 0)                                                              \
        PIN(tshm_group_opts, flags, 4)                                                             \
        PIN(tshm_group_opts, metadata, 8)                                                          \
        PIN(tshm_group_opts, metadata_len, 16)                                                     \
        PIN(tshm_group_opts, reserved, 24)                                                         \
        SIZE(tshm_mirror_info, 904)                                                                \
        PIN(tshm_mirror_info, name, 0)                                                             \
        PIN(tshm_mirror_info, remote, 201)                                                         \
        PIN(tshm_mirror_info, peer, 402)                                                           \
        PIN(tshm_mirror_info, incoming, 658)                                                       \
        PIN(tshm_mirror_info, stream, 659)                                                         \
        PIN(tshm_mirror_info, reserved0, 660)                                                      \
        PIN(tshm_mirror_info, state, 664)                                                          \
        PIN(tshm_mirror_info, sent, 672)                                                           \
        PIN(tshm_mirror_info, dropped, 680)                                                        \
        PIN(tshm_mirror_info, lag_ns, 688)                                                         \
        PIN(tshm_mirror_info, seq, 696)                                                            \
        PIN(tshm_mirror_info, reconnects, 704)                                                     \
        PIN(tshm_mirror_info, error, 712)                                                          \
        PIN(tshm_mirror_info, reserved, 872)

TSHM_ABI_LAYOUT(SIZE, PIN)

/* Every growing struct ends with a reserved tail, uint64_t[4] at first;
 * fields added later take from its front, so it only ever shrinks (here:
 * what is left of it). */
#define TAIL(type, n)                                                                              \
        _Static_assert(sizeof(((type *)0)->reserved) == (n) * sizeof(uint64_t),                    \
                       #type ": reserved tail is not uint64_t[" #n "]");                           \
        _Static_assert(offsetof(type, reserved) + sizeof(((type *)0)->reserved) == sizeof(type),   \
                       #type ": reserved is not the tail");
TAIL(tshm_info, 1) /* page_size and backing took 16 bytes, tensors 8 */
TAIL(tshm_stream_info, 4)
TAIL(tshm_daemon_info, 4)
TAIL(tshm_frame, 4)
TAIL(tshm_gc_entry, 4)
TAIL(tshm_sub_opts, 3) /* an input struct, born at 32 bytes */
TAIL(tshm_waitable, 2) /* an array element: 48 bytes, a tail of 2 from the start */
TAIL(tshm_tensor, 4)
TAIL(tshm_group_opts, 4) /* an input struct: the caller zeroes the tail */
TAIL(tshm_mirror_info, 4)

/* The header's kind byte stores tshm_seg_kind; the enum's values are layout. */
_Static_assert(TSHM_KIND_ARRAY == 0 && TSHM_KIND_STREAM == 1 && TSHM_KIND_GROUP == 2,
               "tshm_seg_kind renumbered");
/* tshm_mirror_info.state stores tshm_mirror_state: its values are ABI. */
_Static_assert(TSHM_MIRROR_CONNECTING == 0 && TSHM_MIRROR_LIVE == 1 && TSHM_MIRROR_STALE == 2 &&
                   TSHM_MIRROR_FAILED == 3,
               "tshm_mirror_state renumbered");
/* tshm_sub_opts.start stores tshm_sub_start: its values are ABI. */
_Static_assert(TSHM_SUB_NEXT == 0 && TSHM_SUB_NEWEST == 1, "tshm_sub_start renumbered");

START_TEST(test_abi_layout)
{
        size_t checked = 0;

#define RT_SIZE(type, n)                                                                           \
        ck_assert_uint_eq(sizeof(type), (n));                                                      \
        checked++;
#define RT_PIN(type, field, off)                                                                   \
        ck_assert_uint_eq(offsetof(type, field), (off));                                           \
        checked++;
        if (!TSHM_ABI_PINNED) {
                return;
        }
        TSHM_ABI_LAYOUT(RT_SIZE, RT_PIN)
        ck_assert_uint_eq(checked, 98);
}
END_TEST

int
main(void)
{
        Suite *s = suite_create("abi");

        tshm_test_case(s, "layout", 0, TSHM_TESTS(test_abi_layout));
        return tshm_test_run(s);
}
