/* sealvol: a write-through cache of metadata pages, for volumes whose
 * meta file is not mapped (meta-io=write, or a mapping refused; a mapped
 * volume loads its pairs from the mapping, metamap.h).
 *
 * Direct-mapped: page p lives in slot p % nslots.  It has no lock of its
 * own because the volume's range locks are per metadata page (stripe
 * p % SV_STRIPES) and nslots is a multiple of SV_STRIPES, so every page
 * that can occupy a slot belongs to the same stripe: whoever holds that
 * stripe exclusively may fill or change the slot, whoever holds it shared
 * may read it.  Writers fill it (they hold the lock exclusively); readers
 * only use what is there.  A cache hit saves the metadata pread of a
 * request; contents are always exactly what was last written to disk.
 */
#ifndef SEALVOL_METACACHE_H
#define SEALVOL_METACACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "format.h"

struct sv_metacache_slot {
  uint64_t tag;                 /* page + 1; 0 = empty */
  uint8_t data[SV_META_PAGE];
};

struct sv_metacache {
  uint64_t nslots;              /* 0: caching disabled */
  struct sv_metacache_slot *slot;
};

/* bytes is rounded down to a multiple of SV_STRIPES pages (0 disables).
 * Memory is reserved, not touched: only slots in use become resident. */
int sv_metacache_init (struct sv_metacache *mc, uint64_t bytes);
void sv_metacache_free (struct sv_metacache *mc);
const uint8_t *sv_metacache_get (const struct sv_metacache *mc, uint64_t page);
void sv_metacache_put (struct sv_metacache *mc, uint64_t page,
                       const uint8_t *data);
/* Bytes [off, off+len) of page changed: update the copy if cached. */
void sv_metacache_update (struct sv_metacache *mc, uint64_t page, size_t off,
                          const uint8_t *data, size_t len);
void sv_metacache_drop (struct sv_metacache *mc, uint64_t page);

#endif
