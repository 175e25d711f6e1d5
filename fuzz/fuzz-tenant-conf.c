/* Fuzz target: a tenant's files, ROOT/TENANT/tenant.conf (libinih: the
 * operator's key source and [caps]) and tenant.state (json-c: sealvol's
 * own state), and the tenant key in hex (server/tenant.c,
 * server/tenant-state.c, sv_tenant_caps_load in server/qos-config.c).
 *
 * Why: both files are read by every command and by the server at start
 * (tenant.conf again on each caps reload); an operator edits tenant.conf
 * by hand, and a root made by an older sealvol keeps its state there
 * until the first open migrates it.  The key arrives as hex text from a
 * key file, a KMS command or nbdkit's password reader.  All must be
 * refused cleanly when wrong, never overflow, never leak.
 *
 * Input: tenant.conf, then optionally a NUL and the key text, then
 * optionally a NUL and tenant.state (without one, tenant.conf's legacy
 * state is migrated).  Both are real files in a scratch root, rewritten in
 * place each run (the key-source check resolves their real path).
 *
 * Properties: an opened tenant has a key version and a key file path;
 * opening never changes tenant.conf (sealvol never writes the operator's
 * file); the state it writes reads back as exactly the same state; a key
 * that is accepted is 32 bytes and is the tenant's current key (or, when
 * it matches only next-key-check, its next one); with no key check on
 * file it is exactly the bytes the hex spelled.
 */
#include <config.h>

#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sodium.h>

#include "fuzz-common.h"
#include "qos-config.h"
#include "tenant.h"

static struct fuzz_memfile conf;      /* a real file, not a memfd */
static char root[PATH_MAX], tdir[PATH_MAX + 8];
static char conf_path[PATH_MAX + 32], state_path[PATH_MAX + 32];

static void
remove_root (void)
{
  unlink (conf_path);
  unlink (state_path);
  rmdir (tdir);
  rmdir (root);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  const char *tmp = getenv ("TMPDIR");

  (void) argc; (void) argv;
  fuzz_init ();
  snprintf (root, sizeof root, "%s/sealvol-fuzz-XXXXXX", tmp ? tmp : "/tmp");
  if (mkdtemp (root) == NULL)
    abort ();
  snprintf (tdir, sizeof tdir, "%s/t", root);
  snprintf (conf_path, sizeof conf_path, "%s/tenant.conf", tdir);
  snprintf (state_path, sizeof state_path, "%s/tenant.state", tdir);
  if (mkdir (tdir, 0700) == -1
      || (conf.fd = open (conf_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1)
    abort ();
  atexit (remove_root);
  return 0;
}

static void
set_state (const uint8_t *data, size_t size, bool present)
{
  int fd;

  unlink (state_path);
  if (!present)
    return;
  fd = open (state_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1 || (size && write (fd, data, size) != (ssize_t) size))
    abort ();
  close (fd);
}

/* tenant.conf holds exactly what the input gave it. */
static void
check_conf_untouched (const uint8_t *data, size_t size)
{
  uint8_t *back = malloc (size + 1);
  ssize_t n = back ? pread (conf.fd, back, size + 1, 0) : -1;

  FUZZ_CHECK (n == (ssize_t) size && memcmp (back, data, size) == 0);
  free (back);
}

/* The state as written reads back as exactly that state. */
static void
check_state_round_trip (const struct sv_tenant *t)
{
  struct sv_tenant *back;

  if (sv_tenant_write_state (t) != 0)
    abort ();
  back = sv_tenant_open (root, "t");
  FUZZ_CHECK (back != NULL);
  FUZZ_CHECK (back->key_version == t->key_version);
  FUZZ_CHECK (memcmp (back->id, t->id, SV_ID_LEN) == 0);
  FUZZ_CHECK (back->has_key_check == t->has_key_check);
  FUZZ_CHECK (!t->has_key_check
              || memcmp (back->key_check, t->key_check, KEY_CHECK_LEN) == 0);
  FUZZ_CHECK (back->has_next_check == t->has_next_check);
  FUZZ_CHECK (!t->has_next_check
              || memcmp (back->next_key_check, t->next_key_check,
                         KEY_CHECK_LEN) == 0);
  FUZZ_CHECK (back->pw_ops == t->pw_ops && back->pw_mem == t->pw_mem);
  FUZZ_CHECK (strcmp (back->kek_file, t->kek_file) == 0);
  sv_tenant_free (back);
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
  const uint8_t *end = data + size;
  const uint8_t *key = memchr (data, '\0', size);     /* NUL, then the key */
  const uint8_t *state = key ? memchr (key + 1, '\0', (size_t) (end - key - 1))
                             : NULL;                  /* NUL, then the state */
  size_t conf_len = key ? (size_t) (key - data) : size;
  struct sv_tenant_caps caps;
  struct sv_tenant *t;
  char why[256] = "", *hex = NULL;

  if (key)
    hex = fuzz_cstring (key + 1, (size_t) ((state ? state : end) - key - 1));
  fuzz_memfile_set (&conf, data, conf_len);
  if (state)
    set_state (state + 1, (size_t) (end - state - 1), true);
  else
    set_state (NULL, 0, false);
  if (sv_tenant_caps_load (conf_path, &caps, why, sizeof why) != 0)
    FUZZ_CHECK (why[0] != '\0');

  t = sv_tenant_open (root, "t");
  check_conf_untouched (data, conf_len);
  if (t) {
    FUZZ_CHECK (t->key_version != 0 && t->kek_file != NULL);
    FUZZ_CHECK (strcmp (t->dir, tdir) == 0);
    check_state_round_trip (t);
  }
  else if ((t = calloc (1, sizeof *t)) == NULL)  /* keys need no conf */
    abort ();
  if (hex)
    check_key (t, hex);
  free (hex);
  sv_tenant_free (t);
  return 0;
}
