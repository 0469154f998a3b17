/*
 * group.c - tshm.Group: a tensor group (tshm.h, "Tensor groups"), many named
 * tensors of their own dtypes and shapes in one segment (client_group.c
 * has the Client calls that make and open one).
 *
 * The group's mapping is a tshmpy_mapping like a segment's (it owns the
 * tshm_group and closes it when its last reference goes), so every view
 * keeps it alive on its own: arrays and tensors outlive g.close(), the
 * Group object and the Client, as a Segment's do. A group that was never
 * published is removed when that last reference goes, or when its client's
 * connection ends.
 *
 * Views of one tensor reuse the segment views' code (numpy.c, dlpack.c)
 * through a descriptor: a tshmpy_segment on the stack that only carries the
 * tensor's dtype, shape and strides (see group_desc). Read-only groups give
 * read-only arrays; their tensors view one private copy-on-write mapping of
 * the whole group, made on the first .torch(), for the reasons dlpack.c
 * gives: an in-place op copies the pages it touches into this process.
 *
 * Tensor names are bytes (no NUL) in the group; Python sees them as str,
 * decoded as UTF-8 with surrogateescape (so that any bytes round-trip), and
 * a name given as str is encoded the same way (bytes are taken as they are).
 */
#include <string.h>

#include "internal.h"

typedef struct tshmpy_group {
        PyObject_HEAD tshmpy_mapping *map; /* NULL once closed */
        /* A read-only group's private copy-on-write mapping of its whole
         * data, made on the first .torch() and shared by its tensors;
         * dropped at close (the tensors keep it). */
        tshmpy_mapping *cow;
        PyObject *name;  /* str */
        PyObject *names; /* tuple of str: the tensors' names in group order */
        Py_ssize_t nbytes;
        bool writable;
        bool published;
        bool closed; /* close() ran: a copy-on-write mapping made now is not kept */
} tshmpy_group;

PyObject *
tshmpy_group_wrap(tshmpy_mapping *map)
{
        tshmpy_group *self;
        size_t i, count = tshm_group_count(map->group);
        tshm_tensor t;

        self = (tshmpy_group *)tshmpy_group_type.tp_alloc(&tshmpy_group_type, 0);
        if (self == NULL) {
                Py_DECREF(map);
                return NULL;
        }
        self->map = map;
        self->nbytes = map->nbytes;
        self->writable = map->writable;
        self->published = tshm_group_published(map->group) != 0;
        if ((self->name = PyUnicode_FromString(tshm_seg_name(map->seg))) == NULL ||
            (self->names = PyTuple_New((Py_ssize_t)count)) == NULL) {
                goto fail;
        }
        for (i = 0; i < count; i++) {
                PyObject *s;

                (void)tshm_group_tensor(map->group, i, &t);
                s = PyUnicode_DecodeUTF8(t.name, (Py_ssize_t)t.name_len, "surrogateescape");
                if (s == NULL) {
                        goto fail;
                }
                PyTuple_SET_ITEM(self->names, (Py_ssize_t)i, s);
        }
        return (PyObject *)self;
fail:
        Py_DECREF(self);
        return NULL;
}

