/* sealvol: request cost, limits, tenant caps and the dmClock share (see
 * qos.h).  The static functions are the pure arithmetic, called with the
 * lock held; the public ones take the lock around them and nothing else.
 */
#include <config.h>

#include "qos.h"

/* A volume told to wait for its turn sleeps at least this long: shorter
 * sleeps cost more in wakeups than they give back in accuracy. */
#define MIN_TURN_WAIT_NS UINT64_C (10000)

static uint64_t
max64 (uint64_t a, uint64_t b)
{
  return a > b ? a : b;
}

static double
dmax (double a, double b)
{
  return a > b ? a : b;
}

struct sv_qos_cost
sv_qos_cost (enum sv_qos_op op, uint64_t len)
{
  uint64_t units = len / SV_QOS_IO_UNIT + (len % SV_QOS_IO_UNIT != 0);

  switch (op) {
  case SV_QOS_READ:
  case SV_QOS_WRITE:
    return (struct sv_qos_cost) { .ios = max64 (units, 1), .bytes = len };
  case SV_QOS_TRIM:
  case SV_QOS_ZERO:
  case SV_QOS_FLUSH:
    break;
  }
  return (struct sv_qos_cost) { .ios = 1, .bytes = 0 };
}

static bool
tenant_capped (const struct sv_qos_tenant *t)
{
  return t && (t->iops.rate || t->bps.rate);
}

/* Only a volume with nothing to check may skip the lock. */
static void
update_unlimited (struct sv_qos_volume *v)
{
  atomic_store (&v->unlimited, v->iops.rate == 0 && v->bps.rate == 0
                && !tenant_capped (v->tenant));
}

/* ---- tenants ---- */

void
sv_qos_tenant_init (struct sv_qos_tenant *t, uint64_t iops, uint64_t bps,
                    uint64_t now_ns)
{
  *t = (struct sv_qos_tenant) { .volumes = NULL };
  pthread_mutex_init (&t->lock, NULL);
  sv_bucket_init (&t->iops, iops, 0, 0, now_ns);
  sv_bucket_init (&t->bps, bps, 0, 0, now_ns);
}

void
sv_qos_tenant_set_caps (struct sv_qos_tenant *t, uint64_t iops, uint64_t bps,
                        uint64_t now_ns)
{
  pthread_mutex_lock (&t->lock);
  sv_bucket_set (&t->iops, iops, 0, 0, now_ns);
  sv_bucket_set (&t->bps, bps, 0, 0, now_ns);
  for (struct sv_qos_volume *v = t->volumes; v; v = v->next)
    update_unlimited (v);
  pthread_mutex_unlock (&t->lock);
}

void
sv_qos_tenant_destroy (struct sv_qos_tenant *t)
{
  pthread_mutex_destroy (&t->lock);
}

/* ---- volumes ---- */

static void
apply_limits (struct sv_qos_volume *v, const struct sv_qos_limits *lim,
              uint64_t now_ns)
{
  sv_bucket_set (&v->iops, lim->iops, lim->burst_iops, lim->burst_seconds,
                 now_ns);
  sv_bucket_set (&v->bps, lim->bps, lim->burst_bps, lim->burst_seconds,
                 now_ns);
  sv_bucket_set (&v->reserve, lim->reserved_iops, 0, 0, now_ns);
  v->weight = lim->weight ? lim->weight : 1;
  update_unlimited (v);
}

void
sv_qos_volume_init (struct sv_qos_volume *v, struct sv_qos_tenant *t,
                    const struct sv_qos_limits *lim, uint64_t now_ns)
{
  /* Zeroed buckets have no limit; apply_limits fills them. */
  *v = (struct sv_qos_volume) { .tenant = t };
  pthread_mutex_init (&v->own_lock, NULL);
  v->lock = t ? &t->lock : &v->own_lock;

  pthread_mutex_lock (v->lock);
  apply_limits (v, lim, now_ns);
  if (t) {
    v->p_tag = t->vtime;        /* no credit for the time before it existed */
    v->next = t->volumes;
    t->volumes = v;
  }
  pthread_mutex_unlock (v->lock);
}

void
sv_qos_volume_set_limits (struct sv_qos_volume *v,
                          const struct sv_qos_limits *lim, uint64_t now_ns)
{
  pthread_mutex_lock (v->lock);
  apply_limits (v, lim, now_ns);
  pthread_mutex_unlock (v->lock);
}

void
sv_qos_volume_destroy (struct sv_qos_volume *v)
{
  pthread_mutex_lock (v->lock);
  if (v->tenant) {
    struct sv_qos_volume **p = &v->tenant->volumes;
    while (*p != v)
      p = &(*p)->next;
    *p = v->next;
  }
  pthread_mutex_unlock (v->lock);
  pthread_mutex_destroy (&v->own_lock);
}

/* ---- admission, with the lock held ---- */

static uint64_t
own_wait (struct sv_qos_volume *v, struct sv_qos_cost c, uint64_t now_ns)
{
  return max64 (sv_bucket_wait (&v->iops, c.ios, now_ns),
                sv_bucket_wait (&v->bps, c.bytes, now_ns));
}

