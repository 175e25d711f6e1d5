/* sealvol CLI: tenant token create, list and revoke (server/token.h). */
#ifndef SEALVOL_CLI_TOKEN_H
#define SEALVOL_CLI_TOKEN_H

#include "token.h"

#include "cli-common.h"

int cmd_token_create (const struct options *o, const struct cli_args *a);
int cmd_token_list (const struct options *o, const struct cli_args *a);
int cmd_token_revoke (const struct options *o, const struct cli_args *a);

/* The ID of "ID.SECRET" (all of it if it has no '.'). */
void cli_token_id (const char *token, char id[SV_TOKEN_ID_MAX + 1]);

/* For tenant kube-secret: a new token of scope volumes (lifetime from
 * --expires), audited, its id and expiry said on stderr, never its
 * secret; ID.SECRET into token.  0, or the exit status. */
int cli_token_for_secret (const struct options *o, const char *tenant,
                          char token[SV_TOKEN_MAX + 1]);

#endif
