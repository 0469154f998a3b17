/*
 * error.c - the error table: messages and names for TSHM_E* codes, and the
 * library version. Generated from TSHM_ERRNO_MAP so the three never drift.
 */
#include <string.h>

#include "tshm.h"

const char *
tshm_strerror(int err)
{
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
        /* strerror() is not thread-safe in general, but glibc's returns a
         * static string for every known errno, which is all we pass it. */
        if (err < 0 && err > -4000) {
                return strerror(-err);
        }
        return "unknown error";
}

const char *
tshm_err_name(int err)
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

#define TSHM_STR_(x) #x
#define TSHM_XSTR_(x) TSHM_STR_(x)

unsigned
tshm_version(void)
{
        return TSHM_VERSION_HEX;
}

const char *
tshm_version_string(void)
{
        return TSHM_XSTR_(TSHM_VERSION_MAJOR) "." TSHM_XSTR_(TSHM_VERSION_MINOR) "." TSHM_XSTR_(
            TSHM_VERSION_PATCH);
}
