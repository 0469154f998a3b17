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
 *
 * A private mapping (tshmpy_mapping_new_private) is the copy-on-write view
 * that tensors of a read-only segment or frame use: torch has no read-only
 * tensor, so an in-place op must find writable memory, and MAP_PRIVATE makes
 * every such write a copy of the page in this process alone.
 *
 * The index: array segments' mappings (shared and private) are kept in an
 * array sorted by address, so that _Mapping._locate() can say which mapping,
 * and which byte of it, a tensor's data pointer lies in (tshm._reduce sends
 * such a tensor through torch.multiprocessing as a reference). Lookup is a
 * binary search; insert and remove move the entries above (O(n), n the
 * mappings open in this process, usually tens). Mappings never overlap, so
 * at most one holds an address. The GIL guards it: every change happens in
 * mapping creation or dealloc, with the GIL held.
 */
#include <stdint.h>
#include <string.h>
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
        self->pid = getpid();
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
        self->pid = getpid();
        return self;
}

tshmpy_mapping *
tshmpy_mapping_new_group(tshmpy_client *client, tshm_group *group)
{
        tshmpy_mapping *self;

        self = (tshmpy_mapping *)tshmpy_mapping_type.tp_alloc(&tshmpy_mapping_type, 0);
        if (self == NULL) {
                Py_BEGIN_ALLOW_THREADS(void) tshm_group_close(group);
                Py_END_ALLOW_THREADS return NULL;
        }
        Py_INCREF(client);
        self->client = client;
        self->group = group;
        self->seg = tshm_group_seg(group);
        self->data = tshm_seg_data(self->seg);
        self->nbytes = (Py_ssize_t)tshm_seg_nbytes(self->seg);
        self->writable = tshm_seg_writable(self->seg) != 0;
        self->spin_us = -1.0;
        self->pid = getpid();
        /* Indexed like an array segment's: a tensor of the group pickles as
         * a reference to its bytes (tshm._reduce opens the group by name,
         * as a plain segment, and views the same offset). */
        if (tshmpy_mapping_index(self) < 0) {
                Py_DECREF(self);
                return NULL;
        }
        return self;
}

tshmpy_mapping *
tshmpy_mapping_new_private(tshmpy_mapping *parent, Py_ssize_t offset, Py_ssize_t len)
{
        tshmpy_mapping *self;
        void *base, *data;
        size_t maplen;
        int rv;

        self = (tshmpy_mapping *)tshmpy_mapping_type.tp_alloc(&tshmpy_mapping_type, 0);
        if (self == NULL) {
                return NULL;
        }
        /* Held before the GIL goes: a close() on another thread meanwhile
         * must not unmap parent's seg under the mmap. */
        self->parent = (tshmpy_mapping *)Py_NewRef((PyObject *)parent);
        self->spin_us = -1.0;
        self->pid = getpid();
        Py_BEGIN_ALLOW_THREADS rv = tshm__seg_map_private(parent->seg, (uint64_t)offset,
                                                          (uint64_t)len, &base, &maplen, &data);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                Py_DECREF(self); /* priv_base is NULL: nothing is unmapped */
                (void)tshmpy_err_code(rv, "a private (copy-on-write) mapping for a tensor");
                return NULL;
        }
        self->priv_base = base;
        self->priv_len = maplen;
        self->data = data;
        self->nbytes = len;
        self->writable = true;
        return self;
}

/* The index of mappings by address (see the top of this file). */
struct mapping_entry {
        uintptr_t lo, hi;    /* [lo, hi): the mapping's data bytes */
        tshmpy_mapping *map; /* borrowed: it takes itself out in dealloc */
};
static struct mapping_entry *mapping_index;
static size_t mapping_count, mapping_cap;

/* The first entry whose lo is above @addr. */
static size_t
mapping_upper(uintptr_t addr)
{
        size_t lo = 0, hi = mapping_count;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (mapping_index[mid].lo <= addr) {
                        lo = mid + 1;
                } else {
                        hi = mid;
                }
        }
        return lo;
}

