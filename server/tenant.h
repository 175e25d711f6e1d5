/* sealvol: tenants and their key store.
 *
 * ROOT/TENANT/tenant.conf   INI: [tenant] id, key-version, kek-file
 * ROOT/TENANT/tenant.key    64 hex digits + newline, mode 0600, unless
 *                           the tenant was created with --kek-file
 * ROOT/TENANT/volumes/VOL/  one directory per volume (format.h)
 *
 * A key file must be a regular file, mode 0600 (no group or other bits)
 * and owned by the user reading it; anything else is refused, because a
 * key readable by others protects nothing.
 */
#ifndef SEALVOL_TENANT_H
#define SEALVOL_TENANT_H

#include <stdbool.h>
#include <stdint.h>

#include "secmem.h"
#include "wrap.h"

#define KEY_CHECK_LEN 16

struct sv_tenant {
  char name[64];
  char *dir;                    /* ROOT/TENANT */
  uint8_t id[SV_ID_LEN];
  uint32_t key_version;
  char *kek_file;               /* where the tenant key lives */
  bool kek_file_configured;     /* named in tenant.conf (not the default) */
  char *kek_command;            /* the key is this command's output */
  bool kek_passphrase;          /* the key is Argon2id of a passphrase */
  uint8_t pw_salt[16];
  uint64_t pw_ops, pw_mem;
  uint8_t key_check[16];        /* HMAC of the key: tells a wrong key */
  bool has_key_check;
  /* During a key rotation (tenant.conf has next-key-check): the key of
   * version key_version + 1, from KEK_FILE.next or, once the rotation has
   * replaced the key file, from the key file itself. */
  uint8_t next_key_check[16];
  bool has_next_check;
  struct sv_key *next_key;
  struct sv_key *key;           /* NULL until loaded */
};

/* Where a new tenant's key comes from: a key file (kek_file: adopted if
 * it exists, else generated there; NULL: ROOT/TENANT/tenant.key), the
 * output of kek_command (64 hex digits; e.g. a KMS or Vault client), or a
 * passphrase stretched with Argon2id. */
struct sv_key_source {
  const char *kek_file;
  const char *kek_command;
  const char *passphrase;
};
int sv_tenant_create (const char *root, const char *name,
                      const struct sv_key_source *src);
/* Reads tenant.conf; does not load the key. */
struct sv_tenant *sv_tenant_open (const char *root, const char *name);
void sv_tenant_free (struct sv_tenant *t);

/* Load the tenant key from path (NULL: the tenant's own kek-file). */
int sv_tenant_load_key (struct sv_tenant *t, const char *path);
/* The key from a command's standard output (run with /bin/sh -c; exit
 * status 0 required), or from a passphrase (keysource.c). */
int sv_tenant_load_key_command (struct sv_tenant *t, const char *command);
int sv_tenant_set_passphrase (struct sv_tenant *t, const char *passphrase);
/* Parse a key given as 64 hex digits (e.g. from nbdkit_read_password). */
int sv_tenant_set_key_hex (struct sv_tenant *t, const char *hex);

/* The loaded key of this version, or NULL. */
const struct sv_key *sv_tenant_key_for (const struct sv_tenant *t,
                                        uint32_t version);

/* Key rotation (rotate.c): new key, every volume re-wrapped, old key
 * destroyed; resumable after a crash at any step. */
int sv_tenant_rotate_key (const char *root, const char *name);

/* Shared with rotate.c. */
int sv_tenant_adopt_key (struct sv_tenant *t, struct sv_key *key);
int sv_key_check_value (uint8_t out[KEY_CHECK_LEN], const struct sv_key *key,
                        const uint8_t id[SV_ID_LEN]);
int sv_write_key_file (const char *path, const struct sv_key *key, bool create);
int sv_tenant_write_conf (const struct sv_tenant *t);

/* Malloc'd path of a volume directory, and the sorted volume names
 * (NULL-terminated, free with sv_free_names). */
char *sv_tenant_volume_dir (const struct sv_tenant *t, const char *volume);
char **sv_tenant_volume_names (const struct sv_tenant *t);
void sv_free_names (char **names);

#endif
