/* Unit tests for qos/ on a fake clock: rates within 5 % of
 * their limits, the first burst bounded by the bucket, a burst at its
 * rate for its length and then the base rate, no wait without a limit,
 * request cost, reserved share and weights under a contended tenant cap.
 *
 * Clients are simulated threads: each asks sv_qos_admit at its own time,
 * and on a wait comes back exactly that much later, as the data path
 * does after nbdkit_nanosleep. */
#include <config.h>

#include <stdlib.h>

#include "bucket.h"
#include "qos.h"
#include "tap.h"

#define SEC UINT64_C (1000000000)
#define MS UINT64_C (1000000)
#define KiB UINT64_C (1024)
#define MiB (KiB * KiB)

/* |got - want| <= want * pct / 100 */
static int
within (double got, double want, double pct)
{
  double d = got > want ? got - want : want - got;
  return d <= want * pct / 100;
}

struct client {
  struct sv_qos_volume *v;
  uint64_t len;                 /* bytes per request */
  uint64_t gap;                 /* ns between requests; 0: as fast as allowed */
  uint64_t next;                /* when it asks next */
  uint64_t done;                /* requests admitted in the measured span */
};

static struct client *
earliest (struct client *c, size_t n)
{
  struct client *e = &c[0];
  for (size_t i = 1; i < n; i++)
    if (c[i].next < e->next)
      e = &c[i];
  return e;
}

/* Run the clients until `until`, counting admissions from `from` on.
 * A limit that fails to hold would let greedy clients ask for ever at
 * one instant: the step bound turns that into short counts, which the
 * checks catch, rather than a hang. */
static void
simulate (struct client *c, size_t n, uint64_t from, uint64_t until)
{
  for (long steps = 0; steps < 50000000; steps++) {
    struct client *e = earliest (c, n);
    uint64_t now = e->next;
    if (now >= until)
      return;
    uint64_t wait = sv_qos_admit (e->v, SV_QOS_READ, e->len, now);
    if (wait == 0 && now >= from)
      e->done++;
    e->next = now + (wait ? wait : e->gap);
  }
}

static uint64_t
volume_done (const struct client *c, size_t n, const struct sv_qos_volume *v)
{
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++)
    if (c[i].v == v)
      sum += c[i].done;
  return sum;
}

/* How many cost-1 takes a bucket allows at one instant. */
static uint64_t
instant_burst (struct sv_bucket *b, uint64_t now)
{
  uint64_t n = 0;
  while (sv_bucket_take (b, 1, now) == 0 && n < 10000000)
    n++;
  return n;
}

static void
test_cost (void)
{
  struct sv_qos_cost small = sv_qos_cost (SV_QOS_READ, 4 * KiB);
  struct sv_qos_cost big = sv_qos_cost (SV_QOS_WRITE, MiB);

  CHECK (big.ios > small.ios);
  CHECK (small.ios == 1 && small.bytes == 4 * KiB);
  CHECK (big.ios == 4 && big.bytes == MiB);   /* 256 KiB units */
  CHECK (sv_qos_cost (SV_QOS_READ, SV_QOS_IO_UNIT).ios == 1);
  CHECK (sv_qos_cost (SV_QOS_READ, SV_QOS_IO_UNIT + 1).ios == 2);
  CHECK (sv_qos_cost (SV_QOS_READ, 0).ios == 1);
  struct sv_qos_cost trim = sv_qos_cost (SV_QOS_TRIM, 1024 * MiB);
  CHECK (trim.ios == 1 && trim.bytes == 0);
  struct sv_qos_cost zero = sv_qos_cost (SV_QOS_ZERO, 1024 * MiB);
  CHECK (zero.ios == 1 && zero.bytes == 0);
}

/* One greedy client per volume limit, over 5 simulated seconds from a
 * full bucket: the initial window is inside the 5 %. */
