/* sealvol: tenants and their key store. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ini.h>
#include <sodium.h>

#include "fault.h"
#include "fsutil.h"
#include "kdf.h"
#include "names.h"
#include "report.h"
#include "tenant.h"

#define KEY_HEX_LEN (2 * SV_TENANT_KEY_LEN)

char *
sv_tenant_path (const char *root, const char *name, const char *leaf)
{
  char *p;

  if (asprintf (&p, "%s/%s%s%s", root, name, leaf ? "/" : "", leaf ? leaf : "")
      == -1)
    return NULL;
  return p;
}

/* Write key as hex to path and fsync: a new file (0600, must not exist),
 * or in place over an existing key file of the same length, so the old
 * key's bytes are overwritten rather than left in a freed block. */
int
sv_write_key_file (const char *path, const struct sv_key *key, bool create)
{
  char hex[KEY_HEX_LEN + 2];
  int fd, r;

  fd = create
    ? open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)
    : open (path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd == -1) {
    sv_error ("cannot %s key file %s: %m", create ? "create" : "open", path);
    return -1;
  }
  sodium_bin2hex (hex, sizeof hex, sv_key_bytes (key), SV_TENANT_KEY_LEN);
  hex[KEY_HEX_LEN] = '\n';
  r = sv_write_all (fd, hex, KEY_HEX_LEN + 1, 0) == -1 || fsync (fd) == -1
    ? -1 : 0;
  sv_wipe (hex, sizeof hex);
  if (close (fd) == -1 || r == -1) {
    sv_error ("cannot write key file %s: %m", path);
    if (create)
      unlink (path);
    return -1;
  }
  return 0;
}

/* A check value that tells a wrong tenant key at start-up, before any
 * volume is opened: HMAC-SHA256(key, label || tenant id), first 16 bytes.
 * It reveals nothing about the key. */
int
sv_key_check_value (uint8_t out[KEY_CHECK_LEN], const struct sv_key *key,
                 const uint8_t id[SV_ID_LEN])
{
  uint8_t msg[32 + SV_ID_LEN], mac[SV_HMAC_LEN];

  memset (msg, 0, 32);
  memcpy (msg, "sealvol tenant key check v1", 27);
  memcpy (msg + 32, id, SV_ID_LEN);
  if (sv_hmac_sha256 (mac, sv_key_bytes (key), sv_key_len (key), msg,
                      sizeof msg) == -1)
    return -1;
  memcpy (out, mac, KEY_CHECK_LEN);
  return 0;
}

/* ---- a key file must belong to one tenant ---- */

static int conf_handler (void *user, const char *section, const char *name,
                         const char *value);

/* The key file another tenant uses (malloc'd; NULL for none), read with
 * the one tenant.conf parser, but without opening the tenant: a broken
 * tenant must not stop this check or print its errors. */
static char *
other_tenant_key_file (const char *root, const char *other)
{
  char *conf = sv_tenant_path (root, other, SV_TENANT_CONF_FILE);
  struct sv_tenant t = { .kek_file = NULL };

  if (conf && ini_parse (conf, conf_handler, &t) >= 0 && t.kek_file == NULL)
    t.kek_file = sv_tenant_path (root, other, "tenant.key");
  free (conf);
  free (t.kek_command);
  sv_store_conf_free (&t.store);
  return t.kek_file;
}

/* Whether path (absolute, resolved) lies in other's directory, or is the
 * same file (same inode: hard links too) as other's key file. */
static bool
key_file_of (const char *root, const char *other, const char *path,
             const struct stat *st)
{
  char *dir = sv_tenant_path (root, other, NULL);
  char *dir_real = dir ? realpath (dir, NULL) : NULL;
  char *theirs = other_tenant_key_file (root, other);
  struct stat their_st;
  bool inside = dir_real && strncmp (path, dir_real, strlen (dir_real)) == 0
    && path[strlen (dir_real)] == '/';
  bool same = st && theirs && stat (theirs, &their_st) == 0
    && their_st.st_dev == st->st_dev && their_st.st_ino == st->st_ino;

  free (dir);
  free (dir_real);
  free (theirs);
  return inside || same;
}

