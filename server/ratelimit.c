/* sealvol: how often something a client can cause gets logged (see
 * ratelimit.h). */
#include <config.h>

#include "ratelimit.h"

bool
sv_log_limit_event (struct sv_log_limit *l, uint64_t now, uint64_t *summary)
{
  *summary = 0;
  if (now >= l->interval_end) {
    *summary = sv_log_limit_flush (l);
    l->interval_end = now + SV_LOG_INTERVAL_NS;
    l->in_interval = 0;
  }
  if (l->in_interval++ < SV_LOG_BURST)
    return true;
  l->unlogged++;
  return false;
}

uint64_t
sv_log_limit_flush (struct sv_log_limit *l)
{
  uint64_t n = l->unlogged;

  l->unlogged = 0;
  return n;
}

bool
sv_log_limit_over (const struct sv_log_limit *l, uint64_t now)
{
  return now < l->interval_end && l->in_interval >= SV_LOG_BURST;
}
