/* sealvol: striped reader/writer locks over block ranges. */
#include <config.h>

#include <string.h>

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

static void
mark_stripes (struct sv_range_held *h, uint64_t first, uint64_t last)
{
  uint64_t s0 = first >> SV_STRIPE_SHIFT, s1 = last >> SV_STRIPE_SHIFT;

  memset (h->mask, 0, sizeof h->mask);
  if (s1 - s0 + 1 >= SV_STRIPES) {
    memset (h->mask, 0xff, sizeof h->mask);
    return;
  }
  for (uint64_t s = s0; s <= s1; s++) {
    unsigned i = (unsigned) (s % SV_STRIPES);
    h->mask[i / 64] |= UINT64_C (1) << (i % 64);
  }
}

void
sv_range_lock (struct sv_rangelock *rl, struct sv_range_held *h,
               uint64_t first_block, uint64_t last_block, bool write)
{
  h->rl = rl;
  mark_stripes (h, first_block, last_block);
  for (unsigned i = 0; i < SV_STRIPES; i++) {
    if (!(h->mask[i / 64] & (UINT64_C (1) << (i % 64))))
      continue;
    if (write)
      pthread_rwlock_wrlock (&rl->stripe[i]);
    else
      pthread_rwlock_rdlock (&rl->stripe[i]);
  }
}

void
sv_range_unlock (struct sv_range_held *h)
{
  for (unsigned i = 0; i < SV_STRIPES; i++)
    if (h->mask[i / 64] & (UINT64_C (1) << (i % 64)))
      pthread_rwlock_unlock (&h->rl->stripe[i]);
}

