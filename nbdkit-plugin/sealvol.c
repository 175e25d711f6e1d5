/* nbdkit-sealvol-plugin: serve one tenant's sealvol volumes over NBD.
 *
 * Glue only: the format, crypto and I/O live in libsealvol.  The export
 * name is the volume name; every connection to a volume shares one opened
 * sv_volume, from the registry (server/registry.h), which also throttles
 * it.  See docs/nbdkit-sealvol-plugin.1.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>
#include <sodium.h>

#include "audit.h"
#include "keysource.h"
#include "metamap.h"
#include "names.h"
#include "qos-runtime.h"
#include "ratelimit.h"
#include "registry.h"
#include "report.h"
#include "secmem.h"
#include "tenant.h"
#include "volume.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static char *root = (char *) "/var/lib/sealvol";
static const char *tenant_name;
static const char *kek;                 /* PATH, +PATH, -FD or - */
static const char *kek_passphrase;      /* +FILE, -FD or -: Argon2id */
static struct sv_key_source key_source; /* kek=, kek-command=, kek-passphrase= */
static const char *io_name = "uring";
static unsigned meta_open_flag = SV_OPEN_META_MMAP;  /* meta-io=mmap */
static unsigned direct_open_flag;                     /* direct=true */
static bool allow_plaintext;            /* over TCP; Unix sockets always may */
static bool qos_enabled = true;         /* qos=false: measure its overhead */
static struct sv_tenant *tenant;
static struct sv_store_conf store_options;  /* backend=, pool=, ... */
static struct sv_registry *registry;    /* the volumes open, their QoS */

/* -D sealvol.uring_refused=1: behave as if the kernel refused io_uring
 * (how the fallback path is tested). */
NBDKIT_DLL_PUBLIC int sealvol_debug_uring_refused = 0;

struct handle {
  struct sv_shared_volume *sv;
  bool readonly;
  bool tls;
  char peer[128];
};

static void
report_to_nbdkit (const char *msg)
{
  nbdkit_error ("%s", msg);
}

static void
sealvol_load (void)
{
  sv_set_error_handler (report_to_nbdkit);
}

static void flush_refusals (void);

static void
sealvol_unload (void)
{
  sv_registry_free (registry);           /* closes what is still open */
  if (tenant)
    flush_refusals ();
  sv_tenant_free (tenant);
  sv_metamap_uninstall_guard ();        /* its handler is in this library */
}

