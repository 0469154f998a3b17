/*
 * tshm-evil-peer.c - a hostile peer of tshmd's --peer-listen port (issue 15,
 * docs/remote.md): it connects over UCX as a sending daemon would and breaks
 * the peer protocol (proto/peer_proto.h) in one way per MODE, then prints one
 * line of JSON with what it observed. tests/remote/test_hostile_peer.py runs
 * each mode against a victim tshmd and checks what that host sees.
 *
 * Usage: tshm-evil-peer HOST:PORT MODE [SECRET_FILE|-] [NAME]
 * (NAME, default evil-copy, is the copy each OPEN asks for; - for no secret.)
 *
 * Unauthenticated modes (no secret needed): open-without-hello, bad-mac,
 * reflect, garbage, wrong-direction, data-before-auth, payload-on-hello,
 * flood. Authenticated but hostile (SECRET_FILE and NAME): takeover, huge,
 * bad-length, commit-wrong-seq, torn-commit, data-flood, regrow (which
 * prints "ready" and waits for a line on stdin midway), and ok (the
 * positive control).
 *
 * Output keys: mode; dropped (the daemon closed or failed the endpoint, or
 * never answered within 3 s); ep_error (UCX reported the endpoint failed:
 * the daemon closed it); challenge (a CHALLENGE came back); opened_status
 * and opened_error (the OPENED, or null); acked (the seq of an ACK, or
 * null); and what each mode adds. Exit 0 once the scenario ran, 1 when it
 * could not (no secret, no UCX), 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <ucp/api/ucp.h>

#include "peer_proto.h"

#define EVIL_WAIT_NS 3000000000ull
#define EVIL_MAX_CONNS 128u
#define EVIL_MAX_MSGS 8u
#define EVIL_FLOOD 100u
#define EVIL_BIG ((size_t)1 << 20)
/* Past TSHM_PEER_MAX_HEADER, within what UCX's TCP transport sends as one
 * header (a 100 KiB header crashes UCX 1.13's sender, not the receiver). */
#define EVIL_BIG_HEADER 6000u
/* The array every authenticated mode opens: int32[1024], 4 KiB. */
#define EVIL_ELEMS ((size_t)1024)
#define EVIL_NBYTES (EVIL_ELEMS * 4)

/* One endpoint to the victim and what came back on it. */
struct evil_conn {
        ucp_ep_h ep;
        bool error; /* UCX's error handler ran */
        struct tshm__peer_msg msgs[EVIL_MAX_MSGS];
        unsigned nmsgs, nbad; /* received (decoded), received that did not decode */
        uint8_t nonce[TSHM_PEER_NONCE];
};

static struct {
        ucp_context_h ctx;
        ucp_worker_h worker;
        struct addrinfo *ai;
        uint8_t secret[4096];
        size_t secret_len;
        const char *name;
        struct evil_conn conns[EVIL_MAX_CONNS];
        unsigned nconns;
        char out[8192]; /* the JSON line, built up */
        size_t outlen;
} evil;

/* Output */

static void out_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
out_raw(const char *fmt, ...)
{
        va_list ap;
        int n;

        if (evil.outlen >= sizeof(evil.out)) {
                return;
        }
        va_start(ap, fmt);
        n = vsnprintf(evil.out + evil.outlen, sizeof(evil.out) - evil.outlen, fmt, ap);
        va_end(ap);
        if (n > 0) {
                evil.outlen += (size_t)n;
        }
}

static void
out_key(const char *key)
{
        out_raw("%s\"%s\": ", evil.outlen > 1 ? ", " : "", key);
}

static void
out_bool(const char *key, bool v)
{
        out_key(key);
        out_raw("%s", v ? "true" : "false");
}

static void
out_int(const char *key, long long v)
{
        out_key(key);
        out_raw("%lld", v);
}

/* A JSON string; the daemon's error text is printable ASCII, anything else
 * becomes '?'. */
static void
out_str(const char *key, const char *s)
{
        out_key(key);
        out_raw("\"");
        for (; *s != '\0'; s++) {
                if (*s == '"' || *s == '\\') {
                        out_raw("\\%c", *s);
                } else {
                        out_raw("%c", *s >= ' ' && *s <= '~' ? *s : '?');
                }
        }
        out_raw("\"");
}

static void
out_null(const char *key)
{
        out_key(key);
        out_raw("null");
}

/* Time and UCX */

