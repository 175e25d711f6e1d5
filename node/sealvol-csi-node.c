/* sealvol-csi-node: the CSI Identity and Node services on $CSI_ENDPOINT.
 *
 * Configuration comes from the environment only, as the CSI spec asks
 * (see docs/csi-node.md and sealvol-csi-node(8)).  A misconfigured
 * plugin exits at once with status 2.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csi-grpc.h"
#include "csi-identity.h"
#include "csi-node.h"
#include "csi-topology.h"
#include "log.h"
#include "node-attach.h"
#include "report.h"

static char node_id[257];
static char topology_host[64];

/* ---- Identity ---- */

/* Ready when the tools the configured attach path needs are here. */
static grpc_status_code
node_ready (struct csi_status *st)
{
  if (attach_config.mode != ATTACH_NBD && access ("/dev/fuse", R_OK | W_OK) == -1)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION, "/dev/fuse: %s", strerror (errno));
  if (access (state_root, W_OK) == -1)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION, "%s: %s", state_root,
                     strerror (errno));
  return GRPC_STATUS_OK;
}

/* ---- Node: what it can do and where it is ---- */

static grpc_status_code
node_get_capabilities (struct csi_call *call, const ProtobufCMessage *req,
                       ProtobufCMessage *response, struct csi_status *st)
{
  static const Csi__V1__NodeServiceCapability__RPC__Type types[] = {
    CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__STAGE_UNSTAGE_VOLUME,
    CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__GET_VOLUME_STATS,
    CSI__V1__NODE_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
  };
  Csi__V1__NodeGetCapabilitiesResponse *resp = (void *) response;
  size_t n = sizeof types / sizeof types[0];

  (void) req; (void) st;
  resp->capabilities = call_alloc (call, n * sizeof *resp->capabilities);
  for (size_t i = 0; i < n; i++) {
    Csi__V1__NodeServiceCapability *c = call_alloc (call, sizeof *c);

    csi__v1__node_service_capability__init (c);
    c->type_case = CSI__V1__NODE_SERVICE_CAPABILITY__TYPE_RPC;
    c->rpc = call_alloc (call, sizeof *c->rpc);
    csi__v1__node_service_capability__rpc__init (c->rpc);
    c->rpc->type = types[i];
    resp->capabilities[i] = c;
  }
  resp->n_capabilities = n;
  return GRPC_STATUS_OK;
}

static grpc_status_code
node_get_info (struct csi_call *call, const ProtobufCMessage *req,
               ProtobufCMessage *response, struct csi_status *st)
{
  Csi__V1__NodeGetInfoResponse *resp = (void *) response;
  Csi__V1__Topology *t = call_alloc (call, sizeof *t);
  Csi__V1__Topology__SegmentsEntry *e = call_alloc (call, sizeof *e);

  (void) req; (void) st;
  resp->node_id = node_id;
  csi__v1__topology__init (t);
  csi__v1__topology__segments_entry__init (e);
  e->key = (char *) CSI_TOPOLOGY_KEY;
  e->value = topology_host;
  t->segments = call_alloc (call, sizeof *t->segments);
  t->segments[0] = e;
  t->n_segments = 1;
  resp->accessible_topology = t;
  return GRPC_STATUS_OK;
}

static const struct csi_method methods[] = {
  CSI_IDENTITY_METHODS,
  CSI_METHOD ("Node", "NodeStageVolume", node_stage_volume, node_stage),
  CSI_METHOD ("Node", "NodeUnstageVolume", node_unstage_volume, node_unstage),
  CSI_METHOD ("Node", "NodePublishVolume", node_publish_volume, node_publish),
  CSI_METHOD ("Node", "NodeUnpublishVolume", node_unpublish_volume, node_unpublish),
  CSI_METHOD ("Node", "NodeGetVolumeStats", node_get_volume_stats, node_get_volume_stats),
  CSI_METHOD ("Node", "NodeExpandVolume", node_expand_volume, node_expand),
  CSI_METHOD ("Node", "NodeGetCapabilities", node_get_capabilities, node_get_capabilities),
  CSI_METHOD ("Node", "NodeGetInfo", node_get_info, node_get_info),
};

/* ---- configuration ---- */

static int
config_error (const char *what, const char *value)
{
  log_error ("%s: %s", what, value);
  return -1;
}

/* What common/ reports (a state or secret file that cannot be written):
 * the handler that called it turns the failure into the call's status,
 * so here it is only a detail. */
static void
library_message (const char *msg)
{
  log_debug ("%s", msg);
}

/* sealvol-attach next to this program (an install or a build tree),
 * else whatever $PATH finds. */
static void
find_attach_program (void)
{
  static char path[PATH_MAX + 16];
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);

  if (getenv ("SEALVOL_ATTACH_PROGRAM")) {
    attach_config.program = getenv ("SEALVOL_ATTACH_PROGRAM");
    return;
  }
  if (n > 0) {
    self[n] = '\0';
    *strrchr (self, '/') = '\0';
    snprintf (path, sizeof path, "%s/sealvol-attach", self);
    if (access (path, X_OK) == 0)
      attach_config.program = path;
  }
}

