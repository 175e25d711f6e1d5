/* Checking what a CSI request asks for, before anything is done: the
 * pure part of the Node service, which the fuzz target drives too (a
 * path's parent directory is only looked up, by request_path).
 * Every string a request carries is bounded and checked against a fixed
 * character set before it reaches a URI, a path or a command line. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi-request.h"

typedef Csi__V1__VolumeCapability__AccessMode__Mode access_mode;

/* The lexically clean form of an absolute path: no empty, "." or ".."
 * components and no trailing slash, so that it compares equal to what
 * the mount table says. */
grpc_status_code
require_path (const char *value, const char *field, char *out, size_t len,
              struct csi_status *st)
{
  size_t used = 0;
  const char *p = value;

  if (require_field (value, field, st) != GRPC_STATUS_OK)
    return st->code;
  if (value[0] != '/')
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "%s must be an absolute path", field);
  while (*p) {
    size_t n;

    p += strspn (p, "/");
    n = strcspn (p, "/");
    if (n == 0)
      break;
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                       "%s must not contain . or .. components", field);
    if (used + 1 + n >= len)
      return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "%s is too long", field);
    out[used++] = '/';
    memcpy (out + used, p, n);
    used += n;
    p += n;
  }
  if (used == 0)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "%s must not be /", field);
  out[used] = '\0';
  return GRPC_STATUS_OK;
}

/* PATH (absolute, lexically clean) with its parent directory resolved:
 * the spelling the mount table uses.  -1 with errno if the parent does
 * not exist. */
static int
canonical_path (const char *path, char *out, size_t len)
{
  const char *slash = strrchr (path, '/');
  char parent[PATH_MAX], *real;
  int r;

  if (slash == NULL || (size_t) (slash - path) >= sizeof parent) {
    errno = EINVAL;
    return -1;
  }
  memcpy (parent, path, (size_t) (slash - path));
  parent[slash - path] = '\0';
  real = realpath (parent[0] ? parent : "/", NULL);
  if (real == NULL)
    return -1;
  r = snprintf (out, len, "%s/%s", strcmp (real, "/") == 0 ? "" : real, slash + 1);
  free (real);
  if (r < 0 || (size_t) r >= len) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

grpc_status_code
request_path (const char *value, const char *field, bool must_resolve,
              char *out, size_t len, struct csi_status *st)
{
  char clean[PATH_MAX];

  if (require_path (value, field, clean, sizeof clean, st) != GRPC_STATUS_OK)
    return st->code;
  if (canonical_path (clean, out, len) == 0)
    return GRPC_STATUS_OK;
  if (must_resolve)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "the directory holding %s does not exist", field);
  snprintf (out, len, "%s", clean);     /* nothing can be there: only look it up */
  return GRPC_STATUS_OK;
}

static grpc_status_code
check_access_mode (const Csi__V1__VolumeCapability *c, struct capability *cap,
                   struct csi_status *st)
{
  access_mode mode = c->access_mode ? c->access_mode->mode : 0;

  switch (mode) {
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_WRITER:
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_SINGLE_WRITER:
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_MULTI_WRITER:
    return GRPC_STATUS_OK;
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__SINGLE_NODE_READER_ONLY:
    cap->readonly_mode = true;
    return GRPC_STATUS_OK;
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_READER_ONLY:
    cap->readonly_mode = cap->multi_node = true;
    return GRPC_STATUS_OK;
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_SINGLE_WRITER:
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_MODE__MODE__MULTI_NODE_MULTI_WRITER:
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "access mode %d is not supported: a sealvol volume is written "
                     "by one node at a time", (int) mode);
  default:
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "volume_capability.access_mode is required");
  }
}

/* A mount flag is one option of mount -o: no comma (it would smuggle in
 * a second option), no blank, no leading dash, and no slash, which keeps
 * out the options that name another device or file (xfs logdev=, ext4
 * journal_path=).  Options that change what mount(8) does rather than
 * how the filesystem behaves, or that undo the plugin's own choices
 * (ro/rw, nosuid, nodev), are refused by name. */
static bool
mount_flag_ok (const char *f)
{
  static const char *const refused[] = {
    "bind", "rbind", "move", "rmove", "remount", "ro", "rw", "defaults",
    "suid", "dev", "user", "users", "owner", "group", NULL,
  };
  static const char *const refused_prefixes[] = {
    "loop", "offset=", "sizelimit=", "x-", "X-", NULL,
  };

  if (f[0] == '\0' || f[0] == '-'
      || strspn (f, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789_.=:+-") != strlen (f))
    return false;
  for (size_t i = 0; refused[i]; i++)
    if (strcmp (f, refused[i]) == 0)
      return false;
  for (size_t i = 0; refused_prefixes[i]; i++)
    if (strncmp (f, refused_prefixes[i], strlen (refused_prefixes[i])) == 0)
      return false;
  return true;
}

static grpc_status_code
check_mount (const Csi__V1__VolumeCapability__MountVolume *m, struct capability *cap,
             struct csi_status *st)
{
  size_t used = 0;

  cap->fs_type_given = m->fs_type[0] != '\0';
  cap->fs_type = cap->fs_type_given ? m->fs_type : "ext4";
  if (strcmp (cap->fs_type, "ext4") != 0 && strcmp (cap->fs_type, "xfs") != 0)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "fs_type %.32s is not supported (ext4 or xfs)", m->fs_type);
  if (m->volume_mount_group[0] != '\0')
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "volume_mount_group is not supported");
  for (size_t i = 0; i < m->n_mount_flags; i++) {
    size_t n = strlen (m->mount_flags[i]);

    if (!mount_flag_ok (m->mount_flags[i]))
      return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                       "mount flag %zu is not a plain mount option", i + 1);
    if (used + n + 2 > sizeof cap->mount_options)
      return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "mount_flags are over 4 KiB");
    if (used)
      cap->mount_options[used++] = ',';
    memcpy (cap->mount_options + used, m->mount_flags[i], n + 1);
    used += n;
  }
  snprintf (cap->fingerprint, sizeof cap->fingerprint, "mount %s %s",
            cap->fs_type, cap->mount_options);
  return GRPC_STATUS_OK;
}

