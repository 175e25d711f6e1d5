/* sealvol CLI: api serve. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "log.h"

#include "cli-api.h"
#include "cli-serve.h"

int
cmd_api_serve (const struct options *o, const struct cli_args *a)
{
  char addr[256], port[16];
  struct sv_api_options ao = { .root = o->root, .addr = addr, .port = port,
    .tls_dir = o->tls_certificates };

  (void) a;
  if (o->print_routes) {
    sv_api_print_routes ();
    return EXIT_SUCCESS;
  }
  if (o->listen == NULL || o->tls_certificates == NULL)
    return usage_error ("api serve: --listen ADDR:PORT and --tls-certificates "
                        "DIR are required (TLS is not optional)");
  if (cli_split_listen (o->listen, addr, sizeof addr, port, sizeof port) == -1)
    return usage_error ("bad --listen '%s': expected ADDR:PORT", o->listen);
  sv_log_init ("sealvol api");
  return sv_api_serve (&ao) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
