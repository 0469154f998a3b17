/*
 * tshm.h - the public C API of libtshm, the client library of tshmd.
 *
 * A process asks the daemon (tshmd) for a named shared-memory segment that
 * holds one N-dimensional array, receives the segment's file descriptor over
 * the daemon's Unix socket and maps it. From then on the array's bytes are the
 * same bytes in every process that opened it: no copy, and no daemon on the
 * data path.
 *
 * Conventions:
 * - Fallible calls return 0 (or a count) on success and a negative TSHM_E*
 *   code on failure; tshm_strerror() turns a code into a message, and
 *   tshm_errmsg() gives the detail of the last failure on a client.
 * - Out-parameters named ret_* are written only on success.
 * - Everything libtshm allocates for a caller is released by a tshm call.
 *
 * Versions: this header is libtshm 0.1.0, its first release, and every call
 * and type in it exists since 0.1.0. Anything added later is tagged with the
 * version that added it ("Since" and the release). TSHM_VERSION_* and tshm_version()
 * give the release; the SONAME (libtshm.so.0) is the ABI number, which moves
 * only on an ABI break.
 *
 * Growing structs: each public struct (tshm_info, tshm_stream_info,
 * tshm_daemon_info, tshm_frame, tshm_gc_entry) ends with a reserved tail,
 * uint64_t reserved[4], that libtshm fills with zeros; later fields take
 * their room from it, so the struct's size and every existing offset stay.
 * A 4-byte hole inside a struct is spelled out as uint32_t reserved0, zero
 * as well. tshm_sub_opts, which the caller fills, ends with uint64_t
 * reserved[3] that the caller zeroes (libtshm refuses other values, so a
 * later option can take one). tshm_waitable, which callers fill and pass in
 * arrays, has a shorter tail, uint64_t reserved[2], that callers zero.
 * tests/unit/test_abi.c pins every size and offset.
 *
 * Threads, handle by handle:
 * - tshm_client: every call on one client is serialised by a mutex inside
 *   it, so threads may share a client; tshm_errmsg() then reports the last
 *   failure of any thread. tshm_disconnect() may run while other threads
 *   close the client's segments and subscriptions (tshm_close(),
 *   tshm_sub_close()): the client's memory lives until the last of them is
 *   released. No other call on @c may run during or after
 *   tshm_disconnect(@c).
 * - tshm_seg: the accessors (tshm_seg_data(), _name, _shape, ...) read
 *   immutable fields and may be called from any thread, as may tshm_wait(),
 *   tshm_read_begin() and tshm_read_retry(). A handle carries one write
 *   (tshm_write_begin() .. _end()/_abort()) or, for a stream, one loan
 *   (tshm_stream_loan() .. _publish()/_discard()) at a time: threads that
 *   write concurrently each open their own handle. tshm_close() must not
 *   race other use of the same tshm_seg; it may race tshm_disconnect() of
 *   its client and calls on other handles.
 * - tshm_sub: one thread at a time per subscription (tshm_sub_take(),
 *   tshm_sub_release(), tshm_sub_release_frame(), tshm_sub_close()); threads
 *   that take concurrently each open their own. tshm_sub_close() may race
 *   tshm_disconnect() of its client, as tshm_close() may.
 * - The dtype, name, shape, error and version helpers are pure and
 *   thread-safe.
 */
#ifndef TSHM_H
#define TSHM_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TSHM_API __attribute__((visibility("default")))
#else
#define TSHM_API
#endif

#define TSHM_VERSION_MAJOR 0
#define TSHM_VERSION_MINOR 1
#define TSHM_VERSION_PATCH 0
#define TSHM_VERSION_HEX                                                                           \
        ((TSHM_VERSION_MAJOR << 16) | (TSHM_VERSION_MINOR << 8) | TSHM_VERSION_PATCH)

/* Limits shared by the API, the wire protocol and the segment header. */
#define TSHM_NAME_MAX 200 /* characters in a segment name, without the NUL */
#define TSHM_MAX_NDIM 32  /* dimensions of an array */
/* Tensor groups (tshm_group_create()): bytes of a tensor's name inside a
 * group (any bytes but NUL; tshm's tools write UTF-8), tensors in one
 * group, bytes of its metadata, and the alignment of every tensor's data
 * (from tshm_seg_data(), itself page-aligned). */
#define TSHM_GROUP_NAME_MAX 1024
#define TSHM_GROUP_MAX_TENSORS (1u << 20)
#define TSHM_GROUP_META_MAX (64u << 20)
#define TSHM_GROUP_ALIGN 64u

/*
 * Error codes. Codes that have an errno equivalent are -errno; tshm's own
 * take a block from -4000 downwards. The list is append-only: values are never
 * renumbered or reused, and the wire protocol carries the same integers.
 */
#define TSHM_ERRNO_MAP(X)                                                                          \
        X(EINVAL, -EINVAL, "invalid argument")                                                     \
        X(ENOENT, -ENOENT, "no segment with that name")                                            \
        X(EEXIST, -EEXIST, "a segment with that name already exists")                              \
        X(EACCES, -EACCES, "permission denied")                                                    \
        X(ENOSPC, -ENOSPC, "no space: shared-memory budget or /dev/shm exhausted")                 \
        X(ENOMEM, -ENOMEM, "out of memory")                                                        \
        X(ETIMEDOUT, -ETIMEDOUT, "timed out (waiting for the daemon, a publish or a writer)")      \
        X(ECONNRESET, -ECONNRESET, "connection to the daemon closed")                              \
        X(ENAMETOOLONG, -ENAMETOOLONG, "socket path too long")                                     \
        X(EBADF, -EBADF, "segment or client already closed")                                       \
        X(EIO, -EIO, "I/O error")                                                                  \
        X(EPROTO, -4001, "protocol violation")                                                     \
        X(EVERSION, -4002, "protocol version mismatch")                                            \
        X(EBADHDR, -4003, "segment header failed validation")                                      \
        X(EBADNAME, -4004,                                                                         \
          "bad segment name: 1-200 characters of [A-Za-z0-9._-], not starting with '.'")           \
        X(EBADDTYPE, -4005, "unknown dtype")                                                       \
        X(EBADSHAPE, -4006, "bad shape: at most 32 dimensions and a size that fits in memory")     \
        X(ETOOBIG, -4007, "message too large")                                                     \
        X(ELIMIT, -4008, "limit reached")                                                          \
        X(ENODAEMON, -4009, "cannot reach tshmd (is it running? start it with 'tshmd')")           \
        X(ENOTSUP, -4010, "operation not supported")                                               \
        X(ETORN, -4011, "torn data: a writer died or gave up in the middle of an update")

typedef enum tshm_errno {
#define TSHM_ERR_ENUM_(name, value, msg) TSHM_##name = (value),
        TSHM_ERRNO_MAP(TSHM_ERR_ENUM_)
#undef TSHM_ERR_ENUM_
} tshm_errno;

/* A static message for @err (a TSHM_E* code, or any negative errno); never
 * NULL. Thread-safe. */
