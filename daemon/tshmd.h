/*
 * tshmd.h - the daemon's internal structures, shared by its files.
 *
 * One libuv loop, one thread. The registry holds what tshmd knows of each
 * segment; the shm objects hold the data and a header that says the same, so
 * that a restarted daemon can adopt them. tshmd keeps no descriptor or
 * mapping per segment: it opens the object by name when a client asks.
 */
#ifndef TSHMD_H
#define TSHMD_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "alloc.h"

/* uthash exits on OOM unless told otherwise; tshmd must not. After an add,
 * tshmd_hash_oom says whether it failed (single-threaded, so a global). */
extern int tshmd_hash_oom;
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (tshmd_hash_oom = 1)
/* Its tables allocate through tshm's allocator too, so the OOM walk covers
 * them (alloc.h). */
#define uthash_malloc(sz) tshm__malloc(sz)
#define uthash_free(ptr, sz) tshm__free(ptr)
/* Every table hashes with SipHash-2-4 under a key drawn at start
 * (registry.c): names and ids are chosen by clients, and with a public hash
 * (uthash's Jenkins or FNV) they could pick keys that all land in one bucket
 * and turn every lookup into a walk of the whole table. */
extern uint8_t tshmd_hash_key[16];
unsigned tshmd_hash(const void *key, size_t len);
#define HASH_FUNCTION(keyptr, keylen, hashv) ((hashv) = tshmd_hash((keyptr), (size_t)(keylen)))
#include <uthash.h>
#include <uv.h>

#include "tshm.h"

#include "header.h"
#include "proto.h"

#define TSHMD_PREFIX_MAX 48 /* characters of --shm-prefix */

struct tshmd_config {
        char socket_path[108]; /* "": the default for this user */
        char config_path[512]; /* --config, read again on SIGHUP; "" for none */
        bool foreground;
        int log_level;                 /* syslog priority, LOG_ERR..LOG_DEBUG */
        uint64_t max_bytes;            /* 0: no budget */
        uint64_t max_segments;         /* 0: no limit */
        uint64_t max_bytes_per_uid;    /* 0: no limit */
        uint64_t max_segments_per_uid; /* 0: no limit */
        uint32_t max_clients;          /* connections at once */
        uint32_t max_opens;            /* open handles per connection */
        unsigned socket_mode;          /* permission bits of a socket we bind */
        gid_t socket_gid;              /* its group, or (gid_t)-1 to leave it */
        char shm_prefix[TSHMD_PREFIX_MAX + 1];
        char state_dir[512];   /* --state-dir; "": the default (state.c) */
        char shm_dir[512];     /* --shm-dir; "": /dev/shm (shmdir.c) */
        uint32_t cmdline_keys; /* a bit per flag given: --config never overrides them */
        /* Peers (peer.c, docs/remote.md). */
        char peer_listen[TSHM_PEER_MAX + 1]; /* --peer-listen ADDR:PORT; "": no listener */
        char peer_secret[512];               /* --peer-secret FILE; "": no mirrors either way */
        uint32_t peer_uid;                   /* --peer-uid: owner of the copies peers send us */
        bool has_peer_uid;                   /* else the daemon's own uid */
        uint32_t peer_poll_us;               /* --peer-poll-us: poll this long before a sleep */
};

enum tshmd_seg_state {
        TSHMD_SEG_CREATING, /* name reserved, object being made off the loop */
        TSHMD_SEG_READY,    /* named and openable */
        TSHMD_SEG_UNLINKED, /* name gone; alive while handles remain */
        /* A tensor group its creator fills: the name is taken, but only the
         * creator's handle sees it; publish makes it READY (ops_group.c). */
        TSHMD_SEG_UNPUBLISHED,
};

/* One segment. Allocated with its shape and name behind it. */
struct tshmd_seg {
        UT_hash_handle hh; /* by name, in creation order, while named */
        uint64_t serial;   /* creation order: the list cursor */
        uint64_t size;     /* bytes of the shm object, charged to the budget */
        uint64_t nbytes;   /* bytes of array data */
        uint64_t created_ns;
        uint32_t owner_uid, owner_gid, mode, flags;
        uint32_t opens;         /* handles open on it, all connections */
        uint32_t creator_pid;   /* ephemeral segments: who made it */
        uint64_t creator_start; /* and that process's start time */
        uint8_t dtype, ndim, state;
        uint64_t *shape;
        char *name;
        /* A stream (flags' kind TSHM_KIND_STREAM): its ring, and the
         * subscriber table (a memfd made on first attach; stream.c). */
        uint32_t slots, policy;
        uint32_t subscribers;
        int cur_fd;
        struct tshm__cur *cur;
        int ros_fd; /* the roster: who holds which entry (only we write it) */
        struct tshm__ros *ros;
        uint32_t sub_serial; /* subscriptions so far, for the roster's serials */
        /* A group (flags' kind TSHM_KIND_GROUP): its table of contents as
         * publish validated it (0 before). */
        uint32_t group_tensors;
        uint64_t group_toc_bytes;
        bool publishing; /* a publish is checking its table (ops_group.c) */
        /* Unlinked while open: the object's descriptor and inotify watch
         * that guard.c keeps, to restore its size (NULL if none). */
        struct tshmd_kept *kept;
};

