/* The CSI Node service's handlers (node/csi-node.c, csi-node-publish.c,
 * csi-node-usage.c) and the helpers they share. */
#ifndef SEALVOL_CSI_NODE_H
#define SEALVOL_CSI_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "csi-grpc.h"
#include "csi.pb-c.h"
#include "node-state.h"

grpc_status_code node_stage (struct csi_call *, const ProtobufCMessage *,
                             ProtobufCMessage *, struct csi_status *);
grpc_status_code node_unstage (struct csi_call *, const ProtobufCMessage *,
                               ProtobufCMessage *, struct csi_status *);
grpc_status_code node_publish (struct csi_call *, const ProtobufCMessage *,
                               ProtobufCMessage *, struct csi_status *);
grpc_status_code node_unpublish (struct csi_call *, const ProtobufCMessage *,
                                 ProtobufCMessage *, struct csi_status *);
grpc_status_code node_get_volume_stats (struct csi_call *, const ProtobufCMessage *,
                                        ProtobufCMessage *, struct csi_status *);
grpc_status_code node_expand (struct csi_call *, const ProtobufCMessage *,
                              ProtobufCMessage *, struct csi_status *);

/* Undo one publication (not its record). */
grpc_status_code unpublish (struct publication *p, struct csi_status *st);

/* Undo and forget the publications whose mount is gone (unmounted
 * behind the plugin's back). */
grpc_status_code finish_lost_publications (struct vol_state *vs,
                                           struct csi_status *st);

/* The staged state of VOLUME_ID, where VOLUME_PATH must be its staging
 * path or one of its targets (its clean spelling goes to PATH):
 * NOT_FOUND otherwise (GetVolumeStats and ExpandVolume). */
grpc_status_code load_volume_at (const char *volume_id, const char *volume_path,
                                 struct vol_state *vs, char *path, size_t len,
                                 struct csi_status *st);

#endif
