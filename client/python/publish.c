/*
 * publish.c - publish and wait on a Segment: seg.write() (tshm.Write),
 * seg.wait(), seg.snapshot(), and the header's publish time and spin.
 *
 * The protocol is libtshm's seqlock (tshm.h, "Publish and wait"). What this
 * file adds is Python's side of it:
 * - Every blocking call holds a reference to the mapping while the GIL is
 *   released, so a seg.close() on another thread cannot unmap the header
 *   under it; a Write holds one from __enter__ to __exit__ for the same
 *   reason, and its dealloc aborts a write left open.
 * - A tshm_seg may have one write in progress. mapping->writing, set under
 *   the GIL before tshm_write_begin() is entered, makes a second write on the
 *   same handle (nested, or from another thread) a clear error rather than a
 *   race on libtshm's own flag.
 * - Waits are sliced (wait.c) so Ctrl-C interrupts them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

typedef struct publish_write {
        PyObject_HEAD tshmpy_segment *segment; /* strong: its name, and its mapping at enter */
        tshmpy_mapping *map;                   /* strong while a write is in progress */
        double timeout_s;                      /* for the writer lock; < 0: forever */
        int64_t seq;                           /* the version published last, or -1 */
} publish_write;

static PyObject *
publish_unlinked(tshmpy_segment *self)
{
        return tshmpy_err_fmt(tshmpy_NotFoundError, TSHM_ENOENT, "segment %R was unlinked",
                              self->name);
}

/* The mapping of @self with a new reference, for a call that releases the
 * GIL; NULL with ClosedError raised. */
static tshmpy_mapping *
publish_hold(tshmpy_segment *self)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);

        Py_XINCREF(map);
        return map;
}

/* seg.write() */

static int64_t
publish_lock_fn(void *arg, int timeout_ms)
{
        return tshm_write_begin(arg, timeout_ms);
}

PyObject *
tshmpy_publish_write(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"timeout", NULL};
        PyObject *timeout = Py_None;
        publish_write *w;
        double timeout_s;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:write", TSHMPY_KW(kwlist), &timeout) ||
            tshmpy_timeout_arg(timeout, &timeout_s) < 0 || tshmpy_segment_mapping(self) == NULL) {
                return NULL;
        }
        if (Py_TYPE(self) != &tshmpy_segment_type) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "%R is a stream: use loan()", self->name);
        }
        if (!self->writable) {
                return tshmpy_err_fmt(tshmpy_PermissionDeniedError, TSHM_EACCES,
                                      "segment %R is open read-only: open it with writable=True "
                                      "to write",
                                      self->name);
        }
        w = (publish_write *)tshmpy_write_type.tp_alloc(&tshmpy_write_type, 0);
        if (w == NULL) {
                return NULL;
        }
        w->segment = (tshmpy_segment *)Py_NewRef((PyObject *)self);
        w->timeout_s = timeout_s;
        w->seq = -1;
        return (PyObject *)w;
}

static PyObject *
write_enter(publish_write *self, PyObject *unused)
{
        tshmpy_segment *seg = self->segment;
        tshmpy_mapping *map;
        int64_t rv;

        (void)unused;
        if (self->map != NULL) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "this write of segment %R is already in progress", seg->name);
        }
        if ((map = publish_hold(seg)) == NULL) {
                return NULL;
        }
        if (map->writing) {
                Py_DECREF(map);
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "segment %R is being written through this handle already "
                                      "(a nested write(), or another thread): one handle has one "
                                      "write at a time; give each writer thread its own "
                                      "client.open(name, writable=True)",
                                      seg->name);
        }
        map->writing = true;
        rv = tshmpy_wait_sliced(publish_lock_fn, map->seg, tshmpy_deadline(self->timeout_s));
        if (rv < 0) {
                map->writing = false;
                Py_DECREF(map);
                if (rv == TSHMPY_RAISED) {
                        return NULL;
                }
                if (rv == TSHM_ETIMEDOUT) {
                        return tshmpy_err_timeout(
                            seg->name, "another writer did not release the lock", self->timeout_s);
                }
                if (rv == TSHM_ENOENT) {
                        return publish_unlinked(seg);
                }
                return tshmpy_err_code((int)rv, NULL);
        }
        self->map = map;
        return Py_NewRef((PyObject *)self);
}

