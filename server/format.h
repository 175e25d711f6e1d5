/* sealvol: the on-disk format (docs/format.md has the byte tables).
 *
 * A volume is a directory with three files:
 *   superblock  4096 bytes: fields, the wrapped volume key, HMAC-SHA256
 *   data        the ciphertext, block i at offset i * 4096 (sparse)
 *   meta        AEAD ciphers only: two 48-byte slots per block, 42 blocks
 *               (4032 bytes) per 4096-byte page, so no slot ever straddles
 *               a page and a page write never tears a slot.
 * All integers are little-endian.  Encoding and decoding live here and
 * nowhere else; they do no I/O, so the fuzzers and unit tests drive them.
 */
#ifndef SEALVOL_FORMAT_H
#define SEALVOL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cipher.h"
#include "wrap.h"

#define SV_MAGIC "SEALVOL\0"
#define SV_FORMAT_VERSION 1
#define SV_SUPERBLOCK_LEN 4096
#define SV_BLOCK_SIZE 4096
#define SV_SLOT_LEN 48
#define SV_PAIR_LEN (2 * SV_SLOT_LEN)
#define SV_PAIRS_PER_PAGE 42
#define SV_META_PAGE 4096
#define SV_NAME_MAX 63                  /* tenant and volume names */
#define SV_SERVICE_TYPE_MAX 31
#define SV_MAX_SIZE (UINT64_C (16) << 40)       /* 16 TiB */
#define SV_BLOCK_AD_LEN 64

/* Superblock flags. */
#define SV_SB_OPEN 0x1          /* set while served; still set after a crash */

struct sv_superblock {
  uint32_t version;
  uint32_t flags;
  uint32_t cipher;
  uint32_t block_size;
  uint32_t slot_size;
  uint64_t size;
  uint8_t tenant_id[SV_ID_LEN];
  uint8_t volume_id[SV_ID_LEN];
  char name[SV_NAME_MAX + 1];
  char service_type[SV_SERVICE_TYPE_MAX + 1];
  uint64_t created;
  uint64_t seq;                 /* bumped by every superblock write */
  uint32_t session;             /* number of the latest writable open */
  uint32_t last_unclean_session;        /* latest session that crashed */
  uint64_t writes_reserved;     /* durable high-water mark of block writes */
  uint64_t write_limit;         /* block writes allowed under this key */
  uint32_t tenant_key_version;
  uint32_t volume_key_version;
  uint8_t wrapped_key[SV_WRAPPED_KEY_LEN];
};

/* One metadata slot.  Empty when session == 0. */
struct sv_slot {
  uint32_t gen;
  uint32_t session;
  uint8_t nonce[SV_NONCE_LEN];
  uint8_t tag[SV_TAG_LEN];
};

/* Superblock.  decode checks everything that needs no key and returns -1
 * with a one-line reason in *why; the MAC is checked separately once the
 * volume key has been unwrapped. */
void sv_superblock_encode (const struct sv_superblock *sb,
                           const uint8_t mac_key[32],
                           uint8_t buf[SV_SUPERBLOCK_LEN]);
int sv_superblock_decode (const uint8_t buf[SV_SUPERBLOCK_LEN],
                          struct sv_superblock *sb, const char **why);
bool sv_superblock_mac_ok (const uint8_t buf[SV_SUPERBLOCK_LEN],
                           const uint8_t mac_key[32]);
void sv_superblock_wrap_context (const struct sv_superblock *sb,
                                 struct sv_wrap_context *wc);

/* A volume size the format allows: whole blocks, at least one, at most
 * SV_MAX_SIZE.  Create, resize and the superblock decoder all ask this. */
bool sv_volume_size_ok (uint64_t size);

/* Keys derived from the 64-byte volume key. */
int sv_derive_mac_key (uint8_t mac_key[32], const struct sv_key *volume_key,
                       const uint8_t volume_id[SV_ID_LEN]);
struct sv_key *sv_derive_data_key (const struct sv_key *volume_key,
                                   const uint8_t volume_id[SV_ID_LEN],
                                   int cipher);

/* Metadata. */
uint64_t sv_meta_offset (uint64_t block);       /* offset of the pair */
uint64_t sv_meta_size (uint64_t nblocks);
void sv_slot_encode (const struct sv_slot *slot, uint8_t buf[SV_SLOT_LEN]);
void sv_slot_decode (const uint8_t buf[SV_SLOT_LEN], struct sv_slot *slot);
static inline bool sv_slot_empty (const struct sv_slot *s) { return s->session == 0; }
/* Index (0 or 1) of the newer non-empty slot of a pair, or -1 if both are
 * empty.  Generations compare in serial-number arithmetic (RFC 1982). */
int sv_pair_newest (const struct sv_slot pair[2]);

/* The associated data of one block. */
void sv_block_ad (uint8_t ad[SV_BLOCK_AD_LEN], const struct sv_superblock *sb,
                  uint64_t block, const struct sv_slot *slot);

#endif
