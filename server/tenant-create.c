/* sealvol: a new tenant: its directory, tenant.conf, tenant.state and
 * its key from the source the operator chose (keysource.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ini.h>
#include <sodium.h>

#include "fsutil.h"
#include "keysource.h"
#include "names.h"
#include "report.h"
#include "tenant.h"

static int
write_new_key_file (const char *path)
{
  CLEANUP_KEY struct sv_key *key = sv_key_new_random (SV_TENANT_KEY_LEN);

  return key ? sv_write_key_file (path, key, true) : -1;
}

/* libinih ends a value at a newline and at " ;" (an inline comment). */
static bool
unsafe_conf_value (const char *v)
{
  return strchr (v, '\n') || strstr (v, " ;") || strstr (v, "\t;");
}

/* libinih splits a longer line and misreads the rest of it. */
#define CONF_VALUE_MAX (INI_MAX_LINE - 2 - (int) sizeof "kek-command = ")

/* Where the volumes live, when not in the tenant's directory. */
static void
write_store_section (FILE *f, const struct sv_store_conf *c)
{
  fprintf (f, "\n[store]\nbackend = rbd\npool = %s\n", c->pool);
  if (c->ceph_conf)
    fprintf (f, "ceph-conf = %s\n", c->ceph_conf);
  if (c->ceph_id)
    fprintf (f, "ceph-id = %s\n", c->ceph_id);
}

/* A new tenant's tenant.conf: the operator's file from now on, which
 * sealvol never writes again.  It holds only what chooses the key
 * source; the tenant's state goes to tenant.state. */
static int
write_new_tenant_conf (const char *dir, const struct sv_tenant *t,
                       const char *kek_file)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&text, &len);
  int r;

  if (f == NULL)
    return -1;
  fprintf (f, "# sealvol tenant %s: the operator's settings.  sealvol reads "
           "this file\n# and never rewrites it; its own state is in "
           "tenant.state.\n[tenant]\n", t->name);
  if (kek_file)
    fprintf (f, "kek-file = %s\n", kek_file);
  if (t->kek_command)
    fprintf (f, "kek-command = %s\n", t->kek_command);
  if (t->kek_passphrase)
    fprintf (f, "kek-source = passphrase\n");
  if (sv_store_conf_is_rbd (&t->store))
    write_store_section (f, &t->store);
  fprintf (f, "\n# Tenant-wide caps (docs/qos.md), e.g.:\n# [caps]\n"
           "# iops = 20000\n# capacity = 10T\n");
  if (fclose (f) != 0)
    return -1;
  r = sv_replace_file (dir, SV_TENANT_CONF_FILE, text, len, 0644);
  free (text);
  return r;
}

/* The absolute path of a key file that may not exist yet (its directory
 * resolved), so that tenant.conf names it the same from any directory. */
static char *
absolute_key_path (const char *path)
{
  const char *slash = strrchr (path, '/');
  const char *leaf = slash ? slash + 1 : path;
  char *dir = sv_parent_dir (path);
  char *dir_real = dir ? realpath (dir, NULL) : NULL;
  char *abs = NULL;

  if (dir_real == NULL)
    sv_error ("key file %s: cannot resolve its directory: %m", path);
  else if (*leaf == '\0' || strcmp (leaf, ".") == 0 || strcmp (leaf, "..") == 0) {
    errno = EINVAL;
    sv_error ("key file %s: not a file name", path);
  }
  else if (asprintf (&abs, "%s%s%s", dir_real,
                     strcmp (dir_real, "/") == 0 ? "" : "/", leaf) == -1)
    abs = NULL;
  free (dir);
  free (dir_real);
  return abs;
}

/* A value for tenant.conf (the absolute kek-file path, or the
 * kek-command) must read back as it was written. */
static int
check_conf_value (const char *v)
{
  if (v && unsafe_conf_value (v)) {
    errno = EINVAL;
    sv_error ("a kek-file path or kek-command may not contain a newline or "
              "' ;' (tenant.conf would read it back cut short)");
    return -1;
  }
  if (v && strlen (v) > CONF_VALUE_MAX) {
    errno = ENAMETOOLONG;
    sv_error ("a tenant.conf line would exceed %d characters: use a shorter "
              "kek-file path or kek-command", INI_MAX_LINE - 2);
    return -1;
  }
  return 0;
}

