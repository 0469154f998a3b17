/*
 * dlpack.c - DLPack 0.6 export (__dlpack__) and torch tensors (.torch()).
 *
 * A capsule named "dltensor" holds a DLManagedTensor whose manager context
 * keeps a reference to the mapping object. A consumer that takes it renames
 * the capsule "used_dltensor" and calls the deleter when its tensor dies,
 * from whatever thread frees the tensor: the deleter takes the GIL itself.
 * A capsule nobody consumed calls the deleter from its own destructor.
 *
 * Decisions, for what DLPack 0.6 and torch 1.13 cannot express:
 * - read-only: DLPack 0.6 has no read-only flag and torch no read-only
 *   tensor, so a consumer could write to a PROT_READ mapping and crash the
 *   process. Both __dlpack__ and .torch() refuse read-only segments with
 *   ReadOnlyError; numpy views (read-only) remain the way to read them.
 * - bool: no DLPack 0.6 type code; __dlpack__ raises DtypeError, .torch()
 *   goes through numpy (torch.from_numpy shares the memory).
 * - uint16/32/64: exported through DLPack (numpy reads them); .torch() raises
 *   DtypeError when torch has no such dtype (1.13 has none).
 */
#include "internal.h"

#include <dlpack/dlpack.h>

struct dlpack_ctx {
        DLManagedTensor mt;
        PyObject *owner; /* the tshmpy_mapping */
        int64_t shape[TSHM_MAX_NDIM];
        int64_t strides[TSHM_MAX_NDIM]; /* in elements, as DLPack counts them */
};

/* DLPack type of each tshm_dtype; bits 0 where there is none (bool). */
static const DLDataType dlpack_types[] = {
    [TSHM_DTYPE_BOOL] = {0, 0, 0},
    [TSHM_DTYPE_INT8] = {kDLInt, 8, 1},
    [TSHM_DTYPE_INT16] = {kDLInt, 16, 1},
    [TSHM_DTYPE_INT32] = {kDLInt, 32, 1},
    [TSHM_DTYPE_INT64] = {kDLInt, 64, 1},
    [TSHM_DTYPE_UINT8] = {kDLUInt, 8, 1},
    [TSHM_DTYPE_UINT16] = {kDLUInt, 16, 1},
    [TSHM_DTYPE_UINT32] = {kDLUInt, 32, 1},
    [TSHM_DTYPE_UINT64] = {kDLUInt, 64, 1},
    [TSHM_DTYPE_FLOAT16] = {kDLFloat, 16, 1},
    [TSHM_DTYPE_BFLOAT16] = {kDLBfloat, 16, 1},
    [TSHM_DTYPE_FLOAT32] = {kDLFloat, 32, 1},
    [TSHM_DTYPE_FLOAT64] = {kDLFloat, 64, 1},
    [TSHM_DTYPE_COMPLEX64] = {kDLComplex, 64, 1},
    [TSHM_DTYPE_COMPLEX128] = {kDLComplex, 128, 1},
};

static int
dlpack_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
        return Py_IsFinalizing();
#else
        return _Py_IsFinalizing();
#endif
}

static void
dlpack_deleter(DLManagedTensor *mt)
{
        struct dlpack_ctx *ctx;
        PyGILState_STATE st;

        if (mt == NULL) {
                return;
        }
        ctx = mt->manager_ctx;
        /* During interpreter shutdown the GIL cannot be taken safely: leave
         * the mapping to the process's exit, as numpy's deleter does. */
        if (dlpack_finalizing()) {
                return;
        }
        st = PyGILState_Ensure();
        Py_DECREF(ctx->owner);
        PyGILState_Release(st);
        PyMem_RawFree(ctx);
}

static void
dlpack_capsule_destructor(PyObject *capsule)
{
        DLManagedTensor *mt;
        PyObject *type, *value, *tb;

        /* A consumer took it: the deleter is the consumer's to call. */
        if (PyCapsule_IsValid(capsule, "used_dltensor")) {
                return;
        }
        PyErr_Fetch(&type, &value, &tb);
        mt = PyCapsule_GetPointer(capsule, "dltensor");
        if (mt != NULL) {
                mt->deleter(mt);
        } else {
                PyErr_WriteUnraisable(capsule);
        }
        PyErr_Restore(type, value, tb);
}

static PyObject *dlpack_capsule_view(tshmpy_segment *self, tshmpy_mapping *map, void *data);

static PyObject *
dlpack_readonly_error(tshmpy_segment *self)
{
        return tshmpy_err_fmt(
            tshmpy_ReadOnlyError, 0,
            "segment %R is open read-only, and torch has no read-only tensors (nor DLPack 0.6 a "
            "read-only flag): a write through one would crash the process. Open it with "
            "writable=True, use .numpy() or numpy.asarray(seg) for a read-only array, or copy it "
            "with torch.tensor(seg.numpy())",
            self->name);
}

PyObject *
tshmpy_dlpack_capsule(tshmpy_segment *self)
{
        return dlpack_capsule_view(self, self->map, self->map->data);
}

