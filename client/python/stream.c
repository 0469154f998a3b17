/*
 * stream.c - a stream's producer side: tshm.Stream (the producer's handle)
 * and tshm.Loan (a slot being filled), and what the consumer side
 * (subscriber.c: tshm.Subscriber, tshm.Frame) shares with it.
 *
 * Stream and Subscriber share tshmpy_segment as their struct, so they reuse
 * the Segment's description, getters, close() and dealloc.
 *
 * Loan and Frame act when they are made (stream.loan() loans, sub.take()
 * takes, each waiting up to its timeout) and are context managers whose
 * __enter__ gives the slot as an ndarray and whose __exit__ publishes or
 * releases; publish()/discard()/release() do the same by hand, and a Loan
 * or Frame dropped while out is discarded or released. Views of a slot are
 * ndarrays whose base is the mapping, so they never outlive the memory;
 * after the publish or release the slot is the producer's again and the
 * view shows whatever it writes next (copy what you keep).
 *
 * mapping->writing marks a handle with a loan out: one at a time per
 * handle, checked under the GIL before libtshm is entered. A subscriber
 * counts its frames in libtshm (tshm_sub_held(); subscriber.c).
 */
#include <stdio.h>

#include <unistd.h>

#include "internal.h"

typedef struct tshmpy_loan {
        PyObject_HEAD tshmpy_segment *stream; /* strong: the description */
        tshmpy_mapping *map;                  /* strong */
        void *data;                           /* the slot */
        PyObject *array;                      /* the slot as an ndarray, made on first use */
        bool out;                             /* loaned, not yet published or discarded */
        int64_t seq;                          /* the frame published, or -1 */
} tshmpy_loan;

static PyObject *
stream_unlinked(tshmpy_segment *self)
{
        return tshmpy_err_fmt(tshmpy_NotFoundError, TSHM_ENOENT, "stream %R was unlinked",
                              self->name);
}

PyObject *
tshmpy_stream_wait_error(tshmpy_segment *self, int64_t rv, const char *what, double timeout_s)
{
        if (rv == TSHMPY_RAISED) {
                return NULL;
        }
        if (rv == TSHM_ETIMEDOUT) {
                return tshmpy_err_timeout(self->name, what, timeout_s);
        }
        if (rv == TSHM_ENOENT) {
                return stream_unlinked(self);
        }
        if (rv == TSHM_ECONNRESET) {
                return tshmpy_err_fmt(tshmpy_ConnectError, TSHM_ECONNRESET,
                                      "stream %R: the daemon dropped this subscription (it "
                                      "restarted): subscribe again",
                                      self->name);
        }
        return tshmpy_err_code((int)rv, NULL);
}

tshmpy_mapping *
tshmpy_stream_wait_args(tshmpy_segment *self, PyObject *args, PyObject *kwds, const char *format,
                        double *ret_timeout_s)
{
        static const char *const kwlist[] = {"timeout", NULL};
        PyObject *timeout = Py_None;
        tshmpy_mapping *map;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, format, TSHMPY_KW(kwlist), &timeout) ||
            tshmpy_timeout_arg(timeout, ret_timeout_s) < 0) {
                return NULL;
        }
        if ((map = tshmpy_segment_mapping(self)) == NULL ||
            tshmpy_mapping_check_fork(
                map, Py_TYPE(self) == &tshmpy_subscriber_type ? "subscriber" : "stream",
                self->name) < 0) {
                return NULL;
        }
        return map;
}

PyObject *
tshmpy_stream_slot_numpy(tshmpy_segment *desc, tshmpy_mapping *map, void *data, PyObject *args,
                         PyObject *kwds)
{
        static const char *const kwlist[] = {"bfloat16_as_uint16", NULL};
        int bf16_as_u16 = 0;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$p:numpy", TSHMPY_KW(kwlist),
                                         &bf16_as_u16)) {
                return NULL;
        }
        return tshmpy_numpy_view(desc, map, data, bf16_as_u16 != 0);
}

const char tshmpy_stream_wait_doc[] =
    PyDoc_STR("wait($self, /, after_seq, timeout=None)\n--\n\n"
              "As Segment.wait(): wait until the stream's seq passes `after_seq` and return\n"
              "it. A stream's seq is twice the number of frames published.");

/* tshm.Stream */