TSHM_API const char *tshm_strerror(int err);

/* The symbolic name of @err, e.g. "ENOENT", or "UNKNOWN". */
TSHM_API const char *tshm_err_name(int err);

/* The library version as TSHM_VERSION_HEX and as "MAJOR.MINOR.PATCH", for a
 * run-time check against the header the caller was built with. */
TSHM_API unsigned tshm_version(void);
TSHM_API const char *tshm_version_string(void);

/*
 * Element types, named as NumPy names them. The numeric values are stored in
 * segment headers and are part of the layout: append-only.
 */
typedef enum tshm_dtype {
        TSHM_DTYPE_BOOL = 1,
        TSHM_DTYPE_INT8 = 2,
        TSHM_DTYPE_INT16 = 3,
        TSHM_DTYPE_INT32 = 4,
        TSHM_DTYPE_INT64 = 5,
        TSHM_DTYPE_UINT8 = 6,
        TSHM_DTYPE_UINT16 = 7,
        TSHM_DTYPE_UINT32 = 8,
        TSHM_DTYPE_UINT64 = 9,
        TSHM_DTYPE_FLOAT16 = 10,
        TSHM_DTYPE_BFLOAT16 = 11,
        TSHM_DTYPE_FLOAT32 = 12,
        TSHM_DTYPE_FLOAT64 = 13,
        TSHM_DTYPE_COMPLEX64 = 14,
        TSHM_DTYPE_COMPLEX128 = 15,
} tshm_dtype;

/* Parse a dtype spelled as NumPy spells it: a name ("float32", "bool") or an
 * array-interface type string ("<f4", "|b1", "=i8"; little-endian or
 * native only). Returns 0 and *ret_dtype, or TSHM_EBADDTYPE. */
TSHM_API int tshm_dtype_parse(const char *s, tshm_dtype *ret_dtype);

/* NumPy name ("float32"), type string ("<f4"; bfloat16 is "<V2"), and item
 * size in bytes of @dtype; NULL or 0 when @dtype is not a tshm_dtype. */
TSHM_API const char *tshm_dtype_name(tshm_dtype dtype);
TSHM_API const char *tshm_dtype_typestr(tshm_dtype dtype);
TSHM_API size_t tshm_dtype_itemsize(tshm_dtype dtype);

/* Check a segment name: 1-TSHM_NAME_MAX characters of [A-Za-z0-9._-], not
 * starting with '.'. Returns 0 or TSHM_EBADNAME. */
TSHM_API int tshm_name_check(const char *name);

/* Parse a shape written "3x4", "3,4", "7", or "" / "scalar" for a 0-d array.
 * Returns 0, the number of dimensions in *ret_ndim and the extents in
 * ret_shape[0..ndim), or TSHM_EBADSHAPE. @ret_shape must hold TSHM_MAX_NDIM
 * entries. */
TSHM_API int tshm_shape_parse(const char *s, size_t *ret_ndim, uint64_t *ret_shape);

/* The data size in bytes of an array of @dtype and @shape, checked for
 * overflow. Returns 0 and *ret_nbytes, or TSHM_EBADDTYPE / TSHM_EBADSHAPE.
 * */
TSHM_API int tshm_shape_nbytes(tshm_dtype dtype, size_t ndim, const uint64_t *shape,
                               uint64_t *ret_nbytes);

typedef struct tshm_client tshm_client;
typedef struct tshm_seg tshm_seg;

/* Connect to tshmd and perform the version handshake. @socket_path may be
 * NULL: then $TSHM_SOCKET, else $XDG_RUNTIME_DIR/tshm/tshm.sock if it exists,
 * else /run/tshm/tshm.sock. Returns 0 and a client in *ret_client (release it
 * with tshm_disconnect()), or TSHM_ENODAEMON (nobody listens there),
 * TSHM_ELIMIT (the daemon serves --max-clients connections already; it is
 * not asked again), TSHM_ENAMETOOLONG, TSHM_EVERSION, TSHM_ETIMEDOUT,
 * TSHM_ENOMEM. Blocks for one round trip, at most the client timeout (30 s,
 * or $TSHM_TIMEOUT_MS).
 * */
TSHM_API int tshm_connect(const char *socket_path, tshm_client **ret_client);

/* If the daemon goes away (it crashed or was restarted), the next call on a
 * client connects again by itself, backing off for up to about 1.3 s, and
 * then proceeds; only the call that was in flight fails (with
 * TSHM_ECONNRESET). Mappings are never affected. */

/* Close the connection and release @c. Segments and subscriptions opened
 * through @c stay mapped and usable (their calls that need the daemon fail
 * with TSHM_EBADF); tshm_close() and tshm_sub_close() still release them, and
 * may run on other threads at the same time as this call: @c's memory is
 * freed when the last of them and this call are done. No other call on @c
 * may follow. NULL is ignored. */
TSHM_API void tshm_disconnect(tshm_client *c);

/* The detail of the last failed call on @c (e.g. which limit was hit and by
 * how much), or "" when there is none. The string belongs to @c and is valid
 * until its next call. */
TSHM_API const char *tshm_errmsg(const tshm_client *c);

/* The socket path @c is connected to; owned by @c. */
TSHM_API const char *tshm_client_socket(const tshm_client *c);

/* Flags for tshm_create(). An ephemeral segment is removed when the
 * connection that created it closes (the process exits or is killed, or
 * tshm_disconnect()), or, if the daemon restarted meanwhile, once its
 * creator process is gone. Mappings keep working until unmapped. */
#define TSHM_CREATE_DEFAULT 0u
#define TSHM_CREATE_EPHEMERAL 1u
/* Map every page of the new segment now (TSHM_CREATE_POPULATE),
 * or leave them to fault in on first touch (TSHM_CREATE_NOPOPULATE); with
 * neither, a segment whose mapping is at most TSHM_POPULATE_AUTO_MAX bytes
 * is populated and a larger one is not. At most one of the two. See
 * tshm_seg_populate(). */
#define TSHM_CREATE_POPULATE 2u
#define TSHM_CREATE_NOPOPULATE 4u

/* The largest mapping that tshm_create() and tshm_open()
 * populate when their flags leave it to them (1 GiB). Up to this size a
 * caller that maps a segment usually goes on to touch all of it, and
 * populating it at once saves a page fault per 4 KiB page (about 1 ms per
 * MiB on a VM); above it, a caller more often wants a slice (a shard of a
 * larger tensor), and populating everything would cost the whole segment's
 * page tables, resident memory and time for bytes it never reads: it says
 * which bytes with tshm_seg_populate(). */
#define TSHM_POPULATE_AUTO_MAX (1ull << 30)

