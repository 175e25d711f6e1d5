/* sealvol CLI: tenant token create, list and revoke (server/token.h). */
#ifndef SEALVOL_CLI_TOKEN_H
#define SEALVOL_CLI_TOKEN_H

#include "cli-common.h"

int cmd_token_create (const struct options *o, const struct cli_args *a);
int cmd_token_list (const struct options *o, const struct cli_args *a);
int cmd_token_revoke (const struct options *o, const struct cli_args *a);

#endif
