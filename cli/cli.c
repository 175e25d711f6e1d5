/* sealvol: the storage host's admin command.
 *
 * Spellings are the interface contract of product.md; docs/sealvol.1
 * describes them.  Exit status: 0 success, 1 failure, 2 usage error.
 * Every error is one line on stderr.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sodium.h>

#include "audit.h"
#include "keysource.h"
#include "names.h"
#include "qos-config.h"
#include "report.h"
#include "secmem.h"
#include "tenant.h"
#include "volume.h"

#include "cli.h"

static const char usage_text[] =
  "usage: sealvol [--root DIR] COMMAND ...\n"
  "  tenant create TENANT [--kek-file PATH | --kek-command CMD | "
  "--passphrase-file FILE]\n"
  "  tenant rotate-key TENANT\n"
  "  tenant serve TENANT (--listen ADDR:PORT | --unix PATH) "
  "[--tls-certificates DIR | --tls-psk FILE]\n"
  "               [--allow-any-client] [--user USER [--group GROUP]] "
  "[--io uring|sync] [--foreground]\n"
  "  volume create TENANT/VOL --size SIZE [--cipher CIPHER] "
  "[--service-type NAME]\n"
  "  volume resize TENANT/VOL --size SIZE\n"
  "  volume delete TENANT/VOL [--force]\n"
  "  volume list TENANT [--json]\n"
  "  volume info TENANT/VOL [--json]\n"
  "  volume verify TENANT/VOL\n"
  "  volume set-service-type TENANT/VOL NAME\n"
  "  volume rekey TENANT/VOL\n"
  "ciphers: aes-256-gcm (default), xchacha20-poly1305, aes-256-xts\n"
  "SIZE takes K, M, G, T suffixes (powers of 1024); ROOT defaults to "
  "/var/lib/sealvol\n";

int
usage_error (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "sealvol: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, " (see 'sealvol --help')\n");
  return EXIT_USAGE;
}

/* One audit line for an administrative action. */
static void
audit_volume_event (const struct options *o, const char *tenant,
                    const char *event, const char *volume)
{
  json_object *e = sv_audit_event (event, tenant);
  char dir[4096];

  if (volume)
    json_object_object_add (e, "volume", json_object_new_string (volume));
  if (o->size && volume)
    json_object_object_add (e, "size", json_object_new_string (o->size));
  if (o->cipher && volume)
    json_object_object_add (e, "cipher", json_object_new_string (o->cipher));
  if (o->service_type)
    json_object_object_add (e, "service_type",
                            json_object_new_string (o->service_type));
  json_object_object_add (e, "uid", json_object_new_int64 (getuid ()));
  snprintf (dir, sizeof dir, "%s/%s", o->root, tenant);
  sv_audit_write (dir, e);
}

/* ---- tenant ---- */

static int
cmd_tenant_create (const struct options *o, const char *name)
{
  if (o->size || o->cipher || o->service_type || o->json || o->kek)
    return usage_error ("%s: only a key source applies here", "tenant create");
  if (sv_name_problem (name))
    return usage_error ("bad tenant name '%s': %s", name, sv_name_problem (name));
  struct sv_key_source src = { .kek_file = o->kek_file,
    .kek_command = o->kek_command, .passphrase_file = o->passphrase_file };

  if (!!o->kek_file + !!o->kek_command + !!o->passphrase_file > 1)
    return usage_error ("%s: give one of --kek-file, --kek-command and "
                        "--passphrase-file", "tenant create");
  if (sv_tenant_create (o->root, name, &src) == -1
      || sv_service_types_install_default (o->root) == -1)
    return EXIT_FAILURE;
  audit_volume_event (o, name, "tenant-create", NULL);
  printf ("created tenant %s\n", name);
  return EXIT_SUCCESS;
}

static int
cmd_tenant_rotate_key (const struct options *o, const char *name)
{
  if (sv_name_problem (name))
    return usage_error ("bad tenant name '%s': %s", name, sv_name_problem (name));
  if (sv_tenant_rotate_key (o->root, name) == -1)
    return EXIT_FAILURE;
  printf ("rotated the key of tenant %s; every volume re-wrapped, the old key "
          "destroyed (restart the tenant's server)\n", name);
  return EXIT_SUCCESS;
}

/* ---- volume ---- */

struct sv_tenant *
open_tenant_with_key (const struct options *o, const char *tenant)
{
  const struct sv_key_source src = { .kek_file = o->kek,
    .passphrase_file = o->passphrase_file };
  struct sv_tenant *t = sv_tenant_open (o->root, tenant);

  if (t && sv_key_source_load (t, &src) == -1) {
    sv_tenant_free (t);
    return NULL;
  }
  return t;
}

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

