/*
 * numpy.c - everything that uses numpy's C API: dtypes, and ndarrays over a
 * segment's mapping.
 *
 * Only this file includes numpy's headers, so its API table stays static
 * here (no PY_ARRAY_UNIQUE_SYMBOL). The module is built against the numpy
 * it runs with (Debian's python3-numpy).
 */
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include "internal.h"

#include <string.h>

#include <numpy/arrayobject.h>

#define NUMPY_NDTYPES (TSHM_DTYPE_COMPLEX128 + 1)

/* numpy type number of each tshm_dtype; -1 for bfloat16 (none). */
static const int numpy_typenums[NUMPY_NDTYPES] = {
    [0] = -1,
    [TSHM_DTYPE_BOOL] = NPY_BOOL,
    [TSHM_DTYPE_INT8] = NPY_INT8,
    [TSHM_DTYPE_INT16] = NPY_INT16,
    [TSHM_DTYPE_INT32] = NPY_INT32,
    [TSHM_DTYPE_INT64] = NPY_INT64,
    [TSHM_DTYPE_UINT8] = NPY_UINT8,
    [TSHM_DTYPE_UINT16] = NPY_UINT16,
    [TSHM_DTYPE_UINT32] = NPY_UINT32,
    [TSHM_DTYPE_UINT64] = NPY_UINT64,
    [TSHM_DTYPE_FLOAT16] = NPY_HALF,
    [TSHM_DTYPE_BFLOAT16] = -1,
    [TSHM_DTYPE_FLOAT32] = NPY_FLOAT32,
    [TSHM_DTYPE_FLOAT64] = NPY_FLOAT64,
    [TSHM_DTYPE_COMPLEX64] = NPY_COMPLEX64,
    [TSHM_DTYPE_COMPLEX128] = NPY_COMPLEX128,
};

static const char numpy_dtype_list[] =
    "tshm holds bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, "
    "bfloat16, float32, float64, complex64 and complex128, little-endian or native";

int
tshmpy_numpy_init(void)
{
        return _import_array();
}

PyObject *
tshmpy_numpy_dtype(tshm_dtype dtype)
{
        PyArray_Descr *d = NULL;
        PyObject *s;

        if ((int)dtype <= 0 || (int)dtype >= NUMPY_NDTYPES) {
                return tshmpy_err_fmt(tshmpy_DtypeError, TSHM_EBADDTYPE, "unknown dtype %d",
                                      (int)dtype);
        }
        if (numpy_typenums[dtype] >= 0) {
                return (PyObject *)PyArray_DescrFromType(numpy_typenums[dtype]);
        }
        /* bfloat16: two opaque bytes, as its array-interface string '<V2'. */
        if ((s = PyUnicode_FromString("V2")) == NULL) {
                return NULL;
        }
        (void)PyArray_DescrConverter(s, &d);
        Py_DECREF(s);
        return (PyObject *)d;
}

/* The numpy type number for @self's dtype, or -1 with DtypeError raised. */
static int
numpy_typenum(tshmpy_segment *self, bool bf16_as_u16)
{
        if (self->dtype != TSHM_DTYPE_BFLOAT16) {
                return numpy_typenums[self->dtype];
        }
        if (!bf16_as_u16) {
                (void)tshmpy_err_fmt(tshmpy_DtypeError, 0,
                                     "segment %R is bfloat16, which numpy has no dtype for: use "
                                     ".torch() for a torch.bfloat16 tensor, or "
                                     "bfloat16_as_uint16=True for a uint16 array of its raw bits",
                                     self->name);
                return -1;
        }
        return NPY_UINT16;
}