PyObject *
tshmpy_stream_new(tshmpy_client *client, tshm_seg *seg)
{
        tshmpy_mapping *map;

        if ((map = tshmpy_mapping_new(client, seg)) == NULL) {
                return NULL;
        }
        /* Indexed as slots, so that tshm._reduce refuses a Loan.torch()
         * tensor: the slot is the next frame's once published. */
        map->frame = true;
        if (tshmpy_mapping_index(map) < 0) {
                Py_DECREF(map);
                return NULL;
        }
        return tshmpy_segment_wrap(&tshmpy_stream_type, map);
}

struct stream_loan_arg {
        tshm_seg *seg;
        void *data;
};

static int64_t
stream_loan_fn(void *arg, int timeout_ms)
{
        struct stream_loan_arg *a = arg;

        return tshm_stream_loan(a->seg, timeout_ms, &a->data);
}

static PyObject *
stream_loan(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        struct stream_loan_arg a;
        tshmpy_mapping *map;
        tshmpy_loan *loan;
        double timeout_s;
        int64_t rv;

        if ((map = tshmpy_stream_wait_args(self, args, kwds, "|O:loan", &timeout_s)) == NULL) {
                return NULL;
        }
        if (!map->writable) {
                return tshmpy_err_fmt(tshmpy_PermissionDeniedError, TSHM_EACCES,
                                      "stream %R is open read-only: stream_open(name, "
                                      "writable=True) to produce",
                                      self->name);
        }
        if (map->writing) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "stream %R has a loan out on this handle already: publish "
                                      "or discard it first (one loan at a time per handle)",
                                      self->name);
        }
        loan = (tshmpy_loan *)tshmpy_loan_type.tp_alloc(&tshmpy_loan_type, 0);
        if (loan == NULL) {
                return NULL;
        }
        loan->stream = (tshmpy_segment *)Py_NewRef((PyObject *)self);
        loan->map = (tshmpy_mapping *)Py_NewRef((PyObject *)map);
        loan->seq = -1;
        map->writing = true;
        a.seg = map->seg;
        a.data = NULL;
        rv = tshmpy_wait_sliced(stream_loan_fn, &a, tshmpy_deadline(timeout_s));
        if (rv < 0) {
                map->writing = false;
                Py_DECREF(loan);
                return tshmpy_stream_wait_error(self, rv,
                                                "no slot came free (a subscriber did not "
                                                "release it, or another producer held the lock)",
                                                timeout_s);
        }
        loan->data = a.data;
        loan->out = true;
        return (PyObject *)loan;
}

static PyObject *
stream_repr(tshmpy_segment *self)
{
        return PyUnicode_FromFormat("<tshm.Stream %R %s%s>", self->name,
                                    tshm_dtype_name(self->dtype),
                                    self->closed     ? " closed"
                                    : self->writable ? " producer"
                                                     : "");
}

PyDoc_STRVAR(stream_loan_doc,
             "loan($self, /, timeout=None)\n--\n\n"
             "Loan the next slot to fill: waits for the stream's writer lock and, under the\n"
             "'block' policy, until every subscriber has released the frame the slot held,\n"
             "up to `timeout` seconds (None: forever; then TimeoutError). Returns a\n"
             "tshm.Loan; use it as a context manager:\n\n"
             "    with stream.loan() as a:      # a: writable ndarray over the slot\n"
             "        a[:] = frame\n\n"
             "Leaving the block publishes the frame (stamped with the time) and wakes the\n"
             "subscribers; an exception discards it instead. One loan at a time per handle.\n"
             "Raises PermissionDeniedError for a read-only handle, NotFoundError when the\n"
             "stream was unlinked. Releases the GIL while it waits; Ctrl-C interrupts it.");

