/*
 * client.c - tshm.Client: one connection to tshmd, and the calls made
 * through it.
 *
 * Every blocking libtshm call runs with the GIL released and the client's
 * lock held; the lock also orders tshm_disconnect() against the tshm_close()
 * that a mapping makes when its last view dies, on any thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* Lock @self for a call, or raise when it is closed. */
static int
client_begin(tshmpy_client *self)
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

/* Raise for a failed call: copy the detail while the lock is still held,
 * then drop the lock. */
static PyObject *
client_fail(tshmpy_client *self, int rv)
{
        char detail[512];

        (void)snprintf(detail, sizeof(detail), "%s", tshm_errmsg(self->c));
        tshmpy_client_unlock(self);
        return tshmpy_err_code(rv, detail);
}

static const char *
client_name_arg(PyObject *name)
{
        Py_ssize_t len;
        const char *s;

        if (!PyUnicode_Check(name)) {
                PyErr_Format(PyExc_TypeError, "segment name must be str, not %.100s",
                             Py_TYPE(name)->tp_name);
                return NULL;
        }
        s = PyUnicode_AsUTF8AndSize(name, &len);
        if (s == NULL) {
                return NULL;
        }
        if ((size_t)len != strlen(s) || tshm_name_check(s) < 0) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADNAME, "%s: %R",
                                     tshm_strerror(TSHM_EBADNAME), name);
                return NULL;
        }
        return s;
}

static int
client_shape_dim(PyObject *item, uint64_t *ret_dim)
{
        PyObject *v = PyNumber_Index(item);
        unsigned long long u = 0;
        long long sv;
        int overflow = 0;

        if (v == NULL) {
                return -1;
        }
        sv = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow == 0 && sv >= 0) {
                u = (unsigned long long)sv;
        } else if (overflow > 0) {
                u = PyLong_AsUnsignedLongLong(v);
        }
        Py_DECREF(v);
        if (PyErr_Occurred() || overflow < 0 || (overflow == 0 && sv < 0)) {
                PyErr_Clear();
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADSHAPE, "%s: extent %R",
                                     tshm_strerror(TSHM_EBADSHAPE), item);
                return -1;
        }
        *ret_dim = u;
        return 0;
}

/* A shape given as an int, a sequence of ints, or a string "3x4". */
static int
client_shape_arg(PyObject *obj, size_t *ret_ndim, uint64_t *ret_shape)
{
        PyObject *seq;
        Py_ssize_t i, n;
        int rv = 0;

        if (PyUnicode_Check(obj)) {
                const char *s = PyUnicode_AsUTF8(obj);

                if (s == NULL) {
                        return -1;
                }
                if (tshm_shape_parse(s, ret_ndim, ret_shape) < 0) {
                        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADSHAPE, "%s: %R",
                                             tshm_strerror(TSHM_EBADSHAPE), obj);
                        return -1;
                }
                return 0;
        }
        if (PyIndex_Check(obj)) {
                *ret_ndim = 1;
                return client_shape_dim(obj, &ret_shape[0]);
        }
        seq = PySequence_Fast(obj, "shape must be an int, a sequence of ints or a str like '3x4'");
        if (seq == NULL) {
                return -1;
        }
        n = PySequence_Fast_GET_SIZE(seq);
        if (n > TSHM_MAX_NDIM) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADSHAPE, "%s: %zd dimensions",
                                     tshm_strerror(TSHM_EBADSHAPE), n);
                Py_DECREF(seq);
                return -1;
        }
        for (i = 0; i < n && rv == 0; i++) {
                rv = client_shape_dim(PySequence_Fast_GET_ITEM(seq, i), &ret_shape[i]);
        }
        Py_DECREF(seq);
        *ret_ndim = (size_t)n;
        return rv;
}

static int
client_mode_arg(int mode, unsigned *ret_mode)
{
        if (mode < 0 || mode > 0777) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "mode %#o has bits outside 0o777", mode);
                return -1;
        }
        *ret_mode = (unsigned)mode;
        return 0;
}

