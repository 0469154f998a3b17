/*
 * peer_int.h - what the files of the peer thread share (peer.c: the thread
 * and UCX; peer_table.c: the table of outgoing mirrors; peer_link.c: sends
 * and receives; peer_auth.c: the secret; mirror_out.c: the sending side;
 * mirror_in.c: the receiving side). Nothing here is used by the main loop,
 * which sees only peer.h.
 */
#ifndef TSHMD_PEER_INT_H
#define TSHMD_PEER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <ucp/api/ucp.h>

#include "peer.h"
#include "peer_proto.h"
#include "tshm.h"

/* Timing of the link: a side that hears nothing for PEER_DEAD_NS calls the
 * link dead; each side pings after PEER_PING_NS of silence; a handshake must
 * finish within PEER_HANDSHAKE_NS; a sender retries after PEER_RETRY_MIN_NS,
 * doubling to PEER_RETRY_MAX_NS. */
#define PEER_PING_NS 1000000000ull
#define PEER_DEAD_NS 5000000000ull
#define PEER_HANDSHAKE_NS 10000000000ull
#define PEER_RETRY_MIN_NS 1000000000ull
#define PEER_RETRY_MAX_NS 10000000000ull
/* Frames of a stream in flight from one sender (sent, not yet acknowledged):
 * the bound on what a mirror holds of a block-policy stream. */
#define PEER_STREAM_WINDOW 4u
/* Versions and frames up to this size are copied out under the seqlock and
 * sent known whole, in one message (UCX copies such small sends anyway);
 * larger ones go from the segment's memory, with a COMMIT after. */
#define PEER_SMALL_MAX 65536u
/* Active-message ids we register a handler for: ours and every other id
 * below, so that no id a peer sends finds an empty slot of UCX's table. */
#define PEER_AM_IDS 64u
/* Messages queued on one link, waiting for the mirror to take them. A
 * well-behaved sender has at most a window of DATA and their COMMITs and a
 * PING or two out; one that floods (not waiting for ACKs) fails its link. */
#define PEER_MAX_QUEUED (4u * PEER_STREAM_WINDOW + 8u)
/* Connections that have not authenticated yet, at once; from one address;
 * and how long one may stay silent before its HELLO. */
#define PEER_MAX_PENDING 64u
#define PEER_MAX_PENDING_PER_HOST 8u
#define PEER_HELLO_NS 2000000000ull
/* Supplementary groups of a mirror's requester kept for its checks. */
#define PEER_MAX_GROUPS 32u
/* Mirrors each way. */
#define PEER_MAX_MIRRORS 1024u

/* A message received, queued by the UCX callback for the thread's loop
 * (callbacks run inside ucp_worker_progress(), where we neither block nor
 * call back into UCX). */
struct peer_event {
        struct peer_event *next;
        struct tshm__peer_msg msg;
        void *data;    /* DATA: the payload (eager, kept) or the rendezvous descriptor */
        size_t length; /* its bytes */
        bool rndv;     /* data is a descriptor: fetch it with ucp_am_recv_data_nbx() */
};

/* A message being sent: its encoded header lives until UCX is done. */
struct peer_send {
        struct peer_link *link; /* NULL once the link is gone */
        uint32_t am;
        uint64_t seq;
        bool whole; /* a DATA known whole: no COMMIT follows */
        char header[TSHM_PEER_MAX_HEADER];
        size_t header_len;
};

/* One endpoint and the messages it has received. A link's owner is freed
 * only once no send or receive of it is in flight (UCX calls back for each,
 * with an error after a forced close). */
struct peer_link {
        struct mirror_out *out; /* its owner: one of these */
        struct mirror_in *in;
        /* A send or receive of this link completed (@ok false: it failed). */
        void (*on_sent)(struct peer_link *link, const struct peer_send *s, bool ok);
        ucp_ep_h ep;
        struct peer_event *head, *tail;
        uint32_t queued;    /* events in the queue: a sender that does not wait for
                               ACKs is cut off at PEER_MAX_QUEUED */
        bool failed;        /* UCX reported an error on ep */
        uint64_t heard_ns;  /* when we last heard from the other side */
        uint64_t pinged_ns; /* when we last sent anything */
        uint32_t sends;     /* sends and receives in flight */
};

struct tshmd_peers;

/* An outgoing mirror as configured. */
struct peer_cfg {
        char name[TSHM_NAME_MAX + 1];
        char peer[TSHM_PEER_MAX + 1];
        char remote[TSHM_NAME_MAX + 1];
        /* Who asked for it: the source must stay readable to them. */
        uint32_t uid, gid;
        uint32_t groups[PEER_MAX_GROUPS];
        uint32_t ngroups;
};

