/* The CSI Identity service both sealvol plugins serve
 * (csi/csi-identity.c): one name, one version, one set of plugin
 * capabilities (the spec wants every instance of a plugin to report the
 * same: CONTROLLER_SERVICE and VOLUME_ACCESSIBILITY_CONSTRAINTS, also
 * from the node plugin, whose socket still answers every Controller
 * call UNIMPLEMENTED), and each program's own readiness. */
#ifndef SEALVOL_CSI_IDENTITY_H
#define SEALVOL_CSI_IDENTITY_H

#include <stdbool.h>

#include "csi-grpc.h"
#include "csi.pb-c.h"

#define CSI_PLUGIN_NAME "csi.sealvol.org"

/* The name GetPluginInfo reports: $SEALVOL_CSI_DRIVER_NAME, else
 * CSI_PLUGIN_NAME.  A second name lets a second controller (one
 * tenant's, docs/kubernetes.md) and its node plugin run beside the
 * cluster-wide pair without the provisioners taking each other's PVCs.
 * -1 (errno EINVAL) when the variable is not a CSI plugin name. */
int csi_plugin_name_init (void);
#define CSI_DRIVER_NAME_RULE "SEALVOL_CSI_DRIVER_NAME must be 1-63 characters " \
  "of [A-Za-z0-9.-], a letter or digit at both ends"
const char *csi_plugin_name (void);

/* Ready (Probe) when this returns OK; else the code and message it
 * filled in.  NULL: always ready. */
extern grpc_status_code (*csi_plugin_ready) (struct csi_status *st);

grpc_status_code csi_get_plugin_info (struct csi_call *, const ProtobufCMessage *,
                                      ProtobufCMessage *, struct csi_status *);
grpc_status_code csi_get_plugin_capabilities (struct csi_call *,
                                              const ProtobufCMessage *,
                                              ProtobufCMessage *, struct csi_status *);
grpc_status_code csi_probe (struct csi_call *, const ProtobufCMessage *,
                            ProtobufCMessage *, struct csi_status *);

/* The three entries of a method table. */
#define CSI_IDENTITY_METHODS                                            \
  CSI_METHOD ("Identity", "GetPluginInfo", get_plugin_info, csi_get_plugin_info), \
  CSI_METHOD ("Identity", "GetPluginCapabilities", get_plugin_capabilities, \
              csi_get_plugin_capabilities),                             \
  CSI_METHOD ("Identity", "Probe", probe, csi_probe)

#endif
