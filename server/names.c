/* sealvol: what a tenant or volume name may be, and size parsing. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "names.h"

const char *
sv_name_problem (const char *name)
{
  size_t len = strnlen (name, SV_NAME_MAX + 1);

  if (len == 0)
    return "is empty";
  if (len > SV_NAME_MAX)
    return "is longer than 63 characters";
  if (strchr (name, '/'))
    return "contains '/'";
  if (!isalnum ((unsigned char) name[0]))
    return "must start with a letter or digit";
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char) name[i];
    if (!isalnum (c) && c != '.' && c != '_' && c != '-')
      return "contains a character outside [A-Za-z0-9._-]";
  }
  return NULL;
}

int
sv_split_volume_spec (const char *spec, char tenant[64], char volume[64],
                      const char **why)
{
  const char *slash = strchr (spec, '/');
  size_t tlen;

  if (slash == NULL)
    return *why = "expected TENANT/VOLUME", -1;
  tlen = (size_t) (slash - spec);
  if (tlen == 0 || tlen > SV_NAME_MAX)
    return *why = "bad tenant name", -1;
  memcpy (tenant, spec, tlen);
  tenant[tlen] = '\0';
  if ((*why = sv_name_problem (tenant)) != NULL)
    return -1;
  if ((*why = sv_name_problem (slash + 1)) != NULL)
    return -1;
  strcpy (volume, slash + 1);
  return 0;
}

int
sv_parse_size (const char *s, uint64_t *out)
{
  char *end;
  unsigned long long v;
  int shift = 0;

  if (!isdigit ((unsigned char) *s))
    return -1;
  errno = 0;
  v = strtoull (s, &end, 10);
  if (errno)
    return -1;
  switch (*end) {
  case '\0': break;
  case 'K': case 'k': shift = 10; end++; break;
  case 'M': case 'm': shift = 20; end++; break;
  case 'G': case 'g': shift = 30; end++; break;
  case 'T': case 't': shift = 40; end++; break;
  default: return -1;
  }
  if (*end != '\0' || v > (UINT64_MAX >> shift))
    return -1;
  *out = (uint64_t) v << shift;
  return 0;
}

void
sv_format_size (uint64_t bytes, char *buf, unsigned len)
{
  static const char units[] = "BKMGT";
  double v = (double) bytes;
  int u = 0;

  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf (buf, len, "%" PRIu64 "B", bytes);
  else if (v == (double) (uint64_t) v)
    snprintf (buf, len, "%" PRIu64 "%c", (uint64_t) v, units[u]);
  else
    snprintf (buf, len, "%.1f%c", v, units[u]);
}