static PyObject *
dlpack_capsule_view(tshmpy_segment *self, tshmpy_mapping *map, void *data)
{
        struct dlpack_ctx *ctx;
        DLTensor *t;
        PyObject *capsule;
        int i;

        if (!map->writable) {
                return dlpack_readonly_error(self);
        }
        if (dlpack_types[self->dtype].bits == 0) {
                return tshmpy_err_fmt(tshmpy_DtypeError, 0,
                                      "segment %R is bool, which DLPack 0.6 has no type code for: "
                                      "use numpy.asarray(seg) or seg.numpy(), or seg.torch() "
                                      "(which goes through numpy)",
                                      self->name);
        }
        ctx = PyMem_RawCalloc(1, sizeof(*ctx));
        if (ctx == NULL) {
                return PyErr_NoMemory();
        }
        t = &ctx->mt.dl_tensor;
        for (i = 0; i < self->ndim; i++) {
                ctx->shape[i] = (int64_t)self->shape[i];
                ctx->strides[i] = (int64_t)(self->strides[i] / self->itemsize);
        }
        t->data = data;
        t->device.device_type = kDLCPU;
        t->device.device_id = 0;
        t->ndim = self->ndim;
        t->dtype = dlpack_types[self->dtype];
        t->shape = ctx->shape;
        t->strides = ctx->strides;
        t->byte_offset = 0;
        ctx->owner = Py_NewRef((PyObject *)map);
        ctx->mt.manager_ctx = ctx;
        ctx->mt.deleter = dlpack_deleter;
        capsule = PyCapsule_New(&ctx->mt, "dltensor", dlpack_capsule_destructor);
        if (capsule == NULL) {
                Py_DECREF(ctx->owner);
                PyMem_RawFree(ctx);
        }
        return capsule;
}

/* torch's entry points, looked up on first use: importing torch takes a
 * second, and only .torch() needs it. */
static PyObject *dlpack_torch_from_dlpack, *dlpack_torch_from_numpy;
static bool dlpack_torch_has_uint[3]; /* uint16, uint32, uint64 */

static int
dlpack_torch_init(void)
{
        static const char *const unames[] = {"uint16", "uint32", "uint64"};
        PyObject *torch;
        int i;

        if (dlpack_torch_from_dlpack != NULL) {
                return 0;
        }
        torch = PyImport_ImportModule("torch");
        if (torch == NULL) {
                if (PyErr_ExceptionMatches(PyExc_ImportError)) {
                        PyErr_Clear();
                        PyErr_SetString(PyExc_ImportError,
                                        "tshm: .torch() needs PyTorch, which cannot be imported "
                                        "(on Debian: apt install python3-torch)");
                }
                return -1;
        }
        for (i = 0; i < 3; i++) {
                dlpack_torch_has_uint[i] = PyObject_HasAttrString(torch, unames[i]) != 0;
        }
        dlpack_torch_from_numpy = PyObject_GetAttrString(torch, "from_numpy");
        dlpack_torch_from_dlpack = PyObject_GetAttrString(torch, "from_dlpack");
        Py_DECREF(torch);
        if (dlpack_torch_from_numpy == NULL || dlpack_torch_from_dlpack == NULL) {
                Py_CLEAR(dlpack_torch_from_numpy);
                Py_CLEAR(dlpack_torch_from_dlpack);
                return -1;
        }
        return 0;
}

PyObject *
tshmpy_dlpack_torch(tshmpy_segment *self)
{
        return tshmpy_dlpack_torch_view(self, self->map, self->map->data);
}

PyObject *
tshmpy_dlpack_torch_view(tshmpy_segment *self, tshmpy_mapping *map, void *data)
{
        PyObject *src, *t;
        int u;

        if (!map->writable) {
                return dlpack_readonly_error(self);
        }
        if (dlpack_torch_init() < 0) {
                return NULL;
        }
        if (self->dtype == TSHM_DTYPE_BOOL) {
                /* torch.from_numpy shares the array's memory and keeps the
                 * array, and so the mapping, alive. */
                if ((src = tshmpy_numpy_view(self, map, data, false)) == NULL) {
                        return NULL;
                }
                t = PyObject_CallOneArg(dlpack_torch_from_numpy, src);
                Py_DECREF(src);
                return t;
        }
        u = self->dtype == TSHM_DTYPE_UINT16   ? 0
            : self->dtype == TSHM_DTYPE_UINT32 ? 1
            : self->dtype == TSHM_DTYPE_UINT64 ? 2
                                               : -1;
        if (u >= 0 && !dlpack_torch_has_uint[u]) {
                return tshmpy_err_fmt(tshmpy_DtypeError, 0,
                                      "segment %R is %s, which this torch has no dtype for: use "
                                      ".numpy(), or a signed dtype of the same size",
                                      self->name, tshm_dtype_name(self->dtype));
        }
        if ((src = dlpack_capsule_view(self, map, data)) == NULL) {
                return NULL;
        }
        t = PyObject_CallOneArg(dlpack_torch_from_dlpack, src);
        Py_DECREF(src);
        return t;
}
