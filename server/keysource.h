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

#include <sys/types.h>
#include <time.h>

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

/* What tenant.state was when a holder of the tenant's keys last read
 * them: its inode (an atomic replace makes a new one), size and time. */
struct sv_state_stamp {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
};
void sv_tenant_state_stamp (const struct sv_tenant *t,
                            struct sv_state_stamp *stamp);
/* Whether tenant.state changed since *stamp, which becomes its stamp now. */
bool sv_state_stamp_update (const struct sv_tenant *t,
                            struct sv_state_stamp *stamp);

/* For a long-running holder of t's keys (the server).  If tenant.state
 * changed since *stamp (a key rotation began or ended), open the tenant
 * afresh under root, load its keys from src (as sv_key_source_load) and
 * put them, with the key version and check values, in place of t's,
 * whose old keys are wiped.  1: new keys taken; 0: no change; -1: the
 * keys could not be read (reported once per change of the file), t keeps
 * the keys it had. */
int sv_key_source_refresh (struct sv_tenant *t, const char *root,
                           const struct sv_key_source *src,
                           struct sv_state_stamp *stamp);

#endif
