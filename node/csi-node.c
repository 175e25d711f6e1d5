/* The CSI Node service: stage, publish, unpublish, unstage.
 *
 * Every call is idempotent: it loads the volume's state, compares what
 * is asked with what was done, and does only what is missing.  A call
 * that fails half way undoes its own work, so a retry starts clean.
 */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi-node.h"
#include "node-attach.h"
#include "node-util.h"

typedef Csi__V1__VolumeCapability__AccessMode__Mode access_mode;

/* ---- checking requests ---- */

grpc_status_code
require_field (const char *value, const char *field, struct csi_status *st)
{
  if (value == NULL || value[0] == '\0')
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "%s is required", field);
  return GRPC_STATUS_OK;
}

grpc_status_code
require_path (const char *value, const char *field, struct csi_status *st)
{
  if (require_field (value, field, st) != GRPC_STATUS_OK)
    return st->code;
  if (value[0] != '/')
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "%s must be an absolute path", field);
  return GRPC_STATUS_OK;
}

/* What a VolumeCapability asks for, and a fingerprint to compare two of
 * them (mount flags included: they are compared, never printed). */
struct capability {
  bool block;
  const char *fs_type;          /* mount: "ext4" or "xfs" */
  bool fs_type_given;
  bool readonly_mode;
  bool multi_node;
  char fingerprint[4608];
};

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

static grpc_status_code
check_mount (const Csi__V1__VolumeCapability__MountVolume *m, struct capability *cap,
             struct csi_status *st)
{
  size_t used;

  cap->fs_type_given = m->fs_type[0] != '\0';
  cap->fs_type = cap->fs_type_given ? m->fs_type : "ext4";
  if (strcmp (cap->fs_type, "ext4") != 0 && strcmp (cap->fs_type, "xfs") != 0)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "fs_type %.32s is not supported (ext4 or xfs)", m->fs_type);
  used = (size_t) snprintf (cap->fingerprint, sizeof cap->fingerprint, "mount %s %s",
                            cap->fs_type, m->volume_mount_group);
  for (size_t i = 0; i < m->n_mount_flags && used < sizeof cap->fingerprint; i++)
    used += (size_t) snprintf (cap->fingerprint + used, sizeof cap->fingerprint - used,
                               ",%s", m->mount_flags[i]);
  if (used >= sizeof cap->fingerprint)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "mount_flags are too long");
  return GRPC_STATUS_OK;
}

static grpc_status_code
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
            (int) c->access_mode->mode);
  return GRPC_STATUS_OK;
}

/* Every protobuf-c map entry has this layout, whatever its message. */
struct map_entry {
  ProtobufCMessage base;
  char *key;
  char *value;
};

static const char *
map_get (size_t n, void *entries, const char *key)
{
  struct map_entry **e = entries;

  for (size_t i = 0; i < n; i++)
    if (strcmp (e[i]->key, key) == 0)
      return e[i]->value;
  return NULL;
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

/* Copies of the request's strings that parse_remote cuts up. */
struct remote_strings {
  char host[256];
  char user[64];
};

static bool
all_digits (const char *s)
{
  return *s && strspn (s, "0123456789") == strlen (s);
}

static grpc_status_code
parse_server (const char *server, struct remote *r, struct remote_strings *buf,
              struct csi_status *st)
{
  char *colon;

  snprintf (buf->host, sizeof buf->host, "%s", server);
  colon = strrchr (buf->host, ':');
  if (colon == NULL || !all_digits (colon + 1))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "server must be HOST:PORT");
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
static grpc_status_code
parse_remote (const Csi__V1__NodeStageVolumeRequest *req, struct remote *r,
              struct remote_strings *buf, struct csi_status *st)
{
  const char *server = map_get (req->n_volume_context, req->volume_context, "server");
  const char *psk = map_get (req->n_secrets, req->secrets, "psk");

  memset (r, 0, sizeof *r);
  r->export = map_get (req->n_volume_context, req->volume_context, "volume");
  if (server == NULL || r->export == NULL
      || map_get (req->n_volume_context, req->volume_context, "tenant") == NULL)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "volume_context needs server, tenant and volume");
  if (!safe_name (r->export, "._-"))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "bad volume name");
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

