/* The Controller's volume calls: create, delete, expand, validate.
 *
 * Create places a volume on a storage host the accessibility
 * requirements allow: where a volume of that name already is, else the
 * first preferred host with room, else the allowed host with the most
 * room.  Hosts that cannot be reached are left out; when none is left
 * the call is UNAVAILABLE.  Calls for one volume are kept apart: while
 * one is in flight, another for the same volume is ABORTED.
 */
#include <config.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csi-fields.h"
#include "csi-topology.h"
#include "ctl-api.h"
#include "ctl-controller.h"
#include "log.h"

#define DEFAULT_SIZE (INT64_C (1) << 30)
#define SIZE_ALIGN 4096

/* ---- calls in flight, by volume name ---- */

#define IN_FLIGHT_MAX 64

static pthread_mutex_t in_flight_lock = PTHREAD_MUTEX_INITIALIZER;
static char in_flight[IN_FLIGHT_MAX][CTL_NAME_MAX];

/* Claim VOLUME for this call: ABORTED while another call has it. */
static grpc_status_code
claim (const char *volume, int *slot, struct csi_status *st)
{
  int free_slot = -1;

  pthread_mutex_lock (&in_flight_lock);
  for (int i = 0; i < IN_FLIGHT_MAX; i++) {
    if (strcmp (in_flight[i], volume) == 0) {
      pthread_mutex_unlock (&in_flight_lock);
      return csi_fail (st, GRPC_STATUS_ABORTED,
                       "an operation on volume %s is already in progress", volume);
    }
    if (in_flight[i][0] == '\0' && free_slot == -1)
      free_slot = i;
  }
  if (free_slot >= 0)
    strcpy (in_flight[free_slot], volume);
  pthread_mutex_unlock (&in_flight_lock);
  *slot = free_slot;
  return free_slot >= 0 ? GRPC_STATUS_OK
    : csi_fail (st, GRPC_STATUS_ABORTED, "too many operations in progress");
}

static void
release (int slot)
{
  pthread_mutex_lock (&in_flight_lock);
  in_flight[slot][0] = '\0';
  pthread_mutex_unlock (&in_flight_lock);
}

/* ---- shared ---- */

const char *
ctl_json_string (json_object *o, const char *key)
{
  json_object *v;

  return o && json_object_object_get_ex (o, key, &v) && json_object_is_type (v, json_type_string)
    ? json_object_get_string (v) : NULL;
}

bool
ctl_json_int (json_object *o, const char *key, int64_t *v)
{
  json_object *j;

  if (!o || !json_object_object_get_ex (o, key, &j) || !json_object_is_type (j, json_type_int))
    return false;
  *v = json_object_get_int64 (j);
  return true;
}

const char *
ctl_token (const struct ctl_host *h, size_t n_secrets, void *secrets, bool own)
{
  char key[96];
  const char *t;

  snprintf (key, sizeof key, "access-token.%s", h->name);
  t = map_get (n_secrets, secrets, key);
  if (t == NULL)
    t = map_get (n_secrets, secrets, "access-token");
  /* The host's own token only for a call without secrets: secrets are a
   * tenant's, and one without a token for this host (say, only another
   * host's) must not act as whichever tenant the host's token is. */
  if (t == NULL && own && n_secrets == 0)
    t = h->token;
  return t && ctl_token_ok (t) ? t : NULL;
}

static char *
call_strdup (struct csi_call *call, const char *s)
{
  size_t n = strlen (s) + 1;

  return memcpy (call_alloc (call, n), s, n);
}

static Csi__V1__Topology *
host_topology (struct csi_call *call, const struct ctl_host *h)
{
  Csi__V1__Topology *t = call_alloc (call, sizeof *t);
  Csi__V1__Topology__SegmentsEntry *e = call_alloc (call, sizeof *e);

  csi__v1__topology__init (t);
  csi__v1__topology__segments_entry__init (e);
  e->key = (char *) CSI_TOPOLOGY_KEY;
  e->value = (char *) h->name;
  t->segments = call_alloc (call, sizeof *t->segments);
  t->segments[0] = e;
  t->n_segments = 1;
  return t;
}

