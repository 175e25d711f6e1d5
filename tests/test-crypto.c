/* Known-answer and misuse tests for crypto/.
 * Vectors: AES-256-GCM from the GCM specification (McGrew & Viega, test
 * case 16); XChaCha20-Poly1305 from draft-irtf-cfrg-xchacha-03 A.3.1;
 * XTS-AES-256 from IEEE 1619 vector 10; HKDF from RFC 5869 case 1;
 * HMAC-SHA256 from RFC 4231 case 2. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "cipher.h"
#include "kdf.h"
#include "secmem.h"
#include "tap.h"
#include "wrap.h"

static size_t
unhex (uint8_t *out, size_t cap, const char *hex)
{
  size_t len;

  if (sodium_hex2bin (out, cap, hex, strlen (hex), NULL, &len, NULL) != 0)
    abort ();
  return len;
}

static void
test_gcm_kat (void)
{
  uint8_t k[32], iv[12], a[20], p[60], c[60], t[16], out[60], tag[16];
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();

  unhex (k, 32, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  unhex (iv, 12, "cafebabefacedbaddecaf888");
  unhex (a, 20, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
  unhex (p, 60, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
         "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
  unhex (c, 60, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
         "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
  unhex (t, 16, "76fc6ece0f4e1768cddf8853bb2d551b");

  CHECK (sv_aes256gcm_seal (ctx, k, iv, a, 20, p, out, 60, tag) == 0);
  CHECK (memcmp (out, c, 60) == 0 && memcmp (tag, t, 16) == 0);
  CHECK (sv_aes256gcm_open (ctx, k, iv, a, 20, c, out, 60, t) == 0);
  CHECK (memcmp (out, p, 60) == 0);
  /* Re-using the keyed context with only a new IV gives the same answer. */
  CHECK (sv_aes256gcm_seal (ctx, NULL, iv, a, 20, p, out, 60, tag) == 0
         && memcmp (tag, t, 16) == 0);
  c[7] ^= 1;
  CHECK (sv_aes256gcm_open (ctx, k, iv, a, 20, c, out, 60, t) == -1
         && errno == EILSEQ);
  CHECK (sodium_is_zero (out, 60));     /* failed plaintext is wiped */
  c[7] ^= 1;
  a[0] ^= 1;
  CHECK (sv_aes256gcm_open (ctx, k, iv, a, 20, c, out, 60, t) == -1);
  EVP_CIPHER_CTX_free (ctx);
}

