/* The CSI Node service: stage and unstage (publish is in
 * csi-node-publish.c, the usage calls in csi-node-usage.c).
 *
 * Every call is idempotent: it loads the volume's state, compares what
 * is asked with what was done, and does only what is missing.  The state
 * is saved before each step that creates something (an attach program, a
 * loop device, a mount), so a call that fails half way, or a plugin
 * killed half way, leaves a record from which the next call undoes it.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi-node.h"
#include "csi-request.h"
#include "fsutil.h"
#include "log.h"
#include "node-attach.h"
#include "node-util.h"

/* ---- the volume's private directory ---- */

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

    /* Not durable: the directory is on /run and gone after a reboot. */
    if (v && sv_replace_file_ex (dir, files[i][1], v, strlen (v), 0600, false) == -1)
      return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot write secret %s: %s",
                       files[i][0], strerror (errno));
  }
  return GRPC_STATUS_OK;
}

/* Remove the volume's directory, state.json last: if anything before it
 * cannot go (a FUSE file still mounted), the record stays for a retry. */
static grpc_status_code
remove_volume_dir (const struct vol_state *vs, struct csi_status *st)
{
  static const char *const files[] = {
    "disk", "attach.log", ".state.json.tmp", "state.json",
  };
  char path[STATE_PATH_MAX];

  state_path (vs, "secrets", path, sizeof path);
  if (remove_tree (path) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot remove %s: %s", path,
                     strerror (errno));
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    state_path (vs, files[i], path, sizeof path);
    if (unlink (path) == -1 && errno != ENOENT)
      return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot remove %s: %s", path,
                       strerror (errno));
  }
  if (rmdir (vs->dir) == -1 && errno != ENOENT)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot remove %s: %s", vs->dir,
                     strerror (errno));
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
  log_info ("%s: made a new %s filesystem", vs->volume_id, cap->fs_type);
  return GRPC_STATUS_OK;
}

static grpc_status_code
mount_staging (const struct vol_state *vs, const struct capability *cap,
               struct csi_status *st)
{
  char fstype[32], opts[MOUNT_OPTIONS_MAX + 32], out[256];

  if (prepare_filesystem (vs, cap, fstype, sizeof fstype, st) != GRPC_STATUS_OK)
    return st->code;
  /* nosuid,nodev: a volume's files are the tenant's, and a setuid-root
   * binary or a device node made elsewhere must not work on this node. */
  snprintf (opts, sizeof opts, "%s,nosuid,nodev%s%s", vs->readonly ? "ro" : "rw",
            cap->mount_options[0] ? "," : "", cap->mount_options);
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
  if (!vs->block && unmount_if_mounted (vs->staging_path) == -1)
    return csi_fail (st, errno == EBUSY ? GRPC_STATUS_FAILED_PRECONDITION
                     : GRPC_STATUS_INTERNAL,
                     "cannot unmount %s: %s", vs->staging_path, strerror (errno));
  if (detach_volume (vs, st) != GRPC_STATUS_OK)
    return st->code;
  return remove_volume_dir (vs, st);
}

/* Still staged as the state says: attached, and mounted for mount
 * access (nothing undid it behind our back)? */
static bool
stage_intact (const struct vol_state *vs)
{
  return attach_alive (vs) && (vs->block || mount_point (vs->staging_path, NULL, 0));
}

/* An earlier stage of this volume: fine if it matches (*RESTAGE false),
 * an error if it conflicts, or cleaned away so that the stage runs
 * again (*RESTAGE true). */
static grpc_status_code
check_earlier_stage (struct vol_state *vs, const char *staging,
                     const struct capability *cap, bool *restage,
                     struct csi_status *st)
{
  *restage = false;
  if (vs->staged && strcmp (vs->staging_path, staging) != 0)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s is already staged at %s", vs->volume_id, vs->staging_path);
  if (vs->staged && strcmp (vs->capability, cap->fingerprint) != 0)
    return csi_fail (st, GRPC_STATUS_ALREADY_EXISTS,
                     "volume %s is staged at %s with another capability",
                     vs->volume_id, staging);
  if (vs->staged && stage_intact (vs))
    return GRPC_STATUS_OK;
  if (vs->n_pubs > 0)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s lost its attachment but is still published at %s",
                     vs->volume_id, vs->pubs[0].target);
  *restage = true;
  return undo_stage (vs, st);
}

/* One volume, one attachment on this node: two volume ids naming the
 * same volume would mount one filesystem twice and corrupt it.  The
 * volume is known by the IDENTITY its server stated, not by how the
 * request spells the server (127.0.0.1 and localhost are one host); the
 * spelling is compared as well for records of a plugin that kept none. */
static grpc_status_code
volume_in_use (const struct remote *r, const char *identity, struct vol_state *vs,
               struct csi_status *st)
{
  char export[600], other[160];

  snprintf (export, sizeof export, "%s:%s/%s", r->host, r->port, r->export);
  if (state_find_other ("identity", identity, vs->volume_id, other, sizeof other)
      || state_find_other ("export", export, vs->volume_id, other, sizeof other))
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s on %s:%s (id %s) is already staged on this node as %.128s",
                     r->export, r->host, r->port, identity, other);
  state_set (&vs->export, export);
  state_set (&vs->identity, identity);
  return GRPC_STATUS_OK;
}

