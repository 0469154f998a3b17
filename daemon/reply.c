/*
 * reply.c - what an op handler decided, and the one place it becomes a
 * frame. Handlers fill a struct tshmd_reply and return a code; conn.c alone
 * turns that into bytes on the socket (tshmd_reply_frame), so a handler can
 * be run and judged without a connection (tests/unit/test_ops.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tshmd.h"

void
tshmd_reply_init(struct tshmd_reply *rep, uint64_t id)
{
        rep->id = id;
        tshm__reply_enc_init(&rep->enc);
        rep->fd = -1;
        rep->close = false;
        rep->msg[0] = '\0';
}

void
tshmd_reply_done(struct tshmd_reply *rep)
{
        if (rep->fd >= 0) {
                (void)close(rep->fd);
                rep->fd = -1;
        }
        tshm__reply_enc_done(&rep->enc);
        tshm__reply_enc_init(&rep->enc);
}

int
tshmd_reply_fail(struct tshmd_reply *rep, int status, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(rep->msg, sizeof(rep->msg), fmt, ap);
        va_end(ap);
        return status;
}

int
tshmd_reply_frame(struct tshmd_reply *rep, int rv, uint8_t **ret_buf, size_t *ret_len, int *ret_fd)
{
        struct tshm__reply_enc e;
        int fd = -1;

        /* A handler that failed after it encoded (or took a descriptor)
         * answers with the error alone: what it encoded and the descriptor
         * are dropped, as a reply that could not be queued would be. */
        if (rv == 0) {
                *ret_len = rep->enc.sbuf.size;
                *ret_buf = (uint8_t *)msgpack_sbuffer_release(&rep->enc.sbuf);
                fd = rep->fd;
                rep->fd = -1;
                if (*ret_buf == NULL) {
                        if (fd >= 0) {
                                (void)close(fd);
                        }
                        return TSHM_ENOMEM;
                }
                *ret_fd = fd;
                return 0;
        }
        tshm__reply_enc_init(&e);
        if (tshm__reply_error(&e, rep->id, rv, rep->msg[0] != '\0' ? rep->msg : NULL) < 0) {
                tshm__reply_enc_done(&e);
                return TSHM_ENOMEM;
        }
        *ret_len = e.sbuf.size;
        *ret_buf = (uint8_t *)msgpack_sbuffer_release(&e.sbuf);
        *ret_fd = -1;
        tshm__reply_enc_done(&e);
        return *ret_buf != NULL ? 0 : TSHM_ENOMEM;
}
