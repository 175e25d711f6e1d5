/* Fuzz target: ROOT/TENANT/tenant.conf and the tenant key in hex
 * (server/tenant.c, and sv_tenant_caps_load in server/qos-config.c).
 *
 * Why: tenant.conf is read by every command and by the server at start
 * and on each caps reload; an operator edits its [caps] section by hand
 * and a crash can leave it half written.  The key arrives as hex text
 * from a key file, a KMS command or nbdkit's password reader.  Both must
 * be refused cleanly when wrong, never overflow, never leak.
 *
 * Input: tenant.conf, then optionally a NUL and the key text.  The file is
 * a memfd that ROOT/t/tenant.conf links to, so sv_tenant_open reads it by
 * its real path without a write per run.
 *
 * Properties: an opened tenant has a key version and a key file path; a
 * key that is accepted is 32 bytes and is the tenant's current key (or,
 * when it matches only next-key-check, its next one); with no key check
 * on file it is exactly the bytes the hex spelled.
 *
 * Unless FUZZ_TENANT_REWRITE=0 is in the environment it also checks the
 * rewrite that key rotation does (sv_tenant_write_conf): after a new key
 * version and key check are written, the file opens to exactly those and
 * the same [caps].  Off by default while the known bug it finds is open
 * (fuzz/crashes/tenant-conf/: sections above [tenant] come back stale).
 */
#include <config.h>

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include "fuzz-common.h"
#include "qos-config.h"
#include "tenant.h"

static struct fuzz_memfile conf;
static bool check_rewrites;
static char root[PATH_MAX], tdir[PATH_MAX + 8], link_path[PATH_MAX + 32];

static void
remove_root (void)
{
  unlink (link_path);
  rmdir (tdir);
  rmdir (root);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  const char *tmp = getenv ("TMPDIR");

  (void) argc; (void) argv;
  fuzz_init ();
  fuzz_memfile_open (&conf);
  snprintf (root, sizeof root, "%s/sealvol-fuzz-XXXXXX", tmp ? tmp : "/tmp");
  if (mkdtemp (root) == NULL)
    abort ();
  snprintf (tdir, sizeof tdir, "%s/t", root);
  snprintf (link_path, sizeof link_path, "%s/tenant.conf", tdir);
  if (mkdir (tdir, 0700) == -1 || symlink (conf.path, link_path) == -1)
    abort ();
  atexit (remove_root);
  /* On by default since conf_rest was fixed; FUZZ_TENANT_REWRITE=0 off. */
  check_rewrites = !(getenv ("FUZZ_TENANT_REWRITE")
                     && strcmp (getenv ("FUZZ_TENANT_REWRITE"), "0") == 0);
  return 0;
}

/* Equal, or both absent; a value inih cannot read back as written (one
 * starting with ';', an inline comment after "= ") is not compared. */
static bool
same_string (const char *a, const char *b)
{
  if (a && a[0] == ';')
    return true;
  return a == b || (a && b && strcmp (a, b) == 0);
}

/* What rotation does: bump the key version, record a new key check,
 * rewrite the file.  The rewritten file must read back as just that. */
static void
check_rewrite (struct sv_tenant *t, const struct sv_tenant_caps *caps)
{
  struct sv_tenant_caps caps2;
  struct sv_tenant *back;
  char why[256];

  t->key_version = t->key_version == UINT32_MAX ? 1 : t->key_version + 1;
  for (size_t i = 0; i < KEY_CHECK_LEN; i++)
    t->key_check[i] ^= 0x5a;
  t->has_key_check = true;
  t->has_next_check = false;
  if (sv_tenant_write_conf (t) != 0) {
    /* Refused only for a line libinih could not read back. */
    FUZZ_CHECK (errno == ENAMETOOLONG);
    return;
  }

  back = sv_tenant_open (root, "t");
  FUZZ_CHECK (back != NULL);
  FUZZ_CHECK (back->key_version == t->key_version);
  FUZZ_CHECK (memcmp (back->id, t->id, SV_ID_LEN) == 0);
  FUZZ_CHECK (back->has_key_check && !back->has_next_check);
  FUZZ_CHECK (memcmp (back->key_check, t->key_check, KEY_CHECK_LEN) == 0);
  FUZZ_CHECK (same_string (t->kek_file, back->kek_file));
  FUZZ_CHECK (same_string (t->kek_command, back->kek_command));
  FUZZ_CHECK (back->kek_passphrase == t->kek_passphrase);
  if (caps)
    FUZZ_CHECK (sv_tenant_caps_load (link_path, &caps2, why, sizeof why) == 0
                && memcmp (&caps2, caps, sizeof caps2) == 0);
  sv_tenant_free (back);

  /* The rename replaced the link with a file: put the link back. */
  if (unlink (link_path) == -1 || symlink (conf.path, link_path) == -1)
    abort ();
}

static void
check_key (struct sv_tenant *t, const char *hex)
{
  uint8_t want[SV_TENANT_KEY_LEN];
  size_t len;
  const struct sv_key *key;

  if (sv_tenant_set_key_hex (t, hex) == -1)
    return;
  key = t->key ? t->key : t->next_key;
  FUZZ_CHECK (key != NULL && sv_key_len (key) == SV_TENANT_KEY_LEN);
  FUZZ_CHECK (sv_tenant_key_for (t, t->key_version) == t->key);
  if (!t->has_key_check) {
    FUZZ_CHECK (t->key != NULL);
    FUZZ_CHECK (sodium_hex2bin (want, sizeof want, hex, strlen (hex), "\n",
                                &len, NULL) == 0 && len == sizeof want);
    FUZZ_CHECK (sodium_memcmp (want, sv_key_bytes (t->key), len) == 0);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr (data, '\0', size);
  size_t conf_len = nul ? (size_t) (nul - data) : size;
  struct sv_tenant_caps caps;
  struct sv_tenant *t;
  char why[256] = "";
  bool opened, caps_ok;

  fuzz_memfile_set (&conf, data, conf_len);
  caps_ok = sv_tenant_caps_load (conf.path, &caps, why, sizeof why) == 0;
  if (!caps_ok)
    FUZZ_CHECK (why[0] != '\0');

  t = sv_tenant_open (root, "t");
  opened = t != NULL;
  if (t) {
    FUZZ_CHECK (t->key_version != 0 && t->kek_file != NULL);
    FUZZ_CHECK (strcmp (t->dir, tdir) == 0);
  }
  else if ((t = calloc (1, sizeof *t)) == NULL)  /* keys need no conf */
    abort ();

  if (nul) {
    /* An exact-size copy, so an over-read of the key text shows. */
    size_t hex_len = size - conf_len - 1;
    char *hex = malloc (hex_len + 1);
    if (hex == NULL)
      abort ();
    memcpy (hex, nul + 1, hex_len);
    hex[hex_len] = '\0';
    check_key (t, hex);
    free (hex);
  }
  if (opened && check_rewrites)
    check_rewrite (t, caps_ok ? &caps : NULL);
  sv_tenant_free (t);
  return 0;
}
