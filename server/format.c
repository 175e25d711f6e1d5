/* sealvol: the on-disk format. */
#include <config.h>

#include <string.h>

#include "endian-util.h"
#include "format.h"
#include "kdf.h"
#include <openssl/crypto.h>

/* Superblock field offsets: the byte table in docs/format.md. */
enum {
  OFF_MAGIC = 0, OFF_VERSION = 8, OFF_HDR_LEN = 12, OFF_FLAGS = 16,
  OFF_CIPHER = 20, OFF_BLOCK_SIZE = 24, OFF_SLOT_SIZE = 28, OFF_SIZE = 32,
  OFF_TENANT_ID = 40, OFF_VOLUME_ID = 56, OFF_NAME = 72,
  OFF_SERVICE_TYPE = 136, OFF_CREATED = 168, OFF_SEQ = 176,
  OFF_SESSION = 184, OFF_LAST_UNCLEAN = 188, OFF_WRITES_RESERVED = 192,
  OFF_WRITE_LIMIT = 200, OFF_TENANT_KEY_VERSION = 208,
  OFF_VOLUME_KEY_VERSION = 212, OFF_WRAPPED_KEY = 216,
  OFF_MAC = SV_SUPERBLOCK_LEN - SV_HMAC_LEN,
};

void
sv_superblock_encode (const struct sv_superblock *sb,
                      const uint8_t mac_key[32],
                      uint8_t buf[SV_SUPERBLOCK_LEN])
{
  memset (buf, 0, SV_SUPERBLOCK_LEN);
  memcpy (buf + OFF_MAGIC, SV_MAGIC, 8);
  put_le32 (buf + OFF_VERSION, sb->version);
  put_le32 (buf + OFF_HDR_LEN, SV_SUPERBLOCK_LEN);
  put_le32 (buf + OFF_FLAGS, sb->flags);
  put_le32 (buf + OFF_CIPHER, sb->cipher);
  put_le32 (buf + OFF_BLOCK_SIZE, sb->block_size);
  put_le32 (buf + OFF_SLOT_SIZE, sb->slot_size);
  put_le64 (buf + OFF_SIZE, sb->size);
  memcpy (buf + OFF_TENANT_ID, sb->tenant_id, SV_ID_LEN);
  memcpy (buf + OFF_VOLUME_ID, sb->volume_id, SV_ID_LEN);
  memcpy (buf + OFF_NAME, sb->name, strnlen (sb->name, SV_NAME_MAX));
  memcpy (buf + OFF_SERVICE_TYPE, sb->service_type,
          strnlen (sb->service_type, SV_SERVICE_TYPE_MAX));
  put_le64 (buf + OFF_CREATED, sb->created);
  put_le64 (buf + OFF_SEQ, sb->seq);
  put_le32 (buf + OFF_SESSION, sb->session);
  put_le32 (buf + OFF_LAST_UNCLEAN, sb->last_unclean_session);
  put_le64 (buf + OFF_WRITES_RESERVED, sb->writes_reserved);
  put_le64 (buf + OFF_WRITE_LIMIT, sb->write_limit);
  put_le32 (buf + OFF_TENANT_KEY_VERSION, sb->tenant_key_version);
  put_le32 (buf + OFF_VOLUME_KEY_VERSION, sb->volume_key_version);
  memcpy (buf + OFF_WRAPPED_KEY, sb->wrapped_key, SV_WRAPPED_KEY_LEN);
  sv_hmac_sha256 (buf + OFF_MAC, mac_key, 32, buf, OFF_MAC);
}

/* A fixed-width text field: the text, then NUL padding to its width. */
static int
decode_string (char *out, size_t width, const uint8_t *in)
{
  const uint8_t *nul = memchr (in, '\0', width);

  if (nul == NULL)
    return -1;
  for (const uint8_t *p = nul; p < in + width; p++)
    if (*p)
      return -1;
  memcpy (out, in, width);
  return 0;
}

