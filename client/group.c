/*
 * group.c - tensor groups: many named tensors in one segment (tshm.h,
 * "Tensor groups"; the table of contents is proto/group.c's).
 *
 * A tshm_group is a segment handle plus a private, validated copy of the
 * group's table of contents: every accessor reads the copy, never the
 * mapping, which anyone with write access may rewrite at any time.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include "group.h"

struct tshm_group {
        tshm_seg *seg;
        void *toc;       /* the private copy, validated */
        uint32_t *order; /* entries sorted by name */
        char *names;     /* every name, NUL-terminated, in entry order */
        char **name_at;  /* entry i's name in @names */
        uint32_t count;
        bool published;
};

/* Build @g's private state from the table of contents @toc (taken over:
 * freed on failure too) of @len bytes, for a data area of @data_size bytes.
 * Returns 0 or TSHM_EBADHDR (the reason in c's errmsg) / TSHM_ENOMEM. */
static int
group_adopt_toc(tshm_client *c, tshm_group *g, void *toc, uint64_t len, uint64_t data_size)
{
        const char *why = "";
        uint64_t names_len = 0;
        uint32_t i, count = tshm__toc_head(toc)->count;
        char *p;
        int rv;

        g->toc = toc;
        g->order = tshm__malloc(((size_t)count + 1) * sizeof(*g->order));
        if (g->order == NULL) {
                return TSHM_ENOMEM;
        }
        if ((rv = tshm__toc_validate(toc, len, data_size, g->order, &why)) < 0) {
                tshm__client_errmsg(c, "'%s': %s", tshm_seg_name(g->seg), why);
                return rv;
        }
        for (i = 0; i < count; i++) {
                names_len += tshm__toc_entry_at(toc, i)->name_len + 1u;
        }
        g->names = tshm__malloc(names_len + 1);
        g->name_at = tshm__malloc(((size_t)count + 1) * sizeof(*g->name_at));
        if (g->names == NULL || g->name_at == NULL) {
                return TSHM_ENOMEM;
        }
        p = g->names;
        for (i = 0; i < count; i++) {
                const struct tshm__toc_entry *e = tshm__toc_entry_at(toc, i);

                memcpy(p, tshm__toc_name(toc, e), e->name_len);
                p[e->name_len] = '\0';
                g->name_at[i] = p;
                p += e->name_len + 1;
        }
        g->count = count;
        return 0;
}

static void
group_free(tshm_group *g)
{
        if (g == NULL) {
                return;
        }
        tshm__free(g->toc);
        tshm__free(g->order);
        tshm__free(g->names);
        tshm__free(g->name_at);
        tshm__free(g);
}

/* Close @seg, keeping the detail of the failure already in c's errmsg: a
 * close makes a round trip, which clears it. */
static void
group_close_failed(tshm_client *c, tshm_seg *seg)
{
        char errmsg[sizeof(c->errmsg)];

        memcpy(errmsg, c->errmsg, sizeof(errmsg));
        (void)tshm_close(seg);
        memcpy(c->errmsg, errmsg, sizeof(errmsg));
}

/* The table of contents of @specs, written into a new buffer (returned in
 * *ret_toc) and laid out in *ret_lay. */
static int
group_build_toc(tshm_client *c, const tshm_tensor_spec *tensors, size_t count,
                const tshm_group_opts *opts, struct tshm__toc_layout *ret_lay, void **ret_toc)
{
        struct tshm__toc_spec *t;
        size_t i;
        void *toc = NULL;
        int rv;

        t = tshm__calloc(count + 1, sizeof(*t));
        if (t == NULL) {
                return TSHM_ENOMEM;
        }
        for (i = 0; i < count; i++) {
                if (tensors[i].name == NULL || (tensors[i].ndim > 0 && tensors[i].shape == NULL)) {
                        tshm__client_errmsg(c, "tensor %zu: no name or no shape", i);
                        rv = TSHM_EINVAL;
                        goto out;
                }
                t[i].name = tensors[i].name;
                t[i].name_len = strnlen(tensors[i].name, TSHM_GROUP_NAME_MAX + 1);
                t[i].dtype = tensors[i].dtype;
                t[i].ndim = tensors[i].ndim;
                t[i].shape = tensors[i].shape;
        }
        if ((rv = tshm__toc_layout(t, count, opts->metadata_len, ret_lay)) < 0) {
                tshm__client_errmsg(c, "%zu tensors, %zu bytes of metadata: %s", count,
                                    opts->metadata_len,
                                    rv == TSHM_EINVAL
                                        ? "a name empty or over TSHM_GROUP_NAME_MAX bytes, too "
                                          "many tensors or too much metadata"
                                        : "a bad dtype or shape");
                goto out;
        }
        if ((toc = tshm__malloc(ret_lay->toc_bytes)) == NULL) {
                rv = TSHM_ENOMEM;
                goto out;
        }
        tshm__toc_write(toc, ret_lay, t, count, opts->metadata, opts->metadata_len);
        *ret_toc = toc;
out:
        tshm__free(t);
        return rv;
}

