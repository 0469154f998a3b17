/*
 * subscriber.c - a stream's consumer side: tshm.Subscriber (a subscription)
 * and tshm.Frame (a frame being read); stream.c has the producer's side and
 * what both share.
 *
 * A subscriber's mapping owns its tshm_sub (mapping.c): the subscription
 * ends when the last of the Subscriber, its Frames and their views lets go
 * of it.
 */
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct tshmpy_frame {
        PyObject_HEAD tshmpy_segment *sub; /* strong: the description */
        tshmpy_mapping *map;               /* strong: owns the subscription */
        tshm_frame f;
        PyObject *array; /* the slot as a read-only ndarray, made on first use */
        /* The slot's private copy-on-write mapping for .torch(), made on
         * first use (see frame_torch). */
        tshmpy_mapping *cow;
        void *cow_data; /* the frame's first byte in cow */
        bool held;
} tshmpy_frame;

/* tshm.Subscriber: a segment description with the subscription's depth. */
typedef struct tshmpy_subscriber {
        tshmpy_segment seg;
        uint32_t depth; /* frames it may hold at once */
} tshmpy_subscriber;

PyObject *
tshmpy_subscriber_new(tshmpy_client *client, tshm_sub *sub, uint32_t depth)
{
        tshmpy_mapping *map;
        PyObject *self;

        if ((map = tshmpy_mapping_new_sub(client, sub)) == NULL) {
                return NULL;
        }
        if ((self = tshmpy_segment_wrap(&tshmpy_subscriber_type, map)) != NULL) {
                ((tshmpy_subscriber *)self)->depth = depth;
        }
        return self;
}

struct subscriber_wait_arg {
        tshm_seg *seg;
        uint64_t after;
};

/* One slice of waiting for a frame, the GIL released: for the stream's seq
 * to pass what it was when the take found nothing (0: look again). */
static int64_t
subscriber_wait_fn(void *arg, int timeout_ms)
{
        struct subscriber_wait_arg *a = arg;
        int64_t rv = tshm_wait(a->seg, a->after, timeout_ms);

        return rv == TSHM_ETIMEDOUT ? 0 : rv;
}

static PyObject *
subscriber_full(tshmpy_subscriber *self)
{
        if (self->depth == 1) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "subscriber of %R holds a frame already (depth 1): release "
                                      "it (leave its with block) before taking the next, or "
                                      "subscribe with a greater depth",
                                      self->seg.name);
        }
        return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                              "subscriber of %R holds %u frames already, its depth: release one "
                              "before taking the next",
                              self->seg.name, (unsigned)self->depth);
}

/* Take a frame into @ret_frame, waiting until @deadline. Every call on the
 * tshm_sub happens with the GIL held (tshm_sub_take(), which only checks,
 * here; tshm_sub_release_frame() in Frame), so that a frame may be released
 * on one thread while another waits in take: what waits with the GIL
 * released is tshm_wait() on the stream's seq, which reads only shared
 * memory. A take that finds nothing reads seq, then looks again: a frame
 * published in between ends the wait at once. Returns 0, TSHMPY_RAISED or
 * an error code. */
static int64_t
subscriber_take_wait(tshmpy_subscriber *self, tshm_sub *sub, uint64_t deadline,
                     tshm_frame *ret_frame)
{
        struct subscriber_wait_arg a = {.seg = tshm_sub_seg(sub), .after = UINT64_MAX};
        int64_t rv;

        for (;;) {
                if (tshm_sub_held(sub) >= self->depth) {
                        /* Another thread took the last one meanwhile. */
                        (void)subscriber_full(self);
                        return TSHMPY_RAISED;
                }
                rv = tshm_sub_take(sub, 0, ret_frame);
                if (rv != TSHM_ETIMEDOUT) {
                        return rv;
                }
                if (a.after == UINT64_MAX) {
                        /* Only a take that must wait reads the header. */
                        a.after = tshm_seg_seq(a.seg);
                        continue;
                }
                if (deadline != UINT64_MAX && tshmpy_mono_ns() >= deadline) {
                        return TSHM_ETIMEDOUT;
                }
                rv = tshmpy_wait_sliced(subscriber_wait_fn, &a, deadline);
                if (rv == TSHMPY_RAISED) {
                        return rv;
                }
                if (rv < 0 && rv != TSHM_ETIMEDOUT) {
                        /* Unlinked (or a bad counter): the take says what
                         * that means for this subscriber. */
                        rv = tshm_sub_take(sub, 0, ret_frame);
                        return rv == TSHM_ETIMEDOUT ? TSHM_ENOENT : rv;
                }
                a.after = rv > 0 ? (uint64_t)rv : tshm_seg_seq(a.seg);
                if (PyErr_CheckSignals() < 0) {
                        return TSHMPY_RAISED;
                }
        }
}

