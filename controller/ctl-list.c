/* The Controller's listing calls: ListVolumes, GetCapacity and
 * ControllerGetCapabilities.  CSI sends these without secrets, so they
 * use each host's own token from the configuration (access-token-file);
 * a host without one is not listed or counted.
 *
 * ListVolumes walks the hosts in configuration order.  Its token is
 * "INDEX:PAGE", the host's index and that host's page token ("" for its
 * first page); anything else is ABORTED, as the spec asks.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi-topology.h"
#include "ctl-api.h"
#include "ctl-controller.h"
#include "log.h"

#define PAGE_TOKEN_MAX 100

grpc_status_code
ctl_get_capabilities (struct csi_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage *response, struct csi_status *st)
{
  static const Csi__V1__ControllerServiceCapability__RPC__Type types[] = {
    CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__CREATE_DELETE_VOLUME,
    CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__EXPAND_VOLUME,
    CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__LIST_VOLUMES,
    CSI__V1__CONTROLLER_SERVICE_CAPABILITY__RPC__TYPE__GET_CAPACITY,
  };
  Csi__V1__ControllerGetCapabilitiesResponse *resp = (void *) response;
  size_t n = sizeof types / sizeof types[0];

  (void) req; (void) st;
  resp->capabilities = call_alloc (call, n * sizeof *resp->capabilities);
  for (size_t i = 0; i < n; i++) {
    Csi__V1__ControllerServiceCapability *c = call_alloc (call, sizeof *c);

    csi__v1__controller_service_capability__init (c);
    c->type_case = CSI__V1__CONTROLLER_SERVICE_CAPABILITY__TYPE_RPC;
    c->rpc = call_alloc (call, sizeof *c->rpc);
    csi__v1__controller_service_capability__rpc__init (c->rpc);
    c->rpc->type = types[i];
    resp->capabilities[i] = c;
  }
  resp->n_capabilities = n;
  return GRPC_STATUS_OK;
}

/* ---- ListVolumes ---- */

struct listing {
  Csi__V1__ListVolumesResponse *resp;
  size_t room;                  /* entries allocated */
  int32_t max;                  /* 0: no limit */
};

static bool
page_token_ok (const char *t)
{
  size_t n = strlen (t);

  return n <= PAGE_TOKEN_MAX
    && strspn (t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
               "-._~=+/") == n;
}

/* "INDEX:PAGE" -> the host index and its page token. */
static grpc_status_code
parse_start (const char *token, size_t *host, char *page, struct csi_status *st)
{
  char *end;
  unsigned long i;

  *host = 0;
  page[0] = '\0';
  if (token[0] == '\0')
    return GRPC_STATUS_OK;
  i = strtoul (token, &end, 10);
  if (end == token || *end != ':' || i >= ctl_cfg.n_hosts || !page_token_ok (end + 1))
    return csi_fail (st, GRPC_STATUS_ABORTED, "starting_token %.128s is not one of ours",
                     token);
  *host = i;
  strcpy (page, end + 1);
  return GRPC_STATUS_OK;
}

static grpc_status_code
add_entries (struct csi_call *call, struct listing *l, const struct ctl_host *h,
             json_object *vols, struct csi_status *st)
{
  size_t n = json_object_array_length (vols);
  Csi__V1__ListVolumesResponse *resp = l->resp;

  if (resp->n_entries + n > l->room) {
    size_t room = 2 * (resp->n_entries + n);
    Csi__V1__ListVolumesResponse__Entry **e = call_alloc (call, room * sizeof *e);

    if (resp->n_entries)
      memcpy (e, resp->entries, resp->n_entries * sizeof *e);
    resp->entries = e;
    l->room = room;
  }
  for (size_t i = 0; i < n; i++) {
    Csi__V1__ListVolumesResponse__Entry *e = call_alloc (call, sizeof *e);

    csi__v1__list_volumes_response__entry__init (e);
    if (ctl_csi_volume (call, h, json_object_array_get_idx (vols, i), &e->volume, st)
        != GRPC_STATUS_OK)
      return st->code;
    resp->entries[resp->n_entries++] = e;
  }
  return GRPC_STATUS_OK;
}

/* One page of host H from PAGE; PAGE gets the next page token ("" at
 * the end). */