int
tshm_group_create(tshm_client *c, const char *name, const tshm_tensor_spec *tensors, size_t count,
                  const tshm_group_opts *opts, tshm_group **ret_group)
{
        static const tshm_group_opts defaults;
        struct tshm__req req = {.op = TSHM_OP_CREATE,
                                .dtype = TSHM_DTYPE_UINT8,
                                .flags = TSHM_PROTO_CREATE_GROUP};
        struct tshm__toc_layout lay;
        tshm_group *g = NULL;
        void *toc = NULL;
        uint64_t shape[1];
        int rv;

        if (opts == NULL) {
                opts = &defaults;
        }
        if (c == NULL || ret_group == NULL || (count > 0 && tensors == NULL) ||
            (opts->metadata_len > 0 && opts->metadata == NULL) || opts->reserved[0] != 0 ||
            opts->reserved[1] != 0 || opts->reserved[2] != 0 || opts->reserved[3] != 0) {
                return TSHM_EINVAL;
        }
        if ((rv = group_build_toc(c, tensors, count, opts, &lay, &toc)) < 0) {
                return rv;
        }
        if ((g = tshm__calloc(1, sizeof(*g))) == NULL) {
                tshm__free(toc);
                return TSHM_ENOMEM;
        }
        shape[0] = lay.data_end;
        rv = tshm__client_create(c, &req, name, 1, shape, opts->mode, opts->flags, &g->seg);
        if (rv < 0) {
                tshm__free(toc);
                group_free(g);
                return rv;
        }
        memcpy(tshm_seg_data(g->seg), toc, lay.toc_bytes);
        /* Our own table: validating it finds repeated names, and sorts. */
        if ((rv = group_adopt_toc(c, g, toc, lay.toc_bytes, tshm_seg_nbytes(g->seg))) < 0) {
                group_close_failed(c, g->seg);
                group_free(g);
                return rv == TSHM_EBADHDR ? TSHM_EINVAL : rv;
        }
        *ret_group = g;
        return 0;
}

int
tshm_group_publish(tshm_group *g)
{
        struct tshm__req req = {.op = TSHM_OP_PUBLISH};
        struct tshm__reply reply;
        tshm_client *c;
        int rv;

        if (g == NULL || g->published || g->seg->client == NULL) {
                return TSHM_EINVAL;
        }
        c = g->seg->client;
        (void)pthread_mutex_lock(&c->lock);
        if (c->closed || g->seg->epoch != c->epoch) {
                /* The daemon went away meanwhile: the group went with the
                 * connection that made it. */
                tshm__client_errmsg(c, "'%s': the connection that made it is gone",
                                    tshm_seg_name(g->seg));
                rv = TSHM_ECONNRESET;
        } else {
                req.handle = g->seg->handle;
                rv = tshm__client_call(c, &req, &reply, NULL);
        }
        (void)pthread_mutex_unlock(&c->lock);
        if (rv == 0) {
                g->published = true;
        }
        return rv;
}