/* Create the segment @name holding a C-contiguous array of @dtype and
 * @shape (@ndim entries, 0 for a scalar), zero-filled, with permission bits
 * @mode (0 means 0600), and open it read-write. The daemon reserves every
 * page at once, so a full /dev/shm or budget is TSHM_ENOSPC here and never a
 * SIGBUS later. Returns 0 and a mapped segment in *ret_seg (release it with
 * tshm_close()), or TSHM_EBADNAME, TSHM_EBADDTYPE, TSHM_EBADSHAPE,
 * TSHM_EINVAL (bad mode or flags), TSHM_EEXIST, TSHM_ENOSPC, TSHM_ELIMIT,
 * TSHM_EBADHDR, TSHM_ENOMEM, or a connection error. Blocks for one round
 * trip. */
TSHM_API int tshm_create(tshm_client *c, const char *name, tshm_dtype dtype, size_t ndim,
                         const uint64_t *shape, unsigned mode, unsigned flags, tshm_seg **ret_seg);

/* Flags for tshm_open(). */
#define TSHM_OPEN_RDONLY 0u
#define TSHM_OPEN_RDWR 1u
/* Populate the whole mapping at open, or not; with neither,
 * as TSHM_CREATE_POPULATE describes (by size). At most one of the two. */
#define TSHM_OPEN_POPULATE 2u
#define TSHM_OPEN_NOPOPULATE 4u

/* Open the existing segment @name and map it, read-only unless @flags has
 * TSHM_OPEN_RDWR. A read-only segment is mapped from an O_RDONLY descriptor:
 * the kernel refuses writes. The mapping is populated as TSHM_OPEN_POPULATE
 * and TSHM_OPEN_NOPOPULATE say (by default: whole when it is at most
 * TSHM_POPULATE_AUTO_MAX bytes); populating happens in the caller, after
 * the daemon's reply and outside the client's lock, and is best effort: a
 * populate that fails for memory leaves the pages to fault in as usual and
 * the open succeeds (tshm_seg_populate() reports it). Returns 0 and a handle
 * in *ret_seg (release it with tshm_close()), or TSHM_EINVAL (bad flags),
 * TSHM_EBADNAME, TSHM_ENOENT, TSHM_EACCES, TSHM_ELIMIT, TSHM_EBADHDR,
 * TSHM_ENOMEM, or a connection error. Blocks for one round trip, and for
 * populating (about the time a read of every page would fault). */
TSHM_API int tshm_open(tshm_client *c, const char *name, unsigned flags, tshm_seg **ret_seg);

/* Unmap @seg, tell the daemon (when its client is still connected) and free
 * it. The data pointer is invalid afterwards. Safe against a concurrent
 * tshm_disconnect() of its client (see Threads at the top). Returns 0, or the error the
 * daemon reported (the segment is released all the same). NULL is ignored.
 * */
TSHM_API int tshm_close(tshm_seg *seg);

/* Remove the name @name at once: a new segment may take it, while existing
 * mappings keep working until they are closed. Only the owner (or root) may
 * unlink. Returns 0, TSHM_EBADNAME, TSHM_ENOENT, TSHM_EACCES, or a
 * connection error. */
TSHM_API int tshm_unlink(tshm_client *c, const char *name);

/* Set the permission bits of @name to @mode (at most 0777). Only the owner
 * or root may. Mappings already made keep their access; the bits decide the
 * opens that follow. Returns 0, TSHM_EBADNAME, TSHM_EINVAL, TSHM_ENOENT,
 * TSHM_EACCES, or a connection error. Blocks for one round trip. */
TSHM_API int tshm_chmod(tshm_client *c, const char *name, unsigned mode);

/* Leave an id unchanged in tshm_chown(). */
#define TSHM_ID_UNCHANGED UINT32_MAX

/* Change the owner and/or group of @name (TSHM_ID_UNCHANGED keeps one).
 * As chown(2): only root gives a segment to another user; the owner may set
 * any group it is a member of (primary or supplementary, as the kernel
 * reports them). Returns 0, TSHM_EBADNAME, TSHM_ENOENT, TSHM_EACCES, or a
 * connection error. Blocks for one round trip. */
TSHM_API int tshm_chown(tshm_client *c, const char *name, uint32_t uid, uint32_t gid);

/* Accessors. The data pointer stays valid until tshm_close(@seg). */
TSHM_API void *tshm_seg_data(const tshm_seg *seg);
TSHM_API const char *tshm_seg_name(const tshm_seg *seg);
TSHM_API tshm_dtype tshm_seg_dtype(const tshm_seg *seg);
TSHM_API size_t tshm_seg_ndim(const tshm_seg *seg);
/* @ndim extents; NULL-safe for a 0-d array (points at nothing to read). */
TSHM_API const uint64_t *tshm_seg_shape(const tshm_seg *seg);
/* @ndim strides in bytes (C-contiguous). */
TSHM_API const int64_t *tshm_seg_strides(const tshm_seg *seg);
TSHM_API uint64_t tshm_seg_nbytes(const tshm_seg *seg);
TSHM_API int tshm_seg_writable(const tshm_seg *seg);
/* The header's sequence counter, read with acquire order: the version last
 * published (even), or odd while a write is in progress. */
TSHM_API uint64_t tshm_seg_seq(const tshm_seg *seg);

/* Populate the page tables of bytes [@offset, @offset +
 * @length) of @seg's data (relative to tshm_seg_data(); for a stream, the
 * ring that starts there), so that touching them later takes no page fault:
 * for writing when @seg is writable, else for reading (MADV_POPULATE_WRITE /
 * _READ, Linux 5.14+; on older kernels each page is touched once, a write
 * being an atomic add of zero, so concurrent writers lose nothing). Whole
 * pages around the range are populated. Nothing is copied and no data
 * changes. Use it to say which slice of a large segment a consumer is about
 * to read. Returns 0 (also for @length 0), or TSHM_EINVAL (the range goes
 * beyond tshm_seg_nbytes(), or beyond the ring for a stream), TSHM_ENOMEM
 * (the kernel could not populate for memory, or the object is shorter than
 * its mapping: nothing was signalled, and the segment stays usable), or
 * another negative errno. Takes no lock and talks to no one; safe from any
 * thread while @seg is open. */
TSHM_API int tshm_seg_populate(tshm_seg *seg, uint64_t offset, uint64_t length);

/*
 * Publish and wait: the header's sequence counter is a seqlock. A writer
 * brackets an update with tshm_write_begin() and tshm_write_end(); while it
 * writes the counter is odd, and each finished update publishes the next even
 * number and wakes every waiter (a futex on the shared header: no daemon, no
 * socket). Readers either wait for a version (tshm_wait()) or check that what
 * they read in place was not being written meanwhile (tshm_read_begin() /
 * tshm_read_retry()). Counter values: 0 at creation, then 2, 4, 6, ...
 *
 * Writers are serialised by a lock word in the header, not a pthread mutex: a
 * writer that dies holding it (kill -9) is found dead by the next writer (its
 * thread no longer exists or is a zombie) or by the daemon (its process exited), which
 * break the lock; a writer that holds it longer than its lease
 * (TSHM_WRITE_LEASE_MS) may be broken too, and so may any holder a waiting
 * writer has seen hold it for that long, whatever its lease field says (the
 * lock word is in shared memory, and a forged one must not block writers for
 * good). The version it left half-written
 * is published as torn: tshm_read_retry() reports TSHM_ETORN for it until
 * the next complete write (tshm_wait() returns its number like any other). Writers and readers may
 * be threads of any process that has the segment mapped (writers need it writable).
 *
 * The counter is shared memory that any writer can store anything into. A
 * value above 2^62 is not a version a reader will return: every call that
 * returns a version number reports TSHM_ETORN for it instead (so a number
 * and an error never share the return value), and writers refuse to publish
 * on top of it (TSHM_ETORN); such a segment must be made again.
 *
 * Threads: a tshm_seg handle carries one write (or, for a stream, one loan)
 * at a time, and a tshm_sub one taken frame: threads that write or take
 * concurrently each use their own handle (tshm_open() it again). Waits and
 * reads may share a handle.
 */

