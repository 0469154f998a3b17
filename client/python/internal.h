/*
 * internal.h - the CPython extension 'tshm': its objects and the helpers its
 * files share.
 *
 * Three object types carry a segment through Python:
 * - tshmpy_client (tshm.Client) owns a tshm_client and a lock.
 * - tshmpy_mapping (tshm._Mapping, private) owns one tshm_seg, that is one
 *   mapping. It is the base object of every view: ndarrays, DLPack capsules
 *   and tensors hold a reference to it, and it calls tshm_close() when the
 *   last reference goes. Nothing else ever unmaps a segment.
 * - tshmpy_segment (tshm.Segment) is what users hold. It refers to a mapping
 *   until seg.close(); memoryviews of it count as exports and keep the
 *   mapping until they are released.
 * References only point Segment -> Mapping -> Client, so there are no cycles
 * and none of these types needs the cyclic GC.
 */
#ifndef TSHMPY_INTERNAL_H
#define TSHMPY_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <sys/types.h>

#include "tshm.h"

/* Cast a METH_VARARGS | METH_KEYWORDS or METH_NOARGS function to the
 * PyCFunction that PyMethodDef stores; going through void (*)(void) keeps
 * -Wcast-function-type quiet, as CPython's own modules do. */
#define TSHMPY_METH(f) ((PyCFunction)(void (*)(void))(f))

/* Keyword lists are const; PyArg_ParseTupleAndKeywords() takes char ** up to
 * Python 3.12 and never writes through it. */
#define TSHMPY_KW(kwlist) ((char **)(kwlist))

typedef struct tshmpy_client {
        PyObject_HEAD tshm_client *c; /* NULL once closed (or detached after fork) */
        /* Serialises every libtshm call on c, and tshm_disconnect() against
         * tshm_close() of its segments from other threads: libtshm frees
         * the client in tshm_disconnect(), which must not race with a
         * tshm_close() that reads seg->client. Taken with the GIL released. */
        PyThread_type_lock lock;
        pid_t pid;        /* the process that connected; a fork child detaches */
        PyObject *socket; /* str: the socket path */
} tshmpy_client;

typedef struct tshmpy_mapping {
        PyObject_HEAD tshm_seg *seg; /* closed with tshm_close() in dealloc; NULL if private */
        tshm_sub *sub;               /* a subscriber's: seg is its, ended with tshm_sub_close() */
        tshm_group *group;           /* a group's: seg is its, ended with tshm_group_close() */
        tshmpy_client *client;       /* strong: serialises that tshm_close(); NULL if private */
        void *data;
        Py_ssize_t nbytes;
        bool writable;
        bool writing;   /* a tshm.Write is in progress on seg (publish.c) */
        bool indexed;   /* in the address index (mapping.c), taken out in dealloc */
        bool frame;     /* a private mapping of a frame's slot (subscriber.c) */
        double spin_us; /* as set through seg.spin_us; < 0: libtshm's default */
        pid_t pid;      /* the process that made it: a fork child's streams refuse */
        /* A private (copy-on-write) mapping of part of @parent, a read-only
         * mapping (tshmpy_mapping_new_private): seg, sub and client are
         * NULL, writable is true, and base/len are what to unmap. */
        struct tshmpy_mapping *parent; /* strong */
        void *priv_base;
        size_t priv_len;
        /* A subscriber's private mapping of its whole ring (subscriber.c):
         * per slot, whether a tensor was handed out over it since it was
         * last scrubbed (its pages may have been written). */
        uint8_t *dirty;
} tshmpy_mapping;

typedef struct tshmpy_segment {
        PyObject_HEAD tshmpy_mapping *map; /* NULL once closed and no memoryview is left */
        /* A read-only array segment's private copy-on-write mapping, made on
         * the first .torch() or __dlpack__ and shared by their tensors;
         * dropped at close (the tensors keep it). */
        tshmpy_mapping *cow;
        bool closed;
        Py_ssize_t exports; /* live Py_buffer exports (memoryviews) */
        PyObject *name;     /* str */
        tshm_dtype dtype;
        bool writable;
        int ndim;
        Py_ssize_t itemsize;
        Py_ssize_t nbytes;
        Py_ssize_t shape[TSHM_MAX_NDIM];
        Py_ssize_t strides[TSHM_MAX_NDIM]; /* bytes */
} tshmpy_segment;