/* What one owner uses, for the per-uid budgets. */
struct tshmd_usage {
        UT_hash_handle hh; /* by uid */
        uint32_t uid;
        uint64_t bytes;    /* charged bytes of the segments it owns */
        uint64_t segments; /* named segments it owns */
};

/* What the registry runs on a segment it frees, so that the files which
 * hang state on a segment (stream.c's tables, guard.c's kept descriptor)
 * release it without the registry calling them: they are above it in the
 * daemon's layering (README.md, "Layout"). */
typedef void (*tshmd_seg_free_fn)(struct tshmd_seg *seg);
#define TSHMD_REGISTRY_HOOKS 4

struct tshmd_registry {
        struct tshmd_seg *by_name; /* uthash head */
        struct tshmd_usage *usage; /* uthash head, by owner uid */
        uint64_t next_serial;
        uint64_t segments; /* named segments (creating ones included) */
        uint64_t bytes;    /* charged bytes: named, creating and unlinked-but-open */
        uint64_t opens;
        tshmd_seg_free_fn on_free[TSHMD_REGISTRY_HOOKS]; /* run in order */
        unsigned non_free;
};

/* One open of a segment by a connection. */
struct tshmd_handle {
        UT_hash_handle hh; /* by id, in the connection's table */
        uint64_t id;
        struct tshmd_seg *seg;
        bool writable;
        uint32_t sub; /* a stream subscription: its index + 1, or 0 */
};

/* An ephemeral segment a connection created: removed when it closes, if it
 * is still the same segment (the serial tells). */
struct tshmd_ephemeral {
        struct tshmd_ephemeral *next;
        uint64_t serial;
        char name[];
};

/* A queued output frame; @fd (if >= 0) rides on its first byte. */
struct tshmd_out {
        struct tshmd_out *next;
        uint8_t *buf;
        size_t len, off;
        int fd;
};

struct tshmd_server;
struct tshmd_kept;

/* What tshmd may hold for clients that do not take their replies, counted
 * as allocated (buffers, queue entries and malloc's own overhead), not as
 * payload: a 30-byte reply costs far more than 30 bytes. Above a limit tshmd
 * handles no more requests from that connection (and stops reading it) until
 * its queue drains below TSHMD_QUEUE_LOW; a connection with nothing queued is
 * always served, so a client that reads its replies is never starved by one
 * that does not. Documented in tshmd(8). */
#define TSHMD_QUEUE_MAX_CONN (4u << 20) /* per connection */
#define TSHMD_QUEUE_LOW (1u << 20)      /* a throttled connection resumes below this */
#define TSHMD_QUEUE_MAX_UID (16u << 20) /* all connections of one uid */
#define TSHMD_QUEUE_MAX_ALL (64u << 20) /* all connections */

/* Queued bytes of all connections of one uid (conn.c). */
struct tshmd_uidq {
        UT_hash_handle hh; /* by uid, in the server's table */
        uint32_t uid;
        uint32_t conns; /* connections that point here */
        size_t queued;
};

/* Who a client is, as the kernel said at connect (SO_PEERCRED,
 * SO_PEERGROUPS): what every op's access check uses, never anything in a
 * message. A test forges one. */
struct tshmd_peer {
        pid_t pid; /* 0 if the kernel did not say (another pid namespace) */
        uid_t uid;
        gid_t gid;
        gid_t *groups; /* supplementary groups; owned by whoever made the peer */
        uint32_t ngroups;
};

struct tshmd_reply;
struct tshmd_session;
/* How an off-loop operation hands its reply in (tshmd_session_complete()). */
typedef void (*tshmd_complete_fn)(struct tshmd_session *ses, int rv, struct tshmd_reply *rep);

/* What one client holds in the daemon, apart from its socket: its handles,
 * the ephemeral segments it made, and the operations still running for it
 * off the loop. conn.c embeds one per connection; a unit test makes one
 * with no socket (session.c). */
struct tshmd_session {
        struct tshmd_peer peer;
        bool hello;                   /* handshake done */
        bool gone;                    /* no more replies: the client left or is being closed */
        unsigned pending;             /* off-loop operations still holding this session */
        tshmd_complete_fn complete;   /* where their replies go */
        struct tshmd_handle *handles; /* uthash head */
        struct tshmd_ephemeral *ephemerals; /* segments to remove when it ends */
        uint32_t nhandles;
        uint64_t next_handle;
};

/* One object gc found (gc.c), as the gc reply lists it. */
struct tshmd_gc_entry {
        char object[300]; /* "/<prefix>.<name>": a /dev/shm entry and its slash */
        char reason[100];
        bool removed;
};

/* What a success reply says, by op (the fields of its encoder in proto.h). */
enum tshmd_reply_kind {
        TSHMD_REPLY_EMPTY,   /* close, unlink, chmod, chown */
        TSHMD_REPLY_HELLO,   /* u.hello */
        TSHMD_REPLY_SEG,     /* create, stream_create, open: u.seg, with the fd */
        TSHMD_REPLY_ATTACH,  /* attach: u.attach, with the fd */
        TSHMD_REPLY_STAT,    /* u.stat */
        TSHMD_REPLY_LIST,    /* u.list */
        TSHMD_REPLY_DAEMON,  /* daemon_stat: u.daemon */
        TSHMD_REPLY_GC,      /* u.gc */
        TSHMD_REPLY_MIRRORS, /* u.mirrors */
};

