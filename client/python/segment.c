/*
 * segment.c - tshm.Segment: one opened segment, its description, and its
 * views (buffer protocol, __array_interface__, numpy, torch, DLPack).
 *
 * The description (name, dtype, shape, ...) is copied at open and stays
 * readable after close(); whatever needs the memory goes through
 * tshmpy_segment_mapping(), which raises ClosedError once closed.
 */
#include "internal.h"

/* PEP 3118 format of each tshm_dtype; NULL where there is none. */
static const char *const segment_formats[] = {
    [TSHM_DTYPE_BOOL] = "?",    [TSHM_DTYPE_INT8] = "b",       [TSHM_DTYPE_INT16] = "h",
    [TSHM_DTYPE_INT32] = "i",   [TSHM_DTYPE_INT64] = "q",      [TSHM_DTYPE_UINT8] = "B",
    [TSHM_DTYPE_UINT16] = "H",  [TSHM_DTYPE_UINT32] = "I",     [TSHM_DTYPE_UINT64] = "Q",
    [TSHM_DTYPE_FLOAT16] = "e", [TSHM_DTYPE_BFLOAT16] = NULL,  [TSHM_DTYPE_FLOAT32] = "f",
    [TSHM_DTYPE_FLOAT64] = "d", [TSHM_DTYPE_COMPLEX64] = "Zf", [TSHM_DTYPE_COMPLEX128] = "Zd",
};

PyObject *
tshmpy_segment_new(tshmpy_client *client, tshm_seg *seg)
{
        tshmpy_mapping *map;

        if ((map = tshmpy_mapping_new(client, seg)) == NULL) {
                return NULL;
        }
        /* An array's mapping is indexed by address, so that a tensor over
         * it pickles as a reference (tshm._reduce); a stream's is not. */
        if (tshmpy_mapping_index(map) < 0) {
                Py_DECREF(map);
                return NULL;
        }
        return tshmpy_segment_wrap(&tshmpy_segment_type, map);
}

PyObject *
tshmpy_segment_wrap(PyTypeObject *type, tshmpy_mapping *map)
{
        tshm_seg *seg = map->seg;
        const uint64_t *shape = tshm_seg_shape(seg);
        const int64_t *strides = tshm_seg_strides(seg);
        tshmpy_segment *self;
        size_t i;

        self = (tshmpy_segment *)type->tp_alloc(type, 0);
        if (self == NULL) {
                Py_DECREF(map);
                return NULL;
        }
        self->map = map;
        self->dtype = tshm_seg_dtype(seg);
        self->writable = tshm_seg_writable(seg) != 0;
        self->ndim = (int)tshm_seg_ndim(seg);
        self->itemsize = (Py_ssize_t)tshm_dtype_itemsize(self->dtype);
        self->nbytes = map->nbytes;
        if ((self->name = PyUnicode_FromString(tshm_seg_name(seg))) == NULL) {
                goto fail;
        }
        if (self->itemsize == 0 ||
            (size_t)self->dtype >= sizeof(segment_formats) / sizeof(segment_formats[0])) {
                (void)tshmpy_err_fmt(tshmpy_DtypeError, TSHM_EBADDTYPE,
                                     "segment %R has dtype %d, unknown to this tshm module",
                                     self->name, (int)self->dtype);
                goto fail;
        }
        /* libtshm checked that the data fits the mapping, but an extent can
         * be huge when another is 0. */
        for (i = 0; i < (size_t)self->ndim; i++) {
                if (shape[i] > (uint64_t)PY_SSIZE_T_MAX) {
                        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADSHAPE,
                                             "segment %R: extent %llu does not fit in a "
                                             "Py_ssize_t",
                                             self->name, (unsigned long long)shape[i]);
                        goto fail;
                }
                self->shape[i] = (Py_ssize_t)shape[i];
                self->strides[i] = (Py_ssize_t)strides[i];
        }
        return (PyObject *)self;
fail:
        Py_DECREF(self);
        return NULL;
}

