/* sealvol: how often something a client can cause at will gets logged.
 *
 * A refused connection costs an attacker nothing, and each one logged is a
 * line in nbdkit's log and an event in the audit log: 44,826 attempts in
 * 10 s once wrote 15 MB (issue 14).  An sv_log_limit lets the first
 * SV_LOG_BURST events of every SV_LOG_INTERVAL_NS through, to be logged
 * one by one, and counts the rest.  The count comes back once, for the
 * caller to log as a summary: at the first event after the interval, or
 * when the caller flushes (at shutdown).  So the events logged one by one
 * plus the summaries' counts are all the events, and a flood writes at
 * most SV_LOG_BURST + 1 lines per interval.
 *
 * As in qos/bucket.h the clock is injected (CLOCK_MONOTONIC nanoseconds
 * the caller read) and there is no lock: the caller holds its own around
 * each call.  A zeroed struct is ready to use.
 */
#ifndef SEALVOL_RATELIMIT_H
#define SEALVOL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define SV_LOG_BURST 10
#define SV_LOG_INTERVAL_NS UINT64_C (10000000000)       /* 10 s */

struct sv_log_limit {
  uint64_t interval_end;        /* the current interval ends here */
  uint64_t in_interval;         /* events in it so far */
  uint64_t unlogged;            /* events counted but not yet reported */
};

/* Count an event at now.  Returns whether to log it on its own.  *summary
 * gets the number of earlier events that were not logged one by one, to
 * be logged first (0: nothing to say). */
bool sv_log_limit_event (struct sv_log_limit *l, uint64_t now,
                         uint64_t *summary);

/* Has the current interval had more than SV_LOG_BURST events?  (A caller
 * that refuses work while this holds throttles, not only logs.) */
bool sv_log_limit_over (const struct sv_log_limit *l, uint64_t now);

/* The events counted and not yet reported, now reported: 0 if none. */
uint64_t sv_log_limit_flush (struct sv_log_limit *l);

#endif