int
tshmpy_mapping_index(tshmpy_mapping *self)
{
        uintptr_t lo = (uintptr_t)self->data;
        size_t at;

        /* An empty mapping holds no byte to find, and its data pointer may
         * be where the next mapping begins: leaving it out keeps every lo
         * in the index distinct. */
        if (self->indexed || self->nbytes == 0) {
                return 0;
        }
        if (mapping_count == mapping_cap) {
                size_t cap = mapping_cap != 0 ? mapping_cap * 2 : 16;
                struct mapping_entry *n = PyMem_RawRealloc(mapping_index, cap * sizeof(*n));

                if (n == NULL) {
                        PyErr_NoMemory();
                        return -1;
                }
                mapping_index = n;
                mapping_cap = cap;
        }
        at = mapping_upper(lo);
        memmove(&mapping_index[at + 1], &mapping_index[at],
                (mapping_count - at) * sizeof(mapping_index[0]));
        mapping_index[at].lo = lo;
        mapping_index[at].hi = lo + (uintptr_t)self->nbytes;
        mapping_index[at].map = self;
        mapping_count++;
        self->indexed = true;
        return 0;
}

static void
mapping_unindex(tshmpy_mapping *self)
{
        size_t at = mapping_upper((uintptr_t)self->data);

        /* Every lo is distinct (empty mappings stay out); search down from
         * the last entry at or below the address all the same. */
        while (at > 0 && mapping_index[at - 1].lo == (uintptr_t)self->data) {
                if (mapping_index[at - 1].map == self) {
                        memmove(&mapping_index[at - 1], &mapping_index[at],
                                (mapping_count - at) * sizeof(mapping_index[0]));
                        mapping_count--;
                        break;
                }
                at--;
        }
        self->indexed = false;
}

PyObject *
tshmpy_mapping_locate(PyObject *module, PyObject *args)
{
        unsigned long long addr, len;
        tshmpy_mapping *m, *shared;
        size_t at;

        (void)module;
        if (!PyArg_ParseTuple(args, "KK:_locate", &addr, &len)) {
                return NULL;
        }
        at = mapping_upper((uintptr_t)addr);
        if (at == 0) {
                Py_RETURN_NONE;
        }
        m = mapping_index[at - 1].map;
        if (addr < mapping_index[at - 1].lo || addr > mapping_index[at - 1].hi ||
            len > mapping_index[at - 1].hi - addr) {
                Py_RETURN_NONE;
        }
        /* A stream's slot: no segment to name (see tshm._reduce). */
        if (m->frame) {
                return Py_BuildValue("(OsOKOs)", Py_None, "", Py_False,
                                     (unsigned long long)(addr - mapping_index[at - 1].lo),
                                     (PyObject *)m, "frame");
        }
        /* A private mapping answers for its segment, read-only. */
        shared = m->parent != NULL ? m->parent : m;
        return Py_BuildValue("(OsOKOs)", (PyObject *)shared->client->socket,
                             tshm_seg_name(shared->seg),
                             m->parent == NULL && m->writable ? Py_True : Py_False,
                             (unsigned long long)(addr - mapping_index[at - 1].lo), (PyObject *)m,
                             m->frame            ? "frame"
                             : m->parent != NULL ? "private"
                                                 : "shared");
}

int
tshmpy_mapping_check_fork(tshmpy_mapping *map, const char *what, PyObject *name)
{
        if (map->pid == getpid()) {
                return 0;
        }
        /* Its cursor (a subscriber's) or loan (a producer's) lives in memory
         * the parent shares: using it here would move the parent's. */
        (void)tshmpy_err_fmt(tshmpy_ConnectError, TSHM_EBADF,
                             "this %s of %R was opened by process %d and does not survive "
                             "fork(), which would share its position with the parent: open it "
                             "again in this process, or pass it to a child by pickling it "
                             "(multiprocessing spawn or forkserver), which opens a new one",
                             what, name, (int)map->pid);
        return -1;
}

