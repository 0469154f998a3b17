/*
 * client.c - tshm.Client: one connection to tshmd, its lock, and the calls
 * that make and remove arrays through it (create, open, from_numpy,
 * unlink). Its other calls live beside it: args.c converts their
 * arguments, info.c holds list(), stat() and daemon_stat(), client_stream.c the
 * calls that make streams, group.c those that make tensor groups.
 *
 * Every blocking libtshm call on the client runs with the GIL released and
 * the client's lock held (the lock guards self->c, which close() and a fork
 * child's detach clear). The tshm_close() that a mapping makes when its last
 * view dies takes no lock of ours: libtshm lets it race tshm_disconnect().
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

void
tshmpy_client_lock(tshmpy_client *self)
{
        if (PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
                return;
        }
        Py_BEGIN_ALLOW_THREADS(void) PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
}

void
tshmpy_client_unlock(tshmpy_client *self)
{
        PyThread_release_lock(self->lock);
}

void
tshmpy_client_detach_if_forked(tshmpy_client *self)
{
        if (self->c != NULL && self->pid != getpid()) {
                /* tshm_disconnect() only closes this process's copy of the
                 * socket and marks the client's segments detached, so their
                 * tshm_close() merely unmaps: the parent's handles and its
                 * stream of replies are untouched. */
                tshm_disconnect(self->c);
                self->c = NULL;
        }
}

/* The socket libtshm would try for @arg, for error messages only; mirrors
 * tshm_connect()'s documented resolution. */
static void
client_guess_path(const char *arg, char *out, size_t outlen)
{
        const char *env = getenv("TSHM_SOCKET");
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        struct stat st;

        if (arg != NULL && arg[0] != '\0') {
                (void)snprintf(out, outlen, "%s", arg);
                return;
        }
        if (env != NULL && env[0] != '\0') {
                (void)snprintf(out, outlen, "%s", env);
                return;
        }
        if (xdg != NULL && xdg[0] != '\0') {
                (void)snprintf(out, outlen, "%s/tshm/tshm.sock", xdg);
                if (stat(out, &st) == 0) {
                        return;
                }
        }
        (void)snprintf(out, outlen, "/run/tshm/tshm.sock");
}

static PyObject *
client_connect_error(int rv, const char *socket)
{
        char path[512];

        client_guess_path(socket, path, sizeof(path));
        if (rv == TSHM_ENODAEMON) {
                return tshmpy_err_fmt(
                    tshmpy_ConnectError, rv,
                    "cannot reach tshmd at '%s': is it running? Start it with 'tshmd' (as root it "
                    "listens on /run/tshm/tshm.sock, else on $XDG_RUNTIME_DIR/tshm/tshm.sock), "
                    "or pass socket=PATH / set TSHM_SOCKET to the socket of a running tshmd",
                    path);
        }
        if (rv == TSHM_ELIMIT) {
                return tshmpy_err_fmt(tshmpy_LimitError, rv,
                                      "tshmd at '%s' serves no more clients (--max-clients); "
                                      "try again later",
                                      path);
        }
        return tshmpy_err_code(rv, path);
}

PyObject *
tshmpy_client_connect(const char *socket)
{
        tshmpy_client *self;
        tshm_client *c = NULL;
        int rv;

        Py_BEGIN_ALLOW_THREADS rv = tshm_connect(socket, &c);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_connect_error(rv, socket);
        }
        self = (tshmpy_client *)tshmpy_client_type.tp_alloc(&tshmpy_client_type, 0);
        if (self == NULL) {
                tshm_disconnect(c);
                return NULL;
        }
        self->c = c;
        self->pid = getpid();
        self->lock = PyThread_allocate_lock();
        if (self->lock == NULL) {
                Py_DECREF(self);
                return PyErr_NoMemory();
        }
        self->socket = PyUnicode_DecodeFSDefault(tshm_client_socket(c));
        if (self->socket == NULL) {
                Py_DECREF(self);
                return NULL;
        }
        return (PyObject *)self;
}