PyObject *
tshmpy_client_create(tshmpy_client *self, const char *name, tshm_dtype dtype, size_t ndim,
                     const uint64_t *shape, unsigned mode)
{
        tshm_seg *seg = NULL;
        int rv;

        if (client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv =
            tshm_create(self->c, name, dtype, ndim, shape, mode, TSHM_CREATE_DEFAULT, &seg);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
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
        static const char *const kwlist[] = {"name", "shape", "dtype", "mode", NULL};
        PyObject *name_obj, *shape_obj, *dtype_obj = NULL;
        uint64_t shape[TSHM_MAX_NDIM];
        size_t ndim = 0;
        tshm_dtype dtype = TSHM_DTYPE_FLOAT32;
        const char *name;
        unsigned mode;
        int imode = 0600;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|Oi:create", TSHMPY_KW(kwlist), &name_obj,
                                         &shape_obj, &dtype_obj, &imode) ||
            (name = client_name_arg(name_obj)) == NULL ||
            client_shape_arg(shape_obj, &ndim, shape) < 0 ||
            (dtype_obj != NULL && tshmpy_numpy_parse_dtype(dtype_obj, &dtype) < 0) ||
            client_mode_arg(imode, &mode) < 0) {
                return NULL;
        }
        return tshmpy_client_create(self, name, dtype, ndim, shape, mode);
}

static PyObject *
client_open(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "writable", NULL};
        PyObject *name_obj;
        const char *name;
        tshm_seg *seg = NULL;
        int writable = 0, rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:open", TSHMPY_KW(kwlist), &name_obj,
                                         &writable) ||
            (name = client_name_arg(name_obj)) == NULL || client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv =
            tshm_open(self->c, name, writable ? TSHM_OPEN_RDWR : TSHM_OPEN_RDONLY, &seg);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        if (tshm_seg_is_stream(seg)) {
                Py_BEGIN_ALLOW_THREADS(void) tshm_close(seg);
                Py_END_ALLOW_THREADS tshmpy_client_unlock(self);
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "%R is a stream, not an array: use subscribe(name) to read "
                                      "its frames, open_stream(name) to produce them",
                                      name_obj);
        }
        tshmpy_client_unlock(self);
        return tshmpy_segment_new(self, seg);
}

static int
client_policy_arg(PyObject *obj, tshm_stream_policy *ret_policy)
{
        if (PyUnicode_Check(obj) && PyUnicode_CompareWithASCIIString(obj, "block") == 0) {
                *ret_policy = TSHM_STREAM_BLOCK;
                return 0;
        }
        if (PyUnicode_Check(obj) && PyUnicode_CompareWithASCIIString(obj, "overwrite") == 0) {
                *ret_policy = TSHM_STREAM_OVERWRITE;
                return 0;
        }
        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                             "policy must be 'block' or 'overwrite', not %R", obj);
        return -1;
}

static PyObject *
client_create_stream(tshmpy_client *self, PyObject *args, PyObject *kwds)
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

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|O$iOip:create_stream", TSHMPY_KW(kwlist),
                                         &name_obj, &shape_obj, &dtype_obj, &slots, &policy_obj,
                                         &imode, &ephemeral) ||
            (name = client_name_arg(name_obj)) == NULL ||
            client_shape_arg(shape_obj, &ndim, shape) < 0 ||
            (dtype_obj != NULL && tshmpy_numpy_parse_dtype(dtype_obj, &dtype) < 0) ||
            (policy_obj != NULL && client_policy_arg(policy_obj, &policy) < 0) ||
            client_mode_arg(imode, &mode) < 0) {
                return NULL;
        }
        if (slots < 2 || slots > TSHM_STREAM_MAX_SLOTS) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "slots must be between 2 and %d, not %d",
                                      TSHM_STREAM_MAX_SLOTS, slots);
        }
        if (client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv =
            tshm_create_stream(self->c, name, dtype, ndim, shape, (uint32_t)slots, policy, mode,
                               ephemeral ? TSHM_CREATE_EPHEMERAL : TSHM_CREATE_DEFAULT, &seg);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        return tshmpy_stream_new(self, seg);
}

static PyObject *
client_open_stream(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "writable", NULL};
        PyObject *name_obj;
        const char *name;
        tshm_seg *seg = NULL;
        int writable = 1, rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|p:open_stream", TSHMPY_KW(kwlist),
                                         &name_obj, &writable) ||
            (name = client_name_arg(name_obj)) == NULL || client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv =
            tshm_open(self->c, name, writable ? TSHM_OPEN_RDWR : TSHM_OPEN_RDONLY, &seg);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        if (!tshm_seg_is_stream(seg)) {
                Py_BEGIN_ALLOW_THREADS(void) tshm_close(seg);
                Py_END_ALLOW_THREADS tshmpy_client_unlock(self);
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "%R is an array, not a stream: use open(name)", name_obj);
        }
        tshmpy_client_unlock(self);
        return tshmpy_stream_new(self, seg);
}