extern PyTypeObject tshmpy_client_type;
extern PyTypeObject tshmpy_mapping_type;
extern PyTypeObject tshmpy_segment_type;
extern PyTypeObject tshmpy_stream_type;
extern PyTypeObject tshmpy_subscriber_type;
extern PyTypeObject tshmpy_loan_type;
extern PyTypeObject tshmpy_frame_type;
extern PyTypeObject tshmpy_group_type;

/* errors.c: the exception hierarchy, and raising a libtshm code. */
extern PyObject *tshmpy_Error, *tshmpy_NotFoundError, *tshmpy_ExistsError,
    *tshmpy_PermissionDeniedError, *tshmpy_ConnectError, *tshmpy_InvalidError, *tshmpy_ClosedError,
    *tshmpy_ReadOnlyError, *tshmpy_DtypeError, *tshmpy_NoSpaceError, *tshmpy_LimitError,
    *tshmpy_NoMemoryError, *tshmpy_TimeoutError, *tshmpy_TornError;
int tshmpy_errors_init(PyObject *module);
/* Raise the exception for libtshm code @rv with message "<strerror>: <detail>"
 * (just strerror when @detail is NULL or ""). Returns NULL. */
PyObject *tshmpy_err_code(int rv, const char *detail);
/* Raise @cls with a formatted message and .code = @code. Returns NULL. */
PyObject *tshmpy_err_fmt(PyObject *cls, int code, const char *fmt, ...);
/* True when the error set now is a tshm.ConnectError. */
bool tshmpy_err_is_connect(void);
/* Raise tshm.TornError "segment NAME: version SEQ is torn: DETAIL" with .seq
 * (None when @seq < 0) and .array (None when @array is NULL). Returns NULL. */
PyObject *tshmpy_err_torn(PyObject *name, int64_t seq, PyObject *array, const char *detail);

/* wait.c: timeouts, and blocking calls cut into slices that check signals. */
/* tshmpy_wait_sliced() returns this when a Python exception was raised. */
#define TSHMPY_RAISED INT64_MIN
typedef int64_t (*tshmpy_wait_fn)(void *arg, int timeout_ms);
uint64_t tshmpy_mono_ns(void);
/* A timeout in seconds: None (or NULL, or inf) gives -1 (forever); else a
 * number >= 0. Returns 0, or -1 with TypeError or InvalidError raised. */
int tshmpy_timeout_arg(PyObject *obj, double *ret_s);
/* The CLOCK_MONOTONIC deadline, in ns, @timeout_s from now (< 0: UINT64_MAX). */
uint64_t tshmpy_deadline(double timeout_s);
/* Call @fn(@arg, ms) with the GIL released, in slices of at most 100 ms,
 * while it returns TSHM_ETIMEDOUT and @deadline has not passed, running
 * PyErr_CheckSignals() between slices; a deadline already passed makes one
 * call with 0 ms. Returns fn's last result, or TSHMPY_RAISED. */
int64_t tshmpy_wait_sliced(tshmpy_wait_fn fn, void *arg, uint64_t deadline);
/* Raise tshm.TimeoutError "segment NAME: WHAT within T s". Returns NULL. */
PyObject *tshmpy_err_timeout(PyObject *name, const char *what, double timeout_s);
/* An int >= 0 for a sequence number; -1 with InvalidError raised else. */
int tshmpy_seq_arg(PyObject *obj, const char *what, uint64_t *ret_seq);

