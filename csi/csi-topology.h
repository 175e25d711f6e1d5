/* The one topology segment of sealvol: which storage host's volumes a
 * node reaches (csi/csi-topology.c).  The controller's config names each
 * storage host by it; the node plugin reports it in NodeGetInfo. */
#ifndef SEALVOL_CSI_TOPOLOGY_H
#define SEALVOL_CSI_TOPOLOGY_H

#include <stdbool.h>

#include "csi.pb-c.h"

#define CSI_TOPOLOGY_KEY "topology.sealvol.org/host"

/* A segment value as the spec allows it: 1-63 characters of
 * [A-Za-z0-9._-], a letter or digit at both ends. */
bool csi_topology_value_ok (const char *v);

/* The host T names, or NULL when it has no sealvol segment. */
const char *csi_topology_host (const Csi__V1__Topology *t);

#endif
