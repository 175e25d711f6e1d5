/* sealvol: striped reader/writer locks over block ranges. */
#include <config.h>

#include "rangelock.h"

void
sv_rangelock_init (struct sv_rangelock *rl)
{
  for (int i = 0; i < SV_STRIPES; i++)
    pthread_rwlock_init (&rl->stripe[i], NULL);
}

void
sv_rangelock_destroy (struct sv_rangelock *rl)
{
  for (int i = 0; i < SV_STRIPES; i++)
    pthread_rwlock_destroy (&rl->stripe[i]);
}

/* The stripes of blocks [first, last] are one run of indices modulo
 * SV_STRIPES; in ascending order that is [lo, hi], or when the run wraps,
 * [0, hi] then [lo, SV_STRIPES). */
static void
stripe_runs (uint64_t first, uint64_t last, unsigned run[2][2], int *nruns)
{
  uint64_t s0 = first / SV_BLOCKS_PER_STRIPE, s1 = last / SV_BLOCKS_PER_STRIPE;
  unsigned lo = (unsigned) (s0 % SV_STRIPES), hi = (unsigned) (s1 % SV_STRIPES);

  if (s1 - s0 + 1 >= SV_STRIPES) {
    run[0][0] = 0, run[0][1] = SV_STRIPES - 1, *nruns = 1;
  }
  else if (lo <= hi) {
    run[0][0] = lo, run[0][1] = hi, *nruns = 1;
  }
  else {
    run[0][0] = 0, run[0][1] = hi;
    run[1][0] = lo, run[1][1] = SV_STRIPES - 1;
    *nruns = 2;
  }
}

void
sv_range_lock (struct sv_rangelock *rl, struct sv_range_held *h,
               uint64_t first_block, uint64_t last_block, bool write)
{
  h->rl = rl;
  stripe_runs (first_block, last_block, h->run, &h->nruns);
  for (int r = 0; r < h->nruns; r++)
    for (unsigned i = h->run[r][0]; i <= h->run[r][1]; i++) {
      if (write)
        pthread_rwlock_wrlock (&rl->stripe[i]);
      else
        pthread_rwlock_rdlock (&rl->stripe[i]);
    }
}

void
sv_range_unlock (struct sv_range_held *h)
{
  for (int r = 0; r < h->nruns; r++)
    for (unsigned i = h->run[r][0]; i <= h->run[r][1]; i++)
      pthread_rwlock_unlock (&h->rl->stripe[i]);
}
