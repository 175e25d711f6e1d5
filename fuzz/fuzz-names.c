/* Fuzz target: names and sizes (server/names.c).
 *
 * Why: tenant and volume names become directory names and NBD export
 * names, and arrive from the command line and from NBD clients (the
 * export name a client asks for); sizes arrive from the command line and
 * the QoS files.  A name that slips past the check is a path outside the
 * store, so the rules are checked as properties, not only "no crash":
 *   - an accepted name is 1..63 characters of [A-Za-z0-9._-] starting
 *     with a letter or digit (so never "/", "..", or empty);
 *   - an accepted TENANT/VOLUME splits into two accepted names that join
 *     back to the input;
 *   - an accepted size is the number times its suffix, with no overflow,
 *     and formats without overrunning the buffer.
 */
#include <config.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "names.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static bool
name_chars_ok (const char *s)
{
  size_t len = strlen (s);

  if (len < 1 || len > 63 || strchr ("._-", s[0]))
    return false;
  return strspn (s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789._-") == len;
}

static void
check_name (const char *s)
{
  if (sv_name_problem (s) == NULL)
    FUZZ_CHECK (name_chars_ok (s));
}

static void
check_split (const char *s)
{
  char tenant[64], volume[64], joined[160];
  const char *why = NULL;

  if (sv_split_volume_spec (s, tenant, volume, &why) == -1) {
    FUZZ_CHECK (why != NULL);
    return;
  }
  FUZZ_CHECK (name_chars_ok (tenant) && name_chars_ok (volume));
  snprintf (joined, sizeof joined, "%s/%s", tenant, volume);
  FUZZ_CHECK (strcmp (joined, s) == 0);
}

static void
check_size (const char *s)
{
  uint64_t v, n;
  char suffix = 0, back[32];
  int shift = 0;

  if (sv_parse_size (s, &v) == -1)
    return;
  /* The independent reading: digits, then at most one suffix letter. */
  FUZZ_CHECK (sscanf (s, "%" SCNu64 "%c", &n, &suffix) >= 1);
  switch (suffix) {
  case 'K': case 'k': shift = 10; break;
  case 'M': case 'm': shift = 20; break;
  case 'G': case 'g': shift = 30; break;
  case 'T': case 't': shift = 40; break;
  default: FUZZ_CHECK (suffix == 0);
  }
  FUZZ_CHECK (n <= UINT64_MAX >> shift && v == n << shift);
  sv_format_size (v, back, 8);
  FUZZ_CHECK (strlen (back) < 8);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = fuzz_cstring (data, size);

  check_name (s);
  check_split (s);
  check_size (s);
  free (s);
  return 0;
}