void
tshmpy_segment_dealloc(tshmpy_segment *self)
{
        /* No export is left: each memoryview holds a reference to us. */
        Py_XDECREF(self->map);
        Py_XDECREF(self->cow);
        Py_XDECREF(self->name);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

tshmpy_mapping *
tshmpy_segment_mapping(tshmpy_segment *self)
{
        if (self->closed) {
                (void)tshmpy_err_fmt(tshmpy_ClosedError, TSHM_EBADF, "%s %R is closed",
                                     Py_TYPE(self) == &tshmpy_subscriber_type ? "subscriber of"
                                     : Py_TYPE(self) == &tshmpy_stream_type   ? "stream"
                                                                              : "segment",
                                     self->name);
                return NULL;
        }
        return self->map;
}

PyObject *
tshmpy_segment_close(tshmpy_segment *self, PyObject *unused)
{
        (void)unused;
        self->closed = true;
        Py_CLEAR(self->cow); /* its tensors hold it */
        /* Drop our reference unless a memoryview still uses it; the last
         * release does it then. Views hold their own references. */
        if (self->exports == 0) {
                Py_CLEAR(self->map);
        }
        Py_RETURN_NONE;
}

PyObject *
tshmpy_segment_enter(PyObject *self, PyObject *unused)
{
        (void)unused;
        return Py_NewRef(self);
}

PyObject *
tshmpy_segment_exit(tshmpy_segment *self, PyObject *args)
{
        (void)args;
        return tshmpy_segment_close(self, NULL);
}

static int
segment_getbuffer(tshmpy_segment *self, Py_buffer *view, int flags)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);
        const char *format;

        if (map == NULL) {
                return -1;
        }
        if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE && !self->writable) {
                PyErr_Format(PyExc_BufferError,
                             "segment %R is read-only: open it with writable=True", self->name);
                return -1;
        }
        format = segment_formats[self->dtype];
        if (format == NULL) {
                PyErr_Format(PyExc_BufferError,
                             "segment %R is bfloat16, which has no buffer format: use "
                             ".torch(), or .numpy(bfloat16_as_uint16=True) for its raw bits",
                             self->name);
                return -1;
        }
        view->buf = map->data;
        view->obj = Py_NewRef((PyObject *)self);
        view->len = self->nbytes;
        view->readonly = self->writable ? 0 : 1;
        view->itemsize = self->itemsize;
        view->format = (flags & PyBUF_FORMAT) == PyBUF_FORMAT ? (char *)format : NULL;
        view->ndim = self->ndim;
        /* The data is always C-contiguous, so every request can be met. */
        view->shape = (flags & PyBUF_ND) == PyBUF_ND ? self->shape : NULL;
        view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides : NULL;
        view->suboffsets = NULL;
        view->internal = NULL;
        if (view->shape == NULL) {
                /* A simple request sees the bytes as a 1-d buffer. */
                view->ndim = 1;
                view->itemsize = 1;
        }
        self->exports++;
        return 0;
}

static void
segment_releasebuffer(tshmpy_segment *self, Py_buffer *view)
{
        (void)view;
        if (--self->exports == 0 && self->closed) {
                Py_CLEAR(self->map);
        }
}

static PyBufferProcs segment_as_buffer = {
    .bf_getbuffer = (getbufferproc)segment_getbuffer,
    .bf_releasebuffer = (releasebufferproc)segment_releasebuffer,
};

static PyObject *
segment_shape_tuple(const tshmpy_segment *self, const Py_ssize_t *v)
{
        PyObject *t = PyTuple_New(self->ndim);
        int i;

        for (i = 0; t != NULL && i < self->ndim; i++) {
                PyObject *n = PyLong_FromSsize_t(v[i]);

                if (n == NULL) {
                        Py_CLEAR(t);
                        break;
                }
                PyTuple_SET_ITEM(t, i, n);
        }
        return t;
}

static PyObject *
segment_get_array_interface(tshmpy_segment *self, void *closure)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        if (self->dtype == TSHM_DTYPE_BFLOAT16) {
                return tshmpy_err_fmt(tshmpy_DtypeError, 0,
                                      "segment %R is bfloat16, which numpy has no dtype for: use "
                                      ".torch(), or .numpy(bfloat16_as_uint16=True) for its raw "
                                      "bits",
                                      self->name);
        }
        /* 'data' is the mapping object, not a pointer: numpy then takes the
         * memory through the mapping's buffer (read-only when the segment
         * is) and makes the mapping the array's base, so the array keeps
         * the memory alive after seg.close(). */
        return Py_BuildValue("{s:i,s:N,s:s,s:O,s:O}", "version", 3, "shape",
                             segment_shape_tuple(self, self->shape), "typestr",
                             tshm_dtype_typestr(self->dtype), "data", (PyObject *)map, "strides",
                             Py_None);
}

