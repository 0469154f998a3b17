/*
 * module.c - the module 'tshm': connect(), the functions that use a lazily
 * connected default client, and module initialisation.
 */
#include <unistd.h>

#include "internal.h"

/* The default client of the module-level functions: connected on first use,
 * in each process (a fork child connects again), and dropped after a
 * connection error so that the next call reconnects. Guarded by the GIL. */
static tshmpy_client *module_default;

static PyObject *
module_connect(PyObject *unused, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"socket", NULL};
        PyObject *socket = Py_None, *path = NULL, *res;

        (void)unused;
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:connect", TSHMPY_KW(kwlist), &socket)) {
                return NULL;
        }
        if (socket != Py_None && !PyUnicode_FSConverter(socket, &path)) {
                return NULL;
        }
        res = tshmpy_client_connect(path != NULL ? PyBytes_AS_STRING(path) : NULL);
        Py_XDECREF(path);
        return res;
}

static bool
module_default_usable(void)
{
        return module_default != NULL && module_default->c != NULL &&
               module_default->pid == getpid();
}

/* The default client, connected if need be. New reference. */
static PyObject *
module_default_client(void)
{
        PyObject *c;

        if (module_default_usable()) {
                return Py_NewRef((PyObject *)module_default);
        }
        /* Connecting releases the GIL: another thread may connect too, and
         * then the first one stored wins. */
        if ((c = tshmpy_client_connect(NULL)) == NULL) {
                return NULL;
        }
        if (module_default_usable()) {
                Py_DECREF(c);
        } else {
                Py_XSETREF(module_default, (tshmpy_client *)Py_NewRef(c));
                Py_DECREF(c);
        }
        return Py_NewRef((PyObject *)module_default);
}

/* Call the default client's method @name. */
static PyObject *
module_call(const char *name, PyObject *args, PyObject *kwds)
{
        PyObject *client, *meth, *res;

        if ((client = module_default_client()) == NULL) {
                return NULL;
        }
        meth = PyObject_GetAttrString(client, name);
        res = meth != NULL ? PyObject_Call(meth, args, kwds) : NULL;
        if (res == NULL && tshmpy_err_is_connect() && (PyObject *)module_default == client) {
                Py_CLEAR(module_default);
        }
        Py_XDECREF(meth);
        Py_DECREF(client);
        return res;
}