static int
sealvol_config (const char *key, const char *value)
{
  if (strcmp (key, "root") == 0)
    root = (char *) value;
  else if (strcmp (key, "tenant") == 0)
    tenant_name = value;
  else if (strcmp (key, "kek") == 0)
    kek = value;
  else if (strcmp (key, "kek-command") == 0)
    key_source.kek_command = value;
  else if (strcmp (key, "kek-passphrase") == 0)
    kek_passphrase = value;
  else if (strcmp (key, "backend") == 0) {
    if (strcmp (value, "file") != 0 && strcmp (value, "rbd") != 0) {
      nbdkit_error ("backend must be 'file' or 'rbd', not '%s'", value);
      return -1;
    }
    store_options.backend = (char *) value;
  }
  else if (strcmp (key, "pool") == 0)
    store_options.pool = (char *) value;
  else if (strcmp (key, "ceph-conf") == 0)
    store_options.ceph_conf = (char *) value;
  else if (strcmp (key, "ceph-id") == 0)
    store_options.ceph_id = (char *) value;
  else if (strcmp (key, "allow-plaintext") == 0) {
    int b = nbdkit_parse_bool (value);
    if (b == -1)
      return -1;
    allow_plaintext = b;
  }
  else if (strcmp (key, "qos") == 0) {
    int b = nbdkit_parse_bool (value);
    if (b == -1)
      return -1;
    qos_enabled = b;
  }
  else if (strcmp (key, "io") == 0) {
    if (strcmp (value, "uring") != 0 && strcmp (value, "sync") != 0) {
      nbdkit_error ("io must be 'uring' or 'sync', not '%s'", value);
      return -1;
    }
    io_name = value;
  }
  else if (strcmp (key, "direct") == 0) {
    int b = nbdkit_parse_bool (value);
    if (b == -1)
      return -1;
    direct_open_flag = b ? SV_OPEN_DIRECT : 0;
  }
  else if (strcmp (key, "meta-io") == 0) {
    if (strcmp (value, "mmap") == 0)
      meta_open_flag = SV_OPEN_META_MMAP;
    else if (strcmp (value, "write") == 0)
      meta_open_flag = 0;
    else {
      nbdkit_error ("meta-io must be 'mmap' or 'write', not '%s'", value);
      return -1;
    }
  }
  else {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  return 0;
}

/* kek=- and kek=-FD (and the passphrase forms) must be read now: by
 * .after_fork, where the key file checks run as the serving user, nbdkit
 * has closed standard input.  Kept in locked memory until then. */
static struct sv_key *early_secret;

static int
read_early_secret (const char *spec, const char **text)
{
  char *secret = NULL;

  if (nbdkit_read_password (spec, &secret) == -1)
    return -1;
  early_secret = sv_key_from_bytes (secret, strlen (secret) + 1);
  sv_wipe (secret, strlen (secret));
  free (secret);
  if (early_secret == NULL)
    return -1;
  *text = (const char *) sv_key_bytes (early_secret);
  return 0;
}

/* The key source from the parameters: kek=PATH and kek=+PATH are key
 * files (the key file checks apply), kek-passphrase=+FILE a passphrase
 * file; the -FD and - forms are read now, and any other kek-passphrase
 * is the passphrase itself (as nbdkit_read_password takes it).  A
 * kek-command wins, then a passphrase, then kek. */
static int
fill_key_source (void)
{
  if (key_source.kek_command)
    return 0;
  if (kek_passphrase && kek_passphrase[0] == '-')
    return read_early_secret (kek_passphrase, &key_source.passphrase);
  if (kek_passphrase && kek_passphrase[0] == '+')
    return (key_source.passphrase_file =
            nbdkit_absolute_path (kek_passphrase + 1)) ? 0 : -1;
  if (kek_passphrase)
    return (key_source.passphrase = kek_passphrase), 0;
  if (kek && kek[0] == '-')
    return read_early_secret (kek, &key_source.key_hex);
  if (kek)
    return (key_source.kek_file =
            nbdkit_absolute_path (kek + (kek[0] == '+'))) ? 0 : -1;
  return 0;
}

static int
sealvol_config_complete (void)
{
  if (tenant_name == NULL) {
    nbdkit_error ("the tenant parameter is required");
    return -1;
  }
  if (sv_name_problem (tenant_name)) {
    nbdkit_error ("tenant '%s' %s", tenant_name, sv_name_problem (tenant_name));
    return -1;
  }
  if (sv_crypto_init () == -1) {
    nbdkit_error ("cannot initialise libsodium");
    return -1;
  }
  /* nbdkit changes to / before .after_fork: make paths absolute. */
  if ((root = nbdkit_absolute_path (root)) == NULL)
    return -1;
  return fill_key_source ();
}

/* The tenant's key from the parameters' key source (keysource.h). */
static int
load_tenant_key (void)
{
  int r = sv_key_source_load (tenant, &key_source);

  sv_key_free (early_secret);
  early_secret = NULL;
  key_source.key_hex = key_source.passphrase = NULL;
  return r;
}

static int
sealvol_get_ready (void)
{
  if (strcmp (io_name, "uring") == 0) {
    if (sealvol_debug_uring_refused)
      errno = EPERM;
    if (sealvol_debug_uring_refused || !sv_io_uring_available ()) {
      nbdkit_error ("warning: io_uring is not available (%m); "
                    "falling back to io=sync");
      io_name = "sync";
    }
  }
  return 0;
}

/* The registry's sleep: returns early (-1) when the server shuts down. */
static int
nap (uint64_t ns)
{
  return nbdkit_nanosleep (ns / 1000000000, ns % 1000000000);
}

/* The tenant and its key are loaded here, after nbdkit -u has switched to
 * the serving user, so the key file's owner is checked against that user;
 * a missing, unreadable or wrong key stops the server before it serves.
 * The registry then follows key rotations from the same source, unless
 * the key was given once (kek=-FD, a passphrase) and is gone. */
static int
sealvol_after_fork (void)
{
  struct sv_state_stamp stamp;
  bool reloadable = !key_source.key_hex && !key_source.passphrase;

  tenant = sv_tenant_open (root, tenant_name);
  if (tenant == NULL || sv_tenant_set_store (tenant, &store_options) == -1)
    return -1;
  sv_tenant_state_stamp (tenant, &stamp);
  if (load_tenant_key () == -1)
    return -1;
  registry = sv_registry_new (root, tenant, meta_open_flag | direct_open_flag,
                              io_name, nap);
  if (registry == NULL)
    return -1;
  sv_registry_follow_keys (registry, &key_source, reloadable, &stamp);
  return 0;
}

#define sealvol_config_help \
  "root=<DIR>        Storage root (default /var/lib/sealvol).\n" \
  "tenant=<NAME>     (required) The tenant whose volumes are served.\n" \
  "kek=<PATH>        Tenant key file (default: the tenant's own).\n" \
  "kek-command=<CMD> The tenant key is this command's output (a KMS).\n" \
  "kek-passphrase=+FILE|-FD|-  Derive the key from a passphrase.\n" \
  "io=uring|sync     I/O engine (default uring, falls back to sync).\n" \
  "backend=file|rbd  Where the volumes live (default: tenant.conf's).\n" \
  "pool=<NAME>       The Ceph pool of backend=rbd.\n" \
  "ceph-conf=<FILE>  ceph.conf (default: librados's search, $CEPH_CONF).\n" \
  "ceph-id=<NAME>    Ceph client id (default admin).\n" \
  "meta-io=mmap|write  Metadata stored through a mapping (default) or\n" \
  "                  written with pwrite.\n" \
  "direct=true       Data file opened with O_DIRECT (default false).\n" \
  "allow-plaintext=true  Serve TCP clients without TLS (default: refuse).\n" \
  "qos=false         No throttling at all (to measure the throttle's cost)."

/* The client's address as text ("127.0.0.1:40312", "unix"), and whether
 * it came over TCP. */
static bool
describe_peer (char *buf, size_t len)
{
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;

  if (nbdkit_peer_name ((struct sockaddr *) &ss, &sl) == -1) {
    snprintf (buf, len, "unknown");
    return true;                /* fail closed: not known to be local */
  }
  switch (ss.ss_family) {
  case AF_INET: {
    struct sockaddr_in *in = (struct sockaddr_in *) &ss;
    inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs (in->sin_port);
    break;
  }
  case AF_INET6: {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
    inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs (in6->sin6_port);
    break;
  }
  case AF_UNIX:
    snprintf (buf, len, "unix");
    return false;
  default:                      /* vsock and the rest: not local */
    snprintf (buf, len, "family %d", (int) ss.ss_family);
    return true;
  }
  snprintf (buf, len, "%s:%d", host, port);
  return true;
}

static void
audit_connection (const char *event, const char *volume, const char *peer,
                  bool tls, const char *reason)
{
  json_object *e = sv_audit_event (event, tenant->name);

  if (volume)
    json_object_object_add (e, "volume", json_object_new_string (volume));
  json_object_object_add (e, "peer", json_object_new_string (peer));
  json_object_object_add (e, "tls", json_object_new_boolean (tls));
  if (reason)
    json_object_object_add (e, "reason", json_object_new_string (reason));
  sv_audit_write (tenant->dir, e);
}

/* Refused connections cost a client nothing, so they are rate limited
 * (server/ratelimit.h): per reason, the first few of every interval are
 * logged and audited one by one, the rest counted and reported in one
 * summary line and one "connection-refused-summary" event. */
enum refusal { REFUSED_PLAINTEXT, REFUSED_NAME, REFUSED_OPEN, N_REFUSALS };
static const char *const refusal_reason[N_REFUSALS] = {
  "plaintext over TCP", "invalid export name", "cannot open volume",
};
static struct sv_log_limit refusal_limit[N_REFUSALS];
static pthread_mutex_t refusal_lock = PTHREAD_MUTEX_INITIALIZER;

static void
report_unlogged (enum refusal r, uint64_t count)
{
  json_object *e;

  if (count == 0)
    return;
  nbdkit_error ("refused %" PRIu64 " more connections (%s) without logging "
                "each", count, refusal_reason[r]);
  e = sv_audit_event ("connection-refused-summary", tenant->name);
  json_object_object_add (e, "reason",
                          json_object_new_string (refusal_reason[r]));
  json_object_object_add (e, "count", json_object_new_uint64 (count));
  sv_audit_write (tenant->dir, e);
}

/* Count a refusal; if it is to be logged on its own, audit it and return
 * true (the caller then logs its line). */
static bool
refusal_logged (enum refusal r, const char *volume, const char *peer,
                bool tls)
{
  uint64_t unlogged;
  bool logged;

  pthread_mutex_lock (&refusal_lock);
  logged = sv_log_limit_event (&refusal_limit[r], sv_monotonic_ns (),
                               &unlogged);
  pthread_mutex_unlock (&refusal_lock);
  report_unlogged (r, unlogged);
  if (logged)
    audit_connection ("connection-refused", volume, peer, tls,
                      refusal_reason[r]);
  return logged;
}

/* At shutdown: the counts not yet reported. */
static void
flush_refusals (void)
{
  for (int r = 0; r < N_REFUSALS; r++) {
    uint64_t unlogged;
    pthread_mutex_lock (&refusal_lock);
    unlogged = sv_log_limit_flush (&refusal_limit[r]);
    pthread_mutex_unlock (&refusal_lock);
    report_unlogged (r, unlogged);
  }
}

/* Property 4: over TCP nothing travels in the clear unless the operator
 * said so.  Returns -1 (reported and audited) for a plaintext TCP peer. */
static int
refuse_plaintext (bool is_tls, const char *volume)
{
  char peer[128];
  bool tcp = describe_peer (peer, sizeof peer);

  if (!tcp || is_tls || allow_plaintext)
    return 0;
  /* Only a valid name goes in: the audit line stays short and clean. */
  if (refusal_logged (REFUSED_PLAINTEXT,
                      volume && !sv_name_problem (volume) ? volume : NULL,
                      peer, false))
    nbdkit_error ("refusing plaintext connection from %s: TLS is required "
                  "over TCP (start nbdkit with --tls=require, or set "
                  "allow-plaintext=true)", peer);
  errno = EPERM;
  return -1;
}

static int
sealvol_list_exports (int readonly, int is_tls, struct nbdkit_exports *exports)
{
  char **names;
  int r = 0;

  (void) readonly;
  if (refuse_plaintext (is_tls, NULL) == -1)
    return -1;
  names = sv_tenant_volume_names (tenant);
  if (names == NULL)
    return -1;
  for (char **n = names; *n && r == 0; n++)
    r = nbdkit_add_export (exports, *n, NULL);
  sv_free_names (names);
  return r;
}

/* Wait until the volume's limits, and its tenant's cap, admit the
 * request (qos=false: never). */
static int
throttle (struct sv_shared_volume *sv, enum sv_qos_op op, uint64_t len)
{
  return qos_enabled ? sv_registry_throttle (registry, sv, op, len) : 0;
}

static void *
sealvol_open (int readonly)
{
  const char *name = nbdkit_export_name ();
  const char *why;
  struct handle *h;

  if (name == NULL || refuse_plaintext (nbdkit_is_tls (), name) == -1)
    return NULL;
  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  h->readonly = readonly;
  h->tls = nbdkit_is_tls ();
  describe_peer (h->peer, sizeof h->peer);
  if ((why = sv_name_problem (name)) != NULL) {
    char shown[SV_ESCAPED_LEN (64)];
    if (refusal_logged (REFUSED_NAME, NULL, h->peer, h->tls))
      nbdkit_error ("refusing export name '%s': %s",
                    sv_log_escape (name, shown, sizeof shown), why);
    free (h);
    errno = EINVAL;
    return NULL;
  }
  if ((h->sv = sv_registry_acquire (registry, name)) == NULL) {
    refusal_logged (REFUSED_OPEN, name, h->peer, h->tls);
    free (h);
    return NULL;
  }
  audit_connection ("connection-open", name, h->peer, h->tls, NULL);
  return h;
}

static void
sealvol_close (void *handle)
{
  struct handle *h = handle;

  audit_connection ("connection-close", sv_shared_volume_name (h->sv), h->peer,
                    h->tls, NULL);
  sv_registry_release (registry, h->sv);
  free (h);
}

#define SV(handle) (((struct handle *) (handle))->sv)
#define VOL(handle) (sv_shared_volume_vol (SV (handle)))

static int64_t
sealvol_get_size (void *handle)
{
  return (int64_t) sv_volume_size (VOL (handle));
}

/* "sealvol volume TENANT/VOLUME id TENANT-ID:VOLUME-ID" (the random ids
 * in the superblock, hex): who the volume is, however the client spelled
 * the server.  sealvol-csi-node keys "one volume, one attachment" on it. */
static const char *
sealvol_export_description (void *handle)
{
  const struct sv_superblock *sb = sv_volume_superblock (VOL (handle));
  char tenant_id[2 * SV_ID_LEN + 1], volume_id[2 * SV_ID_LEN + 1];

  sodium_bin2hex (tenant_id, sizeof tenant_id, sb->tenant_id, SV_ID_LEN);
  sodium_bin2hex (volume_id, sizeof volume_id, sb->volume_id, SV_ID_LEN);
  return nbdkit_printf_intern ("sealvol volume %s/%s id %s:%s", tenant_name,
                               sv_shared_volume_name (SV (handle)),
                               tenant_id, volume_id);
}

static int
sealvol_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                    uint32_t *maximum)
{
  (void) handle;
  *minimum = 1;                 /* partial blocks are read-modify-written */
  *preferred = SV_BLOCK_SIZE;
  *maximum = 32 * 1024 * 1024;
  return 0;
}

