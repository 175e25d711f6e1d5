/* sealvol: key derivation (HKDF-SHA256, RFC 5869) and HMAC-SHA256. */
#include <config.h>

#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>

#include "kdf.h"
#include "secmem.h"

/* The info parameter is a constant label followed by optional extra bytes
 * (for example a salt identifying a subkey), so callers never build it. */
int
sv_hkdf_sha256 (uint8_t *out, size_t outlen,
                const uint8_t *ikm, size_t ikmlen,
                const uint8_t *salt, size_t saltlen,
                const char *info, const uint8_t *info_extra,
                size_t info_extra_len)
{
  uint8_t info_buf[128];
  size_t label_len = strlen (info);
  EVP_PKEY_CTX *pctx;
  int ok;

  if (label_len + info_extra_len > sizeof info_buf)
    return -1;
  memcpy (info_buf, info, label_len);
  if (info_extra_len)
    memcpy (info_buf + label_len, info_extra, info_extra_len);

  pctx = EVP_PKEY_CTX_new_id (EVP_PKEY_HKDF, NULL);
  if (pctx == NULL)
    return -1;
  ok = EVP_PKEY_derive_init (pctx) > 0
    && EVP_PKEY_CTX_set_hkdf_md (pctx, EVP_sha256 ()) > 0
    && (saltlen == 0        /* no salt: HKDF uses a zero block */
        || EVP_PKEY_CTX_set1_hkdf_salt (pctx, salt, (int) saltlen) > 0)
    && EVP_PKEY_CTX_set1_hkdf_key (pctx, ikm, (int) ikmlen) > 0
    && EVP_PKEY_CTX_add1_hkdf_info (pctx, info_buf,
                                    (int) (label_len + info_extra_len)) > 0
    && EVP_PKEY_derive (pctx, out, &outlen) > 0;
  EVP_PKEY_CTX_free (pctx);
  sv_wipe (info_buf, sizeof info_buf);
  return ok ? 0 : -1;
}

int
sv_hmac_sha256 (uint8_t mac[SV_HMAC_LEN], const uint8_t *key, size_t keylen,
                const uint8_t *data, size_t len)
{
  unsigned int maclen = SV_HMAC_LEN;

  return HMAC (EVP_sha256 (), key, (int) keylen, data, len, mac, &maclen)
    ? 0 : -1;
}
