/*
 * waitany.c - tshm.wait_any(): wait on several segments, streams and
 * subscribers at once (libtshm's tshm_wait_any()), and the asyncio methods
 * (wait_async, take_async), which are written in Python (tshm/_aio.py) and
 * reached from the C types through the delegates here.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* libtshm's hooks for tests (client/internal.h), linked in statically. */
void tshm__wait_any_force_fallback(bool on);
bool tshm__wait_any_fallback(void);

/* What one call waits on: the items libtshm marks, and a reference to the
 * mapping of each source, so that a close() on another thread while the
 * GIL is released does not unmap what the wait reads. */
struct waitany_call {
        tshm_waitable items[TSHM_WAIT_ANY_MAX];
        tshmpy_mapping *maps[TSHM_WAIT_ANY_MAX];
        size_t n;
};

static bool
waitany_is_source(PyObject *obj)
{
        return PyObject_TypeCheck(obj, &tshmpy_segment_type) ||
               PyObject_TypeCheck(obj, &tshmpy_stream_type) ||
               PyObject_TypeCheck(obj, &tshmpy_subscriber_type);
}

static PyObject *
waitany_bad_source(PyObject *src)
{
        return PyErr_Format(PyExc_TypeError,
                            "wait_any() takes Subscribers, Segments, Streams and "
                            "(segment_or_stream, after_seq) tuples, not %.100s",
                            Py_TYPE(src)->tp_name);
}

/* Fill item @i of @call from @src; 0, or -1 with an exception raised. */
static int
waitany_item(struct waitany_call *call, size_t i, PyObject *src)
{
        tshm_waitable *it = &call->items[i];
        PyObject *obj = src;
        tshmpy_mapping *map;
        bool sub, has_after = false;
        uint64_t after = 0;

        if (PyTuple_Check(src)) {
                if (PyTuple_GET_SIZE(src) != 2) {
                        (void)waitany_bad_source(src);
                        return -1;
                }
                obj = PyTuple_GET_ITEM(src, 0);
                if (tshmpy_seq_arg(PyTuple_GET_ITEM(src, 1), "after_seq", &after) < 0) {
                        return -1;
                }
                has_after = true;
        }
        if (!waitany_is_source(obj)) {
                (void)waitany_bad_source(obj);
                return -1;
        }
        if ((map = tshmpy_segment_mapping((tshmpy_segment *)obj)) == NULL) {
                return -1;
        }
        /* A bare Subscriber waits for its next frame; a Subscriber in a
         * tuple, like a Segment or Stream, for the stream's counter. */
        sub = !has_after && PyObject_TypeCheck(obj, &tshmpy_subscriber_type);
        memset(it, 0, sizeof(*it));
        if (sub) {
                it->sub = map->sub;
        } else {
                it->seg = map->seg;
                /* A bare Segment or Stream: newer than what it holds now. */
                it->after_seq = has_after ? after : tshm_seg_seq(map->seg);
        }
        call->maps[i] = (tshmpy_mapping *)Py_NewRef((PyObject *)map);
        call->n = i + 1;
        return 0;
}

static int64_t
waitany_fn(void *arg, int timeout_ms)
{
        struct waitany_call *call = arg;

        return tshm_wait_any(call->items, call->n, timeout_ms);
}

static PyObject *
waitany_result(struct waitany_call *call, PyObject *seq)
{
        PyObject *out = PyList_New(0);
        size_t i;

        if (out == NULL) {
                return NULL;
        }
        for (i = 0; i < call->n; i++) {
                if (call->items[i].ready &&
                    PyList_Append(out, PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i)) < 0) {
                        Py_DECREF(out);
                        return NULL;
                }
        }
        return out;
}

PyObject *
tshmpy_waitany(PyObject *module, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"sources", "timeout", NULL};
        PyObject *sources, *timeout = Py_None, *seq, *res = NULL;
        struct waitany_call *call = NULL;
        double timeout_s;
        Py_ssize_t n, i;
        int64_t rv;

        (void)module;
        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:wait_any", TSHMPY_KW(kwlist), &sources,
                                         &timeout) ||
            tshmpy_timeout_arg(timeout, &timeout_s) < 0) {
                return NULL;
        }
        if ((seq = PySequence_Fast(sources, "wait_any() takes an iterable of sources")) == NULL) {
                return NULL;
        }
        n = PySequence_Fast_GET_SIZE(seq);
        if (n == 0 || n > TSHM_WAIT_ANY_MAX) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "wait_any() takes 1 to %d sources, not %zd", TSHM_WAIT_ANY_MAX,
                                     n);
                goto out;
        }
        if ((call = PyMem_Calloc(1, sizeof(*call))) == NULL) {
                PyErr_NoMemory();
                goto out;
        }
        for (i = 0; i < n; i++) {
                if (waitany_item(call, (size_t)i, PySequence_Fast_GET_ITEM(seq, i)) < 0) {
                        goto out;
                }
        }
        rv = tshmpy_wait_sliced(waitany_fn, call, tshmpy_deadline(timeout_s));
        if (rv > 0) {
                res = waitany_result(call, seq);
        } else if (rv == TSHM_ETIMEDOUT) {
                char secs[32];

                (void)snprintf(secs, sizeof(secs), "%g", timeout_s);
                (void)tshmpy_err_fmt(tshmpy_TimeoutError, TSHM_ETIMEDOUT,
                                     "wait_any: none of %zd sources was ready within %s s", n,
                                     secs);
        } else if (rv == TSHM_EINVAL) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "wait_any: a subscriber holds its depth of frames "
                                     "(sub_open(depth=...), 1 by default): release one before "
                                     "waiting for the next");
        } else if (rv != TSHMPY_RAISED) {
                (void)tshmpy_err_code((int)rv, NULL);
        }