/* An outgoing mirror (mirror_out.c). */
struct mirror_out {
        struct mirror_out *next;
        struct tshmd_peers *peers;
        tshm_mirror_info info; /* under peers->lock */
        bool stop;             /* removed: close and free */
        enum {
                OUT_IDLE,  /* not connected: connect at next_try_ns */
                OUT_HELLO, /* HELLO sent, waiting for CHALLENGE */
                OUT_OPEN,  /* OPEN sent, waiting for OPENED */
                OUT_LIVE,
                OUT_FAILED, /* refused for good */
        } state;
        uint64_t next_try_ns, backoff_ns, deadline_ns;
        uint64_t checked_ns; /* when the requester's read access was last checked */
        bool ever_live;
        uint8_t nonce[TSHM_PEER_NONCE];
        struct peer_link link;
        /* The source, opened through the peer thread's own client. */
        tshm_seg *seg;  /* an array, or the stream subscribed to (sub's) */
        tshm_sub *sub;  /* a stream */
        ucp_mem_h memh; /* the source's memory, registered */
        bool stream;
        bool block; /* a stream under the block policy */
        uint64_t nbytes;
        struct peer_cfg cfg; /* as the table had it */
        /* Arrays: the version in flight (DATA sent, COMMIT not yet ACKed). */
        bool inflight, inflight_torn;
        uint64_t inflight_seq, acked_seq, sent_seq;
        /* Streams: frames sent and not acknowledged, oldest first. */
        tshm_frame frames[PEER_STREAM_WINDOW];
        bool frame_sent[PEER_STREAM_WINDOW]; /* released: UCX is done with the slot */
        bool frame_torn[PEER_STREAM_WINDOW]; /* its COMMIT said not whole */
        unsigned nframes;
        unsigned window; /* frames in flight at most: the subscription's depth */
        /* Small versions and frames: copied out here (PEER_STREAM_WINDOW
         * frames, used as a ring, or one version). */
        uint8_t *small;
        unsigned small_next;
        /* Waiting for the source in a thread of its own (futex waits do not
         * mix with epoll): it writes the peers' eventfd on each version. */
        pthread_t waiter;
        bool waiting;
        volatile int waiter_quit;
};

/* An incoming mirror: a copy we keep (mirror_in.c). The record outlives its
 * link, as a stale copy, until the sender reconnects or the copy is gone. */
struct mirror_in {
        struct mirror_in *next;
        struct tshmd_peers *peers;
        tshm_mirror_info info; /* under peers->lock */
        enum {
                IN_HELLO, /* waiting for HELLO */
                IN_OPEN,  /* CHALLENGE sent, waiting for OPEN */
                IN_LIVE,
                IN_STALE, /* no link: the copy no longer follows */
        } state;
        uint64_t deadline_ns;
        uint64_t checked_ns;         /* when we last checked the copy is still linked */
        ucp_conn_request_h conn_req; /* accepted, endpoint not made yet */
        char host[64];               /* the sender's address (cut at 63), for the pending caps */
        uint8_t nonce_s[TSHM_PEER_NONCE], nonce_r[TSHM_PEER_NONCE];
        struct peer_link link;
        bool has_link;
        tshm_seg *seg;
        bool stream;
        uint64_t nbytes;
        void *staging; /* arrays: a version lands here first */
        /* The version or frame being received. */
        struct peer_event *cur;   /* its DATA */
        void *dest;               /* where its bytes go (staging or a loaned slot) */
        bool loaned;              /* dest is a loaned slot */
        bool receiving, received; /* fetch started / done */
        bool committed, whole;    /* COMMIT came / said whole */
        void *recv_req;
};

/* What each active-message handler gets: which id it is for. */
struct peer_am_arg {
        struct tshmd_peers *peers;
        uint32_t am;
};

struct tshmd_peers {
        pthread_t thread;
        struct peer_am_arg am_args[PEER_AM_IDS];
        bool started;
        int wake_fd; /* eventfd: the main loop and the waiters ring it */
        volatile int quit;
        pthread_mutex_t lock; /* the mirror lists and their info, the config table */
        /* The UCX worker and every mirror's state: the peer thread holds it
         * all the time but while it sleeps; a waiter tries it to send a
         * small version itself (mirror_out.c); tshmd_peer_stop takes it
         * once the thread is gone. The worker is UCS_THREAD_MODE_SERIALIZED. */
        pthread_mutex_t work;
        /* The configuration of outgoing mirrors, as the main loop keeps it
         * (saved in the state directory): the thread follows it. */
        struct peer_cfg *cfg;
        size_t ncfg;
        bool cfg_changed;
        int state_fd; /* the daemon's state directory (not ours: do not close) */
        char state_file[64];
        /* The copies this daemon made for peers (by name; saved as
         * <prefix>.copies): only these are ever written by a mirror, even
         * if another segment has the owner and geometry of one. */
        char (*copies)[TSHM_NAME_MAX + 1];
        size_t ncopies;
        char copies_file[64];
        /* The thread's own. */
        struct mirror_out *outs;
        struct mirror_in *ins;
        ucp_context_h ctx;
        ucp_worker_h worker;
        ucp_listener_h listener;
        int ucp_fd;
        uint8_t secret[4096];
        size_t secret_len;
        uint32_t copy_uid;
        uint64_t poll_ns;   /* --peer-poll-us, in ns: poll this long after work */
        uint64_t worked_ns; /* the last version or frame sent, received or acked */
        char socket_path[108];
        char listen_addr[TSHM_PEER_MAX + 1]; /* --peer-listen, "" for none */
        uint64_t listen_tried_ns;            /* the last try to bind it */
        char hostname[64];
        tshm_client *client; /* our own connection to this daemon */
        uint64_t now_ns;
};

