/* The CSI Identity service (csi/csi-identity.h). */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "csi-identity.h"

static const Csi__V1__PluginCapability__Service__Type services[] = {
  CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__CONTROLLER_SERVICE,
  CSI__V1__PLUGIN_CAPABILITY__SERVICE__TYPE__VOLUME_ACCESSIBILITY_CONSTRAINTS,
};
grpc_status_code (*csi_plugin_ready) (struct csi_status *st);
static const char *plugin_name = CSI_PLUGIN_NAME;

/* The spec's rule: at most 63 characters, alphanumeric at both ends,
 * '-', '.' and alphanumerics inside. */
static bool
plugin_name_ok (const char *v)
{
  size_t n = strlen (v);

  if (n == 0 || n > 63 || !isalnum ((unsigned char) v[0])
      || !isalnum ((unsigned char) v[n - 1]))
    return false;
  return strspn (v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "0123456789-.") == n;
}

int
csi_plugin_name_init (void)
{
  const char *v = getenv ("SEALVOL_CSI_DRIVER_NAME");

  if (v == NULL || *v == '\0')
    return 0;
  if (!plugin_name_ok (v)) {
    errno = EINVAL;
    return -1;
  }
  plugin_name = v;
  return 0;
}

const char *
csi_plugin_name (void)
{
  return plugin_name;
}

grpc_status_code
csi_get_plugin_info (struct csi_call *call, const ProtobufCMessage *req,
                     ProtobufCMessage *response, struct csi_status *st)
{
  Csi__V1__GetPluginInfoResponse *resp = (void *) response;

  (void) call; (void) req; (void) st;
  resp->name = (char *) plugin_name;
  resp->vendor_version = (char *) PACKAGE_VERSION;
  return GRPC_STATUS_OK;
}

grpc_status_code
csi_get_plugin_capabilities (struct csi_call *call, const ProtobufCMessage *req,
                             ProtobufCMessage *response, struct csi_status *st)
{
  Csi__V1__GetPluginCapabilitiesResponse *resp = (void *) response;
  size_t n = sizeof services / sizeof services[0];
  Csi__V1__PluginCapability *c;

  (void) req; (void) st;
  resp->capabilities = call_alloc (call, (n + 1) * sizeof *resp->capabilities);
  for (size_t i = 0; i < n; i++) {
    c = call_alloc (call, sizeof *c);
    csi__v1__plugin_capability__init (c);
    c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_SERVICE;
    c->service = call_alloc (call, sizeof *c->service);
    csi__v1__plugin_capability__service__init (c->service);
    c->service->type = services[i];
    resp->capabilities[i] = c;
  }
  /* A volume grows while it is published: the storage host resizes a
   * served volume, and NodeExpandVolume grows a mounted file system
   * (xfs_growfs, resize2fs) or a block device in place. */
  c = call_alloc (call, sizeof *c);
  csi__v1__plugin_capability__init (c);
  c->type_case = CSI__V1__PLUGIN_CAPABILITY__TYPE_VOLUME_EXPANSION;
  c->volume_expansion = call_alloc (call, sizeof *c->volume_expansion);
  csi__v1__plugin_capability__volume_expansion__init (c->volume_expansion);
  c->volume_expansion->type =
    CSI__V1__PLUGIN_CAPABILITY__VOLUME_EXPANSION__TYPE__ONLINE;
  resp->capabilities[n] = c;
  resp->n_capabilities = n + 1;
  return GRPC_STATUS_OK;
}

grpc_status_code
csi_probe (struct csi_call *call, const ProtobufCMessage *req,
           ProtobufCMessage *response, struct csi_status *st)
{
  Csi__V1__ProbeResponse *resp = (void *) response;

  (void) req;
  if (csi_plugin_ready && csi_plugin_ready (st) != GRPC_STATUS_OK)
    return st->code;
  resp->ready = call_alloc (call, sizeof *resp->ready);
  google__protobuf__bool_value__init (resp->ready);
  resp->ready->value = true;
  return GRPC_STATUS_OK;
}
