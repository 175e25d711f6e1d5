/* sealvol: the QoS configuration files.
 *
 * ROOT/service-types.conf, one INI section per service type:
 *   [gp]
 *   iops = 3000              base IOPS (requests of up to 256 KiB count one)
 *   bandwidth = 125M         base bytes per second (K, M, G suffixes)
 *   burst-iops = 6000        peak IOPS while burst credit lasts
 *   burst-bandwidth = 250M   peak bytes per second
 *   burst-seconds = 60       how long a full credit lasts at the peak
 *   reserved-iops = 100      floor under contention of the tenant cap
 *   weight = 1               share of the rest of the tenant cap
 * Absent keys and 0 mean "no limit" (weight: 1).  A section needs at least
 * one key to exist (libinih reports keys, not bare section headers).
 *
 * ROOT/TENANT/tenant.conf, section [caps]:
 *   iops, bandwidth          caps on the sum of the tenant's volumes
 *   capacity                 total size of its volumes (K..T suffixes)
 *   volumes                  how many volumes it may have
 *
 * Parsing is all-or-nothing: a file with any bad line is refused with a
 * one-line reason naming the line, and the caller keeps what it had.
 */
#ifndef SEALVOL_QOS_CONFIG_H
#define SEALVOL_QOS_CONFIG_H

#include <stdint.h>

#include "qos.h"

#define SV_SERVICE_TYPES_FILE "service-types.conf"

struct sv_service_type {
  char name[32];
  struct sv_qos_limits limits;
};

struct sv_service_types {
  unsigned n;
  struct sv_service_type *type;
};

struct sv_tenant_caps {
  uint64_t iops, bps, capacity, volumes;        /* 0 = no cap */
};

/* Parse path into *out (replacing nothing on failure).  Returns 0, or -1
 * with a reason in why (a missing file is errno ENOENT). */
int sv_service_types_load (const char *path, struct sv_service_types *out,
                           char *why, size_t whylen);
void sv_service_types_free (struct sv_service_types *st);
const struct sv_service_type *sv_service_type_find
  (const struct sv_service_types *st, const char *name);

int sv_tenant_caps_load (const char *tenant_conf, struct sv_tenant_caps *out,
                         char *why, size_t whylen);

/* Write the shipped examples (gp, piops, unlimited) to ROOT if there is no
 * service-types.conf yet. */
int sv_service_types_install_default (const char *root);

#endif