static Csi__V1__Volume__VolumeContextEntry *
context_entry (struct csi_call *call, const char *key, const char *value)
{
  Csi__V1__Volume__VolumeContextEntry *e = call_alloc (call, sizeof *e);

  csi__v1__volume__volume_context_entry__init (e);
  e->key = (char *) key;
  e->value = call_strdup (call, value);
  return e;
}

/* volume_context: what sealvol-csi-node needs to attach the volume. */
grpc_status_code
ctl_csi_volume (struct csi_call *call, const struct ctl_host *h, json_object *vol,
                Csi__V1__Volume **out, struct csi_status *st)
{
  const char *name = ctl_json_string (vol, "name");
  const char *tenant = ctl_json_string (vol, "tenant");
  json_object *attach = NULL;
  const char *ahost;
  int64_t size, port;
  char id[CTL_VOLUME_ID_MAX + 1], server[300];
  Csi__V1__Volume *v;

  json_object_object_get_ex (vol, "attach", &attach);
  ahost = ctl_json_string (attach, "host");
  if (name && tenant && ctl_name_ok (tenant) && attach == NULL)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "storage host %s: tenant %s has no attach address for nodes: add "
                     "'[serve] attach = HOST:PORT' (where the tenant's nbdkit listens) to "
                     "the tenant's tenant.conf on that host", h->name, tenant);
  if (!name || !tenant || !ahost || !ctl_json_int (vol, "size", &size)
      || !ctl_json_int (attach, "port", &port) || port < 1 || port > 65535
      || !ctl_name_ok (name) || !ctl_name_ok (tenant) || strlen (ahost) > 253)
    return csi_fail (st, GRPC_STATUS_INTERNAL,
                     "storage host %s: a volume object without a valid name, tenant, "
                     "size or attach host and port", h->name);
  if (ctl_volume_id (h->name, tenant, name, id) == -1)
    return csi_fail (st, GRPC_STATUS_FAILED_PRECONDITION,
                     "host %s, tenant %s and volume %s do not fit a 128-byte volume id",
                     h->name, tenant, name);
  snprintf (server, sizeof server, "%s:%" PRId64, ahost, port);
  v = call_alloc (call, sizeof *v);
  csi__v1__volume__init (v);
  v->capacity_bytes = size;
  v->volume_id = call_strdup (call, id);
  v->volume_context = call_alloc (call, 3 * sizeof *v->volume_context);
  v->volume_context[0] = context_entry (call, "server", server);
  v->volume_context[1] = context_entry (call, "tenant", tenant);
  v->volume_context[2] = context_entry (call, "volume", name);
  v->n_volume_context = 3;
  v->accessible_topology = call_alloc (call, sizeof *v->accessible_topology);
  v->accessible_topology[0] = host_topology (call, h);
  v->n_accessible_topology = 1;
  *out = v;
  return GRPC_STATUS_OK;
}

/* A volume id of this controller: its host (configured), tenant and
 * volume; NOT_FOUND otherwise. */
static grpc_status_code
parse_id (const char *id, const struct ctl_host **h, char *tenant, char *volume,
          struct csi_status *st)
{
  char host[CTL_NAME_MAX];

  if (ctl_parse_volume_id (id, host, tenant, volume) == -1)
    return csi_fail (st, GRPC_STATUS_NOT_FOUND, "%.128s is not a sealvol volume id", id);
  if ((*h = ctl_config_host (&ctl_cfg, host)) == NULL)
    return csi_fail (st, GRPC_STATUS_NOT_FOUND, "storage host %s is not configured", host);
  return GRPC_STATUS_OK;
}

static grpc_status_code
need_token (const struct ctl_host *h, size_t n, void *secrets, bool own,
            const char **token, struct csi_status *st)
{
  if ((*token = ctl_token (h, n, secrets, own)) == NULL)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "secrets need access-token (the tenant's API token for host %s)", h->name);
  return GRPC_STATUS_OK;
}