/* How a handler takes back what it committed (a handle opened, a segment
 * made, a subscription taken) when its success reply cannot be encoded or
 * queued: the client is then told TSHM_ENOMEM, so the op must not have
 * happened. Plain data, so that the connection layer runs it without
 * knowing the handler. */
struct tshmd_undo;
typedef void (*tshmd_undo_fn)(const struct tshmd_undo *u);
struct tshmd_undo {
        tshmd_undo_fn fn; /* NULL: nothing to undo */
        struct tshmd_server *srv;
        struct tshmd_session *ses;
        struct tshmd_seg *seg; /* the segment the op made, or NULL */
        uint64_t handle;       /* the handle the op opened or used */
};

/* What a handler decided (reply.c). A handler returns 0 with a success
 * reply described by @kind and @u (and a descriptor to pass in @fd), a
 * negative TSHM_E* with its detail in @msg ("" for none), or TSHMD_PENDING
 * when the reply comes later through tshmd_session_complete(). It never
 * encodes: the connection layer alone turns the reply into a frame
 * (tshmd_reply_encode) and sends it. The reply owns @fd and the arrays of
 * u.list, u.gc and u.mirrors (tshmd_reply_dispose() frees them). */
#define TSHMD_PENDING 1
#define TSHMD_ERRMSG_MAX 320
struct tshmd_reply {
        uint64_t id; /* the request's id */
        enum tshmd_reply_kind kind;
        union {
                struct {
                        uint32_t version;
                } hello;
                struct {
                        uint64_t handle, size;
                        tshm_dtype dtype;
                        uint32_t ndim;
                        uint64_t shape[TSHM_MAX_NDIM];
                        uint32_t slots, policy; /* slots 0: an array */
                        uint32_t kind;          /* tshm_seg_kind */
                } seg;
                struct {
                        uint64_t entry; /* the subscriber entry, or UINT32_MAX */
                        uint64_t size;  /* bytes to map of the fd */
                } attach;
                struct {
                        tshm_info info;
                        bool has_stream;
                        tshm_stream_info stream;
                } stat;
                struct {
                        tshm_info *infos; /* tshm__malloc'd, owned */
                        uint32_t count;
                        uint64_t next; /* the cursor to resume from; 0: complete */
                } list;
                tshm_daemon_info daemon;
                struct {
                        struct tshmd_gc_entry *items; /* tshm__malloc'd, owned */
                        uint32_t count;
                } gc;
                struct {
                        tshm_mirror_info *items; /* tshm__malloc'd, owned */
                        uint32_t count;
                } mirrors;
        } u;
        int fd;                     /* rides on a success reply; the reply owns it; -1: none */
        bool close;                 /* close the connection once this reply is sent */
        struct tshmd_undo undo;     /* run if a success reply cannot be sent */
        char msg[TSHMD_ERRMSG_MAX]; /* an error's detail */
};

/* A frame ready to queue (tshmd_reply_encode). */
struct tshmd_frame {
        uint8_t *buf; /* the whole frame, length prefix included; tshm__free() */
        size_t len;
        int fd;     /* to pass with it, or -1 */
        int status; /* what the frame says: 0, or the error it carries */
};

struct tshmd_conn {
        uv_poll_t poll;
        int fd;
        uint64_t serial; /* for logs */
        struct tshmd_server *srv;
        struct tshmd_conn *prev, *next;
        struct tshmd_session ses; /* credentials, handles, pending operations */
        bool closing;             /* uv_close issued */
        bool close_on_drain;      /* a fatal error reply is queued */
        struct tshm__frame_reader rd;
        struct tshmd_out *out_head, *out_tail;
        size_t queued;           /* allocated for out_head... and the stash */
        size_t queued_peak;      /* the most it held: a big queue is trimmed when freed */
        bool throttled;          /* over a queue limit: waits for TSHMD_QUEUE_LOW */
        struct tshmd_uidq *uidq; /* this uid's total */
        /* Bytes read but not yet handled because the connection was
         * throttled in the middle of a read (at most CONN_READ_CHUNK). */
        uint8_t *stash;
        size_t stash_len, stash_off;
        unsigned poll_events;
};

/* The directory that holds the segments' objects (shmdir.c). Set before
 * the loop and the thread pool start, read-only after. */
struct tshmd_shmdir {
        int fd;                /* the directory, open */
        char path[512];        /* as given, for messages and inotify */
        uint32_t backing;      /* tshm_backing */
        uint64_t base_page;    /* the base page size */
        uint64_t huge_size;    /* its huge page size; 0 without huge pages */
        bool huge_within_size; /* huge pages only where one fits in the object */
};