static PyObject *
subscriber_take(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        tshmpy_subscriber *sself = (tshmpy_subscriber *)self;
        tshmpy_mapping *map;
        tshmpy_frame *frame;
        double timeout_s;
        int64_t rv;

        if ((map = tshmpy_stream_wait_args(self, args, kwds, "|O:take", &timeout_s)) == NULL) {
                return NULL;
        }
        if (tshm_sub_held(map->sub) >= sself->depth) {
                return subscriber_full(sself);
        }
        frame = (tshmpy_frame *)tshmpy_frame_type.tp_alloc(&tshmpy_frame_type, 0);
        if (frame == NULL) {
                return NULL;
        }
        frame->sub = (tshmpy_segment *)Py_NewRef((PyObject *)self);
        frame->map = (tshmpy_mapping *)Py_NewRef((PyObject *)map);
        rv = subscriber_take_wait(sself, map->sub, tshmpy_deadline(timeout_s), &frame->f);
        if (rv < 0) {
                Py_DECREF(frame);
                return tshmpy_stream_wait_error(self, rv, "no frame was published", timeout_s);
        }
        frame->held = true;
        return (PyObject *)frame;
}

static PyObject *
subscriber_get_held(tshmpy_segment *self, void *closure)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        return PyLong_FromUnsignedLong(tshm_sub_held(map->sub));
}

static PyObject *
subscriber_reduce(tshmpy_segment *self, PyObject *unused)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);

        (void)unused;
        if (map == NULL) {
                return NULL;
        }
        return tshmpy_reduce_value("_sub_open",
                                   Py_BuildValue("(OOI)", map->client->socket, self->name,
                                                 (unsigned)((tshmpy_subscriber *)self)->depth));
}

static PyObject *
subscriber_get_depth(tshmpy_segment *self, void *closure)
{
        (void)closure;
        return PyLong_FromUnsignedLong(((tshmpy_subscriber *)self)->depth);
}

static PyObject *
subscriber_get_missed(tshmpy_segment *self, void *closure)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        return PyLong_FromUnsignedLongLong(tshm_sub_missed(map->sub));
}

static PyObject *
subscriber_repr(tshmpy_segment *self)
{
        return PyUnicode_FromFormat("<tshm.Subscriber of %R%s>", self->name,
                                    self->closed ? " closed" : "");
}

PyDoc_STRVAR(subscriber_take_doc,
             "take($self, /, timeout=None)\n--\n\n"
             "Take the next frame, waiting up to `timeout` seconds (None: forever; 0 only\n"
             "checks; then TimeoutError). Returns a tshm.Frame that holds it; use it as a\n"
             "context manager:\n\n"
             "    with sub.take(timeout=1.0) as a:  # a: read-only ndarray over the slot\n"
             "        use(a)\n\n"
             "Leaving the block releases the frame (under 'block' the producer may then\n"
             "reuse its slot). Frame.seq, .timestamp and .missed describe it. A subscriber\n"
             "holds up to its depth of frames at a time (sub_open(depth=); 1 by default):\n"
             "a take beyond that raises InvalidError. Raises NotFoundError when the stream\n"
             "was unlinked and every frame was taken, ConnectError when the daemon dropped\n"
             "the subscription. Releases the GIL while it waits (another thread may\n"
             "release frames meanwhile); Ctrl-C interrupts it.");