grpc_status_code
parse_capability (const Csi__V1__VolumeCapability *c, struct capability *cap,
                  struct csi_status *st)
{
  memset (cap, 0, sizeof *cap);
  if (c == NULL)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "volume_capability is required");
  if (check_access_mode (c, cap, st) != GRPC_STATUS_OK)
    return st->code;
  switch (c->access_type_case) {
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK:
    cap->block = true;
    strcpy (cap->fingerprint, "block");
    break;
  case CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT:
    if (check_mount (c->mount, cap, st) != GRPC_STATUS_OK)
      return st->code;
    break;
  default:
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "volume_capability needs block or mount");
  }
  snprintf (cap->fingerprint + strlen (cap->fingerprint),
            sizeof cap->fingerprint - strlen (cap->fingerprint), " mode=%d",
            (int) c->access_mode->mode);  /* room for it: fingerprint is larger */
  return GRPC_STATUS_OK;
}

/* Names that go into a URI and a command line: a fixed character set. */
static bool
safe_name (const char *s, const char *extra)
{
  if (s == NULL || *s == '\0' || *s == '.' || *s == '-' || strlen (s) > 253)
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char) *s) && strchr (extra, *s) == NULL)
      return false;
  return true;
}

/* A TCP port: 1 to 65535, digits only. */
static bool
port_ok (const char *s)
{
  size_t n = strlen (s);

  return n >= 1 && n <= 5 && strspn (s, "0123456789") == n && s[0] != '0'
    && atoi (s) <= 65535;
}

static grpc_status_code
parse_server (const char *server, struct remote *r, struct remote_strings *buf,
              struct csi_status *st)
{
  char *colon;

  if (strlen (server) >= sizeof buf->host)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "server is too long");
  strcpy (buf->host, server);
  colon = strrchr (buf->host, ':');
  if (colon == NULL || !port_ok (colon + 1))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "server must be HOST:PORT with a port from 1 to 65535");
  *colon = '\0';
  r->host = buf->host;
  r->port = colon + 1;
  if (!safe_name (r->host, ".-"))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "bad server host name");
  return GRPC_STATUS_OK;
}

/* The PSK file's user name, which libnbd needs in the URI. */
static grpc_status_code
parse_psk_user (const char *psk, struct remote *r, struct remote_strings *buf,
                struct csi_status *st)
{
  size_t n = strcspn (psk, ":");

  if (n == 0 || n >= sizeof buf->user || psk[n] != ':')
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "secret psk must be USER:HEXKEY");
  memcpy (buf->user, psk, n);
  buf->user[n] = '\0';
  if (!safe_name (buf->user, "._-"))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "secret psk must be USER:HEXKEY");
  r->psk_user = buf->user;
  return GRPC_STATUS_OK;
}

/* volume_context and secrets -> where the volume is and how to prove
 * who we are. */
grpc_status_code
parse_remote (const Csi__V1__NodeStageVolumeRequest *req, struct remote *r,
              struct remote_strings *buf, struct csi_status *st)
{
  const char *server = map_get (req->n_volume_context, req->volume_context, "server");
  const char *tenant = map_get (req->n_volume_context, req->volume_context, "tenant");
  const char *psk = map_get (req->n_secrets, req->secrets, "psk");

  memset (r, 0, sizeof *r);
  r->export = map_get (req->n_volume_context, req->volume_context, "volume");
  if (server == NULL || r->export == NULL || tenant == NULL)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "volume_context needs server, tenant and volume");
  if (!safe_name (r->export, "._-") || !safe_name (tenant, "._-"))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "bad tenant or volume name");
  if (parse_server (server, r, buf, st) != GRPC_STATUS_OK
      || (psk && parse_psk_user (psk, r, buf, st) != GRPC_STATUS_OK))
    return st->code;
  if (psk == NULL && map_get (req->n_secrets, req->secrets, "ca-cert") == NULL)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "secrets need ca-cert (or psk) to authenticate the storage host");
  if (!map_get (req->n_secrets, req->secrets, "client-cert")
      != !map_get (req->n_secrets, req->secrets, "client-key"))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "secrets client-cert and client-key go together");
  return GRPC_STATUS_OK;
}
