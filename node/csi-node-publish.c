/* The CSI Node service: publish and unpublish a staged volume for a pod.
 *
 * The plugin only ever unmounts or removes a target it has a record of,
 * and records a publication before it mounts anything: a crafted
 * NodeUnpublishVolume cannot make it touch another path, and a crash
 * between the mount and the record cannot leave a mount nobody knows.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "csi-node.h"
#include "csi-request.h"
#include "log.h"
#include "node-attach.h"
#include "node-util.h"

static grpc_status_code
check_publish (const Csi__V1__NodePublishVolumeRequest *req, const char *staging,
               const char *target, struct vol_state *vs, const struct capability *cap,
               bool readonly, struct csi_status *st)
{
  struct publication *p = state_find_publication (vs, target);

  if (!vs->staged || strcmp (vs->staging_path, staging) != 0)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s is not staged at %s", req->volume_id, staging);
  if (p && (strcmp (p->capability, cap->fingerprint) != 0 || p->readonly != readonly))
    return csi_fail (st, GRPC_STATUS_ALREADY_EXISTS,
                     "volume %s is published at %s with another capability or "
                     "read-only flag", req->volume_id, target);
  if (cap->block != vs->block || cap->readonly_mode != vs->readonly)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s was staged with another capability", req->volume_id);
  if (p == NULL && vs->n_pubs > 0 && !vs->multi_node)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "volume %s is already published at %s and its access mode is "
                     "single-node", req->volume_id, vs->pubs[0].target);
  if (p == NULL && vs->n_pubs == MAX_PUBLICATIONS)
    return csi_fail (st, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many publications");
  return GRPC_STATUS_OK;
}

/* The mount flags a bind mount must keep when it is remounted read-only:
 * MS_REMOUNT resets every flag it is not given, and a read-only view
 * that dropped nosuid or nodev would give the pod more, not less. */