static PyObject *
client_subscribe(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", NULL};
        PyObject *name_obj;
        const char *name;
        tshm_sub *sub = NULL;
        int rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:subscribe", TSHMPY_KW(kwlist), &name_obj) ||
            (name = client_name_arg(name_obj)) == NULL || client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_subscribe(self->c, name, &sub);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        return tshmpy_subscriber_new(self, sub);
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
            (name = client_name_arg(name_obj)) == NULL || client_mode_arg(imode, &mode) < 0) {
                return NULL;
        }
        return tshmpy_numpy_from_array(self, name, array, mode);
}

static PyObject *
client_unlink(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", NULL};
        PyObject *name_obj;
        const char *name;
        int rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:unlink", TSHMPY_KW(kwlist), &name_obj) ||
            (name = client_name_arg(name_obj)) == NULL || client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_unlink(self->c, name);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        Py_RETURN_NONE;
}

/* The "stream" entry of a stream's dict, as 'tshm ls --json' writes it. */
static PyObject *
client_stream_dict(const tshm_stream_info *si)
{
        return Py_BuildValue("{s:I,s:s,s:I,s:K}", "slots", (unsigned)si->slots, "policy",
                             si->policy == TSHM_STREAM_OVERWRITE ? "overwrite" : "block",
                             "subscribers", (unsigned)si->subscribers, "frames",
                             (unsigned long long)si->frames);
}

/* Fetch what the daemon knows of the stream of @info, if it is one, into
 * @si; with self->lock held. False for an array, or when the stat failed
 * (the stream went meanwhile). */
