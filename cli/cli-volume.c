/* sealvol CLI: the volume commands. */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <sodium.h>

#include "audit.h"
#include "names.h"
#include "report.h"
#include "tenant.h"
#include "volume.h"
#include "volume-ops.h"

#include "cli-common.h"
#include "cli-volume.h"

/* --size of volume create and resize: required, and a size the format
 * allows.  0, or the usage error's exit status. */
static int
parse_volume_size (const struct options *o, const char *cmd, uint64_t *size)
{
  if (o->size == NULL)
    return usage_error ("%s: --size is required", cmd);
  if (sv_parse_size (o->size, size) == -1)
    return usage_error ("bad size '%s': expected a number with an optional "
                        "K, M, G or T suffix", o->size);
  if (!sv_volume_size_ok (*size))
    return usage_error ("bad size '%s': must be a multiple of 4K, at least "
                        "4K and at most 16T", o->size);
  return 0;
}

static int
parse_create_params (const struct options *o, struct sv_create_params *p)
{
  int r;

  memset (p, 0, sizeof *p);
  p->cipher = SV_CIPHER_AES_256_GCM;
  p->service_type = o->service_type;
  if ((r = parse_volume_size (o, "volume create", &p->size)) != 0)
    return r;
  if (o->cipher && (p->cipher = sv_cipher_by_name (o->cipher)) == -1)
    return usage_error ("unknown cipher '%s': use aes-256-gcm, "
                        "xchacha20-poly1305 or aes-256-xts", o->cipher);
  if (o->service_type && sv_name_problem (o->service_type))
    return usage_error ("bad service type '%s'", o->service_type);
  if (o->write_limit && (sv_parse_size (o->write_limit, &p->write_limit) == -1
                         || p->write_limit == 0))
    return usage_error ("bad write limit '%s'", o->write_limit);
  return 0;
}

int
cmd_volume_create (const struct options *o, const struct cli_args *a)
{
  const char *tenant = a->tenant, *volume = a->volume;
  struct sv_create_params p;
  struct sv_tenant *t;
  char human[32];
  int r;

  if ((r = parse_create_params (o, &p)) != 0)
    return r;
  if (sv_service_type_check (o->root, p.service_type ? p.service_type : "gp") == -1)
    return EXIT_FAILURE;
  if ((t = open_tenant_with_key (o, tenant)) == NULL)
    return EXIT_FAILURE;
  r = sv_volume_create_checked (o->root, t, volume, &p);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  cli_audit_event (o, tenant, "volume-create", volume);
  sv_format_size (p.size, human, sizeof human);
  printf ("created volume %s/%s (%s, %s)\n", tenant, volume, human,
          sv_cipher_name (p.cipher));
  return EXIT_SUCCESS;
}

/* Grow only; the tenant's capacity cap counts the growth. */
int
cmd_volume_resize (const struct options *o, const struct cli_args *a)
{
  const char *tenant = a->tenant, *volume = a->volume;
  struct sv_tenant *t;
  uint64_t size, now;
  char human[32];
  int r;

  if ((r = parse_volume_size (o, "volume resize", &size)) != 0)
    return r;
  if ((t = open_tenant_with_key (o, tenant)) == NULL)
    return EXIT_FAILURE;
  if (sv_volume_grow_checked (t, volume, size, &now) == -1) {
    sv_tenant_free (t);
    return EXIT_FAILURE;
  }
  sv_tenant_free (t);
  sv_format_size (size, human, sizeof human);
  if (now == size) {
    printf ("volume %s/%s is already %s\n", tenant, volume, human);
    return EXIT_SUCCESS;
  }
  cli_audit_event (o, tenant, "volume-resize", volume);
  printf ("resized volume %s/%s to %s\n", tenant, volume, human);
  return EXIT_SUCCESS;
}

/* A volume that no longer opens: no key needed, nothing left to open. */
static int
volume_delete_force (const struct options *o, const char *tenant,
                     const char *volume)
{
  struct sv_tenant *t = cli_open_tenant (o, tenant);
  struct sv_erase_report rep;
  int r;

  if (t == NULL)
    return EXIT_FAILURE;
  r = sv_volume_delete_force (t, volume, &rep);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  cli_audit_event (o, tenant, "volume-delete-force", volume);
  printf ("deleted volume %s/%s by force: %s%s%s; removed %s%sthe directory%s\n",
          tenant, volume,
          rep.overwritten[0] ? "overwrote " : "no key material was left",
          rep.overwritten,
          rep.overwritten[0] ? " with noise and synced it" : "",
          rep.removed, rep.removed[0] ? " and " : "",
          rep.rekey_leftover ? ", and erased a rekey leftover the same way" : "");
  return EXIT_SUCCESS;
}

