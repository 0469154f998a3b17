/*
 * notify.c - tell a service manager how we are (the sd_notify datagram
 * protocol): READY=1 once listening, STOPPING=1 on the way out. Spoken
 * directly so that tests can play the service manager with a socket of
 * their own; a no-op when NOTIFY_SOCKET is not set.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tshmd.h"

int
tshmd_notify(const char *state)
{
        const char *path = getenv("NOTIFY_SOCKET");
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        socklen_t salen;
        size_t n;
        int fd, rv = 0;

        if (path == NULL || path[0] == '\0') {
                return 0;
        }
        n = strlen(path);
        if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
                return TSHM_EINVAL;
        }
        memcpy(sa.sun_path, path, n);
        if (path[0] == '@') {
                sa.sun_path[0] = '\0'; /* an abstract socket */
        }
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                return -errno;
        }
        if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0) {
                rv = -errno;
        }
        (void)close(fd);
        return rv;
}