static void
test_rates (void)
{
  struct sv_qos_volume v;
  struct sv_qos_limits iops = { .iops = 1000 };
  sv_qos_volume_init (&v, NULL, &iops, 0);
  struct client c = { .v = &v, .len = 4 * KiB };
  simulate (&c, 1, 0, 5 * SEC);
  CHECK (within (c.done, 5 * 1000, 5));
  sv_qos_volume_destroy (&v);

  struct sv_qos_limits bps = { .bps = 8 * MiB };
  sv_qos_volume_init (&v, NULL, &bps, 0);
  c = (struct client) { .v = &v, .len = 128 * KiB };
  simulate (&c, 1, 0, 5 * SEC);
  CHECK (within (c.done * 128 * KiB, 5 * 8 * MiB, 5));

  /* Waits are counted as throttled time: 5 s, less the initial window
   * and the free requests' share, nearly all spent waiting. */
  struct sv_qos_stats st;
  sv_qos_volume_stats (&v, &st);
  CHECK (st.ops == c.done && st.bytes == c.done * 128 * KiB);
  CHECK (st.throttled_ns > 4 * SEC);
  sv_qos_volume_destroy (&v);
}

static void
test_first_burst (void)
{
  struct sv_bucket b;

  sv_bucket_init (&b, 1000, 0, 0, 0);
  CHECK (instant_burst (&b, 0) == 1000 * SV_BUCKET_WINDOW_NS / SEC);
  /* Empty: the next token is one period away. */
  uint64_t wait = sv_bucket_take (&b, 1, 0);
  CHECK (wait > 0 && wait <= MS + 1);
  CHECK (sv_bucket_take (&b, 1, wait) == 0);

  /* With burst credit, the instant is bounded by the peak's window. */
  sv_bucket_init (&b, 100, 1000, 10, 0);
  CHECK (instant_burst (&b, 0) == 1000 * SV_BUCKET_WINDOW_NS / SEC);

  /* A request bigger than the bucket goes when the bucket is full and
   * leaves a debt: the next waits for it. */
  sv_bucket_init (&b, 1000, 0, 0, 0);
  CHECK (sv_bucket_take (&b, 500, 0) == 0);
  wait = sv_bucket_take (&b, 1, 0);
  CHECK (wait > 400 * MS && wait <= 401 * MS + 1);
}

/* 100 IOPS with bursts of 1000 IOPS for 10 s. */
static void
test_burst (void)
{
  struct sv_qos_volume v;
  struct sv_qos_limits lim = { .iops = 100, .burst_iops = 1000,
                               .burst_seconds = 10 };
  sv_qos_volume_init (&v, NULL, &lim, 0);
  struct client c = { .v = &v, .len = 4 * KiB };

  simulate (&c, 1, 1 * SEC, 9 * SEC);
  CHECK (within (c.done, 8 * 1000, 5));          /* the burst rate */
  c.done = 0;
  simulate (&c, 1, 9 * SEC, 10 * SEC);
  CHECK (within (c.done, 1000, 5));               /* still, to its end */
  c.done = 0;
  simulate (&c, 1, 11 * SEC, 16 * SEC);
  CHECK (within (c.done, 5 * 100, 5));            /* then the base rate */

  /* Idle until the credit is back (9100 tokens at 100/s): a second burst
   * of the same length. */
  c.next = 16 * SEC + 91 * SEC;
  c.done = 0;
  simulate (&c, 1, c.next + 1 * SEC, c.next + 9 * SEC);
  CHECK (within (c.done, 8 * 1000, 5));
  c.done = 0;
  simulate (&c, 1, c.next + 1 * SEC, c.next + 5 * SEC);
  CHECK (within (c.done, 4 * 100, 5));
  sv_qos_volume_destroy (&v);
}