int
tshm_group_open(tshm_client *c, const char *name, unsigned flags, tshm_group **ret_group)
{
        tshm_group *g;
        uint64_t toc_bytes;
        const char *why = "";
        void *toc;
        int rv;

        if (c == NULL || ret_group == NULL) {
                return TSHM_EINVAL;
        }
        if ((g = tshm__calloc(1, sizeof(*g))) == NULL) {
                return TSHM_ENOMEM;
        }
        if ((rv = tshm_open(c, name, flags, &g->seg)) < 0) {
                tshm__free(g);
                return rv;
        }
        g->published = true;
        if (g->seg->kind != TSHM_KIND_GROUP) {
                tshm__client_errmsg(c, "'%s' is not a tensor group", name);
                rv = TSHM_EINVAL;
                goto fail;
        }
        /* Copies out of the mapping: a writer may rewrite it, or truncate
         * the object (sigbus.c turns a fault into zeros, which fail
         * validation). */
        if ((rv = tshm__toc_size(tshm_seg_data(g->seg), tshm_seg_nbytes(g->seg), &toc_bytes,
                                 &why)) < 0) {
                tshm__client_errmsg(c, "'%s': %s", name, why);
                goto fail;
        }
        if ((toc = tshm__malloc(toc_bytes)) == NULL) {
                rv = TSHM_ENOMEM;
                goto fail;
        }
        memcpy(toc, tshm_seg_data(g->seg), toc_bytes);
        if ((rv = group_adopt_toc(c, g, toc, toc_bytes, tshm_seg_nbytes(g->seg))) < 0) {
                goto fail;
        }
        *ret_group = g;
        return 0;
fail:
        group_close_failed(c, g->seg);
        group_free(g);
        return rv;
}

int
tshm_group_close(tshm_group *g)
{
        int rv;

        if (g == NULL) {
                return 0;
        }
        rv = tshm_close(g->seg);
        group_free(g);
        return rv;
}

size_t
tshm_group_count(const tshm_group *g)
{
        return g != NULL ? g->count : 0;
}

static void
group_describe(const tshm_group *g, uint32_t i, tshm_tensor *t)
{
        const struct tshm__toc_entry *e = tshm__toc_entry_at(g->toc, i);

        memset(t, 0, sizeof(*t));
        t->name = g->name_at[i];
        t->name_len = e->name_len;
        t->dtype = (tshm_dtype)e->dtype;
        t->ndim = e->ndim;
        t->shape = tshm__toc_dims(g->toc, e);
        t->data = (uint8_t *)tshm_seg_data(g->seg) + e->offset;
        t->nbytes = e->nbytes;
        t->offset = e->offset;
}

int
tshm_group_tensor(const tshm_group *g, size_t index, tshm_tensor *ret_tensor)
{
        if (g == NULL || ret_tensor == NULL || index >= g->count) {
                return TSHM_EINVAL;
        }
        group_describe(g, (uint32_t)index, ret_tensor);
        return 0;
}

int64_t
tshm_group_find(const tshm_group *g, const char *name, tshm_tensor *ret_tensor)
{
        size_t lo = 0, hi, len;

        if (g == NULL || name == NULL) {
                return TSHM_EINVAL;
        }
        len = strlen(name);
        hi = g->count;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                uint32_t i = g->order[mid];
                int cmp = tshm__toc_name_cmp(g->toc, tshm__toc_entry_at(g->toc, i), name, len);

                if (cmp == 0) {
                        if (ret_tensor != NULL) {
                                group_describe(g, i, ret_tensor);
                        }
                        return i;
                }
                if (cmp < 0) {
                        lo = mid + 1;
                } else {
                        hi = mid;
                }
        }
        return TSHM_ENOENT;
}

const void *
tshm_group_metadata(const tshm_group *g, size_t *ret_len)
{
        uint64_t len = 0;
        const void *meta;

        if (g == NULL) {
                if (ret_len != NULL) {
                        *ret_len = 0;
                }
                return NULL;
        }
        meta = tshm__toc_meta(g->toc, &len);
        if (ret_len != NULL) {
                *ret_len = (size_t)len;
        }
        return len != 0 ? meta : NULL;
}

tshm_seg *
tshm_group_seg(const tshm_group *g)
{
        return g != NULL ? g->seg : NULL;
}

int
tshm_group_published(const tshm_group *g)
{
        return g != NULL && g->published ? 1 : 0;
}