/* The key of a new tenant from its source.  A command is recorded in
 * tenant.conf; a passphrase gets a fresh salt and the interactive Argon2id
 * limits (kept in tenant.state).  An existing --kek-file is adopted (it
 * may come from a KMS); a missing one, like the default
 * ROOT/TENANT/tenant.key, is generated at keypath. */
static int
new_tenant_key (struct sv_tenant *probe, const char *root,
                const struct sv_key_source *src, const char *keypath,
                bool *generated)
{
  const struct sv_key_source file = { .kek_file = keypath };

  if (src->kek_command
      && (probe->kek_command = strdup (src->kek_command)) == NULL)
    return -1;
  if (src->passphrase || src->passphrase_file) {
    probe->kek_passphrase = true;
    randombytes_buf (probe->pw_salt, sizeof probe->pw_salt);
    probe->pw_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    probe->pw_mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  }
  if (probe->kek_command || probe->kek_passphrase)
    return sv_key_source_load (probe, src);
  if (src->kek_file
      && sv_check_key_file_unshared (root, probe->name, keypath) == -1)
    return -1;
  *generated = access (keypath, F_OK) != 0;
  if (*generated && write_new_key_file (keypath) == -1)
    return -1;
  return sv_key_source_load (probe, &file);
}

int
sv_tenant_create (const char *root, const char *name,
                  const struct sv_key_source *src)
{
  return sv_tenant_create_in (root, name, src, NULL);
}

int
sv_tenant_create_in (const char *root, const char *name,
                     const struct sv_key_source *src,
                     const struct sv_store_conf *store)
{
  static const struct sv_key_source default_source;
  bool generated = false;
  struct sv_tenant probe = { .key_version = 0 };
  char *volumes = NULL, *keypath = NULL, *abs_kek = NULL;
  int r = -1;

  if (src == NULL)
    src = &default_source;
  if (store && (sv_tenant_set_store (&probe, store) == -1
                || check_conf_value (store->ceph_conf) == -1
                || check_conf_value (store->ceph_id) == -1))
    goto out;
  if (sv_name_problem (name)) {
    errno = EINVAL;
    sv_error ("tenant name '%s' %s", name, sv_name_problem (name));
    return -1;
  }
  if (src->kek_file && (abs_kek = absolute_key_path (src->kek_file)) == NULL)
    return -1;
  if (check_conf_value (abs_kek ? abs_kek : src->kek_command) == -1)
    goto out;
  if (mkdir (root, 0755) == -1 && errno != EEXIST) {
    sv_error ("cannot create root %s: %m", root);
    goto out;
  }
  strcpy (probe.name, name);
  probe.dir = sv_tenant_path (root, name, NULL);
  volumes = sv_tenant_path (root, name, "volumes");
  keypath = abs_kek ? strdup (abs_kek) : sv_tenant_path (root, name, "tenant.key");
  if (!probe.dir || !volumes || !keypath)
    goto out;
  /* 0711: the serving user reaches its files by name, lists nothing. */
  if (mkdir (probe.dir, 0711) == -1) {
    if (errno == EEXIST)
      sv_error ("tenant %s already exists", name);
    else
      sv_error ("cannot create %s: %m", probe.dir);
    goto out;
  }
  if (new_tenant_key (&probe, root, src, keypath, &generated) == -1)
    goto undo;
  randombytes_buf (probe.id, sizeof probe.id);
  probe.key_version = 1;
  probe.has_key_check = true;
  if (sv_key_check_value (probe.key_check, probe.key, probe.id) == -1
      || mkdir (volumes, 0700) == -1
      || write_new_tenant_conf (probe.dir, &probe, abs_kek) == -1
      || sv_tenant_write_state (&probe) == -1)
    goto undo;
  r = 0;
  goto out;

 undo:
  if (generated)
    unlink (keypath);
  rmdir (volumes);
  sv_unlink_in (probe.dir, SV_TENANT_STATE_FILE);
  sv_unlink_in (probe.dir, SV_TENANT_CONF_FILE);
  rmdir (probe.dir);
 out:
  sv_key_free (probe.key);
  free (probe.kek_command);
  sv_store_conf_free (&probe.store);
  free (probe.dir);
  free (volumes);
  free (keypath);
  free (abs_kek);
  return r;
}
