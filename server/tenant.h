/* sealvol: tenants and their key store.
 *
 * ROOT/TENANT/              root's, 0711: the serving user reaches its
 *                           files by name but can change none of these:
 * ROOT/TENANT/tenant.conf   the operator's INI: [tenant] key source
 *                           (kek-file, kek-command, kek-source), [caps];
 *                           written once at create, never rewritten
 * ROOT/TENANT/tenant.state  sealvol's own state (tenant-state.c): id,
 *                           key version, key check values
 * ROOT/TENANT/tenant.key    64 hex digits + newline, mode 0600, unless
 *                           the tenant was created with another source;
 *                           owned by the serving user
 * ROOT/TENANT/volumes/VOL/  one directory per volume (format.h), the
 *                           serving user's; with [store] backend = rbd
 *                           the volumes are in a Ceph pool instead
 *                           (store-rbd.c)
 *
 * A key file must be a regular file, mode 0600 (no group or other bits)
 * and owned by the user reading it (root may read the serving user's);
 * anything else is refused, because a key readable by others protects
 * nothing.
 */
#ifndef SEALVOL_TENANT_H
#define SEALVOL_TENANT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "secmem.h"
#include "store.h"
#include "wrap.h"

#define KEY_CHECK_LEN 16
#define SV_TENANT_CONF_FILE "tenant.conf"
#define SV_TENANT_STATE_FILE "tenant.state"

struct sv_tenant {
  char name[64];
  char *dir;                    /* ROOT/TENANT */
  uint8_t id[SV_ID_LEN];
  uint32_t key_version;
  char *kek_file;               /* where the tenant key lives */
  bool kek_file_configured;     /* named in tenant.conf (not the default) */
  char *kek_command;            /* the key is this command's output */
  bool kek_shell;               /* run it with /bin/sh -c */
  bool kek_passphrase;          /* the key is Argon2id of a passphrase */
  uint8_t pw_salt[16];
  uint64_t pw_ops, pw_mem;
  uint8_t key_check[16];        /* HMAC of the key: tells a wrong key */
  bool has_key_check;
  bool legacy_state;            /* tenant.conf has the pre-tenant.state id */
  /* During a key rotation (tenant.state has next-key-check): the key of
   * version key_version + 1, from KEK_FILE.next or, once the rotation has
   * replaced the key file, from the key file itself. */
  uint8_t next_key_check[16];
  bool has_next_check;
  struct sv_key *next_key;
  struct sv_key *key;           /* NULL until loaded */
  /* Where the volumes live: tenant.conf's [store] section (store.h); a
   * server's or command's options may override it (sv_tenant_set_store). */
  struct sv_store_conf store;
};

/* A new tenant (tenant-create.c) with its key from src (keysource.h;
 * NULL: a new key file ROOT/TENANT/tenant.key). */
struct sv_key_source;
int sv_tenant_create (const char *root, const char *name,
                      const struct sv_key_source *src);
/* The same, its volumes kept where store says (NULL: its directory),
 * which tenant.conf's [store] section records. */
int sv_tenant_create_in (const char *root, const char *name,
                         const struct sv_key_source *src,
                         const struct sv_store_conf *store);
/* Reads tenant.conf and tenant.state (migrating the state of an older
 * root out of tenant.conf once); does not load the key. */
struct sv_tenant *sv_tenant_open (const char *root, const char *name);
void sv_tenant_free (struct sv_tenant *t);

/* Override tenant.conf's [store] with a server's or command's options
 * (each may be NULL: keep the configured one), then check the result. */
int sv_tenant_set_store (struct sv_tenant *t, const struct sv_store_conf *o);

/* -1 with a message for an operation the RBD store lacks yet. */
int sv_store_refuse_rbd (const struct sv_tenant *t, const char *name,
                         const char *what);

/* Load the tenant key from a key file (NULL: the tenant's own kek-file),
 * after the key file checks above; keysource.h chooses the source. */
int sv_tenant_load_key (struct sv_tenant *t, const char *path);
/* Parse a key given as 64 hex digits (e.g. from nbdkit_read_password). */
int sv_tenant_set_key_hex (struct sv_tenant *t, const char *hex);

/* The loaded key of this version, or NULL. */
const struct sv_key *sv_tenant_key_for (const struct sv_tenant *t,
                                        uint32_t version);

/* Key rotation (rotate.c): new key, every volume re-wrapped, old key
 * destroyed; resumable after a crash at any step. */
int sv_tenant_rotate_key (const char *root, const char *name);

/* Shared with rotate.c, keysource.c and tenant-create.c. */
char *sv_tenant_path (const char *root, const char *name, const char *leaf);
int sv_tenant_adopt_key (struct sv_tenant *t, struct sv_key *key);
int sv_key_check_value (uint8_t out[KEY_CHECK_LEN], const struct sv_key *key,
                        const uint8_t id[SV_ID_LEN]);
int sv_write_key_file (const char *path, const struct sv_key *key, bool create);

/* Make the tenant's files root's, but for what its server writes
 * (volumes/, log/, its key file), which go to uid:gid (tenant-owner.c). */
int sv_tenant_hand_over (const struct sv_tenant *t, uid_t uid, gid_t gid);

/* tenant.state (tenant-state.c): *found false when there is none. */
int sv_tenant_read_state (struct sv_tenant *t, bool *found);
int sv_tenant_write_state (const struct sv_tenant *t);
/* Refuse a key file inside another tenant's directory or used by
 * another tenant (rotating it would lock that tenant out). */
int sv_check_key_file_unshared (const char *root, const char *self,
                                const char *path);

/* The tenant's key lock, a flock of TENANT_DIR/volumes: whoever wraps a
 * volume key under the current tenant key (volume create, volume rekey)
 * holds it shared (LOCK_SH), a key rotation exclusive (LOCK_EX), so no
 * key is ever wrapped under a tenant key that a rotation is about to
 * destroy.  Blocks; returns the fd (close it to unlock) or -1, reported. */
int sv_tenant_key_lock (const char *tenant_dir, int how);
/* 0 if tenant.state still has t's key version and rotation state (call
 * it under the key lock); -1, reported, if a rotation ran since t was
 * opened. */
int sv_tenant_key_current (const struct sv_tenant *t);

/* Malloc'd path of a volume directory, and the sorted volume names
 * (NULL-terminated, free with sv_free_names). */
char *sv_tenant_volume_dir (const struct sv_tenant *t, const char *volume);
char **sv_tenant_volume_names (const struct sv_tenant *t);
void sv_free_names (char **names);

#endif