static uint64_t
tenant_wait (struct sv_qos_tenant *t, struct sv_qos_cost c, bool overdraw,
             uint64_t now_ns)
{
  uint64_t (*wait) (struct sv_bucket *, uint64_t, uint64_t)
    = overdraw ? sv_bucket_wait_overdraw : sv_bucket_wait;

  return max64 (wait (&t->iops, c.ios, now_ns),
                wait (&t->bps, c.bytes, now_ns));
}

static void
charge (struct sv_qos_volume *v, struct sv_qos_cost c, uint64_t now_ns)
{
  sv_bucket_charge (&v->iops, c.ios, now_ns);
  sv_bucket_charge (&v->bps, c.bytes, now_ns);
  if (v->tenant) {
    sv_bucket_charge (&v->tenant->iops, c.ios, now_ns);
    sv_bucket_charge (&v->tenant->bps, c.bytes, now_ns);
  }
}

/* The R tag is due: the volume has used less than its reservation, and
 * the tenant's debt leaves room to go ahead of the others. */
static bool
reservation_due (struct sv_qos_volume *v, struct sv_qos_cost c,
                 uint64_t now_ns)
{
  return v->reserve.rate > 0
    && sv_bucket_wait (&v->reserve, c.ios, now_ns) == 0
    && tenant_wait (v->tenant, c, true, now_ns) == 0;
}

/* Start-time fair queueing: among the volumes waiting, the one with the
 * smallest start tag goes first.  A volume back from idle starts at the
 * tenant's virtual time, so idling earns it no credit. */
static bool
first_in_line (struct sv_qos_volume *v, double start, uint64_t now_ns)
{
  const struct sv_qos_tenant *t = v->tenant;

  for (const struct sv_qos_volume *u = t->volumes; u; u = u->next)
    if (u != v && u->waiting_until >= now_ns
        && dmax (t->vtime, u->p_tag) < start)
      return false;
  return true;
}

/* Not this volume's turn: come back once the cap has let one more such
 * request through. */
static uint64_t
turn_wait (const struct sv_qos_tenant *t, struct sv_qos_cost c)
{
  return max64 (MIN_TURN_WAIT_NS,
                max64 (sv_bucket_period (&t->iops, c.ios),
                       sv_bucket_period (&t->bps, c.bytes)));
}

/* Its reservation may come due before the proportional share frees up. */
static uint64_t
sooner_reservation (struct sv_qos_volume *v, struct sv_qos_cost c,
                    uint64_t wait, uint64_t now_ns)
{
  if (v->reserve.rate > 0) {
    uint64_t r = sv_bucket_wait (&v->reserve, c.ios, now_ns);
    /* 0 means the tag is due but the tenant's debt is full: the
     * proportional wait is the right one then. */
    if (r > 0 && r < wait)
      return r;
  }
  return wait;
}

static uint64_t
proportional (struct sv_qos_volume *v, struct sv_qos_cost c, uint64_t now_ns)
{
  struct sv_qos_tenant *t = v->tenant;
  double start = dmax (t->vtime, v->p_tag);
  uint64_t wait = tenant_wait (t, c, false, now_ns);

  if (wait == 0 && !first_in_line (v, start, now_ns))
    wait = turn_wait (t, c);
  if (wait) {
    wait = sooner_reservation (v, c, wait, now_ns);
    v->waiting_until = now_ns + wait + SV_QOS_GRACE_NS;
    return wait;
  }
  t->vtime = start;
  v->p_tag = start + c.ios / v->weight;
  charge (v, c, now_ns);
  return 0;
}

static uint64_t
admit_locked (struct sv_qos_volume *v, struct sv_qos_cost c, uint64_t now_ns)
{
  uint64_t wait = own_wait (v, c, now_ns);

  if (wait) {
    /* Its own limit holds it back, not the tenant: the others must not
     * leave the cap idle waiting for its turn. */
    v->waiting_until = 0;
    return wait;
  }
  if (!tenant_capped (v->tenant)) {
    charge (v, c, now_ns);
    return 0;
  }
  if (reservation_due (v, c, now_ns)) {
    sv_bucket_charge (&v->reserve, c.ios, now_ns);
    charge (v, c, now_ns);
    return 0;
  }
  return proportional (v, c, now_ns);
}

uint64_t
sv_qos_admit (struct sv_qos_volume *v, enum sv_qos_op op, uint64_t len,
              uint64_t now_ns)
{
  struct sv_qos_cost c = sv_qos_cost (op, len);
  uint64_t wait = 0;

  if (!atomic_load_explicit (&v->unlimited, memory_order_relaxed)) {
    pthread_mutex_lock (v->lock);
    wait = admit_locked (v, c, now_ns);
    pthread_mutex_unlock (v->lock);
  }
  if (wait)
    atomic_fetch_add_explicit (&v->throttled_ns, wait, memory_order_relaxed);
  else {
    atomic_fetch_add_explicit (&v->ops, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&v->bytes, c.bytes, memory_order_relaxed);
  }
  return wait;
}

void
sv_qos_volume_stats (struct sv_qos_volume *v, struct sv_qos_stats *st)
{
  st->ops = atomic_load (&v->ops);
  st->bytes = atomic_load (&v->bytes);
  st->throttled_ns = atomic_load (&v->throttled_ns);
}