static uint64_t
now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
progress_for(uint64_t ns)
{
        uint64_t end = now_ns() + ns;

        while (now_ns() < end) {
                if (ucp_worker_progress(evil.worker) == 0) {
                        usleep(200);
                }
        }
}

static struct evil_conn *
conn_of(ucp_ep_h ep)
{
        for (unsigned i = 0; i < evil.nconns; i++) {
                if (evil.conns[i].ep == ep) {
                        return &evil.conns[i];
                }
        }
        return NULL;
}

/* Every message the victim sends back: decoded and kept on its endpoint. */
static ucs_status_t
evil_am(void *arg, const void *header, size_t header_length, void *data, size_t length,
        const ucp_am_recv_param_t *param)
{
        uint32_t am = (uint32_t)(uintptr_t)arg;
        struct evil_conn *c = NULL;
        char err[160];

        (void)data;
        (void)length;
        if (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) {
                c = conn_of(param->reply_ep);
        }
        if (c == NULL || c->nmsgs >= EVIL_MAX_MSGS) {
                return UCS_OK;
        }
        if (tshm__peer_decode(am, header, header_length, &c->msgs[c->nmsgs], err, sizeof(err)) <
            0) {
                c->nbad++;
        } else {
                c->nmsgs++;
        }
        return UCS_OK;
}

static void
evil_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
        struct evil_conn *c = arg;

        (void)ep;
        (void)status;
        c->error = true;
}

static int
evil_ucx_init(void)
{
        ucp_params_t params = {.field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_AM};
        ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                                  .thread_mode = UCS_THREAD_MODE_SINGLE};

        if (ucp_init(&params, NULL, &evil.ctx) != UCS_OK ||
            ucp_worker_create(evil.ctx, &wp, &evil.worker) != UCS_OK) {
                return -1;
        }
        for (uint32_t am = 1; am < TSHM_PEER_AM_COUNT; am++) {
                ucp_am_handler_param_t hp = {
                    .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS |
                                  UCP_AM_HANDLER_PARAM_FIELD_CB | UCP_AM_HANDLER_PARAM_FIELD_ARG,
                    .id = am,
                    .flags = UCP_AM_FLAG_WHOLE_MSG,
                    .cb = evil_am,
                    .arg = (void *)(uintptr_t)am};
                if (ucp_worker_set_am_recv_handler(evil.worker, &hp) != UCS_OK) {
                        return -1;
                }
        }
        return 0;
}

/* A new endpoint to the victim (connected in the background by UCX). */
static struct evil_conn *
conn_new(void)
{
        ucp_ep_params_t ep = {0};
        struct evil_conn *c;

        if (evil.nconns >= EVIL_MAX_CONNS) {
                return NULL;
        }
        c = &evil.conns[evil.nconns++];
        memset(c, 0, sizeof(*c));
        ep.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                        UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
        ep.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
        ep.sockaddr.addr = evil.ai->ai_addr;
        ep.sockaddr.addrlen = evil.ai->ai_addrlen;
        ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;
        ep.err_handler.cb = evil_ep_error;
        ep.err_handler.arg = c;
        if (ucp_ep_create(evil.worker, &ep, &c->ep) != UCS_OK) {
                c->ep = NULL;
                c->error = true;
        }
        return c;
}

static void
conn_close(struct evil_conn *c)
{
        ucp_request_param_t param = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                     .flags = UCP_EP_CLOSE_FLAG_FORCE};
        ucs_status_ptr_t r;

        if (c->ep == NULL) {
                return;
        }
        r = ucp_ep_close_nbx(c->ep, &param);
        if (r != NULL && !UCS_PTR_IS_ERR(r)) {
                while (ucp_request_check_status(r) == UCS_INPROGRESS) {
                        ucp_worker_progress(evil.worker);
                }
                ucp_request_free(r);
        }
        c->ep = NULL;
}

/* Send raw: active message @am, @hlen header bytes, @len payload bytes;
 * wait (at most 3 s) for UCX to be done with it. Returns false when the
 * send failed (the endpoint is gone). */