/* GET the volume; NOT_FOUND also when it is another tenant's. */
static grpc_status_code
get_volume (const struct ctl_host *h, const char *token, const char *tenant,
            const char *volume, json_object **vol, struct csi_status *st)
{
  char path[128];
  const char *t;

  snprintf (path, sizeof path, "/v1/volumes/%s", volume);
  if (ctl_api_call (h, token, "GET", path, NULL, vol, NULL, st) != GRPC_STATUS_OK)
    return st->code;
  t = ctl_json_string (*vol, "tenant");
  if (tenant && (t == NULL || strcmp (t, tenant) != 0)) {
    json_object_put (*vol);
    *vol = NULL;
    return csi_fail (st, GRPC_STATUS_NOT_FOUND, "volume %s of tenant %s is not on host %s",
                     volume, tenant, h->name);
  }
  return GRPC_STATUS_OK;
}

/* ---- capabilities and sizes ---- */

/* A capability sealvol can give: block or mount (ext4, xfs), one node
 * writing at a time. */
static bool
capability_ok (const Csi__V1__VolumeCapability *c, const char **why)
{
  int mode = c && c->access_mode ? (int) c->access_mode->mode : 0;

  *why = NULL;
  if (c == NULL || c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE__NOT_SET)
    *why = "a volume capability needs block or mount";
  else if (c->access_type_case == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_MOUNT
           && c->mount->fs_type[0] && strcmp (c->mount->fs_type, "ext4") != 0
           && strcmp (c->mount->fs_type, "xfs") != 0)
    *why = "fs_type must be ext4 or xfs";
  else if (mode == 0 || mode > 7)
    *why = "a volume capability needs an access mode";
  else if (mode == 4 || mode == 5)
    *why = "a sealvol volume is written by one node at a time";
  return *why == NULL;
}

static grpc_status_code
check_capabilities (size_t n, Csi__V1__VolumeCapability **caps, struct csi_status *st)
{
  const char *why;

  if (n == 0)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "volume_capabilities are required");
  for (size_t i = 0; i < n; i++)
    if (!capability_ok (caps[i], &why))
      return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "capability %zu: %s", i + 1, why);
  return GRPC_STATUS_OK;
}

/* The size to create or grow to: required_bytes rounded up to 4 KiB
 * (or the default, 1 GiB, bounded by limit_bytes). */
static grpc_status_code
wanted_size (const Csi__V1__CapacityRange *r, int64_t *size, struct csi_status *st)
{
  int64_t req = r ? r->required_bytes : 0, lim = r ? r->limit_bytes : 0;

  if (req < 0 || lim < 0)
    return csi_fail (st, GRPC_STATUS_OUT_OF_RANGE, "capacity_range is negative");
  if (req == 0)
    req = lim && lim < DEFAULT_SIZE ? lim : DEFAULT_SIZE;
  if (req > INT64_MAX - SIZE_ALIGN)
    return csi_fail (st, GRPC_STATUS_OUT_OF_RANGE, "required_bytes is too large");
  *size = (req + SIZE_ALIGN - 1) / SIZE_ALIGN * SIZE_ALIGN;
  if (lim && *size > lim)
    return csi_fail (st, GRPC_STATUS_OUT_OF_RANGE,
                     "no size of whole 4 KiB blocks lies in [%" PRId64 ", %" PRId64 "]",
                     req, lim);
  return GRPC_STATUS_OK;
}

/* ---- CreateVolume ---- */

struct create {
  const Csi__V1__CreateVolumeRequest *req;
  char volume[CTL_NAME_MAX];
  int64_t size;
  const char *cipher, *service_type;
  const struct ctl_host *candidates[64];
  size_t n_candidates;
  bool down[64];
  char why_down[512];           /* what the last host that did not answer said */
};

static void
mark_down (struct create *c, size_t i, const struct csi_status *e)
{
  log_warning ("%s", e->message);
  c->down[i] = true;
  memcpy (c->why_down, e->message, sizeof c->why_down);
}

/* StorageClass parameters: cipher, serviceType, and the CO's own
 * csi.storage.k8s.io/ keys (fstype is the node's business). */
static grpc_status_code
read_parameters (struct create *c, struct csi_status *st)
{
  const Csi__V1__CreateVolumeRequest *req = c->req;

  for (size_t i = 0; i < req->n_parameters; i++) {
    const char *k = req->parameters[i]->key, *v = req->parameters[i]->value;

    if (strcmp (k, "cipher") == 0)
      c->cipher = v;
    else if (strcmp (k, "serviceType") == 0)
      c->service_type = v;
    else if (strncmp (k, "csi.storage.k8s.io/", 19) != 0)
      return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                       "unknown parameter %.64s (cipher, serviceType)", k);
    if (!csi_printable (v) || strlen (v) > 63)
      return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "parameter %.64s: bad value", k);
  }
  return GRPC_STATUS_OK;
}

