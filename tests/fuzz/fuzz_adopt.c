/*
 * fuzz_adopt.c - the daemon's restart adoption decision (daemon/adopt.c) on
 * arbitrary objects: what any local user can plant under the prefix in
 * /dev/shm (a name, a file type, an owner, a mode, a size, header bytes).
 *
 * Input (little-endian):
 *   0      flags: bit 0 seal the header with the daemon's key first (so that
 *          the fuzzer reaches past the seal); bit 1 set the size to what the
 *          header implies; bit 2 name the entry "tshm.<header name>"; bit 3
 *          owner = the daemon's uid; bit 4 mode = a regular file, 0600; bit 5
 *          a hugetlbfs directory of 2 MiB pages (with bit 1, the size rounds up)
 *   1..4   st_mode     5..8 st_uid     9..12 the daemon's euid
 *   13..20 st_size     21 length L of the entry name, then L bytes of it
 *   then   the header bytes (any length; fewer than a header is a short read)
 * The prefix is "tshm"; the key is fixed.
 *
 * An accepted object keeps every promise adopt.c makes: a name
 * "tshm.<name>" matching the header, a regular file of the daemon's uid with
 * mode 0600, a valid header sealed with the key, and a size that is exactly
 * the one its dtype, shape, slots and policy imply (recomputed here), in
 * whole pages. And each of these alone turns it down: another owner, mode,
 * file type or key, a size one page off, a short header, one flipped byte
 * of the sealed header. A refusal leaves the out-parameter alone.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "header.h"
#include "tshmd.h"

static const uint8_t fuzz_key[16] = "tshm fuzz key 0";

static uint32_t
get_le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t
get_le64(const uint8_t *p)
{
        return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* The size the header implies, computed from its fields alone. */
static bool
implied_size(const struct tshm__hdr *h, uint64_t *ret)
{
        struct tshm__seg_spec spec;

        memset(&spec, 0, sizeof(spec));
        spec.dtype = (tshm_dtype)h->dtype;
        spec.ndim = h->ndim > TSHM_MAX_NDIM ? TSHM_MAX_NDIM + 1 : h->ndim;
        memcpy(spec.shape, h->shape, sizeof(spec.shape));
        if ((h->flags & TSHM_HDR_KIND_MASK) == TSHM_KIND_STREAM) {
                spec.slots = h->slots;
                spec.policy = h->policy;
        }
        return spec.ndim <= TSHM_MAX_NDIM && tshm__hdr_spec_size(&spec, ret) == 0;
}

static enum tshmd_adopt_verdict
check(const struct tshmd_adopt_obj *o, uint32_t euid, const uint8_t *key)
{
        struct tshm__hdr out, before;
        enum tshmd_adopt_verdict v;

        memset(&out, 0xa5, sizeof(out));
        before = out;
        v = tshmd_adopt_check(o, "tshm", euid, key, &out);
        FUZZ_CHECK(v >= TSHMD_ADOPT_OK && v <= TSHMD_ADOPT_BAD_SEAL);
        FUZZ_CHECK(tshmd_adopt_reason(v) != NULL);
        if (v != TSHMD_ADOPT_OK) {
                FUZZ_CHECK(memcmp(&out, &before, sizeof(out)) == 0);
        }
        return v;
}