PyObject *
tshmpy_numpy_empty(tshmpy_segment *self, bool bf16_as_u16, void **ret_data)
{
        npy_intp dims[TSHM_MAX_NDIM];
        PyObject *arr;
        int i, typenum = numpy_typenum(self, bf16_as_u16);

        if (typenum < 0) {
                return NULL;
        }
        for (i = 0; i < self->ndim; i++) {
                dims[i] = self->shape[i];
        }
        arr = PyArray_SimpleNew(self->ndim, dims, typenum);
        if (arr != NULL) {
                *ret_data = PyArray_DATA((PyArrayObject *)arr);
        }
        return arr;
}

PyObject *
tshmpy_numpy_array(tshmpy_segment *self, bool bf16_as_u16)
{
        return tshmpy_numpy_view(self, self->map, self->map->data, bf16_as_u16);
}

PyObject *
tshmpy_numpy_view(tshmpy_segment *self, tshmpy_mapping *map, void *data, bool bf16_as_u16)
{
        npy_intp dims[TSHM_MAX_NDIM], strides[TSHM_MAX_NDIM];
        PyArray_Descr *descr;
        PyObject *arr;
        int i, typenum = numpy_typenum(self, bf16_as_u16);

        if (typenum < 0) {
                return NULL;
        }
        for (i = 0; i < self->ndim; i++) {
                dims[i] = self->shape[i];
                strides[i] = self->strides[i];
        }
        descr = PyArray_DescrFromType(typenum);
        if (descr == NULL) {
                return NULL;
        }
        /* Steals descr. numpy recomputes the contiguity and alignment flags
         * from the strides and the pointer. */
        arr = PyArray_NewFromDescr(&PyArray_Type, descr, self->ndim, dims, strides, data,
                                   map->writable ? NPY_ARRAY_CARRAY : NPY_ARRAY_CARRAY_RO, NULL);
        if (arr == NULL) {
                return NULL;
        }
        /* The mapping object, not the Segment, is the base: the array then
         * survives seg.close(), and numpy asks the mapping (read-only for a
         * read-only segment) before it lets writeable be set. Steals. */
        if (PyArray_SetBaseObject((PyArrayObject *)arr, Py_NewRef((PyObject *)map)) < 0) {
                Py_DECREF(arr);
                return NULL;
        }
        return arr;
}

PyObject *
tshmpy_numpy_convert(PyObject *arr, PyObject *dtype, bool copy)
{
        PyArray_Descr *d = NULL;

        if (dtype != Py_None && !PyArray_DescrConverter(dtype, &d)) {
                return NULL;
        }
        if (d == NULL) {
                return copy ? PyArray_NewCopy((PyArrayObject *)arr, NPY_KEEPORDER) : Py_NewRef(arr);
        }
        /* Steals d; returns arr itself when no conversion is needed. */
        return PyArray_FromArray((PyArrayObject *)arr, d, copy ? NPY_ARRAY_ENSURECOPY : 0);
}

static int
numpy_bad_dtype(PyObject *obj)
{
        PyObject *type, *cause, *tb, *t2, *exc, *tb2;

        /* Raise InvalidError, with what numpy said (if anything) as the
         * cause. */
        PyErr_Fetch(&type, &cause, &tb);
        if (type != NULL) {
                PyErr_NormalizeException(&type, &cause, &tb);
        }
        (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADDTYPE, "%s: %R (%s)",
                             tshm_strerror(TSHM_EBADDTYPE), obj, numpy_dtype_list);
        if (cause != NULL) {
                PyErr_Fetch(&t2, &exc, &tb2);
                PyErr_NormalizeException(&t2, &exc, &tb2);
                if (tb != NULL) {
                        (void)PyException_SetTraceback(cause, tb);
                }
                PyException_SetCause(exc, cause); /* steals cause */
                cause = NULL;
                PyErr_Restore(t2, exc, tb2);
        }
        Py_XDECREF(type);
        Py_XDECREF(cause);
        Py_XDECREF(tb);
        return -1;
}

static int
numpy_parse_str(PyObject *obj, const char *s, tshm_dtype *ret_dtype)
{
        if (tshm_dtype_parse(s, ret_dtype) < 0) {
                return numpy_bad_dtype(obj);
        }
        return 0;
}

