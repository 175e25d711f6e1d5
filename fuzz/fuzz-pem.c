/* Fuzz target: PEM extraction (common/pem.c).
 *
 * Why: tenant kube-secret copies what sv_pem_blocks keeps into a YAML
 * literal block of a Kubernetes Secret, so anything it lets through that
 * is not PEM could end the block early or smuggle in YAML (another key,
 * another document), and certtool's text dump of a private key must never
 * travel with it.  Checked as properties, not only "no crash", over both
 * modes (certificate, key):
 *   - a refusal says why;
 *   - what is kept is no longer than the input and a newline, printable
 *     ASCII and newlines only, each line ending in one; it starts with a
 *     BEGIN line, and has as many lines starting "-----END " as blocks;
 *   - extracting again from what was kept gives the same text and count.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"
#include "pem.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
count_end_lines (const char *s)
{
  int n = 0;

  for (const char *l = s; *l; l = strchr (l, '\n') + 1)
    n += strncmp (l, "-----END ", 9) == 0;
  return n;
}

static void
check (const char *in, size_t len, bool key)
{
  char *out = malloc (len + 2), *again = malloc (len + 2);
  const char *why = NULL;
  int n, m;

  if (out == NULL || again == NULL)
    abort ();
  n = sv_pem_blocks (in, out, key, &why);
  if (n == -1)
    FUZZ_CHECK (why != NULL);
  else {
    size_t olen = strlen (out);
    FUZZ_CHECK (olen <= strlen (in) + 1);
    for (size_t i = 0; i < olen; i++)
      FUZZ_CHECK (out[i] == '\n' || (out[i] >= 0x20 && out[i] <= 0x7e));
    FUZZ_CHECK (olen == 0 || out[olen - 1] == '\n');
    FUZZ_CHECK (olen == 0 || strncmp (out, "-----BEGIN ", 11) == 0);
    FUZZ_CHECK ((olen == 0) == (n == 0));
    FUZZ_CHECK (count_end_lines (out) == n);
    m = sv_pem_blocks (out, again, key, &why);
    FUZZ_CHECK (m == n && strcmp (again, out) == 0);
  }
  free (out);
  free (again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *s = fuzz_cstring (data, size);

  check (s, size, false);
  check (s, size, true);
  free (s);
  return 0;
}