static unsigned long
kept_flags (const char *source)
{
  static const struct { unsigned long st, ms; } map[] = {
    { ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV }, { ST_NOEXEC, MS_NOEXEC },
    { ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
    { ST_RELATIME, MS_RELATIME },
  };
  struct statvfs sv;
  unsigned long flags = 0;

  if (statvfs (source, &sv) == -1)
    return MS_NOSUID | MS_NODEV;          /* the safe side */
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (sv.f_flag & map[i].st)
      flags |= map[i].ms;
  return flags;
}

/* mount(2) on TARGET through an O_PATH descriptor opened without
 * following a symlink, so that a link swapped in cannot redirect it. */
static int
mount_on (const char *source, const char *target, unsigned long flags)
{
  char fdpath[64];
  int fd = open (target, O_PATH | O_NOFOLLOW | O_CLOEXEC), r;

  if (fd == -1)
    return -1;
  snprintf (fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
  r = mount (source, fdpath, NULL, flags, NULL);
  close (fd);
  return r;
}

/* Bind SOURCE on TARGET with FLAGS (MS_RDONLY, MS_NOSUID, ...) on top
 * of those SOURCE has.  A bind mount takes flags only on a remount,
 * which must name the new mount, so the target is opened again; the
 * flags are set there rather than trusted to be copied from SOURCE. */
static grpc_status_code
bind_mount (const char *source, const char *target, unsigned long flags,
            struct csi_status *st)
{
  if (mount_on (source, target, MS_BIND) == -1
      || mount_on (NULL, target, MS_REMOUNT | MS_BIND | flags | kept_flags (source)) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot bind-mount on %s: %s",
                     target, strerror (errno));
  return GRPC_STATUS_OK;
}

/* Make the target: a directory for mount access, an empty file for
 * block access.  One that exists must be of that kind, not a symlink. */
static grpc_status_code
make_target (const char *target, bool block, bool *created, struct csi_status *st)
{
  struct stat sb;
  int fd;

  *created = false;
  if (lstat (target, &sb) == 0) {
    if (block ? S_ISREG (sb.st_mode) : S_ISDIR (sb.st_mode))
      return GRPC_STATUS_OK;
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "target_path exists and is not %s", block ? "a regular file"
                     : "a directory");
  }
  if (errno != ENOENT)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", target, strerror (errno));
  if (!block && mkdir (target, 0750) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", target, strerror (errno));
  if (block) {
    fd = open (target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd == -1 || close (fd) == -1)
      return csi_fail (st, GRPC_STATUS_INTERNAL, "%s: %s", target, strerror (errno));
  }
  *created = true;
  return GRPC_STATUS_OK;
}

/* Block access: the device bound on the target file, nosuid but not
 * nodev (the pod must be able to open the device).  A read-only mount
 * does not stop writes to a device node, so a read-only publish of a
 * writable volume gets a read-only loop device over it. */
static grpc_status_code
publish_block (struct vol_state *vs, struct publication *p, struct csi_status *st)
{
  char ro_dev[64];

  if (p->readonly && !vs->readonly && p->ro_device == NULL) {
    if (loop_attach (vs->device, true, ro_dev, sizeof ro_dev, st) != GRPC_STATUS_OK)
      return st->code;
    state_set (&p->ro_device, ro_dev);
    state_save (vs);
  }
  return bind_mount (p->ro_device ? p->ro_device : vs->device, p->target, MS_NOSUID, st);
}

static grpc_status_code
publish (struct vol_state *vs, struct publication *p, bool *created,
         struct csi_status *st)
{
  if (make_target (p->target, vs->block, created, st) != GRPC_STATUS_OK)
    return st->code;
  if (vs->block)
    return publish_block (vs, p, st);
  /* A tenant's files must not give a pod root (a setuid-root binary)
   * or a host device (a device node made elsewhere). */
  return bind_mount (vs->staging_path, p->target,
                     MS_NOSUID | MS_NODEV | (p->readonly ? MS_RDONLY : 0), st);
}

/* Remove what publish made at the target: the mount, then (if asked)
 * the empty directory or file under it, then a read-only loop device. */
static grpc_status_code
undo_publish (struct publication *p, bool remove_target, struct csi_status *st)
{
  struct stat sb;

  if (unmount_if_mounted (p->target) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot unmount %s: %s", p->target,
                     strerror (errno));
  if (remove_target && lstat (p->target, &sb) == 0) {
    if (S_ISDIR (sb.st_mode) ? rmdir (p->target) == -1
        : S_ISREG (sb.st_mode) && sb.st_size == 0 && unlink (p->target) == -1)
      return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot remove %s: %s", p->target,
                       strerror (errno));
  }
  if (p->ro_device)
    return loop_detach (p->ro_device, st);
  return GRPC_STATUS_OK;
}

grpc_status_code
unpublish (struct publication *p, struct csi_status *st)
{
  return undo_publish (p, true, st);
}

grpc_status_code
finish_lost_publications (struct vol_state *vs, struct csi_status *st)
{
  for (size_t i = vs->n_pubs; i-- > 0;) {
    if (mount_point (vs->pubs[i].target, NULL, 0))
      continue;
    if (unpublish (&vs->pubs[i], st) != GRPC_STATUS_OK)
      return st->code;
    state_drop_publication (vs, &vs->pubs[i]);
  }
  return GRPC_STATUS_OK;
}

/* Record the publication first (see the top of this file), then make
 * it; a failure undoes it and drops the record. */
static grpc_status_code
add_publication (struct vol_state *vs, const char *target, const struct capability *cap,
                 bool readonly, struct csi_status *st)
{
  struct publication *p = &vs->pubs[vs->n_pubs++];
  struct csi_status undo;
  bool created = false;

  state_set (&p->target, target);
  state_set (&p->capability, cap->fingerprint);
  p->readonly = readonly;
  if (state_save (vs) == -1)
    csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
  else if (publish (vs, p, &created, st) == GRPC_STATUS_OK)
    return GRPC_STATUS_OK;
  /* Only what this call made goes: a directory that was there stays. */
  if (undo_publish (p, created, &undo) == GRPC_STATUS_OK) {
    state_drop_publication (vs, p);
    state_save (vs);
  }
  return st->code;
}

grpc_status_code
node_publish (struct csi_call *call, const ProtobufCMessage *msg,
              ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodePublishVolumeRequest *req = (const void *) msg;
  struct capability *cap = call_alloc (call, sizeof *cap);
  char target[PATH_MAX], staging[PATH_MAX];
  struct publication *p;
  struct vol_state vs;
  bool readonly;

  (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || request_path (req->target_path, "target_path", true, target, sizeof target, st)
      || parse_capability (req->volume_capability, cap, st))
    return st->code;
  if (req->staging_target_path[0] == '\0')
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "staging_target_path is required: this plugin stages volumes");
  if (request_path (req->staging_target_path, "staging_target_path", false,
                    staging, sizeof staging, st) != GRPC_STATUS_OK)
    return st->code;
  if (state_load (req->volume_id, &vs) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  readonly = req->readonly || vs.readonly;
  if (check_publish (req, staging, target, &vs, cap, readonly, st) == GRPC_STATUS_OK) {
    p = state_find_publication (&vs, target);
    if (p == NULL) {
      if (add_publication (&vs, target, cap, readonly, st) == GRPC_STATUS_OK)
        log_info ("published %s at %s%s", req->volume_id, target, readonly ? " (read-only)" : "");
    }
    else if (!mount_point (target, NULL, 0)) {
      bool created;                     /* recorded, but the mount is gone */

      publish (&vs, p, &created, st);
    }
  }
  state_free (&vs);
  return st->code;
}

grpc_status_code
node_unpublish (struct csi_call *call, const ProtobufCMessage *msg,
                ProtobufCMessage *resp, struct csi_status *st)
{
  const Csi__V1__NodeUnpublishVolumeRequest *req = (const void *) msg;
  char target[PATH_MAX];
  struct publication *p;
  struct vol_state vs;
  int r;

  (void) call; (void) resp;
  if (require_field (req->volume_id, "volume_id", st)
      || request_path (req->target_path, "target_path", false, target, sizeof target, st))
    return st->code;
  if ((r = state_load (req->volume_id, &vs)) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the state of %s", req->volume_id);
  /* Not ours (never published, or already unpublished): nothing to do,
   * and nothing there to touch. */
  p = r == 1 ? state_find_publication (&vs, target) : NULL;
  if (p && unpublish (p, st) == GRPC_STATUS_OK) {
    state_drop_publication (&vs, p);
    if (state_save (&vs) == -1)
      csi_fail (st, GRPC_STATUS_INTERNAL, "cannot save state: %s", strerror (errno));
    else
      log_info ("unpublished %s from %s", req->volume_id, target);
  }
  state_free (&vs);
  return st->code;
}