/* How long a writer may hold the lock before another may break it. */
#define TSHM_WRITE_LEASE_MS 10000

/* Take the writer lock of @seg (waiting up to @timeout_ms, -1 forever) and
 * mark a write in progress (the counter goes odd). Returns 0, or TSHM_EACCES
 * (mapped read-only), TSHM_EINVAL (this handle is already writing, or @seg
 * is a stream: loan its slots), TSHM_ETIMEDOUT, TSHM_ENOENT (the segment was
 * unlinked), TSHM_ETORN (the counter is out of range: see above). A thread
 * that holds the lock through one handle and asks again through another
 * waits for its own lease: don't. */
TSHM_API int tshm_write_begin(tshm_seg *seg, int timeout_ms);

/* Publish the update begun on @seg: the counter becomes the next even number,
 * the lock is released and every waiter is woken. Returns the new sequence
 * number, or TSHM_EINVAL (no write begun), TSHM_ETORN (the lock was broken
 * meanwhile because the lease ran out: this update was published as torn).
 * */
TSHM_API int64_t tshm_write_end(tshm_seg *seg);

/* Give up the update begun on @seg: the version is published as torn (its
 * data may be half-written) and the lock released. Returns the torn
 * version's number, or TSHM_EINVAL (no write begun), TSHM_ETORN (the lock
 * was broken meanwhile). */
TSHM_API int64_t tshm_write_abort(tshm_seg *seg);

/* Wait until a version newer than @after_seq is published on @seg and
 * return its number (even, > @after_seq); at once if there is one. Waits up
 * to @timeout_ms (-1 forever; 0 just checks); spins up to the segment's spin
 * time first (tshm_seg_set_spin()), then sleeps on a futex. Signals and
 * spurious wake-ups do not end the wait early. Returns the number, or
 * TSHM_ETIMEDOUT, TSHM_ENOENT (the segment was unlinked, so nothing more will
 * be published), TSHM_ETORN (the counter is out of range). */
TSHM_API int64_t tshm_wait(tshm_seg *seg, uint64_t after_seq, int timeout_ms);

/* Start a consistent in-place read of @seg: waits (up to @timeout_ms, -1
 * forever) while a write is in progress and returns the stable version
 * number to pass to tshm_read_retry(), or TSHM_ETIMEDOUT (a writer did not
 * finish), TSHM_EINVAL (a stream: use tshm_sub_take()), TSHM_ETORN (the
 * counter is out of range). */
TSHM_API int64_t tshm_read_begin(const tshm_seg *seg, int timeout_ms);

/* End a read begun at version @seq: 0 if nothing was written meanwhile (the
 * bytes read are one whole version), 1 if a write overlapped (read again),
 * TSHM_ETORN if the version read is one a writer left half-written, or
 * TSHM_EINVAL for a stream. */
TSHM_API int tshm_read_retry(const tshm_seg *seg, uint64_t seq);

/* How long tshm_wait() and the stream calls on @seg spin before they sleep,
 * in ns (0: sleep at once). Spinning makes a wake-up about as fast as the
 * cache line moves, at the price of a busy core; the default is 0 on hosts
 * with fewer than 4 CPUs available to the process (a spin would steal the
 * writer's), else 50 us; $TSHM_SPIN_NS overrides it. With that default (no
 * call here, no $TSHM_SPIN_NS) and 2 CPUs or more online, a tshm_sub_take()
 * whose producer is mid-frame and a block-policy tshm_stream_loan() whose
 * slot is still held spin at least 10 us (tshm_wait(3), "Spinning"); a spin
 * time chosen here or in $TSHM_SPIN_NS, 0 included, is kept exactly. */
TSHM_API void tshm_seg_set_spin(tshm_seg *seg, uint64_t spin_ns);
/* The spin time of @seg, in ns. */
TSHM_API uint64_t tshm_seg_spin(const tshm_seg *seg);

/* The time the current version was published (CLOCK_REALTIME, ns since the
 * Unix epoch), 0 if none was. */
TSHM_API uint64_t tshm_seg_publish_ns(const tshm_seg *seg);

/*
 * Streams: a ring of @slots frames of one dtype and shape in one segment. A
 * producer loans the next slot, fills it in place and publishes it; each
 * subscriber takes frames in order, zero-copy, and releases them. The
 * stream's sequence counter is twice the number of frames published, so
 * tshm_wait() and tshm_seg_seq() work on a stream too.
 *
 * Policy, chosen at creation: TSHM_STREAM_BLOCK makes the producer wait (up
 * to its timeout) until the slowest live subscriber has released the frame a
 * slot held; TSHM_STREAM_OVERWRITE never makes it wait, and a subscriber
 * that fell behind skips to the oldest frame still there and is told how
 * many it missed. Subscribers may join (they start at the next frame
 * published, or the newest still in the ring) and leave at any time, and
 * may hold several frames at once (tshm_sub_open_opts()); the daemon drops the cursor of one
 * whose connection closes, so a subscriber killed with -9 stops holding the
 * producer back. Producers are serialised by the segment's writer lock, from
 * loan to publish (see publish and wait above).
 */
typedef enum tshm_stream_policy {
        TSHM_STREAM_BLOCK = 0,
        TSHM_STREAM_OVERWRITE = 1,
} tshm_stream_policy;

/* The most slots a stream may have, and subscribers it may have at once. */
#define TSHM_STREAM_MAX_SLOTS 65536
#define TSHM_STREAM_MAX_SUBS 64

/* Create the stream @name: @slots frames (2..TSHM_STREAM_MAX_SLOTS) of
 * @dtype and @shape, with @policy, @mode and @flags as in tshm_create(), and
 * open it for producing. Returns 0 and the stream in *ret_seg (a tshm_seg
 * whose data pointer is slot 0; release it with tshm_close()), or the errors
 * of tshm_create(). */
TSHM_API int tshm_stream_create(tshm_client *c, const char *name, tshm_dtype dtype, size_t ndim,
                                const uint64_t *shape, uint32_t slots, tshm_stream_policy policy,
                                unsigned mode, unsigned flags, tshm_seg **ret_seg);

/* Whether @seg is a stream (1) or an array (0). */
TSHM_API int tshm_seg_is_stream(const tshm_seg *seg);