out:
        if (call != NULL) {
                for (size_t k = 0; k < call->n; k++) {
                        Py_DECREF(call->maps[k]);
                }
                PyMem_Free(call);
        }
        Py_DECREF(seq);
        return res;
}

/* Call tshm._aio.@name(self, *args, **kwds): the coroutine it returns. */
static PyObject *
waitany_delegate(const char *name, PyObject *self, PyObject *args, PyObject *kwds)
{
        PyObject *mod, *fn, *full = NULL, *res = NULL;
        Py_ssize_t n = PyTuple_GET_SIZE(args), i;

        if ((mod = PyImport_ImportModule("tshm._aio")) == NULL) {
                return NULL;
        }
        fn = PyObject_GetAttrString(mod, name);
        Py_DECREF(mod);
        if (fn == NULL || (full = PyTuple_New(n + 1)) == NULL) {
                goto out;
        }
        PyTuple_SET_ITEM(full, 0, Py_NewRef(self));
        for (i = 0; i < n; i++) {
                PyTuple_SET_ITEM(full, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
        }
        res = PyObject_Call(fn, full, kwds);
out:
        Py_XDECREF(full);
        Py_XDECREF(fn);
        return res;
}

PyObject *
tshmpy_waitany_wait_async(PyObject *self, PyObject *args, PyObject *kwds)
{
        return waitany_delegate("wait_async", self, args, kwds);
}

PyObject *
tshmpy_waitany_take_async(PyObject *self, PyObject *args, PyObject *kwds)
{
        return waitany_delegate("take_async", self, args, kwds);
}

PyObject *
tshmpy_waitany_force_fallback(PyObject *module, PyObject *arg)
{
        int on = PyObject_IsTrue(arg);
        bool was;

        (void)module;
        if (on < 0) {
                return NULL;
        }
        was = tshm__wait_any_fallback();
        tshm__wait_any_force_fallback(on != 0);
        return PyBool_FromLong(was);
}

const char tshmpy_waitany_doc[] =
    PyDoc_STR("wait_any(sources, timeout=None)\n--\n\n"
              "Wait until at least one of `sources` is ready and return the ready ones: a\n"
              "list of the same objects, in the order given. A source is\n"
              "- a Subscriber: ready when take() would not wait (a frame is there, or take()\n"
              "  would raise: NotFoundError once the stream was unlinked and every frame\n"
              "  taken, ConnectError when the daemon dropped the subscription);\n"
              "- a (segment_or_stream, after_seq) tuple: ready when wait(after_seq) would\n"
              "  not wait (a newer version, or the segment was unlinked); a Subscriber in\n"
              "  such a tuple stands for its stream's counter;\n"
              "- a bare Segment or Stream: as (it, it.seq) with its seq read at the call,\n"
              "  so ready on the next publish.\n"
              "Waits up to `timeout` seconds (None: forever; 0 only checks), then raises\n"
              "TimeoutError, as Segment.wait() does. At most 128 sources. Make the call a\n"
              "source stands for (take(timeout=0); wait(after_seq, timeout=1): a write\n"
              "begun since makes wait() wait for its end) to get what it has.\n"
              "A Subscriber holding its depth of frames raises InvalidError. Sleeps on every\n"
              "source at once (futex_waitv); releases the GIL while it waits; Ctrl-C\n"
              "interrupts it. A Subscriber that another thread takes from or releases\n"
              "meanwhile may be reported ready when it is not (or the reverse): wait on a\n"
              "subscriber from the thread that takes from it.");

const char tshmpy_waitany_wait_async_doc[] =
    PyDoc_STR("wait_async($self, /, after_seq, timeout=None)\n--\n\n"
              "The coroutine of wait(): `seq = await x.wait_async(seq)` waits for a version\n"
              "newer than after_seq without blocking the event loop (a thread waits for it,\n"
              "and wait(after_seq, 0) runs on the loop). Raises what wait() raises;\n"
              "cancelling the awaiting task ends the wait at once.");

const char tshmpy_waitany_take_async_doc[] =
    PyDoc_STR("take_async($self, /, timeout=None)\n--\n\n"
              "The coroutine of take(): `frame = await sub.take_async()` waits for the next\n"
              "frame without blocking the event loop (a thread waits until one is there,\n"
              "then take(timeout=0) runs on the loop). Raises what take() raises. A task\n"
              "cancelled while it awaits has taken nothing: the frame stays the next one.");
