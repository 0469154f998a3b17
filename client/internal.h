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

#include "proto.h"

#define TSHM_DEFAULT_TIMEOUT_MS 30000

struct tshm_client {
        pthread_mutex_t lock; /* serialises every call on this client */
        int fd;               /* the connection, or -1 once it broke */
        uint64_t next_id;
        uint64_t epoch; /* connections made so far, minus one */
        int timeout_ms;
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        char errmsg[320];
        struct tshm_seg *segs; /* open segments, to detach them on disconnect */
};

struct tshm_seg {
        tshm_client *client; /* NULL once the client disconnected */
        struct tshm_seg *prev, *next;
        uint64_t handle; /* the daemon's id for this open */
        uint64_t epoch;  /* the client's epoch when it was opened */
        void *map;
        size_t map_size;
        void *data;
        bool writable;
        char name[TSHM_NAME_MAX + 1];
        tshm_dtype dtype;
        size_t ndim;
        uint64_t nbytes;
        uint64_t shape[TSHM_MAX_NDIM];
        int64_t strides[TSHM_MAX_NDIM];
};

/* conn.c: blocking socket I/O with a deadline. */
int tshm__conn_resolve_path(const char *arg, char *out, size_t outlen);
int tshm__conn_connect(const char *path, int timeout_ms, int *ret_fd);
int tshm__conn_send(int fd, const void *buf, size_t len, int64_t deadline_ms);
/* Whether the daemon has closed this connection (checked without blocking
 * before each request, so that a restarted daemon is found before a request
 * is lost to the old connection). */
bool tshm__conn_dead(int fd);
/* Read one frame: *ret_payload is malloc'ed (free it), and a descriptor
 * that arrived with it is in *ret_fd (else -1). */
int tshm__conn_recv(int fd, uint32_t max, int64_t deadline_ms, uint8_t **ret_payload,
                    size_t *ret_len, int *ret_fd);
int64_t tshm__now_ms(void);

/* seg.c: map a descriptor and check its header. Takes ownership of @fd
 * (closed on every path). */
int tshm__seg_map(int fd, uint64_t size, bool writable, const char *name, tshm_seg **ret_seg);
void tshm__seg_free(tshm_seg *seg);

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
