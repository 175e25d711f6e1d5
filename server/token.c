/* sealvol: the control API's bearer tokens (token.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sodium.h>

#include "fsutil.h"
#include "names.h"
#include "report.h"
#include "token.h"

#define ID_HEX 12
#define SECRET_BYTES 32
#define USE_GRANULARITY 60      /* seconds between recorded uses */

int
sv_token_scope_parse (const char *s, unsigned *scopes)
{
  if (strcmp (s, "volumes") == 0)
    *scopes = SV_SCOPE_VOLUMES;
  else if (strcmp (s, "admin") == 0)
    *scopes = SV_SCOPE_VOLUMES | SV_SCOPE_ADMIN;
  else
    return -1;
  return 0;
}

const char *
sv_token_scope_name (unsigned scopes)
{
  return scopes & SV_SCOPE_ADMIN ? "admin"
    : scopes & SV_SCOPE_VOLUMES ? "volumes" : "delete";
}

int
sv_duration_parse (const char *s, int64_t *seconds)
{
  static const char units[] = "smhd";
  static const int64_t mult[] = { 1, 60, 3600, 86400 };
  char *end;
  long long n;
  const char *u;

  if (strcmp (s, "never") == 0) {
    *seconds = 0;
    return 0;
  }
  errno = 0;
  if (s[0] < '0' || s[0] > '9')
    return -1;
  n = strtoll (s, &end, 10);
  if (errno || n <= 0 || end[0] == '\0' || end[1] != '\0'
      || (u = strchr (units, end[0])) == NULL
      || n > INT32_MAX)
    return -1;
  *seconds = n * mult[u - units];
  return 0;
}

/* TENANT~HEX12: the tenant part into tenant; -1 if malformed. */
static int
id_tenant (const char *id, char tenant[64])
{
  const char *tilde = strchr (id, '~');
  size_t n;

  if (tilde == NULL || (n = (size_t) (tilde - id)) == 0 || n > 63
      || strlen (tilde + 1) != ID_HEX
      || strspn (tilde + 1, "0123456789abcdef") != ID_HEX)
    return -1;
  memcpy (tenant, id, n);
  tenant[n] = '\0';
  return sv_name_ok (tenant) ? 0 : -1;
}

/* The tenant directory, locked (flock) against other writers of
 * tokens.json; returns the directory's fd. */
static int
lock_tenant (const char *root, const char *tenant, char *dir, size_t len)
{
  int fd;

  if ((size_t) snprintf (dir, len, "%s/%s", root, tenant) >= len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1)
    return -1;
  if (flock (fd, LOCK_EX) == -1) {
    close (fd);
    return -1;
  }
  return fd;
}

/* tokens.json's array of tokens; an empty one if there is no file. */
static json_object *
load_tokens (const char *dir)
{
  char path[4200];
  json_object *j, *arr;

  snprintf (path, sizeof path, "%s/" SV_TOKENS_FILE, dir);
  if (access (path, F_OK) == -1 && errno == ENOENT)
    return json_object_new_array ();
  j = json_object_from_file (path);
  if (j == NULL || !json_object_object_get_ex (j, "tokens", &arr)
      || !json_object_is_type (arr, json_type_array)) {
    json_object_put (j);
    errno = EINVAL;
    return NULL;
  }
  json_object_get (arr);
  json_object_put (j);
  return arr;
}

static int
save_tokens (const char *dir, json_object *arr, bool durable)
{
  json_object *j = json_object_new_object ();
  const char *text;
  int r;

  json_object_object_add (j, "tokens", json_object_get (arr));
  text = json_object_to_json_string_ext (j, JSON_C_TO_STRING_PRETTY);
  r = sv_replace_file_ex (dir, SV_TOKENS_FILE, text, strlen (text), 0600,
                          durable);
  json_object_put (j);
  return r;
}

static int64_t
get_time (json_object *tok, const char *key)
{
  json_object *v;

  if (!json_object_object_get_ex (tok, key, &v) || v == NULL)
    return 0;
  return json_object_get_int64 (v);
}

