/* sealvol: the three data ciphers. */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "cipher.h"
#include "kdf.h"

static const struct {
  int id;
  const char *name;
  size_t key_len;
  bool aead;
} ciphers[] = {
  { SV_CIPHER_AES_256_GCM, "aes-256-gcm", 32, true },
  { SV_CIPHER_XCHACHA20_POLY1305, "xchacha20-poly1305", 32, true },
  { SV_CIPHER_AES_256_XTS, "aes-256-xts", 64, false },
};
#define N_CIPHERS (sizeof ciphers / sizeof ciphers[0])

const char *
sv_cipher_name (int cipher)
{
  for (size_t i = 0; i < N_CIPHERS; i++)
    if (ciphers[i].id == cipher)
      return ciphers[i].name;
  return NULL;
}

int
sv_cipher_by_name (const char *name)
{
  for (size_t i = 0; i < N_CIPHERS; i++)
    if (strcmp (ciphers[i].name, name) == 0)
      return ciphers[i].id;
  return -1;
}

bool
sv_cipher_is_aead (int cipher)
{
  for (size_t i = 0; i < N_CIPHERS; i++)
    if (ciphers[i].id == cipher)
      return ciphers[i].aead;
  return false;
}

size_t
sv_cipher_data_key_len (int cipher)
{
  for (size_t i = 0; i < N_CIPHERS; i++)
    if (ciphers[i].id == cipher)
      return ciphers[i].key_len;
  return 0;
}

/* Fetch each EVP_CIPHER once: an implicit fetch on every init costs a
 * provider lookup per block. */
static EVP_CIPHER *evp_gcm, *evp_chacha, *evp_xts;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void
fetch_ciphers (void)
{
  evp_gcm = EVP_CIPHER_fetch (NULL, "AES-256-GCM", NULL);
  evp_chacha = EVP_CIPHER_fetch (NULL, "ChaCha20-Poly1305", NULL);
  evp_xts = EVP_CIPHER_fetch (NULL, "AES-256-XTS", NULL);
}

static const EVP_CIPHER *
evp_cipher (int cipher)
{
  pthread_once (&fetch_once, fetch_ciphers);
  switch (cipher) {
  case SV_CIPHER_AES_256_GCM: return evp_gcm;
  case SV_CIPHER_XCHACHA20_POLY1305: return evp_chacha;
  case SV_CIPHER_AES_256_XTS: return evp_xts;
  }
  return NULL;
}

/* Set cipher, key and IV.  A context already set up for this cipher is
 * only re-keyed (or, with key == NULL, only given a new IV). */
static int
aead_init (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *evp, const uint8_t *key,
           const uint8_t *iv, bool encrypt)
{
  const EVP_CIPHER *cur = EVP_CIPHER_CTX_get0_cipher (ctx);

  if (cur != evp)
    return EVP_CipherInit_ex2 (ctx, evp, key, iv, encrypt, NULL) > 0 ? 0 : -1;
  return EVP_CipherInit_ex2 (ctx, NULL, key, iv, encrypt, NULL) > 0 ? 0 : -1;
}

