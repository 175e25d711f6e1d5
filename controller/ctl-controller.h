/* The CSI Controller service of sealvol-csi-controller: the volume calls
 * (controller/ctl-volume.c), the listing calls (ctl-list.c), and what
 * they share. */
#ifndef SEALVOL_CTL_CONTROLLER_H
#define SEALVOL_CTL_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#include "csi-grpc.h"
#include "csi.pb-c.h"
#include "ctl-config.h"
#include "ctl-names.h"

grpc_status_code ctl_create_volume (struct csi_call *, const ProtobufCMessage *,
                                    ProtobufCMessage *, struct csi_status *);
grpc_status_code ctl_delete_volume (struct csi_call *, const ProtobufCMessage *,
                                    ProtobufCMessage *, struct csi_status *);
grpc_status_code ctl_expand_volume (struct csi_call *, const ProtobufCMessage *,
                                    ProtobufCMessage *, struct csi_status *);
grpc_status_code ctl_validate_capabilities (struct csi_call *, const ProtobufCMessage *,
                                            ProtobufCMessage *, struct csi_status *);
grpc_status_code ctl_list_volumes (struct csi_call *, const ProtobufCMessage *,
                                   ProtobufCMessage *, struct csi_status *);
grpc_status_code ctl_get_capacity (struct csi_call *, const ProtobufCMessage *,
                                   ProtobufCMessage *, struct csi_status *);
grpc_status_code ctl_get_capabilities (struct csi_call *, const ProtobufCMessage *,
                                       ProtobufCMessage *, struct csi_status *);

/* The token for host H: the secret "access-token.H", else
 * "access-token", else (if OWN, and the call has no secrets at all) the
 * controller's own from the configuration; NULL if none (or one that is
 * not a token).  Creating and deleting take the tenant's token only. */
const char *ctl_token (const struct ctl_host *h, size_t n_secrets, void *secrets,
                       bool own);

/* A volume object of the API as a CSI Volume on host H, its strings
 * allocated with CALL. */
grpc_status_code ctl_csi_volume (struct csi_call *call, const struct ctl_host *h,
                                 json_object *vol, Csi__V1__Volume **out,
                                 struct csi_status *st);

/* A JSON member: the string, or NULL; the integer (false if absent). */
const char *ctl_json_string (json_object *o, const char *key);
bool ctl_json_int (json_object *o, const char *key, int64_t *v);

#endif
