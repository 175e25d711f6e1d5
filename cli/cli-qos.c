/* sealvol CLI: the checks of service types and tenant caps that volume
 * create, resize and set-service-type make before they change anything. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-qos.h"
#include "qos-config.h"
#include "report.h"
#include "volume.h"

int
cli_check_service_type (const char *root, const char *type)
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
cli_volume_size (const struct sv_tenant *t, const char *volume,
                 uint64_t *size)
{
  struct sv_volume *v = sv_volume_open (t, volume, SV_OPEN_INFO, NULL);

  if (v == NULL)
    return -1;
  *size = sv_volume_size (v);
  sv_volume_close (v);
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
    if (cli_volume_size (t, *n, &size) == 0) {
      *bytes += size;
      (*count)++;
    }
  sv_free_names (names);
  return 0;
}

int
cli_check_tenant_caps (const struct sv_tenant *t, uint64_t more_bytes,
                       bool new_volume)
{
  struct sv_tenant_caps caps;
  uint64_t used, count;
  char conf[4096], why[512];

  snprintf (conf, sizeof conf, "%s/tenant.conf", t->dir);
  if (sv_tenant_caps_load (conf, &caps, why, sizeof why) == -1) {
    sv_error ("%s", why);
    return -1;
  }
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