static json_object *
time_or_null (int64_t t)
{
  return t ? json_object_new_int64 (t) : NULL;
}

static void
token_info (json_object *tok, const char *tenant, struct sv_token_info *info)
{
  json_object *v;
  unsigned scopes = SV_SCOPE_VOLUMES;

  memset (info, 0, sizeof *info);
  if (json_object_object_get_ex (tok, "id", &v))
    snprintf (info->id, sizeof info->id, "%s", json_object_get_string (v));
  snprintf (info->tenant, sizeof info->tenant, "%s", tenant);
  if (json_object_object_get_ex (tok, "scope", &v)) {
    const char *name = json_object_get_string (v);

    if (strcmp (name, "delete") == 0)
      scopes = SV_SCOPE_DELETE;
    else if (sv_token_scope_parse (name, &scopes) == -1)
      scopes = 0;               /* unknown: allows nothing */
  }
  info->scopes = scopes;
  if (json_object_object_get_ex (tok, "volume", &v))
    snprintf (info->volume, sizeof info->volume, "%s",
              json_object_get_string (v));
  if (json_object_object_get_ex (tok, "volume_id", &v))
    snprintf (info->volume_id, sizeof info->volume_id, "%s",
              json_object_get_string (v));
  info->created = get_time (tok, "created");
  info->expires = get_time (tok, "expires");
  info->last_used = get_time (tok, "last_used");
}

/* The token of that id in arr, and its index. */
static json_object *
find_token (json_object *arr, const char *id, size_t *index)
{
  for (size_t i = 0; i < json_object_array_length (arr); i++) {
    json_object *tok = json_object_array_get_idx (arr, i), *v;
    if (json_object_object_get_ex (tok, "id", &v)
        && strcmp (json_object_get_string (v), id) == 0) {
      *index = i;
      return tok;
    }
  }
  return NULL;
}

static void
report_store (const char *what, const char *tenant)
{
  if (errno == ENOENT)
    sv_error ("no such tenant: %s", tenant);
  else
    sv_error ("cannot %s the tokens of tenant %s: %m", what, tenant);
}

/* The tenant's tokens, locked: the lock's fd, or -1 (reported). */
static int
open_store (const char *root, const char *tenant, char *dir, size_t len,
            json_object **arr)
{
  int fd = lock_tenant (root, tenant, dir, len);

  if (fd != -1 && (*arr = load_tokens (dir)) != NULL)
    return fd;
  report_store ("read", tenant);
  if (fd != -1)
    close (fd);
  return -1;
}

static json_object *
new_token (const char *id, const uint8_t hash[crypto_hash_sha256_BYTES],
           unsigned scopes, int64_t now, int64_t lifetime)
{
  json_object *tok = json_object_new_object ();
  char hex[2 * crypto_hash_sha256_BYTES + 1];

  sodium_bin2hex (hex, sizeof hex, hash, crypto_hash_sha256_BYTES);
  json_object_object_add (tok, "id", json_object_new_string (id));
  json_object_object_add (tok, "sha256", json_object_new_string (hex));
  json_object_object_add (tok, "scope",
                          json_object_new_string (sv_token_scope_name (scopes)));
  json_object_object_add (tok, "created", json_object_new_int64 (now));
  json_object_object_add (tok, "expires",
                          time_or_null (lifetime ? now + lifetime : 0));
  json_object_object_add (tok, "last_used", NULL);
  return tok;
}