static grpc_status_code
list_page (struct csi_call *call, struct listing *l, const struct ctl_host *h,
           char *page, struct csi_status *st)
{
  char path[300];
  json_object *doc = NULL, *vols;
  const char *next;
  int limit = l->max ? l->max - (int) l->resp->n_entries : 0;

  snprintf (path, sizeof path, "/v1/volumes?limit=%d", limit ? limit : 1000);
  if (page[0] && ctl_api_path (path + strlen (path), sizeof path - strlen (path),
                               "&page_token=", page) == -1)
    return csi_fail (st, GRPC_STATUS_ABORTED, "bad page token");
  if (ctl_api_call (h, h->token, "GET", path, NULL, &doc, NULL, st) != GRPC_STATUS_OK) {
    /* The host refused our page token: the caller must start over. */
    if (st->code == GRPC_STATUS_INVALID_ARGUMENT && page[0])
      st->code = GRPC_STATUS_ABORTED;
    return st->code;
  }
  if (!json_object_object_get_ex (doc, "volumes", &vols)
      || !json_object_is_type (vols, json_type_array))
    csi_fail (st, GRPC_STATUS_INTERNAL, "storage host %s: a volume list without volumes",
              h->name);
  else if (add_entries (call, l, h, vols, st) == GRPC_STATUS_OK) {
    next = ctl_json_string (doc, "next_page_token");
    if (next && !page_token_ok (next))
      csi_fail (st, GRPC_STATUS_INTERNAL, "storage host %s: a page token we cannot carry",
                h->name);
    else
      strcpy (page, next ? next : "");
  }
  json_object_put (doc);
  return st->code;
}

static void
set_next_token (struct csi_call *call, Csi__V1__ListVolumesResponse *resp,
                size_t host, const char *page)
{
  char buf[PAGE_TOKEN_MAX + 24];
  size_t n;

  snprintf (buf, sizeof buf, "%zu:%s", host, page);
  n = strlen (buf) + 1;
  resp->next_token = memcpy (call_alloc (call, n), buf, n);
}

grpc_status_code
ctl_list_volumes (struct csi_call *call, const ProtobufCMessage *msg,
                  ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__ListVolumesRequest *req = (const void *) msg;
  struct listing l = { (void *) response, 0, req->max_entries };
  char page[PAGE_TOKEN_MAX + 1];
  size_t host;

  if (req->max_entries < 0)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "max_entries is negative");
  if (parse_start (req->starting_token, &host, page, st) != GRPC_STATUS_OK)
    return st->code;
  while (host < ctl_cfg.n_hosts) {
    const struct ctl_host *h = &ctl_cfg.hosts[host];

    if (h->token && list_page (call, &l, h, page, st) != GRPC_STATUS_OK)
      return st->code;
    if (!h->token || page[0] == '\0')
      host++;
    if (l.max && (int32_t) l.resp->n_entries >= l.max) {
      if (host < ctl_cfg.n_hosts)
        set_next_token (call, l.resp, host, page);
      break;
    }
  }
  return GRPC_STATUS_OK;
}

/* ---- GetCapacity ---- */

static grpc_status_code
host_capacity (const struct ctl_host *h, int64_t *avail, struct csi_status *st)
{
  json_object *cap = NULL;

  *avail = 0;
  if (h->token == NULL)
    return GRPC_STATUS_OK;
  if (ctl_api_call (h, h->token, "GET", "/v1/capacity", NULL, &cap, NULL, st) == GRPC_STATUS_OK
      && (!ctl_json_int (cap, "available_bytes", avail) || *avail < 0))
    csi_fail (st, GRPC_STATUS_INTERNAL, "storage host %s: capacity without available_bytes",
              h->name);
  json_object_put (cap);
  return st->code;
}

/* The room on the host the topology names, or on every host. */
grpc_status_code
ctl_get_capacity (struct csi_call *call, const ProtobufCMessage *msg,
                  ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__GetCapacityRequest *req = (const void *) msg;
  Csi__V1__GetCapacityResponse *resp = (void *) response;
  const char *name = csi_topology_host (req->accessible_topology);
  int64_t avail, sum = 0;

  (void) call;
  if (req->accessible_topology) {
    const struct ctl_host *h = name ? ctl_config_host (&ctl_cfg, name) : NULL;

    if (h && host_capacity (h, &avail, st) != GRPC_STATUS_OK)
      return st->code;
    resp->available_capacity = h ? avail : 0;
    return GRPC_STATUS_OK;
  }
  for (size_t i = 0; i < ctl_cfg.n_hosts; i++) {
    if (host_capacity (&ctl_cfg.hosts[i], &avail, st) != GRPC_STATUS_OK)
      return st->code;
    sum += avail;
  }
  resp->available_capacity = sum;
  return GRPC_STATUS_OK;
}
