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
 *   tensor, so a consumer may write (an in-place op) to whatever it gets. A
 *   PROT_READ mapping would crash the process then, so a read-only segment
 *   (and a frame, in subscriber.c) gives tensors and capsules over a private
 *   copy-on-write mapping of its descriptor instead (mapping.c): a write
 *   copies the page it touches into this process and reaches no one else;
 *   a page not written keeps following the producer's writes. One such
 *   mapping per read-only Segment handle, made on first use and shared by
 *   its tensors.
 * - bool: no DLPack 0.6 type code; __dlpack__ raises DtypeError, .torch()
 *   goes through numpy (torch.from_numpy shares the memory).
 * - uint16/32/64: exported through DLPack (numpy reads them); .torch() raises
 *   DtypeError when torch has no such dtype (1.13 has none).
 * - pickling: the first tensor tshm makes installs tshm._reduce's reducers
 *   on torch's ForkingPickler, so that a tensor over a segment crosses a
 *   torch.multiprocessing queue as a reference to the segment.
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

static PyObject *dlpack_capsule_view(tshmpy_segment *self, tshmpy_mapping *map, void *data,
                                     bool bytes);

/* The mapping a segment's tensors view: its own when writable, else its
 * private copy-on-write mapping, made now if it was not. A new reference;
 * NULL with an exception raised. */
static tshmpy_mapping *
dlpack_segment_map(tshmpy_segment *self)
{
        tshmpy_mapping *map = self->map, *view;

        if (map->writable) {
                return (tshmpy_mapping *)Py_NewRef((PyObject *)map);
        }
        Py_INCREF(map); /* a close() during the mmap must not free it */
        view = tshmpy_mapping_cow(map, self->nbytes, &self->cow, &self->closed);
        Py_DECREF(map);
        return view;
}

/* Install tshm._reduce when torch is loaded already: a capsule alone never
 * imports torch (numpy.from_dlpack must not pay for it). */
static int
dlpack_install_if_torch(void)
{
        PyObject *modules = PyImport_GetModuleDict();

        if (PyDict_GetItemString(modules, "torch") == NULL) {
                return 0;
        }
        return tshmpy_reduce_install();
}

PyObject *
tshmpy_dlpack_capsule(tshmpy_segment *self)
{
        tshmpy_mapping *map = dlpack_segment_map(self);
        PyObject *cap = NULL;

        if (map != NULL && dlpack_install_if_torch() == 0) {
                cap = dlpack_capsule_view(self, map, map->data, false);
        }
        Py_XDECREF(map);
        return cap;
}

/* A capsule over @data in @map (which must be writable: see the top of
 * this file), of @self's dtype and shape, or of @self->nbytes bytes when
 * @bytes. */
static PyObject *
dlpack_capsule_view(tshmpy_segment *self, tshmpy_mapping *map, void *data, bool bytes)
{
        struct dlpack_ctx *ctx;
        DLTensor *t;
        PyObject *capsule;
        int i;

        if (!map->writable) {
                /* Callers pass a private mapping for read-only data. */
                PyErr_SetString(PyExc_SystemError, "tshm: a capsule over read-only memory");
                return NULL;
        }
        if (!bytes && dlpack_types[self->dtype].bits == 0) {
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
        if (bytes) {
                ctx->shape[0] = (int64_t)self->nbytes;
                ctx->strides[0] = 1;
                t->ndim = 1;
                t->dtype = dlpack_types[TSHM_DTYPE_UINT8];
        }
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
        /* From the first tensor on, tensors over segments pickle as
         * references (torch.multiprocessing registered its reducers when
         * torch was imported, just above: ours wrap them). */
        if (tshmpy_reduce_install() < 0) {
                Py_CLEAR(dlpack_torch_from_numpy);
                Py_CLEAR(dlpack_torch_from_dlpack);
                return -1;
        }
        return 0;
}

PyObject *
tshmpy_dlpack_torch(tshmpy_segment *self)
{
        tshmpy_mapping *map = dlpack_segment_map(self);
        PyObject *t;

        if (map == NULL) {
                return NULL;
        }
        t = tshmpy_dlpack_torch_view(self, map, map->data);
        Py_DECREF(map);
        return t;
}

PyObject *
tshmpy_dlpack_torch_bytes(tshmpy_segment *self, PyObject *unused)
{
        tshmpy_mapping *map;
        PyObject *src, *t;

        (void)unused;
        if (tshmpy_segment_mapping(self) == NULL || (map = dlpack_segment_map(self)) == NULL) {
                return NULL;
        }
        src = dlpack_torch_init() == 0 ? dlpack_capsule_view(self, map, map->data, true) : NULL;
        Py_DECREF(map);
        if (src == NULL) {
                return NULL;
        }
        t = PyObject_CallOneArg(dlpack_torch_from_dlpack, src);
        Py_DECREF(src);
        return t;
}

PyObject *
tshmpy_dlpack_torch_view(tshmpy_segment *self, tshmpy_mapping *map, void *data)
{
        PyObject *src, *t;
        int u;

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
        if ((src = dlpack_capsule_view(self, map, data, false)) == NULL) {
                return NULL;
        }
        t = PyObject_CallOneArg(dlpack_torch_from_dlpack, src);
        Py_DECREF(src);
        return t;
}
