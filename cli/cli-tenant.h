/* sealvol CLI: tenant create and tenant rotate-key. */
#ifndef SEALVOL_CLI_TENANT_H
#define SEALVOL_CLI_TENANT_H

#include "cli-common.h"

int cmd_tenant_create (const struct options *o, const struct cli_args *a);
int cmd_tenant_rotate_key (const struct options *o, const struct cli_args *a);

#endif