static int
sealvol_can_write (void *handle)
{
  return !((struct handle *) handle)->readonly;
}

static int
sealvol_yes (void *handle)
{
  (void) handle;
  return 1;
}

static int
sealvol_can_fua (void *handle)
{
  (void) handle;
  return NBDKIT_FUA_NATIVE;
}

static int
sealvol_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  (void) flags;
  if (throttle (SV (handle), SV_QOS_READ, count) == -1)
    return -1;
  return sv_volume_read (VOL (handle), buf, count, offset);
}

static int
sealvol_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
                uint32_t flags)
{
  if (throttle (SV (handle), SV_QOS_WRITE, count) == -1)
    return -1;
  return sv_volume_write (VOL (handle), buf, count, offset,
                          flags & NBDKIT_FLAG_FUA);
}

static int
sealvol_flush (void *handle, uint32_t flags)
{
  (void) flags;
  if (throttle (SV (handle), SV_QOS_FLUSH, 0) == -1)
    return -1;
  return sv_volume_flush (VOL (handle));
}

static int
sealvol_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (throttle (SV (handle), SV_QOS_TRIM, count) == -1)
    return -1;
  return sv_volume_zero (VOL (handle), count, offset, true,
                         flags & NBDKIT_FLAG_FUA);
}

static int
sealvol_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  if (throttle (SV (handle), SV_QOS_ZERO, count) == -1)
    return -1;
  return sv_volume_zero (VOL (handle), count, offset,
                         flags & NBDKIT_FLAG_MAY_TRIM,
                         flags & NBDKIT_FLAG_FUA);
}

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, bool zero)
{
  return nbdkit_add_extent (opaque, offset, length,
                            zero ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO : 0);
}