static void
client_dealloc(tshmpy_client *self)
{
        /* Every mapping holds a reference, so none is left to close. */
        tshm_disconnect(self->c);
        if (self->lock != NULL) {
                PyThread_free_lock(self->lock);
        }
        Py_XDECREF(self->socket);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

int
tshmpy_client_begin(tshmpy_client *self)
{
        tshmpy_client_lock(self);
        tshmpy_client_detach_if_forked(self);
        if (self->c != NULL) {
                return 0;
        }
        tshmpy_client_unlock(self);
        if (self->pid != getpid()) {
                (void)tshmpy_err_fmt(tshmpy_ConnectError, TSHM_EBADF,
                                     "this tshm.Client was connected by process %d, and a "
                                     "connection does not survive fork(): call tshm.connect() "
                                     "again in this process (the module-level functions do so "
                                     "by themselves)",
                                     (int)self->pid);
        } else {
                (void)tshmpy_err_fmt(tshmpy_ClosedError, TSHM_EBADF, "client is closed");
        }
        return -1;
}

PyObject *
tshmpy_client_fail(tshmpy_client *self, int rv)
{
        char detail[512];

        (void)snprintf(detail, sizeof(detail), "%s", tshm_errmsg(self->c));
        tshmpy_client_unlock(self);
        return tshmpy_err_code(rv, detail);
}

const char *
tshmpy_client_begin_named(tshmpy_client *self, PyObject *args, PyObject *kwds, const char *format)
{
        static const char *const kwlist[] = {"name", NULL};
        PyObject *name_obj;
        const char *name;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, format, TSHMPY_KW(kwlist), &name_obj) ||
            (name = tshmpy_args_name(name_obj)) == NULL || tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        return name;
}

int
tshmpy_client_populate_arg(PyObject *populate, unsigned *ret_flags)
{
        int truth;

        if (populate == NULL || populate == Py_None) {
                *ret_flags = 0;
                return 0;
        }
        if ((truth = PyObject_IsTrue(populate)) < 0) {
                return -1;
        }
        *ret_flags = truth ? TSHM_OPEN_POPULATE : TSHM_OPEN_NOPOPULATE;
        return 0;
}

tshm_seg *
tshmpy_client_open_kind(tshmpy_client *self, PyObject *name_obj, bool writable, bool stream,
                        unsigned populate)
{
        const char *name;
        tshm_seg *seg = NULL;
        int rv;

        if ((name = tshmpy_args_name(name_obj)) == NULL || tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_open(
            self->c, name, (writable ? TSHM_OPEN_RDWR : TSHM_OPEN_RDONLY) | populate, &seg);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                (void)tshmpy_client_fail(self, rv);
                return NULL;
        }
        if ((tshm_seg_is_stream(seg) != 0) != stream) {
                Py_BEGIN_ALLOW_THREADS(void) tshm_close(seg);
                Py_END_ALLOW_THREADS tshmpy_client_unlock(self);
                if (stream) {
                        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                             "%R is an array, not a stream: use open(name)",
                                             name_obj);
                } else {
                        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                             "%R is a stream, not an array: use sub_open(name) "
                                             "to read its frames, stream_open(name) to produce "
                                             "them",
                                             name_obj);
                }
                return NULL;
        }
        tshmpy_client_unlock(self);
        return seg;
}