int
cmd_volume_delete (const struct options *o, const struct cli_args *a)
{
  const char *tenant = a->tenant, *volume = a->volume;
  struct sv_tenant *t;
  int r;

  if (o->force)
    return volume_delete_force (o, tenant, volume);
  if ((t = open_tenant_with_key (o, tenant)) == NULL)
    return EXIT_FAILURE;
  r = sv_volume_delete (t, volume);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  cli_audit_event (o, tenant, "volume-delete", volume);
  printf ("deleted volume %s/%s (key destroyed)\n", tenant, volume);
  return EXIT_SUCCESS;
}

int
cmd_volume_rekey (const struct options *o, const struct cli_args *a)
{
  const char *tenant = a->tenant, *volume = a->volume;
  struct sv_tenant *t = open_tenant_with_key (o, tenant);
  int r;

  if (t == NULL)
    return EXIT_FAILURE;
  r = sv_volume_rekey (t, volume);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  printf ("volume %s/%s has a new key; all data re-encrypted, the old key "
          "destroyed\n", tenant, volume);
  return EXIT_SUCCESS;
}

/* Explicit and audited: the holder is blocklisted first, so a gateway
 * that was only cut off, not dead, can write nothing more. */
int
cmd_volume_break_lock (const struct options *o, const struct cli_args *a)
{
  struct sv_tenant *t = cli_open_tenant (o, a->tenant);
  char who[512];
  json_object *e;
  int r = -1;

  if (t == NULL)
    return EXIT_FAILURE;
  if (!sv_store_conf_is_rbd (&t->store))
    sv_error ("volume %s/%s: break-lock is for backend rbd; a file volume's "
              "lock goes with the process that holds it", a->tenant,
              a->volume);
  else
    r = sv_store_rbd_break_lock (&t->store, a->tenant, a->volume, who,
                                 sizeof who);
  if (r == 0 && who[0]) {
    e = sv_audit_event ("volume-break-lock", a->tenant);
    json_object_object_add (e, "volume", json_object_new_string (a->volume));
    json_object_object_add (e, "holder", json_object_new_string (who));
    sv_audit_write (t->dir, e);
  }
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  if (who[0])
    printf ("volume %s/%s: blocklisted and unlocked %s\n", a->tenant,
            a->volume, who);
  else
    printf ("volume %s/%s was not locked\n", a->tenant, a->volume);
  return EXIT_SUCCESS;
}

static json_object *
superblock_json (const char *tenant, const struct sv_superblock *sb,
                 bool full)
{
  json_object *j = json_object_new_object ();
  char hex[2 * SV_ID_LEN + 1];

  json_object_object_add (j, "name", json_object_new_string (sb->name));
  json_object_object_add (j, "tenant", json_object_new_string (tenant));
  json_object_object_add (j, "size", json_object_new_uint64 (sb->size));
  json_object_object_add (j, "cipher",
                          json_object_new_string (sv_cipher_name ((int) sb->cipher)));
  json_object_object_add (j, "service_type",
                          json_object_new_string (sb->service_type));
  if (!full)
    return j;
  sodium_bin2hex (hex, sizeof hex, sb->volume_id, SV_ID_LEN);
  json_object_object_add (j, "volume_id", json_object_new_string (hex));
  json_object_object_add (j, "created", json_object_new_uint64 (sb->created));
  json_object_object_add (j, "integrity",
                          json_object_new_boolean (sv_cipher_is_aead ((int) sb->cipher)));
  json_object_object_add (j, "format_version",
                          json_object_new_int ((int) sb->version));
  json_object_object_add (j, "tenant_key_version",
                          json_object_new_int64 (sb->tenant_key_version));
  json_object_object_add (j, "volume_key_version",
                          json_object_new_int64 (sb->volume_key_version));
  json_object_object_add (j, "block_writes",
                          json_object_new_uint64 (sb->writes_reserved));
  json_object_object_add (j, "block_write_limit",
                          json_object_new_uint64 (sb->write_limit));
  json_object_object_add (j, "sessions", json_object_new_int64 (sb->session));
  json_object_object_add (j, "last_unclean_session",
                          json_object_new_int64 (sb->last_unclean_session));
  json_object_object_add (j, "state",
                          json_object_new_string (sb->flags & SV_SB_OPEN
                                                  ? "open" : "clean"));
  return j;
}

static void
print_json (json_object *j)
{
  int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
    | JSON_C_TO_STRING_NOSLASHESCAPE;

  puts (json_object_to_json_string_ext (j, flags));
  json_object_put (j);
}

