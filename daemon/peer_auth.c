/*
 * peer_auth.c - the shared secret of --peer-secret and the MACs of the
 * handshake (proto/peer.h). HMAC-SHA256 and the random nonces come from
 * OpenSSL's libcrypto; the comparison is in constant time.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "peer_int.h"

#define PEER_SECRET_MIN 16u

int
peer_secret_load(struct tshmd_peers *p, const char *path, char *err, size_t errlen)
{
        struct stat st;
        ssize_t n;
        int fd, rv = 0;

        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                snprintf(err, errlen, "--peer-secret %s: %s", path, strerror(errno));
                return -errno;
        }
        /* Checked on the descriptor we read, not the path: the file may not
         * be swapped between the check and the read. */
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "--peer-secret %s: not a regular file", path);
                rv = TSHM_EACCES;
        } else if (st.st_uid != geteuid()) {
                snprintf(err, errlen,
                         "--peer-secret %s: owned by uid %u, not by the daemon's "
                         "user (uid %u)",
                         path, (unsigned)st.st_uid, (unsigned)geteuid());
                rv = TSHM_EACCES;
        } else if ((st.st_mode & 077) != 0) {
                snprintf(err, errlen,
                         "--peer-secret %s: mode %04o lets others read it (chmod "
                         "600)",
                         path, (unsigned)(st.st_mode & 07777));
                rv = TSHM_EACCES;
        } else if ((n = read(fd, p->secret, sizeof(p->secret))) < 0) {
                snprintf(err, errlen, "--peer-secret %s: %s", path, strerror(errno));
                rv = -errno;
        } else {
                size_t len = (size_t)n;
                while (len > 0 && (p->secret[len - 1] == '\n' || p->secret[len - 1] == '\r')) {
                        len--;
                }
                if (len < PEER_SECRET_MIN || (size_t)n == sizeof(p->secret)) {
                        snprintf(err, errlen,
                                 "--peer-secret %s: %zu bytes; it needs %u to %zu "
                                 "(head -c 32 /dev/urandom | base64 makes one)",
                                 path, len, PEER_SECRET_MIN, sizeof(p->secret) - 1);
                        rv = TSHM_EINVAL;
                } else {
                        p->secret_len = len;
                }
        }
        (void)close(fd);
        return rv;
}

void
peer_mac(const struct tshmd_peers *p, const char *label, const uint8_t *a, const uint8_t *b,
         uint8_t mac[TSHM_PEER_MAC])
{
        uint8_t msg[64 + 2 * TSHM_PEER_NONCE];
        size_t ll = strlen(label), n;
        unsigned int len = TSHM_PEER_MAC;

        /* Labels are ours and short; the length and the NUL are part of
         * the message, so that no label's input is a prefix of another's. */
        msg[0] = (uint8_t)ll;
        memcpy(msg + 1, label, ll + 1);
        memcpy(msg + 2 + ll, a, TSHM_PEER_NONCE);
        memcpy(msg + 2 + ll + TSHM_PEER_NONCE, b, TSHM_PEER_NONCE);
        n = 2 + ll + (size_t)(2 * TSHM_PEER_NONCE);
        if (HMAC(EVP_sha256(), p->secret, (int)p->secret_len, msg, n, mac, &len) == NULL) {
                /* Never matches what a peer sends (it would need our
                 * failure's output), and fails our side's check too. */
                memset(mac, 0, TSHM_PEER_MAC);
        }
}

bool
peer_mac_ok(const struct tshmd_peers *p, const char *label, const uint8_t *a, const uint8_t *b,
            const uint8_t mac[TSHM_PEER_MAC])
{
        uint8_t want[TSHM_PEER_MAC], zero[TSHM_PEER_MAC] = {0};

        peer_mac(p, label, a, b, want);
        return CRYPTO_memcmp(want, zero, sizeof(want)) != 0 &&
               CRYPTO_memcmp(want, mac, sizeof(want)) == 0;
}

int
peer_nonce(uint8_t nonce[TSHM_PEER_NONCE])
{
        return RAND_bytes(nonce, TSHM_PEER_NONCE) == 1 ? 0 : TSHM_EIO;
}
