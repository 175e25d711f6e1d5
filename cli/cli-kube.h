/* sealvol CLI: tenant kube-secret, the Kubernetes Secret of a tenant's
 * namespace (docs/csi-controller.md and docs/csi-node.md name its keys). */
#ifndef SEALVOL_CLI_KUBE_H
#define SEALVOL_CLI_KUBE_H

#include "cli-common.h"

int cmd_tenant_kube_secret (const struct options *o, const struct cli_args *a);

#endif
