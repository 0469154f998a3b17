/*
 * error.c - the public error and version calls of libtshm. They wrap the
 * pure table in proto/error.c, which tshmd uses directly: the daemon must
 * not define public tshm_* symbols, and the version of the library is the
 * library's to report.
 */
#include "tshm.h"

#include "error.h"

const char *
tshm_strerror(int err)
{
        return tshm__strerror(err);
}

const char *
tshm_err_name(int err)
{
        return tshm__err_name(err);
}

unsigned
tshm_version(void)
{
        return TSHM_VERSION_HEX;
}

const char *
tshm_version_string(void)
{
        return TSHM__VERSION_STRING;
}
