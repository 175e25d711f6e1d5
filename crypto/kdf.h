/* sealvol: key derivation (HKDF-SHA256, RFC 5869) and HMAC-SHA256. */
#ifndef SEALVOL_KDF_H
#define SEALVOL_KDF_H

#include <stddef.h>
#include <stdint.h>

#define SV_HMAC_LEN 32

/* out = HKDF-SHA256(ikm, salt, info), outlen bytes.  Returns 0 or -1. */
int sv_hkdf_sha256 (uint8_t *out, size_t outlen,
                    const uint8_t *ikm, size_t ikmlen,
                    const uint8_t *salt, size_t saltlen,
                    const char *info, const uint8_t *info_extra,
                    size_t info_extra_len);

/* mac = HMAC-SHA256(key, data).  Returns 0 or -1. */
int sv_hmac_sha256 (uint8_t mac[SV_HMAC_LEN], const uint8_t *key,
                    size_t keylen, const uint8_t *data, size_t len);

#endif