static bool
send_raw(struct evil_conn *c, unsigned am, const void *header, size_t hlen, const void *data,
         size_t len)
{
        ucp_request_param_t param = {.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                     .flags = UCP_AM_SEND_FLAG_REPLY};
        uint64_t end = now_ns() + EVIL_WAIT_NS;
        ucs_status_ptr_t r;
        ucs_status_t st;

        if (c->ep == NULL || c->error) {
                return false;
        }
        r = ucp_am_send_nbx(c->ep, am, header, hlen, data, len, &param);
        if (r == NULL) {
                return true;
        }
        if (UCS_PTR_IS_ERR(r)) {
                c->error = true;
                return false;
        }
        while ((st = ucp_request_check_status(r)) == UCS_INPROGRESS && now_ns() < end) {
                ucp_worker_progress(evil.worker);
        }
        if (st == UCS_INPROGRESS) {
                ucp_request_cancel(evil.worker, r);
                while (ucp_request_check_status(r) == UCS_INPROGRESS) {
                        ucp_worker_progress(evil.worker);
                }
        }
        ucp_request_free(r);
        return st == UCS_OK;
}

static bool
send_msg(struct evil_conn *c, const struct tshm__peer_msg *m, const void *data, size_t len)
{
        msgpack_sbuffer sb;
        bool ok;

        msgpack_sbuffer_init(&sb);
        if (tshm__peer_encode(m, &sb) < 0) {
                fprintf(stderr, "tshm-evil-peer: cannot encode message %u\n", m->am);
                exit(1);
        }
        ok = send_raw(c, m->am, sb.data, sb.size, data, len);
        msgpack_sbuffer_destroy(&sb);
        return ok;
}

/* The first message @am that came back on @c, waiting up to 3 s for it
 * (less if the endpoint fails). */
static const struct tshm__peer_msg *
wait_msg(struct evil_conn *c, uint32_t am)
{
        uint64_t end = now_ns() + EVIL_WAIT_NS;

        for (;;) {
                for (unsigned i = 0; i < c->nmsgs; i++) {
                        if (c->msgs[i].am == am) {
                                return &c->msgs[i];
                        }
                }
                if (c->error || now_ns() >= end) {
                        return NULL;
                }
                if (ucp_worker_progress(evil.worker) == 0) {
                        usleep(200);
                }
        }
}

/* Wait up to 3 s for the victim to drop @c; a PING after 300 ms prods a
 * half-closed connection into failing. Returns whether UCX saw it fail. */
static bool
wait_drop(struct evil_conn *c)
{
        struct tshm__peer_msg ping = {.am = TSHM_PEER_PING};
        uint64_t start = now_ns();
        bool pinged = false;

        while (!c->error && now_ns() - start < EVIL_WAIT_NS) {
                if (!pinged && now_ns() - start > 300000000ull) {
                        pinged = true;
                        (void)send_msg(c, &ping, NULL, 0);
                }
                if (ucp_worker_progress(evil.worker) == 0) {
                        usleep(200);
                }
        }
        return c->error;
}

/* The handshake */

static void
mac(const char *label, const uint8_t *a, const uint8_t *b, uint8_t out[TSHM_PEER_MAC])
{
        uint8_t msg[64 + 2 * TSHM_PEER_NONCE];
        size_t ll = strlen(label);
        unsigned int len = TSHM_PEER_MAC;

        /* As daemon/peer_auth.c computes it: length, label, NUL, nonces. */
        msg[0] = (uint8_t)ll;
        memcpy(msg + 1, label, ll + 1);
        memcpy(msg + 2 + ll, a, TSHM_PEER_NONCE);
        memcpy(msg + 2 + ll + TSHM_PEER_NONCE, b, TSHM_PEER_NONCE);
        if (HMAC(EVP_sha256(), evil.secret, (int)evil.secret_len, msg,
                 2 + ll + (size_t)(2 * TSHM_PEER_NONCE), out, &len) == NULL) {
                memset(out, 0, TSHM_PEER_MAC);
        }
}

static void
random_bytes(void *buf, size_t n)
{
        if (RAND_bytes(buf, (int)n) != 1) {
                fprintf(stderr, "tshm-evil-peer: RAND_bytes failed\n");
                exit(1);
        }
}

/* HELLO, and the CHALLENGE back (NULL if none came). */
static const struct tshm__peer_msg *
hello(struct evil_conn *c)
{
        struct tshm__peer_msg h = {.am = TSHM_PEER_HELLO, .version = TSHM_PEER_VERSION};

        random_bytes(c->nonce, sizeof(c->nonce));
        memcpy(h.nonce, c->nonce, sizeof(h.nonce));
        if (!send_msg(c, &h, NULL, 0)) {
                return NULL;
        }
        return wait_msg(c, TSHM_PEER_CHALLENGE);
}

