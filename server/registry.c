/* sealvol: the volumes a server has open, shared by its connections
 * (registry.h states the contract). */
#include <config.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "qos-runtime.h"
#include "registry.h"
#include "report.h"

struct sv_shared_volume {
  struct sv_shared_volume *next;
  char name[64];
  unsigned refs;
  struct sv_volume *vol;
  struct sv_qos_volume qos;
  char service_type[SV_SERVICE_TYPE_MAX + 1];   /* as limits were applied */
  /* Throttled requests of this volume take turns asking the scheduler:
   * one waits in the host's sleep, the others on turn_cond.  Without this
   * 128 queued requests would each wake every few hundred microseconds
   * and burn the CPU their neighbours need. */
  pthread_mutex_t turn_lock;
  pthread_cond_t turn_cond;
  bool turn_taken;
  bool closing;         /* its last client left; being closed unlocked */
};

struct sv_registry {
  struct sv_tenant *tenant;
  char *root;
  /* Key rotations: where the keys come from, and tenant.state when they
   * were read (sv_registry_follow_keys). */
  bool follow_keys, keys_reloadable;
  const struct sv_key_source *key_source;
  struct sv_state_stamp key_stamp;
  unsigned open_flags;
  const char *io_name;
  sv_sleep_fn sleep;
  struct sv_qos_runtime qos;            /* the tenant's cap and types */
  struct sv_shared_volume *volumes;     /* opened by at least one client */
  pthread_mutex_t lock;                 /* the list (open and close) */
  pthread_cond_t volume_closed;
};

struct sv_registry *
sv_registry_new (const char *root, struct sv_tenant *t, unsigned open_flags,
                 const char *io_name, sv_sleep_fn sleep)
{
  struct sv_registry *reg = calloc (1, sizeof *reg);

  if (reg == NULL) {
    sv_error ("calloc: %m");
    return NULL;
  }
  if ((reg->root = strdup (root)) == NULL
      || sv_qos_runtime_init (&reg->qos, root, t->dir) == -1) {
    free (reg->root);
    free (reg);
    return NULL;
  }
  reg->tenant = t;
  reg->open_flags = open_flags;
  reg->io_name = io_name;
  reg->sleep = sleep;
  pthread_mutex_init (&reg->lock, NULL);
  pthread_cond_init (&reg->volume_closed, NULL);
  return reg;
}

struct sv_volume *
sv_shared_volume_vol (const struct sv_shared_volume *sv)
{
  return sv->vol;
}

const char *
sv_shared_volume_name (const struct sv_shared_volume *sv)
{
  return sv->name;
}

/* VOLDIR/stats.json: the volume's counters, for "sealvol volume info". */
static void
publish_stats (struct sv_registry *reg, struct sv_shared_volume *sv)
{
  struct sv_qos_stats st;
  char voldir[4096];

  /* An rbd volume has no directory here; its counters are this
   * gateway's alone, and not published yet (docs/format.md). */
  if (sv_store_conf_is_rbd (&reg->tenant->store))
    return;
  sv_qos_volume_stats (&sv->qos, &st);
  snprintf (voldir, sizeof voldir, "%s/volumes/%s", reg->tenant->dir, sv->name);
  sv_qos_write_stats (voldir, sv->service_type, &st,
                      sv_volume_auth_failures (sv->vol));
}

/* Publish the last counts, seen after the clients left, and close the
 * volume, which flushes it: as long as writing back its dirty data. */
static void
close_shared_volume (struct sv_registry *reg, struct sv_shared_volume *sv)
{
  publish_stats (reg, sv);
  sv_volume_close (sv->vol);
  sv->vol = NULL;
}

static void
free_shared_volume (struct sv_registry *reg, struct sv_shared_volume *sv)
{
  if (sv->vol)
    close_shared_volume (reg, sv);
  sv_qos_volume_destroy (&sv->qos);
  pthread_cond_destroy (&sv->turn_cond);
  pthread_mutex_destroy (&sv->turn_lock);
  free (sv);
}