int
sv_token_create (const char *root, const char *tenant, unsigned scopes,
                 int64_t lifetime, char out[SV_TOKEN_MAX + 1])
{
  uint8_t idb[ID_HEX / 2], secret[SECRET_BYTES];
  uint8_t hash[crypto_hash_sha256_BYTES];
  char dir[4096], idhex[ID_HEX + 1], shex[2 * SECRET_BYTES + 1];
  char id[SV_TOKEN_ID_MAX + 1];
  json_object *arr;
  int fd, r = -1;

  if ((fd = open_store (root, tenant, dir, sizeof dir, &arr)) == -1)
    return -1;
  randombytes_buf (idb, sizeof idb);
  randombytes_buf (secret, sizeof secret);
  sodium_bin2hex (idhex, sizeof idhex, idb, sizeof idb);
  sodium_bin2hex (shex, sizeof shex, secret, sizeof secret);
  crypto_hash_sha256 (hash, (const uint8_t *) shex, strlen (shex));
  snprintf (id, sizeof id, "%s~%s", tenant, idhex);
  json_object_array_add (arr, new_token (id, hash, scopes, time (NULL),
                                         lifetime));
  if (save_tokens (dir, arr, true) == -1)
    report_store ("write", tenant);
  else {
    snprintf (out, SV_TOKEN_MAX + 1, "%s.%s", id, shex);
    r = 0;
  }
  sodium_memzero (secret, sizeof secret);
  sodium_memzero (shex, sizeof shex);
  json_object_put (arr);
  close (fd);
  return r;
}

int
sv_token_list (const char *root, const char *tenant,
               struct sv_token_info **out, size_t *n)
{
  char dir[4096];
  json_object *arr;
  int fd;

  if ((fd = open_store (root, tenant, dir, sizeof dir, &arr)) == -1)
    return -1;
  close (fd);
  *n = json_object_array_length (arr);
  *out = calloc (*n ? *n : 1, sizeof **out);
  if (*out == NULL) {
    json_object_put (arr);
    return -1;
  }
  for (size_t i = 0; i < *n; i++)
    token_info (json_object_array_get_idx (arr, i), tenant, &(*out)[i]);
  json_object_put (arr);
  return 0;
}

int
sv_token_revoke (const char *root, const char *tenant, const char *id)
{
  char dir[4096];
  json_object *arr;
  size_t i;
  int fd, r = -1;

  if ((fd = open_store (root, tenant, dir, sizeof dir, &arr)) == -1)
    return -1;
  if (find_token (arr, id, &i) == NULL) {
    errno = ENOENT;
    sv_error ("tenant %s has no token %s", tenant, id);
  }
  else if (json_object_array_del_idx (arr, i, 1) == 0
           && save_tokens (dir, arr, true) == 0)
    r = 0;
  else
    report_store ("write", tenant);
  json_object_put (arr);
  close (fd);
  return r;
}

static bool
sha256_hex_ok (const char *hex)
{
  return strlen (hex) == 2 * crypto_hash_sha256_BYTES
    && strspn (hex, "0123456789abcdef") == 2 * crypto_hash_sha256_BYTES;
}

static const char *
string_of (json_object *tok, const char *key)
{
  json_object *v;

  return json_object_object_get_ex (tok, key, &v) && v
    ? json_object_get_string (v) : "";
}

int
sv_token_set_delete (const char *root, const char *tenant,
                     const char *sha256_hex, const char *volume,
                     const char *volume_id)
{
  char dir[4096], id[SV_TOKEN_ID_MAX + 1];
  json_object *arr, *tok;
  size_t i;
  int fd, r = -1;

  if (!sha256_hex_ok (sha256_hex)) {
    errno = EINVAL;
    sv_error ("a delete credential's hash is 64 lowercase hex digits");
    return -1;
  }
  if ((fd = open_store (root, tenant, dir, sizeof dir, &arr)) == -1)
    return -1;
  snprintf (id, sizeof id, "%s~%.*s", tenant, ID_HEX, sha256_hex);
  if ((tok = find_token (arr, id, &i)) != NULL
      && (strcmp (string_of (tok, "sha256"), sha256_hex) != 0
          || strcmp (string_of (tok, "scope"), "delete") != 0)) {
    errno = EEXIST;
    sv_error ("token %s exists and is another credential", id);
    goto out;
  }
  if (tok && strcmp (string_of (tok, "volume"), volume) == 0
      && strcmp (string_of (tok, "volume_id"), volume_id) == 0) {
    r = 0;                      /* registered already */
    goto out;
  }
  if (tok == NULL) {
    tok = json_object_new_object ();
    json_object_object_add (tok, "id", json_object_new_string (id));
    json_object_object_add (tok, "sha256", json_object_new_string (sha256_hex));
    json_object_object_add (tok, "scope", json_object_new_string ("delete"));
    json_object_object_add (tok, "created", json_object_new_int64 (time (NULL)));
    json_object_object_add (tok, "expires", NULL);
    json_object_object_add (tok, "last_used", NULL);
    json_object_array_add (arr, tok);
  }
  json_object_object_add (tok, "volume", json_object_new_string (volume));
  json_object_object_add (tok, "volume_id", json_object_new_string (volume_id));
  if (save_tokens (dir, arr, true) == -1)
    report_store ("write", tenant);
  else
    r = 0;
 out:
  json_object_put (arr);
  close (fd);
  return r;
}