static PyObject *
segment_numpy(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"bfloat16_as_uint16", NULL};
        int bf16_as_u16 = 0;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$p:numpy", TSHMPY_KW(kwlist),
                                         &bf16_as_u16) ||
            tshmpy_segment_mapping(self) == NULL) {
                return NULL;
        }
        return tshmpy_numpy_array(self, bf16_as_u16 != 0);
}

static PyObject *
segment_array(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"dtype", "copy", NULL};
        PyObject *dtype = Py_None, *copy = Py_False, *arr, *res;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:__array__", TSHMPY_KW(kwlist), &dtype,
                                         &copy) ||
            tshmpy_segment_mapping(self) == NULL) {
                return NULL;
        }
        if ((arr = tshmpy_numpy_array(self, false)) == NULL) {
                return NULL;
        }
        res = tshmpy_numpy_convert(arr, dtype, PyObject_IsTrue(copy) == 1);
        Py_DECREF(arr);
        return res;
}

static PyObject *
segment_torch(tshmpy_segment *self, PyObject *unused)
{
        (void)unused;
        if (tshmpy_segment_mapping(self) == NULL) {
                return NULL;
        }
        return tshmpy_dlpack_torch(self);
}

static PyObject *
segment_dlpack(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"stream", NULL};
        PyObject *stream = Py_None;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$O:__dlpack__", TSHMPY_KW(kwlist),
                                         &stream) ||
            tshmpy_segment_mapping(self) == NULL) {
                return NULL;
        }
        if (stream != Py_None) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "stream must be None: the segment is CPU memory");
        }
        return tshmpy_dlpack_capsule(self);
}

/* Pickling. A handle travels as what opens it again: the socket, the name
 * and the access; the receiver opens its own (tshm._reduce, which keeps
 * one Client per socket and process). Nothing of this process's mapping
 * travels, so spawn, forkserver and other hosts' pickles work alike, as
 * long as the receiver reaches the same daemon. */

int
tshmpy_reduce_install(void)
{
        static bool installed;
        PyObject *mod, *r;

        if (installed) {
                return 0;
        }
        if ((mod = PyImport_ImportModule("tshm._reduce")) == NULL) {
                return -1;
        }
        r = PyObject_CallMethod(mod, "install", NULL);
        Py_DECREF(mod);
        if (r == NULL) {
                return -1;
        }
        Py_DECREF(r);
        installed = true;
        return 0;
}

PyObject *
tshmpy_reduce_value(const char *fn, PyObject *args)
{
        PyObject *mod, *f;

        if (args == NULL) {
                return NULL;
        }
        if ((mod = PyImport_ImportModule("tshm._reduce")) == NULL) {
                Py_DECREF(args);
                return NULL;
        }
        f = PyObject_GetAttrString(mod, fn);
        Py_DECREF(mod);
        if (f == NULL) {
                Py_DECREF(args);
                return NULL;
        }
        return Py_BuildValue("(NN)", f, args);
}

PyObject *
tshmpy_segment_reduce(tshmpy_segment *self, PyObject *unused)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);
        PyObject *socket;

        (void)unused;
        if (map == NULL) {
                return NULL;
        }
        socket = map->client->socket;
        return tshmpy_reduce_value(
            Py_TYPE(self) == &tshmpy_stream_type ? "_stream_open" : "_open",
            Py_BuildValue("(OOO)", socket, self->name, self->writable ? Py_True : Py_False));
}

static PyObject *
segment_dlpack_device(tshmpy_segment *self, PyObject *unused)
{
        (void)self;
        (void)unused;
        return Py_BuildValue("(ii)", 1, 0); /* kDLCPU, device 0 */
}

PyObject *
tshmpy_segment_get_name(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return Py_NewRef(self->name);
}

PyObject *
tshmpy_segment_get_dtype(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return tshmpy_numpy_dtype(self->dtype);
}

PyObject *
tshmpy_segment_get_dtype_name(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return PyUnicode_FromString(tshm_dtype_name(self->dtype));
}

PyObject *
tshmpy_segment_get_shape(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return segment_shape_tuple(self, self->shape);
}