/* Refuse a key file that another tenant of root owns or names: rotating
 * one tenant's key would rewrite it and lock the other out.  path is
 * absolute with its directory resolved. */
int
sv_check_key_file_unshared (const char *root, const char *self, const char *path)
{
  struct stat st;
  bool exists = stat (path, &st) == 0;
  DIR *d = opendir (root);
  struct dirent *de;
  int r = 0;

  if (d == NULL) {
    sv_error ("cannot list %s: %m", root);
    return -1;
  }
  while (r == 0 && (de = readdir (d)) != NULL) {
    if (!sv_name_ok (de->d_name) || strcmp (de->d_name, self) == 0)
      continue;
    if (key_file_of (root, de->d_name, path, exists ? &st : NULL)) {
      errno = EEXIST;
      sv_error ("key file %s belongs to tenant %s: every tenant needs a key "
                "file of its own", path, de->d_name);
      r = -1;
    }
  }
  closedir (d);
  return r;
}

/* A value of exactly len bytes in hex. */
static bool
parse_hex (const char *value, uint8_t *out, size_t len)
{
  size_t got;

  return sodium_hex2bin (out, len, value, strlen (value), NULL, &got, NULL) == 0
    && got == len;
}

/* A decimal in [min, max], nothing after it. */
static bool
parse_u64_in (const char *value, uint64_t min, uint64_t max, uint64_t *out)
{
  char *end;
  unsigned long long v = strtoull (value, &end, 10);

  if (*end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

/* A [tenant] key of a root made before tenant.state existed (the state
 * sealvol kept in tenant.conf then): read for the one migration, ignored
 * once tenant.state exists.  1: taken, 0: bad value, -1: not such a key. */
static int
legacy_state_key (struct sv_tenant *t, const char *name, const char *value)
{
  uint64_t v;

  if (strcmp (name, "id") == 0)
    return t->legacy_state = parse_hex (value, t->id, SV_ID_LEN);
  if (strcmp (name, "key-version") == 0) {
    if (!parse_u64_in (value, 1, UINT32_MAX, &v))
      return 0;
    t->key_version = (uint32_t) v;
    return 1;
  }
  if (strcmp (name, "key-check") == 0)
    return t->has_key_check = parse_hex (value, t->key_check, KEY_CHECK_LEN);
  if (strcmp (name, "next-key-check") == 0)
    return t->has_next_check = parse_hex (value, t->next_key_check,
                                          KEY_CHECK_LEN);
  if (strcmp (name, "pwhash-salt") == 0)
    return parse_hex (value, t->pw_salt, sizeof t->pw_salt);
  if (strcmp (name, "pwhash-opslimit") == 0)
    return parse_u64_in (value, crypto_pwhash_OPSLIMIT_MIN,
                         crypto_pwhash_OPSLIMIT_SENSITIVE, &t->pw_ops);
  if (strcmp (name, "pwhash-memlimit") == 0)
    return parse_u64_in (value, crypto_pwhash_MEMLIMIT_MIN,
                         crypto_pwhash_MEMLIMIT_SENSITIVE, &t->pw_mem);
  return -1;
}

static bool
replace_string (char **field, const char *value)
{
  free (*field);
  return (*field = strdup (value)) != NULL;
}

/* The operator's [tenant] keys: where the tenant key comes from. */
static int
key_source_key (struct sv_tenant *t, const char *name, const char *value)
{
  if (strcmp (name, "kek-file") == 0)
    return t->kek_file_configured = replace_string (&t->kek_file, value);
  if (strcmp (name, "kek-command") == 0)
    return replace_string (&t->kek_command, value);
  if (strcmp (name, "kek-command-shell") == 0) {
    t->kek_shell = strcmp (value, "true") == 0;
    return t->kek_shell || strcmp (value, "false") == 0;
  }
  if (strcmp (name, "kek-source") == 0)
    return t->kek_passphrase = strcmp (value, "passphrase") == 0;
  return -1;
}

static int
conf_handler (void *user, const char *section, const char *name,
              const char *value)
{
  struct sv_tenant *t = user;
  const char *why;
  int r;

  if (strcmp (section, "store") == 0)
    return sv_store_conf_set (&t->store, name, value, &why) == 0;
  if (strcmp (section, "tenant") != 0)
    return 1;                   /* other sections belong to other modules */
  r = key_source_key (t, name, value);
  if (r == -1)
    r = legacy_state_key (t, name, value);
  return r != 0;                /* unknown keys are left alone */
}

/* A key source named in tenant.conf decides what root runs and reads:
 * honoured only if no user but root (or the caller) can change the file
 * or a directory above it.  (Else a tenant's serving user could add a
 * kek-command that the next root "sealvol" command runs.) */
static int
check_key_source_trusted (const struct sv_tenant *t, const char *conf)
{
  char why[512];

  if (!t->kek_file_configured && !t->kek_command && !t->kek_passphrase)
    return 0;
  if (sv_check_path_trusted (conf, why, sizeof why) == 0)
    return 0;
  errno = EPERM;
  sv_error ("tenant %s: refusing the key source in %s: %s (key-source "
            "settings count only where no other user can write; chown root, "
            "chmod go-w)", t->name, conf, why);
  return -1;
}

/* tenant.state, or the state a root made before it kept in tenant.conf,
 * moved to tenant.state once (an atomic write: a crash leaves either no
 * tenant.state, and the next open migrates, or the whole of it). */
static int
load_state (struct sv_tenant *t)
{
  bool found;

  if (sv_tenant_read_state (t, &found) == -1)
    return -1;
  if (found)
    return 0;
  if (!t->legacy_state || t->key_version == 0) {
    errno = ENOENT;
    sv_error ("tenant %s has no %s%s", t->name, SV_TENANT_STATE_FILE,
              t->legacy_state ? " and tenant.conf has no key-version" : "");
    return -1;
  }
  if (t->pw_ops == 0 || t->pw_mem == 0)
    t->pw_ops = t->pw_mem = 0;  /* Argon2id parameters come as a set */
  sv_fault_point ("tenant:before-migrate");
  return sv_tenant_write_state (t);
}

struct sv_tenant *
sv_tenant_open (const char *root, const char *name)
{
  struct sv_tenant *t;
  char *conf;
  int r;

  if (sv_name_problem (name)) {
    errno = EINVAL;
    sv_error ("tenant name '%s' %s", name, sv_name_problem (name));
    return NULL;
  }
  t = calloc (1, sizeof *t);
  if (t == NULL)
    return NULL;
  strcpy (t->name, name);
  t->dir = sv_tenant_path (root, name, NULL);
  conf = sv_tenant_path (root, name, SV_TENANT_CONF_FILE);
  if (t->dir == NULL || conf == NULL)
    goto fail;
  r = ini_parse (conf, conf_handler, t);
  if (r == -1) {
    errno = ENOENT;
    sv_error ("no such tenant: %s (no %s)", name, conf);
    goto fail;
  }
  if (r != 0) {
    errno = EINVAL;
    sv_error ("%s: bad tenant configuration (line %d)", conf, r);
    goto fail;
  }
  if (check_key_source_trusted (t, conf) == -1 || load_state (t) == -1
      || sv_store_conf_check (&t->store) == -1)
    goto fail;
  if (t->kek_passphrase && (t->pw_ops == 0 || t->pw_mem == 0)) {
    errno = EINVAL;
    sv_error ("tenant %s: kek-source = passphrase, but %s has no Argon2id "
              "parameters", name, SV_TENANT_STATE_FILE);
    goto fail;
  }
  if (t->kek_file == NULL
      && (t->kek_file = sv_tenant_path (root, name, "tenant.key")) == NULL)
    goto fail;
  free (conf);
  return t;

 fail:
  free (conf);
  sv_tenant_free (t);
  return NULL;
}

void
sv_tenant_free (struct sv_tenant *t)
{
  if (t) {
    sv_key_free (t->key);
    sv_key_free (t->next_key);
    free (t->kek_command);
    free (t->dir);
    free (t->kek_file);
    sv_store_conf_free (&t->store);
    free (t);
  }
}

static bool
key_matches (const struct sv_key *key, const uint8_t id[SV_ID_LEN],
             const uint8_t check[KEY_CHECK_LEN])
{
  uint8_t mine[KEY_CHECK_LEN];

  return sv_key_check_value (mine, key, id) == 0
    && sodium_memcmp (mine, check, KEY_CHECK_LEN) == 0;
}

/* Keep key as the tenant's current key, or as the next one when a key
 * rotation already put it in the key file.  Consumes key. */
int
sv_tenant_adopt_key (struct sv_tenant *t, struct sv_key *key)
{
  if (!t->has_key_check || key_matches (key, t->id, t->key_check)) {
    sv_key_free (t->key);
    t->key = key;
    return 0;
  }
  if (t->has_next_check && key_matches (key, t->id, t->next_key_check)) {
    sv_key_free (t->next_key);
    t->next_key = key;
    return 0;
  }
  sv_key_free (key);
  errno = EPERM;
  sv_error ("wrong key for tenant %s (it does not match the tenant's key "
            "check value)", t->name);
  return -1;
}

const struct sv_key *
sv_tenant_key_for (const struct sv_tenant *t, uint32_t version)
{
  if (version == t->key_version)
    return t->key;
  if (version == t->key_version + 1)
    return t->next_key;
  return NULL;
}

int
sv_tenant_set_key_hex (struct sv_tenant *t, const char *hex)
{
  struct sv_key *key = sv_key_new (SV_TENANT_KEY_LEN);
  size_t len;

  if (key == NULL)
    return -1;
  if (sodium_hex2bin (sv_key_bytes_mut (key), SV_TENANT_KEY_LEN, hex,
                      strlen (hex), "\n", &len, NULL) != 0
      || len != SV_TENANT_KEY_LEN) {
    sv_key_free (key);
    errno = EINVAL;
    sv_error ("tenant key must be %d hex digits", KEY_HEX_LEN);
    return -1;
  }
  return sv_tenant_adopt_key (t, key);
}

/* Refuse a key file that others could read or that someone else owns. */
static int
check_key_file (int fd, const char *path)
{
  struct stat st;

  if (fstat (fd, &st) == -1) {
    sv_error ("%s: %m", path);
    return -1;
  }
  if (!S_ISREG (st.st_mode)) {
    errno = EINVAL;
    sv_error ("key file %s is not a regular file", path);
    return -1;
  }
  if (st.st_mode & 077) {
    errno = EPERM;
    sv_error ("key file %s must be mode 0600, not %04o", path,
              (unsigned) (st.st_mode & 07777));
    return -1;
  }
  /* Root may read the serving user's key: it can read it anyway, and the
   * mode check still keeps everyone else out. */
  if (st.st_uid != geteuid () && geteuid () != 0) {
    errno = EPERM;
    sv_error ("key file %s must be owned by uid %u (the serving user), not %u",
              path, (unsigned) geteuid (), (unsigned) st.st_uid);
    return -1;
  }
  return 0;
}

static int load_key_file (struct sv_tenant *t, const char *path);

/* The key file, and during a rotation the next key beside it. */
int
sv_tenant_load_key (struct sv_tenant *t, const char *path)
{
  char next[4096];

  if (path == NULL)
    path = t->kek_file;
  if (load_key_file (t, path) == -1)
    return -1;
  if (t->has_next_check && t->next_key == NULL
      && (size_t) snprintf (next, sizeof next, "%s.next", path) < sizeof next
      && access (next, F_OK) == 0
      && load_key_file (t, next) == -1)
    return -1;
  return 0;
}

static int
load_key_file (struct sv_tenant *t, const char *path)
{
  char buf[KEY_HEX_LEN + 8];
  ssize_t n;
  int fd, r;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd == -1) {
    sv_error ("cannot open tenant key %s: %m", path);
    return -1;
  }
  if (check_key_file (fd, path) == -1) {
    close (fd);
    return -1;
  }
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n == -1) {
    sv_error ("cannot read tenant key %s: %m", path);
    return -1;
  }
  buf[n] = '\0';
  r = sv_tenant_set_key_hex (t, buf);
  sv_wipe (buf, sizeof buf);
  return r;
}