/* End the write in progress: publish it whole, or torn when @abort. */
static int64_t
write_finish(publish_write *self, bool abort)
{
        tshmpy_mapping *map = self->map;
        int64_t rv;

        rv = abort ? tshm_write_abort(map->seg) : tshm_write_end(map->seg);
        map->writing = false;
        self->map = NULL;
        Py_DECREF(map);
        return rv;
}

static PyObject *
write_exit(publish_write *self, PyObject *args)
{
        PyObject *type = Py_None, *value = Py_None, *tb = Py_None;
        int64_t rv;

        if (!PyArg_UnpackTuple(args, "__exit__", 0, 3, &type, &value, &tb)) {
                return NULL;
        }
        if (self->map == NULL) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "no write of segment %R is in progress", self->segment->name);
        }
        /* On an exception the data may be half-written: publish the
         * version as torn, and let the exception go on. */
        rv = write_finish(self, type != Py_None);
        if (rv == TSHM_ETORN) {
                char detail[160];

                (void)snprintf(detail, sizeof(detail),
                               "this write outlasted its lease (%d s) and another writer broke "
                               "the lock: it was published as torn",
                               TSHM_WRITE_LEASE_MS / 1000);
                return tshmpy_err_torn(self->segment->name, -1, NULL, detail);
        }
        if (rv < 0) {
                return tshmpy_err_code((int)rv, NULL);
        }
        self->seq = rv;
        Py_RETURN_FALSE;
}

static PyObject *
write_get_seq(publish_write *self, void *closure)
{
        (void)closure;
        if (self->seq < 0) {
                Py_RETURN_NONE;
        }
        return PyLong_FromLongLong(self->seq);
}

static PyObject *
write_get_active(publish_write *self, void *closure)
{
        (void)closure;
        return PyBool_FromLong(self->map != NULL);
}

static PyObject *
write_get_segment(publish_write *self, void *closure)
{
        (void)closure;
        return Py_NewRef((PyObject *)self->segment);
}