static PyMethodDef stream_methods[] = {
    {"loan", TSHMPY_METH(stream_loan), METH_VARARGS | METH_KEYWORDS, stream_loan_doc},
    {"wait", TSHMPY_METH(tshmpy_publish_wait), METH_VARARGS | METH_KEYWORDS,
     tshmpy_stream_wait_doc},
    {"wait_async", TSHMPY_METH(tshmpy_waitany_wait_async), METH_VARARGS | METH_KEYWORDS,
     tshmpy_waitany_wait_async_doc},
    {"close", TSHMPY_METH(tshmpy_segment_close), METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Drop this object's hold on the mapping (loans and views keep it). Idempotent."},
    {"__reduce__", TSHMPY_METH(tshmpy_segment_reduce), METH_NOARGS,
     "__reduce__($self, /)\n--\n\n"
     "Pickle by socket, name and access: the receiver opens the stream again."},
    {"__enter__", tshmpy_segment_enter, METH_NOARGS, "Return the stream."},
    {"__exit__", TSHMPY_METH(tshmpy_segment_exit), METH_VARARGS, "Close the stream."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    TSHMPY_STREAM_DESC_GETSET,
    {"writable", (getter)tshmpy_segment_get_writable, NULL,
     "True for a producer's handle (stream_create, stream_open(writable=True)).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject tshmpy_stream_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Stream",
    .tp_basicsize = sizeof(tshmpy_segment),
    .tp_dealloc = (destructor)tshmpy_segment_dealloc,
    .tp_repr = (reprfunc)stream_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "A stream's producer handle: a ring of `slots` frames of one dtype and shape in\n"
              "one segment. Make one with Client.stream_create() or Client.stream_open().\n\n"
              "    with stream.loan() as a:\n"
              "        a[:] = frame              # fill the slot in place, then publish\n\n"
              "Subscribers (Client.sub_open()) take the frames in order, zero-copy. Policy\n"
              "'block' makes loan() wait for the slowest subscriber; 'overwrite' never waits\n"
              "and slow subscribers skip frames (Frame.missed). Producers are serialised by\n"
              "the stream's writer lock; one killed with -9 is broken out like a writer.",
    .tp_methods = stream_methods,
    .tp_getset = stream_getset,
};

/* tshm.Loan */

static PyObject *
loan_array(tshmpy_loan *self)
{
        if (self->array == NULL) {
                self->array = tshmpy_numpy_view(self->stream, self->map, self->data, false);
        }
        return self->array;
}

/* Publish (or discard, when @discard) the loan. Returns the frame number,
 * 0 for a discard, or a TSHM_E* code. */
static int64_t
loan_finish(tshmpy_loan *self, bool discard)
{
        int64_t rv;

        self->out = false;
        self->map->writing = false;
        /* A fork child's copy of a loan must not publish or discard the
         * parent's: that state is shared. */
        if (self->map->pid != getpid()) {
                return 0;
        }
        rv = discard ? tshm_stream_discard(self->map->seg) : tshm_stream_publish(self->map->seg);
        if (rv > 0) {
                self->seq = rv;
        }
        return rv;
}

static PyObject *
loan_check_out(tshmpy_loan *self)
{
        if (!self->out) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "this loan of stream %R was published or discarded already",
                                      self->stream->name);
        }
        if (tshmpy_mapping_check_fork(self->map, "loan of a stream", self->stream->name) < 0) {
                return NULL;
        }
        return Py_None;
}

static PyObject *
loan_publish_result(tshmpy_loan *self, int64_t rv)
{
        if (rv == TSHM_ETORN) {
                char detail[160];

                (void)snprintf(detail, sizeof(detail),
                               "this loan outlasted its lease (%d s) and another producer broke "
                               "the lock: the frame was not published",
                               TSHM_WRITE_LEASE_MS / 1000);
                return tshmpy_err_torn(self->stream->name, -1, NULL, detail);
        }
        if (rv < 0) {
                return tshmpy_err_code((int)rv, NULL);
        }
        return PyLong_FromLongLong(rv);
}

static PyObject *
loan_publish(tshmpy_loan *self, PyObject *unused)
{
        (void)unused;
        if (loan_check_out(self) == NULL) {
                return NULL;
        }
        return loan_publish_result(self, loan_finish(self, false));
}

static PyObject *
loan_discard(tshmpy_loan *self, PyObject *unused)
{
        (void)unused;
        if (loan_check_out(self) == NULL) {
                return NULL;
        }
        (void)loan_finish(self, true);
        Py_RETURN_NONE;
}

static PyObject *
loan_enter(tshmpy_loan *self, PyObject *unused)
{
        PyObject *arr;

        (void)unused;
        if (loan_check_out(self) == NULL) {
                return NULL;
        }
        if ((arr = loan_array(self)) == NULL) {
                /* No __exit__ follows a failed __enter__: give it back. */
                (void)loan_finish(self, true);
                return NULL;
        }
        return Py_NewRef(arr);
}

static PyObject *
loan_exit(tshmpy_loan *self, PyObject *args)
{
        PyObject *type = Py_None, *value = Py_None, *tb = Py_None, *r;

        if (!PyArg_UnpackTuple(args, "__exit__", 0, 3, &type, &value, &tb)) {
                return NULL;
        }
        if (!self->out) {
                /* Published or discarded by hand inside the block. */
                Py_RETURN_FALSE;
        }
        if (type != Py_None) {
                (void)loan_finish(self, true);
                Py_RETURN_FALSE;
        }
        if ((r = loan_publish_result(self, loan_finish(self, false))) == NULL) {
                return NULL;
        }
        Py_DECREF(r);
        Py_RETURN_FALSE;
}

static PyObject *
loan_numpy(tshmpy_loan *self, PyObject *args, PyObject *kwds)
{
        return tshmpy_stream_slot_numpy(self->stream, self->map, self->data, args, kwds);
}

static PyObject *
loan_torch(tshmpy_loan *self, PyObject *unused)
{
        (void)unused;
        if (loan_check_out(self) == NULL) {
                return NULL;
        }
        return tshmpy_dlpack_torch_view(self->stream, self->map, self->data);
}

static PyObject *
loan_get_array(tshmpy_loan *self, void *closure)
{
        PyObject *arr;

        (void)closure;
        arr = loan_array(self);
        return arr != NULL ? Py_NewRef(arr) : NULL;
}

static PyObject *
loan_get_seq(tshmpy_loan *self, void *closure)
{
        (void)closure;
        if (self->seq < 0) {
                Py_RETURN_NONE;
        }
        return PyLong_FromLongLong(self->seq);
}

static PyObject *
loan_get_active(tshmpy_loan *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->out);
}