static bool
client_stream_of(tshmpy_client *self, const tshm_info *info, tshm_stream_info *si)
{
        int rv;

        if ((info->flags & TSHM_INFO_STREAM) == 0) {
                return false;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_stream_stat(self->c, info->name, si);
        Py_END_ALLOW_THREADS return rv == 0;
}

/* The dict of one segment: the keys and values of 'tshm ls --json'; a
 * stream's has "stream" too when @si is not NULL. */
static PyObject *
client_info_dict(const tshm_info *info, const tshm_stream_info *si)
{
        char created[64], mode[16], dt[32];
        time_t t = (time_t)(info->created_ns / 1000000000u);
        const char *dtype = tshm_dtype_name(info->dtype);
        PyObject *shape, *d;
        struct tm tm;
        size_t n = 0;
        uint32_t i;

        if (gmtime_r(&t, &tm) != NULL) {
                n = strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%S", &tm);
        }
        if (n == 0) {
                n = (size_t)snprintf(created, sizeof(created), "1970-01-01T00:00:00");
        }
        (void)snprintf(created + n, sizeof(created) - n, ".%09" PRIu64 "Z",
                       info->created_ns % 1000000000u);
        (void)snprintf(mode, sizeof(mode), "%04o", info->mode);
        if (dtype == NULL) {
                (void)snprintf(dt, sizeof(dt), "dtype(%d)", (int)info->dtype);
                dtype = dt;
        }
        shape = PyList_New(0);
        for (i = 0; shape != NULL && i < info->ndim && i < TSHM_MAX_NDIM; i++) {
                PyObject *v = PyLong_FromUnsignedLongLong(info->shape[i]);

                if (v == NULL || PyList_Append(shape, v) < 0) {
                        Py_XDECREF(v);
                        Py_CLEAR(shape);
                        break;
                }
                Py_DECREF(v);
        }
        if (shape == NULL) {
                return NULL;
        }
        d = Py_BuildValue("{s:s,s:s,s:N,s:K,s:K,s:I,s:I,s:s,s:I,s:s,s:K}", "name", info->name,
                          "dtype", dtype, "shape", shape, "nbytes",
                          (unsigned long long)info->nbytes, "size", (unsigned long long)info->size,
                          "owner", (unsigned)info->owner_uid, "group", (unsigned)info->owner_gid,
                          "mode", mode, "opens", (unsigned)info->opens, "created", created,
                          "created_ns", (unsigned long long)info->created_ns);
        if (d != NULL && si != NULL) {
                PyObject *st = client_stream_dict(si);

                if (st == NULL || PyDict_SetItemString(d, "stream", st) < 0) {
                        Py_CLEAR(d);
                }
                Py_XDECREF(st);
        }
        return d;
}

static PyObject *
client_list(tshmpy_client *self, PyObject *unused)
{
        tshm_info *infos = NULL;
        size_t count = 0, i;
        PyObject *list;
        int rv;

        (void)unused;
        if (client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_list(self->c, &infos, &count);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        list = PyList_New((Py_ssize_t)count);
        for (i = 0; list != NULL && i < count; i++) {
                tshm_stream_info si;
                PyObject *d = client_info_dict(&infos[i],
                                               client_stream_of(self, &infos[i], &si) ? &si : NULL);

                if (d == NULL) {
                        Py_CLEAR(list);
                        break;
                }
                PyList_SET_ITEM(list, (Py_ssize_t)i, d);
        }
        tshmpy_client_unlock(self);
        tshm_list_free(infos);
        return list;
}

static PyObject *
client_stat(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", NULL};
        PyObject *name_obj;
        const char *name;
        tshm_info info;
        int rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:stat", TSHMPY_KW(kwlist), &name_obj) ||
            (name = client_name_arg(name_obj)) == NULL || client_begin(self) < 0) {
                return NULL;
        }
        tshm_stream_info si;
        bool is_stream;

        Py_BEGIN_ALLOW_THREADS rv = tshm_stat(self->c, name, &info);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        is_stream = client_stream_of(self, &info, &si);
        tshmpy_client_unlock(self);
        return client_info_dict(&info, is_stream ? &si : NULL);
}

static PyObject *
client_stats(tshmpy_client *self, PyObject *unused)
{
        tshm_stats st;
        int rv;

        (void)unused;
        if (client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_stats_get(self->c, &st);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        return Py_BuildValue(
            "{s:K,s:K,s:K,s:K,s:K,s:K,s:d,s:K,s:I,s:I}", "segments",
            (unsigned long long)st.segments, "bytes", (unsigned long long)st.bytes, "max_bytes",
            (unsigned long long)st.max_bytes, "clients", (unsigned long long)st.clients, "opens",
            (unsigned long long)st.opens, "requests", (unsigned long long)st.requests, "uptime_s",
            (double)st.uptime_ns / 1e9, "shm_free", (unsigned long long)st.shm_free, "pid",
            (unsigned)st.pid, "proto", (unsigned)st.proto);
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
             "create($self, /, name, shape, dtype='float32', mode=0o600)\n--\n\n"
             "Create the segment `name` holding a zero-filled, C-contiguous array, open it\n"
             "read-write and return its Segment.\n\n"
             "name: 1-200 characters of [A-Za-z0-9._-], not starting with '.'.\n"
             "shape: an int, a sequence of ints (() for a 0-d array; zeros make an empty\n"
             "array), or a str like '3x4'. At most 32 dimensions.\n"
             "dtype: a name ('float32', 'bool', 'bfloat16', ...), a numpy dtype or scalar\n"
             "type (np.float32), an array-interface string ('<f4'), or a torch dtype\n"
             "(torch.bfloat16). Little-endian or native only.\n"
             "mode: permission bits like a file's, 0o600 by default.\n\n"
             "The daemon reserves every page now: a full /dev/shm or budget is NoSpaceError\n"
             "here, never a SIGBUS later. Raises InvalidError (ValueError) for a bad name,\n"
             "shape, dtype or mode, ExistsError (FileExistsError), NoSpaceError, LimitError,\n"
             "ConnectError, ClosedError. Releases the GIL while it waits for the daemon.");

PyDoc_STRVAR(client_open_doc,
             "open($self, /, name, writable=False)\n--\n\n"
             "Open the existing segment `name`, map it and return a Segment. Read-only\n"
             "unless `writable`: then the kernel refuses writes, numpy views have\n"
             "writeable=False, and .torch() and __dlpack__() raise ReadOnlyError.\n"
             "Raises InvalidError (bad name), NotFoundError (FileNotFoundError),\n"
             "PermissionDeniedError (PermissionError), LimitError, ConnectError,\n"
             "ClosedError. Releases the GIL while it waits for the daemon.");

PyDoc_STRVAR(client_from_numpy_doc,
             "from_numpy($self, /, name, array, mode=0o600)\n--\n\n"
             "Create the segment `name` with the dtype and shape of `array` (anything\n"
             "numpy.asarray accepts, strided or not) and copy the array into it. Returns the\n"
             "writable Segment. A dtype tshm does not hold (object, str, big-endian, ...)\n"
             "raises InvalidError; if the copy fails the new segment is unlinked again.");

PyDoc_STRVAR(client_list_doc,
             "list($self, /)\n--\n\n"
             "Every segment, oldest first, as dicts with the keys and values of\n"
             "'tshm ls --json': name, dtype (str), shape (list), nbytes, size, owner (uid),\n"
             "group (gid), mode (str, e.g. '0600'), opens (open handles, all clients),\n"
             "created (ISO 8601 UTC str) and created_ns (int).");

PyDoc_STRVAR(client_stat_doc, "stat($self, /, name)\n--\n\n"
                              "What the daemon knows of the segment `name`: one dict as in\n"
                              "list(). Raises NotFoundError, InvalidError, ConnectError.");

PyDoc_STRVAR(client_unlink_doc,
             "unlink($self, /, name)\n--\n\n"
             "Remove the name `name` now: a new segment may take it, while every existing\n"
             "mapping and view keeps working until it is closed. Only the owner or root may\n"
             "unlink. Raises NotFoundError, PermissionDeniedError, InvalidError, ConnectError.");

PyDoc_STRVAR(client_stats_doc,
             "stats($self, /)\n--\n\n"
             "The daemon's counters, with the keys of 'tshm stats --json': segments, bytes,\n"
             "max_bytes, clients, opens, requests, uptime_s (float), shm_free, pid, proto.");

PyDoc_STRVAR(client_close_doc,
             "close($self, /)\n--\n\n"
             "Close the connection. The daemon drops this connection's open handles, but\n"
             "segments and views obtained through it stay mapped and usable until they are\n"
             "closed or garbage-collected. Later calls raise ClosedError. Idempotent.");

PyDoc_STRVAR(client_create_stream_doc,
             "create_stream($self, /, name, shape, dtype='float32', *, slots=4, policy='block',\n"
             "              mode=0o600, ephemeral=False)\n--\n\n"
             "Create the stream `name`: a ring of `slots` (2-65536) frames of `dtype` and\n"
             "`shape` (as for create()) in one segment, and return its producer handle, a\n"
             "tshm.Stream. `policy`: 'block' makes stream.loan() wait until the slowest\n"
             "subscriber released the frame a slot held; 'overwrite' never waits, and a\n"
             "subscriber that fell behind skips to the oldest frame still there\n"
             "(Frame.missed). `ephemeral`: the stream is removed when this connection\n"
             "closes. Raises as create() does.");

PyDoc_STRVAR(client_open_stream_doc,
             "open_stream($self, /, name, writable=True)\n--\n\n"
             "Open the existing stream `name` as a producer (a tshm.Stream), e.g. to take\n"
             "over from a producer that died: its half-filled slot is never published.\n"
             "writable=False gives a handle for .seq and .wait() only. InvalidError for an\n"
             "array.");

PyDoc_STRVAR(client_subscribe_doc,
             "subscribe($self, /, name)\n--\n\n"
             "Subscribe to the stream `name` (read permission needed) and return a\n"
             "tshm.Subscriber; its first frame is the next one published. Raises\n"
             "NotFoundError, PermissionDeniedError, InvalidError (an array, not a stream),\n"
             "LimitError (64 subscribers already), ConnectError.");

static PyMethodDef client_methods[] = {
    {"create_stream", TSHMPY_METH(client_create_stream), METH_VARARGS | METH_KEYWORDS,
     client_create_stream_doc},
    {"open_stream", TSHMPY_METH(client_open_stream), METH_VARARGS | METH_KEYWORDS,
     client_open_stream_doc},
    {"subscribe", TSHMPY_METH(client_subscribe), METH_VARARGS | METH_KEYWORDS,
     client_subscribe_doc},
    {"create", TSHMPY_METH(client_create), METH_VARARGS | METH_KEYWORDS, client_create_doc},
    {"open", TSHMPY_METH(client_open), METH_VARARGS | METH_KEYWORDS, client_open_doc},
    {"from_numpy", TSHMPY_METH(client_from_numpy), METH_VARARGS | METH_KEYWORDS,
     client_from_numpy_doc},
    {"list", TSHMPY_METH(client_list), METH_NOARGS, client_list_doc},
    {"stat", TSHMPY_METH(client_stat), METH_VARARGS | METH_KEYWORDS, client_stat_doc},
    {"unlink", TSHMPY_METH(client_unlink), METH_VARARGS | METH_KEYWORDS, client_unlink_doc},
    {"stats", TSHMPY_METH(client_stats), METH_NOARGS, client_stats_doc},
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
             "again (using the parent's client there raises ConnectError). Use it as a context\n"
             "manager to close it. Segments keep their client alive while they are open.");

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