static bool
all_zero (const uint8_t *p, size_t len)
{
  uint8_t acc = 0;

  for (size_t i = 0; i < len; i++)
    acc |= p[i];
  return acc == 0;
}

int
sv_superblock_decode (const uint8_t buf[SV_SUPERBLOCK_LEN],
                      struct sv_superblock *sb, const char **why)
{
  memset (sb, 0, sizeof *sb);
  if (memcmp (buf + OFF_MAGIC, SV_MAGIC, 8) != 0)
    return *why = "not a sealvol superblock (bad magic)", -1;
  sb->version = get_le32 (buf + OFF_VERSION);
  if (sb->version != SV_FORMAT_VERSION)
    return *why = "unsupported format version", -1;
  if (get_le32 (buf + OFF_HDR_LEN) != SV_SUPERBLOCK_LEN)
    return *why = "bad superblock length", -1;
  sb->flags = get_le32 (buf + OFF_FLAGS);
  if (sb->flags & ~(uint32_t) SV_SB_OPEN)
    return *why = "unknown superblock flags", -1;
  sb->cipher = get_le32 (buf + OFF_CIPHER);
  if (sv_cipher_name ((int) sb->cipher) == NULL)
    return *why = "unknown cipher", -1;
  sb->block_size = get_le32 (buf + OFF_BLOCK_SIZE);
  sb->slot_size = get_le32 (buf + OFF_SLOT_SIZE);
  if (sb->block_size != SV_BLOCK_SIZE
      || sb->slot_size != (sv_cipher_is_aead ((int) sb->cipher)
                           ? SV_SLOT_LEN : 0))
    return *why = "unsupported block or slot size", -1;
  sb->size = get_le64 (buf + OFF_SIZE);
  if (!sv_volume_size_ok (sb->size))
    return *why = "bad volume size", -1;
  memcpy (sb->tenant_id, buf + OFF_TENANT_ID, SV_ID_LEN);
  memcpy (sb->volume_id, buf + OFF_VOLUME_ID, SV_ID_LEN);
  if (decode_string (sb->name, sizeof sb->name, buf + OFF_NAME) == -1
      || decode_string (sb->service_type, sizeof sb->service_type,
                        buf + OFF_SERVICE_TYPE) == -1)
    return *why = "unterminated name field", -1;
  sb->created = get_le64 (buf + OFF_CREATED);
  sb->seq = get_le64 (buf + OFF_SEQ);
  sb->session = get_le32 (buf + OFF_SESSION);
  sb->last_unclean_session = get_le32 (buf + OFF_LAST_UNCLEAN);
  sb->writes_reserved = get_le64 (buf + OFF_WRITES_RESERVED);
  sb->write_limit = get_le64 (buf + OFF_WRITE_LIMIT);
  sb->tenant_key_version = get_le32 (buf + OFF_TENANT_KEY_VERSION);
  sb->volume_key_version = get_le32 (buf + OFF_VOLUME_KEY_VERSION);
  memcpy (sb->wrapped_key, buf + OFF_WRAPPED_KEY, SV_WRAPPED_KEY_LEN);
  if (!all_zero (buf + OFF_WRAPPED_KEY + SV_WRAPPED_KEY_LEN,
                 OFF_MAC - OFF_WRAPPED_KEY - SV_WRAPPED_KEY_LEN))
    return *why = "reserved superblock bytes are not zero", -1;
  return 0;
}

bool
sv_superblock_mac_ok (const uint8_t buf[SV_SUPERBLOCK_LEN],
                      const uint8_t mac_key[32])
{
  uint8_t mac[SV_HMAC_LEN];

  if (sv_hmac_sha256 (mac, mac_key, 32, buf, OFF_MAC) == -1)
    return false;
  return CRYPTO_memcmp (mac, buf + OFF_MAC, SV_HMAC_LEN) == 0;
}