static void
group_dealloc(tshmpy_group *self)
{
        Py_XDECREF(self->map);
        Py_XDECREF(self->cow);
        Py_XDECREF(self->name);
        Py_XDECREF(self->names);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The mapping of @self, or NULL with ClosedError raised. Borrowed. */
static tshmpy_mapping *
group_mapping(tshmpy_group *self)
{
        if (self->map == NULL) {
                (void)tshmpy_err_fmt(tshmpy_ClosedError, TSHM_EBADF, "group %R is closed",
                                     self->name);
        }
        return self->map;
}

PyObject *
tshmpy_group_name_bytes(PyObject *key)
{
        if (PyUnicode_Check(key)) {
                return PyUnicode_AsEncodedString(key, "utf-8", "surrogateescape");
        }
        if (PyBytes_Check(key)) {
                return Py_NewRef(key);
        }
        PyErr_Format(PyExc_TypeError, "a tensor name must be str or bytes, not %.100s",
                     Py_TYPE(key)->tp_name);
        return NULL;
}

/* Find the tensor @key in @map's group into *t: 1 found, 0 not (a name
 * with a NUL is in no group), -1 with an exception raised. */
static int
group_find(tshmpy_mapping *map, PyObject *key, tshm_tensor *t)
{
        PyObject *b = tshmpy_group_name_bytes(key);
        int64_t rv = TSHM_ENOENT;

        if (b == NULL) {
                return -1;
        }
        if (memchr(PyBytes_AS_STRING(b), '\0', (size_t)PyBytes_GET_SIZE(b)) == NULL) {
                rv = tshm_group_find(map->group, PyBytes_AS_STRING(b), t);
        }
        Py_DECREF(b);
        return rv >= 0 ? 1 : 0;
}

/* Find the tensor @key of @self's group into *t, its mapping in *ret_map
 * (borrowed): 0, or -1 with ClosedError, KeyError or TypeError raised. */
static int
group_lookup(tshmpy_group *self, PyObject *key, tshm_tensor *t, tshmpy_mapping **ret_map)
{
        tshmpy_mapping *map = group_mapping(self);
        int found;

        if (map == NULL || (found = group_find(map, key, t)) < 0) {
                return -1;
        }
        if (found == 0) {
                PyErr_SetObject(PyExc_KeyError, key);
                return -1;
        }
        *ret_map = map;
        return 0;
}

/* Fill @desc, a segment descriptor the views of numpy.c and dlpack.c read
 * (dtype, shape, strides, itemsize, nbytes; name for their messages), for
 * tensor @t named @key. It is never handed to Python: zeroed, on the
 * caller's stack, holding a borrowed @key. 0, or -1 with an exception. */
static int
group_desc(tshmpy_segment *desc, const tshm_tensor *t, PyObject *key)
{
        Py_ssize_t stride;
        int i;

        memset(desc, 0, sizeof(*desc));
        desc->name = key;
        desc->dtype = t->dtype;
        desc->ndim = (int)t->ndim;
        desc->itemsize = (Py_ssize_t)tshm_dtype_itemsize(t->dtype);
        desc->nbytes = (Py_ssize_t)t->nbytes;
        desc->writable = true;
        if (desc->itemsize == 0) {
                (void)tshmpy_err_fmt(tshmpy_DtypeError, TSHM_EBADDTYPE,
                                     "tensor %R has dtype %d, unknown to this tshm module", key,
                                     (int)t->dtype);
                return -1;
        }
        /* libtshm checked that the tensor fits the group, but an extent can
         * be huge when another is 0. */
        stride = desc->itemsize;
        for (i = desc->ndim - 1; i >= 0; i--) {
                if (t->shape[i] > (uint64_t)PY_SSIZE_T_MAX) {
                        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADSHAPE,
                                             "tensor %R: extent %llu does not fit in a "
                                             "Py_ssize_t",
                                             key, (unsigned long long)t->shape[i]);
                        return -1;
                }
                desc->shape[i] = (Py_ssize_t)t->shape[i];
                desc->strides[i] = stride;
                /* An empty tensor's strides are never used to address. */
                if (desc->shape[i] != 0 && stride <= PY_SSIZE_T_MAX / desc->shape[i]) {
                        stride *= desc->shape[i];
                }
        }
        return 0;
}

