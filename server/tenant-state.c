/* sealvol: ROOT/TENANT/tenant.state, the state sealvol alone writes.
 *
 * tenant.conf is the operator's file: sealvol writes it once, at
 * "tenant create", and never again.  What sealvol changes over a tenant's
 * life (the key version, the key check values, a rotation under way, the
 * Argon2id salt) lives here instead, as one JSON object replaced
 * atomically (write, fsync, rename, fsync the directory):
 *
 *   { "format": "sealvol-tenant-state", "version": 1,
 *     "id": "<32 hex>", "key-version": 3, "key-check": "<32 hex>",
 *     "next-key-check": "<32 hex>",                 (during a rotation)
 *     "pwhash": { "salt": "<32 hex>", "opslimit": 2,
 *                 "memlimit": 67108864 } }        (passphrase tenants)
 *
 * No MAC: the file is root's, in a directory only root can write, and
 * every field that matters is checked by something stronger (the key
 * check is an HMAC of the key, each wrapped volume key is bound to the
 * tenant id and key version).  A version this code does not know is
 * refused rather than half read.
 *
 * A root made before tenant.state existed kept these fields in
 * tenant.conf's [tenant] section; sv_tenant_open migrates them here once
 * (tenant.c) and from then on ignores them there.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sodium.h>

#include "fsutil.h"
#include "report.h"
#include "tenant.h"

#define STATE_FORMAT "sealvol-tenant-state"
#define STATE_VERSION 1
#define STATE_MAX_BYTES 16384

static void
add_hex (json_object *o, const char *key, const uint8_t *bytes, size_t len)
{
  char hex[2 * 32 + 1];

  sodium_bin2hex (hex, sizeof hex, bytes, len);
  json_object_object_add (o, key, json_object_new_string (hex));
}

static json_object *
state_to_json (const struct sv_tenant *t)
{
  json_object *o = json_object_new_object ();

  json_object_object_add (o, "format", json_object_new_string (STATE_FORMAT));
  json_object_object_add (o, "version", json_object_new_int (STATE_VERSION));
  add_hex (o, "id", t->id, SV_ID_LEN);
  json_object_object_add (o, "key-version",
                          json_object_new_int64 (t->key_version));
  if (t->has_key_check)
    add_hex (o, "key-check", t->key_check, KEY_CHECK_LEN);
  if (t->has_next_check)
    add_hex (o, "next-key-check", t->next_key_check, KEY_CHECK_LEN);
  if (t->pw_ops != 0) {
    json_object *pw = json_object_new_object ();
    add_hex (pw, "salt", t->pw_salt, sizeof t->pw_salt);
    json_object_object_add (pw, "opslimit", json_object_new_int64 ((int64_t) t->pw_ops));
    json_object_object_add (pw, "memlimit", json_object_new_int64 ((int64_t) t->pw_mem));
    json_object_object_add (o, "pwhash", pw);
  }
  return o;
}

int
sv_tenant_write_state (const struct sv_tenant *t)
{
  json_object *o = state_to_json (t);
  const char *text = json_object_to_json_string_ext (o, JSON_C_TO_STRING_PRETTY
                                                    | JSON_C_TO_STRING_SPACED);
  char *line = NULL;
  int r = -1;

  if (asprintf (&line, "%s\n", text) != -1)
    r = sv_replace_file (t->dir, SV_TENANT_STATE_FILE, line, strlen (line),
                         0644);
  free (line);
  json_object_put (o);
  return r;
}

/* ---- reading ---- */

static bool
get_hex (json_object *o, const char *key, uint8_t *out, size_t len)
{
  json_object *v;
  const char *s;
  size_t got;

  if (!json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_string))
    return false;
  s = json_object_get_string (v);
  return sodium_hex2bin (out, len, s, strlen (s), NULL, &got, NULL) == 0
    && got == len;
}

