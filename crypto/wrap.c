/* sealvol: wrapping a volume key under its tenant key. */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "endian-util.h"
#include "wrap.h"

#define WRAP_AD_LEN (16 + 2 * SV_ID_LEN + 12)

static void
wrap_ad (uint8_t ad[WRAP_AD_LEN], const struct sv_wrap_context *wc)
{
  memset (ad, 0, WRAP_AD_LEN);
  memcpy (ad, "sealvol-wrap-v1", 15);
  memcpy (ad + 16, wc->tenant_id, SV_ID_LEN);
  memcpy (ad + 32, wc->volume_id, SV_ID_LEN);
  put_le32 (ad + 48, wc->cipher);
  put_le32 (ad + 52, wc->volume_key_version);
  put_le32 (ad + 56, wc->tenant_key_version);
}

int
sv_wrap_key (uint8_t out[SV_WRAPPED_KEY_LEN], const struct sv_key *tenant_key,
             const struct sv_wrap_context *wc, const struct sv_key *volume_key)
{
  uint8_t ad[WRAP_AD_LEN];
  unsigned char *nonce = out;
  unsigned long long clen;

  if (sv_key_len (tenant_key) != SV_TENANT_KEY_LEN
      || sv_key_len (volume_key) != SV_VOLUME_KEY_LEN) {
    errno = EINVAL;
    return -1;
  }
  wrap_ad (ad, wc);
  randombytes_buf (nonce, 24);
  crypto_aead_xchacha20poly1305_ietf_encrypt (out + 24, &clen,
                                              sv_key_bytes (volume_key),
                                              SV_VOLUME_KEY_LEN,
                                              ad, sizeof ad, NULL, nonce,
                                              sv_key_bytes (tenant_key));
  return 0;
}

struct sv_key *
sv_unwrap_key (const uint8_t in[SV_WRAPPED_KEY_LEN],
               const struct sv_key *tenant_key,
               const struct sv_wrap_context *wc)
{
  uint8_t ad[WRAP_AD_LEN];
  struct sv_key *key;
  unsigned long long mlen;

  if (sv_key_len (tenant_key) != SV_TENANT_KEY_LEN) {
    errno = EINVAL;
    return NULL;
  }
  key = sv_key_new (SV_VOLUME_KEY_LEN);
  if (key == NULL)
    return NULL;
  wrap_ad (ad, wc);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt (sv_key_bytes_mut (key),
                                                  &mlen, NULL, in + 24,
                                                  SV_WRAPPED_KEY_LEN - 24,
                                                  ad, sizeof ad, in,
                                                  sv_key_bytes (tenant_key))
      != 0) {
    sv_key_free (key);
    errno = EILSEQ;
    return NULL;
  }
  return key;
}