int
sv_tenant_key_lock (const char *tenant_dir, int how)
{
  char path[4096];
  int fd = -1;

  if ((size_t) snprintf (path, sizeof path, "%s/volumes", tenant_dir)
      >= sizeof path)
    errno = ENAMETOOLONG;
  else
    fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || flock (fd, how) == -1) {
    sv_error ("cannot lock %s: %m", path);
    if (fd >= 0)
      close (fd);
    return -1;
  }
  return fd;
}

int
sv_tenant_key_current (const struct sv_tenant *t)
{
  struct sv_tenant now = { .dir = t->dir };
  bool found;

  strcpy (now.name, t->name);
  if (sv_tenant_read_state (&now, &found) == -1)
    return -1;
  if (found && (now.key_version != t->key_version
                || now.has_next_check != t->has_next_check)) {
    errno = EAGAIN;
    sv_error ("tenant %s: its key was rotated while this command ran; "
              "nothing was changed, run it again", t->name);
    return -1;
  }
  return 0;
}

int
sv_tenant_set_store (struct sv_tenant *t, const struct sv_store_conf *o)
{
  const char *keys[] = { "backend", "pool", "ceph-conf", "ceph-id" };
  const char *vals[] = { o->backend, o->pool, o->ceph_conf, o->ceph_id };

  const char *why;

  for (size_t i = 0; i < 4; i++)
    if (vals[i] && sv_store_conf_set (&t->store, keys[i], vals[i], &why)
        == -1)
      return why ? sv_error ("%s '%s' %s", keys[i], vals[i], why), -1 : -1;
  return sv_store_conf_check (&t->store);
}