PyObject *
tshmpy_segment_get_strides(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return segment_shape_tuple(self, self->strides);
}

PyObject *
tshmpy_segment_get_ndim(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return PyLong_FromLong(self->ndim);
}

PyObject *
tshmpy_segment_get_itemsize(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return PyLong_FromSsize_t(self->itemsize);
}

PyObject *
tshmpy_segment_get_nbytes(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return PyLong_FromSsize_t(self->nbytes);
}

PyObject *
tshmpy_segment_get_writable(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->writable);
}

PyObject *
tshmpy_segment_get_closed(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->closed);
}

PyObject *
tshmpy_segment_get_seq(tshmpy_segment *self, void *closure)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        return PyLong_FromUnsignedLongLong(tshm_seg_seq(map->seg));
}

static PyObject *
segment_repr(tshmpy_segment *self)
{
        PyObject *shape = segment_shape_tuple(self, self->shape), *r;

        if (shape == NULL) {
                return NULL;
        }
        r = PyUnicode_FromFormat("<tshm.Segment %R %s %R %s>", self->name,
                                 tshm_dtype_name(self->dtype), shape,
                                 self->closed     ? "closed"
                                 : self->writable ? "rw"
                                                  : "ro");
        Py_DECREF(shape);
        return r;
}

PyDoc_STRVAR(segment_numpy_doc,
             "numpy($self, /, *, bfloat16_as_uint16=False)\n--\n\n"
             "An ndarray over the segment's memory, no copy: writes through it are seen by\n"
             "every process at once. Read-only (writeable=False, and it cannot be set) when\n"
             "the segment was opened read-only. The array keeps the mapping alive after\n"
             "close(), client.close() or an unlink. numpy has no bfloat16: such a segment\n"
             "raises DtypeError (a TypeError) unless bfloat16_as_uint16=True, which gives a\n"
             "uint16 view of the raw bits. torch.from_numpy(seg.numpy()) shares the memory\n"
             "too, but on a read-only segment torch only warns, and writing through that\n"
             "tensor crashes the process: prefer .torch(), whose tensor is copy-on-write.");

PyDoc_STRVAR(segment_torch_doc,
             "torch($self, /)\n--\n\n"
             "A CPU tensor over the segment's memory, no copy (through DLPack; bool through\n"
             "numpy, as DLPack 0.6 has no bool). bfloat16 gives torch.bfloat16. The tensor\n"
             "keeps the mapping alive after close(). For a segment opened read-only (torch\n"
             "has no read-only tensors) the tensor views a private copy-on-write mapping:\n"
             "in-place ops work and stay in this process (the page written is copied), and\n"
             "a page not written yet keeps showing the producer's writes; a page once\n"
             "written no longer does. One such mapping per Segment handle, shared by its\n"
             "tensors. Raises DtypeError (a TypeError) for uint16, uint32 and uint64, which\n"
             "torch 1.13 lacks: use .numpy() or view the data as a signed type. Imports\n"
             "torch on first use (ImportError if it is not installed); from then on a tensor\n"
             "over a segment crosses torch.multiprocessing queues as a reference to it.");

PyDoc_STRVAR(segment_dlpack_doc,
             "__dlpack__($self, /, *, stream=None)\n--\n\n"
             "A DLPack 0.6 capsule named 'dltensor' over the segment's memory, for\n"
             "torch.from_dlpack(seg) and numpy.from_dlpack(seg). It keeps the mapping alive\n"
             "until the consumer's tensor is gone (or the unconsumed capsule is). For a\n"
             "read-only segment it views the same private copy-on-write mapping as .torch()\n"
             "(DLPack 0.6 cannot mark memory read-only, so a consumer may write: the write\n"
             "stays in this process). DtypeError for bool (no DLPack 0.6 type code: use\n"
             "numpy.asarray(seg) or .torch()). stream must be None.");