/* The secrets, as the files libnbd and nbd-client read, in a directory
 * only root can enter. */
static grpc_status_code
write_secrets (const Csi__V1__NodeStageVolumeRequest *req, const char *dir,
               struct csi_status *st)
{
  static const char *const files[][2] = {
    { "ca-cert", "ca-cert.pem" }, { "client-cert", "client-cert.pem" },
    { "client-key", "client-key.pem" }, { "psk", "psk" },
  };

  if (mkdir (dir, 0700) == -1 && errno != EEXIST)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", dir, strerror (errno));
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    const char *v = map_get (req->n_secrets, req->secrets, files[i][0]);
    char path[PATH_MAX + 32];

    if (v == NULL)
      continue;
    snprintf (path, sizeof path, "%s/%s", dir, files[i][1]);
    if (write_private_file (path, v, strlen (v)) == -1)
      return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot write secret %s: %s",
                       files[i][0], strerror (errno));
  }
  return GRPC_STATUS_OK;
}

/* ---- stage ---- */

/* Make a filesystem if the device is blank; keep the one it has. */
static grpc_status_code
prepare_filesystem (const struct vol_state *vs, const struct capability *cap,
                    char *fstype, size_t len, struct csi_status *st)
{
  char out[256];
  int r = run (out, sizeof out, "blkid", "-p", "-o", "value", "-s", "TYPE",
               vs->device, NULL);

  if (r == 0) {
    snprintf (fstype, len, "%.*s", (int) len - 1, out);
    if (cap->fs_type_given && strcmp (fstype, cap->fs_type) != 0)
      return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                       "the volume holds %s, not %s", fstype, cap->fs_type);
    return GRPC_STATUS_OK;
  }
  if (r != 2)                           /* 2: nothing found */
    return csi_fail (st, GRPC_STATUS_INTERNAL, "blkid: %s", out);
  if (vs->readonly)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "the volume is blank and the access mode is read-only");
  snprintf (fstype, len, "%s", cap->fs_type);
  r = strcmp (cap->fs_type, "xfs") == 0
    ? run (out, sizeof out, "mkfs.xfs", "-q", vs->device, NULL)
    : run (out, sizeof out, "mkfs.ext4", "-q", "-F", vs->device, NULL);
  if (r != 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "mkfs.%s: %s", cap->fs_type, out);
  fprintf (stderr, "sealvol-csi-node: %s: made a new %s filesystem\n",
           vs->volume_id, cap->fs_type);
  return GRPC_STATUS_OK;
}

static grpc_status_code
mount_staging (const struct vol_state *vs, const struct capability *cap,
               const Csi__V1__VolumeCapability__MountVolume *m, struct csi_status *st)
{
  char fstype[32], opts[4200] = "", out[256];
  size_t used = 0;

  if (prepare_filesystem (vs, cap, fstype, sizeof fstype, st) != GRPC_STATUS_OK)
    return st->code;
  used = (size_t) snprintf (opts, sizeof opts, "%s", vs->readonly ? "ro" : "rw");
  for (size_t i = 0; i < m->n_mount_flags && used < sizeof opts; i++)
    used += (size_t) snprintf (opts + used, sizeof opts - used, ",%s", m->mount_flags[i]);
  if (run (out, sizeof out, "mount", "-t", fstype, "-o", opts, vs->device,
           vs->staging_path, NULL) != 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "mount: %s", out);
  return GRPC_STATUS_OK;
}

/* Undo a stage as far as it went: used by Unstage and by a failed or
 * stale stage. */
static grpc_status_code
undo_stage (struct vol_state *vs, struct csi_status *st)
{
  if (!vs->block && vs->staging_path && unmount_if_mounted (vs->staging_path) == -1)
    return csi_fail (st, errno == EBUSY ? GRPC_STATUS_FAILED_PRECONDITION
                     : GRPC_STATUS_INTERNAL,
                     "cannot unmount %s: %s", vs->staging_path, strerror (errno));
  if (detach_volume (vs, st) != GRPC_STATUS_OK)
    return st->code;
  if (remove_tree (vs->dir) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot remove %s: %s", vs->dir,
                     strerror (errno));
  return GRPC_STATUS_OK;
}