PyObject *
tshmpy_client_create(tshmpy_client *self, const char *name, tshm_dtype dtype, size_t ndim,
                     const uint64_t *shape, unsigned mode, unsigned flags)
{
        tshm_seg *seg = NULL;
        int rv;

        if (tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv =
            tshm_create(self->c, name, dtype, ndim, shape, mode, flags, &seg);
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
        return tshmpy_segment_new(self, seg);
}

int
tshmpy_client_unlink_quiet(tshmpy_client *self, const char *name)
{
        int rv;

        tshmpy_client_lock(self);
        tshmpy_client_detach_if_forked(self);
        rv = TSHM_EBADF;
        if (self->c != NULL) {
                Py_BEGIN_ALLOW_THREADS rv = tshm_unlink(self->c, name);
                Py_END_ALLOW_THREADS
        }
        tshmpy_client_unlock(self);
        return rv;
}

static PyObject *
client_create(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name",     "shape",     "dtype", "mode",
                                             "populate", "ephemeral", NULL};
        PyObject *name_obj, *shape_obj, *dtype_obj = NULL, *populate = NULL;
        uint64_t shape[TSHM_MAX_NDIM];
        size_t ndim = 0;
        tshm_dtype dtype = TSHM_DTYPE_FLOAT32;
        const char *name;
        unsigned mode, flags;
        int imode = 0600, ephemeral = 0;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OiO$p:create", TSHMPY_KW(kwlist),
                                         &name_obj, &shape_obj, &dtype_obj, &imode, &populate,
                                         &ephemeral) ||
            tshmpy_client_populate_arg(populate, &flags) < 0 ||
            (name = tshmpy_args_name(name_obj)) == NULL ||
            tshmpy_args_shape(shape_obj, &ndim, shape) < 0 ||
            (dtype_obj != NULL && tshmpy_numpy_parse_dtype(dtype_obj, &dtype) < 0) ||
            tshmpy_args_mode(imode, &mode) < 0) {
                return NULL;
        }
        if (ephemeral) {
                flags |= TSHM_CREATE_EPHEMERAL;
        }
        return tshmpy_client_create(self, name, dtype, ndim, shape, mode, flags);
}

static PyObject *
client_open(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "writable", "populate", NULL};
        PyObject *name_obj, *populate = NULL;
        tshm_seg *seg;
        unsigned flags;
        int writable = 0;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|pO:open", TSHMPY_KW(kwlist), &name_obj,
                                         &writable, &populate) ||
            tshmpy_client_populate_arg(populate, &flags) < 0 ||
            (seg = tshmpy_client_open_kind(self, name_obj, writable, false, flags)) == NULL) {
                return NULL;
        }
        return tshmpy_segment_new(self, seg);
}

static PyObject *
client_from_numpy(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "array", "mode", NULL};
        PyObject *name_obj, *array;
        const char *name;
        unsigned mode;
        int imode = 0600;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|i:from_numpy", TSHMPY_KW(kwlist),
                                         &name_obj, &array, &imode) ||
            (name = tshmpy_args_name(name_obj)) == NULL || tshmpy_args_mode(imode, &mode) < 0) {
                return NULL;
        }
        return tshmpy_numpy_from_array(self, name, array, mode);
}

static PyObject *
client_unlink(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        const char *name;
        int rv;

        if ((name = tshmpy_client_begin_named(self, args, kwds, "O:unlink")) == NULL) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_unlink(self->c, name);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        Py_RETURN_NONE;
}

static PyObject *
client_close(tshmpy_client *self, PyObject *unused)
{
        (void)unused;
        tshmpy_client_lock(self);
        tshmpy_client_detach_if_forked(self);
        /* No round trip: closing the socket makes the daemon drop this
         * connection's handles; the mappings stay valid. */
        tshm_disconnect(self->c);
        self->c = NULL;
        tshmpy_client_unlock(self);
        Py_RETURN_NONE;
}

static PyObject *
client_enter(PyObject *self, PyObject *unused)
{
        (void)unused;
        return Py_NewRef(self);
}

static PyObject *
client_exit(tshmpy_client *self, PyObject *args)
{
        (void)args;
        return client_close(self, NULL);
}

static PyObject *
client_get_closed(tshmpy_client *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->c == NULL || self->pid != getpid());
}

static PyObject *
client_get_socket(tshmpy_client *self, void *closure)
{
        (void)closure;
        return Py_NewRef(self->socket);
}

static PyObject *
client_repr(tshmpy_client *self)
{
        return PyUnicode_FromFormat("<tshm.Client socket=%R%s>", self->socket,
                                    self->c == NULL ? " closed" : "");
}