void
sv_registry_free (struct sv_registry *reg)
{
  if (reg == NULL)
    return;
  while (reg->volumes) {
    struct sv_shared_volume *next = reg->volumes->next;
    free_shared_volume (reg, reg->volumes);
    reg->volumes = next;
  }
  sv_qos_runtime_destroy (&reg->qos);
  free (reg->root);
  pthread_cond_destroy (&reg->volume_closed);
  pthread_mutex_destroy (&reg->lock);
  free (reg);
}

/* ---- key rotations ---- */

void
sv_registry_follow_keys (struct sv_registry *reg,
                         const struct sv_key_source *src, bool reloadable,
                         const struct sv_state_stamp *stamp)
{
  pthread_mutex_lock (&reg->lock);
  reg->follow_keys = true;
  reg->keys_reloadable = reloadable;
  reg->key_source = src;
  reg->key_stamp = *stamp;
  pthread_mutex_unlock (&reg->lock);
}

/* The tenant's keys as tenant.state now says; caller holds reg->lock.
 * The server takes up a rotation's next key when it begins and drops the
 * old one when it ends (audited: the key version, never a key). */
static void
refresh_keys (struct sv_registry *reg)
{
  struct sv_tenant *t = reg->tenant;
  json_object *e;

  if (!reg->follow_keys)
    return;
  if (!reg->keys_reloadable) {
    if (sv_state_stamp_update (t, &reg->key_stamp))
      sv_error ("warning: tenant %s: %s changed (a key rotation?), but this "
                "server was given its key once and cannot read it again; "
                "restart it with the current key to open re-wrapped volumes",
                t->name, SV_TENANT_STATE_FILE);
    return;
  }
  if (sv_key_source_refresh (t, reg->root, reg->key_source,
                             &reg->key_stamp) != 1)
    return;
  e = sv_audit_event ("tenant-key-loaded", t->name);
  json_object_object_add (e, "key_version",
                          json_object_new_int64 (t->key_version));
  json_object_object_add (e, "next_key", json_object_new_boolean
                          (t->has_next_check && t->next_key));
  sv_audit_write (t->dir, e);
}

/* ---- QoS ---- */

/* Give sv the limits of the service type in its superblock now. */
static void
apply_limits (struct sv_registry *reg, struct sv_shared_volume *sv,
              uint64_t now, bool first)
{
  char type[SV_SERVICE_TYPE_MAX + 1];
  struct sv_qos_limits lim;
  bool known;

  sv_volume_service_type (sv->vol, type);
  sv_qos_runtime_limits (&reg->qos, type, &lim, &known);
  if (!known && (first || strcmp (type, sv->service_type) != 0))
    sv_error ("warning: volume %s: service type '%s' is not in "
              "service-types.conf; serving it without limits",
              sv->name, type);
  if (first)
    sv_qos_volume_init (&sv->qos, &reg->qos.tenant, &lim, now);
  else
    sv_qos_volume_set_limits (&sv->qos, &lim, now);
  memcpy (sv->service_type, type, sizeof type);
}

/* Once a second: pick up edited service types and caps, service types
 * changed by "sealvol volume set-service-type", and publish statistics. */
static void
refresh_volumes (struct sv_registry *reg, uint64_t now)
{
  int turn = sv_qos_runtime_poll (&reg->qos, now);

  if (turn == -1)
    return;
  pthread_mutex_lock (&reg->lock);
  refresh_keys (reg);
  for (struct sv_shared_volume *sv = reg->volumes; sv; sv = sv->next) {
    char type[SV_SERVICE_TYPE_MAX + 1];
    if (sv->closing)
      continue;
    sv_volume_refresh (sv->vol);
    sv_volume_service_type (sv->vol, type);
    if (turn == 1 || strcmp (type, sv->service_type) != 0)
      apply_limits (reg, sv, now, false);
    publish_stats (reg, sv);
  }
  pthread_mutex_unlock (&reg->lock);
}

static void
take_turn (struct sv_shared_volume *sv)
{
  pthread_mutex_lock (&sv->turn_lock);
  while (sv->turn_taken)
    pthread_cond_wait (&sv->turn_cond, &sv->turn_lock);
  sv->turn_taken = true;
  pthread_mutex_unlock (&sv->turn_lock);
}