/* Still staged as the state says (nothing unmounted it behind our back)? */
static bool
stage_intact (const struct vol_state *vs)
{
  if (vs->block)
    return vs->device && access (vs->device, F_OK) == 0;
  return mount_point (vs->staging_path, NULL, 0);
}

/* An earlier stage of this volume: OK if it matches, an error if it
 * conflicts, or cleaned away (1) so the stage runs again. */
static int
check_earlier_stage (struct vol_state *vs, const char *staging,
                     const struct capability *cap, struct csi_status *st)
{
  struct csi_status ignored;

  if (vs->staged && strcmp (vs->staging_path, staging) != 0)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s is already staged at %s", vs->volume_id, vs->staging_path);
  if (vs->staged && strcmp (vs->capability, cap->fingerprint) != 0)
    return csi_fail (st, GRPC_STATUS_ALREADY_EXISTS,
                     "volume %s is staged at %s with another capability",
                     vs->volume_id, staging);
  if (vs->staged && stage_intact (vs))
    return GRPC_STATUS_OK;
  return undo_stage (vs, &ignored) == GRPC_STATUS_OK ? 1
    : csi_fail (st, ignored.code, "%s", ignored.message);
}

static grpc_status_code
attach_and_mount (const Csi__V1__NodeStageVolumeRequest *req, struct vol_state *vs,
                  const struct capability *cap, struct csi_status *st)
{
  char secrets[PATH_MAX + 16];
  struct remote_strings buf;
  struct remote r;
  int64_t size;

  if (parse_remote (req, &r, &buf, st) != GRPC_STATUS_OK)
    return st->code;
  if (mkdir (vs->dir, 0700) == -1 && errno != EEXIST)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", vs->dir, strerror (errno));
  state_path (vs, "secrets", secrets, sizeof secrets);
  r.secrets_dir = secrets;
  r.readonly = cap->readonly_mode;
  if (write_secrets (req, secrets, st) != GRPC_STATUS_OK
      || attach_probe (&r, &size, st) != GRPC_STATUS_OK)
    return st->code;
  if (state_save (vs) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  if (attach_volume (vs, &r, size, st) != GRPC_STATUS_OK)
    return st->code;
  state_save (vs);                      /* the attachment, before anything else fails */
  if (!cap->block && mount_staging (vs, cap, req->volume_capability->mount, st) != GRPC_STATUS_OK)
    return st->code;
  return GRPC_STATUS_OK;
}

grpc_status_code
node_stage (struct csi_call *call, const ProtobufCMessage *msg,
            ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodeStageVolumeRequest *req = (const void *) msg;
  struct capability cap;
  struct vol_state vs;
  struct csi_status undo;
  int r;

  (void) call; (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || require_path (req->staging_target_path, "staging_target_path", st)
      || parse_capability (req->volume_capability, &cap, st))
    return st->code;
  if ((r = state_load (req->volume_id, &vs)) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  if (r == 1) {
    r = check_earlier_stage (&vs, req->staging_target_path, &cap, st);
    state_free (&vs);
    if (r != 1)
      return (grpc_status_code) r;
    state_load (req->volume_id, &vs);   /* cleaned away: start afresh */
  }
  if (mount_point (req->staging_target_path, NULL, 0)) {
    state_free (&vs);
    return csi_fail (st, GRPC_STATUS_ALREADY_EXISTS, "%s is already a mount point",
                     req->staging_target_path);
  }
  state_set (&vs.staging_path, req->staging_target_path);
  state_set (&vs.capability, cap.fingerprint);
  vs.block = cap.block;
  vs.readonly = cap.readonly_mode;
  vs.multi_node = cap.multi_node;
  vs.staged = false;
  if (attach_and_mount (req, &vs, &cap, st) == GRPC_STATUS_OK) {
    vs.staged = true;
    if (state_save (&vs) == -1)
      csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  }
  if (st->code != GRPC_STATUS_OK)
    undo_stage (&vs, &undo);
  else
    fprintf (stderr, "sealvol-csi-node: staged %s at %s (%s)\n", req->volume_id,
             req->staging_target_path, vs.device);
  state_free (&vs);
  return st->code;
}

grpc_status_code
node_unstage (struct csi_call *call, const ProtobufCMessage *msg,
              ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodeUnstageVolumeRequest *req = (const void *) msg;
  struct vol_state vs;
  int r;

  (void) call; (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || require_path (req->staging_target_path, "staging_target_path", st))
    return st->code;
  r = state_load (req->volume_id, &vs);
  if (r == -1)
    csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  else if (r == 1 && strcmp (vs.staging_path, req->staging_target_path) == 0) {
    /* The CO unpublishes first; a target someone else unmounted is gone. */
    for (size_t i = vs.n_pubs; i-- > 0;)
      if (!mount_point (vs.pubs[i].target, NULL, 0))
        state_drop_publication (&vs, &vs.pubs[i]);
    if (vs.n_pubs > 0)
      csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION, "volume %s is still published at %s",
                req->volume_id, vs.pubs[0].target);
    else if (undo_stage (&vs, st) == GRPC_STATUS_OK)
      fprintf (stderr, "sealvol-csi-node: unstaged %s\n", req->volume_id);
  }
  state_free (&vs);
  return st->code;
}

/* ---- publish ---- */

static grpc_status_code
check_publish (const Csi__V1__NodePublishVolumeRequest *req, struct vol_state *vs,
               const struct capability *cap, bool readonly, struct csi_status *st)
{
  struct publication *p = state_find_publication (vs, req->target_path);

  if (!vs->staged || strcmp (vs->staging_path, req->staging_target_path) != 0)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s is not staged at %s", req->volume_id,
                     req->staging_target_path);
  if (cap->block != vs->block || cap->readonly_mode != vs->readonly)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s was staged with another capability", req->volume_id);
  if (p && (strcmp (p->capability, cap->fingerprint) != 0 || p->readonly != readonly))
    return csi_fail (st, GRPC_STATUS_ALREADY_EXISTS,
                     "volume %s is published at %s with another capability or "
                     "read-only flag", req->volume_id, req->target_path);
  if (p == NULL && vs->n_pubs > 0 && !vs->multi_node)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s is already published at %s and its access mode is "
                     "single-node", req->volume_id, vs->pubs[0].target);
  if (p == NULL && vs->n_pubs == MAX_PUBLICATIONS)
    return csi_fail (st, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many publications");
  return GRPC_STATUS_OK;
}

