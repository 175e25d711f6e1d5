/* sealvol: key material in locked, non-dumpable memory.
 *
 * Every secret (tenant key, volume key, derived subkeys) lives in a
 * struct sv_key.  The bytes come from sodium_malloc, which places them
 * between guard pages, mlocks them and marks them MADV_DONTDUMP, so they
 * never reach swap or a core dump.  sv_key_free wipes them.  Compare keys
 * with sv_key_equal (constant time), never memcmp.
 */
#ifndef SEALVOL_SECMEM_H
#define SEALVOL_SECMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sv_key;

/* Call once before anything else in this library; returns -1 if libsodium
 * cannot start. */
int sv_crypto_init (void);

struct sv_key *sv_key_new (size_t len);             /* zero-filled */
struct sv_key *sv_key_new_random (size_t len);
struct sv_key *sv_key_from_bytes (const void *bytes, size_t len);
void sv_key_free (struct sv_key *key);
const uint8_t *sv_key_bytes (const struct sv_key *key);
uint8_t *sv_key_bytes_mut (struct sv_key *key);
size_t sv_key_len (const struct sv_key *key);
bool sv_key_equal (const struct sv_key *a, const struct sv_key *b);

/* Wipe a buffer that held a secret, in a way the compiler cannot elide. */
void sv_wipe (void *p, size_t len);

static inline void
sv_key_freep (struct sv_key **keyp)
{
  sv_key_free (*keyp);
}
#define CLEANUP_KEY __attribute__ ((cleanup (sv_key_freep)))

#endif
