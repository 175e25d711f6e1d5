/* sealvol: tenant key rotation.
 *
 * The steps, each durable before the next, each a crash point for the
 * tests.  KEK is the tenant's key file, K1 the current key (version v),
 * K2 the new one (v + 1):
 *   1. K2 is written to KEK.next (0600, fsync).
 *   2. tenant.state records next-key-check = check(K2): a rotation is on.
 *   3. Each volume's key is re-wrapped under K2 (one atomic superblock
 *      write per volume).
 *   4. K2 is written over KEK in place: K1's bytes are overwritten, not
 *      left behind in a freed block.
 *   5. tenant.state: key-version v + 1, key-check = check(K2), no
 *      next-key-check.
 *   6. KEK.next is overwritten and removed.
 * At every point each volume is wrapped under exactly one key that exists
 * on disk (K1 in KEK until step 4; K2 in KEK.next from step 1, in KEK
 * from step 4), and the loader finds it (tenant.c).  Running rotate-key
 * again after a crash finishes the rotation that was started.
 *
 * The tenant's server may keep serving throughout.  It needs a tenant
 * key only to open a volume (it keeps the unwrapped volume key while the
 * volume is open), and it re-reads tenant.state and its key source when
 * the state changes (registry.c): from step 2 it holds both keys, from
 * step 5 only the new one.  So once step 3 has re-wrapped every volume,
 * nothing needs the old key; the key lock (tenant.h), held exclusive
 * from start to end, keeps volume create and rekey from wrapping a new
 * volume key under it meanwhile.  tenant.conf
 * (the operator's) is never written.  A key file that another tenant also
 * uses is refused: rewriting it would lock that tenant out.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "audit.h"
#include "fault.h"
#include "fsutil.h"
#include "report.h"
#include "tenant.h"
#include "volume.h"

static int
next_key_path (const struct sv_tenant *t, char *buf, size_t len)
{
  if ((size_t) snprintf (buf, len, "%s.next", t->kek_file) >= len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

/* Overwrite a key file in place with noise, then remove it. */
static int
destroy_key_file (const char *path)
{
  CLEANUP_KEY struct sv_key *noise = sv_key_new_random (SV_TENANT_KEY_LEN);

  if (noise == NULL || sv_write_key_file (path, noise, false) == -1
      || unlink (path) == -1) {
    sv_error ("cannot destroy %s: %m", path);
    return -1;
  }
  return 0;
}

/* K2 belongs to whoever owns K1 (the serving user, when root rotates),
 * so that a server restarted during the rotation can read it. */
static int
give_key_owner (const char *next, const char *kek_file)
{
  struct stat st;

  if (stat (kek_file, &st) == -1 || chown (next, st.st_uid, st.st_gid) == -1) {
    sv_error ("cannot give %s the owner of %s: %m", next, kek_file);
    return -1;
  }
  return 0;
}

/* Steps 1 and 2, or pick up the K2 of a rotation already begun. */
static int
begin_rotation (struct sv_tenant *t, const char *next)
{
  if (!t->has_key_check) {
    /* A state from before key checks existed: record it before step 2
     * rewrites the state, or the rewrite would store an empty check. */
    if (sv_key_check_value (t->key_check, t->key, t->id) == -1)
      return -1;
    t->has_key_check = true;
  }
  if (t->has_next_check) {
    if (t->next_key == NULL) {
      sv_error ("tenant %s: a rotation was begun but %s is missing", t->name,
                next);
      return -1;
    }
    return 0;                           /* resuming */
  }
  if (access (next, F_OK) == 0 && destroy_key_file (next) == -1)
    return -1;                  /* a K2 never recorded, or a finished one */
  t->next_key = sv_key_new_random (SV_TENANT_KEY_LEN);
  if (t->next_key == NULL || sv_write_key_file (next, t->next_key, true) == -1
      || give_key_owner (next, t->kek_file) == -1)
    return -1;
  sv_fault_point ("rotate:after-next-key");
  if (sv_key_check_value (t->next_key_check, t->next_key, t->id) == -1)
    return -1;
  t->has_next_check = true;
  if (sv_tenant_write_state (t) == -1)
    return -1;
  sv_fault_point ("rotate:after-conf-begin");
  return 0;
}

static int
rewrap_all (struct sv_tenant *t)
{
  char **names = sv_tenant_volume_names (t);
  int r = 0;

  if (names == NULL)
    return -1;
  for (char **n = names; *n && r == 0; n++) {
    r = sv_volume_rewrap (t, *n);
    sv_fault_point ("rotate:after-rewrap");
  }
  sv_free_names (names);
  return r;
}

/* Steps 4 to 6. */
static int
finish_rotation (struct sv_tenant *t, const char *next)
{
  if (t->key && sv_write_key_file (t->kek_file, t->next_key, false) == -1)
    return -1;
  sv_fault_point ("rotate:after-key-replaced");
  t->key_version++;
  memcpy (t->key_check, t->next_key_check, KEY_CHECK_LEN);
  t->has_next_check = false;
  if (sv_tenant_write_state (t) == -1)
    return -1;
  sv_fault_point ("rotate:after-conf-finish");
  return destroy_key_file (next);
}

/* The tenant, opened under its key lock held exclusive: the state a
 * rotation starts from must be the state no other rotation, create or
 * rekey is changing.  *lock gets the lock's fd (-1 on failure). */
static struct sv_tenant *
open_locked (const char *root, const char *name, int *lock)
{
  struct sv_tenant *t = sv_tenant_open (root, name);

  *lock = -1;
  if (t == NULL || (*lock = sv_tenant_key_lock (t->dir, LOCK_EX)) == -1) {
    sv_tenant_free (t);
    return NULL;
  }
  sv_tenant_free (t);
  return sv_tenant_open (root, name);   /* what the lock now guards */
}

int
sv_tenant_rotate_key (const char *root, const char *name)
{
  int lock;
  struct sv_tenant *t = open_locked (root, name, &lock);
  char next[4096];
  uint32_t from;
  int r = -1;

  if (t && (t->kek_command || t->kek_passphrase)) {
    errno = EINVAL;
    sv_error ("tenant %s takes its key from a %s; rotate-key works only on "
              "tenants whose key is a key file", name,
              t->kek_command ? "command" : "passphrase");
    goto out;
  }
  if (t == NULL || sv_tenant_load_key (t, NULL) == -1
      || sv_check_key_file_unshared (root, name, t->kek_file) == -1
      || next_key_path (t, next, sizeof next) == -1)
    goto out;
  from = t->key_version;
  if (begin_rotation (t, next) == -1
      || (t->key && rewrap_all (t) == -1)
      || finish_rotation (t, next) == -1)
    goto out;
  {
    json_object *e = sv_audit_event ("key-rotation", name);
    json_object_object_add (e, "from_version", json_object_new_int64 (from));
    json_object_object_add (e, "to_version",
                            json_object_new_int64 (t->key_version));
    sv_audit_write (t->dir, e);
  }
  r = 0;
 out:
  sv_tenant_free (t);
  if (lock >= 0)
    close (lock);
  return r;
}
