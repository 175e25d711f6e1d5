/* sealvol: who owns what in a tenant's directory.
 *
 * The tenant's nbdkit runs as its serving user (tenant serve --user), and
 * root runs the sealvol commands.  The serving user gets exactly what its
 * server writes or must read after dropping privileges: volumes/ (every
 * volume's files), log/ (the audit log) and the tenant key file when it
 * lives in the tenant directory.  Everything that decides how a key is
 * obtained stays root's and unwritable by that user: the tenant directory
 * itself, tenant.conf and tenant.state.  (When the tenant directory was
 * the serving user's, that user could put a kek-command in tenant.conf
 * and have root run it.)  "tenant serve --user" applies this before it
 * starts nbdkit, so a root laid out by hand or by an older sealvol is put
 * right on the next start.
 */
#include <config.h>

#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "tenant.h"

static uid_t walk_uid;
static gid_t walk_gid;

static int
chown_entry (const char *path, const struct stat *st, int type,
             struct FTW *ftw)
{
  (void) st; (void) type; (void) ftw;
  if (lchown (path, walk_uid, walk_gid) == -1) {
    sv_error ("cannot chown %s: %m", path);
    return -1;
  }
  return 0;
}

/* dir and everything below it (symbolic links themselves, not what they
 * point at) to uid:gid; dir is made if missing. */
static int
give_tree (const char *tenant_dir, const char *leaf, uid_t uid, gid_t gid)
{
  char path[4096];

  snprintf (path, sizeof path, "%s/%s", tenant_dir, leaf);
  if (mkdir (path, 0700) == -1 && errno != EEXIST) {
    sv_error ("cannot create %s: %m", path);
    return -1;
  }
  walk_uid = uid;
  walk_gid = gid;
  return nftw (path, chown_entry, 16, FTW_PHYS | FTW_MOUNT) == 0 ? 0 : -1;
}

/* root's; the mode as it was, less group and other write (a missing file
 * is fine: tenant.state appears on the first open of an old root). */
static int
keep_for_root (const char *dir, const char *leaf)
{
  char path[4096];
  struct stat st;

  snprintf (path, sizeof path, "%s/%s", dir, leaf);
  if (lstat (path, &st) == -1)
    return errno == ENOENT ? 0 : -1;
  if (lchown (path, 0, 0) == -1
      || (!S_ISLNK (st.st_mode)
          && chmod (path, st.st_mode & 0755) == -1)) {
    sv_error ("cannot make %s root's: %m", path);
    return -1;
  }
  return 0;
}

/* The key file and a rotation's next key, if they are the tenant's own
 * (in its directory); a key file elsewhere is the operator's to place. */
static int
give_key_files (const struct sv_tenant *t, uid_t uid, gid_t gid)
{
  char next[4096];
  size_t n = strlen (t->dir);

  if (strncmp (t->kek_file, t->dir, n) != 0 || t->kek_file[n] != '/'
      || strchr (t->kek_file + n + 1, '/'))
    return 0;
  snprintf (next, sizeof next, "%s.next", t->kek_file);
  if ((lchown (t->kek_file, uid, gid) == -1 && errno != ENOENT)
      || (lchown (next, uid, gid) == -1 && errno != ENOENT)) {
    sv_error ("cannot chown the key of tenant %s: %m", t->name);
    return -1;
  }
  return 0;
}

int
sv_tenant_hand_over (const struct sv_tenant *t, uid_t uid, gid_t gid)
{
  if (geteuid () != 0) {
    errno = EPERM;
    sv_error ("serving tenant %s as another user needs root", t->name);
    return -1;
  }
  /* 0711: the serving user reaches its files by name, lists nothing. */
  if (chown (t->dir, 0, 0) == -1 || chmod (t->dir, 0711) == -1) {
    sv_error ("cannot make %s root's: %m", t->dir);
    return -1;
  }
  if (keep_for_root (t->dir, SV_TENANT_CONF_FILE) == -1
      || keep_for_root (t->dir, SV_TENANT_STATE_FILE) == -1
      || give_tree (t->dir, "volumes", uid, gid) == -1
      || give_tree (t->dir, "log", uid, gid) == -1
      || give_key_files (t, uid, gid) == -1)
    return -1;
  return 0;
}