struct tshmd_server {
        uv_loop_t *loop;
        struct tshmd_config *cfg;
        struct tshmd_shmdir shm; /* where objects live */
        struct tshmd_registry reg;
        uv_poll_t listen_poll;
        uv_timer_t accept_timer; /* resumes accepting after EMFILE */
        uv_poll_t guard_poll;    /* inotify on the shm directory (guard.c) */
        int guard_fd;
        bool guarding;
        uint64_t resizes_undone; /* segments a client resized and we restored */
        uint8_t seal_key[16];    /* seal.c, kept in the state directory (state.c) */
        int state_fd;            /* the state directory, open (state.c) */
        int lock_fd;             /* <state-dir>/<prefix>.lock, locked while we run */
        struct tshmd_kept *kept; /* guard.c: unlinked segments watched, by watch descriptor */
        struct tshmd_restore *restoring; /* guard.c: restores running in the thread pool */
        int listen_fd;
        bool listening;
        bool owns_socket_path; /* we bound it: unlink it at exit */
        char socket_path[108];
        struct tshmd_conn *conns;
        struct tshmd_uidq *uidqs; /* uthash head: queued bytes per uid */
        size_t queued;            /* queued bytes of every connection */
        uint32_t nconns;
        uint64_t next_conn;
        uint64_t requests;
        uint64_t started_ns; /* CLOCK_MONOTONIC */
        uv_signal_t sig_term, sig_int, sig_hup;
        bool stopping;
        struct tshmd_pidwatch *pidwatches; /* sync.c: exits of lock holders to wait for */
        /* ops_group.c: the one publish whose table is checked in the thread
         * pool, and those waiting for their turn (oldest first). */
        struct tshmd_publish *publish_running;
        struct tshmd_publish *publish_head, *publish_tail;
        struct tshmd_peers *peers; /* peer.c: mirrors over UCX; NULL when not configured */
};

/* config.c */
/* The defaults; the shm prefix is tshmd_config_default_prefix(geteuid()). */
void tshmd_config_defaults(struct tshmd_config *cfg);
/* The default --shm-prefix of a daemon running as @uid: "tshm" for root,
 * "tshm-<uid>" for anyone else, so that two users' daemons never share a
 * prefix (whose objects neither could adopt). @buf holds at least
 * TSHMD_PREFIX_MAX + 1 bytes. */
void tshmd_config_default_prefix(uid_t uid, char *buf, size_t len);
/* Returns 0 to run, 1 to exit 0 (--help, --version), -1 to exit 2 (after
 * saying why on stderr). */
int tshmd_config_parse_args(struct tshmd_config *cfg, int argc, char **argv);
/* Read a settings file into @cfg, all or nothing; with @reload only the
 * settings SIGHUP may change (log level, limits). */
int tshmd_config_load(struct tshmd_config *cfg, const char *path, bool reload, char *err,
                      size_t errlen);

/* log.c */
void tshmd_log_init(int level, bool syslog_mode);
void tshmd_log_set_level(int level);
/* Every log line is rate-limited per call site: a client can make tshmd
 * repeat any line (a refusal, a repaired header, a resize undone) as often as
 * it likes, and the journal must not pay for it. A call site logs at most
 * TSHMD_LOG_BURST lines per TSHMD_LOG_WINDOW_MS; the next line after a quiet
 * window says how many were suppressed. */
