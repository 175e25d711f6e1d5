/* Unit tests for server/format.c and server/names.c: encoding round
 * trips, every decode refusal, slot ordering across the generation wrap,
 * metadata placement, name and size rules. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "names.h"
#include "tap.h"

static void
sample_superblock (struct sv_superblock *sb)
{
  memset (sb, 0, sizeof *sb);
  sb->version = SV_FORMAT_VERSION;
  sb->cipher = SV_CIPHER_AES_256_GCM;
  sb->block_size = SV_BLOCK_SIZE;
  sb->slot_size = SV_SLOT_LEN;
  sb->size = UINT64_C (1) << 30;
  memset (sb->tenant_id, 0x11, SV_ID_LEN);
  memset (sb->volume_id, 0x22, SV_ID_LEN);
  strcpy (sb->name, "db");
  strcpy (sb->service_type, "gp");
  sb->seq = 7;
  sb->session = 3;
  sb->last_unclean_session = 2;
  sb->write_limit = 1000;
  sb->tenant_key_version = 1;
  sb->volume_key_version = 1;
  memset (sb->wrapped_key, 0x33, SV_WRAPPED_KEY_LEN);
}

static void
test_superblock (void)
{
  static const uint8_t key[32] = { 1 }, other[32] = { 2 };
  struct sv_superblock sb, back;
  uint8_t buf[SV_SUPERBLOCK_LEN], bad[SV_SUPERBLOCK_LEN];
  const char *why;

  sample_superblock (&sb);
  sv_superblock_encode (&sb, key, buf);
  CHECK (memcmp (buf, "SEALVOL\0", 8) == 0);
  CHECK (sv_superblock_decode (buf, &back, &why) == 0);
  CHECK (memcmp (&sb, &back, sizeof sb) == 0);
  CHECK (sv_superblock_mac_ok (buf, key));
  CHECK (!sv_superblock_mac_ok (buf, other));
  /* Every single-byte flip anywhere is caught by decode or by the MAC. */
  int caught = 0;
  for (int off = 0; off < SV_SUPERBLOCK_LEN; off += 7) {
    memcpy (bad, buf, sizeof bad);
    bad[off] ^= 0x40;
    if (sv_superblock_decode (bad, &back, &why) == -1
        || !sv_superblock_mac_ok (bad, key))
      caught++;
  }
  CHECK (caught == (SV_SUPERBLOCK_LEN + 6) / 7);

  struct { int off; uint8_t val; const char *why; } cases[] = {
    { 0, 'X', "bad magic" }, { 8, 9, "version" }, { 20, 9, "cipher" },
    { 24, 1, "block" }, { 32, 1, "size" }, { 1000, 1, "reserved" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memcpy (bad, buf, sizeof bad);
    bad[cases[i].off] = cases[i].val;
    CHECK (sv_superblock_decode (bad, &back, &why) == -1
           && strstr (why, cases[i].why) != NULL);
  }
  memcpy (bad, buf, sizeof bad);
  memset (bad + 72, 'a', 64);                   /* unterminated name */
  CHECK (sv_superblock_decode (bad, &back, &why) == -1);
  sb.size = (UINT64_C (16) << 40) + 4096;       /* over 16 TiB */
  sv_superblock_encode (&sb, key, buf);
  CHECK (sv_superblock_decode (buf, &back, &why) == -1);
  CHECK (sv_volume_size_ok (4096) && sv_volume_size_ok (UINT64_C (16) << 40));
  CHECK (!sv_volume_size_ok (0) && !sv_volume_size_ok (4095)
         && !sv_volume_size_ok ((UINT64_C (16) << 40) + 4096));
}

static void
test_slots (void)
{
  struct sv_slot pair[2], back;
  uint8_t buf[SV_SLOT_LEN];

  memset (pair, 0, sizeof pair);
  CHECK (sv_pair_newest (pair) == -1);
  pair[1] = (struct sv_slot) { .gen = 5, .session = 1 };
  CHECK (sv_pair_newest (pair) == 1);
  pair[0] = (struct sv_slot) { .gen = 6, .session = 2 };
  CHECK (sv_pair_newest (pair) == 0);
  pair[0].gen = UINT32_MAX;                     /* the wrap is ordered */
  pair[1].gen = 0;
  CHECK (sv_pair_newest (pair) == 1);
  pair[1].session = 0;                          /* empty loses */
  CHECK (sv_pair_newest (pair) == 0);

  memset (&pair[0].nonce, 0xab, SV_NONCE_LEN);
  memset (&pair[0].tag, 0xcd, SV_TAG_LEN);
  sv_slot_encode (&pair[0], buf);
  sv_slot_decode (buf, &back);
  CHECK (memcmp (&back, &pair[0], sizeof back) == 0);
}

