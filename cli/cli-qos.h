/* sealvol CLI: service types and tenant caps, checked before a volume
 * is created, grown or given another type. */
#ifndef SEALVOL_CLI_QOS_H
#define SEALVOL_CLI_QOS_H

#include <stdbool.h>
#include <stdint.h>

struct sv_tenant;

/* Is type a section of ROOT/service-types.conf?  -1 (reported) if not. */
int cli_check_service_type (const char *root, const char *type);
/* Would the tenant stay within its caps with more_bytes more of volumes,
 * and one more volume if new_volume?  -1 (reported) if not. */
int cli_check_tenant_caps (const struct sv_tenant *t, uint64_t more_bytes,
                           bool new_volume);
/* The size in a volume's superblock; -1 (reported) if it cannot open. */
int cli_volume_size (const struct sv_tenant *t, const char *volume,
                     uint64_t *size);

#endif