static PyMethodDef subscriber_methods[] = {
    {"take", TSHMPY_METH(subscriber_take), METH_VARARGS | METH_KEYWORDS, subscriber_take_doc},
    {"wait", TSHMPY_METH(tshmpy_publish_wait), METH_VARARGS | METH_KEYWORDS,
     tshmpy_stream_wait_doc},
    {"wait_async", TSHMPY_METH(tshmpy_waitany_wait_async), METH_VARARGS | METH_KEYWORDS,
     tshmpy_waitany_wait_async_doc},
    {"take_async", TSHMPY_METH(tshmpy_waitany_take_async), METH_VARARGS | METH_KEYWORDS,
     tshmpy_waitany_take_async_doc},
    {"close", TSHMPY_METH(tshmpy_segment_close), METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Leave the stream: the subscription ends (a 'block' producer no longer waits for\n"
     "it) once no Frame or view of a frame is left. Idempotent."},
    {"__reduce__", TSHMPY_METH(subscriber_reduce), METH_NOARGS,
     "__reduce__($self, /)\n--\n\n"
     "Pickle by socket, name and depth: the receiver gets a new subscription of its\n"
     "own, as deep, whose first frame is the next one published after it joins."},
    {"__enter__", tshmpy_segment_enter, METH_NOARGS, "Return the subscriber."},
    {"__exit__", TSHMPY_METH(tshmpy_segment_exit), METH_VARARGS, "Close the subscriber."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef subscriber_getset[] = {
    TSHMPY_STREAM_DESC_GETSET,
    {"missed", (getter)subscriber_get_missed, NULL,
     "Frames this subscriber skipped so far because the producer overwrote them\n"
     "('overwrite' policy); 0 under 'block'.",
     NULL},
    {"held", (getter)subscriber_get_held, NULL,
     "Frames this subscriber holds now (taken, not released).", NULL},
    {"depth", (getter)subscriber_get_depth, NULL,
     "Frames this subscriber may hold at once (sub_open(depth=)).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject tshmpy_subscriber_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Subscriber",
    .tp_basicsize = sizeof(tshmpy_subscriber),
    .tp_dealloc = (destructor)tshmpy_segment_dealloc,
    .tp_repr = (reprfunc)subscriber_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "A subscription to a stream (Client.sub_open()): it takes every frame published\n"
              "after it joined (or from the newest, start='newest'), in order, zero-copy,\n"
              "holding up to .depth of them at once (.held now).\n\n"
              "    with client.sub_open('cam') as sub:\n"
              "        while True:\n"
              "            with sub.take() as a:\n"
              "                process(a)\n\n"
              "The daemon drops a subscription whose process dies, so a subscriber killed\n"
              "with -9 never holds a 'block' producer back. Use it as a context manager to\n"
              "leave the stream.",
    .tp_methods = subscriber_methods,
    .tp_getset = subscriber_getset,
};

/* tshm.Frame */

static PyObject *
frame_array(tshmpy_frame *self)
{
        if (self->array == NULL) {
                self->array = tshmpy_numpy_view(self->sub, self->map, (void *)self->f.data, false);
        }
        return self->array;
}

static int
frame_finish(tshmpy_frame *self)
{
        self->held = false;
        /* A fork child's copy of a frame must not release the parent's:
         * the cursor it would move is shared. */
        if (self->map->pid != getpid()) {
                return 0;
        }
        return tshm_sub_release_frame(self->map->sub, self->f.seq);
}

static PyObject *
frame_release_result(tshmpy_frame *self, int rv)
{
        if (rv == TSHM_ETORN) {
                return tshmpy_err_torn(self->sub->name, (int64_t)self->f.seq, NULL,
                                       "the producer reused this frame's slot while it was "
                                       "held ('overwrite' policy): what was read may mix two "
                                       "frames");
        }
        if (rv < 0) {
                return tshmpy_err_code(rv, NULL);
        }
        Py_RETURN_NONE;
}

static PyObject *
frame_release(tshmpy_frame *self, PyObject *unused)
{
        (void)unused;
        if (!self->held) {
                Py_RETURN_NONE;
        }
        if (tshmpy_mapping_check_fork(self->map, "frame of a subscriber", self->sub->name) < 0) {
                return NULL;
        }
        return frame_release_result(self, frame_finish(self));
}

static PyObject *
frame_enter(tshmpy_frame *self, PyObject *unused)
{
        PyObject *arr;

        (void)unused;
        if (!self->held) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "frame %llu of %R was released already",
                                      (unsigned long long)self->f.seq, self->sub->name);
        }
        if ((arr = frame_array(self)) == NULL) {
                (void)frame_finish(self); /* no __exit__ follows */
                return NULL;
        }
        return Py_NewRef(arr);
}

static PyObject *
frame_exit(tshmpy_frame *self, PyObject *args)
{
        PyObject *type = Py_None, *value = Py_None, *tb = Py_None, *r;
        int rv;

        if (!PyArg_UnpackTuple(args, "__exit__", 0, 3, &type, &value, &tb)) {
                return NULL;
        }
        if (!self->held) {
                Py_RETURN_FALSE;
        }
        rv = frame_finish(self);
        if (type != Py_None) {
                Py_RETURN_FALSE; /* the exception is the news */
        }
        if ((r = frame_release_result(self, rv)) == NULL) {
                return NULL;
        }
        Py_DECREF(r);
        Py_RETURN_FALSE;
}

static PyObject *
frame_numpy(tshmpy_frame *self, PyObject *args, PyObject *kwds)
{
        return tshmpy_stream_slot_numpy(self->sub, self->map, (void *)self->f.data, args, kwds);
}

/* The subscriber's private copy-on-write mapping of its whole ring, made on
 * the first Frame.torch() and kept as the Subscriber's cow (dropped at
 * close; the tensors keep it): a frame's tensor views its slot there, so a
 * frame costs no mmap and no page fault (a mapping per frame cost about a
 * page fault per 4 KiB of the frame, every frame). NULL with no error set
 * where it cannot serve (hugetlbfs, whose private pages come from the huge
 * page pool: a mapping per frame then). */
static tshmpy_mapping *
frame_ring(tshmpy_frame *self)
{
        tshmpy_segment *sub = self->sub;
        tshmpy_mapping *ring;
        uint64_t stride;
        uint32_t slots;

        if (sub->cow != NULL) {
                return sub->cow;
        }
        /* Copy-on-write works on whole pages: slots that share a page would
         * share a written page's copy, and scrubbing one slot would drop a
         * neighbour's writes. So only a ring of whole-page slots, starting on
         * a page. */
        if (tshm__seg_ring(self->map->seg, &slots, &stride) != 0 || slots == 0 ||
            stride % (uint64_t)sysconf(_SC_PAGESIZE) != 0 ||
            (uintptr_t)self->map->data % (uintptr_t)sysconf(_SC_PAGESIZE) != 0) {
                return NULL;
        }
        ring = tshmpy_mapping_new_private(self->map, 0, (Py_ssize_t)(stride * slots));
        if (ring == NULL) {
                return NULL;
        }
        ring->frame = true;
        /* Mapped: it needs nothing of the subscription now, and a tensor
         * that outlives Subscriber.close() must not keep it joined. */
        Py_CLEAR(ring->parent);
        if ((ring->dirty = PyMem_Calloc(slots, 1)) == NULL) {
                Py_DECREF(ring);
                return (tshmpy_mapping *)PyErr_NoMemory();
        }
        /* Indexed so that tshm._reduce knows its tensors: they cross
         * torch.multiprocessing as copies of the bytes, leaving the
         * sender's tensor as it is (torch's reducer would move it into
         * torch's shared memory). */
        if (tshmpy_mapping_index(ring) < 0) {
                Py_DECREF(ring);
                return NULL;
        }
        /* Another thread may have made one while the GIL was out. */
        if (sub->cow == NULL && !sub->closed) {
                sub->cow = ring;
        } else {
                Py_DECREF(ring);
        }
        return sub->cow;
}

/* The slot is mapped read-only, and torch has no read-only tensor: the
 * tensor views a private copy-on-write mapping of the ring, so an in-place
 * op copies the page it writes and reaches no one else. Before a slot's
 * bytes are handed out again, the pages an earlier frame's tensor wrote
 * there are dropped (tshm__private_scrub: only those, found in pagemap), so
 * each frame's tensor starts as the frame. Like the ndarray views, the
 * tensor is the frame only while it is held: after release, pages not
 * written keep following the slot, which the producer may fill with a later
 * frame, and the next tensor over the same slot drops its writes. */
/* Point @self at its slot in the subscriber's ring mapping @ring, first
 * dropping what an earlier frame's tensor wrote there. 0 or -1 (raised). */
static int
frame_use_ring(tshmpy_frame *self, tshmpy_mapping *ring, Py_ssize_t off)
{
        uint64_t stride;
        uint32_t slots, k;
        int rv = 0;

        (void)tshm__seg_ring(self->map->seg, &slots, &stride);
        k = (uint32_t)((uint64_t)off / stride);
        if (ring->dirty[k]) {
                Py_BEGIN_ALLOW_THREADS rv =
                    tshm__private_scrub((uint8_t *)ring->data + off, (size_t)self->sub->nbytes);
                Py_END_ALLOW_THREADS
        }
        if (rv < 0) {
                (void)tshmpy_err_code(rv, "dropping an earlier frame's writes from the slot's "
                                          "private pages");
                return -1;
        }
        ring->dirty[k] = 1;
        self->cow = (tshmpy_mapping *)Py_NewRef((PyObject *)ring);
        self->cow_data = (uint8_t *)ring->data + off;
        return 0;
}

/* Give @self a private mapping of its slot alone (where the ring's cannot
 * serve). 0 or -1 (raised). */
static int
frame_use_own(tshmpy_frame *self, Py_ssize_t off)
{
        tshmpy_mapping *cow = tshmpy_mapping_new_private(self->map, off, self->sub->nbytes);

        if (cow == NULL) {
                return -1;
        }
        cow->frame = true;
        Py_CLEAR(cow->parent); /* as in frame_ring */
        if (tshmpy_mapping_index(cow) < 0) {
                Py_DECREF(cow);
                return -1;
        }
        /* Another thread may have made one while the GIL was out. */
        if (self->cow == NULL) {
                self->cow = cow;
                self->cow_data = cow->data;
        } else {
                Py_DECREF(cow);
        }
        return 0;
}

static PyObject *
frame_torch(tshmpy_frame *self, PyObject *unused)
{
        Py_ssize_t off = (Py_ssize_t)((const uint8_t *)self->f.data - (uint8_t *)self->map->data);

        (void)unused;
        if (self->cow == NULL) {
                tshmpy_mapping *ring = frame_ring(self);
                int rv;

                if (ring == NULL && PyErr_Occurred()) {
                        return NULL;
                }
                rv = ring != NULL ? frame_use_ring(self, ring, off) : frame_use_own(self, off);
                if (rv < 0) {
                        return NULL;
                }
        }
        return tshmpy_dlpack_torch_view(self->sub, self->cow, self->cow_data);
}

static PyObject *
frame_reduce(tshmpy_frame *self, PyObject *unused)
{
        (void)unused;
        return tshmpy_err_fmt(PyExc_TypeError, 0,
                              "cannot pickle a tshm.Frame (frame %llu of %R): it is a hold on a "
                              "slot of this process's subscription. Pickle the Subscriber (the "
                              "receiver subscribes anew), or send a copy (torch.tensor(a))",
                              (unsigned long long)self->f.seq, self->sub->name);
}

static PyObject *
frame_get_array(tshmpy_frame *self, void *closure)
{
        PyObject *arr;

        (void)closure;
        arr = frame_array(self);
        return arr != NULL ? Py_NewRef(arr) : NULL;
}

static PyObject *
frame_get_seq(tshmpy_frame *self, void *closure)
{
        (void)closure;
        return PyLong_FromUnsignedLongLong(self->f.seq);
}

static PyObject *
frame_get_timestamp(tshmpy_frame *self, void *closure)
{
        (void)closure;
        return PyFloat_FromDouble((double)self->f.timestamp_ns / 1e9);
}

static PyObject *
frame_get_timestamp_ns(tshmpy_frame *self, void *closure)
{
        (void)closure;
        return PyLong_FromUnsignedLongLong(self->f.timestamp_ns);
}

static PyObject *
frame_get_missed(tshmpy_frame *self, void *closure)
{
        (void)closure;
        return PyLong_FromUnsignedLongLong(self->f.missed);
}

static PyObject *
frame_get_held(tshmpy_frame *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->held);
}

static PyObject *
frame_repr(tshmpy_frame *self)
{
        return PyUnicode_FromFormat("<tshm.Frame %llu of %R%s>", (unsigned long long)self->f.seq,
                                    self->sub->name, self->held ? " held" : "");
}

static void
frame_dealloc(tshmpy_frame *self)
{
        if (self->held) {
                (void)frame_finish(self);
        }
        Py_XDECREF(self->array);
        Py_XDECREF(self->cow);
        Py_XDECREF(self->map);
        Py_XDECREF(self->sub);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef frame_methods[] = {
    {"release", TSHMPY_METH(frame_release), METH_NOARGS,
     "release($self, /)\n--\n\n"
     "Release this frame (idempotent), whichever of the frames held it is. Raises\n"
     "TornError when, under the 'overwrite' policy, the producer reused its slot\n"
     "while it was held."},
    {"numpy", TSHMPY_METH(frame_numpy), METH_VARARGS | METH_KEYWORDS,
     "numpy($self, /, *, bfloat16_as_uint16=False)\n--\n\n"
     "The frame as a new read-only ndarray view (as Segment.numpy(), for bfloat16)."},
    {"torch", TSHMPY_METH(frame_torch), METH_NOARGS,
     "torch($self, /)\n--\n\n"
     "A tensor over the frame's slot, no copy, through a private copy-on-write\n"
     "mapping of that slot (torch has no read-only tensors): in-place ops work and\n"
     "stay in this process; a page once written no longer follows the slot. Like\n"
     "the ndarray views it is the frame only while held: after release the producer\n"
     "may reuse the slot, and pages not written show that. Copy what you keep\n"
     "(t.clone()). It crosses torch.multiprocessing queues as a copy."},
    {"__reduce__", TSHMPY_METH(frame_reduce), METH_NOARGS,
     "__reduce__($self, /)\n--\n\nRaises TypeError: a frame cannot be pickled."},
    {"__enter__", TSHMPY_METH(frame_enter), METH_NOARGS,
     "Return the frame as a read-only ndarray over its slot."},
    {"__exit__", TSHMPY_METH(frame_exit), METH_VARARGS,
     "Release the frame; TornError as release() unless an exception is on its way."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef frame_getset[] = {
    {"array", (getter)frame_get_array, NULL,
     "The frame as a read-only ndarray over its slot, no copy. Valid while held:\n"
     "after release the producer may overwrite the slot (copy what you keep).",
     NULL},
    {"seq", (getter)frame_get_seq, NULL, "The frame number: 1 for the first published.", NULL},
    {"timestamp", (getter)frame_get_timestamp, NULL,
     "When it was published: seconds since the Unix epoch (float).", NULL},
    {"timestamp_ns", (getter)frame_get_timestamp_ns, NULL,
     "When it was published: ns since the Unix epoch (int).", NULL},
    {"missed", (getter)frame_get_missed, NULL,
     "Frames skipped just before this one ('overwrite' policy).", NULL},
    {"held", (getter)frame_get_held, NULL, "True until released.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject tshmpy_frame_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Frame",
    .tp_basicsize = sizeof(tshmpy_frame),
    .tp_dealloc = (destructor)frame_dealloc,
    .tp_repr = (reprfunc)frame_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "One frame a subscriber holds (sub.take()). A context manager: __enter__ gives\n"
              "the frame as a read-only ndarray over its slot, __exit__ releases it;\n"
              "release() does it by hand, and a Frame dropped while held is released.\n"
              ".seq, .timestamp and .missed describe the frame.",
    .tp_methods = frame_methods,
    .tp_getset = frame_getset,
};
