/*
 * client_stream.c - tshm.Client's calls that make stream handles:
 * stream_create() and stream_open() give a producer's tshm.Stream,
 * sub_open() a tshm.Subscriber (stream.c, subscriber.c).
 */
#include "internal.h"

const char tshmpy_client_stream_create_doc[] =
    PyDoc_STR("stream_create($self, /, name, shape, dtype='float32', *, slots=4, policy='block',\n"
              "              mode=0o600, ephemeral=False)\n--\n\n"
              "Create the stream `name`: a ring of `slots` (2-65536) frames of `dtype` and\n"
              "`shape` (as for create()) in one segment, and return its producer handle, a\n"
              "tshm.Stream. `policy`: 'block' makes stream.loan() wait until the slowest\n"
              "subscriber released the frame a slot held; 'overwrite' never waits, and a\n"
              "subscriber that fell behind skips to the oldest frame still there\n"
              "(Frame.missed). `ephemeral`: the stream is removed when this connection\n"
              "closes. Raises as create() does.");

PyObject *
tshmpy_client_stream_create(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name",   "shape", "dtype",     "slots",
                                             "policy", "mode",  "ephemeral", NULL};
        PyObject *name_obj, *shape_obj, *dtype_obj = NULL, *policy_obj = NULL;
        uint64_t shape[TSHM_MAX_NDIM];
        tshm_stream_policy policy = TSHM_STREAM_BLOCK;
        tshm_dtype dtype = TSHM_DTYPE_FLOAT32;
        tshm_seg *seg = NULL;
        size_t ndim = 0;
        const char *name;
        unsigned mode;
        int imode = 0600, slots = 4, ephemeral = 0, rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O$iOip:stream_create", TSHMPY_KW(kwlist),
                                         &name_obj, &shape_obj, &dtype_obj, &slots, &policy_obj,
                                         &imode, &ephemeral) ||
            (name = tshmpy_args_name(name_obj)) == NULL ||
            tshmpy_args_shape(shape_obj, &ndim, shape) < 0 ||
            (dtype_obj != NULL && tshmpy_numpy_parse_dtype(dtype_obj, &dtype) < 0) ||
            (policy_obj != NULL && tshmpy_args_policy(policy_obj, &policy) < 0) ||
            tshmpy_args_mode(imode, &mode) < 0) {
                return NULL;
        }
        if (slots < 2 || slots > TSHM_STREAM_MAX_SLOTS) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "slots must be between 2 and %d, not %d",
                                      TSHM_STREAM_MAX_SLOTS, slots);
        }
        if (tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv =
            tshm_stream_create(self->c, name, dtype, ndim, shape, (uint32_t)slots, policy, mode,
                               ephemeral ? TSHM_CREATE_EPHEMERAL : TSHM_CREATE_DEFAULT, &seg);
        Py_END_ALLOW_THREADS if (rv == TSHM_EBADSHAPE)
        {
                /* libtshm's detail writes the shape as C does (3x4); show
                 * it as the tuple the caller passed. */
                tshmpy_client_unlock(self);
                return tshmpy_args_shape_error(dtype, ndim, shape);
        }
        if (rv < 0) {
                return tshmpy_client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        return tshmpy_stream_new(self, seg);
}

const char tshmpy_client_stream_open_doc[] =
    PyDoc_STR("stream_open($self, /, name, writable=True)\n--\n\n"
              "Open the existing stream `name` as a producer (a tshm.Stream), e.g. to take\n"
              "over from a producer that died: its half-filled slot is never published.\n"
              "writable=False gives a handle for .seq and .wait() only. InvalidError for an\n"
              "array.");

PyObject *
tshmpy_client_stream_open(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "writable", NULL};
        PyObject *name_obj;
        tshm_seg *seg;
        int writable = 1;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:stream_open", TSHMPY_KW(kwlist),
                                         &name_obj, &writable) ||
            (seg = tshmpy_client_open_kind(self, name_obj, writable, true, 0)) == NULL) {
                return NULL;
        }
        return tshmpy_stream_new(self, seg);
}

const char tshmpy_client_sub_open_doc[] =
    PyDoc_STR("sub_open($self, /, name, *, depth=1, start='next')\n--\n\n"
              "Subscribe to the stream `name` (read permission needed) and return a\n"
              "tshm.Subscriber. `depth`: how many frames it may hold at once (1 up to the\n"
              "stream's slots - 1), taken in order and released in any order; under 'block'\n"
              "the producer waits until the oldest frame held is released. `start`: 'next'\n"
              "(the first frame is the next one published) or 'newest' (the newest frame\n"
              "still in the ring, if one was published; else the next). Raises\n"
              "NotFoundError, PermissionDeniedError, InvalidError (an array, not a stream;\n"
              "a depth above slots - 1), LimitError (64 subscribers already), ConnectError.");

/* The start= argument: 'next' or 'newest'. */
static int
client_sub_start_arg(PyObject *obj, uint32_t *ret_start)
{
        if (PyUnicode_Check(obj) && PyUnicode_CompareWithASCIIString(obj, "next") == 0) {
                *ret_start = TSHM_SUB_NEXT;
                return 0;
        }
        if (PyUnicode_Check(obj) && PyUnicode_CompareWithASCIIString(obj, "newest") == 0) {
                *ret_start = TSHM_SUB_NEWEST;
                return 0;
        }
        PyErr_Format(PyExc_ValueError, "start must be 'next' or 'newest', not %R", obj);
        return -1;
}

PyObject *
tshmpy_client_sub_open(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "depth", "start", NULL};
        tshm_sub_opts opts = {.depth = 1, .start = TSHM_SUB_NEXT};
        PyObject *name_obj, *start = NULL;
        long long depth = 1;
        const char *name;
        tshm_sub *sub = NULL;
        tshm_stream_info si;
        tshm_info info;
        int rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$LO:sub_open", TSHMPY_KW(kwlist), &name_obj,
                                         &depth, &start) ||
            (start != NULL && client_sub_start_arg(start, &opts.start) < 0) ||
            (name = tshmpy_args_name(name_obj)) == NULL) {
                return NULL;
        }
        if (depth < 1 || depth >= TSHM_STREAM_MAX_SLOTS) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "depth must be 1 up to the stream's slots - 1, not %lld",
                                      depth);
        }
        opts.depth = (uint32_t)depth;
        if (tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_sub_open_opts(self->c, name, &opts, &sub);
        Py_END_ALLOW_THREADS if (rv == TSHM_EINVAL && tshm_stat(self->c, name, &info) == 0)
        {
                /* libtshm says only "invalid argument" for these. */
                if (info.kind != TSHM_KIND_STREAM) {
                        tshmpy_client_unlock(self);
                        return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                              "'%s' is an array, not a stream: open(name) maps "
                                              "it, and seg.wait() waits for its next version",
                                              name);
                }
                if (tshm_stream_stat(self->c, name, &si) == 0) {
                        tshmpy_client_unlock(self);
                        return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                              "depth %lld: a subscriber of '%s' may hold %u "
                                              "frames at most (its slots - 1)",
                                              depth, name, si.slots - 1u);
                }
        }
        if (rv < 0) {
                return tshmpy_client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        return tshmpy_subscriber_new(self, sub, opts.depth);
}