/* An OPEN of the array int32[@elems] named @name (its mac left zero). */
static struct tshm__peer_msg
open_msg(const char *name, uint64_t elems)
{
        struct tshm__peer_msg o = {.am = TSHM_PEER_OPEN,
                                   .dtype = TSHM_DTYPE_INT32,
                                   .ndim = 1,
                                   .shape = {elems},
                                   .mode = 0644,
                                   .nbytes = elems * 4u};

        snprintf(o.name, sizeof(o.name), "%s", name);
        snprintf(o.source, sizeof(o.source), "evil-host/%s", name);
        return o;
}

static bool
challenge_ok(const struct evil_conn *c, const struct tshm__peer_msg *ch)
{
        uint8_t want[TSHM_PEER_MAC];

        mac("tshm-peer-1 receiver", c->nonce, ch->nonce, want);
        return memcmp(want, ch->mac, sizeof(want)) == 0;
}

/* The whole handshake for @o (mac filled in); the OPENED, or NULL. */
static const struct tshm__peer_msg *
handshake(struct evil_conn *c, struct tshm__peer_msg *o)
{
        const struct tshm__peer_msg *ch = hello(c);

        if (ch == NULL) {
                return NULL;
        }
        mac("tshm-peer-1 sender", ch->nonce, c->nonce, o->mac);
        if (!send_msg(c, o, NULL, 0)) {
                return NULL;
        }
        return wait_msg(c, TSHM_PEER_OPENED);
}

static void
out_opened(const struct tshm__peer_msg *op)
{
        if (op == NULL) {
                out_null("opened_status");
                out_null("opened_error");
        } else {
                out_int("opened_status", op->status);
                out_str("opened_error", op->error);
        }
}

static void
out_acked(const struct evil_conn *c)
{
        for (unsigned i = 0; i < c->nmsgs; i++) {
                if (c->msgs[i].am == TSHM_PEER_ACK) {
                        out_int("acked", (long long)c->msgs[i].seq);
                        return;
                }
        }
        out_null("acked");
}

