/*
 * internal.h - libtshm's private structures and helpers.
 */
#ifndef TSHM_CLIENT_INTERNAL_H
#define TSHM_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "tshm.h"

#include "alloc.h"
#include "proto.h"
#include "sync.h"

struct tshm__slot;
struct tshm__cur;
struct tshm__ros;

#define TSHM_DEFAULT_TIMEOUT_MS 30000

struct tshm_client {
        pthread_mutex_t lock; /* serialises every call on this client */
        int fd;               /* the connection, or -1 once it broke */
        uint64_t next_id;
        uint64_t epoch; /* connections made so far, minus one */
        int timeout_ms;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        char errmsg[320];
        struct tshm_seg *segs; /* open segments (and subscriptions' segments) */
        /* References, under @lock: one held by the caller until
         * tshm_disconnect(), plus one per segment on @segs. The client is
         * freed when the last goes, so tshm_close() on one thread may race
         * tshm_disconnect() on another: each finds the client alive, and
         * @closed tells tshm_close() not to talk to the daemon. */
        unsigned refs;
        bool closed; /* tshm_disconnect() ran: the connection is gone for good */
};

struct tshm_seg {
        tshm_client *client; /* set once registered; holds a reference (client.c) */
        struct tshm_seg *prev, *next;
        uint64_t handle; /* the daemon's id for this open */
        uint64_t epoch;  /* the client's epoch when it was opened */
        void *map;
        size_t map_size;
        void *data;
        bool writable;
        /* A read-only open keeps the daemon's descriptor (O_RDONLY) for
         * tshm__seg_map_private() when tshm__keep_ro_fd is set (the Python
         * binding sets it); else -1, as for a read-write one, which never
         * needs it. One descriptor per read-only handle: re-asking the
         * daemon for it later would cost a round trip and a second holder. */
        int fd;
        char name[TSHM_NAME_MAX + 1];
        tshm_dtype dtype;
        size_t ndim;
        uint64_t nbytes;
        uint64_t span; /* data bytes tshm_seg_populate() may cover: nbytes, or a stream's ring */
        uint64_t shape[TSHM_MAX_NDIM];
        int64_t strides[TSHM_MAX_NDIM];
        /* Publish and wait (sync.c). */
        uint64_t spin_ns;   /* how long a wait spins before it sleeps */
        bool spin_chosen;   /* by tshm_seg_set_spin() or $TSHM_SPIN_NS: kept exactly */
        bool writing;       /* between tshm_write_begin() and its end */
        uint32_t write_tid; /* the thread that holds the writer lock */
        /* What waits for the lock through this handle saw of its holder
         * (segsync/sync.h); persists across calls. */
        struct tshm__sync_seen lock_seen;
        uint64_t write_seq; /* the odd seq of the write in progress */
        uint32_t kind;      /* tshm_seg_kind, as the daemon's reply says */
        /* A stream (stream.c); slots is 0 for an array. */
        uint32_t slots, policy;
        uint64_t stride;             /* bytes from one slot's data to the next */
        struct tshm__slot *ctl;      /* the slot table, in the mapping */
        struct tshm__cur *cur;       /* the subscriber table (a memfd), or NULL */
        const struct tshm__ros *ros; /* the roster (a memfd, mapped read-only), or NULL */
        bool loaned;                 /* between tshm_stream_loan() and publish/discard */
        uint64_t loan_frame;         /* the frame being filled */
        /* A block-policy producer's view of the roster while its gen holds:
         * which entries are held, and the frames whose slot every one of
         * them had released when it last looked (stream.c). */
        bool ros_known;
        uint32_t ros_gen;
        uint64_t ros_held;   /* bit i: roster entry i is held */
        uint64_t free_below; /* a frame below this has a free slot */
};

/* client.c: calls on a client, with c->lock held. A request and its reply
 * (and a descriptor that came with it); check and copy a name; map the
 * descriptor of a create or open reply and register the segment; set the
 * detail that tshm_errmsg() returns. */
int tshm__client_call(tshm_client *c, struct tshm__req *req, struct tshm__reply *reply,
                      int *ret_fd);
int tshm__client_name(tshm_client *c, struct tshm__req *req, const char *name);
/* A request on one name with no result (unlink, chmod, chown, mirror), the
 * lock taken here; TSHM_EINVAL for a NULL @c. */