static void
test_unlimited (void)
{
  struct sv_qos_tenant t;
  struct sv_qos_volume v, w;
  struct sv_qos_limits none = { .weight = 1 };
  int waits = 0;

  sv_qos_tenant_init (&t, 0, 0, 0);
  sv_qos_volume_init (&v, NULL, &none, 0);
  sv_qos_volume_init (&w, &t, &none, 0);
  for (int i = 0; i < 100000; i++)
    waits += sv_qos_admit (&v, SV_QOS_WRITE, 4 * MiB, 0) != 0
      || sv_qos_admit (&w, SV_QOS_READ, 4 * MiB, 0) != 0;
  CHECK (waits == 0);

  struct sv_qos_stats st;
  sv_qos_volume_stats (&w, &st);
  CHECK (st.ops == 100000 && st.throttled_ns == 0);
  struct sv_bucket b;
  sv_bucket_init (&b, 0, 0, 0, 0);
  CHECK (sv_bucket_take (&b, UINT64_MAX, 0) == 0);

  /* A limit set at run time takes hold at once, and lifts again. */
  struct sv_qos_limits some = { .iops = 10 };
  sv_qos_volume_set_limits (&v, &some, 0);
  CHECK (sv_qos_admit (&v, SV_QOS_READ, 4 * KiB, 0) == 0
         && sv_qos_admit (&v, SV_QOS_READ, 4 * KiB, 0) != 0);
  sv_qos_volume_set_limits (&v, &none, 0);
  CHECK (sv_qos_admit (&v, SV_QOS_READ, 4 * KiB, 0) == 0);
  sv_qos_tenant_set_caps (&t, 10, 0, 0);
  CHECK (sv_qos_admit (&w, SV_QOS_READ, 4 * KiB, 0) == 0
         && sv_qos_admit (&w, SV_QOS_READ, 4 * KiB, 0) != 0);

  sv_qos_volume_destroy (&w);
  sv_qos_volume_destroy (&v);
  sv_qos_tenant_destroy (&t);
}

/* Two volumes of one tenant capped at 1000 IOPS, each with four greedy
 * clients, over 10 s.  Returns what each got per second. */
static void
contend (const struct sv_qos_limits *la, const struct sv_qos_limits *lb,
         double *a_rate, double *b_rate)
{
  struct sv_qos_tenant t;
  struct sv_qos_volume a, b;
  struct client c[8];

  sv_qos_tenant_init (&t, 1000, 0, 0);
  sv_qos_volume_init (&a, &t, la, 0);
  sv_qos_volume_init (&b, &t, lb, 0);
  for (int i = 0; i < 8; i++)
    c[i] = (struct client) { .v = i < 4 ? &a : &b, .len = 4 * KiB };
  simulate (c, 8, 0, 10 * SEC);
  *a_rate = volume_done (c, 8, &a) / 10.0;
  *b_rate = volume_done (c, 8, &b) / 10.0;
  printf ("# contention: %.1f and %.1f IOPS\n", *a_rate, *b_rate);
  sv_qos_volume_destroy (&a);
  sv_qos_volume_destroy (&b);
  sv_qos_tenant_destroy (&t);
}

static void
test_contention (void)
{
  double a, b;

  /* Reservations 300 and 100, the other 600 split 1:3. */
  struct sv_qos_limits ra = { .reserved_iops = 300, .weight = 1 };
  struct sv_qos_limits rb = { .reserved_iops = 100, .weight = 3 };
  contend (&ra, &rb, &a, &b);
  CHECK (a >= 300 && b >= 100);
  CHECK (within (a, 300 + 150, 10));
  CHECK (within (b, 100 + 450, 10));
  CHECK (within (a + b, 1000, 5));

  /* No reservations: weights alone. */
  struct sv_qos_limits wa = { .weight = 1 }, wb = { .weight = 3 };
  contend (&wa, &wb, &a, &b);
  CHECK (within (a, 250, 10));
  CHECK (within (b, 750, 10));

  /* A reservation larger than the weight share still holds. */
  struct sv_qos_limits big = { .reserved_iops = 600, .weight = 1 };
  struct sv_qos_limits heavy = { .weight = 9 };
  contend (&big, &heavy, &a, &b);
  CHECK (within (a, 600 + 40, 10));
  CHECK (within (b, 360, 10));

  /* A volume's own limit caps it; the cap's rest goes to the other. */
  struct sv_qos_limits capped = { .iops = 200, .weight = 1 };
  struct sv_qos_limits plain = { .weight = 1 };
  contend (&capped, &plain, &a, &b);
  CHECK (within (a, 200, 5));
  CHECK (within (b, 800, 10));
}

/* A volume busy alone for 5 s, then a second of equal weight joins: the
 * newcomer gets no credit for having been idle, so they split the cap
 * at once rather than the newcomer taking it all until it catches up. */