int
sv_store_refuse_rbd (const struct sv_tenant *t, const char *name,
                     const char *what)
{
  if (!sv_store_conf_is_rbd (&t->store))
    return 0;
  errno = ENOTSUP;
  sv_error ("volume %s/%s: 'volume %s' is not available for backend rbd yet",
            t->name, name, what);
  return -1;
}

char *
sv_tenant_volume_dir (const struct sv_tenant *t, const char *volume)
{
  char *p;

  if (asprintf (&p, "%s/volumes/%s", t->dir, volume) == -1)
    return NULL;
  return p;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

char **
sv_tenant_volume_names (const struct sv_tenant *t)
{
  char *path = NULL;
  char **names = NULL;
  size_t n = 0;
  DIR *d;
  struct dirent *de;

  if (sv_store_conf_is_rbd (&t->store))
    return sv_store_rbd_names (&t->store, t->name);
  if (asprintf (&path, "%s/volumes", t->dir) == -1)
    return NULL;
  d = opendir (path);
  if (d == NULL) {
    sv_error ("cannot list %s: %m", path);
    free (path);
    return NULL;
  }
  free (path);
  names = calloc (1, sizeof *names);
  while (names && (de = readdir (d)) != NULL) {
    char **grown;
    if (!sv_name_ok (de->d_name))
      continue;                 /* ".", "..", and temporary files */
    grown = realloc (names, (n + 2) * sizeof *names);
    if (grown == NULL || (grown[n] = strdup (de->d_name)) == NULL) {
      names = grown ? grown : names;
      names[n] = NULL;
      sv_free_names (names);
      names = NULL;
      break;
    }
    names = grown;
    names[++n] = NULL;
  }
  closedir (d);
  if (names)
    qsort (names, n, sizeof *names, compare_names);
  return names;
}

void
sv_free_names (char **names)
{
  if (names) {
    for (char **p = names; *p; p++)
      free (*p);
    free (names);
  }
}