/* Loan the next slot of the stream @seg (opened read-write) to fill: waits
 * for the writer lock and, under TSHM_STREAM_BLOCK, for the slot to be
 * released by every subscriber, up to @timeout_ms (-1 forever). Returns 0
 * and the slot's data (tshm_seg_nbytes() bytes, the frame's shape and
 * strides) in *ret_data, or TSHM_EACCES, TSHM_EINVAL (not a stream, or a
 * loan is already out on @seg), TSHM_ETIMEDOUT, TSHM_ENOENT (unlinked).
 * */
TSHM_API int tshm_stream_loan(tshm_seg *seg, int timeout_ms, void **ret_data);

/* Publish the loaned slot as the next frame, stamped with the time, and wake
 * subscribers. Returns the frame's number (1, 2, ...), or TSHM_EINVAL (no
 * loan), TSHM_ETORN (the lease ran out and the lock was broken: not
 * published). */
TSHM_API int64_t tshm_stream_publish(tshm_seg *seg);

/* Give the loaned slot back unpublished. Returns 0 or TSHM_EINVAL. */
TSHM_API int tshm_stream_discard(tshm_seg *seg);

typedef struct tshm_sub tshm_sub;

/* One frame a subscriber holds. A plain struct: its layout is part of the
 * ABI; libtshm writes the whole of it, reserved tail included. */
typedef struct tshm_frame {
        const void *data;      /* the slot: tshm_seg_nbytes() bytes, the frame's shape */
        uint64_t seq;          /* the frame's number, 1 for the first published */
        uint64_t timestamp_ns; /* CLOCK_REALTIME at publish, ns since the Unix epoch */
        uint64_t missed;       /* frames skipped just before this one (overwrite policy) */
        uint64_t reserved[4];  /* zero; later fields take from here */
} tshm_frame;

/* Subscribe to the stream @name (read permission needed), as
 * tshm_sub_open_opts() with no options: one frame held at a time, and the
 * first frame is the next one published. Returns 0 and *ret_sub (release it
 * with tshm_sub_close()), or TSHM_EBADNAME, TSHM_ENOENT, TSHM_EACCES,
 * TSHM_EINVAL (not a stream), TSHM_ELIMIT (TSHM_STREAM_MAX_SUBS reached), or a
 * connection error. */
TSHM_API int tshm_sub_open(tshm_client *c, const char *name, tshm_sub **ret_sub);

/* Where a subscriber's first frame is. */
typedef enum tshm_sub_start {
        TSHM_SUB_NEXT = 0,   /* the next frame published after it joined */
        TSHM_SUB_NEWEST = 1, /* the newest frame still in the ring, if one was
                              * published when it joined (else the next) */
} tshm_sub_start;

/* Options of tshm_sub_open_opts(). A plain struct: its layout is part of the
 * ABI; zero it, then set what you need (all zero: the defaults). */
typedef struct tshm_sub_opts {
        uint32_t depth;       /* frames held at once: 0 or 1 one, up to slots - 1 */
        uint32_t start;       /* tshm_sub_start */
        uint64_t reserved[3]; /* zero; later options take from here */
} tshm_sub_opts;

/* Subscribe to the stream @name with @opts (NULL: the defaults, so
 * tshm_sub_open(c, n, r) is tshm_sub_open_opts(c, n, NULL, r)).
 *
 * Depth: the subscriber may hold up to @opts->depth frames at once, taken in
 * order and released in any order (tshm_sub_release_frame()). Under
 * TSHM_STREAM_BLOCK the producer never reuses the slot of a frame any live
 * subscriber holds: it waits until the oldest frame held is released. Under
 * TSHM_STREAM_OVERWRITE a held frame whose slot the producer reused gives
 * TSHM_ETORN at its release. At most slots - 1 frames, so that a producer
 * always has a slot for the frame a subscriber waits for.
 *
 * Start: with TSHM_SUB_NEWEST the first frame taken is the newest one
 * published before the subscriber joined, if any was and it is still in
 * the ring (under the block policy it stays there: a producer that raced
 * the join moves it on to the newest frame then); under the overwrite
 * policy, if the producer reuses its slot before the first take, the take
 * moves on to the next frame still there, counted missed.
 *
 * Returns 0 and *ret_sub, or the errors of tshm_sub_open(), TSHM_EINVAL too
 * for a depth above slots - 1, a start not in tshm_sub_start, or a nonzero
 * reserved field. */
TSHM_API int tshm_sub_open_opts(tshm_client *c, const char *name, const tshm_sub_opts *opts,
                                tshm_sub **ret_sub);

/* Take the next frame, waiting up to @timeout_ms (-1 forever). The frame
 * stays valid (the producer does not reuse its slot under the block policy)
 * until it is released. Returns 0 and *ret_frame, or TSHM_EINVAL (the
 * subscriber holds its depth of frames already: one, unless
 * tshm_sub_open_opts() chose more), TSHM_ETIMEDOUT, TSHM_ENOENT (the stream
 * was unlinked and every frame was taken), TSHM_ECONNRESET (the daemon
 * dropped this subscription). */
TSHM_API int tshm_sub_take(tshm_sub *sub, int timeout_ms, tshm_frame *ret_frame);

/* Release the frame taken last that is still held (with depth 1: the frame
 * held). Returns 0, TSHM_EINVAL (none held), or TSHM_ETORN: under the
 * overwrite policy the producer reused the slot while it was held, so what
 * was read may be torn. */
TSHM_API int tshm_sub_release(tshm_sub *sub);

/* Release the held frame numbered @seq (tshm_frame.seq), whichever it is.
 * Returns 0, TSHM_EINVAL (@sub holds no frame @seq), or TSHM_ETORN as
 * tshm_sub_release(). */
TSHM_API int tshm_sub_release_frame(tshm_sub *sub, uint64_t seq);

/* The frames @sub holds now (taken and not released). */
TSHM_API uint32_t tshm_sub_held(const tshm_sub *sub);

/* The stream's mapping (dtype, shape, name, sequence counter). Owned by @sub. */
TSHM_API tshm_seg *tshm_sub_seg(const tshm_sub *sub);

/* Frames this subscriber missed so far (overwrite policy). */
TSHM_API uint64_t tshm_sub_missed(const tshm_sub *sub);

/* Leave the stream and free @sub. NULL is ignored. Returns 0 or a connection
 * error (the subscription is released all the same). */
TSHM_API int tshm_sub_close(tshm_sub *sub);

/*
 * Waiting on several segments and subscribers at once.
 */

/* The most items one tshm_wait_any() call takes (the kernel's limit for
 * futex_waitv(2)). */
#define TSHM_WAIT_ANY_MAX 128

/* One thing tshm_wait_any() waits for: set exactly one of @seg and @sub, and
 * zero the reserved fields (a designated initializer does). A plain struct:
 * its layout is part of the ABI (48 bytes). */