void
sv_superblock_wrap_context (const struct sv_superblock *sb,
                            struct sv_wrap_context *wc)
{
  memcpy (wc->tenant_id, sb->tenant_id, SV_ID_LEN);
  memcpy (wc->volume_id, sb->volume_id, SV_ID_LEN);
  wc->cipher = sb->cipher;
  wc->volume_key_version = sb->volume_key_version;
  wc->tenant_key_version = sb->tenant_key_version;
}

int
sv_derive_mac_key (uint8_t mac_key[32], const struct sv_key *volume_key,
                   const uint8_t volume_id[SV_ID_LEN])
{
  return sv_hkdf_sha256 (mac_key, 32, sv_key_bytes (volume_key),
                         sv_key_len (volume_key), volume_id, SV_ID_LEN,
                         "sealvol v1 header-mac", NULL, 0);
}

struct sv_key *
sv_derive_data_key (const struct sv_key *volume_key,
                    const uint8_t volume_id[SV_ID_LEN], int cipher)
{
  size_t len = sv_cipher_data_key_len (cipher);
  struct sv_key *key = sv_key_new (len);

  if (key && sv_hkdf_sha256 (sv_key_bytes_mut (key), len,
                             sv_key_bytes (volume_key),
                             sv_key_len (volume_key), volume_id, SV_ID_LEN,
                             "sealvol v1 data-key", NULL, 0) == -1) {
    sv_key_free (key);
    return NULL;
  }
  return key;
}

bool
sv_volume_size_ok (uint64_t size)
{
  return size != 0 && size % SV_BLOCK_SIZE == 0 && size <= SV_MAX_SIZE;
}

uint64_t
sv_meta_offset (uint64_t block)
{
  return block / SV_PAIRS_PER_PAGE * SV_META_PAGE
    + block % SV_PAIRS_PER_PAGE * SV_PAIR_LEN;
}

uint64_t
sv_meta_size (uint64_t nblocks)
{
  return (nblocks + SV_PAIRS_PER_PAGE - 1) / SV_PAIRS_PER_PAGE * SV_META_PAGE;
}

void
sv_slot_encode (const struct sv_slot *slot, uint8_t buf[SV_SLOT_LEN])
{
  put_le32 (buf, slot->gen);
  put_le32 (buf + 4, slot->session);
  memcpy (buf + 8, slot->nonce, SV_NONCE_LEN);
  memcpy (buf + 8 + SV_NONCE_LEN, slot->tag, SV_TAG_LEN);
}

void
sv_slot_decode (const uint8_t buf[SV_SLOT_LEN], struct sv_slot *slot)
{
  slot->gen = get_le32 (buf);
  slot->session = get_le32 (buf + 4);
  memcpy (slot->nonce, buf + 8, SV_NONCE_LEN);
  memcpy (slot->tag, buf + 8 + SV_NONCE_LEN, SV_TAG_LEN);
}

int
sv_pair_newest (const struct sv_slot pair[2])
{
  bool e0 = sv_slot_empty (&pair[0]), e1 = sv_slot_empty (&pair[1]);

  if (e0 && e1)
    return -1;
  if (e0 || e1)
    return e0 ? 1 : 0;
  /* Two live slots differ by one generation; the wrap is harmless. */
  return (int32_t) (pair[1].gen - pair[0].gen) > 0 ? 1 : 0;
}

void
sv_block_ad (uint8_t ad[SV_BLOCK_AD_LEN], const struct sv_superblock *sb,
             uint64_t block, const struct sv_slot *slot)
{
  memcpy (ad, "SVBLOCK1", 8);
  memcpy (ad + 8, sb->tenant_id, SV_ID_LEN);
  memcpy (ad + 24, sb->volume_id, SV_ID_LEN);
  put_le64 (ad + 40, block);
  put_le32 (ad + 48, slot->gen);
  put_le32 (ad + 52, slot->session);
  put_le32 (ad + 56, sb->cipher);
  put_le32 (ad + 60, sb->volume_key_version);
}
