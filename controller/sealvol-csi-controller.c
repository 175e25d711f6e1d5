/* sealvol-csi-controller: the CSI Identity and Controller services on
 * $CSI_ENDPOINT, in front of the storage hosts' control APIs.
 *
 *   CSI_ENDPOINT=unix:///PATH.sock sealvol-csi-controller --config FILE
 *
 * FILE (controller/ctl-config.h, sealvol-csi-controller(8)) names each
 * storage host, its API URL and the CA that verifies it.  A
 * misconfigured controller exits at once with status 2.
 */
#include <config.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csi-grpc.h"
#include "csi-identity.h"
#include "ctl-api.h"
#include "ctl-controller.h"
#include "log.h"

/* Calls served at once: a slow or dead storage host holds one of them
 * for at most its timeout, and the others go on. */
#define THREADS 4

static const struct csi_method methods[] = {
  CSI_IDENTITY_METHODS,
  CSI_METHOD ("Controller", "CreateVolume", create_volume, ctl_create_volume),
  CSI_METHOD ("Controller", "DeleteVolume", delete_volume, ctl_delete_volume),
  CSI_METHOD ("Controller", "ValidateVolumeCapabilities", validate_volume_capabilities,
              ctl_validate_capabilities),
  CSI_METHOD ("Controller", "ListVolumes", list_volumes, ctl_list_volumes),
  CSI_METHOD ("Controller", "GetCapacity", get_capacity, ctl_get_capacity),
  CSI_METHOD ("Controller", "ControllerGetCapabilities", controller_get_capabilities,
              ctl_get_capabilities),
  CSI_METHOD ("Controller", "ControllerExpandVolume", controller_expand_volume,
              ctl_expand_volume),
};

static int
usage (FILE *f, int status)
{
  fprintf (f, "usage: CSI_ENDPOINT=unix:///PATH.sock sealvol-csi-controller --config FILE\n");
  return status;
}

int
main (int argc, char **argv)
{
  const char *endpoint = getenv ("CSI_ENDPOINT");
  int r;

  if (argc == 2 && strcmp (argv[1], "--help") == 0)
    return usage (stdout, 0);
  if (argc != 3 || strcmp (argv[1], "--config") != 0)
    return usage (stderr, 2);
  if (sv_log_init ("sealvol-csi-controller") == -1) {
    log_error ("SEALVOL_LOG_LEVEL must be error, warning, info or debug: %s",
               getenv ("SEALVOL_LOG_LEVEL"));
    return 2;
  }
  if (csi_plugin_name_init () == -1) {
    log_error ("%s: %s", CSI_DRIVER_NAME_RULE, getenv ("SEALVOL_CSI_DRIVER_NAME"));
    return 2;
  }
  if (endpoint == NULL || *endpoint == '\0') {
    log_error ("CSI_ENDPOINT is not set");
    return 2;
  }
  if (ctl_config_load (argv[2], &ctl_cfg) == -1)
    return 2;
  if (ctl_api_init () == -1) {
    log_error ("libcurl would not initialise");
    return 1;
  }
  r = csi_serve (endpoint, methods, sizeof methods / sizeof methods[0], THREADS);
  /* _exit: gRPC may still have threads for clients that did not hang up. */
  fflush (NULL);
  _exit (r == 0 ? 0 : 1);
}
