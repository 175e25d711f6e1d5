/* sealvol: a token bucket with burst credits, on an injected clock.
 *
 * Every function takes now_ns, a CLOCK_MONOTONIC time in nanoseconds that
 * the caller read.  Nothing here reads a clock, sleeps or locks: the caller
 * holds whatever lock guards the bucket around the arithmetic, sleeps
 * outside it, and then asks again (another thread may have taken the
 * tokens meanwhile).  Unit tests drive it with a fake clock.
 *
 * A bucket is two levels filled at once:
 *
 *   level   fills at the peak rate (burst_rate, or rate if no burst) and
 *           holds SV_BUCKET_WINDOW_NS of it: how many tokens may go at one
 *           instant.  This is the bound on the first burst.
 *   credit  fills at the base rate and holds that window plus
 *           (burst_rate - rate) * burst_seconds.  While credit lasts a busy
 *           client runs at burst_rate; it drains at burst_rate - rate, so
 *           a full bucket lasts exactly burst_seconds, then the client
 *           falls back to the base rate.  Credit comes back at the base
 *           rate while the client asks for less (EBS gp2 credits, QEMU's
 *           iops-total-max and iops-total-max-length).
 *
 * A request takes its cost from both.  One that costs more than a bucket
 * holds may go when the bucket is full and leaves it in debt, so large
 * requests are never refused for ever and the long-run rate still holds.
 * Buckets start full.  rate 0 means no limit: every call returns 0.
 */
#ifndef SEALVOL_BUCKET_H
#define SEALVOL_BUCKET_H

#include <stdint.h>

/* The smoothing window, as QEMU's default bucket of avg/10: a bucket
 * without burst lets 100 ms worth of its rate through at once. */
#define SV_BUCKET_WINDOW_NS UINT64_C (100000000)

struct sv_bucket {
  uint64_t rate;                /* base tokens per second; 0 = no limit */
  uint64_t peak;                /* tokens per second while credit lasts */
  double level, capacity;       /* fills at peak */
  double credit, credit_cap;    /* fills at rate */
  uint64_t last_ns;             /* when the levels were last brought up */
};

/* burst_rate <= rate or burst_seconds == 0 means no burst beyond the
 * window. */
void sv_bucket_init (struct sv_bucket *b, uint64_t rate, uint64_t burst_rate,
                     uint64_t burst_seconds, uint64_t now_ns);

/* Change the limits in place (a reloaded configuration).  Tokens already
 * held are kept up to the new capacities; a bucket that had no limit
 * starts full. */
void sv_bucket_set (struct sv_bucket *b, uint64_t rate, uint64_t burst_rate,
                    uint64_t burst_seconds, uint64_t now_ns);

/* Take cost tokens if they are there: returns 0 having taken them, else
 * the nanoseconds to wait before asking again, having taken nothing. */
uint64_t sv_bucket_take (struct sv_bucket *b, uint64_t cost, uint64_t now_ns);

/* The two halves of sv_bucket_take, for a caller that must check several
 * buckets before it takes from any.  sv_bucket_charge takes cost whatever
 * the level, which may go below zero. */
uint64_t sv_bucket_wait (struct sv_bucket *b, uint64_t cost, uint64_t now_ns);
void sv_bucket_charge (struct sv_bucket *b, uint64_t cost, uint64_t now_ns);

/* As sv_bucket_wait, but for priority traffic that may run the bucket
 * down to one capacity below empty: the scheduler's reserved requests go
 * ahead of others this way, and the debt bounds how far they can overrun
 * the rate. */
uint64_t sv_bucket_wait_overdraw (struct sv_bucket *b, uint64_t cost,
                                  uint64_t now_ns);

/* Nanoseconds the base rate takes to produce cost tokens (0 if no limit). */
uint64_t sv_bucket_period (const struct sv_bucket *b, uint64_t cost);

#endif
