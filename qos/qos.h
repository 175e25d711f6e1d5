/* sealvol: request cost, per-volume limits, tenant caps and the share
 * each volume gets when a tenant's cap is contended.
 *
 * The data path calls sv_qos_admit before each request.  0 means go
 * ahead; anything else is nanoseconds to wait, after which the caller asks
 * again.  The caller reads CLOCK_MONOTONIC and does the sleeping
 * (nbdkit_nanosleep, which returns early on shutdown); the lock in here
 * is held only around the arithmetic, never across a wait.
 *
 * Cost.  A request of len bytes is max(1, ceil(len / SV_QOS_IO_UNIT)) IOs
 * for the IOPS buckets and len bytes for the bandwidth buckets.  The unit
 * is 256 KiB, as EBS and Azure count SSD IOPS, so "3000 IOPS" means what
 * an operator already expects and a 1 MiB request costs 4.  Small
 * requests all cost one: their price is the per-request work (range
 * locks, metadata, a syscall); bytes are the bandwidth bucket's job.
 * Trim, zero and flush cost one IO and no bytes: they deallocate or sync
 * rather than move data.  (On a filesystem that cannot punch holes a zero
 * is written out and so costs more than it is charged.)
 *
 * Limits.  Each volume has an IOPS and a bandwidth bucket, each with an
 * optional burst (bucket.h); a tenant has one of each as a cap on the sum
 * of its volumes.  0 means no limit.
 *
 * Contention (dmClock, Gulati et al., OSDI 2010, with its tags kept per
 * tenant).  When the tenant has a cap, a volume's request is admitted in
 * one of two phases:
 *   reservation  its R tag is due: the volume has used less than
 *                reserved_iops.  Such a request goes ahead of everyone
 *                else's: it may overdraw the tenant's buckets by one
 *                bucket capacity, and the others wait until the debt is
 *                repaid.
 *   proportion   otherwise it competes for what is left of the cap.  The
 *                request with the smallest P tag (start-time fair
 *                queueing: each admission moves the volume's tag on by
 *                ios / weight) among the volumes waiting goes first.
 * Service in the proportional phase does not use up the reservation, so
 * under contention a volume gets reserved_iops plus its weight's part of
 * the cap minus all reservations, never more than its own limit; what a
 * volume does not use goes to the others.  Keep the sum of reservations
 * below the tenant's cap: beyond it reservations compete first come,
 * first served for the cap.
 *
 * Without this library knowing which threads wait, "waiting" means a
 * volume that was told to wait and whose wait (plus SV_QOS_GRACE_NS) has
 * not run out.
 */
#ifndef SEALVOL_QOS_H
#define SEALVOL_QOS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bucket.h"

#define SV_QOS_IO_UNIT (UINT64_C (256) * 1024)

/* How late a volume told to wait may come back and still count as
 * waiting: sleep overshoot and scheduling delay. */
#define SV_QOS_GRACE_NS UINT64_C (1000000)

enum sv_qos_op { SV_QOS_READ, SV_QOS_WRITE, SV_QOS_TRIM, SV_QOS_ZERO,
                 SV_QOS_FLUSH };

struct sv_qos_cost {
  uint64_t ios, bytes;
};

struct sv_qos_limits {
  uint64_t iops, bps;             /* base rates; 0 = no limit */
  uint64_t burst_iops, burst_bps; /* peak rates while credit lasts; 0 = none */
  uint64_t burst_seconds;         /* how long a full credit lasts at peak */
  uint64_t reserved_iops;         /* floor when the tenant cap is contended */
  unsigned weight;                /* share of the rest; 0 counts as 1 */
};

struct sv_qos_stats {
  uint64_t ops;
  uint64_t bytes;                 /* as charged: trim, zero, flush add none */
  uint64_t throttled_ns;          /* the sum of the waits asked for */
};

/* The fields of both structs belong to qos.c. */
struct sv_qos_tenant {
  pthread_mutex_t lock;           /* the tenant and all its volumes */
  struct sv_bucket iops, bps;
  double vtime;                   /* the P tag of the last admission */
  struct sv_qos_volume *volumes;
};

struct sv_qos_volume {
  struct sv_qos_tenant *tenant;   /* NULL: own limits only */
  struct sv_qos_volume *next;     /* in the tenant's list */
  pthread_mutex_t *lock;          /* the tenant's, or own_lock */
  pthread_mutex_t own_lock;
  struct sv_bucket iops, bps;
  struct sv_bucket reserve;       /* the R tag, as a bucket at reserved_iops */
  double weight;
  double p_tag;                   /* the finish tag of its last admission */
  uint64_t waiting_until;
  atomic_bool unlimited;          /* nothing to check: skip the lock */
  _Atomic uint64_t ops, bytes, throttled_ns;
};

struct sv_qos_cost sv_qos_cost (enum sv_qos_op op, uint64_t len);

void sv_qos_tenant_init (struct sv_qos_tenant *t, uint64_t iops, uint64_t bps,
                         uint64_t now_ns);
void sv_qos_tenant_set_caps (struct sv_qos_tenant *t, uint64_t iops,
                             uint64_t bps, uint64_t now_ns);
/* Only once all its volumes are destroyed. */
void sv_qos_tenant_destroy (struct sv_qos_tenant *t);

void sv_qos_volume_init (struct sv_qos_volume *v, struct sv_qos_tenant *t,
                         const struct sv_qos_limits *lim, uint64_t now_ns);
void sv_qos_volume_set_limits (struct sv_qos_volume *v,
                               const struct sv_qos_limits *lim,
                               uint64_t now_ns);
void sv_qos_volume_destroy (struct sv_qos_volume *v);

/* 0: go ahead (the cost is taken and counted).  Otherwise the
 * nanoseconds to wait before asking again; nothing is taken. */
uint64_t sv_qos_admit (struct sv_qos_volume *v, enum sv_qos_op op,
                       uint64_t len, uint64_t now_ns);

void sv_qos_volume_stats (struct sv_qos_volume *v, struct sv_qos_stats *st);

#endif