static void
test_xchacha_kat (void)
{
  static const char pt[] = "Ladies and Gentlemen of the class of '99: If I "
    "could offer you only one tip for the future, sunscreen would be it.";
  size_t len = strlen (pt);
  uint8_t k[32], n[24], a[12], c[114], t[16], out[114], tag[16];
  uint8_t sodium_ct[114 + 16];
  unsigned long long clen;
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();

  unhex (k, 32, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  unhex (n, 24, "404142434445464748494a4b4c4d4e4f5051525354555657");
  unhex (a, 12, "50515253c0c1c2c3c4c5c6c7");
  unhex (c, 114, "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
         "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
         "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
         "21f9664c97637da9768812f615c68b13b52e");
  unhex (t, 16, "c0875924c1c7987947deafd8780acf49");

  CHECK (len == 114);
  CHECK (sv_xchacha20poly1305_seal (ctx, k, n, a, 12, (const uint8_t *) pt,
                                    out, len, tag) == 0);
  CHECK (memcmp (out, c, len) == 0 && memcmp (tag, t, 16) == 0);
  CHECK (sv_xchacha20poly1305_open (ctx, k, n, a, 12, c, out, len, t) == 0
         && memcmp (out, pt, len) == 0);
  /* Our OpenSSL-based construction agrees with libsodium's own. */
  crypto_aead_xchacha20poly1305_ietf_encrypt (sodium_ct, &clen,
                                              (const uint8_t *) pt, len,
                                              a, 12, NULL, n, k);
  CHECK (memcmp (sodium_ct, c, len) == 0 && memcmp (sodium_ct + len, t, 16) == 0);
  t[15] ^= 0x80;
  CHECK (sv_xchacha20poly1305_open (ctx, k, n, a, 12, c, out, len, t) == -1
         && errno == EILSEQ);
  EVP_CIPHER_CTX_free (ctx);
}

static void
test_xts_kat (void)
{
  static const char ctx_hex[] =
    "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b"
    "5d31e276f8fe4a8d66b317f9ac683f44680a86ac35adfc3345befecb4bb188fd"
    "5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a741b0"
    "c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca"
    "2a3e7a7d7df7b10355165c8b9a6d0a7de8b062c4500dc4cd120c0f7418dae3d0"
    "b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e12ac3a0f"
    "93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec"
    "583e9645e07b8d9670655ba5bbcfecc6dc3966380ad8fecb17b6ba02469a020a"
    "84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1327a02b140f1"
    "505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae"
    "9be69a2ffeceb1bec9de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29"
    "a9abc3d4d893927284c58754cce294529f8614dcd2aba991925fedc4ae74ffac"
    "6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f"
    "645e8b7e9bfdef33943054ff84011493c27b3429eaedb4ed5376441a77ed4385"
    "1ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550be97f7ab4066193c4caa"
    "773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151";
  uint8_t k[64], iv[16] = { 0xff }, p[512], c[512], out[512];
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new ();

  unhex (k, 64, "2718281828459045235360287471352662497757247093699959574966967627"
         "3141592653589793238462643383279502884197169399375105820974944592");
  unhex (c, 512, ctx_hex);
  for (int i = 0; i < 512; i++)
    p[i] = (uint8_t) i;
  CHECK (sv_aes256xts_crypt (ctx, k, iv, p, out, 512, true) == 0
         && memcmp (out, c, 512) == 0);
  CHECK (sv_aes256xts_crypt (ctx, k, iv, c, out, 512, false) == 0
         && memcmp (out, p, 512) == 0);
  memcpy (k + 32, k, 32);               /* equal halves are refused */
  CHECK (sv_aes256xts_crypt (ctx, k, iv, p, out, 512, true) == -1
         && errno == EINVAL);
  EVP_CIPHER_CTX_free (ctx);
}

static void
test_kdf_kat (void)
{
  uint8_t ikm[22], salt[13], info[10], okm[42], expect[42], mac[32], m[32];

  memset (ikm, 0x0b, sizeof ikm);
  for (int i = 0; i < 13; i++)
    salt[i] = (uint8_t) i;
  for (int i = 0; i < 10; i++)
    info[i] = (uint8_t) (0xf0 + i);
  unhex (expect, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db0"
         "2d56ecc4c5bf34007208d5b887185865");
  CHECK (sv_hkdf_sha256 (okm, 42, ikm, 22, salt, 13, "", info, 10) == 0
         && memcmp (okm, expect, 42) == 0);
  unhex (m, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK (sv_hmac_sha256 (mac, (const uint8_t *) "Jefe", 4,
                         (const uint8_t *) "what do ya want for nothing?", 28)
         == 0 && memcmp (mac, m, 32) == 0);
}

static void
test_wrap (void)
{
  CLEANUP_KEY struct sv_key *tk = sv_key_new_random (SV_TENANT_KEY_LEN);
  CLEANUP_KEY struct sv_key *other = sv_key_new_random (SV_TENANT_KEY_LEN);
  CLEANUP_KEY struct sv_key *vk = sv_key_new_random (SV_VOLUME_KEY_LEN);
  struct sv_wrap_context wc = { .cipher = 1, .volume_key_version = 1,
                                .tenant_key_version = 1 };
  uint8_t w[SV_WRAPPED_KEY_LEN];
  struct sv_key *back;

  memset (wc.tenant_id, 1, SV_ID_LEN);
  memset (wc.volume_id, 2, SV_ID_LEN);
  CHECK (sv_wrap_key (w, tk, &wc, vk) == 0);
  back = sv_unwrap_key (w, tk, &wc);
  CHECK (back != NULL && sv_key_equal (back, vk));
  sv_key_free (back);
  CHECK (sv_unwrap_key (w, other, &wc) == NULL && errno == EILSEQ);
  wc.volume_id[0] ^= 1;                 /* moved to another volume */
  CHECK (sv_unwrap_key (w, tk, &wc) == NULL);
  wc.volume_id[0] ^= 1;
  wc.cipher = 2;                        /* presented as another cipher */
  CHECK (sv_unwrap_key (w, tk, &wc) == NULL);
  wc.cipher = 1;
  wc.tenant_key_version = 2;
  CHECK (sv_unwrap_key (w, tk, &wc) == NULL);
  wc.tenant_key_version = 1;
  w[30] ^= 1;                           /* flipped ciphertext byte */
  CHECK (sv_unwrap_key (w, tk, &wc) == NULL);
}

/* The block engine: round trips, nonce binding, in every cipher. */
static void
test_block_engine (int cipher)
{
  CLEANUP_KEY struct sv_key *key =
    sv_key_new_random (sv_cipher_data_key_len (cipher));
  struct sv_block_cipher *bc = sv_block_cipher_new (cipher, key);
  uint8_t nonce[SV_NONCE_LEN], ad[16] = { 9 }, tag[16];
  static uint8_t p[4096], c[4096], out[4096], c2[4096];

  CHECK (bc != NULL);
  randombytes_buf (p, sizeof p);
  randombytes_buf (nonce, sizeof nonce);
  if (!sv_cipher_is_aead (cipher)) {
    CHECK (sv_block_xts (bc, 7, p, c, 4096, true) == 0);
    CHECK (sv_block_xts (bc, 7, c, out, 4096, false) == 0
           && memcmp (out, p, 4096) == 0);
    CHECK (sv_block_xts (bc, 8, p, c2, 4096, true) == 0
           && memcmp (c, c2, 4096) != 0);      /* the tweak is the address */
    sv_block_cipher_free (bc);
    return;
  }
  CHECK (sv_block_seal (bc, nonce, ad, 16, p, c, 4096, tag) == 0);
  CHECK (sv_block_open (bc, nonce, ad, 16, c, out, 4096, tag) == 0
         && memcmp (out, p, 4096) == 0);
  nonce[0] ^= 1;                        /* another salt / nonce */
  CHECK (sv_block_open (bc, nonce, ad, 16, c, out, 4096, tag) == -1);
  nonce[0] ^= 1;
  nonce[SV_NONCE_LEN - 1] ^= 1;         /* another counter */
  CHECK (sv_block_open (bc, nonce, ad, 16, c, out, 4096, tag) == -1);
  nonce[SV_NONCE_LEN - 1] ^= 1;
  ad[3] ^= 1;
  CHECK (sv_block_open (bc, nonce, ad, 16, c, out, 4096, tag) == -1);
  ad[3] ^= 1;
  CHECK (sv_block_open (bc, nonce, ad, 16, c, out, 4096, tag) == 0);
  sv_block_cipher_free (bc);
}

static void
test_xts_equal_halves_refused (void)
{
  CLEANUP_KEY struct sv_key *key = sv_key_new_random (64);

  memcpy (sv_key_bytes_mut (key) + 32, sv_key_bytes (key), 32);
  CHECK (sv_block_cipher_new (SV_CIPHER_AES_256_XTS, key) == NULL
         && errno == EINVAL);
}

/* A key of any length (one read from a file descriptor has the file's)
 * is an aligned struct: sodium_malloc aligns only whole multiples. */
static void
test_key_alignment (void)
{
  for (size_t len = 1; len <= 100; len++) {
    struct sv_key *key = sv_key_new_random (len);

    CHECK (key != NULL && (uintptr_t) key % _Alignof (size_t) == 0);
    CHECK (key != NULL && sv_key_len (key) == len);
    sv_key_free (key);
  }
}

int
main (void)
{
  if (sv_crypto_init () == -1)
    return 99;
  test_gcm_kat ();
  test_xchacha_kat ();
  test_xts_kat ();
  test_kdf_kat ();
  test_wrap ();
  test_block_engine (SV_CIPHER_AES_256_GCM);
  test_block_engine (SV_CIPHER_XCHACHA20_POLY1305);
  test_block_engine (SV_CIPHER_AES_256_XTS);
  test_xts_equal_halves_refused ();
  test_key_alignment ();
  CHECK (sv_cipher_by_name ("aes-256-gcm") == SV_CIPHER_AES_256_GCM);
  CHECK (sv_cipher_by_name ("none") == -1);
  return tap_result ();
}
