/*
 * adopt.c - whether an object found under the prefix in /dev/shm is one of
 * tshmd's segments, which a restarted daemon may adopt and serve.
 *
 * /dev/shm is writable by every local user, and the daemon may start long
 * after them (socket activation starts it on the first connection): anyone
 * can plant an object under the prefix first. So the decision trusts nothing
 * a user can set. The object must be a regular file (not a FIFO, which would
 * block an open, nor a symbolic link), owned by the daemon's user (nobody
 * else can make such a file, and nobody else can keep write access to it but
 * through a descriptor the daemon handed out), of mode exactly 0600 (as the
 * daemon makes them), whose header is valid, names the object, is sealed
 * with the daemon's key, and implies exactly the object's size (a writer
 * that grew the object while the daemon was down must not charge its growth
 * to the budget).
 *
 * The function is pure (no system calls), so that it can be fuzzed
 * (tests/fuzz/fuzz_adopt.c); shm.c does the I/O.
 */
#include <string.h>
#include <sys/stat.h>

#include "tshmd.h"

const char *
tshmd_adopt_reason(enum tshmd_adopt_verdict v)
{
        switch (v) {
        case TSHMD_ADOPT_OK:
                return "adoptable";
        case TSHMD_ADOPT_NOT_OURS_NAME:
                return "not a segment name under the prefix";
        case TSHMD_ADOPT_NOT_REGULAR:
                return "not a regular file";
        case TSHMD_ADOPT_NOT_OWNER:
                return "owned by another user, not by tshmd";
        case TSHMD_ADOPT_BAD_MODE:
                return "its mode is not 0600";
        case TSHMD_ADOPT_BAD_HEADER:
                return "no valid tshm header";
        case TSHMD_ADOPT_WRONG_NAME:
                return "its header names another segment";
        case TSHMD_ADOPT_BAD_SIZE:
                return "its size is not the one its header implies";
        case TSHMD_ADOPT_BAD_SEAL:
                return "its header was changed by a client (the seal does not match)";
        }
        return "unknown";
}

/* The size of the object the header describes, or false. */
static bool
adopt_expected_size(const struct tshm__hdr *hdr, uint64_t *ret_size)
{
        struct tshm__seg_spec spec;

        memset(&spec, 0, sizeof(spec));
        spec.dtype = (tshm_dtype)hdr->dtype;
        spec.ndim = hdr->ndim;
        memcpy(spec.shape, hdr->shape, sizeof(spec.shape));
        if ((hdr->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM) {
                spec.slots = hdr->slots;
                spec.policy = hdr->policy;
        }
        return tshm__hdr_spec_size(&spec, ret_size) == 0;
}

enum tshmd_adopt_verdict
tshmd_adopt_check(const struct tshmd_adopt_obj *obj, const char *prefix, uint32_t euid,
                  const uint8_t key[16], struct tshm__hdr *ret_hdr)
{
        size_t plen = strlen(prefix);
        struct tshm__hdr hdr;
        uint64_t want;

        /* "<prefix>.<name>", where a name never starts with '.': the
         * daemon's own "<prefix>..new.*" objects are not segments. */
        if (strncmp(obj->entry, prefix, plen) != 0 || obj->entry[plen] != '.' ||
            obj->entry[plen + 1] == '.' || obj->entry[plen + 1] == '\0') {
                return TSHMD_ADOPT_NOT_OURS_NAME;
        }
        if ((obj->mode & S_IFMT) != S_IFREG) {
                return TSHMD_ADOPT_NOT_REGULAR;
        }
        if (obj->uid != euid) {
                return TSHMD_ADOPT_NOT_OWNER;
        }
        if ((obj->mode & 07777u) != 0600u) {
                return TSHMD_ADOPT_BAD_MODE;
        }
        if (obj->hdr_len < sizeof(hdr)) {
                return TSHMD_ADOPT_BAD_HEADER;
        }
        /* One copy, read once: every check below and the caller use it. */
        memcpy(&hdr, obj->hdr, sizeof(hdr));
        if (tshm__hdr_validate(&hdr, obj->size) < 0) {
                return TSHMD_ADOPT_BAD_HEADER;
        }
        /* tshm__hdr_validate() found a NUL in the name. */
        if (strcmp(obj->entry + plen + 1, hdr.name) != 0) {
                return TSHMD_ADOPT_WRONG_NAME;
        }
        if (!adopt_expected_size(&hdr, &want)) {
                return TSHMD_ADOPT_BAD_SIZE;
        }
        /* On hugetlbfs the object is that size rounded up to whole pages. */
        if (tshm__hdr_round_pages(want, obj->page) != obj->size) {
                return TSHMD_ADOPT_BAD_SIZE;
        }
        if (!tshmd_seal_ok(key, &hdr)) {
                return TSHMD_ADOPT_BAD_SEAL;
        }
        *ret_hdr = hdr;
        return TSHMD_ADOPT_OK;
}
