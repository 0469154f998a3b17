/*
 * errors.c - the exception hierarchy of the tshm module, and turning a
 * negative TSHM_E* code into one of them.
 *
 * Every exception the library raises derives from tshm.Error, and also from
 * the builtin that fits, so that `except FileNotFoundError` works as well as
 * `except tshm.Error`. Each carries .code, the negative TSHM_E* value.
 */
#include <stdarg.h>

#include "internal.h"

PyObject *tshmpy_Error, *tshmpy_NotFoundError, *tshmpy_ExistsError, *tshmpy_PermissionDeniedError,
    *tshmpy_ConnectError, *tshmpy_InvalidError, *tshmpy_ClosedError, *tshmpy_ReadOnlyError,
    *tshmpy_DtypeError, *tshmpy_NoSpaceError, *tshmpy_LimitError, *tshmpy_NoMemoryError,
    *tshmpy_TimeoutError, *tshmpy_TornError;

struct errors_def {
        PyObject **slot;
        const char *name;   /* module attribute */
        PyObject **builtin; /* second base, or NULL for tshm.Error alone */
        const char *doc;
};

static const struct errors_def errors_defs[] = {
    {&tshmpy_NotFoundError, "NotFoundError", &PyExc_FileNotFoundError,
     "No segment has that name (TSHM_ENOENT). Also a FileNotFoundError."},
    {&tshmpy_ExistsError, "ExistsError", &PyExc_FileExistsError,
     "A segment with that name already exists (TSHM_EEXIST). Also a FileExistsError."},
    {&tshmpy_PermissionDeniedError, "PermissionDeniedError", &PyExc_PermissionError,
     "The segment's owner and mode do not allow this (TSHM_EACCES): opening for read needs\n"
     "'r', for write 'w', and only the owner or root may unlink. Also a PermissionError."},
    {&tshmpy_ConnectError, "ConnectError", &PyExc_ConnectionError,
     "The daemon cannot be reached, the connection broke, or it speaks another protocol\n"
     "version (TSHM_ENODAEMON, TSHM_ECONNRESET, TSHM_ETIMEDOUT, TSHM_EVERSION,\n"
     "TSHM_EPROTO); also raised when a Client is used in a child of fork(). The message\n"
     "says which socket was tried and how to start tshmd. Also a ConnectionError."},
    {&tshmpy_InvalidError, "InvalidError", &PyExc_ValueError,
     "A bad argument: segment name, dtype, shape, mode or socket path (TSHM_EINVAL,\n"
     "TSHM_EBADNAME, TSHM_EBADDTYPE, TSHM_EBADSHAPE, TSHM_ENAMETOOLONG). Also a ValueError."},
    {&tshmpy_ClosedError, "ClosedError", &PyExc_ValueError,
     "The Segment or Client was closed (seg.close(), client.close()). Views made before\n"
     "stay valid. Also a ValueError, like I/O on a closed file."},
    {&tshmpy_ReadOnlyError, "ReadOnlyError", &PyExc_ValueError,
     "Kept for compatibility: no call raises it now. .torch() and __dlpack__() of a\n"
     "read-only segment used to; they now give private copy-on-write views. Also a\n"
     "ValueError."},
    {&tshmpy_DtypeError, "DtypeError", &PyExc_TypeError,
     "The consumer has no type for the segment's dtype: numpy has no bfloat16, DLPack 0.6\n"
     "has no bool, torch 1.13 has no uint16/uint32/uint64. Also a TypeError."},
    {&tshmpy_NoSpaceError, "NoSpaceError", &PyExc_OSError,
     "The daemon's byte budget or /dev/shm is full (TSHM_ENOSPC); nothing was allocated.\n"
     "Also an OSError with errno ENOSPC."},
    {&tshmpy_LimitError, "LimitError", NULL,
     "A count limit of the daemon was reached (TSHM_ELIMIT): segments, clients or open\n"
     "handles per connection, or a message was too large (TSHM_ETOOBIG)."},
    {&tshmpy_NoMemoryError, "NoMemoryError", &PyExc_MemoryError,
     "Out of memory in libtshm or the daemon (TSHM_ENOMEM). Also a MemoryError."},
    {&tshmpy_TimeoutError, "TimeoutError", &PyExc_TimeoutError,
     "A wait for a version, a writer or a frame ran out its timeout: seg.wait(),\n"
     "seg.write(), seg.snapshot(), stream.loan(), sub.take() (TSHM_ETIMEDOUT). A\n"
     "daemon that does not answer is ConnectError instead. Also the builtin\n"
     "TimeoutError (an OSError with errno ETIMEDOUT)."},
    {&tshmpy_TornError, "TornError", NULL,
     "The data is torn (TSHM_ETORN): a writer died, or gave up with an exception, in\n"
     "the middle of an update, so the version holds a mix of old and new bytes.\n"
     "seg.snapshot() raises it with .array (the copy it made) and .seq (the torn\n"
     "version); the next complete write clears it. Leaving seg.write() raises it\n"
     "(.array None, .seq None) when the write outlasted its lease and was broken."},
};