static void
pass_turn (struct sv_shared_volume *sv)
{
  pthread_mutex_lock (&sv->turn_lock);
  sv->turn_taken = false;
  pthread_cond_signal (&sv->turn_cond);
  pthread_mutex_unlock (&sv->turn_lock);
}

/* An unthrottled request costs one call; a throttled one waits for its
 * volume's turn, then sleeps outside every lock. */
int
sv_registry_throttle (struct sv_registry *reg, struct sv_shared_volume *sv,
                      enum sv_qos_op op, uint64_t len)
{
  uint64_t now, wait;
  int r = 0;

  now = sv_monotonic_ns ();
  refresh_volumes (reg, now);
  if ((wait = sv_qos_admit (&sv->qos, op, len, now)) == 0)
    return 0;
  take_turn (sv);
  do {
    if (reg->sleep (wait) == -1) {
      r = -1;
      break;
    }
    now = sv_monotonic_ns ();
  } while ((wait = sv_qos_admit (&sv->qos, op, len, now)) != 0);
  pass_turn (sv);
  return r;
}

/* ---- opening and closing ---- */

/* The entry for a volume not yet open, opened; NULL if it cannot be. */
static struct sv_shared_volume *
open_shared_volume (struct sv_registry *reg, const char *name)
{
  struct sv_shared_volume *sv = calloc (1, sizeof *sv);

  if (sv == NULL)
    return NULL;
  sv->vol = sv_volume_open (reg->tenant, name, reg->open_flags,
                            sv_io_new (reg->io_name));
  if (sv->vol == NULL) {
    free (sv);
    return NULL;
  }
  strcpy (sv->name, name);
  pthread_mutex_init (&sv->turn_lock, NULL);
  pthread_cond_init (&sv->turn_cond, NULL);
  apply_limits (reg, sv, sv_monotonic_ns (), true);
  sv->next = reg->volumes;
  reg->volumes = sv;
  return sv;
}

struct sv_shared_volume *
sv_registry_acquire (struct sv_registry *reg, const char *name)
{
  struct sv_shared_volume *sv;

  pthread_mutex_lock (&reg->lock);
  for (;;) {
    for (sv = reg->volumes; sv; sv = sv->next)
      if (strcmp (sv->name, name) == 0)
        break;
    /* Being closed: it still holds the volume's lock, so a second open
     * would be refused.  Wait for the close, then open it again. */
    if (sv == NULL || !sv->closing)
      break;
    pthread_cond_wait (&reg->volume_closed, &reg->lock);
  }
  /* Shared with older connections: if "sealvol volume resize" grew it
   * since, this connection gets the new size (nbdkit asks once, after
   * open; the older ones keep theirs). */
  if (sv)
    sv_volume_refresh (sv->vol);
  else {
    refresh_keys (reg);         /* an open needs the current tenant key */
    sv = open_shared_volume (reg, name);
  }
  if (sv)
    sv->refs++;
  pthread_mutex_unlock (&reg->lock);
  return sv;
}

/* The close runs outside the lock; the entry stays listed, marked
 * closing, so that a client of this volume waits in sv_registry_acquire
 * instead of opening a second copy. */
void
sv_registry_release (struct sv_registry *reg, struct sv_shared_volume *sv)
{
  struct sv_shared_volume **pp;

  pthread_mutex_lock (&reg->lock);
  if (--sv->refs > 0) {
    pthread_mutex_unlock (&reg->lock);
    return;
  }
  sv->closing = true;
  pthread_mutex_unlock (&reg->lock);

  close_shared_volume (reg, sv);

  pthread_mutex_lock (&reg->lock);
  for (pp = &reg->volumes; *pp != sv; pp = &(*pp)->next)
    ;
  *pp = sv->next;
  pthread_cond_broadcast (&reg->volume_closed);
  pthread_mutex_unlock (&reg->lock);
  free_shared_volume (reg, sv);
}