int
cmd_volume_list (const struct options *o, const struct cli_args *a)
{
  const char *tenant = a->tenant;
  struct sv_tenant *t = open_tenant_with_key (o, tenant);
  json_object *arr;
  char **names;

  if (t == NULL)
    return EXIT_FAILURE;
  names = sv_tenant_volume_names (t);
  if (names == NULL) {
    sv_tenant_free (t);
    return EXIT_FAILURE;
  }
  arr = json_object_new_array ();
  if (!o->json)
    printf ("%-24s %10s  %-20s %s\n", "NAME", "SIZE", "CIPHER", "SERVICE-TYPE");
  for (char **n = names; *n; n++) {
    struct sv_volume *v = sv_volume_open (t, *n, SV_OPEN_INFO, NULL);
    const struct sv_superblock *sb;
    char human[32];
    if (v == NULL)
      continue;                 /* the error line names it */
    sb = sv_volume_superblock (v);
    sv_format_size (sb->size, human, sizeof human);
    if (o->json)
      json_object_array_add (arr, superblock_json (tenant, sb, false));
    else
      printf ("%-24s %10s  %-20s %s\n", sb->name, human,
              sv_cipher_name ((int) sb->cipher), sb->service_type);
    sv_volume_close (v);
  }
  if (o->json)
    print_json (arr);
  else
    json_object_put (arr);
  sv_free_names (names);
  sv_tenant_free (t);
  return EXIT_SUCCESS;
}

/* The serving nbdkit publishes per-volume counters (operations, bytes,
 * time spent throttled, integrity failures) in VOLDIR/stats.json. */
static void
add_server_stats (json_object *j, const char *root, const char *tenant,
                  const char *volume)
{
  char path[4096];
  json_object *stats;

  snprintf (path, sizeof path, "%s/%s/volumes/%s/stats.json", root, tenant,
            volume);
  stats = json_object_from_file (path);
  if (stats)
    json_object_object_add (j, "stats", stats);
}

static void
print_info_text (const char *tenant, const struct sv_superblock *sb)
{
  json_object *j = superblock_json (tenant, sb, true);

  json_object_object_foreach (j, key, val)
    printf ("%-20s %s\n", key, json_object_get_string (val));
  json_object_put (j);
}

int
cmd_volume_info (const struct options *o, const struct cli_args *a)
{
  const char *tenant = a->tenant, *volume = a->volume;
  struct sv_tenant *t = open_tenant_with_key (o, tenant);
  struct sv_volume *v;

  if (t == NULL)
    return EXIT_FAILURE;
  v = sv_volume_open (t, volume, SV_OPEN_INFO, NULL);
  sv_tenant_free (t);
  if (v == NULL)
    return EXIT_FAILURE;
  if (o->json) {
    json_object *j = superblock_json (tenant, sv_volume_superblock (v), true);
    add_server_stats (j, o->root, tenant, volume);
    print_json (j);
  }
  else
    print_info_text (tenant, sv_volume_superblock (v));
  sv_volume_close (v);
  return EXIT_SUCCESS;
}

static void
print_bad_block (void *opaque, uint64_t block)
{
  const char *spec = opaque;

  printf ("%s: block %" PRIu64 ": authentication failed\n", spec, block);
}

int
cmd_volume_verify (const struct options *o, const struct cli_args *a)
{
  const char *tenant = a->tenant, *volume = a->volume;
  const char *spec = a->spec;
  struct sv_tenant *t = open_tenant_with_key (o, tenant);
  struct sv_volume *v;
  int64_t bad;

  if (t == NULL)
    return EXIT_FAILURE;
  v = sv_volume_open (t, volume, SV_OPEN_READONLY, NULL);
  sv_tenant_free (t);
  if (v == NULL)
    return EXIT_FAILURE;
  if (!sv_cipher_is_aead ((int) sv_volume_superblock (v)->cipher)) {
    printf ("%s: aes-256-xts has no integrity metadata; nothing to verify\n",
            spec);
    sv_volume_close (v);
    return EXIT_SUCCESS;
  }
  bad = sv_volume_verify (v, print_bad_block, (void *) spec);
  sv_volume_close (v);
  if (bad == -1)
    return EXIT_FAILURE;
  printf ("%s: %" PRId64 " integrity failure%s\n", spec, bad,
          bad == 1 ? "" : "s");
  return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}

int
cmd_volume_set_service_type (const struct options *o,
                             const struct cli_args *a)
{
  const char *tenant = a->tenant, *volume = a->volume;
  const char *type = a->extra;
  struct sv_tenant *t;
  json_object *e;
  char dir[4096];
  int r;

  if (sv_service_type_check (o->root, type) == -1)
    return EXIT_FAILURE;
  if ((t = open_tenant_with_key (o, tenant)) == NULL)
    return EXIT_FAILURE;
  r = sv_volume_set_service_type (t, volume, type);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  e = sv_audit_event ("volume-service-type", tenant);
  json_object_object_add (e, "volume", json_object_new_string (volume));
  json_object_object_add (e, "service_type", json_object_new_string (type));
  snprintf (dir, sizeof dir, "%s/%s", o->root, tenant);
  sv_audit_write (dir, e);
  printf ("volume %s/%s now has service type %s\n", tenant, volume, type);
  return EXIT_SUCCESS;
}