static PyObject *
group_array(tshmpy_group *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "bfloat16_as_uint16", NULL};
        int bf16_as_u16 = 0;
        tshmpy_mapping *map;
        tshmpy_segment desc;
        PyObject *key, *res;
        tshm_tensor t;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$p:array", TSHMPY_KW(kwlist), &key,
                                         &bf16_as_u16) ||
            group_lookup(self, key, &t, &map) < 0 || group_desc(&desc, &t, key) < 0) {
                return NULL;
        }
        if (t.dtype == TSHM_DTYPE_BFLOAT16 && !bf16_as_u16) {
                return tshmpy_err_fmt(tshmpy_DtypeError, 0,
                                      "tensor %R of group %R is bfloat16, which numpy has no "
                                      "dtype for: use g.torch(name) for a torch.bfloat16 "
                                      "tensor, or bfloat16_as_uint16=True for its raw bits",
                                      key, self->name);
        }
        /* Read-only (numpy will not let it be made writable) when the
         * group was opened read-only. Held while numpy makes the array: a
         * finalizer it runs could close the group. */
        Py_INCREF(map);
        res = tshmpy_numpy_view(&desc, map, t.data, bf16_as_u16 != 0);
        Py_DECREF(map);
        return res;
}

/* The mapping a group's tensors view: its own @map (held by the caller)
 * when writable, else its private copy-on-write mapping, made now if it
 * was not. A new reference; NULL with an exception raised. */
static tshmpy_mapping *
group_tensor_map(tshmpy_group *self, tshmpy_mapping *map)
{
        if (map->writable) {
                return (tshmpy_mapping *)Py_NewRef((PyObject *)map);
        }
        return tshmpy_mapping_cow(map, map->nbytes, &self->cow, &self->closed);
}

/* 0 when torch has a dtype for @dtype, else -1 with DtypeError raised (or
 * ImportError: no torch). torch 1.13 has no uint16/32/64; dlpack.c would
 * say so too, but in a segment's words. */
static int
group_torch_has(tshmpy_group *self, PyObject *key, tshm_dtype dtype)
{
        PyObject *torch;
        int has;

        if (dtype != TSHM_DTYPE_UINT16 && dtype != TSHM_DTYPE_UINT32 &&
            dtype != TSHM_DTYPE_UINT64) {
                return 0;
        }
        if ((torch = PyImport_ImportModule("torch")) == NULL) {
                return -1;
        }
        has = PyObject_HasAttrString(torch, tshm_dtype_name(dtype));
        Py_DECREF(torch);
        if (has) {
                return 0;
        }
        (void)tshmpy_err_fmt(tshmpy_DtypeError, 0,
                             "tensor %R of group %R is %s, which this torch has no dtype for: "
                             "use g.array(name) (or tshm.load_arrays), or a signed dtype of the "
                             "same size",
                             key, self->name, tshm_dtype_name(dtype));
        return -1;
}

static PyObject *
group_torch(tshmpy_group *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", NULL};
        tshmpy_mapping *map, *view;
        tshmpy_segment desc;
        PyObject *key, *res;
        tshm_tensor t;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:torch", TSHMPY_KW(kwlist), &key) ||
            group_lookup(self, key, &t, &map) < 0) {
                return NULL;
        }
        /* Held from here: importing torch and the mmap below may let
         * another thread run close(), which must not free what @t points
         * into (the table's copy) nor the mapping. */
        Py_INCREF(map);
        if (group_desc(&desc, &t, key) < 0 || group_torch_has(self, key, t.dtype) < 0 ||
            (view = group_tensor_map(self, map)) == NULL) {
                Py_DECREF(map);
                return NULL;
        }
        res = tshmpy_dlpack_torch_view(&desc, view, (uint8_t *)view->data + t.offset);
        Py_DECREF(view);
        Py_DECREF(map);
        return res;
}

static PyObject *
group_publish(tshmpy_group *self, PyObject *unused)
{
        tshmpy_mapping *map = group_mapping(self);
        tshmpy_client *client;
        int rv;

        (void)unused;
        if (map == NULL) {
                return NULL;
        }
        if (self->published) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "group %R is published already", self->name);
        }
        client = map->client;
        if (tshmpy_client_begin(client) < 0) {
                return NULL;
        }
        Py_INCREF(map);
        Py_BEGIN_ALLOW_THREADS rv = tshm_group_publish(map->group);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                Py_DECREF(map);
                return tshmpy_client_fail(client, rv);
        }
        tshmpy_client_unlock(client);
        Py_DECREF(map);
        self->published = true;
        Py_RETURN_NONE;
}

