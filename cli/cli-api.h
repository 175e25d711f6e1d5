/* sealvol CLI: api serve, the HTTPS control API (api/api.h). */
#ifndef SEALVOL_CLI_API_H
#define SEALVOL_CLI_API_H

#include "cli-common.h"

int cmd_api_serve (const struct options *o, const struct cli_args *a);

#endif