/* Unmap and release at the daemon, with the GIL released. libtshm orders
 * this against a tshm_disconnect() of the client on another thread, so no
 * lock of ours is needed. A subscriber's seg belongs to its subscription,
 * a group's to its group (closing an unpublished one removes it).
 * Either is gone even when the daemon reports an error (the connection may
 * be gone), and there is nobody to tell. */
static void
mapping_release(tshmpy_mapping *self)
{
        if (self->sub != NULL) {
                (void)tshm_sub_close(self->sub);
        } else if (self->group != NULL) {
                (void)tshm_group_close(self->group);
        } else {
                (void)tshm_close(self->seg);
        }
}

static void
mapping_dealloc(tshmpy_mapping *self)
{
        tshmpy_client *client = self->client;

        if (self->indexed) {
                mapping_unindex(self);
        }
        if (self->priv_base != NULL) {
                tshm__seg_unmap_private(self->priv_base, self->priv_len);
        }
        Py_XDECREF(self->parent);
        PyMem_Free(self->dirty);
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
        tshmpy_mapping *shared = self->parent != NULL ? self->parent : self;

        if (shared->seg == NULL) { /* a frame's, its subscriber let go of */
                return PyUnicode_FromFormat("<tshm._Mapping %zd bytes private>", self->nbytes);
        }
        return PyUnicode_FromFormat("<tshm._Mapping '%s' %zd bytes %s>", tshm_seg_name(shared->seg),
                                    self->nbytes,
                                    self->priv_base != NULL ? "private"
                                    : self->writable        ? "rw"
                                                            : "ro");
}

static PyMethodDef mapping_methods[] = {
    {"_locate", TSHMPY_METH(tshmpy_mapping_locate), METH_VARARGS | METH_STATIC,
     "_locate(address, nbytes, /)\n--\n\n"
     "Which array segment mapping of this process holds the bytes [address,\n"
     "address + nbytes): (socket, name, writable, offset, mapping, kind), writable\n"
     "being True only where writes reach the segment (False for a read-only or private\n"
     "mapping), offset counted from the first data byte of the mapping (of the\n"
     "segment; of the slot for a frame), kind 'shared', 'private' or 'frame' (a\n"
     "frame's private mapping); None when no mapping holds them all. For\n"
     "tshm._reduce."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject tshmpy_mapping_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm._Mapping",
    .tp_basicsize = sizeof(tshmpy_mapping),
    .tp_dealloc = (destructor)mapping_dealloc,
    .tp_repr = (reprfunc)mapping_repr,
    .tp_as_buffer = &mapping_as_buffer,
    .tp_methods = mapping_methods,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "The mapping of one opened segment (private). It is the base object of every\n"
              "view (ndarray .base, DLPack capsule, tensor) and unmaps the segment when the\n"
              "last of them is gone. Exposes the raw bytes through the buffer protocol,\n"
              "read-only when the segment was opened read-only. A private one is a\n"
              "copy-on-write mapping of a read-only segment or frame: writable, and its writes\n"
              "stay in this process.",
};

tshmpy_mapping *
tshmpy_mapping_cow(tshmpy_mapping *map, Py_ssize_t nbytes, tshmpy_mapping **slot,
                   const bool *owner_closed)
{
        tshmpy_mapping *cow;

        if (*slot != NULL) {
                return (tshmpy_mapping *)Py_NewRef((PyObject *)*slot);
        }
        /* The mmap releases the GIL: another thread may close the owner,
         * or make a mapping too, meanwhile. */
        if ((cow = tshmpy_mapping_new_private(map, 0, nbytes)) == NULL) {
                return NULL;
        }
        if (tshmpy_mapping_index(cow) < 0) {
                Py_DECREF(cow);
                return NULL;
        }
        if (*slot != NULL) {
                /* Made by the other thread: its tensors and ours share it. */
                Py_DECREF(cow);
                return (tshmpy_mapping *)Py_NewRef((PyObject *)*slot);
        }
        if (!*owner_closed) {
                /* Kept for the owner's next tensors; a closed owner keeps
                 * nothing, and this mapping is the caller's alone. */
                *slot = (tshmpy_mapping *)Py_NewRef((PyObject *)cow);
        }
        return cow;
}