static void
add_candidate (struct create *c, const struct ctl_host *h)
{
  if (h == NULL || c->n_candidates >= 64)
    return;
  for (size_t i = 0; i < c->n_candidates; i++)
    if (c->candidates[i] == h)
      return;
  c->candidates[c->n_candidates++] = h;
}

/* The hosts the requirements allow: preferred ones first, in order. */
static grpc_status_code
select_candidates (struct create *c, size_t *n_preferred, struct csi_status *st)
{
  const Csi__V1__TopologyRequirement *t = c->req->accessibility_requirements;

  if (t == NULL || (t->n_requisite == 0 && t->n_preferred == 0)) {
    for (size_t i = 0; i < ctl_cfg.n_hosts; i++)
      add_candidate (c, &ctl_cfg.hosts[i]);
    *n_preferred = 0;
    return GRPC_STATUS_OK;
  }
  for (size_t i = 0; i < t->n_preferred; i++) {
    const char *name = csi_topology_host (t->preferred[i]);

    if (name)
      add_candidate (c, ctl_config_host (&ctl_cfg, name));
  }
  *n_preferred = c->n_candidates;
  for (size_t i = 0; i < t->n_requisite; i++) {
    const char *name = csi_topology_host (t->requisite[i]);

    if (name)
      add_candidate (c, ctl_config_host (&ctl_cfg, name));
  }
  if (c->n_candidates == 0)
    return csi_fail (st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                     "no configured storage host matches the accessibility requirements");
  return GRPC_STATUS_OK;
}

/* With a delete-key-file: the hash of the volume's delete credential
 * into BODY, for the tenant the token names (TENANT~ID.SECRET). */
static grpc_status_code
add_delete_credential (const struct create *c, const struct ctl_host *h, const char *token,
                       json_object *body, struct csi_status *st)
{
  char tenant[CTL_NAME_MAX], cred[CTL_DELETE_TOKEN_MAX + 1], sha[65];
  size_t n = strcspn (token, "~");

  if (h->delete_key == NULL)
    return GRPC_STATUS_OK;
  if (token[n] != '~' || n >= sizeof tenant)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "access-token is not a sealvol token (TENANT~ID.SECRET)");
  memcpy (tenant, token, n);
  tenant[n] = '\0';
  if (!ctl_name_ok (tenant)
      || ctl_delete_credential (h->delete_key, h->name, tenant, c->volume, cred, sha) == -1)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "access-token is not a sealvol token (TENANT~ID.SECRET)");
  explicit_bzero (cred, sizeof cred);
  json_object_object_add (body, "delete_sha256", json_object_new_string (sha));
  return GRPC_STATUS_OK;
}

/* POST the volume to H and answer with it. */
static grpc_status_code
create_on (struct create *c, struct csi_call *call, const struct ctl_host *h,
           const char *token, Csi__V1__CreateVolumeResponse *resp, struct csi_status *st)
{
  const Csi__V1__CapacityRange *r = c->req->capacity_range;
  json_object *body = json_object_new_object (), *vol = NULL;

  if (add_delete_credential (c, h, token, body, st) != GRPC_STATUS_OK) {
    json_object_put (body);
    return st->code;
  }

  json_object_object_add (body, "name", json_object_new_string (c->volume));
  json_object_object_add (body, "size", json_object_new_int64 (c->size));
  if (c->cipher)
    json_object_object_add (body, "cipher", json_object_new_string (c->cipher));
  if (c->service_type)
    json_object_object_add (body, "service_type", json_object_new_string (c->service_type));
  if (ctl_api_call (h, token, "POST", "/v1/volumes", body, &vol, NULL, st) == GRPC_STATUS_OK
      && ctl_csi_volume (call, h, vol, &resp->volume, st) == GRPC_STATUS_OK) {
    /* An existing volume of another size is another volume. */
    if (resp->volume->capacity_bytes < (r ? r->required_bytes : 0)
        || (r && r->limit_bytes && resp->volume->capacity_bytes > r->limit_bytes))
      csi_fail (st, GRPC_STATUS_ALREADY_EXISTS,
                "volume %s exists with %" PRId64 " bytes", c->req->name,
                resp->volume->capacity_bytes);
    else
      log_info ("volume %s: %s on %s", c->req->name, resp->volume->volume_id, h->name);
  }
  json_object_put (body);
  json_object_put (vol);
  return st->code;
}

