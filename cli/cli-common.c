/* sealvol CLI: the option table, option parsing, and the helpers every
 * command file uses. */
#include <config.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>

#include "audit.h"
#include "keysource.h"
#include "tenant.h"

#include "cli-common.h"

#define ALL_COMMANDS (ON (CMD_COUNT) - 1)
#define TOKEN_COMMANDS (ON (CMD_TOKEN_CREATE) | ON (CMD_TOKEN_LIST)       \
                        | ON (CMD_TOKEN_REVOKE))
#define VOLUME_COMMANDS (ALL_COMMANDS & ~(ON (CMD_TENANT_CREATE)        \
                                          | ON (CMD_TENANT_ROTATE_KEY)  \
                                          | ON (CMD_TENANT_SERVE)       \
                                          | TOKEN_COMMANDS              \
                                          | KUBE                        \
                                          | ON (CMD_API_SERVE)))
#define KUBE ON (CMD_TENANT_KUBE_SECRET)
/* Recorded in tenant.conf's [store]: every later command, and the
 * plugin, read it there (each gateway has its own root and tenant.conf,
 * so a host's own ceph.conf path goes there too). */
#define STORE_COMMANDS ON (CMD_TENANT_CREATE)
#define SERVE ON (CMD_TENANT_SERVE)
#define API ON (CMD_API_SERVE)
#define CREATE ON (CMD_VOLUME_CREATE)
#define SIZED (ON (CMD_VOLUME_CREATE) | ON (CMD_VOLUME_RESIZE))
#define AT(field) offsetof (struct options, field)