/* A DATA of version @seq; @fill fills its @len bytes. */
static bool
send_data(struct evil_conn *c, uint64_t seq, bool whole, size_t len, int32_t fill)
{
        struct tshm__peer_msg d = {.am = TSHM_PEER_DATA, .seq = seq, .whole = whole};
        int32_t *buf = calloc(1, len + 4);
        struct timespec ts;
        bool ok;

        if (buf == NULL) {
                exit(1);
        }
        for (size_t i = 0; i < len / 4; i++) {
                buf[i] = fill;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        d.publish_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        ok = send_msg(c, &d, buf, len);
        free(buf);
        return ok;
}

/* The first message @am already on @c, or NULL (no waiting). */
static const struct tshm__peer_msg *
find_msg(const struct evil_conn *c, uint32_t am)
{
        for (unsigned i = 0; i < c->nmsgs; i++) {
                if (c->msgs[i].am == am) {
                        return &c->msgs[i];
                }
        }
        return NULL;
}

/* Replies that count as an answer: anything but a PING. */
static unsigned
replies(const struct evil_conn *c)
{
        unsigned n = c->nbad;

        for (unsigned i = 0; i < c->nmsgs; i++) {
                n += c->msgs[i].am != TSHM_PEER_PING;
        }
        return n;
}

/* Whether the victim dropped @c after an attack that would have been
 * answered after @before replies: the endpoint failed, or no answer came
 * within 3 s. */
static bool
dropped(struct evil_conn *c, unsigned before)
{
        bool err = wait_drop(c);

        return err || replies(c) == before;
}

/* The outcome every mode reports, for its main endpoint @c. */
static void
out_conn(const struct evil_conn *c, bool drop)
{
        out_bool("dropped", drop);
        out_bool("ep_error", c->error);
        out_bool("challenge", find_msg(c, TSHM_PEER_CHALLENGE) != NULL);
        out_opened(find_msg(c, TSHM_PEER_OPENED));
        out_acked(c);
}

/* Modes without the secret */

/* OPEN with a random mac: before HELLO (@with_hello false), after it, or
 * with the receiver's own mac reflected back (@reflect). */
static void
mode_open_mac(bool with_hello, bool reflect)
{
        struct evil_conn *c = conn_new();
        struct tshm__peer_msg o = open_msg(evil.name, EVIL_ELEMS);
        const struct tshm__peer_msg *ch = NULL;
        unsigned before;

        random_bytes(o.mac, sizeof(o.mac));
        if (with_hello && (ch = hello(c)) != NULL && reflect) {
                memcpy(o.mac, ch->mac, sizeof(o.mac));
        }
        if (ch != NULL && evil.secret_len > 0) {
                out_bool("challenge_mac_ok", challenge_ok(c, ch));
        }
        before = replies(c);
        (void)send_msg(c, &o, NULL, 0);
        out_conn(c, dropped(c, before));
}

/* Wait up to 3 s for every endpoint from @first on to fail (a PING after
 * 300 ms prods each). */
static void
wait_drops(unsigned first)
{
        struct tshm__peer_msg ping = {.am = TSHM_PEER_PING};
        uint64_t start = now_ns();
        bool pinged = false, all;

        do {
                all = true;
                for (unsigned i = first; i < evil.nconns; i++) {
                        all &= evil.conns[i].error;
                }
                if (!pinged && now_ns() - start > 300000000ull) {
                        pinged = true;
                        for (unsigned i = first; i < evil.nconns; i++) {
                                (void)send_msg(&evil.conns[i], &ping, NULL, 0);
                        }
                }
                if (ucp_worker_progress(evil.worker) == 0) {
                        usleep(200);
                }
        } while (!all && now_ns() - start < EVIL_WAIT_NS);
}

/* One garbage message of mode garbage: id @id, @hlen random header bytes. */
struct garbage {
        unsigned id;
        size_t hlen;
};

/* Send each of @g (@n of them) on an endpoint of its own. */
static void
garbage_send(const struct garbage *g, unsigned n)
{
        uint8_t *hdr = malloc(EVIL_BIG_HEADER);

        if (hdr == NULL) {
                exit(1);
        }
        for (unsigned i = 0; i < n; i++) {
                struct evil_conn *c = conn_new();
                random_bytes(hdr, EVIL_BIG_HEADER);
                (void)send_raw(c, g[i].id, g[i].hlen > 0 ? hdr : NULL, g[i].hlen, NULL, 0);
        }
        free(hdr);
}

/* Random headers on every id the daemon handles (2 to 256 bytes: never a
 * lone empty map, which is a valid PING) and a 6000-byte one on HELLO: each
 * must drop its link. Then the ids nobody should handle: 0 and 9 to 16
 * (UCX 1.13.1 sizes its handler table to 16 after id 8 is registered, and
 * leaves the entries not registered uninitialized: a message on one of
 * those calls a garbage function pointer unless the daemon registered them
 * all) and 200, each with a random header and with none. The daemon must
 * drop such a link, or ignore the message and still answer a HELLO. */
static void
mode_garbage(void)
{
        struct garbage g[64];
        unsigned n = 0, nknown;
        bool all_known = true, unknown_ok = true;
        uint8_t len;

        for (unsigned id = 1; id < TSHM_PEER_AM_COUNT; id++) {
                random_bytes(&len, 1);
                g[n++] = (struct garbage){id, (size_t)len % 255 + 2};
        }
        g[n++] = (struct garbage){TSHM_PEER_HELLO, EVIL_BIG_HEADER};
        nknown = n;
        for (unsigned id = 0; id <= 200; id = id == 0 ? 9 : id == 16 ? 200 : id + 1) {
                random_bytes(&len, 1);
                g[n++] = (struct garbage){id, (size_t)len % 255 + 2};
                g[n++] = (struct garbage){id, 0};
        }
        garbage_send(g, n);
        wait_drops(0);
        out_key("per_id");
        out_raw("[");
        for (unsigned i = 0; i < n; i++) {
                struct evil_conn *c = &evil.conns[i];
                bool live = false;
                if (i < nknown) {
                        all_known &= c->error || replies(c) == 0;
                } else {
                        live = !c->error && hello(c) != NULL;
                        unknown_ok &= c->error || live;
                }
                out_raw("%s{\"id\": %u, \"header\": %zu, \"ep_error\": %s, \"live\": %s}",
                        i > 0 ? ", " : "", g[i].id, g[i].hlen, c->error ? "true" : "false",
                        live ? "true" : "false");
        }
        out_raw("]");
        out_bool("dropped", all_known);
        out_bool("unknown_ids_dropped_or_ignored", unknown_ok);
}

/* Messages only a receiver sends, sent to the receiver: before HELLO and
 * after it. */
static void
mode_wrong_direction(void)
{
        static const uint32_t ams[] = {TSHM_PEER_CHALLENGE, TSHM_PEER_OPENED, TSHM_PEER_ACK};
        bool all = true;

        for (unsigned i = 0; i < 2 * 3; i++) {
                struct evil_conn *c = conn_new();
                struct tshm__peer_msg m = {
                    .am = ams[i % 3], .version = TSHM_PEER_VERSION, .seq = 1};
                if (i >= 3 && hello(c) == NULL) {
                        all = false;
                }
                snprintf(m.error, sizeof(m.error), "evil");
                (void)send_msg(c, &m, NULL, 0);
        }
        wait_drops(0);
        for (unsigned i = 0; i < evil.nconns; i++) {
                all &= evil.conns[i].error || replies(&evil.conns[i]) == (i >= 3 ? 1u : 0u);
                all &= find_msg(&evil.conns[i], TSHM_PEER_OPENED) == NULL;
        }
        out_bool("dropped", all);
}

/* DATA before any handshake (4 KiB, and 1 MiB: a rendezvous), and DATA
 * after HELLO but before OPEN. */
static void
mode_data_before_auth(void)
{
        struct evil_conn *a = conn_new(), *b = conn_new(), *c = conn_new();
        bool challenge;

        (void)send_data(a, 2, true, EVIL_NBYTES, 7);
        (void)send_data(b, 2, true, EVIL_BIG, 7);
        challenge = hello(c) != NULL;
        (void)send_data(c, 2, true, EVIL_NBYTES, 7);
        wait_drops(0);
        out_bool("dropped_4k", a->error || replies(a) == 0);
        out_bool("dropped_1m", b->error || replies(b) == 0);
        out_bool("dropped_after_hello", c->error || replies(c) == 1);
        out_bool("dropped", (a->error || replies(a) == 0) && (b->error || replies(b) == 0) &&
                                (c->error || replies(c) == 1));
        out_bool("challenge", challenge);
        out_opened(find_msg(c, TSHM_PEER_OPENED));
}

/* HELLO with a payload: 16 bytes, and 1 MiB (a rendezvous). */
static void
mode_payload_on_hello(void)
{
        struct tshm__peer_msg h = {.am = TSHM_PEER_HELLO, .version = TSHM_PEER_VERSION};
        struct evil_conn *a = conn_new(), *b = conn_new();
        uint8_t *big = calloc(1, EVIL_BIG);

        if (big == NULL) {
                exit(1);
        }
        random_bytes(h.nonce, sizeof(h.nonce));
        (void)send_msg(a, &h, big, 16);
        (void)send_msg(b, &h, big, EVIL_BIG);
        free(big);
        wait_drops(0);
        out_bool("dropped_16", a->error || replies(a) == 0);
        out_bool("dropped_1m", b->error || replies(b) == 0);
        out_bool("dropped", (a->error || replies(a) == 0) && (b->error || replies(b) == 0));
        out_bool("challenge", find_msg(a, TSHM_PEER_CHALLENGE) != NULL ||
                                  find_msg(b, TSHM_PEER_CHALLENGE) != NULL);
}

/* 100 connections that never speak, held 2 s; with the secret, a HELLO on
 * one more meanwhile (does a legitimate peer get a CHALLENGE?). */
static void
mode_flood(void)
{
        unsigned failed = 0;

        for (unsigned i = 0; i < EVIL_FLOOD; i++) {
                (void)conn_new();
        }
        progress_for(2000000000ull);
        for (unsigned i = 0; i < EVIL_FLOOD; i++) {
                failed += evil.conns[i].error;
        }
        out_int("connections", EVIL_FLOOD);
        out_int("refused", failed);
        out_bool("dropped", failed > 0);
        if (evil.secret_len > 0) {
                out_bool("hello_during_flood", hello(conn_new()) != NULL);
        }
}

/* Modes with the secret */

/* OPEN for an existing local segment, then DATA over it anyway. */
static void
mode_takeover(void)
{
        struct evil_conn *c = conn_new();
        struct tshm__peer_msg o = open_msg(evil.name, EVIL_ELEMS);
        unsigned before;

        (void)handshake(c, &o);
        before = replies(c);
        (void)send_data(c, 2, true, EVIL_NBYTES, 0x66666666);
        out_conn(c, dropped(c, before));
}

/* A 4 KiB copy opened and a version sent on one link, which stays up; on
 * "ready" the test unlinks the copy on the victim and writes a line to our
 * stdin; at once (before the victim's live record looks at its copy again)
 * the same name is opened on a second link, 64 times larger, and a version
 * of that size sent: the new copy must be made for the new size (a buffer
 * of the old one was written past its end). */
static void
mode_regrow(void)
{
        struct evil_conn *a = conn_new(), *b;
        struct tshm__peer_msg small = open_msg(evil.name, EVIL_ELEMS);
        struct tshm__peer_msg big = open_msg(evil.name, EVIL_ELEMS * 64);
        char line[16];

        (void)handshake(a, &small);
        (void)send_data(a, 2, true, EVIL_NBYTES, 1);
        progress_for(300000000ull);
        printf("ready\n");
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL) {
                exit(1);
        }
        b = conn_new();
        (void)handshake(b, &big);
        (void)send_data(b, 2, true, EVIL_NBYTES * 64, 2);
        progress_for(1000000000ull);
        out_conn(b, b->error);
}