/* Is the volume on a candidate already?  *FOUND gets the host (or
 * NULL); an unreachable host is marked down. */
static grpc_status_code
find_existing (struct create *c, const struct ctl_host **found, struct csi_status *st)
{
  *found = NULL;
  for (size_t i = 0; i < c->n_candidates; i++) {
    const struct ctl_host *h = c->candidates[i];
    const char *token = ctl_token (h, c->req->n_secrets, c->req->secrets, false);
    json_object *vol = NULL;
    struct csi_status e;

    if (token == NULL)
      continue;
    if (get_volume (h, token, NULL, c->volume, &vol, &e) == GRPC_STATUS_OK) {
      json_object_put (vol);
      *found = h;
      return GRPC_STATUS_OK;
    }
    if (e.code == GRPC_STATUS_UNAVAILABLE)
      mark_down (c, i, &e);
    else if (e.code != GRPC_STATUS_NOT_FOUND) {
      *st = e;
      return st->code;
    }
  }
  return GRPC_STATUS_OK;
}

/* The room on H for one more volume of C's size, or -1. */
static int64_t
room_on (struct create *c, size_t i, struct csi_status *st)
{
  const struct ctl_host *h = c->candidates[i];
  const char *token = ctl_token (h, c->req->n_secrets, c->req->secrets, false);
  json_object *cap = NULL;
  int64_t avail = -1, n, max;

  if (token == NULL || c->down[i])
    return -1;
  if (ctl_api_call (h, token, "GET", "/v1/capacity", NULL, &cap, NULL, st) != GRPC_STATUS_OK) {
    if (st->code == GRPC_STATUS_UNAVAILABLE)
      mark_down (c, i, st);
    else
      log_warning ("%s", st->message);
    return -1;
  }
  if (ctl_json_int (cap, "available_bytes", &avail) && avail >= c->size
      && !(ctl_json_int (cap, "max_volumes", &max) && ctl_json_int (cap, "volumes", &n)
           && n >= max))
    log_debug ("%s: %" PRId64 " bytes free", h->name, avail);
  else
    avail = -1;
  json_object_put (cap);
  return avail;
}

/* The first preferred host with room, else the one with the most. */
static const struct ctl_host *
place (struct create *c, size_t n_preferred, struct csi_status *st)
{
  const struct ctl_host *best = NULL;
  int64_t best_room = -1;
  bool any_down = false;

  for (size_t i = 0; i < c->n_candidates; i++) {
    int64_t room = room_on (c, i, st);

    if (room >= 0 && i < n_preferred)
      return c->candidates[i];
    if (room > best_room) {
      best_room = room;
      best = c->candidates[i];
    }
    any_down |= c->down[i];
  }
  if (best == NULL) {
    if (any_down)
      csi_fail (st, GRPC_STATUS_UNAVAILABLE, "no storage host that could hold volume %.128s "
                "answers (%.300s)", c->req->name, c->why_down);
    else
      csi_fail (st, GRPC_STATUS_RESOURCE_EXHAUSTED, "no allowed storage host has room for "
                "%" PRId64 " bytes", c->size);
  }
  return best;
}

static bool
any_token (const struct create *c)
{
  for (size_t i = 0; i < c->n_candidates; i++)
    if (ctl_token (c->candidates[i], c->req->n_secrets, c->req->secrets, false))
      return true;
  return false;
}

static grpc_status_code
create (struct create *c, struct csi_call *call, Csi__V1__CreateVolumeResponse *resp,
        struct csi_status *st)
{
  const struct ctl_host *h;
  size_t n_preferred;

  if (select_candidates (c, &n_preferred, st) != GRPC_STATUS_OK)
    return st->code;
  if (!any_token (c))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "secrets need access-token (the tenant's API token)");
  if (find_existing (c, &h, st) != GRPC_STATUS_OK)
    return st->code;
  if (h == NULL && (h = place (c, n_preferred, st)) == NULL)
    return st->code;
  return create_on (c, call, h, ctl_token (h, c->req->n_secrets, c->req->secrets, false), resp, st);
}