static void
test_meta_layout (void)
{
  CHECK (sv_meta_offset (0) == 0);
  CHECK (sv_meta_offset (1) == 96);
  CHECK (sv_meta_offset (41) == 41 * 96);
  CHECK (sv_meta_offset (42) == 4096);          /* next page, after padding */
  CHECK (41 * 96 + 96 <= 4096 - 64);
  CHECK (sv_meta_size (1) == 4096 && sv_meta_size (42) == 4096
         && sv_meta_size (43) == 8192);
  /* 16 TiB: metadata under 3 % of the data. */
  uint64_t n = (UINT64_C (16) << 40) / 4096;
  CHECK ((double) sv_meta_size (n) / (double) (n * 4096) < 0.03);
}

static void
test_block_ad (void)
{
  struct sv_superblock sb;
  struct sv_slot s = { .gen = 1, .session = 1 };
  uint8_t a[SV_BLOCK_AD_LEN], b[SV_BLOCK_AD_LEN];

  sample_superblock (&sb);
  sv_block_ad (a, &sb, 10, &s);
  sv_block_ad (b, &sb, 11, &s);
  CHECK (memcmp (a, b, sizeof a) != 0);         /* address bound */
  sb.volume_id[0] ^= 1;
  sv_block_ad (b, &sb, 10, &s);
  CHECK (memcmp (a, b, sizeof a) != 0);         /* volume bound */
  sb.volume_id[0] ^= 1;
  sb.tenant_id[5] ^= 1;
  sv_block_ad (b, &sb, 10, &s);
  CHECK (memcmp (a, b, sizeof a) != 0);         /* tenant bound */
}

static void
test_names_and_sizes (void)
{
  char t[64], v[64], name64[65];
  const char *why;
  uint64_t n;

  CHECK (sv_name_ok ("db-1.data_x"));
  CHECK (!sv_name_ok (""));
  CHECK (!sv_name_ok (".."));
  CHECK (!sv_name_ok ("../x"));
  CHECK (!sv_name_ok ("a/b"));
  CHECK (!sv_name_ok (".hidden"));
  CHECK (!sv_name_ok ("a b"));
  memset (name64, 'a', 64);
  name64[64] = '\0';
  CHECK (!sv_name_ok (name64));
  name64[63] = '\0';
  CHECK (sv_name_ok (name64));
  CHECK (sv_split_volume_spec ("acme/db", t, v, &why) == 0
         && strcmp (t, "acme") == 0 && strcmp (v, "db") == 0);
  CHECK (sv_split_volume_spec ("acme", t, v, &why) == -1);
  CHECK (sv_split_volume_spec ("acme/../x", t, v, &why) == -1);
  CHECK (sv_split_volume_spec ("/db", t, v, &why) == -1);

  CHECK (sv_parse_size ("4096", &n) == 0 && n == 4096);
  CHECK (sv_parse_size ("64M", &n) == 0 && n == UINT64_C (64) << 20);
  CHECK (sv_parse_size ("16T", &n) == 0 && n == UINT64_C (16) << 40);
  CHECK (sv_parse_size ("1k", &n) == 0 && n == 1024);
  CHECK (sv_parse_size ("12Q", &n) == -1);
  CHECK (sv_parse_size ("-1", &n) == -1);
  CHECK (sv_parse_size ("", &n) == -1);
  CHECK (sv_parse_size ("99999999999999999999", &n) == -1);
  CHECK (sv_parse_size ("17179869184T", &n) == -1);     /* overflows */
}

int
main (void)
{
  test_superblock ();
  test_slots ();
  test_meta_layout ();
  test_block_ad ();
  test_names_and_sizes ();
  return tap_result ();
}