typedef struct tshm_waitable {
        tshm_seg *seg;        /* a segment or stream: ready when its sequence counter is past
                                 @after_seq (as tshm_wait()) */
        tshm_sub *sub;        /* or (seg NULL) a subscriber: ready when tshm_sub_take() would
                                 not wait */
        uint64_t after_seq;   /* for seg */
        uint32_t ready;       /* out: 1 if ready, else 0 */
        uint32_t reserved0;   /* zero */
        uint64_t reserved[2]; /* zero */
} tshm_waitable;

/* Wait until at least one of the @n items is ready, up to @timeout_ms (-1
 * forever; 0 only checks), and mark each item's @ready. An item is ready when
 * the call it stands for would return without waiting:
 * - @seg: tshm_wait(@seg, @after_seq, 0) would: a version newer than
 *   @after_seq is published, or the segment was unlinked (TSHM_ENOENT), or
 *   its counter is out of range (TSHM_ETORN);
 * - @sub: tshm_sub_take(@sub, 0, ...) would: a frame past the ones it took
 *   is published, or the stream was unlinked with every frame taken
 *   (TSHM_ENOENT), or the daemon dropped the subscription (TSHM_ECONNRESET).
 *   Ready is a hint under the overwrite policy: the producer may overwrite
 *   that frame before the take, which then waits for the next one; take with
 *   timeout 0 and wait again when it times out.
 * Make the call the item stands for to learn which of these it is. For a
 * @seg item give tshm_wait() a timeout, not 0: a writer may have begun the
 * next version since (the counter is odd), and tshm_wait() then waits for
 * that write to end.
 *
 * Returns the number of ready items (>= 1, each with @ready 1 and the others
 * 0), TSHM_ETIMEDOUT (every @ready 0), or TSHM_EINVAL (@items NULL, @n 0 or
 * above TSHM_WAIT_ANY_MAX, an item with both or neither of @seg and @sub or
 * with a reserved field not zero, or a @sub that holds its depth of frames,
 * so that a take would refuse: release one first; nothing is marked then), or a negative errno from
 * the futex call, which it does not expect.
 *
 * It looks at every item first, and returns at once if one is ready; else it
 * sleeps on the wake-up words of all of them at once with futex_waitv(2)
 * (Linux 5.16), so that a publish on any of them wakes it as fast as it
 * wakes tshm_wait(); it does not spin first. Where the kernel lacks
 * futex_waitv (ENOSYS, or EPERM from a seccomp filter that does not know
 * it), or $TSHM_WAIT_ANY_FALLBACK is set to 1, it sleeps
 * with futex(2) on the first item's word alone and looks at all of them
 * every millisecond: the first item wakes it at once, the others within
 * about 1 ms. Signals and spurious wake-ups do not end the wait early, and
 * it never returns TSHM_ETIMEDOUT before @timeout_ms has passed.
 *
 * The same segment or subscriber may appear in several items. A stream
 * opened read-only without subscribing costs one request to the daemon on
 * the first wait that sleeps, as tshm_wait() does. Thread safety: as
 * tshm_wait() for @seg items; a @sub item counts as a use of the
 * subscription (one thread at a time: no tshm_sub_take() on it meanwhile). */
TSHM_API int tshm_wait_any(tshm_waitable *items, size_t n, int timeout_ms);

/* What the daemon knows of a stream. A plain struct: its layout is part of
 * the ABI. */
typedef struct tshm_stream_info {
        uint32_t slots;
        uint32_t policy;      /* tshm_stream_policy */
        uint32_t subscribers; /* live subscriptions */
        uint32_t reserved0;   /* zero; padding a later 32-bit field may take */
        uint64_t frames;      /* frames published so far */
        uint64_t reserved[4]; /* zero; later fields take from here */
} tshm_stream_info;

/* Describe the stream @name. Returns 0 and *ret_info, or TSHM_EBADNAME,
 * TSHM_ENOENT, TSHM_EACCES (the caller may not read it), TSHM_EINVAL (not a
 * stream), or a connection error. */
TSHM_API int tshm_stream_stat(tshm_client *c, const char *name, tshm_stream_info *ret_info);

/* What a segment is: tshm_info.kind. The values are those of the kind byte
 * of the segment header (PROTOCOL.md): append-only. */
typedef enum tshm_seg_kind {
        TSHM_KIND_ARRAY = 0,  /* one array (tshm_create()) */
        TSHM_KIND_STREAM = 1, /* a ring of frames (tshm_stream_create()) */
        TSHM_KIND_GROUP = 2,  /* named tensors (tshm_group_create()) */
} tshm_seg_kind;

/* What memory holds a segment: tshm_info.backing. The daemon puts every
 * segment in one directory, /dev/shm or its --shm-dir (tshmd(8)). Append-only. */
typedef enum tshm_backing {
        TSHM_BACKING_TMPFS = 0,      /* a tmpfs with base pages (/dev/shm on most hosts) */
        TSHM_BACKING_TMPFS_HUGE = 1, /* a tmpfs mounted with huge=within_size or always */
        TSHM_BACKING_HUGETLBFS = 2,  /* hugetlbfs: pages an admin reserved; every object is
                                        a whole number of them (tshm_info.size) */
} tshm_backing;

/* The name of @backing as `tshm info` and `tshm ls --json` spell it:
 * "tmpfs", "tmpfs-huge" or "hugetlbfs"; NULL when it is not a tshm_backing. */
TSHM_API const char *tshm_backing_name(uint32_t backing);

/* What the daemon knows of one segment. A plain struct: its layout is part of
 * the ABI (SOVERSION). */
typedef struct tshm_info {
        char name[TSHM_NAME_MAX + 1];
        tshm_dtype dtype;
        uint32_t ndim;
        uint32_t reserved0; /* zero; padding a later 32-bit field may take */
        uint64_t shape[TSHM_MAX_NDIM];
        uint64_t nbytes;      /* data bytes */
        uint64_t size;        /* bytes of the shm object: header plus data */
        uint32_t owner_uid;   /* uid of the creator */
        uint32_t owner_gid;   /* its group */
        uint32_t mode;        /* permission bits, e.g. 0600 */
        uint32_t opens;       /* open handles, all connections together */
        uint64_t created_ns;  /* creation time, ns since the Unix epoch */
        uint32_t flags;       /* creation flags: TSHM_CREATE_EPHEMERAL or 0 */
        uint32_t kind;        /* tshm_seg_kind; a stream's tshm_stream_stat() says more */
        uint64_t page_size;   /* bytes of the pages behind it (0: a daemon that does not say) */
        uint32_t backing;     /* tshm_backing */
        uint32_t reserved1;   /* zero; padding a later 32-bit field may take */
        uint64_t tensors;     /* a group's tensors (kind TSHM_KIND_GROUP), else 0 */
        uint64_t reserved[1]; /* zero; later fields take from here */
} tshm_info;

/* Describe the segment @name. Returns 0 and *ret_info, or TSHM_EBADNAME,
 * TSHM_ENOENT, TSHM_EACCES (the caller may not read it: only root, the owner
 * and those its mode lets read see a segment's metadata), or a connection
 * error. */
TSHM_API int tshm_stat(tshm_client *c, const char *name, tshm_info *ret_info);