static int
cmd_volume_create (const struct options *o, const char *tenant,
                   const char *volume)
{
  struct sv_create_params p;
  struct sv_tenant *t;
  char human[32];
  int r;

  if ((r = parse_create_params (o, &p)) != 0)
    return r;
  if (cli_check_service_type (o, p.service_type ? p.service_type : "gp") == -1)
    return EXIT_FAILURE;
  if ((t = open_tenant_with_key (o, tenant)) == NULL)
    return EXIT_FAILURE;
  if (cli_check_tenant_caps (t, p.size, true) == -1) {
    sv_tenant_free (t);
    return EXIT_FAILURE;
  }
  r = sv_volume_create (t, volume, &p);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  audit_volume_event (o, tenant, "volume-create", volume);
  sv_format_size (p.size, human, sizeof human);
  printf ("created volume %s/%s (%s, %s)\n", tenant, volume, human,
          sv_cipher_name (p.cipher));
  return EXIT_SUCCESS;
}

/* Grow only; the tenant's capacity cap counts the growth. */
static int
cmd_volume_resize (const struct options *o, const char *tenant,
                   const char *volume)
{
  struct sv_tenant *t;
  uint64_t size, now;
  char human[32];
  int r;

  if (o->cipher || o->service_type || o->write_limit || o->json)
    return usage_error ("%s: only --size applies here", "volume resize");
  if ((r = parse_volume_size (o, "volume resize", &size)) != 0)
    return r;
  if ((t = open_tenant_with_key (o, tenant)) == NULL)
    return EXIT_FAILURE;
  if (cli_volume_size (t, volume, &now) == -1
      || (size > now && cli_check_tenant_caps (t, size - now, false) == -1)
      || sv_volume_resize (t, volume, size, &now) == -1) {
    sv_tenant_free (t);
    return EXIT_FAILURE;
  }
  sv_tenant_free (t);
  sv_format_size (size, human, sizeof human);
  if (now == size) {
    printf ("volume %s/%s is already %s\n", tenant, volume, human);
    return EXIT_SUCCESS;
  }
  audit_volume_event (o, tenant, "volume-resize", volume);
  printf ("resized volume %s/%s to %s\n", tenant, volume, human);
  return EXIT_SUCCESS;
}

static int
cmd_volume_delete (const struct options *o, const char *tenant,
                   const char *volume)
{
  struct sv_tenant *t = open_tenant_with_key (o, tenant);
  int r;

  if (t == NULL)
    return EXIT_FAILURE;
  r = sv_volume_delete (t, volume);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  audit_volume_event (o, tenant, "volume-delete", volume);
  printf ("deleted volume %s/%s (key destroyed)\n", tenant, volume);
  return EXIT_SUCCESS;
}

/* A volume that no longer opens: no key needed, nothing left to open. */
static int
cmd_volume_delete_force (const struct options *o, const char *tenant,
                         const char *volume)
{
  struct sv_tenant *t = sv_tenant_open (o->root, tenant);
  struct sv_erase_report rep;
  int r;

  if (t == NULL)
    return EXIT_FAILURE;
  r = sv_volume_delete_force (t, volume, &rep);
  sv_tenant_free (t);
  if (r == -1)
    return EXIT_FAILURE;
  audit_volume_event (o, tenant, "volume-delete-force", volume);
  printf ("deleted volume %s/%s by force: %s%s%s; removed %s%sthe directory%s\n",
          tenant, volume,
          rep.overwritten[0] ? "overwrote " : "no key material was left",
          rep.overwritten,
          rep.overwritten[0] ? " with noise and synced it" : "",
          rep.removed, rep.removed[0] ? " and " : "",
          rep.rekey_leftover ? ", and erased a rekey leftover the same way" : "");
  return EXIT_SUCCESS;
}

