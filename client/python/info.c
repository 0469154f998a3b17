/*
 * info.c - what the daemon knows, as Python values: tshm.Client's list(),
 * stat() and daemon_stat(), whose dicts have the keys and values that
 * 'tshm ls --json' and 'tshm stats --json' write.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* The "stream" entry of a stream's dict, as 'tshm ls --json' writes it. */
static PyObject *
info_stream_dict(const tshm_stream_info *si)
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
info_stream_of(tshmpy_client *self, const tshm_info *info, tshm_stream_info *si)
{
        int rv;

        if (info->kind != TSHM_KIND_STREAM) {
                return false;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_stream_stat(self->c, info->name, si);
        Py_END_ALLOW_THREADS return rv == 0;
}

/* The dict of one segment: the keys and values of 'tshm ls --json'; a
 * stream's has "stream" too when @si is not NULL. */
static PyObject *
info_dict(const tshm_info *info, const tshm_stream_info *si)
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
        d = Py_BuildValue(
            "{s:s,s:s,s:N,s:K,s:K,s:I,s:I,s:s,s:I,s:s,s:K,s:s,s:s,s:K}", "name", info->name,
            "dtype", dtype, "shape", shape, "nbytes", (unsigned long long)info->nbytes, "size",
            (unsigned long long)info->size, "owner", (unsigned)info->owner_uid, "group",
            (unsigned)info->owner_gid, "mode", mode, "opens", (unsigned)info->opens, "created",
            created, "created_ns", (unsigned long long)info->created_ns, "kind",
            info->kind == TSHM_KIND_STREAM  ? "stream"
            : info->kind == TSHM_KIND_GROUP ? "group"
                                            : "array",
            "backing",
            tshm_backing_name(info->backing) != NULL ? tshm_backing_name(info->backing) : "unknown",
            "page_size", (unsigned long long)info->page_size);
        if (d != NULL && info->kind == TSHM_KIND_GROUP) {
                PyObject *count = PyLong_FromUnsignedLongLong(info->tensors);

                if (count == NULL || PyDict_SetItemString(d, "tensors", count) < 0) {
                        Py_CLEAR(d);
                }
                Py_XDECREF(count);
        }
        if (d != NULL && si != NULL) {
                PyObject *st = info_stream_dict(si);

                if (st == NULL || PyDict_SetItemString(d, "stream", st) < 0) {
                        Py_CLEAR(d);
                }
                Py_XDECREF(st);
        }
        return d;
}

const char tshmpy_info_list_doc[] =
    PyDoc_STR("list($self, /, prefix=None)\n--\n\n"
              "Every segment the caller may read (root and owners see all of theirs)\n"
              "whose name starts with `prefix` (None or '': all; the daemon filters),\n"
              "oldest first, as dicts with the keys and values of\n"
              "'tshm ls --json': name, dtype (str), shape (list), nbytes, size, owner (uid),\n"
              "group (gid), mode (str, e.g. '0600'), opens (open handles, all clients),\n"
              "created (ISO 8601 UTC str), created_ns (int), kind ('array', 'stream' or 'group';\n"
              "a group has 'tensors', its tensor count too), backing ('tmpfs', 'tmpfs-huge' or "
              "'hugetlbfs') and page_size (bytes of its\n"
              "pages). A prefix no name could start with raises InvalidError.");

PyObject *
tshmpy_info_list(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"prefix", NULL};
        PyObject *prefix_obj = Py_None;
        const char *prefix = NULL;
        tshm_info *infos = NULL;
        size_t count = 0, i;
        PyObject *list;
        int rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:list", TSHMPY_KW(kwlist), &prefix_obj)) {
                return NULL;
        }
        if (prefix_obj != Py_None) {
                if (!PyUnicode_Check(prefix_obj)) {
                        return PyErr_Format(PyExc_TypeError,
                                            "list(): prefix must be a str, not %.100s",
                                            Py_TYPE(prefix_obj)->tp_name);
                }
                Py_ssize_t plen;

                if ((prefix = PyUnicode_AsUTF8AndSize(prefix_obj, &plen)) == NULL) {
                        return NULL;
                }
                /* A NUL inside would cut the prefix short: refuse it as the
                 * character no name holds. */
                if ((size_t)plen != strlen(prefix) ||
                    (prefix[0] != '\0' && tshm_name_check(prefix) < 0)) {
                        return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADNAME,
                                              "bad prefix %R: no segment name starts so (names are "
                                              "1-200 characters of [A-Za-z0-9._-], not starting "
                                              "with '.')",
                                              prefix_obj);
                }
        }
        if (tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_list(self->c, prefix, &infos, &count);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
        }
        list = PyList_New((Py_ssize_t)count);
        for (i = 0; list != NULL && i < count; i++) {
                tshm_stream_info si;
                PyObject *d =
                    info_dict(&infos[i], info_stream_of(self, &infos[i], &si) ? &si : NULL);

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

const char tshmpy_info_stat_doc[] =
    PyDoc_STR("stat($self, /, name)\n--\n\n"
              "What the daemon knows of the segment `name`: one dict as in\n"
              "list(). Raises NotFoundError, PermissionDeniedError (the caller may\n"
              "not read it: its metadata is not shown), InvalidError, ConnectError.");

PyObject *
tshmpy_info_stat(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        tshm_stream_info si;
        const char *name;
        bool is_stream;
        tshm_info info;
        int rv;

        if ((name = tshmpy_client_begin_named(self, args, kwds, "O:stat")) == NULL) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_stat(self->c, name, &info);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
        }
        is_stream = info_stream_of(self, &info, &si);
        tshmpy_client_unlock(self);
        return info_dict(&info, is_stream ? &si : NULL);
}

const char tshmpy_info_daemon_stat_doc[] =
    PyDoc_STR("daemon_stat($self, /)\n--\n\n"
              "The daemon's counters, with the keys of 'tshm stats --json': segments, bytes,\n"
              "max_bytes, clients, opens, requests, uptime_s (float), shm_free, pid, proto.");

PyObject *
tshmpy_info_daemon_stat(tshmpy_client *self, PyObject *unused)
{
        tshm_daemon_info st;
        int rv;

        (void)unused;
        if (tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_daemon_stat(self->c, &st);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
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
