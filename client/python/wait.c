/*
 * wait.c - blocking libtshm calls made interruptible: timeouts given in
 * seconds, and waits cut into slices between which signals are checked.
 *
 * The sync and stream calls of libtshm (tshm_wait, tshm_write_begin,
 * tshm_read_begin, tshm_stream_loan, tshm_sub_take) sleep on a futex and do
 * not return for a signal, so a Python thread blocked in one forever would
 * ignore Ctrl-C. Each is called with the GIL released for at most
 * WAIT_SLICE_NS at a time, and PyErr_CheckSignals() runs between slices. A
 * slice costs nothing in latency: a publish wakes the futex at once; the
 * slice only bounds how long a sleep lasts before signals are looked at.
 */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "internal.h"

#define WAIT_SLICE_NS (100ull * 1000 * 1000)

uint64_t
tshmpy_mono_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
tshmpy_timeout_arg(PyObject *obj, double *ret_s)
{
        double s;

        if (obj == NULL || obj == Py_None) {
                *ret_s = -1.0;
                return 0;
        }
        s = PyFloat_AsDouble(obj);
        if (s == -1.0 && PyErr_Occurred()) {
                if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                        PyErr_Clear();
                        PyErr_Format(PyExc_TypeError,
                                     "timeout must be a number of seconds or None, not %.100s",
                                     Py_TYPE(obj)->tp_name);
                }
                return -1;
        }
        if (isnan(s) || s < 0) {
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "timeout must be >= 0 seconds or None (forever), not %R", obj);
                return -1;
        }
        *ret_s = isinf(s) ? -1.0 : s;
        return 0;
}

uint64_t
tshmpy_deadline(double timeout_s)
{
        double ns;

        if (timeout_s < 0) {
                return UINT64_MAX;
        }
        ns = timeout_s * 1e9;
        /* A timeout of centuries is forever. */
        if (ns >= (double)(UINT64_MAX / 2)) {
                return UINT64_MAX;
        }
        return tshmpy_mono_ns() + (uint64_t)ns;
}

/* The timeout in ms for the next slice before @deadline: 0 once it passed
 * (the call then only checks), rounded up so that a slice never ends short
 * of the deadline. */
static int
wait_slice_ms(uint64_t deadline)
{
        uint64_t now = tshmpy_mono_ns(), left;

        if (deadline != UINT64_MAX && now >= deadline) {
                return 0;
        }
        left = deadline == UINT64_MAX ? WAIT_SLICE_NS : deadline - now;
        if (left > WAIT_SLICE_NS) {
                left = WAIT_SLICE_NS;
        }
        return (int)((left + 999999u) / 1000000u);
}

int64_t
tshmpy_wait_sliced(tshmpy_wait_fn fn, void *arg, uint64_t deadline)
{
        int64_t rv;

        for (;;) {
                int ms = wait_slice_ms(deadline);

                Py_BEGIN_ALLOW_THREADS rv = fn(arg, ms);
                Py_END_ALLOW_THREADS if (rv != TSHM_ETIMEDOUT)
                {
                        return rv;
                }
                if (ms == 0 || (deadline != UINT64_MAX && tshmpy_mono_ns() >= deadline)) {
                        return TSHM_ETIMEDOUT;
                }
                if (PyErr_CheckSignals() < 0) {
                        return TSHMPY_RAISED;
                }
        }
}

PyObject *
tshmpy_err_timeout(PyObject *name, const char *what, double timeout_s)
{
        char secs[32];

        (void)snprintf(secs, sizeof(secs), "%g", timeout_s);
        return tshmpy_err_fmt(tshmpy_TimeoutError, TSHM_ETIMEDOUT, "segment %R: %s within %s s",
                              name, what, secs);
}

int
tshmpy_seq_arg(PyObject *obj, const char *what, uint64_t *ret_seq)
{
        unsigned long long v;
        PyObject *i = PyNumber_Index(obj);

        if (i == NULL) {
                return -1;
        }
        v = PyLong_AsUnsignedLongLong(i);
        Py_DECREF(i);
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
                PyErr_Clear();
                (void)tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                     "%s must be a sequence number (an int >= 0), not %R", what,
                                     obj);
                return -1;
        }
        *ret_seq = v;
        return 0;
}
