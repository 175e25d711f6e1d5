/* The CSI Node service's calls on a staged volume: how full it is
 * (NodeGetVolumeStats) and growing it after the storage side grew
 * (NodeExpandVolume). */
#include <config.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "csi-node.h"
#include "csi-request.h"
#include "log.h"
#include "node-attach.h"
#include "node-util.h"

static Csi__V1__VolumeUsage *
new_usage (struct csi_call *call, Csi__V1__VolumeUsage__Unit unit,
           int64_t total, int64_t used, int64_t available)
{
  Csi__V1__VolumeUsage *u = call_alloc (call, sizeof *u);

  csi__v1__volume_usage__init (u);
  u->unit = unit;
  u->total = total;
  u->used = used;
  u->available = available;
  return u;
}

static grpc_status_code
filesystem_usage (struct csi_call *call, const char *path,
                  Csi__V1__NodeGetVolumeStatsResponse *resp, struct csi_status *st)
{
  struct statvfs sv;
  int64_t unit;

  if (statvfs (path, &sv) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "statvfs %s failed", path);
  unit = (int64_t) sv.f_frsize;
  resp->usage = call_alloc (call, 2 * sizeof *resp->usage);
  resp->usage[0] = new_usage (call, CSI__V1__VOLUME_USAGE__UNIT__BYTES,
                              (int64_t) sv.f_blocks * unit,
                              (int64_t) (sv.f_blocks - sv.f_bfree) * unit,
                              (int64_t) sv.f_bavail * unit);
  resp->usage[1] = new_usage (call, CSI__V1__VOLUME_USAGE__UNIT__INODES,
                              (int64_t) sv.f_files,
                              (int64_t) (sv.f_files - sv.f_ffree),
                              (int64_t) sv.f_favail);
  resp->n_usage = 2;
  return GRPC_STATUS_OK;
}

static grpc_status_code
block_usage (struct csi_call *call, const struct vol_state *vs,
             Csi__V1__NodeGetVolumeStatsResponse *resp, struct csi_status *st)
{
  int64_t size = device_size (vs->device);

  if (size < 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot read the size of %s", vs->device);
  resp->usage = call_alloc (call, sizeof *resp->usage);
  resp->usage[0] = new_usage (call, CSI__V1__VOLUME_USAGE__UNIT__BYTES, size, 0, 0);
  resp->n_usage = 1;
  return GRPC_STATUS_OK;
}

grpc_status_code
node_get_volume_stats (struct csi_call *call, const ProtobufCMessage *msg,
                       ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__NodeGetVolumeStatsRequest *req = (const void *) msg;
  Csi__V1__NodeGetVolumeStatsResponse *resp = (void *) response;
  char path[PATH_MAX];
  struct vol_state vs;

  if (require_field (req->volume_id, "volume_id", st)
      || require_field (req->volume_path, "volume_path", st))
    return st->code;
  if (load_volume_at (req->volume_id, req->volume_path, &vs, path, sizeof path, st)
      == GRPC_STATUS_OK) {
    if (vs.block)
      block_usage (call, &vs, resp, st);
    else if (!mount_point (path, NULL, 0))  /* statvfs would measure the parent */
      csi_fail (st, GRPC_STATUS_NOT_FOUND, "volume %s is not mounted at %s",
                req->volume_id, path);
    else
      filesystem_usage (call, path, resp, st);
  }
  state_free (&vs);
  return st->code;
}

/* Grow the filesystem to fill the device, online: resize2fs takes the
 * device, xfs_growfs the mount point. */
static grpc_status_code
grow_filesystem (const struct vol_state *vs, struct csi_status *st)
{
  char fstype[32], out[256];
  int r;

  if (!mount_point (vs->staging_path, fstype, sizeof fstype))
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION, "%s is not mounted",
                     vs->staging_path);
  r = strcmp (fstype, "xfs") == 0
    ? run (out, sizeof out, "xfs_growfs", vs->staging_path, NULL)
    : run (out, sizeof out, "resize2fs", vs->device, NULL);
  if (r != 0)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "growing %s: %s", fstype, out);
  return GRPC_STATUS_OK;
}

static grpc_status_code
check_capacity (const Csi__V1__CapacityRange *range, int64_t size, struct csi_status *st)
{
  if (range && range->required_bytes > size)
    return csi_fail (st, GRPC_STATUS_OUT_OF_RANGE,
                     "the volume has %lld bytes, %lld were asked for: grow it on the "
                     "storage host first (sealvol volume resize)",
                     (long long) size, (long long) range->required_bytes);
  if (range && range->limit_bytes > 0 && range->limit_bytes < size)
    return csi_fail (st, GRPC_STATUS_OUT_OF_RANGE,
                     "the volume has %lld bytes, more than the limit of %lld",
                     (long long) size, (long long) range->limit_bytes);
  return GRPC_STATUS_OK;
}

static grpc_status_code
expand (const Csi__V1__NodeExpandVolumeRequest *req, struct vol_state *vs,
        int64_t *size, struct csi_status *st)
{
  int64_t want = req->capacity_range ? req->capacity_range->required_bytes : 0;

  if (req->volume_capability
      && (req->volume_capability->access_type_case
          == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK) != vs->block)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "volume_capability does not match how %s is staged", req->volume_id);
  *size = device_size (vs->device);
  /* Already as big as asked: nothing to ask the storage host. */
  if ((want == 0 || *size < want)
      && attach_refresh_size (vs, want, size, st) != GRPC_STATUS_OK)
    return st->code;
  if (check_capacity (req->capacity_range, *size, st) != GRPC_STATUS_OK
      || (!vs->block && grow_filesystem (vs, st) != GRPC_STATUS_OK))
    return st->code;
  return GRPC_STATUS_OK;
}

grpc_status_code
node_expand (struct csi_call *call, const ProtobufCMessage *msg,
             ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__NodeExpandVolumeRequest *req = (const void *) msg;
  Csi__V1__NodeExpandVolumeResponse *resp = (void *) response;
  char path[PATH_MAX];
  struct vol_state vs;
  int64_t size;

  (void) call;
  if (require_field (req->volume_id, "volume_id", st)
      || require_field (req->volume_path, "volume_path", st))
    return st->code;
  if (load_volume_at (req->volume_id, req->volume_path, &vs, path, sizeof path, st)
      == GRPC_STATUS_OK
      && expand (req, &vs, &size, st) == GRPC_STATUS_OK) {
    resp->capacity_bytes = size;
    log_info ("%s is now %lld bytes", req->volume_id, (long long) size);
  }
  state_free (&vs);
  return st->code;
}