/* OPEN for a 1 TiB array. */
static void
mode_huge(void)
{
        struct evil_conn *c = conn_new();
        struct tshm__peer_msg o = open_msg(evil.name, 1ull << 38);

        (void)handshake(c, &o);
        out_conn(c, c->error);
}

/* A valid OPEN, then DATA of 8 bytes; again with 1 MiB. */
static void
mode_bad_length(void)
{
        struct evil_conn *a = conn_new(), *b;
        struct tshm__peer_msg o = open_msg(evil.name, EVIL_ELEMS);
        const struct tshm__peer_msg *op;
        bool d8, d1m;
        unsigned before;

        (void)handshake(a, &o);
        before = replies(a);
        (void)send_data(a, 2, true, 8, 7);
        d8 = dropped(a, before);
        b = conn_new();
        op = handshake(b, &o);
        out_key("opened_status_again");
        out_raw("%d", op != NULL ? op->status : 1);
        before = replies(b);
        (void)send_data(b, 2, true, EVIL_BIG, 7);
        d1m = dropped(b, before);
        out_bool("dropped_8", d8);
        out_bool("dropped_1m", d1m);
        out_conn(a, d8 && d1m);
}

/* DATA not known whole, then COMMIT of another seq (@wrong_seq) or COMMIT
 * saying it tore (whole false). */