static void
write_dealloc(publish_write *self)
{
        /* A write entered and never exited (its context manager dropped):
         * give it up as torn, so that the lock is not held forever. */
        if (self->map != NULL) {
                (void)write_finish(self, true);
        }
        Py_XDECREF(self->segment);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
write_repr(publish_write *self)
{
        return PyUnicode_FromFormat("<tshm.Write of %R%s>", self->segment->name,
                                    self->map != NULL ? " in progress" : "");
}

static PyMethodDef write_methods[] = {
    {"__enter__", TSHMPY_METH(write_enter), METH_NOARGS,
     "Take the writer lock (waiting up to the timeout) and mark a write in progress.\n"
     "Returns this Write."},
    {"__exit__", TSHMPY_METH(write_exit), METH_VARARGS,
     "Publish the write (the next even seq) and wake every waiter; after an\n"
     "exception, publish it as torn instead and let the exception propagate."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef write_getset[] = {
    {"seq", (getter)write_get_seq, NULL,
     "The version this Write published last (torn or whole), or None.", NULL},
    {"active", (getter)write_get_active, NULL, "True between __enter__ and __exit__.", NULL},
    {"segment", (getter)write_get_segment, NULL, "The Segment written.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject tshmpy_write_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tshm.Write",
    .tp_basicsize = sizeof(publish_write),
    .tp_dealloc = (destructor)write_dealloc,
    .tp_repr = (reprfunc)write_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .tp_doc = "One update of a segment, from seg.write(timeout=None); a context manager.\n\n"
              "    with seg.write():\n"
              "        a[:] = frame          # a = seg.numpy(), made once\n\n"
              "__enter__ takes the segment's writer lock (waiting up to timeout seconds,\n"
              "TimeoutError after) and makes seg.seq odd; leaving the block publishes the\n"
              "next even seq and wakes every seg.wait(), in every process. An exception in\n"
              "the block publishes the version as torn instead (snapshot() raises TornError\n"
              "for it until the next complete write) and propagates. A writer killed inside\n"
              "the block is found dead by the daemon or the next writer, which breaks the\n"
              "lock and marks its version torn. .seq is the version published. A Write may\n"
              "be entered again after it exited; one Segment handle has one write at a time.",
    .tp_methods = write_methods,
    .tp_getset = write_getset,
};

/* seg.wait() */

struct publish_wait_arg {
        tshm_seg *seg;
        uint64_t after;
};

static int64_t
publish_wait_fn(void *arg, int timeout_ms)
{
        struct publish_wait_arg *a = arg;

        return tshm_wait(a->seg, a->after, timeout_ms);
}

PyObject *
tshmpy_publish_wait(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"after_seq", "timeout", NULL};
        PyObject *after_obj, *timeout = Py_None;
        struct publish_wait_arg a;
        tshmpy_mapping *map;
        double timeout_s;
        int64_t rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:wait", TSHMPY_KW(kwlist), &after_obj,
                                         &timeout) ||
            tshmpy_timeout_arg(timeout, &timeout_s) < 0) {
                return NULL;
        }
        if (tshmpy_seq_arg(after_obj, "after_seq", &a.after) < 0 ||
            (map = publish_hold(self)) == NULL) {
                return NULL;
        }
        a.seg = map->seg;
        rv = tshmpy_wait_sliced(publish_wait_fn, &a, tshmpy_deadline(timeout_s));
        Py_DECREF(map);
        if (rv >= 0) {
                return PyLong_FromLongLong(rv);
        }
        if (rv == TSHMPY_RAISED) {
                return NULL;
        }
        if (rv == TSHM_ETIMEDOUT) {
                char what[64];

                (void)snprintf(what, sizeof(what), "no version after %llu was published",
                               (unsigned long long)a.after);
                return tshmpy_err_timeout(self->name, what, timeout_s);
        }
        if (rv == TSHM_ENOENT) {
                return publish_unlinked(self);
        }
        return tshmpy_err_code((int)rv, NULL);
}

/* seg.snapshot() */

struct publish_snap_arg {
        tshm_seg *seg;
        void *dst;
        const void *src;
        size_t nbytes;
        int64_t seq;     /* the version copied, whole or torn */
        bool overlapped; /* a copy was overwritten while it was made */
};

static int64_t
publish_snap_fn(void *arg, int timeout_ms)
{
        struct publish_snap_arg *a = arg;
        uint64_t until = tshmpy_mono_ns() + (uint64_t)timeout_ms * 1000000u;
        int ms = timeout_ms;

        for (;;) {
                int64_t s = tshm_read_begin(a->seg, ms);
                int rv;

                if (s == TSHM_ENOENT) {
                        /* Unlinked while a write is in progress: libtshm's
                         * wait gives up at once then, but the writer (or
                         * the lock's breaker) still publishes. Poll. */
                        struct timespec ts = {0, 1000000};

                        (void)nanosleep(&ts, NULL);
                } else if (s < 0) {
                        return s;
                } else {
                        memcpy(a->dst, a->src, a->nbytes);
                        rv = tshm_read_retry(a->seg, (uint64_t)s);
                        if (rv == 0 || rv == TSHM_ETORN) {
                                a->seq = s;
                                return rv == 0 ? s : TSHM_ETORN;
                        }
                        if (rv < 0) {
                                return rv;
                        }
                        a->overlapped = true;
                }
                {
                        uint64_t now = tshmpy_mono_ns();

                        if (now >= until) {
                                return TSHM_ETIMEDOUT;
                        }
                        ms = (int)((until - now + 999999u) / 1000000u);
                }
        }
}

PyObject *
tshmpy_publish_snapshot(tshmpy_segment *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"timeout", "bfloat16_as_uint16", "return_seq", NULL};
        PyObject *timeout = NULL, *arr, *res = NULL;
        struct publish_snap_arg a;
        tshmpy_mapping *map;
        double timeout_s = 1.0;
        int bf16_as_u16 = 0, return_seq = 0;
        int64_t rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O$pp:snapshot", TSHMPY_KW(kwlist), &timeout,
                                         &bf16_as_u16, &return_seq) ||
            (timeout != NULL && tshmpy_timeout_arg(timeout, &timeout_s) < 0) ||
            (map = publish_hold(self)) == NULL) {
                return NULL;
        }
        memset(&a, 0, sizeof(a));
        if ((arr = tshmpy_numpy_empty(self, bf16_as_u16 != 0, &a.dst)) == NULL) {
                goto out;
        }
        a.seg = map->seg;
        a.src = map->data;
        a.nbytes = (size_t)self->nbytes;
        a.seq = -1;
        rv = tshmpy_wait_sliced(publish_snap_fn, &a, tshmpy_deadline(timeout_s));
        if (rv >= 0) {
                res = return_seq ? Py_BuildValue("(OL)", arr, (long long)rv) : Py_NewRef(arr);
        } else if (rv == TSHMPY_RAISED) {
                res = NULL;
        } else if (rv == TSHM_ETORN && a.seq < 0) {
                (void)tshmpy_err_torn(self->name, -1, NULL,
                                      "the version counter holds a value no version can have "
                                      "(a writer corrupted it); nothing was copied");
        } else if (rv == TSHM_ETORN) {
                (void)tshmpy_err_torn(self->name, a.seq, arr,
                                      "a writer died or gave up (an exception in seg.write()) in "
                                      "the middle of this version; .array holds the copy, and "
                                      "the next complete write clears it");
        } else if (rv == TSHM_ETIMEDOUT) {
                (void)tshmpy_err_timeout(self->name,
                                         a.overlapped ? "writers kept overwriting the data while "
                                                        "it was copied: no whole version was "
                                                        "copied"
                                                      : "a writer did not finish",
                                         timeout_s);
        } else {
                (void)tshmpy_err_code((int)rv, NULL);
        }
        Py_DECREF(arr);