/* List every segment the caller may read (root and owners see all of
 * theirs) whose name starts with @prefix (NULL or "": every one), oldest
 * first; the daemon filters, so a prefix costs no more than what it
 * matches. Returns 0, an array of *ret_count entries in *ret_infos (free it
 * with tshm_list_free(); NULL when there are none), or TSHM_EBADNAME (a
 * prefix no name could start with: a character names do not take, a
 * leading '.', or longer than TSHM_NAME_MAX), TSHM_ENOMEM or a connection
 * error. Fetches pages of up to 4096 entries, one round trip each. */
TSHM_API int tshm_list(tshm_client *c, const char *prefix, tshm_info **ret_infos,
                       size_t *ret_count);
TSHM_API void tshm_list_free(tshm_info *infos);

/* The daemon's counters. A plain struct: its layout is part of the ABI. */
typedef struct tshm_daemon_info {
        uint64_t segments;    /* named segments */
        uint64_t bytes;       /* bytes charged to the budget (unlinked but mapped included) */
        uint64_t max_bytes;   /* the budget, 0 for none */
        uint64_t clients;     /* connected clients */
        uint64_t opens;       /* open handles */
        uint64_t requests;    /* requests served since start */
        uint64_t uptime_ns;   /* time since start */
        uint64_t shm_free;    /* free bytes of the file system under /dev/shm */
        uint32_t pid;         /* the daemon's pid */
        uint32_t proto;       /* its protocol version */
        uint64_t reserved[4]; /* zero; later fields take from here */
} tshm_daemon_info;

/* Fetch the daemon's counters: the daemon's own tshm_stat() (tshm_stat()
 * fills a tshm_info, tshm_stream_stat() a tshm_stream_info, and this a
 * tshm_daemon_info). Returns 0 and *ret_info, or a connection
 * error. */
TSHM_API int tshm_daemon_stat(tshm_client *c, tshm_daemon_info *ret_info);

/* One stale object under the daemon's prefix in /dev/shm. A plain struct:
 * its layout is part of the ABI. */
typedef struct tshm_gc_entry {
        char object[256];     /* its shm name, e.g. "/tshm.frames" */
        char reason[128];     /* why it is stale */
        int removed;          /* 1 if this call removed it */
        uint32_t reserved0;   /* zero; padding a later 32-bit field may take */
        uint64_t reserved[4]; /* zero; later fields take from here */
} tshm_gc_entry;

/* Find what is stale under the daemon's prefix: objects it does not know
 * (no valid header, or one naming another segment) and ephemeral segments
 * whose creator is gone and that nobody has open. With @remove, remove them;
 * else only report (a dry run). Only root or the daemon's own user may.
 * Returns 0 and an array of *ret_count entries in *ret_entries (free it with
 * tshm_gc_free(); NULL when there are none; at most 4096 a call), or
 * TSHM_EACCES, TSHM_ENOMEM or a connection error. */
TSHM_API int tshm_gc(tshm_client *c, int remove, tshm_gc_entry **ret_entries, size_t *ret_count);
TSHM_API void tshm_gc_free(tshm_gc_entry *entries);

/*
 * Tensor groups: many named tensors (each its own dtype and shape) in one
 * segment, such as a model's weights. A group is made unpublished: nobody
 * else can open, stat or list it (its name is taken, though: a create of
 * the same name is TSHM_EEXIST) while its creator fills it through the
 * handle tshm_group_create() returns. tshm_group_publish() makes it
 * visible in one step, complete; a group never published is removed when
 * that handle closes or its creator's connection ends (exit, crash,
 * kill -9). A daemon restarted meanwhile removes what was left unpublished.
 *
 * The segment starts with a table of contents (PROTOCOL.md section 10),
 * which the daemon validates at publish and every reader validates again,
 * on a private copy, when it opens the group: a writer who rewrites the
 * table cannot make a reader go out of bounds. Tensors are C-contiguous,
 * each at an offset aligned to TSHM_GROUP_ALIGN. Permissions, budgets,
 * gc, restarts and the resize guard treat a group as any other segment;
 * tshm_open() of a group maps it as its bytes (uint8, one dimension).
 *
 * Threads: as a tshm_seg (the accessors below read the private copy of the
 * table: any thread).
 */
typedef struct tshm_group tshm_group;

/* One tensor to make: tshm_group_create()'s input. */
typedef struct tshm_tensor_spec {
        const char *name; /* NUL-terminated, 1..TSHM_GROUP_NAME_MAX bytes */
        tshm_dtype dtype;
        uint32_t ndim;         /* 0..TSHM_MAX_NDIM */
        const uint64_t *shape; /* @ndim extents (NULL for 0-d) */
} tshm_tensor_spec;

/* One tensor of a group, as tshm_group_tensor() describes it. Pointers
 * stay valid until tshm_group_close(). */
typedef struct tshm_tensor {
        const char *name; /* NUL-terminated, owned by the group */
        size_t name_len;  /* bytes, without the NUL */
        tshm_dtype dtype;
        uint32_t ndim;
        const uint64_t *shape; /* @ndim extents */
        void *data;            /* its first byte (aligned to TSHM_GROUP_ALIGN) */
        uint64_t nbytes;       /* C-contiguous: the product of the extents times the item size */
        uint64_t offset;       /* @data - tshm_seg_data() of the group's segment */
        uint64_t reserved[4];  /* zero */
} tshm_tensor;

/* Options of tshm_group_create(); zero them first (a later option takes
 * from @reserved, which must stay zero). */
typedef struct tshm_group_opts {
        unsigned mode;        /* permission bits; 0: 0600 */
        unsigned flags;       /* TSHM_CREATE_EPHEMERAL, _POPULATE, _NOPOPULATE */
        const void *metadata; /* stored verbatim, at most TSHM_GROUP_META_MAX bytes */
        size_t metadata_len;  /* (tshm's tools store a JSON object: see tshm-load(1)) */
        uint64_t reserved[4];
} tshm_group_opts;

/* Make the unpublished group @name holding @count tensors described by
 * @tensors (names distinct), zero-filled, and open it read-write: fill the
 * tensors (tshm_group_tensor()) and call tshm_group_publish(). @opts may be
 * NULL (defaults). The daemon reserves every page now, as tshm_create()
 * does. Returns 0 and the group in *ret_group (release it with
 * tshm_group_close()), or TSHM_EINVAL (no tensors is fine; a bad option,
 * a name empty, too long or repeated, metadata too large), TSHM_EBADNAME,
 * TSHM_EBADDTYPE, TSHM_EBADSHAPE, TSHM_EEXIST, TSHM_ENOSPC, TSHM_ELIMIT,
 * TSHM_ENOMEM, or a connection error. */
TSHM_API int tshm_group_create(tshm_client *c, const char *name, const tshm_tensor_spec *tensors,
                               size_t count, const tshm_group_opts *opts, tshm_group **ret_group);

