/* sealvol CLI: service types and tenant caps (issue 4).
 *
 * volume create checks its --service-type against ROOT/service-types.conf
 * and the tenant's capacity and volume-count caps, volume resize the
 * capacity cap; volume
 * set-service-type changes a volume's type in its authenticated
 * superblock, and a serving nbdkit picks the change up within a second.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"
#include "qos-config.h"
#include "report.h"
#include "volume.h"

int
cli_check_service_type (const struct options *o, const char *type)
{
  struct sv_service_types st;
  char path[4096], why[512];
  int r = 0;

  snprintf (path, sizeof path, "%s/%s", o->root, SV_SERVICE_TYPES_FILE);
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

int
cmd_volume_set_service_type (const struct options *o, const char *tenant,
                             const char *volume, const char *type)
{
  struct sv_tenant *t;
  json_object *e;
  char dir[4096];
  int r;

  if (cli_check_service_type (o, type) == -1)
    return EXIT_FAILURE;
  if ((t = open_tenant_with_key (o, tenant)) == NULL)
    return EXIT_FAILURE;
  r = sv_volume_set_service_type (t, volume, type);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  e = sv_audit_event ("volume-service-type", tenant);
  json_object_object_add (e, "volume", json_object_new_string (volume));
  json_object_object_add (e, "service_type", json_object_new_string (type));
  snprintf (dir, sizeof dir, "%s/%s", o->root, tenant);
  sv_audit_write (dir, e);
  printf ("volume %s/%s now has service type %s\n", tenant, volume, type);
  return EXIT_SUCCESS;
}