static PyObject *
group_close(tshmpy_group *self, PyObject *unused)
{
        (void)unused;
        self->closed = true;
        Py_CLEAR(self->cow);
        Py_CLEAR(self->map);
        Py_RETURN_NONE;
}

static PyObject *
group_enter(PyObject *self, PyObject *unused)
{
        (void)unused;
        return Py_NewRef(self);
}

static PyObject *
group_exit(tshmpy_group *self, PyObject *args)
{
        (void)args;
        return group_close(self, NULL);
}

static PyObject *
group_keys(tshmpy_group *self, PyObject *unused)
{
        (void)unused;
        return PySequence_List(self->names);
}

static PyObject *
group_reduce(tshmpy_group *self, PyObject *unused)
{
        tshmpy_mapping *map = group_mapping(self);

        (void)unused;
        if (map == NULL) {
                return NULL;
        }
        return tshmpy_reduce_value("_group_open",
                                   Py_BuildValue("(OOO)", map->client->socket, self->name,
                                                 self->writable ? Py_True : Py_False));
}

static Py_ssize_t
group_len(tshmpy_group *self)
{
        return PyTuple_GET_SIZE(self->names);
}

static int
group_contains(tshmpy_group *self, PyObject *key)
{
        tshmpy_mapping *map = self->map;
        tshm_tensor t;

        if (!PyUnicode_Check(key) && !PyBytes_Check(key)) {
                return 0;
        }
        if (map == NULL) { /* closed: the names are still known */
                return PySequence_Contains(self->names, key);
        }
        return group_find(map, key, &t);
}

static PyObject *
group_iter(tshmpy_group *self)
{
        return PyObject_GetIter(self->names);
}

static PyObject *
group_get_name(tshmpy_group *self, void *closure)
{
        (void)closure;
        return Py_NewRef(self->name);
}

static PyObject *
group_get_published(tshmpy_group *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->published);
}

static PyObject *
group_get_writable(tshmpy_group *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->writable);
}

static PyObject *
group_get_closed(tshmpy_group *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->map == NULL);
}

static PyObject *
group_get_nbytes(tshmpy_group *self, void *closure)
{
        (void)closure;
        return PyLong_FromSsize_t(self->nbytes);
}

static PyObject *
group_get_metadata(tshmpy_group *self, void *closure)
{
        tshmpy_mapping *map = group_mapping(self);
        const void *meta;
        size_t len;

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        meta = tshm_group_metadata(map->group, &len);
        if (meta == NULL) {
                Py_RETURN_NONE;
        }
        return PyBytes_FromStringAndSize(meta, (Py_ssize_t)len);
}

static PyObject *
group_get_segment(tshmpy_group *self, void *closure)
{
        tshmpy_mapping *map = group_mapping(self);

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        return tshmpy_segment_wrap(&tshmpy_segment_type,
                                   (tshmpy_mapping *)Py_NewRef((PyObject *)map));
}

static PyObject *
group_repr(tshmpy_group *self)
{
        return PyUnicode_FromFormat(
            "<tshm.Group %R %zd tensors %zd bytes %s%s%s>", self->name,
            PyTuple_GET_SIZE(self->names), self->nbytes, self->writable ? "rw" : "ro",
            self->published ? "" : " unpublished", self->map == NULL ? " closed" : "");
}