PyDoc_STRVAR(client_create_doc,
             "create($self, /, name, shape, dtype='float32', mode=0o600, populate=None, *,\n"
             "       ephemeral=False)\n--\n\n"
             "Create the segment `name` holding a zero-filled, C-contiguous array, open it\n"
             "read-write and return its Segment.\n\n"
             "name: 1-200 characters of [A-Za-z0-9._-], not starting with '.'.\n"
             "shape: an int, a sequence of ints (() for a 0-d array; zeros make an empty\n"
             "array), or a str like '3x4'. At most 32 dimensions.\n"
             "dtype: a name ('float32', 'bool', 'bfloat16', ...), a numpy dtype or scalar\n"
             "type (np.float32), an array-interface string ('<f4'), or a torch dtype\n"
             "(torch.bfloat16). Little-endian or native only.\n"
             "mode: permission bits like a file's, 0o600 by default.\n"
             "populate: map every page now (True), leave them to fault in on first touch\n"
             "(False), or None: populate segments up to 1 GiB (tshm.POPULATE_AUTO_MAX).\n"
             "ephemeral: the daemon removes the segment when this client's connection\n"
             "closes (Client.close(), the process ending, or killed with -9); views\n"
             "already made stay valid. Default False: it stays until unlink().\n\n"
             "The daemon reserves every page now: a full /dev/shm or budget is NoSpaceError\n"
             "here, never a SIGBUS later. Raises InvalidError (ValueError) for a bad name,\n"
             "shape, dtype or mode, ExistsError (FileExistsError), NoSpaceError, LimitError,\n"
             "ConnectError, ClosedError. Releases the GIL while it waits for the daemon.");

PyDoc_STRVAR(client_open_doc,
             "open($self, /, name, writable=False, populate=None)\n--\n\n"
             "Open the existing segment `name`, map it and return a Segment. Read-only\n"
             "unless `writable`: then the kernel refuses writes, numpy views have\n"
             "writeable=False, and .torch() and __dlpack__() view a private copy-on-write\n"
             "mapping (in-place writes stay in this process).\n"
             "populate: fault in the whole mapping now (True), not at all (False; use\n"
             "Segment.populate() for the slice you read), or None: whole segments up to\n"
             "1 GiB (tshm.POPULATE_AUTO_MAX). Best effort: an open never fails for it.\n"
             "Raises InvalidError (bad name), NotFoundError (FileNotFoundError),\n"
             "PermissionDeniedError (PermissionError), LimitError, ConnectError,\n"
             "ClosedError. Releases the GIL while it waits for the daemon.");

PyDoc_STRVAR(client_from_numpy_doc,
             "from_numpy($self, /, name, array, mode=0o600)\n--\n\n"
             "Create the segment `name` with the dtype and shape of `array` (anything\n"
             "numpy.asarray accepts, strided or not) and copy the array into it. Returns the\n"
             "writable Segment. A dtype tshm does not hold (object, str, big-endian, ...)\n"
             "raises InvalidError; if the copy fails the new segment is unlinked again.");

PyDoc_STRVAR(client_unlink_doc,
             "unlink($self, /, name)\n--\n\n"
             "Remove the name `name` now: a new segment may take it, while every existing\n"
             "mapping and view keeps working until it is closed. Only the owner or root may\n"
             "unlink. Raises NotFoundError, PermissionDeniedError, InvalidError, ConnectError.");

PyDoc_STRVAR(client_close_doc,
             "close($self, /)\n--\n\n"
             "Close the connection. The daemon drops this connection's open handles, but\n"
             "segments and views obtained through it stay mapped and usable until they are\n"
             "closed or garbage-collected. Later calls raise ClosedError. Idempotent.");

/* A client pickles as its socket: the receiver connects a Client of its own
 * (tshm._reduce._client: not the one its unpickled handles share, which a
 * close() of this one must not end). A closed one refuses. */
static PyObject *
client_reduce(tshmpy_client *self, PyObject *unused)
{
        (void)unused;
        if (self->c == NULL && self->pid == getpid()) {
                return tshmpy_err_fmt(tshmpy_ClosedError, TSHM_EBADF, "client is closed");
        }
        return tshmpy_reduce_value("_client", Py_BuildValue("(O)", self->socket));
}