int tshm__client_name_call(tshm_client *c, struct tshm__req *req, const char *name);
int tshm__client_attach(tshm_client *c, const struct tshm__reply *reply, int fd, bool writable,
                        const char *name, tshm_seg **ret_seg);
void tshm__client_errmsg(tshm_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Create a segment or stream (@req has op, dtype and, for a stream, slots
 * and policy; for a group, TSHM_PROTO_CREATE_GROUP in flags): check the
 * arguments, call, map. Takes c->lock itself. */
int tshm__client_create(tshm_client *c, struct tshm__req *req, const char *name, size_t ndim,
                        const uint64_t *shape, unsigned mode, unsigned flags, tshm_seg **ret_seg);

/* The stat request for @name (a stream's reply has has_stream set). Takes
 * c->lock itself. */
int tshm__client_stat(tshm_client *c, const char *name, struct tshm__reply *ret_reply);

/* stream.c: after a stream was opened for writing, fetch and map its
 * subscriber table (with c->lock held). Returns 0 or an error. */
int tshm__stream_attach_producer(tshm_client *c, tshm_seg *seg);
/* The count a sleeper on @seg's wake word keeps (TSHM_HDR_FLAG_WAKE_COUNTED:
 * the subscriber table's, mapped now if it was not), or NULL where
 * publishers always wake; *@ret_poll: the stream counts but its table could
 * not be mapped, so the caller must poll rather than sleep. */
uint32_t *tshm__stream_sleepers(tshm_seg *seg, bool *ret_poll);
/* Unmap a stream's subscriber table, if mapped. */
void tshm__stream_unmap(tshm_seg *seg);
/* Make @sub (tshm__sub_size() bytes) the subscription of entry @index of
 * @seg's tables (mapped into seg->cur and seg->ros): it starts where the
 * roster says. Returns 0, TSHM_EINVAL, TSHM_EPROTO (the roster does not
 * hold the entry) or TSHM_ETORN (it starts past a corrupt counter). Used by tshm_sub_open() and
 * the reader fuzz target. */
int tshm__sub_init(tshm_sub *sub, tshm_seg *seg, uint32_t index);
size_t tshm__sub_size(void);
/* For tshm_wait_any(): 1 if tshm_sub_take(@sub, 0, ...) would not wait (a
 * frame past @sub's cursor is published, or the take would fail: the entry
 * freed, the stream unlinked, its counter corrupt), TSHM_EINVAL if @sub holds
 * a frame, else 0 and in *@ret_after_seq the stream counter value past which
 * it will be ready. Reads the tables only; the waiter sleeps on @sub's
 * segment's wake word. */
int tshm__sub_ready(const tshm_sub *sub, uint64_t *ret_after_seq);

/* wait_any.c: make tshm_wait_any() use (@on) or stop using the fallback
 * that sleeps on one word, whatever the kernel and $TSHM_WAIT_ANY_FALLBACK
 * say; and whether it uses it now (also after it found no futex_waitv).
 * For tests. */
void tshm__wait_any_force_fallback(bool on);
bool tshm__wait_any_fallback(void);

/* conn.c: blocking socket I/O with a deadline. */
int tshm__conn_resolve_path(const char *arg, char *out, size_t outlen);
int tshm__conn_connect(const char *path, int timeout_ms, int *ret_fd);
int tshm__conn_send(int fd, const void *buf, size_t len, int64_t deadline_ms);
/* Whether the daemon has closed this connection (checked without blocking
 * before each request, so that a restarted daemon is found before a request
 * is lost to the old connection). */
bool tshm__conn_dead(int fd);
/* Read one frame: *ret_payload is in @buf when the frame fits there (the
 * replies to create, open and attach all do, so that nothing can fail for
 * memory between the daemon's doing them and the client's knowing), else
 * allocated (free it with tshm__free); a descriptor that arrived with it is
 * in *ret_fd (else -1, or TSHM__CONN_FD_DROPPED when the kernel dropped one
 * for want of a descriptor slot: MSG_CTRUNC). TSHM_ENOMEM means the frame
 * was read and dropped (and its descriptor closed): the connection is still
 * in step. */
#define TSHM__CONN_BUF 4096
#define TSHM__CONN_FD_DROPPED (-2)
int tshm__conn_recv(int fd, uint32_t max, int64_t deadline_ms, uint8_t buf[TSHM__CONN_BUF],
                    uint8_t **ret_payload, size_t *ret_len, int *ret_fd);
int64_t tshm__now_ms(void);

/* seg.c: map a descriptor of the segment @spec describes (name, dtype,
 * shape, slots, policy: the daemon's word); the geometry is computed from
 * @spec, never read from the header. Takes ownership of @fd (closed on every
 * path). Returns 0, TSHM_EPROTO (@spec is not a valid segment),
 * TSHM_EBADHDR (the object's size is not what @spec implies), or an error. */
struct tshm__seg_spec;
int tshm__seg_map(int fd, uint64_t size, bool writable, const struct tshm__seg_spec *spec,
                  tshm_seg **ret_seg);
void tshm__seg_free(tshm_seg *seg);
/* A private, copy-on-write mapping (MAP_PRIVATE, PROT_READ | PROT_WRITE)
 * of the data bytes [@offset, @offset + @len) of read-only @seg (offsets
 * from tshm_seg_data(); for a stream, anywhere in its ring). Writes through
 * it copy the page they touch into this process and reach nobody else; a
 * page not written yet still shows the producer's writes. Registered with
 * sigbus.c like every mapping libtshm makes. *@ret_data is the byte at
 * @offset; *@ret_base and *@ret_len are what tshm__seg_unmap_private()
 * takes. Returns 0, TSHM_EINVAL (@seg is writable, or the range is out of
 * it), TSHM_ENOMEM or -errno. Used by the Python binding's read-only
 * tensors. */
int tshm__seg_map_private(tshm_seg *seg, uint64_t offset, uint64_t len, void **ret_base,
                          size_t *ret_len, void **ret_data);
/* Whether read-only opens keep their descriptor for tshm__seg_map_private()
 * (false: TSHM_EINVAL there). Set once, before the first open. */
extern bool tshm__keep_ro_fd;
void tshm__seg_unmap_private(void *base, size_t len);
/* Give the pages of [@addr, @addr + @len), part of a mapping
 * tshm__seg_map_private() made, back to the object: the pages this process
 * wrote (copied, so anonymous now) are dropped, and read the object's bytes
 * again; pages never written are left mapped as they are. Finds them in
 * /proc/self/pagemap (one read of 8 bytes a page), so that a range nobody
 * wrote costs no page fault afterwards; where pagemap cannot be read, drops
 * the whole range. Returns 0 or -errno. */
int tshm__private_scrub(void *addr, size_t len);
/* A stream's ring: its slots, and the bytes from one slot to the next
 * (offsets from tshm_seg_data()); 0 slots for an array. 1 if its pages are
 * hugetlbfs pages (which a private mapping takes from the huge page pool),
 * else 0. */
int tshm__seg_ring(const tshm_seg *seg, uint32_t *ret_slots, uint64_t *ret_stride);
/* Populate @seg's whole mapping if @flags (TSHM_OPEN_POPULATE/NOPOPULATE,
 * which share their values with TSHM_CREATE_POPULATE/NOPOPULATE) ask for it,
 * or, with neither, if the mapping is at most TSHM_POPULATE_AUTO_MAX bytes.
 * Best effort: a failure leaves the pages to fault in. */
void tshm__seg_populate_auto(tshm_seg *seg, unsigned flags);
/* The fallback of tshm_seg_populate(): touch one byte of each page of
 * [@start, @start + @len) (read, or an atomic add of zero when @write).
 * Exported for tests only. */
void tshm__seg_touch(void *start, size_t len, bool write);

/* sigbus.c: survive a segment truncated under its mappers. Register a mapping
 * (installs the SIGBUS handler on the first call; thread-safe) before it is
 * handed out, and unregister it before munmap(). Register returns 0 or
 * TSHM_ENOMEM. */
int tshm__sigbus_register(void *start, size_t len);
void tshm__sigbus_unregister(void *start);
/* Faults absorbed, fault episodes seen, and whether the handler is
 * installed; exported for tests only, not API. */
void tshm__sigbus_stats(uint64_t *ret_absorbed, uint64_t *ret_episodes, int *ret_installed);

#endif /* TSHM_CLIENT_INTERNAL_H */
