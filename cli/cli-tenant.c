/* sealvol CLI: tenant create and tenant rotate-key. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "keysource.h"
#include "qos-config.h"
#include "tenant.h"

#include "cli-common.h"
#include "cli-tenant.h"

int
cmd_tenant_create (const struct options *o, const struct cli_args *a)
{
  const char *name = a->tenant;
  struct sv_key_source src = { .kek_file = o->kek_file,
    .kek_command = o->kek_command, .passphrase_file = o->passphrase_file };

  if (!!o->kek_file + !!o->kek_command + !!o->passphrase_file > 1)
    return usage_error ("%s: give one of --kek-file, --kek-command and "
                        "--passphrase-file", "tenant create");
  if (sv_tenant_create_in (o->root, name, &src, &o->store) == -1
      || sv_service_types_install_default (o->root) == -1)
    return EXIT_FAILURE;
  cli_audit_event (o, name, "tenant-create", NULL);
  printf ("created tenant %s\n", name);
  return EXIT_SUCCESS;
}

int
cmd_tenant_rotate_key (const struct options *o, const struct cli_args *a)
{
  const char *name = a->tenant;

  if (sv_tenant_rotate_key (o->root, name) == -1)
    return EXIT_FAILURE;
  printf ("rotated the key of tenant %s; every volume re-wrapped, the old key "
          "destroyed\n", name);
  return EXIT_SUCCESS;
}