static int
cmd_volume_rekey (const struct options *o, const char *tenant,
                  const char *volume)
{
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

static int
cmd_volume_list (const struct options *o, const char *tenant)
{
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

static int
cmd_volume_info (const struct options *o, const char *tenant,
                 const char *volume)
{
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

static int
cmd_volume_verify (const struct options *o, const char *tenant,
                   const char *volume, const char *spec)
{
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

/* ---- dispatch ---- */

static int
dispatch_volume (const struct options *o, const char *verb, const char *arg,
                 const char *extra)
{
  char tenant[64], volume[64];
  const char *why;

  if ((strcmp (verb, "set-service-type") == 0) != (extra != NULL))
    return usage_error ("'volume %s': wrong number of arguments", verb);
  if (strcmp (verb, "list") == 0) {
    if (sv_name_problem (arg))
      return usage_error ("bad tenant name '%s': %s", arg, sv_name_problem (arg));
    return cmd_volume_list (o, arg);
  }
  if (sv_split_volume_spec (arg, tenant, volume, &why) == -1) {
    fprintf (stderr, "sealvol: bad volume '%s': %s\n", arg, why);
    return EXIT_USAGE;
  }
  if (strcmp (verb, "create") == 0)
    return cmd_volume_create (o, tenant, volume);
  if (strcmp (verb, "resize") == 0)
    return cmd_volume_resize (o, tenant, volume);
  if (strcmp (verb, "delete") == 0)
    return o->force ? cmd_volume_delete_force (o, tenant, volume)
      : cmd_volume_delete (o, tenant, volume);
  if (strcmp (verb, "info") == 0)
    return cmd_volume_info (o, tenant, volume);
  if (strcmp (verb, "verify") == 0)
    return cmd_volume_verify (o, tenant, volume, arg);
  if (strcmp (verb, "set-service-type") == 0)
    return cmd_volume_set_service_type (o, tenant, volume, extra);
  if (strcmp (verb, "rekey") == 0)
    return cmd_volume_rekey (o, tenant, volume);
  return usage_error ("unknown volume command '%s'", verb);
}

static int
dispatch (const struct options *o, int argc, char **argv)
{
  if (argc < 2)
    return usage_error ("%s", "missing command");
  if (argc != 3 && !(argc == 4 && strcmp (argv[0], "volume") == 0))
    return usage_error ("'%s': wrong number of arguments", argv[0]);
  if (o->force && (strcmp (argv[0], "volume") || strcmp (argv[1], "delete")))
    return usage_error ("%s", "--force goes with 'volume delete' only");
  if (strcmp (argv[0], "tenant") == 0) {
    if (strcmp (argv[1], "create") == 0)
      return cmd_tenant_create (o, argv[2]);
    if (strcmp (argv[1], "serve") == 0)
      return cmd_tenant_serve (o, argv[2]);
    if (strcmp (argv[1], "rotate-key") == 0)
      return cmd_tenant_rotate_key (o, argv[2]);
    return usage_error ("unknown tenant command '%s'", argv[1]);
  }
  if (strcmp (argv[0], "volume") == 0)
    return dispatch_volume (o, argv[1], argv[2], argc == 4 ? argv[3] : NULL);
  return usage_error ("unknown command '%s'", argv[0]);
}

/* The argument getopt_long just refused.  Past a refused long option,
 * or a lone "-x", it has moved on; on a cluster such as "-rf" it stays,
 * to read the next letter (sealvol has no short options at all). */
static const char *
refused_arg (int argc, char **argv)
{
  const char *prev = argv[optind - 1];
  const char *next = optind < argc ? argv[optind] : "";

  if (prev[0] == '-' && prev[1] == optopt && prev[2] == '\0')
    return prev;
  if (optopt && next[0] == '-' && next[1] == optopt)
    return next;
  return prev;
}

int
main (int argc, char **argv)
{
  static const struct option long_opts[] = {
    { "root", required_argument, NULL, 'r' },
    { "kek-file", required_argument, NULL, 'k' },
    { "kek", required_argument, NULL, 'K' },
    { "kek-command", required_argument, NULL, 'C' },
    { "passphrase-file", required_argument, NULL, 'p' },
    { "size", required_argument, NULL, 's' },
    { "cipher", required_argument, NULL, 'c' },
    { "service-type", required_argument, NULL, 't' },
    { "write-limit", required_argument, NULL, 'w' },
    { "json", no_argument, NULL, 'j' },
    { "force", no_argument, NULL, 'F' },
    { "listen", required_argument, NULL, 'L' },
    { "unix", required_argument, NULL, 'U' },
    { "tls-certificates", required_argument, NULL, 'T' },
    { "tls-psk", required_argument, NULL, 'P' },
    { "tls-verify-peer", no_argument, NULL, 'v' },
    { "allow-any-client", no_argument, NULL, 'A' },
    { "user", required_argument, NULL, 'u' },
    { "group", required_argument, NULL, 'g' },
    { "io", required_argument, NULL, 'i' },
    { "foreground", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  struct options o = { .root = "/var/lib/sealvol" };
  int c;

  opterr = 0;
  while ((c = getopt_long (argc, argv, "", long_opts, NULL)) != -1) {
    switch (c) {
    case 'r': o.root = optarg; break;
    case 'k': o.kek_file = optarg; break;
    case 'K': o.kek = optarg; break;
    case 'C': o.kek_command = optarg; break;
    case 'p': o.passphrase_file = optarg; break;
    case 's': o.size = optarg; break;
    case 'c': o.cipher = optarg; break;
    case 't': o.service_type = optarg; break;
    case 'w': o.write_limit = optarg; break;
    case 'j': o.json = true; break;
    case 'F': o.force = true; break;
    case 'L': o.listen = optarg; break;
    case 'U': o.unix_socket = optarg; break;
    case 'T': o.tls_certificates = optarg; break;
    case 'P': o.tls_psk = optarg; break;
    case 'v': o.tls_verify_peer = true; break;
    case 'A': o.allow_any_client = true; break;
    case 'u': o.user = optarg; break;
    case 'g': o.group = optarg; break;
    case 'i': o.io = optarg; break;
    case 'f': o.foreground = true; break;
    case 'h': fputs (usage_text, stdout); return EXIT_SUCCESS;
    case 'V': puts ("sealvol " PACKAGE_VERSION); return EXIT_SUCCESS;
    default:
      return usage_error ("unknown or incomplete option '%s'",
                          refused_arg (argc, argv));
    }
  }
  if (sv_crypto_init () == -1) {
    fprintf (stderr, "sealvol: cannot initialise libsodium\n");
    return EXIT_FAILURE;
  }
  return dispatch (&o, argc - optind, argv + optind);
}
