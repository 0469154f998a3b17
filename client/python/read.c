/*
 * read.c - seg.read(): a consistent read in place, zero-copy (tshm.Read).
 *
 *     with seg.read() as a:     # waits while a write is in progress
 *         total = a.sum()       # a: a read-only view of the segment
 *     # here: total was computed from one whole version, or TornError
 *
 * It is libtshm's tshm_read_begin()/tshm_read_retry() around the body of a
 * with block. A with block cannot run its body again, so an overlapping
 * write is reported, not hidden: __exit__ raises TornError, and the caller
 * reads again (see the doc's loop). snapshot() is the copying form, which
 * does retry by itself.
 */
#include "internal.h"

typedef struct read_ctx {
        PyObject_HEAD tshmpy_segment *segment; /* strong */
        tshmpy_mapping *map;                   /* strong between enter and exit */
        double timeout_s;                      /* for a writer to finish; < 0: forever */
        bool bf16_as_u16;
        bool used;   /* entered once already */
        int64_t seq; /* the version read, or -1 */
} read_ctx;

PyObject *
tshmpy_read_new(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"timeout", "bfloat16_as_uint16", NULL};
        PyObject *timeout = NULL;
        double timeout_s = 1.0;
        int bf16_as_u16 = 0;
        read_ctx *r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$p:read", TSHMPY_KW(kwlist), &timeout,
                                         &bf16_as_u16) ||
            (timeout != NULL && tshmpy_timeout_arg(timeout, &timeout_s) < 0) ||
            tshmpy_segment_mapping(self) == NULL) {
                return NULL;
        }
        if ((r = (read_ctx *)tshmpy_read_type.tp_alloc(&tshmpy_read_type, 0)) == NULL) {
                return NULL;
        }
        r->segment = (tshmpy_segment *)Py_NewRef((PyObject *)self);
        r->timeout_s = timeout_s;
        r->bf16_as_u16 = bf16_as_u16 != 0;
        r->seq = -1;
        return (PyObject *)r;
}

static int64_t
read_begin_fn(void *arg, int timeout_ms)
{
        return tshm_read_begin(arg, timeout_ms);
}

static PyObject *
read_enter(read_ctx *self, PyObject *unused)
{
        PyObject *arr = NULL, *setflags = NULL, *kw = NULL, *res = NULL;
        tshmpy_mapping *map;
        int64_t rv;

        (void)unused;
        if (self->used) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "segment %R: this read() was entered already; call "
                                      "seg.read() again for another read",
                                      self->segment->name);
        }
        if ((map = tshmpy_segment_mapping(self->segment)) == NULL) {
                return NULL;
        }
        Py_INCREF(map);
        rv = tshmpy_wait_sliced(read_begin_fn, map->seg, tshmpy_deadline(self->timeout_s));
        if (rv < 0) {
                if (rv == TSHM_ETIMEDOUT) {
                        (void)tshmpy_err_timeout(self->segment->name, "a writer did not finish",
                                                 self->timeout_s);
                } else if (rv == TSHM_ETORN) {
                        (void)tshmpy_err_torn(self->segment->name, -1, NULL,
                                              "the version counter holds a value no version can "
                                              "have (a writer corrupted it)");
                } else if (rv != TSHMPY_RAISED) {
                        (void)tshmpy_err_code((int)rv, NULL);
                }
                goto out;
        }
        /* A read-only view even of a writable segment: a write through it
         * would be one the seqlock does not see. */
        if ((arr = tshmpy_numpy_view(self->segment, map, map->data, self->bf16_as_u16)) == NULL ||
            (setflags = PyObject_GetAttrString(arr, "setflags")) == NULL ||
            (kw = Py_BuildValue("{s:O}", "write", Py_False)) == NULL) {
                goto out;
        }
        {
                PyObject *empty = PyTuple_New(0), *r;

                r = empty != NULL ? PyObject_Call(setflags, empty, kw) : NULL;
                Py_XDECREF(empty);
                if (r == NULL) {
                        goto out;
                }
                Py_DECREF(r);
        }
        self->used = true;
        self->seq = rv;
        self->map = (tshmpy_mapping *)Py_NewRef((PyObject *)map);
        res = Py_NewRef(arr);
out:
        Py_XDECREF(kw);
        Py_XDECREF(setflags);
        Py_XDECREF(arr);
        Py_DECREF(map);
        return res;
}

static PyObject *
read_exit(read_ctx *self, PyObject *args)
{
        PyObject *exc_type = Py_None, *exc = Py_None, *tb = Py_None;
        tshmpy_mapping *map = self->map;
        int rv;

        if (!PyArg_UnpackTuple(args, "__exit__", 0, 3, &exc_type, &exc, &tb)) {
                return NULL;
        }
        if (map == NULL) {
                Py_RETURN_FALSE;
        }
        self->map = NULL;
        rv = tshm_read_retry(map->seg, (uint64_t)self->seq);
        Py_DECREF(map);
        /* The body's own exception wins: what it computed is thrown away. */
        if (exc_type != Py_None || rv == 0) {
                Py_RETURN_FALSE;
        }
        if (rv == 1) {
                return tshmpy_err_torn(self->segment->name, self->seq, NULL,
                                       "a write overlapped this read, so what was read may mix "
                                       "two versions; read again");
        }
        if (rv == TSHM_ETORN) {
                return tshmpy_err_torn(self->segment->name, self->seq, NULL,
                                       "a writer died or gave up (an exception in seg.write()) "
                                       "in the middle of this version; the next complete write "
                                       "clears it");
        }
        return tshmpy_err_code(rv, NULL);
}

static PyObject *
read_get_seq(read_ctx *self, void *closure)
{
        (void)closure;
        if (self->seq < 0) {
                Py_RETURN_NONE;
        }
        return PyLong_FromLongLong(self->seq);
}

static void
read_dealloc(read_ctx *self)
{
        Py_XDECREF(self->map);
        Py_XDECREF(self->segment);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef read_methods[] = {
    {"__enter__", TSHMPY_METH(read_enter), METH_NOARGS,
     "Wait while a write is in progress; return a read-only view of the segment."},
    {"__exit__", TSHMPY_METH(read_exit), METH_VARARGS,
     "Check that no write overlapped the read: raise TornError if one did."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef read_getset[] = {
    {"seq", (getter)read_get_seq, NULL,
     "The version read (an even number), or None before the block is entered.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject tshmpy_read_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Read",
    .tp_basicsize = sizeof(read_ctx),
    .tp_dealloc = (destructor)read_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A consistent in-place read of a Segment, made by seg.read(); a context manager.",
    .tp_methods = read_methods,
    .tp_getset = read_getset,
};
