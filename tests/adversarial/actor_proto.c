/*
 * actor_proto.c - the "pipeline" verb: speak the protocol on raw sockets,
 * sending requests and never reading a reply.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tshm.h"

#include "header.h"
#include "internal.h"
#include "proto.h"

#include "actor.h"

/* Connect to the daemon without blocking and say hello. Returns the socket or -1. */
static int
pipeline_connect(const char *sock, const msgpack_sbuffer *hello)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        /* A path too long for sun_path would connect to another one. */
        if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "actor: socket path too long: %s\n", sock);
                if (fd >= 0) {
                        (void)close(fd);
                }
                return -1;
        }
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            send(fd, hello->data, hello->size, MSG_NOSIGNAL) != (ssize_t)hello->size) {
                perror("actor: pipeline connect");
                return -1;
        }
        return fd;
}

/* Send one whole request on @fd (a partial send is finished first, for up
 * to the deadline). Returns whether it went out whole. */
static bool
pipeline_send(int fd, const msgpack_sbuffer *req, uint64_t end)
{
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        size_t off = 0;

        while (off < req->size) {
                ssize_t k = send(fd, req->data + off, req->size - off, MSG_NOSIGNAL);

                if (k > 0) {
                        off += (size_t)k;
                        continue;
                }
                if ((k < 0 && errno != EAGAIN) || off == 0 || poll(&p, 1, 100) < 0 ||
                    actor_mono_ns() >= end) {
                        break;
                }
        }
        return off == req->size;
}

/* Class 8: pipeline list requests and never read a reply. */
int
actor_cmd_pipeline(const char *sock, int argc, char **argv)
{
        int n = atoi(argv[0]), i, socks[64];
        uint64_t end = actor_mono_ns() + (uint64_t)(atof(argv[1]) * 1e9), sent = 0;
        struct tshm__req hello = {.op = TSHM_OP_HELLO, .version = TSHM_PROTO_VERSION, .id = 1};
        struct tshm__req list = {.op = TSHM_OP_LIST, .id = 2, .limit = TSHM_PROTO_LIST_PAGE};
        msgpack_sbuffer hb, lb;
        char buf[64];

        (void)argc;
        if (n < 1 || n > 64) {
                return 2;
        }
        msgpack_sbuffer_init(&hb);
        msgpack_sbuffer_init(&lb);
        if (tshm__req_encode(&hello, &hb) < 0 || tshm__req_encode(&list, &lb) < 0) {
                return 2;
        }
        for (i = 0; i < n; i++) {
                if ((socks[i] = pipeline_connect(sock, &hb)) < 0) {
                        return 3;
                }
        }
        while (actor_mono_ns() < end) {
                bool progress = false;

                for (i = 0; i < n; i++) {
                        if (pipeline_send(socks[i], &lb, end)) {
                                sent++;
                                progress = true;
                        }
                }
                if (!progress) {
                        actor_nap_us(1000);
                }
        }
        printf("ok sent %" PRIu64 "\n", sent);
        (void)fflush(stdout);
        while (read(0, buf, sizeof(buf)) > 0) {
        }
        for (i = 0; i < n; i++) {
                (void)close(socks[i]);
        }
        msgpack_sbuffer_destroy(&hb);
        msgpack_sbuffer_destroy(&lb);
        return 0;
}