/* peer_table.c: read the saved table of outgoing mirrors (lines that do
 * not parse are logged and skipped). */
void peer_cfg_load(struct tshmd_peers *p);

/* peer_link.c */
uint64_t peer_now_ns(void);
/* Set @info's state and error under the lock. */
void peer_set_state(struct tshmd_peers *p, tshm_mirror_info *info, uint32_t state, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
/* Wake the peer thread (its eventfd), from any thread; take the wake-ups
 * (the thread, before it looks at what changed). */
void peer_ring(struct tshmd_peers *p);
void peer_drain(struct tshmd_peers *p);
/* Write a file of the state directory whole or not at all: begin opens
 * @name.tmp (its name in @tmp) for writing, commit flushes it to disk and
 * renames it over @name. begin returns NULL (errno set) on failure; commit
 * returns 0 or a negative errno. */
FILE *peer_state_begin(struct tshmd_peers *p, const char *name, char *tmp, size_t tmplen);
int peer_state_commit(struct tshmd_peers *p, FILE *f, const char *tmp, const char *name);
/* The thread's client of this daemon, connecting first if need be; NULL
 * when the daemon cannot be reached. */
tshm_client *peer_client(struct tshmd_peers *p);
/* tshm_stat() of @name through it (TSHM_ENODAEMON without one); a broken
 * connection is dropped, to be made again by the next call. */
int peer_stat(struct tshmd_peers *p, const char *name, tshm_info *info);
/* Encode @m and send it on @link (DATA with @data/@len, registered as
 * @memh or NULL). Returns 0 or a negative code (the link is then failed).
 * The send's completion calls mirror_{out,in}_sent() through the link's
 * owner. */
int peer_send(struct tshmd_peers *p, struct peer_link *link, const struct tshm__peer_msg *m,
              const void *data, size_t len, ucp_mem_h memh);
/* Set @ep's error handling to report to @link. */
void peer_ep_params(struct peer_link *link, ucp_ep_params_t *ep);
/* Close @link's endpoint (forcibly), free its queued events and detach its
 * sends. */
void peer_link_close(struct tshmd_peers *p, struct peer_link *link);
/* Take the oldest event of @link, or NULL. */
struct peer_event *peer_link_pop(struct peer_link *link);
/* Take @ev out of @link's queue (@prev: the event before it, or NULL). */
void peer_link_unlink(struct peer_link *link, struct peer_event *prev, struct peer_event *ev);
void peer_event_free(struct tshmd_peers *p, struct peer_event *ev);
/* Parse "HOST:PORT" or "[V6]:PORT" into @host and @port; 0 or TSHM_EINVAL. */
int peer_addr_split(const char *addr, char *host, size_t hostlen, char *port, size_t portlen);

/* peer_auth.c */
/* Read the secret file @path (checked: a regular file owned by us, no group
 * or other bits, 16 to 4096 bytes; a trailing newline is not part of it).
 * Returns 0 or a negative code with the reason in @err. */
int peer_secret_load(struct tshmd_peers *p, const char *path, char *err, size_t errlen);
/* HMAC-SHA256 over @label, @a and @b (nonces), into @mac. */
void peer_mac(const struct tshmd_peers *p, const char *label, const uint8_t *a, const uint8_t *b,
              uint8_t mac[TSHM_PEER_MAC]);
/* Whether @mac is that MAC (in constant time). */
bool peer_mac_ok(const struct tshmd_peers *p, const char *label, const uint8_t *a, const uint8_t *b,
                 const uint8_t mac[TSHM_PEER_MAC]);
/* Fill @nonce with random bytes; 0 or TSHM_EIO. */
int peer_nonce(uint8_t nonce[TSHM_PEER_NONCE]);

/* mirror_out.c */
struct mirror_out *mirror_out_new(struct tshmd_peers *p, const struct peer_cfg *cfg);
/* Advance @m: connect, send, time out. Returns true if it did something. */
bool mirror_out_poll(struct mirror_out *m);
/* Close everything and free @m. */
void mirror_out_free(struct mirror_out *m);

/* mirror_in.c */
/* A peer connected: a new record waiting for HELLO, or NULL (too many). */
struct mirror_in *mirror_in_accept(struct tshmd_peers *p, ucp_conn_request_h req);
bool mirror_in_poll(struct mirror_in *m);
/* Read the list of copies this daemon made (at start). */
void mirror_in_load_copies(struct tshmd_peers *p);
/* Whether @m should be freed (a link that never authenticated, or a copy
 * that is gone). */
bool mirror_in_done(const struct mirror_in *m);
void mirror_in_free(struct mirror_in *m);
/* Whether one of @p's receivers is waiting for a stream slot (the loop then
 * polls every millisecond: a subscriber's release wakes nobody). */
bool mirror_in_backpressured(const struct tshmd_peers *p);

#endif