out:
        Py_DECREF(map);
        return res;
}

/* Attributes */

PyObject *
tshmpy_publish_get_time(tshmpy_segment *self, void *closure)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);
        uint64_t ns;

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        ns = tshm_seg_publish_ns(map->seg);
        if (ns == 0) {
                Py_RETURN_NONE;
        }
        return PyFloat_FromDouble((double)ns / 1e9);
}

PyObject *
tshmpy_publish_get_spin(tshmpy_segment *self, void *closure)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);

        (void)closure;
        if (map == NULL) {
                return NULL;
        }
        if (map->spin_us < 0) {
                Py_RETURN_NONE;
        }
        return PyFloat_FromDouble(map->spin_us);
}

int
tshmpy_publish_set_spin(tshmpy_segment *self, PyObject *value, void *closure)
{
        tshmpy_mapping *map = tshmpy_segment_mapping(self);
        double us;

        (void)closure;
        if (map == NULL) {
                return -1;
        }
        if (value == NULL) {
                PyErr_SetString(PyExc_TypeError, "spin_us cannot be deleted");
                return -1;
        }
        us = PyFloat_AsDouble(value);
        if (us == -1.0 && PyErr_Occurred()) {
                return -1;
        }
        /* An hour of spinning is nonsense already; the bound keeps the
         * conversion to ns defined. */
        if (isnan(us) || us < 0 || us > 3.6e9) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "spin_us must be between 0 and 3.6e9 microseconds, not %R",
                                     value);
                return -1;
        }
        tshm_seg_set_spin(map->seg, (uint64_t)llround(us * 1000.0));
        map->spin_us = us;
        return 0;
}