/* module_NAME(): Client.NAME() on the default client. */
#define MODULE_FORWARD(name)                                                                       \
        static PyObject *module_##name(PyObject *unused, PyObject *args, PyObject *kwds)           \
        {                                                                                          \
                (void)unused;                                                                      \
                return module_call(#name, args, kwds);                                             \
        }

MODULE_FORWARD(create)
MODULE_FORWARD(open)
MODULE_FORWARD(from_numpy)
MODULE_FORWARD(list)
MODULE_FORWARD(stat)
MODULE_FORWARD(unlink)
MODULE_FORWARD(daemon_stat)
MODULE_FORWARD(stream_create)
MODULE_FORWARD(stream_open)
MODULE_FORWARD(sub_open)
MODULE_FORWARD(group_create)
MODULE_FORWARD(group_open)

static PyMethodDef module_methods[] = {
    {"wait_any", TSHMPY_METH(tshmpy_waitany), METH_VARARGS | METH_KEYWORDS, tshmpy_waitany_doc},
    {"_wait_any_fallback", tshmpy_waitany_force_fallback, METH_O,
     "_wait_any_fallback(on)\n--\n\n"
     "For tests: make wait_any() sleep on one word and poll (libtshm's fallback for\n"
     "kernels without futex_waitv) when `on`, else use futex_waitv. Returns whether\n"
     "it used the fallback before ($TSHM_WAIT_ANY_FALLBACK=1 at start)."},
    {"stream_create", TSHMPY_METH(module_stream_create), METH_VARARGS | METH_KEYWORDS,
     "stream_create(name, shape, dtype='float32', *, slots=4, policy='block', mode=0o600,\n"
     "              ephemeral=False)\n--\n\n"
     "Client.stream_create() on the default client: a Stream."},
    {"stream_open", TSHMPY_METH(module_stream_open), METH_VARARGS | METH_KEYWORDS,
     "stream_open(name, writable=True)\n--\n\n"
     "Client.stream_open() on the default client: a Stream."},
    {"sub_open", TSHMPY_METH(module_sub_open), METH_VARARGS | METH_KEYWORDS,
     "sub_open(name, *, depth=1, start='next')\n--\n\n"
     "Client.sub_open() on the default client: a Subscriber."},
    {"group_create", TSHMPY_METH(module_group_create), METH_VARARGS | METH_KEYWORDS,
     "group_create(name, specs, *, mode=0o600, ephemeral=False, metadata=None,\n"
     "             populate=None)\n--\n\n"
     "Client.group_create() on the default client: an unpublished, writable Group\n"
     "(an ephemeral one lives as long as the default client: the process)."},
    {"group_open", TSHMPY_METH(module_group_open), METH_VARARGS | METH_KEYWORDS,
     "group_open(name, *, writable=False, populate=None)\n--\n\n"
     "Client.group_open() on the default client: a Group."},
    {"connect", TSHMPY_METH(module_connect), METH_VARARGS | METH_KEYWORDS,
     "connect(socket=None)\n--\n\n"
     "Connect to tshmd and return a Client. `socket` is a path (str or os.PathLike);\n"
     "None resolves it as libtshm does: $TSHM_SOCKET, else\n"
     "$XDG_RUNTIME_DIR/tshm/tshm.sock if it exists, else /run/tshm/tshm.sock.\n"
     "Raises ConnectError (a ConnectionError) when no daemon answers, naming the\n"
     "socket and how to start tshmd; InvalidError for a path that is too long.\n"
     "Releases the GIL while it waits. If the daemon restarts later, the client's\n"
     "next call connects again by itself (libtshm); mappings are never affected."},
    {"create", TSHMPY_METH(module_create), METH_VARARGS | METH_KEYWORDS,
     "create(name, shape, dtype='float32', mode=0o600, populate=None, *, ephemeral=False)\n"
     "--\n\n"
     "Client.create() on the default client (connected on first use): a Segment."},
    {"open", TSHMPY_METH(module_open), METH_VARARGS | METH_KEYWORDS,
     "open(name, writable=False, populate=None)\n--\n\n"
     "Client.open() on the default client (connected on first use): a Segment."},
    {"from_numpy", TSHMPY_METH(module_from_numpy), METH_VARARGS | METH_KEYWORDS,
     "from_numpy(name, array, mode=0o600)\n--\n\n"
     "Client.from_numpy() on the default client (connected on first use)."},
    {"list", TSHMPY_METH(module_list), METH_VARARGS | METH_KEYWORDS,
     "list(prefix=None)\n--\n\nClient.list() on the default client: a list of dicts."},
    {"stat", TSHMPY_METH(module_stat), METH_VARARGS | METH_KEYWORDS,
     "stat(name)\n--\n\nClient.stat() on the default client: a dict."},
    {"unlink", TSHMPY_METH(module_unlink), METH_VARARGS | METH_KEYWORDS,
     "unlink(name)\n--\n\nClient.unlink() on the default client."},
    {"daemon_stat", TSHMPY_METH(module_daemon_stat), METH_VARARGS | METH_KEYWORDS,
     "daemon_stat()\n--\n\nClient.daemon_stat() on the default client: a dict."},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(
    module_doc,
    "Named N-d arrays in shared memory, seen as numpy arrays and torch tensors by every\n"
    "process at once, zero-copy.\n"
    "\n"
    "A daemon, tshmd, owns named POSIX shared-memory segments; this module asks it for\n"
    "one, receives its file descriptor and maps it. A write through any view, in any\n"
    "process, is seen by all the others; the daemon is not on the data path.\n"
    "\n"
    "    import tshm, torch\n"
    "    seg = tshm.create('frames', (4, 480, 640), dtype='float32')  # process A\n"
    "    t = seg.torch(); t[0] = 1.0\n"
    "\n"
    "    seg = tshm.open('frames')            # process B: read-only by default\n"
    "    a = seg.numpy()                      # sees A's writes; a.flags.writeable is False\n"
    "\n"
    "Functions: connect() gives a Client; create, open, from_numpy, list, stat, unlink,\n"
    "daemon_stat, stream_create, stream_open, sub_open, group_create and group_open use a\n"
    "default client connected on first use (once per process).\n"
    "Clients connect again by themselves when the daemon restarts.\n"
    "\n"
    "Lifetime: every view (ndarray, tensor, memoryview, DLPack capsule) keeps the mapping\n"
    "alive by itself, so Segment.close(), Client.close() and unlink() never invalidate\n"
    "one; the memory is unmapped when the last view is gone.\n"
    "\n"
    "dtypes: bool, int8-64, uint8-64, float16, bfloat16, float32, float64, complex64,\n"
    "complex128. numpy has no bfloat16 (use .torch()); torch 1.13 has no uint16/32/64\n"
    "(use .numpy()); DLPack 0.6 has no bool (numpy.asarray and .torch() still work).\n"
    "\n"
    "Publish and wait: a writer brackets an update with seg.write() (a seqlock in the\n"
    "segment's header); readers sleep in seg.wait(seq) (a futex: no daemon on the\n"
    "path) and copy a whole version with seg.snapshot():\n"
    "\n"
    "    with seg.write():                    # writer\n"
    "        a[:] = frame\n"
    "    seq = seg.wait(seq, timeout=1.0)     # reader: the next version\n"
    "    frame = seg.snapshot()               # never torn\n"
    "\n"
    "Streams: a ring of frames in one segment, zero-copy from producer to subscribers:\n"
    "\n"
    "    st = tshm.stream_create('cam', (480, 640), 'uint8', slots=4, policy='block')\n"
    "    with st.loan() as a: a[:] = img       # producer: fill, publish on exit\n"
    "    sub = tshm.sub_open('cam')\n"
    "    with sub.take(timeout=1.0) as a: use(a)  # subscriber: released on exit\n"
    "\n"
    "Errors derive from tshm.Error and from the builtin that fits: NotFoundError\n"
    "(FileNotFoundError), ExistsError (FileExistsError), PermissionDeniedError\n"
    "(PermissionError), InvalidError (ValueError: bad name, dtype, shape, mode),\n"
    "ConnectError (ConnectionError), ClosedError and ReadOnlyError (ValueError),\n"
    "DtypeError (TypeError), NoSpaceError (OSError), LimitError, NoMemoryError,\n"
    "TimeoutError (the builtin TimeoutError) and TornError.\n"
    "\n"
    "Threads: a Client may be shared; every call that waits for the daemon releases\n"
    "the GIL. Clients do not survive fork(): connect again in the child.\n"
    "\n"
    "Processes: Client, Segment, Stream and Subscriber pickle by socket, name and\n"
    "access (spawn, forkserver, torch.multiprocessing, DataLoader workers); a tensor\n"
    "over a segment crosses torch.multiprocessing queues as a reference to it. A\n"
    "read-only segment's or a frame's .torch() is a private copy-on-write view.");

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, .m_name = "tshm._tshm",      .m_doc = module_doc,
    .m_size = -1,          .m_methods = module_methods,
};

static int
module_add_type(PyObject *m, const char *name, PyTypeObject *type)
{
        if (PyType_Ready(type) < 0) {
                return -1;
        }
        Py_INCREF(type);
        if (PyModule_AddObject(m, name, (PyObject *)type) < 0) {
                Py_DECREF(type);
                return -1;
        }
        return 0;
}

PyMODINIT_FUNC PyInit__tshm(void);

PyMODINIT_FUNC
PyInit__tshm(void)
{
        PyObject *m;

        /* Read-only handles keep their descriptor: a read-only segment's
         * tensors are a private copy-on-write mapping of it, made when the
         * first is asked for. One descriptor per read-only Segment or
         * Subscriber. */
        tshm__keep_ro_fd = true;
        if (tshm_version() >> 16 != TSHM_VERSION_MAJOR) {
                PyErr_Format(PyExc_ImportError, "tshm: built for libtshm %d.x, found %s",
                             TSHM_VERSION_MAJOR, tshm_version_string());
                return NULL;
        }
        if (tshmpy_numpy_init() < 0) {
                return NULL;
        }
        if ((m = PyModule_Create(&module_def)) == NULL) {
                return NULL;
        }
        if (module_add_type(m, "Client", &tshmpy_client_type) < 0 ||
            module_add_type(m, "Segment", &tshmpy_segment_type) < 0 ||
            module_add_type(m, "_Mapping", &tshmpy_mapping_type) < 0 ||
            module_add_type(m, "Write", &tshmpy_write_type) < 0 ||
            module_add_type(m, "Read", &tshmpy_read_type) < 0 ||
            module_add_type(m, "Stream", &tshmpy_stream_type) < 0 ||
            module_add_type(m, "Loan", &tshmpy_loan_type) < 0 ||
            module_add_type(m, "Subscriber", &tshmpy_subscriber_type) < 0 ||
            module_add_type(m, "Frame", &tshmpy_frame_type) < 0 ||
            module_add_type(m, "Group", &tshmpy_group_type) < 0 || tshmpy_errors_init(m) < 0 ||
            PyModule_AddStringConstant(m, "__version__", tshm_version_string()) < 0 ||
            PyModule_AddIntConstant(m, "NAME_MAX", TSHM_NAME_MAX) < 0 ||
            PyModule_AddIntConstant(m, "MAX_NDIM", TSHM_MAX_NDIM) < 0 ||
            PyModule_AddIntConstant(m, "POPULATE_AUTO_MAX", (long)TSHM_POPULATE_AUTO_MAX) < 0) {
                Py_DECREF(m);
                return NULL;
        }
        return m;
}