static bool
get_u64_in (json_object *o, const char *key, uint64_t min, uint64_t max,
            uint64_t *out)
{
  json_object *v;
  int64_t n;

  if (!json_object_object_get_ex (o, key, &v)
      || !json_object_is_type (v, json_type_int))
    return false;
  n = json_object_get_int64 (v);
  if (n < 0 || (uint64_t) n < min || (uint64_t) n > max)
    return false;
  *out = (uint64_t) n;
  return true;
}

static bool
has (json_object *o, const char *key)
{
  return json_object_object_get_ex (o, key, NULL);
}

/* The optional fields: the check values and the Argon2id parameters. */
static const char *
optional_fields (json_object *o, struct sv_tenant *t)
{
  json_object *pw;

  /* Whatever a legacy tenant.conf said, the state file is the record. */
  t->has_key_check = has (o, "key-check");
  t->has_next_check = has (o, "next-key-check");
  t->pw_ops = t->pw_mem = 0;
  if (t->has_key_check
      && !get_hex (o, "key-check", t->key_check, KEY_CHECK_LEN))
    return "key-check";
  if (t->has_next_check
      && !get_hex (o, "next-key-check", t->next_key_check, KEY_CHECK_LEN))
    return "next-key-check";
  if (json_object_object_get_ex (o, "pwhash", &pw)
      && !(get_hex (pw, "salt", t->pw_salt, sizeof t->pw_salt)
           && get_u64_in (pw, "opslimit", crypto_pwhash_OPSLIMIT_MIN,
                          crypto_pwhash_OPSLIMIT_SENSITIVE, &t->pw_ops)
           && get_u64_in (pw, "memlimit", crypto_pwhash_MEMLIMIT_MIN,
                          crypto_pwhash_MEMLIMIT_SENSITIVE, &t->pw_mem)))
    return "pwhash";
  return NULL;
}

/* Fills t from the object; returns NULL, or the name of the first field
 * that is missing or bad. */
static const char *
state_from_json (json_object *o, struct sv_tenant *t)
{
  uint64_t v;

  if (!get_u64_in (o, "version", STATE_VERSION, STATE_VERSION, &v))
    return "version (written by a newer sealvol?)";
  if (!get_hex (o, "id", t->id, SV_ID_LEN))
    return "id";
  if (!get_u64_in (o, "key-version", 1, UINT32_MAX, &v))
    return "key-version";
  t->key_version = (uint32_t) v;
  return optional_fields (o, t);
}

/* The file's text, NUL-terminated; NULL with errno (ENOENT: no file). */
static char *
read_state_text (const char *path)
{
  char *buf = malloc (STATE_MAX_BYTES + 1);
  ssize_t n = -1;
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

  if (fd != -1 && buf != NULL) {
    n = read (fd, buf, STATE_MAX_BYTES + 1);
    if (n > STATE_MAX_BYTES) {
      n = -1;
      errno = EFBIG;
    }
  }
  if (fd != -1)
    close (fd);
  if (n == -1) {
    free (buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

static bool
is_state_object (json_object *o)
{
  json_object *f;

  return json_object_is_type (o, json_type_object)
    && json_object_object_get_ex (o, "format", &f)
    && json_object_is_type (f, json_type_string)
    && strcmp (json_object_get_string (f), STATE_FORMAT) == 0;
}

int
sv_tenant_read_state (struct sv_tenant *t, bool *found)
{
  char path[4096];
  char *text;
  json_object *o;
  const char *bad;

  *found = false;
  snprintf (path, sizeof path, "%s/%s", t->dir, SV_TENANT_STATE_FILE);
  text = read_state_text (path);
  if (text == NULL && errno == ENOENT)
    return 0;
  if (text == NULL) {
    sv_error ("cannot read %s: %m", path);
    return -1;
  }
  o = json_tokener_parse (text);
  free (text);
  bad = o == NULL || !is_state_object (o) ? "not a sealvol tenant state"
    : state_from_json (o, t);
  json_object_put (o);
  if (bad) {
    errno = EINVAL;
    sv_error ("%s: bad tenant state (%s); only sealvol writes it: restore it "
              "from a backup", path, bad);
    return -1;
  }
  *found = true;
  return 0;
}
