/* sealvol: a token bucket with burst credits (see bucket.h).
 *
 * Levels are doubles so that a few nanoseconds at a few thousand IOPS
 * still add their fraction of a token: rounding each refill down to whole
 * tokens, as integer buckets do, loses up to a token per call and the
 * loss grows with the call rate.  A double holds a bucket of 2^53 bytes
 * to the byte.
 */
#include <config.h>

#include <stdbool.h>

#include "bucket.h"

#define NS_PER_S 1e9

static double
dmin (double a, double b)
{
  return a < b ? a : b;
}

static double
dmax (double a, double b)
{
  return a > b ? a : b;
}

/* Round up, so that after sleeping that long the tokens are there. */
static uint64_t
secs_to_ns (double secs)
{
  if (secs <= 0)
    return 0;
  if (secs >= (double) UINT64_MAX / NS_PER_S)
    return UINT64_MAX;
  return (uint64_t) (secs * NS_PER_S) + 1;
}

static void
set_limits (struct sv_bucket *b, uint64_t rate, uint64_t burst_rate,
            uint64_t burst_seconds)
{
  bool burst = burst_rate > rate && burst_seconds > 0;

  b->rate = rate;
  b->peak = burst ? burst_rate : rate;
  b->capacity = b->peak * ((double) SV_BUCKET_WINDOW_NS / NS_PER_S);
  /* A request of one token must fit, or a slow bucket would run every
   * request into debt. */
  if (b->capacity < 1)
    b->capacity = 1;
  /* Credit beyond the window drains at peak - rate during a burst, so
   * this much lasts burst_seconds. */
  b->credit_cap = b->capacity + (double) (b->peak - rate) * burst_seconds;
}

/* Add the tokens earned since last_ns. */
static void
refill (struct sv_bucket *b, uint64_t now_ns)
{
  /* Callers read the clock before they take the lock, so now_ns may be a
   * little behind a time another thread already used: add nothing then,
   * and never move last_ns back. */
  if (now_ns <= b->last_ns)
    return;
  double secs = (now_ns - b->last_ns) / NS_PER_S;
  b->last_ns = now_ns;
  b->level = dmin (b->level + secs * b->peak, b->capacity);
  b->credit = dmin (b->credit + secs * b->rate, b->credit_cap);
}

void
sv_bucket_init (struct sv_bucket *b, uint64_t rate, uint64_t burst_rate,
                uint64_t burst_seconds, uint64_t now_ns)
{
  *b = (struct sv_bucket) { .last_ns = now_ns };
  sv_bucket_set (b, rate, burst_rate, burst_seconds, now_ns);
}

void
sv_bucket_set (struct sv_bucket *b, uint64_t rate, uint64_t burst_rate,
               uint64_t burst_seconds, uint64_t now_ns)
{
  bool was_unlimited = b->rate == 0;

  refill (b, now_ns);           /* what was earned under the old rates */
  set_limits (b, rate, burst_rate, burst_seconds);
  if (was_unlimited) {
    b->level = b->capacity;
    b->credit = b->credit_cap;
  }
  else {
    b->level = dmin (b->level, b->capacity);
    b->credit = dmin (b->credit, b->credit_cap);
  }
}

/* The wait until both levels, plus slack, hold cost (or a full bucket,
 * for a cost larger than one). */
static uint64_t
wait_slack (struct sv_bucket *b, uint64_t cost, double slack,
            uint64_t now_ns)
{
  if (b->rate == 0)
    return 0;
  refill (b, now_ns);

  double need = dmin ((double) cost, b->capacity) - slack;
  double secs = 0;
  if (b->level < need)
    secs = (need - b->level) / b->peak;
  if (b->credit < need)
    secs = dmax (secs, (need - b->credit) / b->rate);
  return secs_to_ns (secs);
}

uint64_t
sv_bucket_wait (struct sv_bucket *b, uint64_t cost, uint64_t now_ns)
{
  return wait_slack (b, cost, 0, now_ns);
}

uint64_t
sv_bucket_wait_overdraw (struct sv_bucket *b, uint64_t cost, uint64_t now_ns)
{
  return wait_slack (b, cost, b->capacity, now_ns);
}

void
sv_bucket_charge (struct sv_bucket *b, uint64_t cost, uint64_t now_ns)
{
  if (b->rate == 0)
    return;
  refill (b, now_ns);
  b->level -= cost;
  b->credit -= cost;
}

uint64_t
sv_bucket_take (struct sv_bucket *b, uint64_t cost, uint64_t now_ns)
{
  uint64_t wait = sv_bucket_wait (b, cost, now_ns);

  if (wait == 0)
    sv_bucket_charge (b, cost, now_ns);
  return wait;
}

uint64_t
sv_bucket_period (const struct sv_bucket *b, uint64_t cost)
{
  return b->rate ? secs_to_ns ((double) cost / b->rate) : 0;
}