static void
mode_commit(bool wrong_seq)
{
        struct tshm__peer_msg o = open_msg(evil.name, EVIL_ELEMS);
        struct tshm__peer_msg cm = {
            .am = TSHM_PEER_COMMIT, .seq = wrong_seq ? 4 : 2, .whole = wrong_seq};
        struct evil_conn *c = conn_new();
        unsigned before;

        (void)handshake(c, &o);
        (void)send_data(c, 2, false, EVIL_NBYTES, 7);
        before = replies(c);
        (void)send_msg(c, &cm, NULL, 0);
        if (wrong_seq) {
                out_conn(c, dropped(c, before));
        } else {
                bool acked = wait_msg(c, TSHM_PEER_ACK) != NULL;
                out_conn(c, c->error || !acked);
        }
}

/* The positive control: one whole version of 7s. */
static void
mode_ok(void)
{
        struct tshm__peer_msg o = open_msg(evil.name, EVIL_ELEMS);
        struct evil_conn *c = conn_new();
        bool acked;

        (void)handshake(c, &o);
        (void)send_data(c, 2, true, EVIL_NBYTES, 7);
        acked = wait_msg(c, TSHM_PEER_ACK) != NULL;
        out_conn(c, c->error || !acked);
}

/* Authenticated, then 1000 whole versions sent back to back, never waiting
 * for an ACK: the receiver must cut the link, not queue them all. */
static void
mode_data_flood(void)
{
        struct tshm__peer_msg o = open_msg(evil.name, EVIL_ELEMS);
        struct evil_conn *c = conn_new();
        int sent = 0;

        (void)handshake(c, &o);
        for (uint64_t seq = 2; seq <= 2000 && !c->error; seq += 2) {
                sent += send_data(c, seq, true, EVIL_NBYTES, (int32_t)seq);
        }
        out_key("sent");
        out_raw("%d", sent);
        /* Dropped: the endpoint fails (ACKs for the first few came). */
        out_conn(c, wait_drop(c));
}

