/* The CSI Node service: stage, publish, unpublish, unstage.
 *
 * Every call is idempotent: it loads the volume's state, compares what
 * is asked with what was done, and does only what is missing.  A call
 * that fails half way undoes its own work, so a retry starts clean.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi-node.h"
#include "csi-request.h"
#include "node-attach.h"
#include "node-util.h"

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
                  const struct capability *cap, struct remote *r, struct csi_status *st)
{
  char secrets[PATH_MAX + 16];
  int64_t size;

  if (mkdir (vs->dir, 0700) == -1 && errno != EEXIST)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", vs->dir, strerror (errno));
  state_path (vs, "secrets", secrets, sizeof secrets);
  r->secrets_dir = secrets;
  r->readonly = cap->readonly_mode;
  if (write_secrets (req, secrets, st) != GRPC_STATUS_OK
      || attach_probe (r, &size, st) != GRPC_STATUS_OK)
    return st->code;
  if (state_save (vs) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  if (attach_volume (vs, r, size, st) != GRPC_STATUS_OK)
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
  struct remote_strings strings;
  struct capability cap;
  struct remote remote;
  struct vol_state vs;
  struct csi_status undo;
  int r;

  (void) call; (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || require_path (req->staging_target_path, "staging_target_path", st)
      || parse_capability (req->volume_capability, &cap, st)
      || parse_remote (req, &remote, &strings, st))
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
  if (attach_and_mount (req, &vs, &cap, &remote, st) == GRPC_STATUS_OK) {
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