int
tshmpy_numpy_parse_dtype(PyObject *obj, tshm_dtype *ret_dtype)
{
        PyArray_Descr *d = NULL;
        PyObject *s;
        const char *cs;
        int rv;

        if (PyUnicode_Check(obj)) {
                if ((cs = PyUnicode_AsUTF8(obj)) == NULL) {
                        return -1;
                }
                return numpy_parse_str(obj, cs, ret_dtype);
        }
        /* A torch dtype prints as 'torch.float32'; torch need not be
         * imported for us to recognise it. */
        if (strcmp(Py_TYPE(obj)->tp_name, "torch.dtype") == 0) {
                if ((s = PyObject_Str(obj)) == NULL || (cs = PyUnicode_AsUTF8(s)) == NULL) {
                        Py_XDECREF(s);
                        return -1;
                }
                rv = numpy_parse_str(obj, strncmp(cs, "torch.", 6) == 0 ? cs + 6 : cs, ret_dtype);
                Py_DECREF(s);
                return rv;
        }
        if (obj == Py_None || !PyArray_DescrConverter(obj, &d)) {
                return numpy_bad_dtype(obj);
        }
        /* The array-interface string, e.g. '<f4' or '|b1'; big-endian and
         * non-numeric kinds fail to parse. */
        s = PyObject_GetAttrString((PyObject *)d, "str");
        Py_DECREF(d);
        if (s == NULL || (cs = PyUnicode_AsUTF8(s)) == NULL) {
                Py_XDECREF(s);
                return -1;
        }
        rv = numpy_parse_str(obj, cs, ret_dtype);
        Py_DECREF(s);
        return rv;
}

/* Copy @arr into the new segment @seg; on failure unlink it again. */
static PyObject *
numpy_fill(tshmpy_client *client, const char *name, PyObject *seg, PyArrayObject *arr)
{
        PyObject *view, *type, *value, *tb;
        int rv = -1;

        view = tshmpy_numpy_array((tshmpy_segment *)seg, false);
        if (view != NULL) {
                rv = PyArray_CopyInto((PyArrayObject *)view, arr);
                Py_DECREF(view);
        }
        if (rv == 0) {
                return seg;
        }
        PyErr_Fetch(&type, &value, &tb);
        Py_DECREF(seg);
        (void)tshmpy_client_unlink_quiet(client, name); /* the copy's error is the news */
        PyErr_Restore(type, value, tb);
        return NULL;
}

PyObject *
tshmpy_numpy_from_array(tshmpy_client *client, const char *name, PyObject *array, unsigned mode)
{
        uint64_t shape[TSHM_MAX_NDIM];
        tshm_dtype dtype;
        PyArrayObject *arr;
        PyObject *seg;
        int i, ndim;

        arr = (PyArrayObject *)PyArray_FROM_O(array);
        if (arr == NULL) {
                return NULL;
        }
        ndim = PyArray_NDIM(arr);
        if (tshmpy_numpy_parse_dtype((PyObject *)PyArray_DESCR(arr), &dtype) < 0) {
                Py_DECREF(arr);
                return NULL;
        }
        if (ndim > TSHM_MAX_NDIM) {
                Py_DECREF(arr);
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADSHAPE, "%s: %d dimensions",
                                      tshm_strerror(TSHM_EBADSHAPE), ndim);
        }
        for (i = 0; i < ndim; i++) {
                shape[i] = (uint64_t)PyArray_DIM(arr, i);
        }
        /* Every byte is about to be written: populate whatever the size. */
        seg = tshmpy_client_create(client, name, dtype, (size_t)ndim, shape, mode,
                                   TSHM_CREATE_POPULATE);
        if (seg != NULL) {
                seg = numpy_fill(client, name, seg, arr);
        }
        Py_DECREF(arr);
        return seg;
}