grpc_status_code
ctl_create_volume (struct csi_call *call, const ProtobufCMessage *msg,
                   ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__CreateVolumeRequest *req = (const void *) msg;
  struct create *c = call_alloc (call, sizeof *c);
  int slot;

  c->req = req;
  if (require_field (req->name, "name", st)
      || check_capabilities (req->n_volume_capabilities, req->volume_capabilities, st)
      || read_parameters (c, st) || wanted_size (req->capacity_range, &c->size, st))
    return st->code;
  if (strlen (req->name) > 128)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "name is over 128 bytes");
  if (req->volume_content_source)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT,
                     "volume_content_source is not supported (no snapshots or clones)");
  if (req->n_mutable_parameters)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "mutable_parameters are not supported");
  ctl_volume_name (req->name, c->volume);
  if (claim (c->volume, &slot, st) != GRPC_STATUS_OK)
    return st->code;
  create (c, call, (void *) response, st);
  release (slot);
  return st->code;
}

/* ---- DeleteVolume ---- */

/* Without the tenant's token (its namespace and Secret may be gone):
 * the volume's delete credential, derived from the host's
 * delete-key-file.  It may delete this volume and nothing else, so
 * there is no GET first; the storage host checks the binding. */
static grpc_status_code
delete_with_credential (const struct ctl_host *h, const char *tenant, const char *volume,
                        struct csi_status *st)
{
  char cred[CTL_DELETE_TOKEN_MAX + 1], sha[65], path[128];
  json_object *none = NULL;

  if (ctl_delete_credential (h->delete_key, h->name, tenant, volume, cred, sha) == -1)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "cannot derive the delete credential");
  snprintf (path, sizeof path, "/v1/volumes/%s", volume);
  ctl_api_call (h, cred, "DELETE", path, NULL, &none, NULL, st);
  explicit_bzero (cred, sizeof cred);
  json_object_put (none);
  return st->code;
}

grpc_status_code
ctl_delete_volume (struct csi_call *call, const ProtobufCMessage *msg,
                   ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__DeleteVolumeRequest *req = (const void *) msg;
  char tenant[CTL_NAME_MAX], volume[CTL_NAME_MAX], path[128];
  const struct ctl_host *h;
  const char *token;
  json_object *vol = NULL, *none = NULL;
  int slot;

  (void) call; (void) response;
  if (require_field (req->volume_id, "volume_id", st))
    return st->code;
  /* A volume this controller cannot have made is gone already. */
  if (parse_id (req->volume_id, &h, tenant, volume, st) != GRPC_STATUS_OK) {
    log_info ("DeleteVolume %.128s: %s: nothing to delete", req->volume_id, st->message);
    return csi_ok (st);
  }
  token = ctl_token (h, req->n_secrets, req->secrets, false);
  /* The delete credential is for a volume whose Secret is gone (the
   * provisioner then sends no secrets), not for a tenant's secrets that
   * hold no token for this host: those are another tenant's, or wrong. */
  if ((token == NULL && (h->delete_key == NULL || req->n_secrets > 0)
       && need_token (h, req->n_secrets, req->secrets, false, &token, st))
      || claim (volume, &slot, st))
    return st->code;
  if (token == NULL) {
    if (delete_with_credential (h, tenant, volume, st) == GRPC_STATUS_OK)
      log_info ("deleted %s with its delete credential", req->volume_id);
  }
  else if (get_volume (h, token, tenant, volume, &vol, st) == GRPC_STATUS_OK) {
    snprintf (path, sizeof path, "/v1/volumes/%s", volume);
    if (ctl_api_call (h, token, "DELETE", path, NULL, &none, NULL, st) == GRPC_STATUS_OK)
      log_info ("deleted %s", req->volume_id);
  }
  if (st->code == GRPC_STATUS_NOT_FOUND)
    csi_ok (st);
  json_object_put (vol);
  json_object_put (none);
  release (slot);
  return st->code;
}

/* ---- ControllerExpandVolume ---- */