/* The state directory holds the secrets and the records the plugin acts
 * on as root: it must be a directory of root's, not a symlink, mode 0700.
 * Its real path is what the mount table and sysfs will show. */
static int
prepare_state_root (void)
{
  static char real[STATE_DIR_MAX + 1];
  struct stat sb;
  char *r;

  if (mkdir (state_root, 0700) == -1 && errno != EEXIST)
    return config_error (state_root, strerror (errno));
  if ((r = realpath (state_root, NULL)) == NULL)
    return config_error (state_root, strerror (errno));
  if (strlen (r) > STATE_DIR_MAX) {
    free (r);
    return config_error ("the state directory's real path is too long", state_root);
  }
  strcpy (real, r);
  free (r);
  if (lstat (real, &sb) == -1 || !S_ISDIR (sb.st_mode) || sb.st_uid != 0)
    return config_error ("the state directory must be a directory owned by root", real);
  if ((sb.st_mode & 07777) != 0700 && chmod (real, 0700) == -1)
    return config_error (real, strerror (errno));
  state_root = real;
  return 0;
}

/* Where this node is: $SEALVOL_TOPOLOGY_HOST, else the host name. */
static int
read_topology (void)
{
  const char *v = getenv ("SEALVOL_TOPOLOGY_HOST");
  char host[256] = "";

  if (v == NULL || *v == '\0') {
    gethostname (host, sizeof host - 1);
    v = host;
  }
  if (csi_topology_value_ok (v) == false)
    return config_error ("SEALVOL_TOPOLOGY_HOST (or the host name) must be 1-63 "
                         "characters of [A-Za-z0-9._-], a letter or digit at both ends", v);
  strcpy (topology_host, v);
  return 0;
}

static int
read_config (void)
{
  const char *v;

  if ((v = getenv ("SEALVOL_CSI_NODE_ID")) && *v)
    snprintf (node_id, sizeof node_id, "%s", v);
  else if (gethostname (node_id, sizeof node_id - 1) == -1 || node_id[0] == '\0')
    return config_error ("no node id", "set SEALVOL_CSI_NODE_ID");
  if (read_topology () == -1)
    return -1;
  if (csi_plugin_name_init () == -1)
    return config_error (CSI_DRIVER_NAME_RULE, getenv ("SEALVOL_CSI_DRIVER_NAME"));
  if ((v = getenv ("SEALVOL_CSI_STATE_DIR")) && *v) {
    if (v[0] != '/' || strlen (v) > STATE_DIR_MAX)
      return config_error ("SEALVOL_CSI_STATE_DIR must be an absolute path "
                           "of at most 400 bytes", v);
    state_root = v;
  }
  if ((v = getenv ("SEALVOL_CSI_ATTACH")) && *v) {
    if (strcmp (v, "nbd") == 0)
      attach_config.mode = ATTACH_NBD;
    else if (strcmp (v, "fuse") == 0)
      attach_config.mode = ATTACH_FUSE;
    else if (strcmp (v, "auto") != 0)
      return config_error ("SEALVOL_CSI_ATTACH must be auto, nbd or fuse", v);
  }
  if ((v = getenv ("SEALVOL_CSI_TIMEOUT")) && *v) {
    char *end;
    long t = strtol (v, &end, 10);

    if (*end || t < 1 || t > 86400)
      return config_error ("SEALVOL_CSI_TIMEOUT must be 1..86400 seconds", v);
    attach_config.timeout = (int) t;
  }
  find_attach_program ();
  return prepare_state_root ();
}

int
main (int argc, char **argv)
{
  const char *endpoint = getenv ("CSI_ENDPOINT");
  int r;

  if (argc > 1) {
    bool help = strcmp (argv[1], "--help") == 0;

    fprintf (help ? stdout : stderr,
             "usage: CSI_ENDPOINT=unix:///PATH.sock sealvol-csi-node\n");
    return help ? 0 : 2;
  }
  if (sv_log_init ("sealvol-csi-node") == -1) {
    config_error ("SEALVOL_LOG_LEVEL must be error, warning, info or debug",
                  getenv ("SEALVOL_LOG_LEVEL"));
    return 2;
  }
  sv_set_error_handler (library_message);
  if (endpoint == NULL || *endpoint == '\0') {
    log_error ("CSI_ENDPOINT is not set");
    return 2;
  }
  if (read_config () == -1)
    return 2;
  umask (077);
  csi_plugin_ready = node_ready;
  /* One call at a time: two calls for one volume never race. */
  r = csi_serve (endpoint, methods, sizeof methods / sizeof methods[0], 1);
  /* _exit: gRPC may still have threads for clients that did not hang up,
   * and C++ static destructors must not run under them. */
  fflush (NULL);
  _exit (r == 0 ? 0 : 1);
}