/* What an accepted @o promises, and what each change alone does to it. */
static void
accepted(const struct tshmd_adopt_obj *o, uint32_t euid, const struct tshm__hdr *h)
{
        static const uint8_t other_key[16] = "not the key....";
        struct tshmd_adopt_obj m;
        uint8_t flipped[sizeof(*h)];
        uint64_t want;
        size_t pos;

        FUZZ_CHECK(strncmp(o->entry, "tshm.", 5) == 0 && o->entry[5] != '.');
        FUZZ_CHECK((o->mode & S_IFMT) == S_IFREG && (o->mode & 07777) == 0600);
        FUZZ_CHECK(o->uid == euid && o->hdr_len >= sizeof(*h));
        FUZZ_CHECK(memcmp(h, o->hdr, sizeof(*h)) == 0);
        FUZZ_CHECK(tshm__hdr_validate(h, o->size) == 0);
        FUZZ_CHECK(strcmp(o->entry + 5, h->name) == 0);
        FUZZ_CHECK(implied_size(h, &want));
        /* hugetlbfs: the object is the implied size in whole pages. */
        if (o->page != 0) {
                FUZZ_CHECK(o->size % o->page == 0 && o->size >= want && o->size - want < o->page);
        } else {
                FUZZ_CHECK(want == o->size);
        }
        FUZZ_CHECK(o->size >= TSHM_HDR_DATA_OFFSET && o->size % 4096 == 0);
        FUZZ_CHECK(tshmd_seal_ok(fuzz_key, h));

        m = *o;
        m.uid = euid + 1;
        FUZZ_CHECK(check(&m, euid, fuzz_key) == TSHMD_ADOPT_NOT_OWNER);
        m = *o;
        m.mode = S_IFREG | 0644;
        FUZZ_CHECK(check(&m, euid, fuzz_key) == TSHMD_ADOPT_BAD_MODE);
        m.mode = S_IFIFO | 0600;
        FUZZ_CHECK(check(&m, euid, fuzz_key) == TSHMD_ADOPT_NOT_REGULAR);
        m.mode = S_IFLNK | 0600;
        FUZZ_CHECK(check(&m, euid, fuzz_key) == TSHMD_ADOPT_NOT_REGULAR);
        m = *o;
        m.size = o->size + 4096;
        FUZZ_CHECK(check(&m, euid, fuzz_key) == TSHMD_ADOPT_BAD_SIZE);
        m.size = o->size - 4096;
        FUZZ_CHECK(check(&m, euid, fuzz_key) != TSHMD_ADOPT_OK);
        m = *o;
        m.hdr_len = sizeof(*h) - 1;
        FUZZ_CHECK(check(&m, euid, fuzz_key) == TSHMD_ADOPT_BAD_HEADER);
        m = *o;
        FUZZ_CHECK(check(&m, euid, other_key) == TSHMD_ADOPT_BAD_SEAL);
        /* One byte of the sealed header (all but the seq line, 64-127). */
        pos = (size_t)(o->size / 4096 * 131 + h->name[0]) % (sizeof(*h) - 64);
        pos = pos < 64 ? pos : pos + 64;
        memcpy(flipped, h, sizeof(flipped));
        flipped[pos] ^= 0x01;
        m = *o;
        m.hdr = flipped;
        FUZZ_CHECK(check(&m, euid, fuzz_key) != TSHMD_ADOPT_OK);
        /* The sync line is not sealed: a writer's wake-ups don't matter. */
        memcpy(flipped, h, sizeof(flipped));
        flipped[offsetof(struct tshm__hdr, wake)] ^= 0x01;
        FUZZ_CHECK(check(&m, euid, fuzz_key) == TSHMD_ADOPT_OK);
}

/* The helper flags (byte 0 of the input) applied to the facts @o and the
 * entry name, given the header @h. */
static void
apply_flags(uint8_t flags, const struct tshm__hdr *h, uint32_t euid, struct tshmd_adopt_obj *o,
            char *entry, size_t entry_len)
{
        /* A hugetlbfs directory of 2 MiB pages. */
        if ((flags & 32) != 0) {
                o->page = 2u << 20;
        }
        if ((flags & 2) != 0 && !implied_size(h, &o->size)) {
                o->size = 0;
        }
        if ((flags & 2) != 0) {
                o->size = tshm__hdr_round_pages(o->size, o->page);
        }
        if ((flags & 4) != 0 && memchr(h->name, '\0', sizeof(h->name)) != NULL) {
                snprintf(entry, entry_len, "tshm.%s", h->name);
        }
        if ((flags & 8) != 0) {
                o->uid = euid;
        }
        if ((flags & 16) != 0) {
                o->mode = S_IFREG | 0600;
        }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t hdrbuf[sizeof(struct tshm__hdr)];
        char entry[300];
        struct tshmd_adopt_obj o;
        struct tshm__hdr h;
        uint32_t euid;
        size_t len, hlen;
        uint8_t flags;

        if (size < 22) {
                return 0;
        }
        flags = data[0];
        memset(&o, 0, sizeof(o));
        o.mode = get_le32(data + 1);
        o.uid = get_le32(data + 5);
        euid = get_le32(data + 9);
        o.size = get_le64(data + 13);
        len = data[21];
        if (len > size - 22) {
                len = size - 22;
        }
        memcpy(entry, data + 22, len);
        entry[len] = '\0'; /* an embedded NUL just ends the name, as in a dirent */
        data += 22 + len;
        size -= 22 + len;
        /* The header bytes, in a buffer of their own size (ASan catches a
         * read past a short one). */
        hlen = size < sizeof(hdrbuf) ? size : sizeof(hdrbuf);
        memset(hdrbuf, 0, sizeof(hdrbuf));
        memcpy(hdrbuf, data, hlen);
        if ((flags & 1) != 0 && hlen == sizeof(hdrbuf)) {
                memcpy(&h, hdrbuf, sizeof(h));
                tshmd_seal(fuzz_key, &h);
                memcpy(hdrbuf, &h, sizeof(h));
        }
        memcpy(&h, hdrbuf, sizeof(h));
        apply_flags(flags, &h, euid, &o, entry, sizeof(entry));
        o.entry = entry;
        {
                uint8_t *exact = malloc(hlen > 0 ? hlen : 1);
                FUZZ_CHECK(exact != NULL);
                memcpy(exact, hdrbuf, hlen);
                o.hdr = exact;
                o.hdr_len = hlen;
                if (check(&o, euid, fuzz_key) == TSHMD_ADOPT_OK) {
                        struct tshm__hdr got;
                        FUZZ_CHECK(tshmd_adopt_check(&o, "tshm", euid, fuzz_key, &got) ==
                                   TSHMD_ADOPT_OK);
                        accepted(&o, euid, &got);
                }
                free(exact);
        }
        return 0;
}