/* Publish @group (made by tshm_group_create() through this handle): the
 * daemon validates its table of contents and makes it visible to open,
 * stat and list, whole. The handle stays open and writable. Returns 0, or
 * TSHM_EINVAL (already published, or not made by this handle), TSHM_EBADHDR
 * (the table of contents was overwritten: tshm_errmsg() says how; the group
 * stays unpublished), or a connection error. */
TSHM_API int tshm_group_publish(tshm_group *group);

/* Open the published group @name, read-only unless @flags has
 * TSHM_OPEN_RDWR (flags as tshm_open()), and validate a private copy of
 * its table of contents. Returns 0 and the group in *ret_group, or the
 * errors of tshm_open(), TSHM_EINVAL (@name is not a group), TSHM_EBADHDR
 * (its table of contents fails validation). */
TSHM_API int tshm_group_open(tshm_client *c, const char *name, unsigned flags,
                             tshm_group **ret_group);

/* Unmap and release @group (an unpublished one is removed). Returns as
 * tshm_close(). NULL is ignored. */
TSHM_API int tshm_group_close(tshm_group *group);

/* The number of tensors of @group. */
TSHM_API size_t tshm_group_count(const tshm_group *group);

/* Describe tensor @index (0..count-1, in the order they were given to
 * tshm_group_create()) into *ret_tensor. Returns 0 or TSHM_EINVAL. */
TSHM_API int tshm_group_tensor(const tshm_group *group, size_t index, tshm_tensor *ret_tensor);

/* Find the tensor named @name (exact bytes; a binary search) and describe
 * it. Returns its index (>= 0), or TSHM_ENOENT. */
TSHM_API int64_t tshm_group_find(const tshm_group *group, const char *name,
                                 tshm_tensor *ret_tensor);

/* The group's metadata (NULL and 0 when it has none); valid until
 * tshm_group_close(). */
TSHM_API const void *tshm_group_metadata(const tshm_group *group, size_t *ret_len);

/* The segment under @group (its name, bytes, tshm_seg_populate(), the
 * sequence counter), owned by @group: not to be closed on its own. */
TSHM_API tshm_seg *tshm_group_seg(const tshm_group *group);

/* Whether @group has been published (1) or not yet (0). */
TSHM_API int tshm_group_published(const tshm_group *group);

/*
 * Mirrors: keep a copy of a segment or stream in step on another host's
 * tshmd, over UCX (docs/remote.md). The local daemon sends each new
 * version (an array: the newest whole one; a stream: every frame, as its
 * policy says) to a peer daemon listening with --peer-listen; both share a
 * secret (--peer-secret). The copy on the peer has the same dtype, shape
 * and stream geometry, is owned by the uid the peer configures
 * (--peer-uid), and is read-only for everyone there.
 */

/* The longest "HOST:PORT" of a peer, without the NUL. */
#define TSHM_PEER_MAX 255

/* A mirror's state. */
typedef enum tshm_mirror_state {
        TSHM_MIRROR_CONNECTING = 0, /* connecting, authenticating or opening the copy */
        TSHM_MIRROR_LIVE = 1,       /* in step: each new version is sent */
        TSHM_MIRROR_STALE = 2,      /* the link or the other daemon is down: retrying
                                       (out), or the copy no longer follows (in) */
        TSHM_MIRROR_FAILED = 3,     /* refused for good (see error): not retried */
} tshm_mirror_state;

/* One mirror, as tshm_mirror_list() reports it. A plain struct: its layout
 * is part of the ABI. */
typedef struct tshm_mirror_info {
        char name[TSHM_NAME_MAX + 1];   /* the segment on this host */
        char remote[TSHM_NAME_MAX + 1]; /* its name on the other host */
        char peer[TSHM_PEER_MAX + 1];   /* out: the peer's HOST:PORT; in: the sender's address */
        uint8_t incoming;               /* 0: this daemon sends @name; 1: @name is a copy it
                                           receives */
        uint8_t stream;                 /* 1 if a stream */
        uint16_t reserved0;             /* zero */
        uint32_t state;                 /* tshm_mirror_state */
        uint64_t sent;                  /* versions or frames sent (out) or published here (in) */
        uint64_t dropped;               /* versions skipped or frames missed on the way */
        uint64_t lag_ns;                /* out: how long the newest version has waited to
                                           reach the peer (0: in step); in: from the last
                                           one's publish at the source to its publish here
                                           (by the two hosts' clocks) */
        uint64_t seq;                   /* the source's sequence number last sent or received */
        uint64_t reconnects;            /* times the link was set up again */
        char error[160];                /* why it is stale or failed, "" if not */
        uint64_t reserved[4];           /* zero */
} tshm_mirror_info;

/* Keep @remote (NULL: @name) on the peer daemon at @peer ("HOST:PORT";
 * HOST a name or an address, [v6] in brackets) in step with @name. The
 * caller needs read access to @name; the mirror lives in the daemon (it
 * outlives this client and the daemon's restarts) until tshm_mirror_stop().
 * Returns 0 once the daemon has taken it on (the link comes up in the
 * background: see tshm_mirror_list()), or TSHM_ENOENT, TSHM_EACCES,
 * TSHM_EEXIST (@name is mirrored already), TSHM_EINVAL (a bad @peer: not
 * 1 to TSHM_PEER_MAX bytes of printable ASCII without spaces, refused
 * here, or one the daemon cannot parse), TSHM_EBADNAME (@name or
 * @remote), TSHM_ENOTSUP (the daemon has no --peer-secret, or was built
 * without UCX), TSHM_ELIMIT, or a connection error. Blocks for one round
 * trip; like every call on @c, safe from several threads. */
TSHM_API int tshm_mirror_start(tshm_client *c, const char *name, const char *peer,
                               const char *remote);

/* Stop mirroring @name (its copy on the peer stays, marked stale there).
 * The caller needs read access to @name, or to be root or the daemon's
 * user. Returns 0, TSHM_ENOENT (no mirror of @name, or no segment @name
 * for a caller who is neither), TSHM_EACCES, TSHM_EBADNAME, TSHM_ENOTSUP
 * (mirrors are off), or a connection error. Blocks for one round trip. */
TSHM_API int tshm_mirror_stop(tshm_client *c, const char *name);

/* The daemon's mirrors, both ways (only those of segments the caller may
 * read). Returns 0 and an array of *ret_count entries in *ret_mirrors
 * (free it with tshm_mirror_list_free(); NULL when there are none, also
 * when mirrors are off), or TSHM_ENOMEM or a connection error (a daemon
 * that predates mirrors answers TSHM_EPROTO to all three calls and closes
 * the connection). Blocks for one round trip. */
TSHM_API int tshm_mirror_list(tshm_client *c, tshm_mirror_info **ret_mirrors, size_t *ret_count);
TSHM_API void tshm_mirror_list_free(tshm_mirror_info *mirrors);

/* The name of a tshm_mirror_state ("connecting", "live", "stale",
 * "failed"), or NULL. */
TSHM_API const char *tshm_mirror_state_name(uint32_t state);

#ifdef __cplusplus
}
#endif
#endif /* TSHM_H */
