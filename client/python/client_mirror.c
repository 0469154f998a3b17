/*
 * client_mirror.c - tshm.Client's mirror calls: mirror() keeps a copy of a
 * segment on another host's daemon in step with it, mirror_stop() ends
 * that, and mirrors() lists them, as dicts with the keys of 'tshm mirror
 * --list --json' (docs/remote.md).
 */
#include <string.h>

#include "internal.h"

const char tshmpy_client_mirror_doc[] =
    PyDoc_STR("mirror($self, /, name, peer, remote=None)\n--\n\n"
              "Keep `remote` (None: `name`) on the daemon at `peer` (\"HOST:PORT\", an IPv6\n"
              "address in brackets) in step with the segment `name`. Needs read access to\n"
              "it. The mirror lives in the daemon until mirror_stop(); the link comes up in\n"
              "the background (see mirrors()). InvalidError for a bad peer or name,\n"
              "NotFoundError, PermissionDeniedError, ExistsError (mirrored already), and\n"
              "tshm.Error with .code TSHM_ENOTSUP (-4010) when the daemon has no\n"
              "--peer-secret: mirrors are off.");

const char tshmpy_client_mirror_stop_doc[] =
    PyDoc_STR("mirror_stop($self, /, name)\n--\n\n"
              "Stop mirroring `name` (its copy on the other host stays, marked stale).\n"
              "Needs read access to it, or root or the daemon's user. NotFoundError when\n"
              "it is not mirrored; tshm.Error (.code -4010) when mirrors are off.");

const char tshmpy_client_mirrors_doc[] =
    PyDoc_STR("mirrors($self, /)\n--\n\n"
              "The daemon's mirrors both ways, of segments the caller may read: a list of\n"
              "dicts with the keys of 'tshm mirror --list --json': name, remote, peer,\n"
              "direction (\"out\" or \"in\"), stream (bool), state (\"connecting\", \"live\",\n"
              "\"stale\" or \"failed\"), sent, dropped, lag_ns, seq, reconnects, error.\n"
              "Empty when mirrors are off.");

PyObject *
tshmpy_client_mirror(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        static const char *const kwlist[] = {"name", "peer", "remote", NULL};
        PyObject *name_obj, *remote_obj = Py_None;
        const char *name, *peer, *remote = NULL;
        int rv;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "Os|O:mirror", TSHMPY_KW(kwlist), &name_obj,
                                         &peer, &remote_obj) ||
            (name = tshmpy_args_name(name_obj)) == NULL ||
            (remote_obj != Py_None && (remote = tshmpy_args_name(remote_obj)) == NULL)) {
                return NULL;
        }
        /* Said here, with the peer in the message: libtshm refuses it
         * without a word from the daemon. */
        if (strlen(peer) == 0 || strlen(peer) > TSHM_PEER_MAX || strchr(peer, ' ') != NULL) {
                return tshmpy_err_fmt(tshmpy_InvalidError, TSHM_EINVAL,
                                      "peer %R: HOST:PORT, 1 to %d bytes of printable ASCII "
                                      "without spaces",
                                      PyTuple_Size(args) > 1 ? PyTuple_GET_ITEM(args, 1) : Py_None,
                                      TSHM_PEER_MAX);
        }
        if (tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_mirror_start(self->c, name, peer, remote);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        Py_RETURN_NONE;
}

PyObject *
tshmpy_client_mirror_stop(tshmpy_client *self, PyObject *args, PyObject *kwds)
{
        const char *name;
        int rv;

        if ((name = tshmpy_client_begin_named(self, args, kwds, "O:mirror_stop")) == NULL) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_mirror_stop(self->c, name);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        Py_RETURN_NONE;
}

static PyObject *
mirror_dict(const tshm_mirror_info *m)
{
        const char *state = tshm_mirror_state_name(m->state);

        return Py_BuildValue(
            "{s:s,s:s,s:s,s:s,s:O,s:s,s:K,s:K,s:K,s:K,s:K,s:s}", "name", m->name, "remote",
            m->remote, "peer", m->peer, "direction", m->incoming ? "in" : "out", "stream",
            m->stream ? Py_True : Py_False, "state", state != NULL ? state : "unknown", "sent",
            (unsigned long long)m->sent, "dropped", (unsigned long long)m->dropped, "lag_ns",
            (unsigned long long)m->lag_ns, "seq", (unsigned long long)m->seq, "reconnects",
            (unsigned long long)m->reconnects, "error", m->error);
}

PyObject *
tshmpy_client_mirrors(tshmpy_client *self, PyObject *unused)
{
        tshm_mirror_info *m = NULL;
        PyObject *list = NULL, *d;
        size_t n = 0, i;
        int rv;

        (void)unused;
        if (tshmpy_client_begin(self) < 0) {
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS rv = tshm_mirror_list(self->c, &m, &n);
        Py_END_ALLOW_THREADS if (rv < 0)
        {
                return tshmpy_client_fail(self, rv);
        }
        tshmpy_client_unlock(self);
        if ((list = PyList_New((Py_ssize_t)n)) == NULL) {
                goto out;
        }
        for (i = 0; i < n; i++) {
                if ((d = mirror_dict(&m[i])) == NULL) {
                        Py_CLEAR(list);
                        goto out;
                }
                PyList_SET_ITEM(list, (Py_ssize_t)i, d);
        }
out:
        tshm_mirror_list_free(m);
        return list;
}