/* Bind SOURCE on TARGET, then make the bind read-only if asked (a bind
 * mount takes MS_RDONLY only on a remount). */
static grpc_status_code
bind_mount (const char *source, const char *target, bool readonly, struct csi_status *st)
{
  if (mount (source, target, NULL, MS_BIND, NULL) == -1
      || (readonly && mount (NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == -1))
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot bind-mount on %s: %s",
                     target, strerror (errno));
  return GRPC_STATUS_OK;
}

/* Block access: the target is a file with the device bound on it.  A
 * read-only mount does not stop writes to a device node, so a read-only
 * publish of a writable volume gets a read-only loop device over it. */
static grpc_status_code
publish_block (const char *target, struct vol_state *vs, struct publication *p,
               struct csi_status *st)
{
  char ro_dev[64];
  int fd = open (target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

  if (fd == -1 || close (fd) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", target, strerror (errno));
  if (p->readonly && !vs->readonly) {
    if (loop_attach (vs->device, true, ro_dev, sizeof ro_dev, st) != GRPC_STATUS_OK)
      return st->code;
    state_set (&p->ro_device, ro_dev);
  }
  return bind_mount (p->ro_device ? p->ro_device : vs->device, target, false, st);
}

static grpc_status_code
publish (const Csi__V1__NodePublishVolumeRequest *req, struct vol_state *vs,
         struct publication *p, struct csi_status *st)
{
  if (vs->block)
    return publish_block (req->target_path, vs, p, st);
  if (mkdir (req->target_path, 0750) == -1 && errno != EEXIST)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", req->target_path, strerror (errno));
  return bind_mount (vs->staging_path, req->target_path, p->readonly, st);
}

static grpc_status_code
unpublish (const char *target, struct publication *p, struct csi_status *st)
{
  if (unmount_if_mounted (target) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot unmount %s: %s", target,
                     strerror (errno));
  if (rmdir (target) == -1 && errno == ENOTDIR)
    unlink (target);
  if (access (target, F_OK) == 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot remove %s", target);
  if (p && p->ro_device)
    return loop_detach (p->ro_device, st);
  return GRPC_STATUS_OK;
}

grpc_status_code
node_publish (struct csi_call *call, const ProtobufCMessage *msg,
              ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodePublishVolumeRequest *req = (const void *) msg;
  struct capability cap;
  struct publication *p;
  struct vol_state vs;
  struct csi_status undo;
  bool readonly;

  (void) call; (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || require_path (req->target_path, "target_path", st)
      || parse_capability (req->volume_capability, &cap, st))
    return st->code;
  if (req->staging_target_path[0] == '\0')
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "staging_target_path is required: this plugin stages volumes");
  if (state_load (req->volume_id, &vs) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  readonly = req->readonly || vs.readonly;
  if (check_publish (req, &vs, &cap, readonly, st) != GRPC_STATUS_OK) {
    state_free (&vs);
    return st->code;
  }
  p = state_find_publication (&vs, req->target_path);
  if (p && mount_point (req->target_path, NULL, 0)) {
    state_free (&vs);
    return GRPC_STATUS_OK;              /* already done */
  }
  if (p == NULL) {
    p = &vs.pubs[vs.n_pubs++];
    state_set (&p->target, req->target_path);
    state_set (&p->capability, cap.fingerprint);
    p->readonly = readonly;
  }
  if (publish (req, &vs, p, st) != GRPC_STATUS_OK) {
    unpublish (req->target_path, p, &undo);
    state_drop_publication (&vs, p);
  }
  else
    fprintf (stderr, "sealvol-csi-node: published %s at %s%s\n", req->volume_id,
             req->target_path, readonly ? " (read-only)" : "");
  if (state_save (&vs) == -1 && st->code == GRPC_STATUS_OK)
    csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  state_free (&vs);
  return st->code;
}

grpc_status_code
node_unpublish (struct csi_call *call, const ProtobufCMessage *msg,
                ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodeUnpublishVolumeRequest *req = (const void *) msg;
  struct publication *p;
  struct vol_state vs;
  int r;

  (void) call; (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || require_path (req->target_path, "target_path", st))
    return st->code;
  if ((r = state_load (req->volume_id, &vs)) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  p = r == 1 ? state_find_publication (&vs, req->target_path) : NULL;
  if (unpublish (req->target_path, p, st) == GRPC_STATUS_OK && p) {
    state_drop_publication (&vs, p);
    if (state_save (&vs) == -1)
      csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
    else
      fprintf (stderr, "sealvol-csi-node: unpublished %s from %s\n", req->volume_id,
               req->target_path);
  }
  state_free (&vs);
  return st->code;
}

/* ---- shared with the usage calls ---- */

grpc_status_code
load_volume_at (const char *volume_id, const char *path, struct vol_state *vs,
                struct csi_status *st)
{
  int r = state_load (volume_id, vs);

  if (r == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", volume_id);
  if (r == 0 || !vs->staged)
    return csi_fail (st, GRPC_STATUS_NOT_FOUND, "volume %s is not staged on this node",
                     volume_id);
  if (strcmp (path, vs->staging_path) != 0 && state_find_publication (vs, path) == NULL)
    return csi_fail (st, GRPC_STATUS_NOT_FOUND,
                     "volume %s is neither staged nor published at %s", volume_id, path);
  return GRPC_STATUS_OK;
}
