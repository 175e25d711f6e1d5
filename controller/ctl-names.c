/* Names and ids of the controller (controller/ctl-names.h). */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "csi-topology.h"
#include "ctl-names.h"

#define PREFIX_MAX 23

static bool
name_char (char c)
{
  return isalnum ((unsigned char) c) || c == '.' || c == '_' || c == '-';
}

bool
ctl_name_ok (const char *name)
{
  size_t n = strlen (name);

  if (n == 0 || n >= CTL_NAME_MAX || !isalnum ((unsigned char) name[0]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!name_char (name[i]))
      return false;
  return true;
}

void
ctl_volume_name (const char *csi_name, char out[CTL_NAME_MAX])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  size_t n = 0;

  if (!isalnum ((unsigned char) csi_name[0]))
    out[n++] = 'v';
  for (const char *p = csi_name; *p && n < PREFIX_MAX; p++)
    out[n++] = name_char (*p) ? *p : '-';
  EVP_Digest (csi_name, strlen (csi_name), md, &md_len, EVP_sha256 (), NULL);
  out[n++] = '-';
  for (int i = 0; i < 8; i++, n += 2)
    snprintf (out + n, 3, "%02x", md[i]);
  out[n] = '\0';
}

int
ctl_volume_id (const char *host, const char *tenant, const char *volume,
               char out[CTL_VOLUME_ID_MAX + 1])
{
  int n = snprintf (out, CTL_VOLUME_ID_MAX + 1, "%s/%s/%s", host, tenant, volume);

  return n < 0 || n > CTL_VOLUME_ID_MAX ? -1 : 0;
}

/* The next '/'-separated part of *P into OUT. */
static int
next_part (const char **p, char out[CTL_NAME_MAX], bool last)
{
  size_t n = strcspn (*p, "/");

  if (n == 0 || n >= CTL_NAME_MAX || (last ? (*p)[n] != '\0' : (*p)[n] != '/'))
    return -1;
  memcpy (out, *p, n);
  out[n] = '\0';
  *p += n + !last;
  return 0;
}

int
ctl_parse_volume_id (const char *id, char host[CTL_NAME_MAX],
                     char tenant[CTL_NAME_MAX], char volume[CTL_NAME_MAX])
{
  const char *p = id;

  if (strlen (id) > CTL_VOLUME_ID_MAX
      || next_part (&p, host, false) == -1 || next_part (&p, tenant, false) == -1
      || next_part (&p, volume, true) == -1)
    return -1;
  return csi_topology_value_ok (host) && ctl_name_ok (tenant) && ctl_name_ok (volume)
    ? 0 : -1;
}

static void
to_hex (const unsigned char *b, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++)
    sprintf (out + 2 * i, "%02x", b[i]);
}

int
ctl_delete_credential (const char *key, const char *host, const char *tenant,
                       const char *volume, char token[CTL_DELETE_TOKEN_MAX + 1],
                       char sha256_hex[65])
{
  unsigned char mac[EVP_MAX_MD_SIZE], hash[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0, hash_len = 0;
  char msg[256], secret[65];
  int n = snprintf (msg, sizeof msg, "sealvol-delete-v1\n%s\n%s\n%s", host, tenant, volume);

  if (n < 0 || (size_t) n >= sizeof msg
      || HMAC (EVP_sha256 (), key, (int) strlen (key), (const unsigned char *) msg,
               (size_t) n, mac, &mac_len) == NULL || mac_len != 32)
    return -1;
  to_hex (mac, 32, secret);
  OPENSSL_cleanse (mac, sizeof mac);
  if (EVP_Digest (secret, 64, hash, &hash_len, EVP_sha256 (), NULL) != 1 || hash_len != 32) {
    OPENSSL_cleanse (secret, sizeof secret);
    return -1;
  }
  to_hex (hash, 32, sha256_hex);
  snprintf (token, CTL_DELETE_TOKEN_MAX + 1, "%s~%.12s.%s", tenant, sha256_hex, secret);
  OPENSSL_cleanse (secret, sizeof secret);
  return 0;
}