const struct cli_option cli_options[] = {
  { "root", "DIR", ALL_COMMANDS, 0, AT (root),
    "the storage root (default /var/lib/sealvol)" },
  { "kek-file", "PATH", ON (CMD_TENANT_CREATE), 0, AT (kek_file),
    "keep the new key in PATH (an existing key is adopted)" },
  { "kek-command", "CMD", ON (CMD_TENANT_CREATE), 0, AT (kek_command),
    "the tenant key is what CMD prints" },
  { "passphrase-file", "FILE", ON (CMD_TENANT_CREATE) | VOLUME_COMMANDS, 0,
    AT (passphrase_file), "the tenant key is Argon2id of FILE's first line" },
  { "kek", "PATH", SERVE | VOLUME_COMMANDS, 0, AT (kek),
    "read the tenant key from the key file PATH" },
  { "backend", "file|rbd", STORE_COMMANDS, 0, AT (store.backend),
    "where the volumes live (default file: ROOT/TENANT/volumes)" },
  { "pool", "NAME", STORE_COMMANDS, 0, AT (store.pool),
    "the Ceph pool of backend rbd" },
  { "ceph-conf", "FILE", STORE_COMMANDS, 0, AT (store.ceph_conf),
    "the cluster's ceph.conf (default: librados's search, $CEPH_CONF)" },
  { "ceph-id", "NAME", STORE_COMMANDS, 0, AT (store.ceph_id),
    "the Ceph client id (default admin)" },
  { "size", "SIZE", SIZED, SIZED, AT (size),
    "the volume size, with K, M, G or T (powers of 1024)" },
  { "cipher", "CIPHER", CREATE, 0, AT (cipher),
    "aes-256-gcm (default), xchacha20-poly1305, aes-256-xts" },
  { "service-type", "NAME", CREATE, 0, AT (service_type),
    "a type of ROOT/service-types.conf (default gp)" },
  { "write-limit", "N", CREATE, 0, AT (write_limit),
    "for testing: block writes the new key allows" },
  { "json", NULL, ON (CMD_VOLUME_LIST) | ON (CMD_VOLUME_INFO), 0, AT (json),
    "print JSON" },
  { "force", NULL, ON (CMD_VOLUME_DELETE), 0, AT (force),
    "erase a volume that does not open, without its key" },
  { "listen", "ADDR:PORT", SERVE | API, 0, AT (listen),
    "serve over TCP, with TLS" },
  { "unix", "PATH", SERVE, 0, AT (unix_socket), "serve on a Unix socket" },
  { "tls-certificates", "DIR", SERVE | API, 0, AT (tls_certificates),
    "certificate directory (tenant serve: default ROOT/TENANT/tls)" },
  { "tls-psk", "FILE", SERVE, 0, AT (tls_psk), "nbdkit's PSK file" },
  { "tls-verify-peer", NULL, SERVE, 0, AT (tls_verify_peer),
    "check client certificates on a Unix socket too" },
  { "allow-any-client", NULL, SERVE, 0, AT (allow_any_client),
    "no client certificate check over TCP" },
  { "user", "USER", SERVE, 0, AT (user),
    "nbdkit runs as USER, who gets the tenant's files" },
  { "group", "GROUP", SERVE, 0, AT (group), "and as GROUP" },
  { "io", "uring|sync", SERVE, 0, AT (io), "the plugin's I/O engine" },
  { "foreground", NULL, SERVE, 0, AT (foreground),
    "nbdkit stays in the foreground" },
  { "namespace", "NS", KUBE, KUBE, AT (namespace),
    "the tenant's Kubernetes namespace" },
  { "name", "NAME", KUBE, 0, AT (name),
    "the Secret's name (default sealvol-tenant)" },
  { "with-secrets", NULL, KUBE, 0, AT (with_secrets),
    "fill in the token and the node's key (else placeholders)" },
  { "host", "NAME", KUBE, 0, AT (host),
    "this host's [host NAME] in the controller: key access-token.NAME" },
  { "client-dir", "DIR", KUBE, 0, AT (client_dir),
    "the node's client certificate directory (sealvol-certs client)" },
  { "ca-cert", "FILE", KUBE, 0, AT (ca_cert),
    "the CA that verifies the server (default DIR/ca-cert.pem)" },
  { "psk-user", "USER", KUBE, 0, AT (psk_user),
    "the node's line of the tenant's tls/psk file" },
  { "token-file", "FILE", KUBE, 0, AT (token_file),
    "an existing token (ID.SECRET) instead of a new one" },
  { "scope", "volumes|admin", ON (CMD_TOKEN_CREATE), 0, AT (scope),
    "what the token may do (default volumes; admin may create tenants)" },
  { "expires", "DURATION", ON (CMD_TOKEN_CREATE) | KUBE, 0, AT (expires),
    "N with s, m, h or d, or never (default 90d)" },
  { "print-routes", NULL, API, 0, AT (print_routes),
    "print the API's routes and exit" },
  { "help", NULL, 0, 0, AT (help), "print this text" },
  { "version", NULL, 0, 0, AT (version), "print the version" },
};
const size_t cli_option_count = sizeof cli_options / sizeof cli_options[0];

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
cli_parse_options (int argc, char **argv, struct options *o, uint64_t *given)
{
  struct option long_opts[sizeof cli_options / sizeof cli_options[0] + 1];
  int c;

  for (size_t i = 0; i < cli_option_count; i++)
    long_opts[i] = (struct option) {
      cli_options[i].name,
      cli_options[i].arg ? required_argument : no_argument, NULL,
      256 + (int) i };
  long_opts[cli_option_count] = (struct option) { NULL, 0, NULL, 0 };
  opterr = 0;
  while ((c = getopt_long (argc, argv, "", long_opts, NULL)) != -1) {
    char *field;

    if (c < 256)
      return usage_error ("unknown or incomplete option '%s'",
                          refused_arg (argc, argv));
    field = (char *) o + cli_options[c - 256].offset;
    *given |= UINT64_C (1) << (c - 256);
    if (cli_options[c - 256].arg)
      *(const char **) field = optarg;
    else
      *(bool *) field = true;
  }
  return 0;
}

struct sv_tenant *
cli_open_tenant (const struct options *o, const char *tenant)
{
  struct sv_tenant *t = sv_tenant_open (o->root, tenant);

  if (t && sv_tenant_set_store (t, &o->store) == -1) {
    sv_tenant_free (t);
    return NULL;
  }
  return t;
}

struct sv_tenant *
open_tenant_with_key (const struct options *o, const char *tenant)
{
  const struct sv_key_source src = { .kek_file = o->kek,
    .passphrase_file = o->passphrase_file };
  struct sv_tenant *t = cli_open_tenant (o, tenant);

  if (t && sv_key_source_load (t, &src) == -1) {
    sv_tenant_free (t);
    return NULL;
  }
  return t;
}

void
cli_audit_event (const struct options *o, const char *tenant,
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
