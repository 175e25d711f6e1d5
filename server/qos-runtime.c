/* sealvol: QoS for one served tenant: its configuration, kept current. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "fsutil.h"
#include "qos-runtime.h"
#include "report.h"

#define POLL_INTERVAL_NS UINT64_C (1000000000)

uint64_t
sv_monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

static bool
same_file_state (const struct stat *a, const struct stat *b)
{
  return a->st_ino == b->st_ino && a->st_size == b->st_size
    && a->st_mtim.tv_sec == b->st_mtim.tv_sec
    && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Re-parse the service types if the file changed.  Caller holds lock. */
static bool
reload_types (struct sv_qos_runtime *rt)
{
  struct sv_service_types fresh;
  struct stat st;
  char why[512];

  if (stat (rt->types_path, &st) == -1)
    memset (&st, 0, sizeof st);
  if (same_file_state (&st, &rt->types_st))
    return false;
  rt->types_st = st;
  if (st.st_ino == 0) {
    sv_error ("warning: %s is missing: no service-type limits apply",
              rt->types_path);
    sv_service_types_free (&rt->types);
    return true;
  }
  if (sv_service_types_load (rt->types_path, &fresh, why, sizeof why) == -1) {
    sv_error ("%s; keeping the last good service types", why);
    return false;
  }
  sv_service_types_free (&rt->types);
  rt->types = fresh;
  return true;
}

/* Re-parse the tenant's caps if tenant.conf changed.  Caller holds lock. */
static bool
reload_caps (struct sv_qos_runtime *rt, uint64_t now_ns)
{
  struct sv_tenant_caps fresh;
  struct stat st;
  char why[512];

  if (stat (rt->conf_path, &st) == -1 || same_file_state (&st, &rt->conf_st))
    return false;
  rt->conf_st = st;
  if (sv_tenant_caps_load (rt->conf_path, &fresh, why, sizeof why) == -1) {
    sv_error ("%s; keeping the last good tenant caps", why);
    return false;
  }
  rt->caps = fresh;
  sv_qos_tenant_set_caps (&rt->tenant, fresh.iops, fresh.bps, now_ns);
  return true;
}

int
sv_qos_runtime_init (struct sv_qos_runtime *rt, const char *root,
                     const char *tenant_dir)
{
  uint64_t now = sv_monotonic_ns ();

  memset (rt, 0, sizeof *rt);
  if (asprintf (&rt->types_path, "%s/%s", root, SV_SERVICE_TYPES_FILE) == -1
      || asprintf (&rt->conf_path, "%s/tenant.conf", tenant_dir) == -1)
    return -1;
  pthread_mutex_init (&rt->lock, NULL);
  sv_qos_tenant_init (&rt->tenant, 0, 0, now);
  reload_types (rt);
  reload_caps (rt, now);
  atomic_store (&rt->next_check_ns, now + POLL_INTERVAL_NS);
  return 0;
}

void
sv_qos_runtime_destroy (struct sv_qos_runtime *rt)
{
  sv_qos_tenant_destroy (&rt->tenant);
  sv_service_types_free (&rt->types);
  pthread_mutex_destroy (&rt->lock);
  free (rt->types_path);
  free (rt->conf_path);
}

int
sv_qos_runtime_poll (struct sv_qos_runtime *rt, uint64_t now_ns)
{
  uint64_t due = atomic_load (&rt->next_check_ns);
  bool changed;

  /* One thread a second does the stat calls; the rest go straight on. */
  if (now_ns < due
      || !atomic_compare_exchange_strong (&rt->next_check_ns, &due,
                                          now_ns + POLL_INTERVAL_NS))
    return -1;
  pthread_mutex_lock (&rt->lock);
  changed = reload_types (rt);
  changed |= reload_caps (rt, now_ns);
  pthread_mutex_unlock (&rt->lock);
  return changed;
}

int
sv_qos_write_stats (const char *voldir, const char *service_type,
                    const struct sv_qos_stats *st, uint64_t integrity_failures)
{
  json_object *j = json_object_new_object ();
  const char *text;
  int r;

  json_object_object_add (j, "service_type",
                          json_object_new_string (service_type));
  json_object_object_add (j, "ops", json_object_new_uint64 (st->ops));
  json_object_object_add (j, "bytes", json_object_new_uint64 (st->bytes));
  json_object_object_add (j, "throttled_ns",
                          json_object_new_uint64 (st->throttled_ns));
  json_object_object_add (j, "integrity_failures",
                          json_object_new_uint64 (integrity_failures));
  json_object_object_add (j, "updated_monotonic_ns",
                          json_object_new_uint64 (sv_monotonic_ns ()));
  text = json_object_to_json_string_ext (j, JSON_C_TO_STRING_PLAIN);
  r = sv_replace_file_ex (voldir, "stats.json", text, strlen (text), 0644,
                          false);
  json_object_put (j);
  return r;
}

void
sv_qos_runtime_limits (struct sv_qos_runtime *rt, const char *type,
                       struct sv_qos_limits *lim, bool *known)
{
  const struct sv_service_type *t;

  pthread_mutex_lock (&rt->lock);
  t = sv_service_type_find (&rt->types, type);
  *known = t != NULL || rt->types_st.st_ino == 0;
  if (t)
    *lim = t->limits;
  else
    *lim = (struct sv_qos_limits) { .weight = 1 };
  pthread_mutex_unlock (&rt->lock);
}