static int
errors_add(PyObject *module, PyObject **slot, const char *name, PyObject *base, const char *doc)
{
        char qualname[64];
        PyObject *bases;

        (void)PyOS_snprintf(qualname, sizeof(qualname), "tshm.%s", name);
        bases = base != NULL ? PyTuple_Pack(2, tshmpy_Error, base) : PyTuple_Pack(1, tshmpy_Error);
        if (bases == NULL) {
                return -1;
        }
        *slot = PyErr_NewExceptionWithDoc(qualname, doc, bases, NULL);
        Py_DECREF(bases);
        /* TornError's attributes exist on every instance, None by default. */
        if (*slot != NULL && slot == &tshmpy_TornError &&
            (PyObject_SetAttrString(*slot, "array", Py_None) < 0 ||
             PyObject_SetAttrString(*slot, "seq", Py_None) < 0)) {
                Py_CLEAR(*slot);
        }
        if (*slot == NULL) {
                return -1;
        }
        Py_INCREF(*slot);
        if (PyModule_AddObject(module, name, *slot) < 0) {
                Py_DECREF(*slot);
                return -1;
        }
        return 0;
}

int
tshmpy_errors_init(PyObject *module)
{
        size_t i;

        tshmpy_Error = PyErr_NewExceptionWithDoc(
            "tshm.Error",
            "Base class of every error tshm raises. .code is the negative TSHM_E* value from\n"
            "libtshm (see tshm.h), or None; str(e) is the library's message and its detail.",
            PyExc_Exception, NULL);
        if (tshmpy_Error == NULL) {
                return -1;
        }
        Py_INCREF(tshmpy_Error);
        if (PyModule_AddObject(module, "Error", tshmpy_Error) < 0) {
                Py_DECREF(tshmpy_Error);
                return -1;
        }
        for (i = 0; i < sizeof(errors_defs) / sizeof(errors_defs[0]); i++) {
                const struct errors_def *d = &errors_defs[i];

                if (errors_add(module, d->slot, d->name, d->builtin != NULL ? *d->builtin : NULL,
                               d->doc) < 0) {
                        return -1;
                }
        }
        return 0;
}

static PyObject *
errors_class(int rv)
{
        switch (rv) {
        case TSHM_ENOENT:
                return tshmpy_NotFoundError;
        case TSHM_EEXIST:
                return tshmpy_ExistsError;
        case TSHM_EACCES:
                return tshmpy_PermissionDeniedError;
        case TSHM_ENODAEMON:
        case TSHM_ECONNRESET:
        case TSHM_ETIMEDOUT:
        case TSHM_EVERSION:
        case TSHM_EPROTO:
                return tshmpy_ConnectError;
        case TSHM_EINVAL:
        case TSHM_EBADNAME:
        case TSHM_EBADDTYPE:
        case TSHM_EBADSHAPE:
        case TSHM_ENAMETOOLONG:
                return tshmpy_InvalidError;
        case TSHM_EBADF:
                return tshmpy_ClosedError;
        case TSHM_ENOSPC:
                return tshmpy_NoSpaceError;
        case TSHM_ELIMIT:
        case TSHM_ETOOBIG:
                return tshmpy_LimitError;
        case TSHM_ENOMEM:
                return tshmpy_NoMemoryError;
        case TSHM_ETORN:
                return tshmpy_TornError;
        default:
                return tshmpy_Error;
        }
}