static PyMethodDef group_methods[] = {
    {"array", TSHMPY_METH(group_array), METH_VARARGS | METH_KEYWORDS,
     "array($self, /, name, *, bfloat16_as_uint16=False)\n--\n\n"
     "An ndarray over the tensor `name`, zero-copy; read-only when the group was\n"
     "opened read-only. It keeps the mapping alive after close(). KeyError for a\n"
     "name the group lacks; DtypeError (a TypeError) for bfloat16, which numpy has\n"
     "no dtype for, unless bfloat16_as_uint16 (its raw bits as uint16)."},
    {"torch", TSHMPY_METH(group_torch), METH_VARARGS | METH_KEYWORDS,
     "torch($self, /, name)\n--\n\n"
     "A torch tensor over the tensor `name`, zero-copy (bfloat16 is torch.bfloat16).\n"
     "It keeps the mapping alive after close(). For a read-only group it views the\n"
     "group's private copy-on-write mapping (one per Group, shared by its tensors):\n"
     "in-place ops work, copy the pages they touch into this process and reach no\n"
     "one else; a page not written keeps showing the segment. KeyError for a name\n"
     "the group lacks; DtypeError for uint16/32/64 when torch has no such dtype."},
    {"publish", TSHMPY_METH(group_publish), METH_NOARGS,
     "publish($self, /)\n--\n\n"
     "Make the group visible to open, stat and list, whole, in one step (the daemon\n"
     "validates its table of contents first). The Group stays open and writable.\n"
     "InvalidError when published already (or opened, not created, here);\n"
     "tshm.Error (.code -4003) when its table of contents was overwritten."},
    {"keys", TSHMPY_METH(group_keys), METH_NOARGS,
     "keys($self, /)\n--\n\nThe tensors' names, in the group's order (a list of str)."},
    {"close", TSHMPY_METH(group_close), METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Drop this object's hold on the mapping. Arrays and tensors made from it stay\n"
     "valid; the group is unmapped when the last of them is gone (and removed then\n"
     "if it was never published). Its names stay readable. Idempotent."},
    {"__enter__", group_enter, METH_NOARGS, "Return the group."},
    {"__exit__", TSHMPY_METH(group_exit), METH_VARARGS, "Close the group."},
    {"__reduce__", TSHMPY_METH(group_reduce), METH_NOARGS,
     "__reduce__($self, /)\n--\n\n"
     "Pickle by socket, name and access: the receiver opens the (published) group\n"
     "again. ClosedError once closed."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef group_getset[] = {
    {"name", (getter)group_get_name, NULL, "The group's (segment's) name (str).", NULL},
    {"published", (getter)group_get_published, NULL,
     "True once published (always, for a group opened with group_open()).", NULL},
    {"writable", (getter)group_get_writable, NULL, "True when created, or opened writable.", NULL},
    {"closed", (getter)group_get_closed, NULL, "True once close() was called.", NULL},
    {"nbytes", (getter)group_get_nbytes, NULL,
     "Bytes of the group's data area: its table of contents and every tensor.", NULL},
    {"metadata", (getter)group_get_metadata, NULL,
     "The metadata stored with the group (bytes), or None.", NULL},
    {"segment", (getter)group_get_segment, NULL,
     "A Segment over the group's bytes (uint8, one dimension), sharing its mapping.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods group_as_sequence = {
    .sq_length = (lenfunc)group_len,
    .sq_contains = (objobjproc)group_contains,
};

PyDoc_STRVAR(group_doc,
             "A tensor group: many named tensors, each of its own dtype and shape, in one\n"
             "segment (a model's weights, say). Get one from Client.group_create() (writable,\n"
             "unpublished: fill, then publish()) or Client.group_open(); tshm.save_state_dict\n"
             "and tshm.load_state_dict do both steps for a dict of tensors.\n\n"
             "    len(g), g.keys(), 'w' in g, iter(g)   names, in the group's order\n"
             "    g.array('w'), g.torch('w')            zero-copy views of one tensor\n\n"
             "Views keep the mapping alive by themselves (close(), the Client going, or the\n"
             "Group object going never invalidates one). Read-only groups give read-only\n"
             "arrays and copy-on-write tensors. Use it as a context manager to close it.");

PyTypeObject tshmpy_group_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Group",
    .tp_basicsize = sizeof(tshmpy_group),
    .tp_dealloc = (destructor)group_dealloc,
    .tp_repr = (reprfunc)group_repr,
    .tp_as_sequence = &group_as_sequence,
    .tp_iter = (getiterfunc)group_iter,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = group_doc,
    .tp_methods = group_methods,
    .tp_getset = group_getset,
};