static int
aead_seal (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *evp, const uint8_t *key,
           const uint8_t iv[12], const uint8_t *ad, size_t adlen,
           const uint8_t *in, uint8_t *out, size_t len, uint8_t *tag)
{
  int outl;

  if (aead_init (ctx, evp, key, iv, true) == -1
      || (adlen && EVP_CipherUpdate (ctx, NULL, &outl, ad, (int) adlen) <= 0)
      || EVP_CipherUpdate (ctx, out, &outl, in, (int) len) <= 0
      || EVP_CipherFinal_ex (ctx, out + outl, &outl) <= 0
      || EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_GET_TAG, SV_TAG_LEN, tag) <= 0) {
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
aead_open (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *evp, const uint8_t *key,
           const uint8_t iv[12], const uint8_t *ad, size_t adlen,
           const uint8_t *in, uint8_t *out, size_t len, const uint8_t *tag)
{
  int outl;

  if (aead_init (ctx, evp, key, iv, false) == -1
      || (adlen && EVP_CipherUpdate (ctx, NULL, &outl, ad, (int) adlen) <= 0)
      || EVP_CipherUpdate (ctx, out, &outl, in, (int) len) <= 0
      || EVP_CIPHER_CTX_ctrl (ctx, EVP_CTRL_AEAD_SET_TAG, SV_TAG_LEN,
                              (void *) tag) <= 0) {
    errno = EIO;
    return -1;
  }
  if (EVP_CipherFinal_ex (ctx, out + outl, &outl) <= 0) {
    /* Never hand back plaintext that failed authentication. */
    sv_wipe (out, len);
    errno = EILSEQ;
    return -1;
  }
  return 0;
}

int
sv_aes256gcm_seal (EVP_CIPHER_CTX *ctx, const uint8_t *key,
                   const uint8_t iv[12], const uint8_t *ad, size_t adlen,
                   const uint8_t *in, uint8_t *out, size_t len,
                   uint8_t tag[SV_TAG_LEN])
{
  return aead_seal (ctx, evp_cipher (SV_CIPHER_AES_256_GCM), key, iv,
                    ad, adlen, in, out, len, tag);
}

int
sv_aes256gcm_open (EVP_CIPHER_CTX *ctx, const uint8_t *key,
                   const uint8_t iv[12], const uint8_t *ad, size_t adlen,
                   const uint8_t *in, uint8_t *out, size_t len,
                   const uint8_t tag[SV_TAG_LEN])
{
  return aead_open (ctx, evp_cipher (SV_CIPHER_AES_256_GCM), key, iv,
                    ad, adlen, in, out, len, tag);
}

/* XChaCha20 = ChaCha20 under HChaCha20(key, nonce[0..16]) with the IETF
 * nonce 0x00000000 || nonce[16..24]. */
static void
xchacha_subkey (uint8_t subkey[32], uint8_t iv[12], const uint8_t key[32],
                const uint8_t nonce[24])
{
  crypto_core_hchacha20 (subkey, nonce, key, NULL);
  memset (iv, 0, 4);
  memcpy (iv + 4, nonce + 16, 8);
}

int
sv_xchacha20poly1305_seal (EVP_CIPHER_CTX *ctx, const uint8_t key[32],
                           const uint8_t nonce[24],
                           const uint8_t *ad, size_t adlen,
                           const uint8_t *in, uint8_t *out, size_t len,
                           uint8_t tag[SV_TAG_LEN])
{
  uint8_t subkey[32], iv[12];
  int r;

  xchacha_subkey (subkey, iv, key, nonce);
  r = aead_seal (ctx, evp_cipher (SV_CIPHER_XCHACHA20_POLY1305), subkey, iv,
                 ad, adlen, in, out, len, tag);
  sv_wipe (subkey, sizeof subkey);
  return r;
}

int
sv_xchacha20poly1305_open (EVP_CIPHER_CTX *ctx, const uint8_t key[32],
                           const uint8_t nonce[24],
                           const uint8_t *ad, size_t adlen,
                           const uint8_t *in, uint8_t *out, size_t len,
                           const uint8_t tag[SV_TAG_LEN])
{
  uint8_t subkey[32], iv[12];
  int r;

  xchacha_subkey (subkey, iv, key, nonce);
  r = aead_open (ctx, evp_cipher (SV_CIPHER_XCHACHA20_POLY1305), subkey, iv,
                 ad, adlen, in, out, len, tag);
  sv_wipe (subkey, sizeof subkey);
  return r;
}

int
sv_aes256xts_crypt (EVP_CIPHER_CTX *ctx, const uint8_t *key,
                    const uint8_t iv[16], const uint8_t *in, uint8_t *out,
                    size_t len, bool encrypt)
{
  const EVP_CIPHER *evp = evp_cipher (SV_CIPHER_AES_256_XTS);
  int outl;

  if (key && sodium_memcmp (key, key + 32, 32) == 0) {
    errno = EINVAL;             /* IEEE 1619: the two halves must differ */
    return -1;
  }
  /* XTS takes a whole data unit in one update call. */
  if (aead_init (ctx, evp, key, iv, encrypt) == -1
      || EVP_CipherUpdate (ctx, out, &outl, in, (int) len) <= 0) {
    errno = EIO;
    return -1;
  }
  return 0;
}

int
sv_gcm_subkey (uint8_t subkey[32], const uint8_t *data_key,
               const uint8_t salt[SV_GCM_SALT_LEN])
{
  return sv_hkdf_sha256 (subkey, 32, data_key, 32, NULL, 0,
                         "sealvol v1 aes-256-gcm subkey", salt,
                         SV_GCM_SALT_LEN);
}

/* ---- the block engine ---- */

struct sv_block_cipher {
  int cipher;
  uint64_t id;                  /* never reused in this process */
  struct sv_key *data_key;
};

/* Each thread keeps a few keyed contexts, tagged by (engine id, salt):
 * GCM and XChaCha20 one per subkey (the first 16 nonce bytes), XTS one
 * per direction. */
#define THREAD_CACHE_SLOTS 8
struct keyed_ctx {
  uint64_t owner;
  uint8_t salt[SV_GCM_SALT_LEN];
  uint64_t last_used;
  EVP_CIPHER_CTX *ctx;
};
struct thread_cache {
  uint64_t tick;
  struct keyed_ctx slot[THREAD_CACHE_SLOTS];
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static _Atomic uint64_t next_engine_id = 1;

static void
thread_cache_free (void *p)
{
  struct thread_cache *tc = p;

  for (size_t i = 0; i < THREAD_CACHE_SLOTS; i++)
    EVP_CIPHER_CTX_free (tc->slot[i].ctx);
  sv_wipe (tc, sizeof *tc);
  free (tc);
}

static void
make_cache_key (void)
{
  pthread_key_create (&cache_key, thread_cache_free);
}

static struct thread_cache *
thread_cache (void)
{
  struct thread_cache *tc;

  pthread_once (&cache_once, make_cache_key);
  tc = pthread_getspecific (cache_key);
  if (tc)
    return tc;
  tc = calloc (1, sizeof *tc);
  if (tc == NULL)
    return NULL;
  if (pthread_setspecific (cache_key, tc) != 0) {
    free (tc);
    return NULL;
  }
  return tc;
}

/* Find the context keyed for (bc, salt), keying the least recently used
 * slot on a miss.  GCM passes its subkey salt.  XTS passes NULL and gets
 * separate contexts per direction, because AES decryption needs its own
 * key schedule (GCM only ever runs AES forwards). */
static EVP_CIPHER_CTX *
keyed_ctx (struct sv_block_cipher *bc, const uint8_t *salt, bool encrypt)
{
  static const uint8_t xts_enc[SV_GCM_SALT_LEN] = { 1 };
  static const uint8_t xts_dec[SV_GCM_SALT_LEN] = { 2 };
  struct thread_cache *tc = thread_cache ();
  struct keyed_ctx *victim;
  uint8_t subkey[32];
  const uint8_t *key;
  int r;

  if (tc == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  if (salt == NULL)
    salt = encrypt ? xts_enc : xts_dec;
  else
    encrypt = true;
  victim = &tc->slot[0];
  for (size_t i = 0; i < THREAD_CACHE_SLOTS; i++) {
    struct keyed_ctx *s = &tc->slot[i];
    if (s->ctx && s->owner == bc->id
        && memcmp (s->salt, salt, SV_GCM_SALT_LEN) == 0) {
      s->last_used = ++tc->tick;
      return s->ctx;
    }
    if (s->last_used < victim->last_used)
      victim = s;
  }

  if (victim->ctx == NULL && (victim->ctx = EVP_CIPHER_CTX_new ()) == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  key = sv_key_bytes (bc->data_key);
  if (bc->cipher == SV_CIPHER_AES_256_GCM) {
    if (sv_gcm_subkey (subkey, key, salt) == -1) {
      errno = EIO;
      return NULL;
    }
    key = subkey;
  }
  else if (bc->cipher == SV_CIPHER_XCHACHA20_POLY1305) {
    crypto_core_hchacha20 (subkey, salt, key, NULL);
    key = subkey;
  }
  r = EVP_CipherInit_ex2 (victim->ctx, evp_cipher (bc->cipher), key, NULL,
                          encrypt, NULL);
  sv_wipe (subkey, sizeof subkey);
  if (r <= 0) {
    victim->owner = 0;
    errno = EIO;
    return NULL;
  }
  victim->owner = bc->id;
  memcpy (victim->salt, salt, SV_GCM_SALT_LEN);
  victim->last_used = ++tc->tick;
  return victim->ctx;
}

struct sv_block_cipher *
sv_block_cipher_new (int cipher, const struct sv_key *data_key)
{
  struct sv_block_cipher *bc;
  const uint8_t *k = sv_key_bytes (data_key);

  if (sv_cipher_name (cipher) == NULL
      || sv_key_len (data_key) != sv_cipher_data_key_len (cipher)
      || (cipher == SV_CIPHER_AES_256_XTS
          && sodium_memcmp (k, k + 32, 32) == 0)) {
    errno = EINVAL;
    return NULL;
  }
  bc = calloc (1, sizeof *bc);
  if (bc == NULL)
    return NULL;
  bc->data_key = sv_key_from_bytes (k, sv_key_len (data_key));
  if (bc->data_key == NULL) {
    free (bc);
    return NULL;
  }
  bc->cipher = cipher;
  bc->id = atomic_fetch_add (&next_engine_id, 1);
  return bc;
}

void
sv_block_cipher_free (struct sv_block_cipher *bc)
{
  if (bc) {
    sv_key_free (bc->data_key);
    free (bc);
  }
}

int
sv_block_cipher_id (const struct sv_block_cipher *bc)
{
  return bc->cipher;
}

/* GCM IV under a per-salt subkey: the 64-bit counter || 0x00000000. */
static void
gcm_iv (uint8_t iv[12], const uint8_t nonce[SV_NONCE_LEN])
{
  memcpy (iv, nonce + SV_GCM_SALT_LEN, 8);
  memset (iv + 8, 0, 4);
}


/* What one AEAD block needs: the context (keyed already for GCM), the
 * key still to set (XChaCha's per-nonce subkey) and the IV. */
struct block_setup {
  EVP_CIPHER_CTX *ctx;
  const EVP_CIPHER *evp;
  const uint8_t *key;
  uint8_t subkey[32];
  uint8_t iv[12];
};

static int
block_setup (struct sv_block_cipher *bc, const uint8_t nonce[SV_NONCE_LEN],
             struct block_setup *s)
{
  s->evp = evp_cipher (bc->cipher);
  s->key = NULL;
  switch (bc->cipher) {
  case SV_CIPHER_AES_256_GCM:
    s->ctx = keyed_ctx (bc, nonce, true);
    gcm_iv (s->iv, nonce);
    return s->ctx ? 0 : -1;
  case SV_CIPHER_XCHACHA20_POLY1305:
    /* The subkey depends only on the first 16 nonce bytes, which the
     * writer keeps per session (volume-io.c), so it is cached like GCM's. */
    s->ctx = keyed_ctx (bc, nonce, true);
    memset (s->iv, 0, 4);
    memcpy (s->iv + 4, nonce + 16, 8);
    return s->ctx ? 0 : -1;
  }
  errno = EINVAL;
  return -1;
}

int
sv_block_seal (struct sv_block_cipher *bc, const uint8_t nonce[SV_NONCE_LEN],
               const uint8_t *ad, size_t adlen,
               const uint8_t *in, uint8_t *out, size_t len,
               uint8_t tag[SV_TAG_LEN])
{
  struct block_setup s;
  int r = block_setup (bc, nonce, &s);

  if (r == 0)
    r = aead_seal (s.ctx, s.evp, s.key, s.iv, ad, adlen, in, out, len, tag);
  sv_wipe (s.subkey, sizeof s.subkey);
  return r;
}

int
sv_block_open (struct sv_block_cipher *bc, const uint8_t nonce[SV_NONCE_LEN],
               const uint8_t *ad, size_t adlen,
               const uint8_t *in, uint8_t *out, size_t len,
               const uint8_t tag[SV_TAG_LEN])
{
  struct block_setup s;
  int r = block_setup (bc, nonce, &s);

  if (r == 0)
    r = aead_open (s.ctx, s.evp, s.key, s.iv, ad, adlen, in, out, len, tag);
  sv_wipe (s.subkey, sizeof s.subkey);
  return r;
}

int
sv_block_xts (struct sv_block_cipher *bc, uint64_t block_index,
              const uint8_t *in, uint8_t *out, size_t len, bool encrypt)
{
  EVP_CIPHER_CTX *ctx;
  uint8_t iv[16] = { 0 };

  if (bc->cipher != SV_CIPHER_AES_256_XTS) {
    errno = EINVAL;
    return -1;
  }
  if ((ctx = keyed_ctx (bc, NULL, encrypt)) == NULL)
    return -1;
  for (int i = 0; i < 8; i++)
    iv[i] = (uint8_t) (block_index >> (8 * i));
  return sv_aes256xts_crypt (ctx, NULL, iv, in, out, len, encrypt);
}