static void
mode_open_without_hello(void)
{
        mode_open_mac(false, false);
}
static void
mode_bad_mac(void)
{
        mode_open_mac(true, false);
}
static void
mode_reflect(void)
{
        mode_open_mac(true, true);
}
static void
mode_commit_wrong_seq(void)
{
        mode_commit(true);
}
static void
mode_torn_commit(void)
{
        mode_commit(false);
}

static const struct {
        const char *name;
        void (*run)(void);
        bool secret; /* needs SECRET_FILE and NAME */
} modes[] = {
    {"open-without-hello", mode_open_without_hello, false},
    {"bad-mac", mode_bad_mac, false},
    {"reflect", mode_reflect, false},
    {"garbage", mode_garbage, false},
    {"wrong-direction", mode_wrong_direction, false},
    {"data-before-auth", mode_data_before_auth, false},
    {"payload-on-hello", mode_payload_on_hello, false},
    {"flood", mode_flood, false},
    {"takeover", mode_takeover, true},
    {"huge", mode_huge, true},
    {"bad-length", mode_bad_length, true},
    {"commit-wrong-seq", mode_commit_wrong_seq, true},
    {"torn-commit", mode_torn_commit, true},
    {"ok", mode_ok, true},
    {"data-flood", mode_data_flood, true},
    {"regrow", mode_regrow, true},
};

/* Setup */

/* HOST:PORT or [V6]:PORT, resolved into evil.ai. */
static int
resolve(const char *addr)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
        char host[256];
        const char *colon = strrchr(addr, ':');
        size_t hl;

        if (colon == NULL || colon == addr) {
                return -1;
        }
        hl = (size_t)(colon - addr);
        if (addr[0] == '[' && colon[-1] == ']') {
                addr++;
                hl -= 2;
        }
        if (hl >= sizeof(host)) {
                return -1;
        }
        memcpy(host, addr, hl);
        host[hl] = '\0';
        return getaddrinfo(host, colon + 1, &hints, &evil.ai) == 0 ? 0 : -1;
}

/* The secret as tshmd reads it: the file's bytes less trailing newlines. */
static int
read_secret(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0) {
                return -1;
        }
        n = read(fd, evil.secret, sizeof(evil.secret));
        (void)close(fd);
        if (n <= 0) {
                return -1;
        }
        evil.secret_len = (size_t)n;
        while (evil.secret_len > 0 && (evil.secret[evil.secret_len - 1] == '\n' ||
                                       evil.secret[evil.secret_len - 1] == '\r')) {
                evil.secret_len--;
        }
        return 0;
}

static int
usage(void)
{
        fprintf(stderr, "usage: tshm-evil-peer HOST:PORT MODE [SECRET_FILE|-] [NAME]\nmodes:");
        for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
                fprintf(stderr, " %s%s", modes[i].name, modes[i].secret ? "*" : "");
        }
        fprintf(stderr, "\n(* needs SECRET_FILE and NAME)\n");
        return 2;
}

int
main(int argc, char **argv)
{
        size_t i;

        if (argc < 3 || argc > 5) {
                return usage();
        }
        for (i = 0; i < sizeof(modes) / sizeof(modes[0]) && strcmp(modes[i].name, argv[2]) != 0;
             i++) {
        }
        if (i == sizeof(modes) / sizeof(modes[0]) ||
            (modes[i].secret && (argc < 5 || strcmp(argv[3], "-") == 0))) {
                return usage();
        }
        evil.name = argc >= 5 ? argv[4] : "evil-copy";
        if (resolve(argv[1]) < 0) {
                fprintf(stderr, "tshm-evil-peer: cannot resolve '%s'\n", argv[1]);
                return 2;
        }
        if (argc >= 4 && strcmp(argv[3], "-") != 0 && read_secret(argv[3]) < 0) {
                fprintf(stderr, "tshm-evil-peer: cannot read the secret '%s'\n", argv[3]);
                return 1;
        }
        if (evil_ucx_init() < 0) {
                fprintf(stderr, "tshm-evil-peer: cannot start UCX\n");
                return 1;
        }
        out_raw("{");
        out_str("mode", modes[i].name);
        modes[i].run();
        out_raw("}");
        printf("%s\n", evil.out);
        fflush(stdout);
        for (unsigned k = 0; k < evil.nconns; k++) {
                conn_close(&evil.conns[k]);
        }
        ucp_worker_destroy(evil.worker);
        ucp_cleanup(evil.ctx);
        freeaddrinfo(evil.ai);
        explicit_bzero(evil.secret, sizeof(evil.secret));
        return 0;
}