static grpc_status_code
attach_and_mount (const Csi__V1__NodeStageVolumeRequest *req, struct vol_state *vs,
                  const struct capability *cap, struct remote *r, struct csi_status *st)
{
  char secrets[STATE_PATH_MAX], identity[VOLUME_IDENTITY_MAX];
  int64_t size;

  if (mkdir (vs->dir, 0700) == -1 && errno != EEXIST)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", vs->dir, strerror (errno));
  state_path (vs, "secrets", secrets, sizeof secrets);
  r->secrets_dir = secrets;
  r->readonly = cap->readonly_mode;
  if (write_secrets (req, secrets, st) != GRPC_STATUS_OK
      || attach_probe (r, &size, identity, st) != GRPC_STATUS_OK
      || volume_in_use (r, identity, vs, st) != GRPC_STATUS_OK)
    return st->code;
  if (state_save (vs) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  if (attach_volume (vs, r, size, st) != GRPC_STATUS_OK)
    return st->code;
  if (state_save (vs) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  if (!cap->block && mount_staging (vs, cap, st) != GRPC_STATUS_OK)
    return st->code;
  return GRPC_STATUS_OK;
}

/* The staging path must be a real directory (the CO made it), not a
 * symlink that would carry the mount somewhere else. */
static grpc_status_code
check_staging_dir (const char *path, struct csi_status *st)
{
  struct stat sb;

  if (lstat (path, &sb) == -1 || !S_ISDIR (sb.st_mode))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "staging_target_path must be an existing directory");
  return GRPC_STATUS_OK;
}

static grpc_status_code
stage (const Csi__V1__NodeStageVolumeRequest *req, const char *staging,
       const struct capability *cap, struct remote *remote, struct csi_status *st)
{
  struct vol_state vs;
  struct csi_status undo;
  bool restage = false;
  int r;

  if ((r = state_load (req->volume_id, &vs)) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  if (r == 1 && (check_earlier_stage (&vs, staging, cap, &restage, st) != GRPC_STATUS_OK
                 || !restage)) {
    state_free (&vs);
    return st->code;
  }
  if (restage) {
    state_free (&vs);
    state_load (req->volume_id, &vs);   /* cleaned away: start afresh */
  }
  if (mount_point (staging, NULL, 0)) {
    state_free (&vs);
    return csi_fail (st, GRPC_STATUS_ALREADY_EXISTS, "%s is already a mount point", staging);
  }
  state_set (&vs.staging_path, staging);
  state_set (&vs.capability, cap->fingerprint);
  vs.block = cap->block;
  vs.readonly = cap->readonly_mode;
  vs.multi_node = cap->multi_node;
  vs.staged = false;
  if (attach_and_mount (req, &vs, cap, remote, st) == GRPC_STATUS_OK) {
    vs.staged = true;
    if (state_save (&vs) == -1)
      csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  }
  if (st->code != GRPC_STATUS_OK)
    undo_stage (&vs, &undo);
  else
    log_info ("staged %s at %s (%s)", req->volume_id, staging, vs.device);
  state_free (&vs);
  return st->code;
}

grpc_status_code
node_stage (struct csi_call *call, const ProtobufCMessage *msg,
            ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodeStageVolumeRequest *req = (const void *) msg;
  /* The big pieces live with the call, not on the stack. */
  struct capability *cap = call_alloc (call, sizeof *cap);
  struct remote_strings *strings = call_alloc (call, sizeof *strings);
  char *staging = call_alloc (call, PATH_MAX);
  struct remote remote;

  (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || request_path (req->staging_target_path, "staging_target_path", true,
                       staging, PATH_MAX, st)
      || parse_capability (req->volume_capability, cap, st)
      || parse_remote (req, &remote, strings, st)
      || check_staging_dir (staging, st))
    return st->code;
  return stage (req, staging, cap, &remote, st);
}

/* ---- unstage ---- */

grpc_status_code
node_unstage (struct csi_call *call, const ProtobufCMessage *msg,
              ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodeUnstageVolumeRequest *req = (const void *) msg;
  char staging[PATH_MAX];
  struct vol_state vs;
  int r;

  (void) call; (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || request_path (req->staging_target_path, "staging_target_path", false,
                       staging, sizeof staging, st))
    return st->code;
  r = state_load (req->volume_id, &vs);
  if (r == -1)
    csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  else if (r == 1 && strcmp (vs.staging_path, staging) == 0) {
    if (finish_lost_publications (&vs, st) == GRPC_STATUS_OK) {
      if (vs.n_pubs > 0)
        csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION, "volume %s is still published at %s",
                  req->volume_id, vs.pubs[0].target);
      else if (undo_stage (&vs, st) == GRPC_STATUS_OK)
        log_info ("unstaged %s", req->volume_id);
    }
  }
  state_free (&vs);
  return st->code;
}

/* ---- shared with the usage calls ---- */

grpc_status_code
load_volume_at (const char *volume_id, const char *volume_path, struct vol_state *vs,
                char *path, size_t len, struct csi_status *st)
{
  int r = state_load (volume_id, vs);

  if (r == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", volume_id);
  if (r == 0 || !vs->staged)
    return csi_fail (st, GRPC_STATUS_NOT_FOUND, "volume %s is not staged on this node",
                     volume_id);
  /* A relative or unclean path cannot be where the volume is. */
  if (request_path (volume_path, "volume_path", false, path, len, st) != GRPC_STATUS_OK
      || (strcmp (path, vs->staging_path) != 0 && state_find_publication (vs, path) == NULL))
    return csi_fail (st, GRPC_STATUS_NOT_FOUND,
                     "volume %s is neither staged nor published at %s", volume_id,
                     volume_path);
  return GRPC_STATUS_OK;
}
