/*
 * ops_fixture.c - what the op handler tests share: a server with a registry
 * and a loop but no socket, sessions with forged credentials, and replies
 * encoded as conn.c encodes them and decoded as a client decodes them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <check.h>

#include "ops_fixture.h"
#include "server_fixture.h"

struct tshmd_config cfg;
struct tshmd_server srv;
uv_loop_t loop;
static gid_t member_groups[] = {OWNER};
const struct tshmd_peer owner = {.pid = 0, .uid = OWNER, .gid = OWNER};
const struct tshmd_peer other = {.pid = 0, .uid = OTHER, .gid = OTHER};
const struct tshmd_peer member = {
    .pid = 0, .uid = MEMBER, .gid = MEMBER, .groups = member_groups, .ngroups = 1};
const struct tshmd_peer root = {.pid = 0, .uid = 0, .gid = 0};

struct ops_done done;

void
on_complete(struct tshmd_session *ses, int rv, struct tshmd_reply *rep)
{
        (void)ses;
        done.calls++;
        done.rv = rv;
        decode(rep, rv, TSHM_OP_CREATE, &done.r, &done.fd);
}

void
setup(void)
{
        server_fixture_init(&srv, &cfg, &loop, "ops");
        cfg.max_opens = 8;
        memset(&done, 0, sizeof(done));
        done.fd = -1;
}

void
teardown(void)
{
        server_fixture_done(&srv, &loop);
        if (done.fd >= 0) {
                (void)close(done.fd);
        }
}

/* Encode @rep as conn.c does and decode the frame as libtshm does. */
void
decode(struct tshmd_reply *rep, int rv, uint32_t op, struct tshm__reply *out, int *ret_fd)
{
        struct tshmd_frame f;

        ck_assert_int_eq(tshmd_reply_encode(rep, rv, &f), 0);
        ck_assert_int_eq(f.status, rv < 0 ? rv : 0);
        ck_assert_uint_eq(tshm__get_be32(f.buf), f.len - 4);
        memset(out, 0, sizeof(*out));
        ck_assert_int_eq(tshm__reply_decode(f.buf + 4, f.len - 4, op, out), 0);
        ck_assert_uint_eq(out->id, rep->id);
        ck_assert_int_eq(out->status, rv < 0 ? rv : 0);
        tshm__free(f.buf);
        if (ret_fd != NULL) {
                *ret_fd = f.fd;
        } else if (f.fd >= 0) {
                (void)close(f.fd);
        }
        tshmd_reply_dispose(rep);
}

/* Run @fn for @ses and keep its typed reply in @rep (the caller disposes
 * of it). Returns what the handler returned. */
int
handle(tshmd_handler_fn fn, struct tshmd_session *ses, const struct tshm__req *req,
       struct tshmd_reply *rep)
{
        int rv;

        tshmd_reply_init(rep, req->id);
        rv = fn(&srv, ses, req, rep);
        ck_assert_int_ne(rv, TSHMD_PENDING);
        ck_assert_uint_eq(rep->id, req->id);
        return rv;
}

/* Run @fn for @ses; the decoded reply in @out, its descriptor in *ret_fd
 * (NULL: closed). Returns what the handler returned. */
int
run(tshmd_handler_fn fn, struct tshmd_session *ses, const struct tshm__req *req,
    struct tshm__reply *out, int *ret_fd)
{
        struct tshmd_reply rep;
        int rv;

        tshmd_reply_init(&rep, req->id);
        rv = fn(&srv, ses, req, &rep);
        ck_assert_int_ne(rv, TSHMD_PENDING);
        decode(&rep, rv, req->op, out, ret_fd);
        return rv;
}

struct tshm__req
req_create(const char *name, uint64_t n, uint32_t mode)
{
        struct tshm__req req = {.op = TSHM_OP_CREATE, .id = 7, .dtype = TSHM_DTYPE_UINT8};

        req.ndim = 1;
        req.shape[0] = n;
        req.mode = mode;
        (void)snprintf(req.name, sizeof(req.name), "%s", name);
        return req;
}

struct tshm__req
req_named(uint32_t op, const char *name)
{
        struct tshm__req req = {
            .op = op, .id = 9, .owner = TSHM_ID_UNCHANGED, .group = TSHM_ID_UNCHANGED};

        (void)snprintf(req.name, sizeof(req.name), "%s", name);
        return req;
}

/* Create @name (small: on the loop) for @ses; returns its handle. */
uint64_t
make(struct tshmd_session *ses, const char *name, uint32_t mode)
{
        struct tshm__req req = req_create(name, 4096, mode);
        struct tshm__reply r;

        ck_assert_int_eq(run(tshmd_create, ses, &req, &r, NULL), 0);
        return r.handle;
}
