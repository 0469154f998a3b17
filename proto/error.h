/*
 * error.h - the error table (messages and names of TSHM_E* codes) and the
 * version string, as pure functions and constants that tshmd and libtshm
 * share. The public tshm_strerror() and friends wrap these in
 * client/error.c; the daemon calls these directly, so that it defines no
 * public symbol.
 */
#ifndef TSHM_ERROR_H
#define TSHM_ERROR_H

#include "tshm.h"

#define TSHM__STR_(x) #x
#define TSHM__XSTR_(x) TSHM__STR_(x)

/* "MAJOR.MINOR.PATCH" of the tree being built, a string literal. */
#define TSHM__VERSION_STRING                                                                       \
        TSHM__XSTR_(TSHM_VERSION_MAJOR)                                                            \
        "." TSHM__XSTR_(TSHM_VERSION_MINOR) "." TSHM__XSTR_(TSHM_VERSION_PATCH)

/* A static message for @err: its TSHM_ERRNO_MAP entry, else the C-locale
 * description of a negative errno, else "unknown error"; never NULL. */
const char *tshm__strerror(int err);
/* The symbolic name of @err, e.g. "ENOENT", or "UNKNOWN". */
const char *tshm__err_name(int err);

#endif /* TSHM_ERROR_H */