/* publish.c: seg.write(), seg.wait(), seg.snapshot() and their attributes. */
extern PyTypeObject tshmpy_write_type;
PyObject *tshmpy_publish_write(tshmpy_segment *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_publish_wait(tshmpy_segment *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_publish_snapshot(tshmpy_segment *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_publish_get_time(tshmpy_segment *self, void *closure);
PyObject *tshmpy_publish_get_spin(tshmpy_segment *self, void *closure);
int tshmpy_publish_set_spin(tshmpy_segment *self, PyObject *value, void *closure);

/* read.c: seg.read(), a consistent in-place read (tshm.Read). */
extern PyTypeObject tshmpy_read_type;
PyObject *tshmpy_read_new(tshmpy_segment *self, PyObject *args, PyObject *kwds);

/* client.c: tshm.Client, and the calls that make and remove arrays. */
PyObject *tshmpy_client_connect(const char *socket);
/* Take and drop self->lock; the first call may release the GIL while it
 * waits. */
void tshmpy_client_lock(tshmpy_client *self);
void tshmpy_client_unlock(tshmpy_client *self);
/* Create a segment (arguments already checked) and wrap it. */
PyObject *tshmpy_client_create(tshmpy_client *self, const char *name, tshm_dtype dtype, size_t ndim,
                               const uint64_t *shape, unsigned mode, unsigned flags);
/* The populate flag (TSHM_OPEN_POPULATE / _NOPOPULATE, which share their
 * values with TSHM_CREATE_*) for a `populate` argument: None (or absent)
 * leaves it to the size, else its truth. 0, or -1 with an exception. */
int tshmpy_client_populate_arg(PyObject *populate, unsigned *ret_flags);
/* Unlink @name, raising nothing: returns 0 or a TSHM_E* code. */
int tshmpy_client_unlink_quiet(tshmpy_client *self, const char *name);
/* In a child of fork(), forget the parent's connection without a word to the
 * daemon (the socket is shared with the parent). Called with self->lock. */
void tshmpy_client_detach_if_forked(tshmpy_client *self);
/* Lock @self for a call: 0, or -1 with ClosedError raised (ConnectError in a
 * child of fork()) and the lock not held. */
int tshmpy_client_begin(tshmpy_client *self);
/* Raise for the failed call @rv: copy the detail while the lock is still
 * held, then drop the lock. Returns NULL. */
PyObject *tshmpy_client_fail(tshmpy_client *self, int rv);
/* Parse a call's only argument, a segment name (@format: "O:method"), and
 * lock @self as tshmpy_client_begin() does. The name (borrowed from @args or
 * @kwds), or NULL with an exception raised and the lock not held. */
const char *tshmpy_client_begin_named(tshmpy_client *self, PyObject *args, PyObject *kwds,
                                      const char *format);
/* Open the segment named by @name_obj, which must be a stream when @stream,
 * else an array: the other kind is closed again and raises InvalidError.
 * The segment, or NULL with an exception raised; the lock is not held. */
tshm_seg *tshmpy_client_open_kind(tshmpy_client *self, PyObject *name_obj, bool writable,
                                  bool stream, unsigned populate);

/* client_stream.c: the Client calls that make a Stream or a Subscriber. */
extern const char tshmpy_client_stream_create_doc[], tshmpy_client_stream_open_doc[],
    tshmpy_client_sub_open_doc[];
PyObject *tshmpy_client_stream_create(tshmpy_client *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_client_stream_open(tshmpy_client *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_client_sub_open(tshmpy_client *self, PyObject *args, PyObject *kwds);

/* group.c: tshm.Group; client_group.c: the Client calls that make one. */
extern const char tshmpy_group_create_doc[], tshmpy_group_open_doc[];
/* group.c: the Group over @map (a group's mapping, stolen), describing its
 * tensors; NULL with an exception raised. */
PyObject *tshmpy_group_wrap(tshmpy_mapping *map);
/* A tensor name, as bytes: a str encoded UTF-8 with surrogateescape, or
 * bytes as they are. New reference, or NULL with TypeError raised. */
PyObject *tshmpy_group_name_bytes(PyObject *key);
PyObject *tshmpy_group_create(tshmpy_client *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_group_open(tshmpy_client *self, PyObject *args, PyObject *kwds);

/* client_mirror.c: Client.mirror(), mirror_stop() and mirrors(). */
extern const char tshmpy_client_mirror_doc[], tshmpy_client_mirror_stop_doc[],
    tshmpy_client_mirrors_doc[];
PyObject *tshmpy_client_mirror(tshmpy_client *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_client_mirror_stop(tshmpy_client *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_client_mirrors(tshmpy_client *self, PyObject *unused);

/* info.c: Client.list(), stat() and daemon_stat(). */
extern const char tshmpy_info_list_doc[], tshmpy_info_stat_doc[], tshmpy_info_daemon_stat_doc[];
PyObject *tshmpy_info_list(tshmpy_client *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_info_stat(tshmpy_client *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_info_daemon_stat(tshmpy_client *self, PyObject *unused);

/* args.c: the arguments of Client's calls. Each returns 0 (the name: a
 * pointer into @name), or -1 (NULL) with TypeError or InvalidError raised. */
const char *tshmpy_args_name(PyObject *name);
/* A shape given as an int, a sequence of ints, or a string "3x4". */
int tshmpy_args_shape(PyObject *obj, size_t *ret_ndim, uint64_t *ret_shape);
/* Permission bits: 0 to 0o777. */
int tshmpy_args_mode(int mode, unsigned *ret_mode);
/* Raise InvalidError for a shape libtshm refused (TSHM_EBADSHAPE), showing
 * the shape and dtype. Returns NULL. */
PyObject *tshmpy_args_shape_error(tshm_dtype dtype, size_t ndim, const uint64_t *shape);
/* 'block' or 'overwrite'. */
int tshmpy_args_policy(PyObject *obj, tshm_stream_policy *ret_policy);

/* mapping.c */
tshmpy_mapping *tshmpy_mapping_new(tshmpy_client *client, tshm_seg *seg);
/* A private, copy-on-write mapping of the bytes [@offset, @offset + @len)
 * of read-only @parent's data (a segment, or a frame's slot): writable, and
 * its writes stay in this process. NULL with an exception raised. */
tshmpy_mapping *tshmpy_mapping_new_private(tshmpy_mapping *parent, Py_ssize_t offset,
                                           Py_ssize_t len);
/* Enter @self in the index of mappings by address that _tshm._locate()
 * searches (array segments only: a stream's slots are reused). 0, or -1
 * with MemoryError raised. */
int tshmpy_mapping_index(tshmpy_mapping *self);
/* The mapping that tensors of the read-only mapping @map (@nbytes of data)
 * view: a private copy-on-write mapping of it, indexed, made on first use
 * and kept in *@slot for the owner's next tensors (one per handle) unless
 * the owner was closed meanwhile (*@owner_closed; the mmap releases the
 * GIL). @map must be held by the caller. A new reference; NULL with an
 * exception raised. */
tshmpy_mapping *tshmpy_mapping_cow(tshmpy_mapping *map, Py_ssize_t nbytes, tshmpy_mapping **slot,
                                   const bool *owner_closed);
/* _Mapping._locate(address, nbytes): which indexed mapping holds the range. */
PyObject *tshmpy_mapping_locate(PyObject *module, PyObject *args);
/* For a Stream, Subscriber, Loan or Frame: 0 in the process that made
 * @map, else -1 with ConnectError raised (a fork child must not move its
 * parent's cursor or loan). @what names the object for the message. */
int tshmpy_mapping_check_fork(tshmpy_mapping *map, const char *what, PyObject *name);
/* Import tshm._reduce and call its install() once (after torch was
 * imported), so that tensors over segments cross torch.multiprocessing
 * queues as references. 0, or -1 with an exception raised. */
int tshmpy_reduce_install(void);
/* The pickle reductions of the handles: (tshm._reduce.<@fn>, @args);
 * steals @args. NULL with an exception raised. */
PyObject *tshmpy_reduce_value(const char *fn, PyObject *args);
/* The mapping of a subscription, which it owns and ends (tshm_sub_close)
 * when the last reference goes; on failure @sub is ended at once. */
tshmpy_mapping *tshmpy_mapping_new_sub(tshmpy_client *client, tshm_sub *sub);
/* The mapping of a tensor group, which it owns and closes
 * (tshm_group_close: an unpublished group is removed then) when the last
 * reference goes; indexed by address. On failure @group is closed at once. */
tshmpy_mapping *tshmpy_mapping_new_group(tshmpy_client *client, tshm_group *group);

/* segment.c */
PyObject *tshmpy_segment_new(tshmpy_client *client, tshm_seg *seg);
/* A new object of @type (tshm.Segment, Stream or Subscriber, which share
 * tshmpy_segment as their struct) describing and holding @map; steals @map.
 * Stream and Subscriber reuse the Segment's getters, close and dealloc. */
PyObject *tshmpy_segment_wrap(PyTypeObject *type, tshmpy_mapping *map);
void tshmpy_segment_dealloc(tshmpy_segment *self);
PyObject *tshmpy_segment_close(tshmpy_segment *self, PyObject *unused);
PyObject *tshmpy_segment_enter(PyObject *self, PyObject *unused);
PyObject *tshmpy_segment_exit(tshmpy_segment *self, PyObject *args);
PyObject *tshmpy_segment_get_name(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_dtype(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_dtype_name(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_shape(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_strides(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_ndim(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_itemsize(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_nbytes(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_writable(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_closed(tshmpy_segment *self, void *closure);
PyObject *tshmpy_segment_get_seq(tshmpy_segment *self, void *closure);
/* __reduce__ of a Segment, Stream or Subscriber (see segment.c). */
PyObject *tshmpy_segment_reduce(tshmpy_segment *self, PyObject *unused);
/* The mapping of @self, or NULL with tshm.ClosedError raised. Borrowed. */
tshmpy_mapping *tshmpy_segment_mapping(tshmpy_segment *self);

/* stream.c: wrap a stream opened for producing (tshm.Stream, tshm.Loan),
 * and what subscriber.c shares. */
PyObject *tshmpy_stream_new(tshmpy_client *client, tshm_seg *seg);
/* Raise for a failed loan or take @rv that waited up to @timeout_s for
 * @what. Returns NULL. */
PyObject *tshmpy_stream_wait_error(tshmpy_segment *self, int64_t rv, const char *what,
                                   double timeout_s);
/* Parse the only argument of a call that waits, timeout=None (@format:
 * "|O:loan"), into *ret_timeout_s. The mapping of @self (borrowed), or NULL
 * with an exception raised. */
tshmpy_mapping *tshmpy_stream_wait_args(tshmpy_segment *self, PyObject *args, PyObject *kwds,
                                        const char *format, double *ret_timeout_s);
/* numpy($self, /, *, bfloat16_as_uint16=False) of a Loan or Frame: a new
 * ndarray over the slot @data of @map, which @desc describes. */
PyObject *tshmpy_stream_slot_numpy(tshmpy_segment *desc, tshmpy_mapping *map, void *data,
                                   PyObject *args, PyObject *kwds);
/* The doc of Stream.wait() and Subscriber.wait(). */
extern const char tshmpy_stream_wait_doc[];
/* The getters Stream and Subscriber share, for their PyGetSetDef tables. */
#define TSHMPY_STREAM_DESC_GETSET                                                                  \
        {"name", (getter)tshmpy_segment_get_name, NULL, "The stream's name (str).", NULL},         \
            {"dtype", (getter)tshmpy_segment_get_dtype, NULL,                                      \
             "A frame's element type (numpy dtype; V2 for bfloat16).", NULL},                      \
            {"dtype_name", (getter)tshmpy_segment_get_dtype_name, NULL,                            \
             "A frame's element type as tshm names it.", NULL},                                    \
            {"shape", (getter)tshmpy_segment_get_shape, NULL, "A frame's shape.", NULL},           \
            {"ndim", (getter)tshmpy_segment_get_ndim, NULL, "A frame's dimensions.", NULL},        \
            {"itemsize", (getter)tshmpy_segment_get_itemsize, NULL, "Bytes per element.", NULL},   \
            {"nbytes", (getter)tshmpy_segment_get_nbytes, NULL, "Bytes of one frame.", NULL},      \
            {"closed", (getter)tshmpy_segment_get_closed, NULL, "True once close() was called.",   \
             NULL},                                                                                \
            {"seq", (getter)tshmpy_segment_get_seq, NULL,                                          \
             "The stream's sequence counter: twice the number of frames published.", NULL},        \
            {"publish_time", (getter)tshmpy_publish_get_time, NULL,                                \
             "When the last frame was published (seconds since the epoch), or None.", NULL},       \
        {                                                                                          \
                "spin_us", (getter)tshmpy_publish_get_spin, (setter)tshmpy_publish_set_spin,       \
                    "How long waits on this handle spin before they sleep (us); None: the "        \
                    "default.",                                                                    \
                    NULL                                                                           \
        }

/* subscriber.c: wrap a subscription (tshm.Subscriber, tshm.Frame). */
PyObject *tshmpy_subscriber_new(tshmpy_client *client, tshm_sub *sub, uint32_t depth);

/* waitany.c: tshm.wait_any(), and the asyncio methods, which call into
 * tshm/_aio.py: Segment/Stream/Subscriber.wait_async() and
 * Subscriber.take_async() return its coroutines. */
extern const char tshmpy_waitany_doc[];
PyObject *tshmpy_waitany(PyObject *module, PyObject *args, PyObject *kwds);
PyObject *tshmpy_waitany_force_fallback(PyObject *module, PyObject *arg);
PyObject *tshmpy_waitany_wait_async(PyObject *self, PyObject *args, PyObject *kwds);
PyObject *tshmpy_waitany_take_async(PyObject *self, PyObject *args, PyObject *kwds);
/* The doc of wait_async() on Segment, Stream and Subscriber, and of
 * Subscriber.take_async(). */
extern const char tshmpy_waitany_wait_async_doc[], tshmpy_waitany_take_async_doc[];

/* numpy.c: everything that touches numpy's C API. */
int tshmpy_numpy_init(void);
/* The numpy dtype of @dtype (np.dtype('V2') for bfloat16). New reference. */
PyObject *tshmpy_numpy_dtype(tshm_dtype dtype);
/* An ndarray over @self's mapping, its base the mapping object; bfloat16
 * raises tshm.DtypeError unless @bf16_as_u16. */
PyObject *tshmpy_numpy_array(tshmpy_segment *self, bool bf16_as_u16);
/* A new C-contiguous ndarray of @self's dtype and shape, its own memory
 * (uninitialised) in *ret_data; bfloat16 as in tshmpy_numpy_array(). */
PyObject *tshmpy_numpy_empty(tshmpy_segment *self, bool bf16_as_u16, void **ret_data);
/* The same over @data (an array of @self's dtype and shape) inside @map,
 * which becomes the base; read-only when @map is. */
PyObject *tshmpy_numpy_view(tshmpy_segment *self, tshmpy_mapping *map, void *data,
                            bool bf16_as_u16);
/* @arr as @dtype (None: as it is), copied when @copy or when converted. */
PyObject *tshmpy_numpy_convert(PyObject *arr, PyObject *dtype, bool copy);
/* Parse a dtype given as a str, a numpy dtype or scalar type, or a torch
 * dtype. Returns 0, or -1 with tshm.InvalidError (ValueError) raised. */
int tshmpy_numpy_parse_dtype(PyObject *obj, tshm_dtype *ret_dtype);
/* A new segment @name through @client holding a copy of @array. */
PyObject *tshmpy_numpy_from_array(tshmpy_client *client, const char *name, PyObject *array,
                                  unsigned mode);

/* client/seg.c (libtshm's internals, linked in statically): private
 * copy-on-write mappings of a read-only segment's descriptor. */
int tshm__seg_map_private(tshm_seg *seg, uint64_t offset, uint64_t len, void **ret_base,
                          size_t *ret_len, void **ret_data);
void tshm__seg_unmap_private(void *base, size_t len);
int tshm__private_scrub(void *addr, size_t len);
extern bool tshm__keep_ro_fd;
int tshm__seg_ring(const tshm_seg *seg, uint32_t *ret_slots, uint64_t *ret_stride);

/* dlpack.c */
PyObject *tshmpy_dlpack_capsule(tshmpy_segment *self);
PyObject *tshmpy_dlpack_torch(tshmpy_segment *self);
/* Segment._torch_bytes(): a 1-d uint8 tensor over the whole segment
 * (private when read-only), for tshm._reduce. */
PyObject *tshmpy_dlpack_torch_bytes(tshmpy_segment *self, PyObject *unused);
/* A tensor over @data (one frame of @self's dtype and shape) in @map, which
 * it keeps alive; @map must be writable (a private mapping when the
 * segment is read-only). */
PyObject *tshmpy_dlpack_torch_view(tshmpy_segment *self, tshmpy_mapping *map, void *data);

#endif /* TSHMPY_INTERNAL_H */
