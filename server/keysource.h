/* sealvol: where a tenant key comes from, resolved in one place.
 *
 * The CLI fills a key source from its options, the nbdkit plugin from its
 * parameters (having read kek=-FD and kek-passphrase=-FD itself, through
 * nbdkit_read_password, before nbdkit closes standard input), and
 * sv_tenant_create from the operator's choice; each then calls
 * sv_key_source_load.  The first member given wins, in the order below;
 * with none, the tenant's own source in tenant.conf decides: its
 * kek-command, else its key file (a passphrase tenant is refused with a
 * message asking for the passphrase).  Whatever the source, the key must
 * match the tenant's key check value (tenant.c).
 */
#ifndef SEALVOL_KEYSOURCE_H
#define SEALVOL_KEYSOURCE_H

#include "tenant.h"

struct sv_key_source {
  /* The key is what this command prints (64 hex digits), run without a
   * shell unless tenant.conf says kek-command-shell = true, in a clean
   * environment, exit status 0 required. */
  const char *kek_command;
  const char *key_hex;          /* the key itself, 64 hex digits */
  const char *passphrase;       /* the key is Argon2id of this passphrase */
  const char *passphrase_file;  /* ... of this file's first line */
  const char *kek_file;         /* a key file (tenant.h's checks apply) */
};

/* Load the tenant's key from src (NULL: the tenant's own source).
 * 0, or -1 with the error reported. */
int sv_key_source_load (struct sv_tenant *t, const struct sv_key_source *src);

#endif