/* A new @cls(@msg) with .code set; steals @msg. */
static PyObject *
errors_new(PyObject *cls, int code, PyObject *msg)
{
        PyObject *exc, *v;

        if (msg == NULL) {
                return NULL;
        }
        exc = PyObject_CallOneArg(cls, msg);
        Py_DECREF(msg);
        if (exc == NULL) {
                return NULL;
        }
        v = code != 0 ? PyLong_FromLong(code) : Py_NewRef(Py_None);
        if (v == NULL || PyObject_SetAttrString(exc, "code", v) < 0) {
                goto fail;
        }
        /* OSError subclasses also get the errno, when the code has one. */
        if (code < 0 && code > -4000 && PyObject_TypeCheck(exc, (PyTypeObject *)PyExc_OSError)) {
                Py_DECREF(v);
                v = PyLong_FromLong(-code);
                if (v == NULL || PyObject_SetAttrString(exc, "errno", v) < 0) {
                        goto fail;
                }
        }
        Py_DECREF(v);
        return exc;
fail:
        Py_XDECREF(v);
        Py_DECREF(exc);
        return NULL;
}

/* Raise @cls(@msg) with .code set; steals @msg. Returns NULL. */
static PyObject *
errors_raise(PyObject *cls, int code, PyObject *msg)
{
        PyObject *exc = errors_new(cls, code, msg);

        if (exc != NULL) {
                PyErr_SetObject(cls, exc);
                Py_DECREF(exc);
        }
        return NULL;
}

PyObject *
tshmpy_err_code(int rv, const char *detail)
{
        PyObject *msg;

        if (detail != NULL && detail[0] != '\0') {
                msg = PyUnicode_FromFormat("%s: %s", tshm_strerror(rv), detail);
        } else {
                msg = PyUnicode_FromString(tshm_strerror(rv));
        }
        return errors_raise(errors_class(rv), rv, msg);
}

PyObject *
tshmpy_err_fmt(PyObject *cls, int code, const char *fmt, ...)
{
        va_list ap;
        PyObject *msg;

        va_start(ap, fmt);
        msg = PyUnicode_FromFormatV(fmt, ap);
        va_end(ap);
        return errors_raise(cls, code, msg);
}

bool
tshmpy_err_is_connect(void)
{
        return PyErr_ExceptionMatches(tshmpy_ConnectError) != 0;
}

PyObject *
tshmpy_err_torn(PyObject *name, int64_t seq, PyObject *array, const char *detail)
{
        PyObject *exc, *msg, *v;

        if (seq >= 0) {
                msg = PyUnicode_FromFormat("segment %R: version %lld is torn: %s", name,
                                           (long long)seq, detail);
        } else {
                msg = PyUnicode_FromFormat("segment %R: torn: %s", name, detail);
        }
        if ((exc = errors_new(tshmpy_TornError, TSHM_ETORN, msg)) == NULL) {
                return NULL;
        }
        v = seq >= 0 ? PyLong_FromLongLong(seq) : Py_NewRef(Py_None);
        if (v == NULL || PyObject_SetAttrString(exc, "seq", v) < 0 ||
            PyObject_SetAttrString(exc, "array", array != NULL ? array : Py_None) < 0) {
                Py_XDECREF(v);
                Py_DECREF(exc);
                return NULL;
        }
        Py_DECREF(v);
        PyErr_SetObject(tshmpy_TornError, exc);
        Py_DECREF(exc);
        return NULL;
}
