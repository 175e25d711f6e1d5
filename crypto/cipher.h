/* sealvol: the three data ciphers.
 *
 * Two layers.  The primitives (sv_aes256gcm_*, sv_xchacha20poly1305_*,
 * sv_aes256xts_crypt) process one message with a caller-owned
 * EVP_CIPHER_CTX; the known-answer tests call them directly.  The block
 * engine (struct sv_block_cipher) is what the volume store uses: it holds
 * a volume's data key and keeps keyed contexts in a small per-thread cache,
 * so the data path takes no lock and sets a key only when it changes.
 *
 * Bulk crypto is OpenSSL 3 EVP (measured about twice libsodium's speed on
 * our machines).  XChaCha20-Poly1305 is built the standard way
 * (draft-irtf-cfrg-xchacha): HChaCha20 from libsodium derives a subkey from
 * the first 16 nonce bytes, then OpenSSL's ChaCha20-Poly1305 runs with
 * nonce 0x00000000 || last 8 nonce bytes.
 */
#ifndef SEALVOL_CIPHER_H
#define SEALVOL_CIPHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "secmem.h"

enum sv_cipher_id {
  SV_CIPHER_AES_256_GCM = 1,
  SV_CIPHER_XCHACHA20_POLY1305 = 2,
  SV_CIPHER_AES_256_XTS = 3,
};

#define SV_NONCE_LEN 24         /* the nonce field stored per block */
#define SV_TAG_LEN 16
#define SV_GCM_SALT_LEN 16      /* GCM: nonce field = salt16 || counter64 */

const char *sv_cipher_name (int cipher);
int sv_cipher_by_name (const char *name);       /* -1 if unknown */
bool sv_cipher_is_aead (int cipher);
size_t sv_cipher_data_key_len (int cipher);     /* 32, or 64 for XTS */

/* Primitives.  key may be NULL to reuse the key already set in ctx.
 * The open functions return -1 with errno = EILSEQ on a tag mismatch. */
int sv_aes256gcm_seal (EVP_CIPHER_CTX *ctx, const uint8_t *key,
                       const uint8_t iv[12], const uint8_t *ad, size_t adlen,
                       const uint8_t *in, uint8_t *out, size_t len,
                       uint8_t tag[SV_TAG_LEN]);
int sv_aes256gcm_open (EVP_CIPHER_CTX *ctx, const uint8_t *key,
                       const uint8_t iv[12], const uint8_t *ad, size_t adlen,
                       const uint8_t *in, uint8_t *out, size_t len,
                       const uint8_t tag[SV_TAG_LEN]);
int sv_xchacha20poly1305_seal (EVP_CIPHER_CTX *ctx, const uint8_t key[32],
                               const uint8_t nonce[24],
                               const uint8_t *ad, size_t adlen,
                               const uint8_t *in, uint8_t *out, size_t len,
                               uint8_t tag[SV_TAG_LEN]);
int sv_xchacha20poly1305_open (EVP_CIPHER_CTX *ctx, const uint8_t key[32],
                               const uint8_t nonce[24],
                               const uint8_t *ad, size_t adlen,
                               const uint8_t *in, uint8_t *out, size_t len,
                               const uint8_t tag[SV_TAG_LEN]);
/* XTS refuses a key whose two halves are equal (errno = EINVAL). */
int sv_aes256xts_crypt (EVP_CIPHER_CTX *ctx, const uint8_t *key,
                        const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                        size_t len, bool encrypt);

/* The block engine. */
struct sv_block_cipher;

/* data_key is copied.  For GCM it is the root of per-salt subkeys
 * (sv_gcm_subkey); for XChaCha it is the AEAD key; for XTS the 64-byte
 * key whose halves must differ. */
struct sv_block_cipher *sv_block_cipher_new (int cipher,
                                             const struct sv_key *data_key);
void sv_block_cipher_free (struct sv_block_cipher *bc);
int sv_block_cipher_id (const struct sv_block_cipher *bc);

int sv_block_seal (struct sv_block_cipher *bc, const uint8_t nonce[SV_NONCE_LEN],
                   const uint8_t *ad, size_t adlen,
                   const uint8_t *in, uint8_t *out, size_t len,
                   uint8_t tag[SV_TAG_LEN]);
int sv_block_open (struct sv_block_cipher *bc, const uint8_t nonce[SV_NONCE_LEN],
                   const uint8_t *ad, size_t adlen,
                   const uint8_t *in, uint8_t *out, size_t len,
                   const uint8_t tag[SV_TAG_LEN]);
/* XTS: the tweak is the block index, little-endian in the first 8 bytes. */
int sv_block_xts (struct sv_block_cipher *bc, uint64_t block_index,
                  const uint8_t *in, uint8_t *out, size_t len, bool encrypt);

/* The GCM subkey for one salt: HKDF-SHA256(data key, info label || salt). */
int sv_gcm_subkey (uint8_t subkey[32], const uint8_t *data_key,
                   const uint8_t salt[SV_GCM_SALT_LEN]);

#endif
