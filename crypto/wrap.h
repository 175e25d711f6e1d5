/* sealvol: wrapping a volume key under its tenant key.
 *
 * XChaCha20-Poly1305 (libsodium) with a random 192-bit nonce: a tenant key
 * wraps at most a few thousand keys over its life, far below any limit of
 * random nonces at this size.  The associated data binds tenant, volume,
 * cipher and both key versions, so a wrapped key moved to another volume or
 * presented as another version fails to unwrap.
 */
#ifndef SEALVOL_WRAP_H
#define SEALVOL_WRAP_H

#include <stdint.h>

#include "secmem.h"

#define SV_ID_LEN 16
#define SV_VOLUME_KEY_LEN 64
#define SV_WRAPPED_KEY_LEN (24 + SV_VOLUME_KEY_LEN + 16)
#define SV_TENANT_KEY_LEN 32

struct sv_wrap_context {
  uint8_t tenant_id[SV_ID_LEN];
  uint8_t volume_id[SV_ID_LEN];
  uint32_t cipher;
  uint32_t volume_key_version;
  uint32_t tenant_key_version;
};

int sv_wrap_key (uint8_t out[SV_WRAPPED_KEY_LEN],
                 const struct sv_key *tenant_key,
                 const struct sv_wrap_context *wc,
                 const struct sv_key *volume_key);

/* Returns a new key, or NULL with errno = EILSEQ if the tenant key is
 * wrong or the wrapped bytes or context were altered. */
struct sv_key *sv_unwrap_key (const uint8_t in[SV_WRAPPED_KEY_LEN],
                              const struct sv_key *tenant_key,
                              const struct sv_wrap_context *wc);

#endif
