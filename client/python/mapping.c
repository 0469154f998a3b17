/*
 * mapping.c - tshm._Mapping: the one owner of a tshm_seg.
 *
 * Every view of a segment keeps a reference to its mapping object: ndarrays
 * have it as their base, DLPack capsules and tensors hold it in their
 * manager context, and the Segment holds it until seg.close(). The segment
 * is unmapped (tshm_close) only when the last reference goes, whatever the
 * order of closes, unlinks and deletes, so no view can outlive its memory.
 *
 * It also exports its bytes through the buffer protocol, read-only when the
 * segment is. numpy asks the final base of an array for a writable buffer
 * before it lets `a.flags.writeable = True` through, so a view of a
 * read-only segment can never be made writable (and then crash).
 */
#include <unistd.h>

#include "internal.h"

tshmpy_mapping *
tshmpy_mapping_new(tshmpy_client *client, tshm_seg *seg)
{
        tshmpy_mapping *self;

        self = (tshmpy_mapping *)tshmpy_mapping_type.tp_alloc(&tshmpy_mapping_type, 0);
        if (self == NULL) {
                /* The error, if any, is the daemon's; the seg is gone. */
                Py_BEGIN_ALLOW_THREADS(void) tshm_close(seg);
                Py_END_ALLOW_THREADS return NULL;
        }
        Py_INCREF(client);
        self->client = client;
        self->seg = seg;
        self->data = tshm_seg_data(seg);
        self->nbytes = (Py_ssize_t)tshm_seg_nbytes(seg);
        self->writable = tshm_seg_writable(seg) != 0;
        self->spin_us = -1.0;
        return self;
}

tshmpy_mapping *
tshmpy_mapping_new_sub(tshmpy_client *client, tshm_sub *sub)
{
        tshmpy_mapping *self;

        self = (tshmpy_mapping *)tshmpy_mapping_type.tp_alloc(&tshmpy_mapping_type, 0);
        if (self == NULL) {
                Py_BEGIN_ALLOW_THREADS(void) tshm_sub_close(sub);
                Py_END_ALLOW_THREADS return NULL;
        }
        Py_INCREF(client);
        self->client = client;
        self->sub = sub;
        self->seg = tshm_sub_seg(sub);
        self->data = tshm_seg_data(self->seg);
        self->nbytes = (Py_ssize_t)tshm_seg_nbytes(self->seg);
        self->writable = false;
        self->spin_us = -1.0;
        return self;
}

/* Unmap and release at the daemon, with the GIL released. libtshm orders
 * this against a tshm_disconnect() of the client on another thread, so no
 * lock of ours is needed. A subscriber's seg belongs to its subscription.
 * Either is gone even when the daemon reports an error (the connection may
 * be gone), and there is nobody to tell. */
static void
mapping_release(tshmpy_mapping *self)
{
        if (self->sub != NULL) {
                (void)tshm_sub_close(self->sub);
        } else {
                (void)tshm_close(self->seg);
        }
}

static void
mapping_dealloc(tshmpy_mapping *self)
{
        tshmpy_client *client = self->client;

        if (self->seg != NULL) {
                /* A fork child must not talk on its parent's socket:
                 * detaching first makes tshm_close() only unmap. The lock
                 * guards client->c, which the detach clears. */
                tshmpy_client_lock(client);
                tshmpy_client_detach_if_forked(client);
                tshmpy_client_unlock(client);
                Py_BEGIN_ALLOW_THREADS mapping_release(self);
                Py_END_ALLOW_THREADS
        }
        Py_XDECREF(client);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
mapping_getbuffer(tshmpy_mapping *self, Py_buffer *view, int flags)
{
        /* Raises BufferError for a writable request on a read-only mapping. */
        return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->nbytes,
                                 self->writable ? 0 : 1, flags);
}

static PyBufferProcs mapping_as_buffer = {
    .bf_getbuffer = (getbufferproc)mapping_getbuffer,
    .bf_releasebuffer = NULL,
};

static PyObject *
mapping_repr(tshmpy_mapping *self)
{
        return PyUnicode_FromFormat("<tshm._Mapping '%s' %zd bytes %s>", tshm_seg_name(self->seg),
                                    self->nbytes, self->writable ? "rw" : "ro");
}

PyTypeObject tshmpy_mapping_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm._Mapping",
    .tp_basicsize = sizeof(tshmpy_mapping),
    .tp_dealloc = (destructor)mapping_dealloc,
    .tp_repr = (reprfunc)mapping_repr,
    .tp_as_buffer = &mapping_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "The mapping of one opened segment (private). It is the base object of every\n"
              "view (ndarray .base, DLPack capsule, tensor) and unmaps the segment when the\n"
              "last of them is gone. Exposes the raw bytes through the buffer protocol,\n"
              "read-only when the segment was opened read-only.",
};
