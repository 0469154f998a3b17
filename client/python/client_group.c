/*
 * client_group.c - tshm.Client's calls that make group handles:
 * group_create() makes an unpublished tensor group from (name, dtype, shape)
 * specs, group_open() opens a published one; both give a tshm.Group
 * (group.c).
 */
#include <string.h>

#include "internal.h"

/* The specs of group_create: one tshm_tensor_spec per (name, dtype, shape),
 * the names' bytes kept in @keep (a list) and the extents in one array. */
struct group_specs {
        tshm_tensor_spec *specs;
        uint64_t *dims;
        size_t count;
        PyObject *keep;
};

static void
group_specs_done(struct group_specs *s)
{
        PyMem_Free(s->specs);
        PyMem_Free(s->dims);
        Py_XDECREF(s->keep);
}

/* Parse specs[@k], @item, into s->specs[@k] and the dims @s holds (@used
 * of @cap in use). Returns 0, or -1 with an exception set. */
static int
group_spec_one(PyObject *item, Py_ssize_t k, struct group_specs *s, size_t *used, size_t *cap)
{
        uint64_t shape[TSHM_MAX_NDIM];
        PyObject *name, *b;
        tshm_dtype dtype;
        size_t ndim;

        if ((!PyTuple_Check(item) && !PyList_Check(item)) || PySequence_Size(item) != 3) {
                PyErr_Format(PyExc_TypeError,
                             "specs[%zd] must be a (name, dtype, shape) tuple, not %.100s", k,
                             Py_TYPE(item)->tp_name);
                return -1;
        }
        name = PySequence_Fast_GET_ITEM(item, 0);
        if ((b = tshmpy_group_name_bytes(name)) == NULL) {
                return -1;
        }
        if (PyList_Append(s->keep, b) < 0) {
                Py_DECREF(b);
                return -1;
        }
        Py_DECREF(b); /* @keep holds it */
        if (PyBytes_GET_SIZE(b) == 0 || PyBytes_GET_SIZE(b) > TSHM_GROUP_NAME_MAX ||
            memchr(PyBytes_AS_STRING(b), '\0', (size_t)PyBytes_GET_SIZE(b)) != NULL) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "tensor name %R: 1 to %d bytes (UTF-8), no NUL", name,
                                     TSHM_GROUP_NAME_MAX);
                return -1;
        }
        if (tshmpy_numpy_parse_dtype(PySequence_Fast_GET_ITEM(item, 1), &dtype) < 0 ||
            tshmpy_args_shape(PySequence_Fast_GET_ITEM(item, 2), &ndim, shape) < 0) {
                return -1;
        }
        if (*used + ndim > *cap) {
                size_t ncap = *cap * 2 > *used + ndim ? *cap * 2 : *used + ndim + 64;
                uint64_t *nd = PyMem_Realloc(s->dims, ncap * sizeof(*nd));

                if (nd == NULL) {
                        PyErr_NoMemory();
                        return -1;
                }
                s->dims = nd;
                *cap = ncap;
        }
        memcpy(s->dims + *used, shape, ndim * sizeof(*shape));
        s->specs[k].name = PyBytes_AS_STRING(b);
        s->specs[k].dtype = dtype;
        s->specs[k].ndim = (uint32_t)ndim;
        /* An offset for now: dims may move while it grows. */
        s->specs[k].shape = (const uint64_t *)(uintptr_t)*used;
        *used += ndim;
        return 0;
}

/* Parse a sequence of (name, dtype, shape) into @s, which
 * group_specs_done() releases, on failure too. Returns 0, or -1 with an
 * exception set. */
static int
group_specs_parse(PyObject *specs_obj, struct group_specs *s)
{
        size_t used = 0, cap = 0, i;
        Py_ssize_t n, k;
        PyObject *seq;
        int rv = -1;

        memset(s, 0, sizeof(*s));
        if ((seq = PySequence_Fast(specs_obj,
                                   "specs must be a sequence of (name, dtype, shape)")) == NULL) {
                return -1;
        }
        n = PySequence_Fast_GET_SIZE(seq);
        if ((size_t)n > TSHM_GROUP_MAX_TENSORS) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "%zd tensors: a group holds at most %u", n,
                                     (unsigned)TSHM_GROUP_MAX_TENSORS);
                goto out;
        }
        s->specs = PyMem_Calloc((size_t)n + 1, sizeof(*s->specs));
        if (s->specs == NULL || (s->keep = PyList_New(0)) == NULL) {
                if (s->specs == NULL) {
                        PyErr_NoMemory();
                }
                goto out;
        }
        for (k = 0; k < n; k++) {
                if (group_spec_one(PySequence_Fast_GET_ITEM(seq, k), k, s, &used, &cap) < 0) {
                        goto out;
                }
        }
        for (i = 0; i < (size_t)n; i++) {
                uintptr_t at = (uintptr_t)s->specs[i].shape;

                s->specs[i].shape = s->specs[i].ndim > 0 ? s->dims + at : NULL;
        }
        s->count = (size_t)n;
        rv = 0;
out:
        Py_DECREF(seq);
        return rv;
}

