/* sealvol: the volume operations the CLI and the control API share,
 * with the checks both make before they change anything: the service
 * type exists in ROOT/service-types.conf and the tenant stays within the
 * [caps] of its tenant.conf (qos-config.h).  The tenant's key must be
 * loaded.  Each returns 0, or -1 with the reason reported (sv_error) and
 * errno telling the kind: ENOENT no such volume or service type, EEXIST
 * the volume exists, EDQUOT over a cap, EINVAL a bad size or a shrink,
 * EBUSY in use; anything else is an I/O failure.
 */
#ifndef SEALVOL_VOLUME_OPS_H
#define SEALVOL_VOLUME_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "qos-config.h"
#include "volume.h"

/* Is type a section of ROOT/service-types.conf? */
int sv_service_type_check (const char *root, const char *type);

/* The sum of the sizes and the number of the tenant's volumes (those
 * that open), and its caps. */
struct sv_tenant_usage {
  uint64_t bytes, volumes;
  struct sv_tenant_caps caps;
};
int sv_tenant_usage_get (const struct sv_tenant *t,
                         struct sv_tenant_usage *u);

/* Would the tenant stay within its caps with more_bytes more of volumes,
 * and one more volume if new_volume? */
int sv_tenant_caps_check (const struct sv_tenant *t, uint64_t more_bytes,
                          bool new_volume);

/* The size in a volume's superblock. */
int sv_volume_size_of (const struct sv_tenant *t, const char *volume,
                       uint64_t *size);

/* Create (service type and caps checked first). */
int sv_volume_create_checked (const char *root, const struct sv_tenant *t,
                              const char *name,
                              const struct sv_create_params *p);
/* Grow to size (the growth counted against the capacity cap); the same
 * size is a no-op.  *old_size gets the size before. */
int sv_volume_grow_checked (const struct sv_tenant *t, const char *name,
                            uint64_t size, uint64_t *old_size);

#endif
