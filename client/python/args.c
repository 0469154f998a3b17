/*
 * args.c - the arguments of tshm.Client's calls, converted from Python:
 * segment names, shapes, permission modes and stream policies. A value
 * libtshm would refuse raises tshm.InvalidError (a ValueError) here, so the
 * daemon never sees it; a value of the wrong type raises TypeError.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *
tshmpy_args_name(PyObject *name)
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
args_shape_dim(PyObject *item, uint64_t *ret_dim)
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

int
tshmpy_args_shape(PyObject *obj, size_t *ret_ndim, uint64_t *ret_shape)
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
                return args_shape_dim(obj, &ret_shape[0]);
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
                rv = args_shape_dim(PySequence_Fast_GET_ITEM(seq, i), &ret_shape[i]);
        }
        Py_DECREF(seq);
        *ret_ndim = (size_t)n;
        return rv;
}

int
tshmpy_args_mode(int mode, unsigned *ret_mode)
{
        char oct[16];
        int v;

        if (mode >= 0 && mode <= 0777) {
                *ret_mode = (unsigned)mode;
                return 0;
        }
        /* PyUnicode_FromFormat has no %o. */
        (void)snprintf(oct, sizeof(oct), "%o", (unsigned)mode);
        /* 600 for 0o600: an octal mode's digits written as a decimal. */
        for (v = mode; v > 0 && v % 10 <= 7; v /= 10) {
        }
        if (mode < 0) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "mode %d is not a permission: give the bits in octal, at "
                                     "most 0o777 (0o600: read-write for the owner)",
                                     mode);
        } else if (mode <= 777 && v == 0) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "mode %d is not an octal permission (it is 0o%s, beyond "
                                     "0o777); did you mean 0o%d?",
                                     mode, oct, mode);
        } else {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "mode %d (0o%s) has bits outside 0o777: give the permission "
                                     "bits in octal, such as 0o640",
                                     mode, oct);
        }
        return -1;
}

PyObject *
tshmpy_args_shape_error(tshm_dtype dtype, size_t ndim, const uint64_t *shape)
{
        char buf[TSHM_MAX_NDIM * 22 + 8];
        size_t i, len = 0;

        buf[len++] = '(';
        for (i = 0; i < ndim && i < TSHM_MAX_NDIM; i++) {
                len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%llu", i > 0 ? ", " : "",
                                        (unsigned long long)shape[i]);
        }
        (void)snprintf(buf + len, sizeof(buf) - len, "%s)", ndim == 1 ? "," : "");
        return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EBADSHAPE, "%s: shape %s of %s",
                              tshm_strerror(TSHM_EBADSHAPE), buf,
                              tshm_dtype_name(dtype) != NULL ? tshm_dtype_name(dtype) : "?");
}

int
tshmpy_args_policy(PyObject *obj, tshm_stream_policy *ret_policy)
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