static void
test_idle_credit (void)
{
  struct sv_qos_tenant t;
  struct sv_qos_volume a, b;
  struct sv_qos_limits lim = { .weight = 1 };
  struct client c[2];

  sv_qos_tenant_init (&t, 1000, 0, 0);
  sv_qos_volume_init (&a, &t, &lim, 0);
  sv_qos_volume_init (&b, &t, &lim, 0);
  c[0] = (struct client) { .v = &a, .len = 4 * KiB };
  c[1] = (struct client) { .v = &b, .len = 4 * KiB, .next = 5 * SEC };
  simulate (c, 2, 5 * SEC, 6 * SEC);
  CHECK (within (c[0].done, 500, 10));
  CHECK (within (c[1].done, 500, 10));
  sv_qos_volume_destroy (&a);
  sv_qos_volume_destroy (&b);
  sv_qos_tenant_destroy (&t);
}

/* Three volumes with no limits of their own under a tenant cap of
 * 2000 IOPS and 40 MiB/s, asking 4 KiB, 64 KiB and 1 MiB requests. */
static void
test_tenant_cap (void)
{
  struct sv_qos_tenant t;
  struct sv_qos_volume v[3];
  struct sv_qos_limits lim = { .weight = 1 };
  static const uint64_t len[3] = { 4 * KiB, 64 * KiB, MiB };
  struct client c[6];

  sv_qos_tenant_init (&t, 2000, 40 * MiB, 0);
  for (int i = 0; i < 3; i++)
    sv_qos_volume_init (&v[i], &t, &lim, 0);
  for (int i = 0; i < 6; i++)
    c[i] = (struct client) { .v = &v[i % 3], .len = len[i % 3] };
  simulate (c, 6, 0, 5 * SEC);

  double ios = 0, bytes = 0;
  for (int i = 0; i < 6; i++) {
    struct sv_qos_cost cost = sv_qos_cost (SV_QOS_READ, c[i].len);
    ios += c[i].done * cost.ios;
    bytes += c[i].done * cost.bytes;
  }
  /* One of the two caps binds, and neither is exceeded. */
  CHECK (ios <= 5 * 2000 * 1.05 && bytes <= 5 * 40 * MiB * 1.05);
  CHECK (within (ios, 5 * 2000, 5) || within (bytes, 5 * 40 * MiB, 5));
  for (int i = 0; i < 3; i++)
    CHECK (volume_done (c, 6, &v[i]) > 0);
  for (int i = 0; i < 3; i++)
    sv_qos_volume_destroy (&v[i]);
  sv_qos_tenant_destroy (&t);
}

/* A victim asking 50 IOPS at queue depth 1 beside an aggressor flooding
 * the tenant's cap: with a reservation of 100 it never waits. */
static void
test_victim (bool reserved, uint64_t *victim_waited, uint64_t *victim_done)
{
  struct sv_qos_tenant t;
  struct sv_qos_volume agg, vic;
  struct sv_qos_limits la = { .weight = 1 };
  struct sv_qos_limits lv = { .reserved_iops = reserved ? 100 : 0,
                              .weight = 1 };
  struct client c[9];

  sv_qos_tenant_init (&t, 1000, 0, 0);
  sv_qos_volume_init (&agg, &t, &la, 0);
  sv_qos_volume_init (&vic, &t, &lv, 0);
  for (int i = 0; i < 8; i++)
    c[i] = (struct client) { .v = &agg, .len = 4 * KiB };
  c[8] = (struct client) { .v = &vic, .len = 4 * KiB, .gap = 20 * MS };
  simulate (c, 9, 0, 5 * SEC);

  struct sv_qos_stats st;
  sv_qos_volume_stats (&vic, &st);
  *victim_waited = st.throttled_ns;
  *victim_done = c[8].done;
  sv_qos_volume_destroy (&agg);
  sv_qos_volume_destroy (&vic);
  sv_qos_tenant_destroy (&t);
}

static void
test_noisy_neighbour (void)
{
  uint64_t waited, done;

  test_victim (true, &waited, &done);
  CHECK (waited == 0);
  CHECK (done == 5 * 50);
  /* Without one it queues behind the flood: the check above can fail. */
  test_victim (false, &waited, &done);
  CHECK (waited > 0);
}

int
main (void)
{
  test_cost ();
  test_rates ();
  test_first_burst ();
  test_burst ();
  test_unlimited ();
  test_contention ();
  test_idle_credit ();
  test_tenant_cap ();
  test_noisy_neighbour ();
  return tap_result ();
}
