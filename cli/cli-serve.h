/* sealvol CLI: tenant serve, which runs nbdkit for one tenant. */
#ifndef SEALVOL_CLI_SERVE_H
#define SEALVOL_CLI_SERVE_H

#include "cli-common.h"

int cmd_tenant_serve (const struct options *o, const struct cli_args *a);

#endif
