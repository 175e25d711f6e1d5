/* Checking CSI requests (node/csi-request.c). */
#ifndef SEALVOL_CSI_REQUEST_H
#define SEALVOL_CSI_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "csi-fields.h"
#include "csi-grpc.h"
#include "csi.pb-c.h"
#include "node-attach.h"

/* The checks return GRPC_STATUS_OK (0) or fill ST and return its code,
 * so that they chain with ||. */

/* A required field (csi-fields.h) that is an absolute path, whose clean form (see csi-request.c) goes to
 * OUT. */
grpc_status_code require_path (const char *value, const char *field,
                               char *out, size_t len, struct csi_status *st);
/* A path field of a request, checked and in the spelling the mount table
 * uses (parent resolved).  If MUST_RESOLVE is false and the parent does
 * not exist, the clean form is used: the path is only looked up. */
grpc_status_code request_path (const char *value, const char *field,
                               bool must_resolve, char *out, size_t len,
                               struct csi_status *st);

/* What a VolumeCapability asks for, and a fingerprint to compare two of
 * them (mount flags included: they are compared, never printed). */
#define MOUNT_OPTIONS_MAX 4096   /* the spec's bound on mount_flags */

struct capability {
  bool block;
  const char *fs_type;          /* mount: "ext4" or "xfs" */
  bool fs_type_given;
  bool readonly_mode;
  bool multi_node;
  char mount_options[MOUNT_OPTIONS_MAX];  /* mount_flags, checked, joined by ',' */
  char fingerprint[MOUNT_OPTIONS_MAX + 64];
};

grpc_status_code parse_capability (const Csi__V1__VolumeCapability *c,
                                   struct capability *cap, struct csi_status *st);

/* Copies of the request's strings that parse_remote cuts up. */
struct remote_strings {
  char host[256];
  char user[64];
};

/* volume_context and secrets -> where the volume is and how to prove who
 * we are (secrets_dir and readonly are left for the caller). */
grpc_status_code parse_remote (const Csi__V1__NodeStageVolumeRequest *req,
                               struct remote *r, struct remote_strings *buf,
                               struct csi_status *st);

#endif
