/* sealvol CLI: tenant serve, which runs nbdkit for one tenant. */
#ifndef SEALVOL_CLI_SERVE_H
#define SEALVOL_CLI_SERVE_H

#include <stddef.h>

#include "cli-common.h"

/* Split "ADDR:PORT" ("[::1]:10809" for IPv6) into its parts; -1 if it
 * is not that. */
int cli_split_listen (const char *listen, char *addr, size_t alen,
                      char *port, size_t plen);

int cmd_tenant_serve (const struct options *o, const struct cli_args *a);

#endif
