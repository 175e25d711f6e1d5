/* Fuzz target: metadata slots (server/format.c).
 *
 * Why: an AEAD volume's meta file holds, per block, two 48-byte slots
 * (generation, session, nonce, tag); after a crash either may be stale,
 * torn or zero, and sv_pair_newest picks the one to decrypt with.  A
 * wrong pick is silent data loss or a false integrity error, so besides
 * "no crash" the target checks the rules of the pick on every pair of an
 * input page (the layout of a real meta page: 42 pairs in 4096 bytes):
 *   - decode then encode gives back the slot's 48 bytes;
 *   - -1 only when both slots are empty, never an empty slot's index;
 *   - with one slot empty, the other; swapping the slots swaps the pick
 *     unless their generations are equal or exactly 2^31 apart (the one
 *     case serial-number arithmetic leaves undefined).
 * The first 8 bytes also pick a block number for the offset arithmetic.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endian-util.h"
#include "format.h"
#include "fuzz-common.h"

FUZZ_DEFAULT_INITIALIZE

static void
check_pair (const uint8_t *bytes)
{
  struct sv_slot pair[2], swapped[2];
  uint8_t back[SV_SLOT_LEN];
  int newest, newest_swapped;

  for (int i = 0; i < 2; i++) {
    sv_slot_decode (bytes + i * SV_SLOT_LEN, &pair[i]);
    sv_slot_encode (&pair[i], back);
    FUZZ_CHECK (memcmp (back, bytes + i * SV_SLOT_LEN, SV_SLOT_LEN) == 0);
  }
  newest = sv_pair_newest (pair);
  swapped[0] = pair[1];
  swapped[1] = pair[0];
  newest_swapped = sv_pair_newest (swapped);

  if (sv_slot_empty (&pair[0]) && sv_slot_empty (&pair[1])) {
    FUZZ_CHECK (newest == -1 && newest_swapped == -1);
    return;
  }
  FUZZ_CHECK (newest == 0 || newest == 1);
  FUZZ_CHECK (!sv_slot_empty (&pair[newest]));
  if (pair[0].gen != pair[1].gen
      && pair[1].gen - pair[0].gen != UINT32_C (0x80000000))
    FUZZ_CHECK (newest_swapped == 1 - newest);
}

static void
check_offsets (uint64_t block)
{
  uint64_t off = sv_meta_offset (block);

  /* A pair never straddles a page and lies inside the file. */
  FUZZ_CHECK (off / SV_META_PAGE == (off + SV_PAIR_LEN - 1) / SV_META_PAGE);
  if (block < SV_MAX_SIZE / SV_BLOCK_SIZE)
    FUZZ_CHECK (off + SV_PAIR_LEN <= sv_meta_size (block + 1));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  size_t n = size / SV_PAIR_LEN;

  if (n > SV_PAIRS_PER_PAGE)
    n = SV_PAIRS_PER_PAGE;
  for (size_t i = 0; i < n; i++)
    check_pair (data + i * SV_PAIR_LEN);
  if (size >= 8)
    check_offsets (get_le64 (data));
  return 0;
}
