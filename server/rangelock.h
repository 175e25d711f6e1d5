/* sealvol: striped reader/writer locks over block ranges.
 *
 * Block b belongs to stripe (b / 42) % 1024: one stripe per metadata page
 * (42 blocks), so the holder of a stripe owns its pages' metadata (and
 * their slots in the metadata cache, see metacache.h).  A request locks the stripes
 * of its range in ascending index order, so two requests can never wait on
 * each other in a cycle.  Requests on different stripes never contend:
 * there is no lock shared by the whole data path.
 */
#ifndef SEALVOL_RANGELOCK_H
#define SEALVOL_RANGELOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define SV_STRIPES 1024
#define SV_BLOCKS_PER_STRIPE 42   /* = SV_PAIRS_PER_PAGE */

struct sv_rangelock {
  pthread_rwlock_t stripe[SV_STRIPES];
};

struct sv_range_held {
  struct sv_rangelock *rl;
  unsigned run[2][2];           /* ascending runs of stripe indices */
  int nruns;
};

void sv_rangelock_init (struct sv_rangelock *rl);
void sv_rangelock_destroy (struct sv_rangelock *rl);
void sv_range_lock (struct sv_rangelock *rl, struct sv_range_held *h,
                    uint64_t first_block, uint64_t last_block, bool write);
void sv_range_unlock (struct sv_range_held *h);

#endif