static void
loan_dealloc(tshmpy_loan *self)
{
        if (self->out) {
                (void)loan_finish(self, true);
        }
        Py_XDECREF(self->array);
        Py_XDECREF(self->map);
        Py_XDECREF(self->stream);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
loan_reduce(tshmpy_loan *self, PyObject *unused)
{
        (void)unused;
        return tshmpy_err_fmt(PyExc_TypeError, 0,
                              "cannot pickle a tshm.Loan of %R: it is this process's hold on a "
                              "slot. Pickle the Stream (the receiver opens it again) and loan "
                              "there",
                              self->stream->name);
}

static PyMethodDef loan_methods[] = {
    {"__reduce__", TSHMPY_METH(loan_reduce), METH_NOARGS,
     "__reduce__($self, /)\n--\n\nRaises TypeError: a loan cannot be pickled."},
    {"publish", TSHMPY_METH(loan_publish), METH_NOARGS,
     "publish($self, /)\n--\n\n"
     "Publish the slot as the next frame and wake the subscribers; returns its frame\n"
     "number (1, 2, ...). TornError if the loan outlasted its lease and was broken."},
    {"discard", TSHMPY_METH(loan_discard), METH_NOARGS,
     "discard($self, /)\n--\n\nGive the slot back unpublished."},
    {"numpy", TSHMPY_METH(loan_numpy), METH_VARARGS | METH_KEYWORDS,
     "numpy($self, /, *, bfloat16_as_uint16=False)\n--\n\n"
     "The slot as a new writable ndarray view (as Segment.numpy(), for bfloat16)."},
    {"torch", TSHMPY_METH(loan_torch), METH_NOARGS,
     "torch($self, /)\n--\n\n"
     "The slot as a CPU tensor, no copy (DLPack), to fill before publishing; as\n"
     "Segment.torch() for dtypes."},
    {"__enter__", TSHMPY_METH(loan_enter), METH_NOARGS,
     "Return the slot as a writable ndarray (DtypeError for bfloat16: use torch())."},
    {"__exit__", TSHMPY_METH(loan_exit), METH_VARARGS,
     "Publish the frame; after an exception, discard it and let the exception go on."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef loan_getset[] = {
    {"array", (getter)loan_get_array, NULL,
     "The slot as a writable ndarray, no copy; it keeps the mapping alive, but once\n"
     "published the slot is the producer's to reuse.",
     NULL},
    {"seq", (getter)loan_get_seq, NULL, "The frame number once published (1, 2, ...), else None.",
     NULL},
    {"active", (getter)loan_get_active, NULL, "True until published or discarded.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject tshmpy_loan_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Loan",
    .tp_basicsize = sizeof(tshmpy_loan),
    .tp_dealloc = (destructor)loan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "A slot of a stream loaned to fill (stream.loan()). A context manager: __enter__\n"
              "gives the slot as a writable ndarray, __exit__ publishes it (discards it after\n"
              "an exception). publish()/discard() do it by hand; a Loan dropped while out is\n"
              "discarded. .torch() gives a tensor over the slot.",
    .tp_methods = loan_methods,
    .tp_getset = loan_getset,
};