/* Does secret hash to the token's sha256?  Constant time in the secret. */
static bool
secret_matches (json_object *tok, const char *secret)
{
  uint8_t want[crypto_hash_sha256_BYTES], got[crypto_hash_sha256_BYTES];
  json_object *v;
  const char *hex;
  size_t len;

  if (!json_object_object_get_ex (tok, "sha256", &v)
      || (hex = json_object_get_string (v)) == NULL
      || sodium_hex2bin (want, sizeof want, hex, strlen (hex), NULL, &len,
                         NULL) != 0
      || len != sizeof want)
    return false;
  crypto_hash_sha256 (got, (const uint8_t *) secret, strlen (secret));
  return sodium_memcmp (want, got, sizeof want) == 0;
}

/* Split "ID.SECRET" at the last '.' (a tenant name may hold dots, the
 * secret none). */
static int
split_token (const char *presented, struct sv_token_info *info,
             const char **secret)
{
  const char *dot = strrchr (presented, '.');
  size_t n;

  if (dot == NULL || (n = (size_t) (dot - presented)) > SV_TOKEN_ID_MAX
      || strlen (dot + 1) != 2 * SECRET_BYTES)
    return -1;
  memcpy (info->id, presented, n);
  info->id[n] = '\0';
  if (id_tenant (info->id, info->tenant) == -1) {
    info->id[0] = '\0';
    return -1;
  }
  *secret = dot + 1;
  return 0;
}

/* The token in arr, checked; 0, or -1 with errno. */
static int
check_token (json_object *arr, const char *secret, int64_t now,
             struct sv_token_info *info, json_object **found)
{
  char tenant[64];
  size_t i;

  snprintf (tenant, sizeof tenant, "%s", info->tenant);
  *found = find_token (arr, info->id, &i);
  errno = EACCES;
  if (*found == NULL || !secret_matches (*found, secret))
    return -1;
  token_info (*found, tenant, info);
  if (info->expires && now >= info->expires) {
    errno = EKEYEXPIRED;
    return -1;
  }
  return 0;
}

int
sv_token_check (const char *root, const char *presented, int64_t now,
                struct sv_token_info *info)
{
  const char *secret;
  json_object *arr, *tok;
  char dir[4096];
  int fd, r;

  memset (info, 0, sizeof *info);
  errno = EACCES;
  if (split_token (presented, info, &secret) == -1)
    return -1;
  if ((fd = lock_tenant (root, info->tenant, dir, sizeof dir)) == -1)
    return errno = EACCES, -1;
  if ((arr = load_tokens (dir)) == NULL) {
    close (fd);
    return errno = EACCES, -1;
  }
  r = check_token (arr, secret, now, info, &tok);
  if (r == 0 && now - info->last_used >= USE_GRANULARITY) {
    json_object_object_add (tok, "last_used", json_object_new_int64 (now));
    info->last_used = now;
    save_tokens (dir, arr, false);      /* a lost use record is harmless */
  }
  json_object_put (arr);
  close (fd);
  return r;
}