static int
sealvol_extents (void *handle, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents *extents)
{
  (void) flags;
  return sv_volume_extents (VOL (handle), count, offset, add_extent, extents);
}

static struct nbdkit_plugin plugin = {
  .name = "sealvol",
  .longname = "sealvol encrypted, integrity-checked volumes",
  .version = PACKAGE_VERSION,
  .load = sealvol_load,
  .unload = sealvol_unload,
  .config = sealvol_config,
  .config_complete = sealvol_config_complete,
  .config_help = sealvol_config_help,
  .magic_config_key = NULL,
  .get_ready = sealvol_get_ready,
  .after_fork = sealvol_after_fork,
  .list_exports = sealvol_list_exports,
  .open = sealvol_open,
  .close = sealvol_close,
  .get_size = sealvol_get_size,
  .export_description = sealvol_export_description,
  .block_size = sealvol_block_size,
  .can_write = sealvol_can_write,
  .can_flush = sealvol_yes,
  .can_trim = sealvol_yes,
  .can_zero = sealvol_yes,
  .can_fua = sealvol_can_fua,
  .can_extents = sealvol_yes,
  .can_multi_conn = sealvol_yes,
  .pread = sealvol_pread,
  .pwrite = sealvol_pwrite,
  .flush = sealvol_flush,
  .trim = sealvol_trim,
  .zero = sealvol_zero,
  .extents = sealvol_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