const char tshmpy_group_create_doc[] =
    PyDoc_STR("group_create($self, /, name, specs, *, mode=0o600, ephemeral=False, metadata=None,\n"
              "             populate=None)\n--\n\n"
              "Create the tensor group `name`: one segment holding the tensors `specs`\n"
              "describes, a sequence of (tensor_name, dtype, shape), each C-contiguous,\n"
              "zero-filled, in that order. Returns the writable, UNPUBLISHED Group: fill it\n"
              "through g.array(n) / g.torch(n), then g.publish(). Until then nobody else can\n"
              "open, stat or list it (the name is taken, though: ExistsError), and it is\n"
              "removed if its last view goes, or its client's connection ends (Client.close(),\n"
              "exit, kill -9), before publish().\n\n"
              "name: a segment name (1-200 characters of [A-Za-z0-9._-]).\n"
              "tensor_name: any str (UTF-8, up to 1024 bytes, no NUL; distinct).\n"
              "dtype, shape: as Client.create() takes them.\n"
              "metadata: bytes (or str, stored as UTF-8) kept with the group, up to 64 MiB;\n"
              "tshm's convention is a JSON object (tshm.save_state_dict stores\n"
              "{\"__metadata__\": {...}}).\n"
              "mode, ephemeral, populate: as Client.create().\n\n"
              "Raises InvalidError (a bad name, dtype, shape, repeated tensor name, too many\n"
              "tensors or too much metadata), ExistsError, NoSpaceError, LimitError,\n"
              "ConnectError, ClosedError. Releases the GIL while it waits for the daemon.");

PyObject *
tshmpy_group_create(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name",     "specs",    "mode", "ephemeral",
                                             "metadata", "populate", NULL};
        PyObject *name_obj, *specs_obj, *meta_obj = Py_None, *populate = NULL, *meta_b = NULL;
        struct group_specs specs = {0};
        tshm_group_opts opts;
        tshm_group *group = NULL;
        tshmpy_mapping *map;
        const char *name;
        Py_buffer meta = {0};
        unsigned mode, flags;
        int imode = 0600, ephemeral = 0, rv;
        PyObject *res = NULL;

        memset(&opts, 0, sizeof(opts));
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$ipOO:group_create", TSHMPY_KW(kwlist),
                                         &name_obj, &specs_obj, &imode, &ephemeral, &meta_obj,
                                         &populate) ||
            tshmpy_client_populate_arg(populate, &flags) < 0 ||
            (name = tshmpy_args_name(name_obj)) == NULL || tshmpy_args_mode(imode, &mode) < 0) {
                return NULL;
        }
        if (meta_obj != Py_None) {
                meta_b = PyUnicode_Check(meta_obj) ? PyUnicode_AsUTF8String(meta_obj)
                                                   : Py_NewRef(meta_obj);
                if (meta_b == NULL || PyObject_GetBuffer(meta_b, &meta, PyBUF_SIMPLE) < 0) {
                        goto out;
                }
                if ((size_t)meta.len > TSHM_GROUP_META_MAX) {
                        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                             "metadata of %zd bytes: at most %u", meta.len,
                                             (unsigned)TSHM_GROUP_META_MAX);
                        goto out;
                }
                opts.metadata = meta.buf;
                opts.metadata_len = (size_t)meta.len;
        }
        if (group_specs_parse(specs_obj, &specs) < 0) {
                goto out;
        }
        opts.mode = mode;
        opts.flags = flags | (ephemeral ? TSHM_CREATE_EPHEMERAL : 0u);
        if (tshmpy_client_begin(self) < 0) {
                goto out;
        }
        Py_BEGIN_ALLOW_THREADS rv =
            tshm_group_create(self->c, name, specs.specs, specs.count, &opts, &group);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                (void)tshmpy_client_fail(self, rv);
                goto out;
        }
        tshmpy_client_unlock(self);
        if ((map = tshmpy_mapping_new_group(self, group)) != NULL) {
                res = tshmpy_group_wrap(map);
        }
out:
        if (meta.obj != NULL) {
                PyBuffer_Release(&meta);
        }
        Py_XDECREF(meta_b);
        group_specs_done(&specs);
        return res;
}

const char tshmpy_group_open_doc[] =
    PyDoc_STR("group_open($self, /, name, *, writable=False, populate=None)\n--\n\n"
              "Open the published tensor group `name` and return its Group. Its table of\n"
              "contents is validated on a private copy: whatever a writer does to the\n"
              "segment, views stay inside it. Read-only unless `writable`: arrays are then\n"
              "read-only, and tensors view a private copy-on-write mapping (in-place ops\n"
              "copy the pages they touch into this process, and reach no one else).\n"
              "populate: as Client.open().\n"
              "Raises NotFoundError (no such name, or not published yet), InvalidError (a\n"
              "bad name, or `name` is not a group), PermissionDeniedError, tshm.Error with\n"
              ".code TSHM_EBADHDR (-4003) for a table of contents that fails validation,\n"
              "LimitError, ConnectError, ClosedError. Releases the GIL while it waits.");

PyObject *
tshmpy_group_open(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "writable", "populate", NULL};
        PyObject *name_obj, *populate = NULL;
        tshm_group *group = NULL;
        tshmpy_mapping *map;
        const char *name;
        unsigned flags;
        int writable = 0, rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$pO:group_open", TSHMPY_KW(kwlist),
                                         &name_obj, &writable, &populate) ||
            tshmpy_client_populate_arg(populate, &flags) < 0 ||
            (name = tshmpy_args_name(name_obj)) == NULL || tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_group_open(
            self->c, name, (writable ? TSHM_OPEN_RDWR : TSHM_OPEN_RDONLY) | flags, &group);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        if ((map = tshmpy_mapping_new_group(self, group)) == NULL) {
                return NULL;
        }
        return tshmpy_group_wrap(map);
}