static PyMethodDef client_methods[] = {
    {"__reduce__", TSHMPY_METH(client_reduce), METH_NOARGS,
     "__reduce__($self, /)\n--\n\n"
     "Pickle by socket path: the receiving process gets a new Client of its own,\n"
     "connected to that socket. ClosedError once closed."},
    {"stream_create", TSHMPY_METH(tshmpy_client_stream_create), METH_VARARGS | METH_KEYWORDS,
     tshmpy_client_stream_create_doc},
    {"stream_open", TSHMPY_METH(tshmpy_client_stream_open), METH_VARARGS | METH_KEYWORDS,
     tshmpy_client_stream_open_doc},
    {"sub_open", TSHMPY_METH(tshmpy_client_sub_open), METH_VARARGS | METH_KEYWORDS,
     tshmpy_client_sub_open_doc},
    {"group_create", TSHMPY_METH(tshmpy_group_create), METH_VARARGS | METH_KEYWORDS,
     tshmpy_group_create_doc},
    {"group_open", TSHMPY_METH(tshmpy_group_open), METH_VARARGS | METH_KEYWORDS,
     tshmpy_group_open_doc},
    {"create", TSHMPY_METH(client_create), METH_VARARGS | METH_KEYWORDS, client_create_doc},
    {"open", TSHMPY_METH(client_open), METH_VARARGS | METH_KEYWORDS, client_open_doc},
    {"from_numpy", TSHMPY_METH(client_from_numpy), METH_VARARGS | METH_KEYWORDS,
     client_from_numpy_doc},
    {"list", TSHMPY_METH(tshmpy_info_list), METH_VARARGS | METH_KEYWORDS, tshmpy_info_list_doc},
    {"stat", TSHMPY_METH(tshmpy_info_stat), METH_VARARGS | METH_KEYWORDS, tshmpy_info_stat_doc},
    {"unlink", TSHMPY_METH(client_unlink), METH_VARARGS | METH_KEYWORDS, client_unlink_doc},
    {"daemon_stat", TSHMPY_METH(tshmpy_info_daemon_stat), METH_NOARGS, tshmpy_info_daemon_stat_doc},
    {"mirror", TSHMPY_METH(tshmpy_client_mirror), METH_VARARGS | METH_KEYWORDS,
     tshmpy_client_mirror_doc},
    {"mirror_stop", TSHMPY_METH(tshmpy_client_mirror_stop), METH_VARARGS | METH_KEYWORDS,
     tshmpy_client_mirror_stop_doc},
    {"mirrors", TSHMPY_METH(tshmpy_client_mirrors), METH_NOARGS, tshmpy_client_mirrors_doc},
    {"close", TSHMPY_METH(client_close), METH_NOARGS, client_close_doc},
    {"__enter__", client_enter, METH_NOARGS, "Return the client."},
    {"__exit__", TSHMPY_METH(client_exit), METH_VARARGS, "Close the client."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef client_getset[] = {
    {"closed", (getter)client_get_closed, NULL, "True once close() was called.", NULL},
    {"socket", (getter)client_get_socket, NULL, "The path of the daemon's socket (str).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(client_doc,
             "A connection to tshmd; make one with tshm.connect(socket=None).\n\n"
             "If the daemon restarts, the next call connects again by itself (libtshm);\n"
             "segments stay mapped, but their handles died with the old connection.\n"
             "It may be shared by threads: calls are serialised, and each releases the GIL\n"
             "while it waits for the daemon. It does not survive fork(): a child must connect\n"
             "again (using the parent's client there raises ConnectError). Pickling sends its\n"
             "socket path, and the receiver connects there (multiprocessing spawn or\n"
             "forkserver). Use it as a context manager to close it. Segments keep their\n"
             "client alive while they are open.");

PyTypeObject tshmpy_client_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Client",
    .tp_basicsize = sizeof(tshmpy_client),
    .tp_dealloc = (destructor)client_dealloc,
    .tp_repr = (reprfunc)client_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = client_doc,
    .tp_methods = client_methods,
    .tp_getset = client_getset,
};
