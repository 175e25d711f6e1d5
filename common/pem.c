/* sealvol: PEM blocks out of a certificate or key file (see pem.h). */
#include <config.h>

#include <stdbool.h>
#include <string.h>

#include "pem.h"

/* Whether a PEM label is the kind wanted: "CERTIFICATE", or for a key
 * any unencrypted private key (PKCS#8, EC or RSA). */
static bool
label_wanted (const char *label, size_t n, bool key)
{
  static const char pk[] = "PRIVATE KEY";

  if (!key)
    return n == strlen ("CERTIFICATE") && memcmp (label, "CERTIFICATE", n) == 0;
  return n >= strlen (pk) && memcmp (label + n - strlen (pk), pk, strlen (pk))
    == 0 && strncmp (label, "ENCRYPTED", strlen ("ENCRYPTED")) != 0;
}

int
sv_pem_blocks (const char *in, char *out, bool key, const char **why)
{
  int blocks = 0;
  bool inside = false;

  for (const char *line = in, *end; *line; line = *end ? end + 1 : end) {
    size_t n = (size_t) ((end = strchrnul (line, '\n')) - line);

    if (n > 0 && line[n - 1] == '\r')
      n--;
    if (!inside && n > 16 && strncmp (line, "-----BEGIN ", 11) == 0
        && strncmp (line + n - 5, "-----", 5) == 0) {
      if (!label_wanted (line + 11, n - 16, key))
        return *why = key ? "holds a PEM block that is not an unencrypted "
          "private key" : "holds a PEM block that is not a certificate", -1;
      inside = true;
    }
    if (!inside)
      continue;
    for (size_t i = 0; i < n; i++)
      if (line[i] < 0x20 || line[i] > 0x7e)
        return *why = "holds a byte that PEM does not", -1;
    memcpy (out, line, n);
    out += n;
    *out++ = '\n';
    if (strncmp (line, "-----END ", 9) == 0)
      inside = false, blocks++;
  }
  *out = '\0';
  if (inside)
    return *why = "ends inside a PEM block", -1;
  return blocks;
}

