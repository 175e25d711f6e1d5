/* sealvol: tenants and their key store. */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ini.h>
#include <sodium.h>

#include "fsutil.h"
#include "kdf.h"
#include "names.h"
#include "report.h"
#include "tenant.h"

#define KEY_HEX_LEN (2 * SV_TENANT_KEY_LEN)

static char *
tenant_path (const char *root, const char *name, const char *leaf)
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

static int
write_new_key_file (const char *path)
{
  CLEANUP_KEY struct sv_key *key = sv_key_new_random (SV_TENANT_KEY_LEN);

  return key ? sv_write_key_file (path, key, true) : -1;
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

/* tenant.conf: [tenant] as below, then any other sections (the [caps]
 * an operator wrote) kept as they were. */
/* libinih ends a value at a newline and at " ;" (an inline comment). */
static bool
unsafe_conf_value (const char *v)
{
  return strchr (v, '\n') || strstr (v, " ;") || strstr (v, "\t;");
}

static size_t
longest_line (const char *text)
{
  size_t longest = 0;

  while (*text) {
    size_t n = strcspn (text, "\n");
    if (n > longest)
      longest = n;
    text += n + (text[n] == '\n');
  }
  return longest;
}

static void
put_hex_line (FILE *f, const char *key, const uint8_t *bytes, size_t len)
{
  char hex[2 * 32 + 1];

  sodium_bin2hex (hex, sizeof hex, bytes, len);
  fprintf (f, "%s = %s\n", key, hex);
}

static int
write_tenant_conf (const char *dir, const struct sv_tenant *t,
                   const char *kek_file, const char *head, const char *rest)
{
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream (&text, &len);
  int r;

  if (f == NULL)
    return -1;
  fputs (head ? head : "", f);
  fprintf (f, "# sealvol tenant; written by sealvol\n[tenant]\n");
  put_hex_line (f, "id", t->id, SV_ID_LEN);
  fprintf (f, "key-version = %u\n", t->key_version);
  put_hex_line (f, "key-check", t->key_check, KEY_CHECK_LEN);
  if (t->has_next_check)
    put_hex_line (f, "next-key-check", t->next_key_check, KEY_CHECK_LEN);
  if (kek_file)
    fprintf (f, "kek-file = %s\n", kek_file);
  if (t->kek_command)
    fprintf (f, "kek-command = %s\n", t->kek_command);
  if (t->kek_passphrase) {
    fprintf (f, "kek-source = passphrase\n");
    put_hex_line (f, "pwhash-salt", t->pw_salt, sizeof t->pw_salt);
    fprintf (f, "pwhash-opslimit = %ju\npwhash-memlimit = %ju\n",
             (uintmax_t) t->pw_ops, (uintmax_t) t->pw_mem);
  }
  fputs (rest ? rest : "", f);
  if (fclose (f) != 0)
    return -1;
  if ((kek_file && unsafe_conf_value (kek_file))
      || (t->kek_command && unsafe_conf_value (t->kek_command))) {
    free (text);
    errno = EINVAL;
    sv_error ("a kek-file path or kek-command may not contain a newline or "
              "' ;' (tenant.conf would read it back cut short)");
    return -1;
  }
  if (longest_line (text) > INI_MAX_LINE - 2) {
    /* libinih would split the line and misread the rest of it. */
    free (text);
    errno = ENAMETOOLONG;
    sv_error ("a tenant.conf line would exceed %d characters: use a shorter "
              "kek-file path or kek-command", INI_MAX_LINE - 2);
    return -1;
  }
  r = sv_replace_file (dir, "tenant.conf", text, len, 0644);
  free (text);
  return r;
}

/* The key of a new tenant from its source: a command's output or a
 * passphrase (Argon2id, fresh salt, parameters kept in tenant.conf). */
static int
key_from_source (struct sv_tenant *probe, const struct sv_key_source *src)
{
  if (src->kek_command) {
    if ((probe->kek_command = strdup (src->kek_command)) == NULL)
      return -1;
    return sv_tenant_load_key_command (probe, src->kek_command);
  }
  probe->kek_passphrase = true;
  randombytes_buf (probe->pw_salt, sizeof probe->pw_salt);
  probe->pw_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  probe->pw_mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  return sv_tenant_set_passphrase (probe, src->passphrase);
}

int
sv_tenant_create (const char *root, const char *name,
                  const struct sv_key_source *src)
{
  const char *kek_file = src ? src->kek_file : NULL;
  bool external = src && (src->kek_command || src->passphrase);
  bool generated = false;
  struct sv_tenant probe = { .key_version = 0 };
  char *dir = NULL, *volumes = NULL, *keypath = NULL, *conf = NULL;
  int r = -1;

  if (sv_name_problem (name)) {
    errno = EINVAL;
    sv_error ("tenant name '%s' %s", name, sv_name_problem (name));
    return -1;
  }
  if (mkdir (root, 0755) == -1 && errno != EEXIST) {
    sv_error ("cannot create root %s: %m", root);
    return -1;
  }
  dir = tenant_path (root, name, NULL);
  volumes = tenant_path (root, name, "volumes");
  keypath = kek_file ? strdup (kek_file) : tenant_path (root, name, "tenant.key");
  conf = tenant_path (root, name, "tenant.conf");
  if (!dir || !volumes || !keypath || !conf)
    goto out;
  if (mkdir (dir, 0700) == -1) {
    if (errno == EEXIST)
      sv_error ("tenant %s already exists", name);
    else
      sv_error ("cannot create %s: %m", dir);
    goto out;
  }
  /* An existing --kek-file is adopted (it may come from a KMS); a missing
   * one is generated.  A command or passphrase tenant has no key file. */
  strcpy (probe.name, name);
  if (external) {
    if (key_from_source (&probe, src) == -1)
      goto undo;
  }
  else {
    generated = !(kek_file && access (kek_file, F_OK) == 0);
    if ((generated && write_new_key_file (keypath) == -1)
        || sv_tenant_load_key (&probe, keypath) == -1)
      goto undo;
  }
  randombytes_buf (probe.id, sizeof probe.id);
  probe.key_version = 1;
  probe.kek_file = (char *) kek_file;
  if (sv_key_check_value (probe.key_check, probe.key, probe.id) == -1
      || mkdir (volumes, 0700) == -1
      || write_tenant_conf (dir, &probe, kek_file, NULL, NULL) == -1)
    goto undo;
  r = 0;
  goto out;

 undo:
  if (generated)
    unlink (keypath);
  rmdir (volumes);
  unlink (conf);
  rmdir (dir);
 out:
  sv_key_free (probe.key);
  free (probe.kek_command);
  free (conf);
  free (dir);
  free (volumes);
  free (keypath);
  return r;
}

/* The lines of tenant.conf outside its [tenant] section, for a rewrite
 * that replaces [tenant] and keeps the rest where it stood: *head gets
 * the lines before the first section header (which must stay before
 * [tenant]), *tail those of the other sections ([caps], comments).
 * Lines are classified as libinih reads them: an indented line after a
 * key is a continuation of that key's value (blank lines and comments in
 * between do not end it), not a section header.  Section headers are
 * written unindented: after the rewrite a key may precede one that had
 * none before it, and an indented header would then read as a
 * continuation.  (Both found by fuzz/fuzz-tenant-conf.c, as was an
 * earlier text search for the next section that lost, duplicated or
 * reordered what stood around [tenant].) */
static int
conf_outside_tenant (const char *path, char **head, char **tail)
{
  FILE *in = fopen (path, "re"), *h, *t;
  char *line = NULL;
  size_t cap = 0, hlen, tlen;
  bool in_tenant = false, seen_section = false, after_key = false;

  *head = *tail = NULL;
  if (in == NULL)
    return -1;
  h = open_memstream (head, &hlen);
  t = open_memstream (tail, &tlen);
  while (h && t && getline (&line, &cap, in) != -1) {
    const char *p = line + strspn (line, " \t"), *out = line;
    bool blank = strspn (p, "\r\n") == strlen (p);
    bool comment = *p == '#' || *p == ';';

    if (blank || comment || (after_key && p > line)) {
      if (comment && strstr (p, "written by sealvol"))
        continue;               /* our own header comment */
    }
    else if (*p == '[') {
      seen_section = true;
      in_tenant = strncmp (p, "[tenant]", 8) == 0;
      after_key = false;
      out = p;
    }
    else if (strpbrk (p, "=:"))
      after_key = true;
    if (!in_tenant)
      fputs (out, seen_section ? t : h);
  }
  free (line);
  fclose (in);
  if (h == NULL || t == NULL || fclose (h) != 0 || fclose (t) != 0) {
    free (*head);
    free (*tail);
    return -1;
  }
  return 0;
}

int
sv_tenant_write_conf (const struct sv_tenant *t)
{
  char conf[4096];
  char *head, *tail;
  int r;

  snprintf (conf, sizeof conf, "%s/tenant.conf", t->dir);
  if (conf_outside_tenant (conf, &head, &tail) == -1) {
    sv_error ("cannot read %s: %m", conf);
    return -1;
  }
  r = write_tenant_conf (t->dir, t, t->kek_file_configured ? t->kek_file : NULL,
                         head, tail);
  free (head);
  free (tail);
  return r;
}

/* A tenant.conf value of exactly len bytes in hex. */
static bool
parse_hex (const char *value, uint8_t *out, size_t len)
{
  size_t got;

  return sodium_hex2bin (out, len, value, strlen (value), NULL, &got, NULL) == 0
    && got == len;
}

/* A tenant.conf decimal in [min, max], nothing after it. */
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

static int
conf_handler (void *user, const char *section, const char *name,
              const char *value)
{
  struct sv_tenant *t = user;

  if (strcmp (section, "tenant") != 0)
    return 1;                   /* other sections belong to other modules */
  if (strcmp (name, "id") == 0) {
    if (!parse_hex (value, t->id, SV_ID_LEN))
      return 0;
  }
  else if (strcmp (name, "key-version") == 0) {
    uint64_t v;
    if (!parse_u64_in (value, 1, UINT32_MAX, &v))
      return 0;
    t->key_version = (uint32_t) v;
  }
  else if (strcmp (name, "key-check") == 0) {
    if (!parse_hex (value, t->key_check, KEY_CHECK_LEN))
      return 0;
    t->has_key_check = true;
  }
  else if (strcmp (name, "kek-command") == 0) {
    free (t->kek_command);
    if ((t->kek_command = strdup (value)) == NULL)
      return 0;
  }
  else if (strcmp (name, "kek-source") == 0) {
    if (strcmp (value, "passphrase") != 0)
      return 0;
    t->kek_passphrase = true;
  }
  else if (strcmp (name, "pwhash-salt") == 0) {
    if (!parse_hex (value, t->pw_salt, sizeof t->pw_salt))
      return 0;
  }
  else if (strcmp (name, "pwhash-opslimit") == 0) {
    if (!parse_u64_in (value, crypto_pwhash_OPSLIMIT_MIN,
                       crypto_pwhash_OPSLIMIT_SENSITIVE, &t->pw_ops))
      return 0;
  }
  else if (strcmp (name, "pwhash-memlimit") == 0) {
    if (!parse_u64_in (value, crypto_pwhash_MEMLIMIT_MIN,
                       crypto_pwhash_MEMLIMIT_SENSITIVE, &t->pw_mem))
      return 0;
  }
  else if (strcmp (name, "next-key-check") == 0) {
    if (!parse_hex (value, t->next_key_check, KEY_CHECK_LEN))
      return 0;
    t->has_next_check = true;
  }
  else if (strcmp (name, "kek-file") == 0) {
    free (t->kek_file);
    if ((t->kek_file = strdup (value)) == NULL)
      return 0;
    t->kek_file_configured = true;
  }
  return 1;
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
  t->dir = tenant_path (root, name, NULL);
  conf = tenant_path (root, name, "tenant.conf");
  if (t->dir == NULL || conf == NULL)
    goto fail;
  r = ini_parse (conf, conf_handler, t);
  if (r == -1) {
    errno = ENOENT;
    sv_error ("no such tenant: %s (no %s)", name, conf);
    goto fail;
  }
  if (r == 0 && t->kek_passphrase && (t->pw_ops == 0 || t->pw_mem == 0))
    r = INT_MAX;                /* passphrase without its Argon2id limits */
  if (r != 0 || t->key_version == 0) {
    errno = EINVAL;
    sv_error ("%s: bad tenant configuration (line %d)", conf, r);
    goto fail;
  }
  if (t->kek_file == NULL
      && (t->kek_file = tenant_path (root, name, "tenant.key")) == NULL)
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
  if (st.st_uid != geteuid ()) {
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

  if (path == NULL && t->kek_command)
    return sv_tenant_load_key_command (t, t->kek_command);
  if (path == NULL && t->kek_passphrase) {
    errno = EINVAL;
    sv_error ("tenant %s derives its key from a passphrase: give "
              "--passphrase-file FILE (or kek-passphrase= to nbdkit)",
              t->name);
    return -1;
  }
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
