/* sealvol: the volume operations the CLI and the API share
 * (volume-ops.h). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qos-config.h"
#include "report.h"
#include "volume.h"
#include "volume-ops.h"

int
sv_service_type_check (const char *root, const char *type)
{
  struct sv_service_types st;
  char path[4096], why[512];
  int r = 0;

  snprintf (path, sizeof path, "%s/%s", root, SV_SERVICE_TYPES_FILE);
  if (sv_service_types_load (path, &st, why, sizeof why) == -1) {
    sv_error ("%s", why);
    return -1;
  }
  if (sv_service_type_find (&st, type) == NULL) {
    errno = ENOENT;
    sv_error ("no such service type '%s' in %s", type, path);
    r = -1;
  }
  sv_service_types_free (&st);
  return r;
}

int
sv_volume_size_of (const struct sv_tenant *t, const char *volume,
                 uint64_t *size)
{
  struct sv_volume *v = sv_volume_open (t, volume, SV_OPEN_INFO, NULL);

  if (v == NULL)
    return -1;
  *size = sv_volume_size (v);
  sv_volume_close (v);
  return 0;
}

static int
load_caps (const struct sv_tenant *t, struct sv_tenant_caps *caps)
{
  char conf[4096], why[512];

  snprintf (conf, sizeof conf, "%s/" SV_TENANT_CONF_FILE, t->dir);
  if (sv_tenant_caps_load (conf, caps, why, sizeof why) == -1) {
    sv_error ("%s", why);
    return -1;
  }
  return 0;
}

/* Sum of the sizes and number of the tenant's volumes. */
static int
tenant_usage (const struct sv_tenant *t, uint64_t *bytes, uint64_t *count)
{
  char **names = sv_tenant_volume_names (t);
  uint64_t size;

  if (names == NULL)
    return -1;
  *bytes = *count = 0;
  for (char **n = names; *n; n++)
    if (sv_volume_size_of (t, *n, &size) == 0) {
      *bytes += size;
      (*count)++;
    }
  sv_free_names (names);
  return 0;
}

int
sv_tenant_usage_get (const struct sv_tenant *t, struct sv_tenant_usage *u)
{
  if (load_caps (t, &u->caps) == -1)
    return -1;
  return tenant_usage (t, &u->bytes, &u->volumes);
}

int
sv_tenant_caps_check (const struct sv_tenant *t, uint64_t more_bytes,
                      bool new_volume)
{
  struct sv_tenant_caps caps;
  uint64_t used, count;

  if (load_caps (t, &caps) == -1)
    return -1;
  if (caps.capacity == 0 && caps.volumes == 0)
    return 0;
  if (tenant_usage (t, &used, &count) == -1)
    return -1;
  errno = EDQUOT;
  if (new_volume && caps.volumes && count + 1 > caps.volumes) {
    sv_error ("tenant %s already has %" PRIu64 " volumes, its cap is %"
              PRIu64, t->name, count, caps.volumes);
    return -1;
  }
  if (caps.capacity && used + more_bytes > caps.capacity) {
    sv_error ("tenant %s would have %" PRIu64 " bytes of volumes, its "
              "capacity cap is %" PRIu64, t->name, used + more_bytes,
              caps.capacity);
    return -1;
  }
  return 0;
}

int
sv_volume_create_checked (const char *root, const struct sv_tenant *t,
                          const char *name, const struct sv_create_params *p)
{
  if (sv_service_type_check (root, p->service_type ? p->service_type : "gp")
      == -1
      || sv_tenant_caps_check (t, p->size, true) == -1)
    return -1;
  return sv_volume_create (t, name, p);
}

int
sv_volume_grow_checked (const struct sv_tenant *t, const char *name,
                        uint64_t size, uint64_t *old_size)
{
  uint64_t now;

  if (sv_volume_size_of (t, name, &now) == -1
      || (size > now && sv_tenant_caps_check (t, size - now, false) == -1))
    return -1;
  return sv_volume_resize (t, name, size, old_size);
}