PyDoc_STRVAR(segment_write_doc,
             "write($self, /, timeout=None)\n--\n\n"
             "A context manager (tshm.Write) that brackets one update of the segment:\n\n"
             "    a = seg.numpy()\n"
             "    with seg.write():\n"
             "        a[:] = frame\n\n"
             "Entering takes the segment's writer lock, waiting up to `timeout` seconds\n"
             "(None: forever; TimeoutError after), and makes seg.seq odd; leaving publishes\n"
             "the next even seq and wakes every wait(), in every process. An exception in\n"
             "the block publishes the version as torn instead (snapshot() raises TornError\n"
             "for it until the next complete write) and propagates. A writer killed inside\n"
             "the block is found dead by the daemon or the next writer, which breaks the\n"
             "lock and flags its version torn. Raises PermissionDeniedError (a\n"
             "PermissionError) for a segment opened read-only, NotFoundError when the\n"
             "segment was unlinked while waiting for the lock. Releases the GIL while it\n"
             "waits; Ctrl-C interrupts the wait.");

PyDoc_STRVAR(segment_wait_doc,
             "wait($self, /, after_seq, timeout=None)\n--\n\n"
             "Wait until a version newer than `after_seq` is published and return its seq\n"
             "(even, > after_seq); at once if there is one already. `timeout` in seconds,\n"
             "None forever, 0 only checks. The waker is a futex in the shared header: no\n"
             "daemon round trip, and a publish wakes every waiter at once. Typical loop:\n\n"
             "    seq = seg.seq\n"
             "    while True:\n"
             "        seq = seg.wait(seq)\n"
             "        frame = seg.snapshot()\n\n"
             "Raises TimeoutError (tshm.TimeoutError, also the builtin) when the timeout\n"
             "runs out, NotFoundError (\"segment 'NAME' was unlinked\") when the segment is\n"
             "unlinked, since nothing more will be published. Releases the GIL; Ctrl-C\n"
             "interrupts it (KeyboardInterrupt).");

PyDoc_STRVAR(segment_snapshot_doc,
             "snapshot($self, /, timeout=1.0, *, bfloat16_as_uint16=False, return_seq=False)\n"
             "--\n\n"
             "A copy of the array (a new ndarray) that is one whole version: never torn by a\n"
             "writer that was writing meanwhile. It copies, checks that no write overlapped\n"
             "(the seqlock), and copies again when one did, for up to `timeout` seconds\n"
             "(None: forever); then raises TimeoutError, saying whether a writer did not\n"
             "finish or writers kept overwriting the copy. When the version itself is torn\n"
             "(a writer died or raised inside write()), raises TornError with .array (the\n"
             "copy) and .seq (the version). Releases the GIL while it waits and copies.\n"
             "return_seq=True returns (array, seq): the copy and the version it holds\n"
             "(the value seg.wait() returned for it), so a reader knows what it copied.");

PyDoc_STRVAR(segment_read_doc,
             "read($self, /, timeout=1.0, *, bfloat16_as_uint16=False)\n--\n\n"
             "A consistent read in place, zero-copy: a context manager (tshm.Read) whose\n"
             "__enter__ waits (up to `timeout` s; None: forever) while a write is in\n"
             "progress and gives a read-only ndarray view of the segment, and whose\n"
             "__exit__ checks the seqlock: when a write overlapped the block, what it read\n"
             "may mix two versions and it raises TornError (.seq: the version it began\n"
             "at); so it does for a version a writer left half-written. .seq is the\n"
             "version read. A with block cannot run twice, so the caller retries:\n\n"
             "    while True:\n"
             "        try:\n"
             "            with seg.read() as a:\n"
             "                total = a.sum()\n"
             "            break\n"
             "        except tshm.TornError:\n"
             "            continue        # a writer overlapped: read again\n\n"
             "Keep the block short: a writer does not wait for it (it is the reader who\n"
             "retries). The view stays valid memory after the block, but only what was\n"
             "computed inside it is checked. snapshot() is the copying form, which retries\n"
             "by itself. Raises TimeoutError when a writer does not finish in time.");

PyDoc_STRVAR(segment_array_doc,
             "__array__($self, /, dtype=None, copy=None)\n--\n\n"
             "numpy.asarray(seg): the same view as .numpy() (converted when dtype differs).");

/* seg.populate(start=0, stop=None) */