#define TSHMD_LOG_BURST 10
#define TSHMD_LOG_WINDOW_MS 5000
struct tshmd_log_limit {
        uint64_t window_ns; /* CLOCK_MONOTONIC start of the current window */
        uint32_t lines;     /* lines logged in it */
        uint32_t dropped;   /* lines suppressed since the last one logged */
};
void tshmd_log_limited(struct tshmd_log_limit *lim, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define tshmd_log(prio, ...)                                                                       \
        do {                                                                                       \
                static struct tshmd_log_limit tshmd_log_limit_;                                    \
                tshmd_log_limited(&tshmd_log_limit_, (prio), __VA_ARGS__);                         \
        } while (0)
/* Lines suppressed by the limit so far (for tests and `tshm stats`). */
uint64_t tshmd_log_suppressed(void);

/* notify.c: the service manager's datagram protocol (sd_notify). */
int tshmd_notify(const char *state);

/* shmdir.c: the directory of the objects. */
/* Open @path ("" or NULL: /dev/shm), check that it is safe (owned by root or
 * us; sticky if others may write) and on a tmpfs, and find its page size.
 * Returns 0, or an error with the reason in @err. */
int tshmd_shmdir_open(struct tshmd_shmdir *dir, const char *path, char *err, size_t errlen);
void tshmd_shmdir_close(struct tshmd_shmdir *dir);
/* The backing (tshm_backing) and page size of an object of @size bytes. */
void tshmd_shmdir_describe(const struct tshmd_shmdir *dir, uint64_t size, uint32_t *ret_backing,
                           uint64_t *ret_page_size);
const char *tshmd_shmdir_backing_name(uint32_t backing);
/* The size of the object that holds @size bytes: @size, rounded up to whole
 * pages on hugetlbfs. */
uint64_t tshmd_shmdir_objsize(const struct tshmd_shmdir *dir, uint64_t size);
/* Open the object @objname ("/<entry>") of the directory, never through a
 * link. Returns a descriptor or -errno. */
int tshmd_shmdir_open_object(const struct tshmd_shmdir *dir, const char *objname, int flags,
                             mode_t mode);
/* A fresh listing of the directory (closedir() it), or NULL and errno. */
DIR *tshmd_shmdir_list(const struct tshmd_shmdir *dir);

/* shm.c: the POSIX shm objects, "/<prefix>.<name>" in the shm directory. */
int tshmd_shm_objname(const char *prefix, const char *name, char *out, size_t outlen);
/* Make the object for @hdr: create, reserve @size bytes, write the header.
 * Blocking (runs off the loop). Returns an O_RDWR descriptor or an error,
 * with a reason in @err. */
int tshmd_shm_make(const struct tshmd_shmdir *dir, const char *objname, const struct tshm__hdr *hdr,
                   uint64_t size, char *err, size_t errlen);
/* Open the object for a client: refused (TSHM_EBADHDR) unless it has @size
 * bytes. */
int tshmd_shm_open(const struct tshmd_shmdir *dir, const char *objname, bool writable,
                   uint64_t size);
/* Open the object read-write whatever its size (for repairs). */
int tshmd_shm_open_rw(const struct tshmd_shmdir *dir, const char *objname);
int tshmd_shm_unlink(const struct tshmd_shmdir *dir, const char *objname);
/* Whether the sealed fields of the header behind @fd are those of @want. */
bool tshmd_shm_header_intact(int fd, const struct tshm__hdr *want);
/* Write the sealed fields of @hdr into the object (not the seq line). */
int tshmd_shm_write_header(const struct tshmd_shmdir *dir, const char *objname,
                           const struct tshm__hdr *hdr);
uint64_t tshmd_shm_free_bytes(const struct tshmd_shmdir *dir);
/* Find the objects under @prefix in the directory and register the valid
 * ones. */
void tshmd_shm_adopt(const struct tshmd_shmdir *dir, struct tshmd_registry *reg, const char *prefix,
                     const uint8_t key[16]);

/* state.c: the daemon's own directory (--state-dir, 0700, ours), which
 * holds what must not be in /dev/shm: the seal key "<prefix>.key" and the
 * lock "<prefix>.lock" that keeps a second daemon off the same prefix.
 * The default state directory of a daemon running as @euid: $STATE_DIRECTORY
 * (systemd's StateDirectory=, the first of a ':' list), else /var/lib/tshm
 * for root, else $XDG_STATE_HOME/tshm or $HOME/.local/state/tshm. */
int tshmd_state_default_dir(uid_t euid, char *buf, size_t len);
/* Open (making it if missing) and check the state directory, take the lock,
 * and read or make the seal key into srv->seal_key. Logs why it fails:
 * another daemon holds the lock (TSHM_EEXIST, naming its pid), or a file or
 * directory that is not ours or is open to others (TSHM_EACCES). */
int tshmd_state_open(struct tshmd_server *srv);
void tshmd_state_close(struct tshmd_server *srv);

/* adopt.c: whether an object under the prefix is one of our segments. Pure
 * (no system calls): shm.c gathers the facts, tests/fuzz/fuzz_adopt.c
 * feeds it anything. */
struct tshmd_adopt_obj {
        const char *entry;  /* its name in the shm directory, without the '/' */
        uint32_t mode;      /* st_mode of an fstat through a descriptor */
        uint32_t uid;       /* st_uid */
        uint64_t size;      /* st_size */
        uint64_t page;      /* hugetlbfs: sizes are whole pages of this many bytes; else 0 */
        const uint8_t *hdr; /* the first @hdr_len bytes of it */
        size_t hdr_len;
};
enum tshmd_adopt_verdict {
        TSHMD_ADOPT_OK,
        TSHMD_ADOPT_NOT_OURS_NAME, /* not "<prefix>.<name>" */
        TSHMD_ADOPT_NOT_REGULAR,
        TSHMD_ADOPT_NOT_OWNER,
        TSHMD_ADOPT_BAD_MODE,
        TSHMD_ADOPT_BAD_HEADER,
        TSHMD_ADOPT_WRONG_NAME,
        TSHMD_ADOPT_BAD_SIZE,
        TSHMD_ADOPT_BAD_SEAL,
};
/* TSHMD_ADOPT_OK and the header in *ret_hdr when @obj is a segment a daemon
 * running as @euid with @key made under @prefix; else why not (*ret_hdr
 * untouched). */
enum tshmd_adopt_verdict tshmd_adopt_check(const struct tshmd_adopt_obj *obj, const char *prefix,
                                           uint32_t euid, const uint8_t key[16],
                                           struct tshm__hdr *ret_hdr);
const char *tshmd_adopt_reason(enum tshmd_adopt_verdict v);

/* seal.c: the daemon's MAC over the header fields it owns. */
/* SipHash-2-4 of @len bytes under @key (the reference algorithm). */
uint64_t tshmd_seal_siphash(const uint8_t key[16], const uint8_t *in, size_t len);
uint64_t tshmd_seal_compute(const uint8_t key[16], const struct tshm__hdr *hdr);
void tshmd_seal(const uint8_t key[16], struct tshm__hdr *hdr);
bool tshmd_seal_ok(const uint8_t key[16], const struct tshm__hdr *hdr);
/* The header @seg should have, sealed. */
void tshmd_seal_header_of(const struct tshmd_seg *seg, const uint8_t key[16],
                          struct tshm__hdr *hdr);

/* guard.c: restore segments a client resized. */
int tshmd_guard_start(struct tshmd_server *srv);
void tshmd_guard_stop(struct tshmd_server *srv);
/* @seg (object @objname) is about to lose its name while handles are open:
 * keep a descriptor of the object and watch it, so that its size is still
 * restored after the name is gone. Best effort (logs why it cannot). */
void tshmd_guard_keep(struct tshmd_server *srv, struct tshmd_seg *seg, const char *objname);
/* @seg is being freed: drop what tshmd_guard_keep() kept. */
void tshmd_guard_forget(struct tshmd_seg *seg);

/* gc.c */
/* A process's start time in clock ticks since boot, or 0 if it is gone. */
uint64_t tshmd_gc_start_time(pid_t pid);
bool tshmd_gc_creator_alive(uint32_t pid, uint64_t start);
/* Scan /dev/shm under the prefix for stale objects (at most
 * TSHM_PROTO_LIST_PAGE) and remove them if asked; what was found in
 * *ret_items (tshm__malloc'd, the caller frees it; NULL when none) and
 * *ret_count. */
int tshmd_gc_scan(struct tshmd_server *srv, bool remove, struct tshmd_gc_entry **ret_items,
                  uint32_t *ret_count);

/* seg.c: what is done to a segment beyond the registry's books. */
/* The named segment @name, ready to open, or NULL with TSHM_ENOENT set in
 * @rep (the caller returns TSHM_ENOENT). */
struct tshmd_seg *tshmd_seg_lookup(struct tshmd_server *srv, const char *name,
                                   struct tshmd_reply *rep);
/* Fill @rep with the success reply of a create or an open of @seg: the
 * handle @handle, the registry's geometry, and @fd (which @rep owns from
 * now on). */
void tshmd_seg_reply(const struct tshmd_seg *seg, uint64_t handle, int fd, struct tshmd_reply *rep);
/* What stat and list say of @seg: the registry's facts, and the backing and
 * page size of the directory it lives in. */
void tshmd_seg_info(const struct tshmd_server *srv, const struct tshmd_seg *seg, tshm_info *info);
/* The shm object's name of @seg under the server's prefix. */
void tshmd_seg_objname(const struct tshmd_server *srv, const struct tshmd_seg *seg, char *out,
                       size_t outlen);
/* Remove a named segment: mark it unlinked for waiters, keep its size
 * guarded while it is mapped, unlink the object and take the name away
 * (unlink's work, and that of an ephemeral segment's end). */
int tshmd_seg_remove(struct tshmd_server *srv, struct tshmd_seg *seg);
/* Before handing @seg out through @fd, make sure its header says what the
 * registry does (a writer may have scribbled on it); repair it if not. */
void tshmd_seg_check_header(struct tshmd_server *srv, const struct tshmd_seg *seg, int fd);
/* Whether @seg is a tensor group, and whether it is one nobody but its
 * creator may see yet (ops_group.c publishes it). */
bool tshmd_seg_is_group(const struct tshmd_seg *seg);
bool tshmd_seg_unpublished(const struct tshmd_seg *seg);

/* stream.c: streams' subscriber tables. Made on the first attach
 * (tshmd_stream_table); a subscription takes an entry (tshmd_stream_join)
 * and ends when its handle closes (tshmd_stream_leave); a stream's stat;
 * the tables go with the segment (tshmd_stream_free, which
 * tshmd_stream_init() registers with the registry). */
void tshmd_stream_init(struct tshmd_registry *reg);
bool tshmd_stream_is(const struct tshmd_seg *seg);
int tshmd_stream_table(struct tshmd_seg *seg);
int tshmd_stream_join(struct tshmd_server *srv, pid_t pid, struct tshmd_seg *seg);
void tshmd_stream_leave(struct tshmd_handle *h);
void tshmd_stream_info(struct tshmd_server *srv, const struct tshmd_seg *seg,
                       tshm_stream_info *ret_info);
void tshmd_stream_free(struct tshmd_seg *seg);

/* hdrmap.c: tshmd's access to a segment's header page, which any O_RDWR
 * holder can truncate under it. Map the header page of @objname (or of the
 * object behind @fd) and run @fn on it with SIGBUS guarded: returns what
 * @fn returns, or TSHM_EBADHDR if the object is shorter than the page or an
 * access of @fn faulted, or -errno (-ENOENT: no such object). @fn does only
 * loads, stores, atomics and futex wakes on the page (no malloc, no
 * logging): a fault abandons it midway. Not reentrant; loop thread only. */
typedef int (*tshmd_hdrmap_fn)(struct tshm__hdr *hdr, void *arg);
int tshmd_hdrmap_run(const struct tshmd_shmdir *dir, const char *objname, tshmd_hdrmap_fn fn,
                     void *arg);
int tshmd_hdrmap_run_fd(int fd, tshmd_hdrmap_fn fn, void *arg);

/* sync.c: the daemon's part in publish/wait. Mark @objname unlinked in its
 * header and wake its waiters (before the name goes). */
void tshmd_sync_unlinked(const struct tshmd_shmdir *dir, const char *objname);
/* @c is closing and had @seg open for writing: if its process holds the
 * writer lock, break it once that process has exited (tshmd_sync_stop()
 * drops the watches that are still waiting). */
void tshmd_sync_release(struct tshmd_server *srv, const struct tshmd_peer *peer,
                        const struct tshmd_seg *seg);
void tshmd_sync_stop(struct tshmd_server *srv);

/* registry.c */
void tshmd_registry_init(struct tshmd_registry *reg);
void tshmd_registry_done(struct tshmd_registry *reg);
/* Run @fn on every segment the registry frees, after those registered
 * before (at most TSHMD_REGISTRY_HOOKS). */
void tshmd_registry_on_free(struct tshmd_registry *reg, tshmd_seg_free_fn fn);
struct tshmd_seg *tshmd_registry_find(struct tshmd_registry *reg, const char *name);
/* Check the budgets for a new segment of @size owned by @uid; a reason
 * goes in @err. */
int tshmd_registry_admit(const struct tshmd_registry *reg, const struct tshmd_config *cfg,
                         uint32_t uid, uint64_t size, char *err, size_t errlen);
/* Give @seg to another owner, moving its charges. */
int tshmd_registry_set_owner(struct tshmd_registry *reg, struct tshmd_seg *seg, uint32_t uid);
/* What @uid uses (zeros if nothing). */
void tshmd_registry_usage(const struct tshmd_registry *reg, uint32_t uid, uint64_t *ret_bytes,
                          uint64_t *ret_segments);
/* Allocate and register a segment described by @hdr, in @state. */
int tshmd_registry_add(struct tshmd_registry *reg, const struct tshm__hdr *hdr, uint64_t size,
                       enum tshmd_seg_state state, struct tshmd_seg **ret_seg);
/* Put the segments (and their serials, the list cursor) in creation order,
 * as 'list' promises: adoption registers them in directory order. Only
 * before any client is served. */
void tshmd_registry_sort_created(struct tshmd_registry *reg);
/* Take the name away (unlink or failed create); frees it if nothing holds
 * it. */
void tshmd_registry_unname(struct tshmd_registry *reg, struct tshmd_seg *seg);
void tshmd_registry_ref(struct tshmd_registry *reg, struct tshmd_seg *seg);
void tshmd_registry_unref(struct tshmd_registry *reg, struct tshmd_seg *seg);
void tshmd_registry_info(const struct tshmd_seg *seg, tshm_info *info);

/* session.c: a client's credentials and holdings, without its socket. */
/* Whether @peer is in group @gid (primary or supplementary). */
bool tshmd_peer_in_group(const struct tshmd_peer *peer, gid_t gid);
/* Whether @peer has the rights @want (r = 4, w = 2) on @seg, as for files. */
bool tshmd_peer_may(const struct tshmd_peer *peer, const struct tshmd_seg *seg, unsigned want);
/* Whether @peer may see @seg's metadata: the same rule as a read open. */
bool tshmd_peer_may_see(const struct tshmd_peer *peer, const struct tshmd_seg *seg);
/* A session for @peer (copied; its groups stay the caller's) whose
 * off-loop replies go to @complete. */
void tshmd_session_init(struct tshmd_session *ses, const struct tshmd_peer *peer,
                        tshmd_complete_fn complete);
/* The client left: drop its handles (breaking writer locks its process
 * may still hold once it exits, unless the daemon is stopping) and remove
 * its ephemeral segments. Replies of operations still pending are dropped
 * (ses->gone). */
void tshmd_session_end(struct tshmd_server *srv, struct tshmd_session *ses);
/* Register a new handle for @seg; its id in *ret_id. */
int tshmd_session_handle_new(struct tshmd_server *srv, struct tshmd_session *ses,
                             struct tshmd_seg *seg, bool writable, uint64_t *ret_id);
struct tshmd_handle *tshmd_session_handle_find(struct tshmd_session *ses, uint64_t id);
void tshmd_session_handle_close(struct tshmd_server *srv, struct tshmd_session *ses,
                                struct tshmd_handle *h);
/* Remember an ephemeral segment, to remove when the session ends. */
int tshmd_session_track_ephemeral(struct tshmd_session *ses, const struct tshmd_seg *seg);
/* Forget it again (a create that failed after it was tracked). */
void tshmd_session_untrack_ephemeral(struct tshmd_session *ses, const struct tshmd_seg *seg);
/* An off-loop operation ended with @rv and @rep: hand them to whoever
 * made the session (which owns @rep's contents from then on). */
void tshmd_session_complete(struct tshmd_session *ses, int rv, struct tshmd_reply *rep);

/* reply.c */
/* An empty reply to request @id: kind TSHMD_REPLY_EMPTY, no fd, no undo. */
void tshmd_reply_init(struct tshmd_reply *rep, uint64_t id);
/* Free what @rep owns (its fd, its list or gc array) and forget its undo;
 * @rep is then empty again, with the same id. */
void tshmd_reply_dispose(struct tshmd_reply *rep);
/* Set the error detail and return @status, for `return tshmd_reply_fail()`. */
int tshmd_reply_fail(struct tshmd_reply *rep, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Run @rep's undo, once (nothing if it has none). */
void tshmd_reply_undo(struct tshmd_reply *rep);
/* Encode the frame that answers a handler's @rv: the success reply @rep
 * describes (with its fd, taken out of @rep), or an error reply with
 * @rep->msg. A success that cannot be encoded is undone (tshmd_reply_undo)
 * and answered with the encoder's error instead (TSHM_ENOMEM; out->status
 * says which). Returns 0 with the frame in @out, or TSHM_ENOMEM when not
 * even an error frame could be encoded (out->buf NULL). Only the
 * connection layer's sending path (conn.c) and tests call it. */
int tshmd_reply_encode(struct tshmd_reply *rep, int rv, struct tshmd_frame *out);

/* ops.c: the op table. A handler decides and fills @rep; it never encodes
 * or sends. */
typedef int (*tshmd_handler_fn)(struct tshmd_server *srv, struct tshmd_session *ses,
                                const struct tshm__req *req, struct tshmd_reply *rep);
/* Decode the request in @payload and run its handler; returns what the
 * handler returned (or the decoding error), with @rep filled (rep->id set). */
int tshmd_ops_dispatch(struct tshmd_server *srv, struct tshmd_session *ses, const uint8_t *payload,
                       size_t len, struct tshmd_reply *rep);
/* The handlers, by concept. ops.c: hello. ops_seg.c: open, close, unlink.
 * ops_perm.c: chmod and chown. ops_info.c: stat, list, daemon_stat, gc.
 * ops_stream.c: attach. create.c: create and stream_create (pending when
 * the object is made in the thread pool). ops_group.c: publish (pending when
 * the table is checked in the thread pool). */
int tshmd_ops_hello(struct tshmd_server *srv, struct tshmd_session *ses,
                    const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_ops_open(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                   struct tshmd_reply *rep);
int tshmd_ops_close(struct tshmd_server *srv, struct tshmd_session *ses,
                    const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_ops_unlink(struct tshmd_server *srv, struct tshmd_session *ses,
                     const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_ops_chmod(struct tshmd_server *srv, struct tshmd_session *ses,
                    const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_ops_chown(struct tshmd_server *srv, struct tshmd_session *ses,
                    const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_ops_stat(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                   struct tshmd_reply *rep);
int tshmd_ops_list(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                   struct tshmd_reply *rep);
int tshmd_ops_daemon_stat(struct tshmd_server *srv, struct tshmd_session *ses,
                          const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_ops_gc(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                 struct tshmd_reply *rep);
int tshmd_ops_attach(struct tshmd_server *srv, struct tshmd_session *ses,
                     const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_create(struct tshmd_server *srv, struct tshmd_session *ses, const struct tshm__req *req,
                 struct tshmd_reply *rep);
/* ops_mirror.c: start, stop and list mirrors (peer.h). */
int tshmd_ops_mirror(struct tshmd_server *srv, struct tshmd_session *ses,
                     const struct tshm__req *req, struct tshmd_reply *rep);
int tshmd_ops_mirrors(struct tshmd_server *srv, struct tshmd_session *ses,
                      const struct tshm__req *req, struct tshmd_reply *rep);
/* ops_group.c: publish a tensor group. */
int tshmd_ops_publish(struct tshmd_server *srv, struct tshmd_session *ses,
                      const struct tshm__req *req, struct tshmd_reply *rep);

/* queue.c: a connection's output queue and what it costs, counted per
 * connection, per uid and in all (TSHMD_QUEUE_*). */
/* Count @c's queue with the others of @uid. */
int tshmd_queue_join(struct tshmd_server *srv, struct tshmd_conn *c, uid_t uid);
/* Leave the uid's count (freeing it with its last connection); NULL-safe
 * for a @c that never joined. @c->srv must be set. */
void tshmd_queue_leave(struct tshmd_conn *c);
/* Queue a finished frame (@buf is taken over) and an optional fd (taken
 * over too, closed on failure). */
int tshmd_queue_push(struct tshmd_conn *c, uint8_t *buf, size_t len, int fd);
/* Free the head of the queue, which was sent. */
void tshmd_queue_pop(struct tshmd_conn *c);
/* Charge or uncharge @p (an allocation, e.g. the read stash) to @c. */
void tshmd_queue_charge(struct tshmd_conn *c, void *p);
void tshmd_queue_uncharge(struct tshmd_conn *c, void *p);
/* Whether @c may have its next request handled (see TSHMD_QUEUE_MAX_CONN). */
bool tshmd_queue_may_handle(struct tshmd_conn *c);
/* Give back what the queue holds and leave the uid's count. */
void tshmd_queue_drop(struct tshmd_conn *c);

/* conn.c: the connection layer: frames in, replies out. */
void tshmd_conn_accept(struct tshmd_server *srv, int fd);
void tshmd_conn_close(struct tshmd_conn *c);

/* server.c */
int tshmd_server_start(struct tshmd_server *srv, uv_loop_t *loop, struct tshmd_config *cfg);
void tshmd_server_stop(struct tshmd_server *srv);

#endif /* TSHMD_H */