static grpc_status_code
expand (const Csi__V1__ControllerExpandVolumeRequest *req, const struct ctl_host *h,
        const char *token, const char *tenant, const char *volume, int64_t size,
        int64_t *now, struct csi_status *st)
{
  json_object *vol = NULL, *body, *grown = NULL;
  char path[128];

  if (get_volume (h, token, tenant, volume, &vol, st) != GRPC_STATUS_OK)
    return st->code;
  ctl_json_int (vol, "size", now);
  json_object_put (vol);
  if (*now >= size)
    return GRPC_STATUS_OK;              /* grown already */
  body = json_object_new_object ();
  json_object_object_add (body, "size", json_object_new_int64 (size));
  snprintf (path, sizeof path, "/v1/volumes/%s", volume);
  if (ctl_api_call (h, token, "PATCH", path, body, &grown, NULL, st) == GRPC_STATUS_OK
      && !ctl_json_int (grown, "size", now))
    *now = size;
  json_object_put (body);
  json_object_put (grown);
  if (st->code == GRPC_STATUS_OK)
    log_info ("%s grown to %" PRId64 " bytes", req->volume_id, *now);
  return st->code;
}

grpc_status_code
ctl_expand_volume (struct csi_call *call, const ProtobufCMessage *msg,
                   ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__ControllerExpandVolumeRequest *req = (const void *) msg;
  Csi__V1__ControllerExpandVolumeResponse *resp = (void *) response;
  char tenant[CTL_NAME_MAX], volume[CTL_NAME_MAX];
  const struct ctl_host *h;
  const char *token, *why;
  int64_t size, now = 0;
  int slot;

  (void) call;
  if (require_field (req->volume_id, "volume_id", st))
    return st->code;
  if (req->capacity_range == NULL)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "capacity_range is required");
  if (req->volume_capability && !capability_ok (req->volume_capability, &why))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "volume_capability: %s", why);
  if (wanted_size (req->capacity_range, &size, st)
      || parse_id (req->volume_id, &h, tenant, volume, st)
      || need_token (h, req->n_secrets, req->secrets, true, &token, st)
      || claim (volume, &slot, st))
    return st->code;
  expand (req, h, token, tenant, volume, size, &now, st);
  release (slot);
  resp->capacity_bytes = now;
  /* A filesystem grows on the node; a raw block device needs nothing. */
  resp->node_expansion_required = !(req->volume_capability
                                    && req->volume_capability->access_type_case
                                    == CSI__V1__VOLUME_CAPABILITY__ACCESS_TYPE_BLOCK);
  return st->code;
}

/* ---- ValidateVolumeCapabilities ---- */

grpc_status_code
ctl_validate_capabilities (struct csi_call *call, const ProtobufCMessage *msg,
                           ProtobufCMessage *response, struct csi_status *st)
{
  const Csi__V1__ValidateVolumeCapabilitiesRequest *req = (const void *) msg;
  Csi__V1__ValidateVolumeCapabilitiesResponse *resp = (void *) response;
  char tenant[CTL_NAME_MAX], volume[CTL_NAME_MAX];
  const struct ctl_host *h;
  const char *token, *why = NULL;
  json_object *vol = NULL;

  if (require_field (req->volume_id, "volume_id", st))
    return st->code;
  if (req->n_volume_capabilities == 0)
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "volume_capabilities are required");
  if (parse_id (req->volume_id, &h, tenant, volume, st)
      || need_token (h, req->n_secrets, req->secrets, true, &token, st)
      || get_volume (h, token, tenant, volume, &vol, st))
    return st->code;
  json_object_put (vol);
  for (size_t i = 0; i < req->n_volume_capabilities && why == NULL; i++)
    capability_ok (req->volume_capabilities[i], &why);
  if (why) {
    resp->message = call_strdup (call, why);
    return GRPC_STATUS_OK;
  }
  resp->confirmed = call_alloc (call, sizeof *resp->confirmed);
  csi__v1__validate_volume_capabilities_response__confirmed__init (resp->confirmed);
  /* The request outlives the packing of the response. */
  resp->confirmed->volume_capabilities = req->volume_capabilities;
  resp->confirmed->n_volume_capabilities = req->n_volume_capabilities;
  return GRPC_STATUS_OK;
}