static PyObject *
segment_populate(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"start", "stop", NULL};
        PyObject *start_obj = NULL, *stop_obj = Py_None;
        unsigned long long start = 0, stop = (unsigned long long)self->nbytes;
        tshmpy_mapping *map;
        int rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:populate", TSHMPY_KW(kwlist), &start_obj,
                                         &stop_obj)) {
                return NULL;
        }
        /* Byte offsets, not negative: PyLong_AsUnsignedLongLong raises
         * OverflowError for a negative int and TypeError for a non-int. */
        if (start_obj != NULL &&
            (start = PyLong_AsUnsignedLongLong(start_obj)) == (unsigned long long)-1 &&
            PyErr_Occurred()) {
                return NULL;
        }
        if (stop_obj != Py_None &&
            (stop = PyLong_AsUnsignedLongLong(stop_obj)) == (unsigned long long)-1 &&
            PyErr_Occurred()) {
                return NULL;
        }
        if (start > stop || stop > (unsigned long long)self->nbytes) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "populate(%llu, %llu): a byte range within the %llu bytes "
                                      "of %R",
                                      start, stop, (unsigned long long)self->nbytes, self->name);
        }
        if ((map = tshmpy_segment_mapping(self)) == NULL) {
                return NULL;
        }
        /* The mapping is held across the call: close() on another thread
         * cannot unmap it meanwhile. */
        Py_INCREF(map);
        Py_BEGIN_ALLOW_THREADS rv = tshm_seg_populate(map->seg, start, stop - start);
        Py_END_ALLOW_THREADS Py_DECREF(map);
        if (rv < 0) {
                return tshmpy_err_code(rv, NULL);
        }
        Py_RETURN_NONE;
}

PyDoc_STRVAR(segment_populate_doc,
             "populate($self, /, start=0, stop=None)\n--\n\n"
             "Fault in the pages that hold bytes [start, stop) of the data (stop None: to\n"
             "the end), for writing if the segment is writable, so that reading or filling\n"
             "them takes no page fault. Copies nothing. For a consumer of a slice of a large\n"
             "segment opened with populate=False. Raises InvalidError for a range beyond\n"
             "nbytes, NoMemoryError if the kernel cannot populate (the segment stays usable),\n"
             "ClosedError. Releases the GIL.");

