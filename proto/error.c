/*
 * error.c - the error table: messages and names for TSHM_E* codes,
 * generated from TSHM_ERRNO_MAP so that the enum, the messages and the names
 * never drift.
 */
#include <string.h>

#include "tshm.h"

#include "error.h"

const char *
tshm__strerror(int err)
{
        const char *msg;

        switch (err) {
        case 0:
                return "success";
#define TSHM_ERR_MSG_(name, value, msg)                                                            \
        case (value):                                                                              \
                return (msg);
                TSHM_ERRNO_MAP(TSHM_ERR_MSG_)
#undef TSHM_ERR_MSG_
        default:
                break;
        }
        /* strerrordesc_np() (glibc 2.32) is strerror() without the locale:
         * a lookup in a constant table, so it stays pure (strerror() goes
         * through gettext, which reads the environment) and thread-safe (it
         * never formats "Unknown error N" into a static buffer). Its text is
         * strerror()'s in the C locale, which is the locale of every program
         * that has not called setlocale(LC_MESSAGES). */
        if (err < 0 && err > -4000 && (msg = strerrordesc_np(-err)) != NULL) {
                return msg;
        }
        return "unknown error";
}

const char *
tshm__err_name(int err)
{
        switch (err) {
        case 0:
                return "OK";
#define TSHM_ERR_NAME_(name, value, msg)                                                           \
        case (value):                                                                              \
                return #name;
                TSHM_ERRNO_MAP(TSHM_ERR_NAME_)
#undef TSHM_ERR_NAME_
        default:
                return "UNKNOWN";
        }
}