static PyMethodDef segment_methods[] = {
    {"populate", TSHMPY_METH(segment_populate), METH_VARARGS | METH_KEYWORDS, segment_populate_doc},
    {"close", TSHMPY_METH(tshmpy_segment_close), METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Drop this object's hold on the mapping. Views made from it (ndarrays, tensors,\n"
     "memoryviews, capsules) stay valid; the segment is unmapped, and its handle at\n"
     "the daemon released, when the last of them is gone. Later use of the memory\n"
     "through this object raises ClosedError; its description (name, shape, ...)\n"
     "stays readable. Idempotent; also called on leaving a `with` block."},
    {"numpy", TSHMPY_METH(segment_numpy), METH_VARARGS | METH_KEYWORDS, segment_numpy_doc},
    {"torch", TSHMPY_METH(segment_torch), METH_NOARGS, segment_torch_doc},
    {"__dlpack__", TSHMPY_METH(segment_dlpack), METH_VARARGS | METH_KEYWORDS, segment_dlpack_doc},
    {"__dlpack_device__", TSHMPY_METH(segment_dlpack_device), METH_NOARGS,
     "__dlpack_device__($self, /)\n--\n\nThe DLPack device, (1, 0): kDLCPU, device 0."},
    {"__array__", TSHMPY_METH(segment_array), METH_VARARGS | METH_KEYWORDS, segment_array_doc},
    {"write", TSHMPY_METH(tshmpy_publish_write), METH_VARARGS | METH_KEYWORDS, segment_write_doc},
    {"wait", TSHMPY_METH(tshmpy_publish_wait), METH_VARARGS | METH_KEYWORDS, segment_wait_doc},
    {"wait_async", TSHMPY_METH(tshmpy_waitany_wait_async), METH_VARARGS | METH_KEYWORDS,
     tshmpy_waitany_wait_async_doc},
    {"snapshot", TSHMPY_METH(tshmpy_publish_snapshot), METH_VARARGS | METH_KEYWORDS,
     segment_snapshot_doc},
    {"read", TSHMPY_METH(tshmpy_read_new), METH_VARARGS | METH_KEYWORDS, segment_read_doc},
    {"__enter__", tshmpy_segment_enter, METH_NOARGS, "Return the segment."},
    {"__exit__", TSHMPY_METH(tshmpy_segment_exit), METH_VARARGS, "Close the segment."},
    {"__reduce__", TSHMPY_METH(tshmpy_segment_reduce), METH_NOARGS,
     "__reduce__($self, /)\n--\n\n"
     "Pickle by socket, name and access: the receiving process opens the segment\n"
     "again (through one Client per socket). ClosedError once closed."},
    {"_torch_bytes", TSHMPY_METH(tshmpy_dlpack_torch_bytes), METH_NOARGS,
     "_torch_bytes($self, /)\n--\n\n"
     "A 1-d uint8 tensor over all the data bytes (private when read-only), for\n"
     "tshm._reduce."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef segment_getset[] = {
    {"name", (getter)tshmpy_segment_get_name, NULL, "The segment's name (str).", NULL},
    {"dtype", (getter)tshmpy_segment_get_dtype, NULL,
     "The element type as a numpy dtype; bfloat16, which numpy lacks, is\n"
     "numpy.dtype('V2') (see dtype_name).",
     NULL},
    {"dtype_name", (getter)tshmpy_segment_get_dtype_name, NULL,
     "The element type's name as tshm spells it: 'float32', 'bfloat16', ...", NULL},
    {"shape", (getter)tshmpy_segment_get_shape, NULL, "The extents (tuple of int; () for 0-d).",
     NULL},
    {"strides", (getter)tshmpy_segment_get_strides, NULL,
     "The strides in bytes (tuple of int); the data is always C-contiguous.", NULL},
    {"ndim", (getter)tshmpy_segment_get_ndim, NULL, "The number of dimensions.", NULL},
    {"itemsize", (getter)tshmpy_segment_get_itemsize, NULL, "Bytes per element.", NULL},
    {"nbytes", (getter)tshmpy_segment_get_nbytes, NULL, "Bytes of array data.", NULL},
    {"writable", (getter)tshmpy_segment_get_writable, NULL,
     "True when opened read-write (create() always is).", NULL},
    {"closed", (getter)tshmpy_segment_get_closed, NULL, "True once close() was called.", NULL},
    {"seq", (getter)tshmpy_segment_get_seq, NULL,
     "The header's sequence counter, read with acquire order (ClosedError once closed):\n"
     "the version last published (0 at creation, then 2, 4, 6, ...), odd while a\n"
     "write is in progress.",
     NULL},
    {"publish_time", (getter)tshmpy_publish_get_time, NULL,
     "When the current version was published, as seconds since the Unix epoch\n"
     "(float, like time.time()), or None when nothing was published yet.",
     NULL},
    {"spin_us", (getter)tshmpy_publish_get_spin, (setter)tshmpy_publish_set_spin,
     "How long wait() and snapshot() on this handle spin before they sleep, in\n"
     "microseconds (float). Spinning makes a wake-up about as fast as the cache line\n"
     "moves, at the price of a busy core. None until set: then libtshm's default\n"
     "applies ($TSHM_SPIN_NS, else 50 us with 4 or more CPUs, else 0). Per handle.",
     NULL},
    {"__array_interface__", (getter)segment_get_array_interface, NULL,
     "The numpy array interface (version 3). Its 'data' is the mapping object, which\n"
     "becomes the base of arrays made from it; read-only segments give read-only arrays.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(segment_doc,
             "One opened segment: a named N-d array in shared memory. Get one from\n"
             "Client.create/open/from_numpy or tshm.create/open.\n\n"
             "Views share the memory with every process that opened the segment, no copy:\n"
             "  seg.numpy(), numpy.asarray(seg)    ndarray (buffer protocol or __array__)\n"
             "  seg.torch(), torch.from_dlpack(seg) tensor (DLPack)\n"
             "  memoryview(seg)                    typed memoryview with format and shape\n"
             "Each view keeps the mapping alive on its own, so closing the segment or its\n"
             "client, or unlinking it, never invalidates a view: the memory is unmapped when\n"
             "the last view is gone. A read-only segment gives read-only views; writing\n"
             "raises, it never crashes. Use it as a context manager to close it.");

PyTypeObject tshmpy_segment_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Segment",
    .tp_basicsize = sizeof(tshmpy_segment),
    .tp_dealloc = (destructor)tshmpy_segment_dealloc,
    .tp_repr = (reprfunc)segment_repr,
    .tp_as_buffer = &segment_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = segment_doc,
    .tp_methods = segment_methods,
    .tp_getset = segment_getset,
};
