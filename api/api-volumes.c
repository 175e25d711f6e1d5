/* sealvol api: capacity and the volume resources.
 *
 * The operations are the CLI's (server/volume-ops.h).  A create, resize
 * or delete of one (tenant, name) while another is in flight answers 409
 * ABORTED at once (as CSI wants of a repeated call).  Every mutation,
 * its checks of the caps included, runs under one lock, so two creates
 * of different names cannot both pass a cap that has room for one.
 *
 * The volume object's "attach" is where nodes reach the tenant's nbdkit:
 * [serve] attach = HOST:PORT in the tenant's tenant.conf, or null.
 *
 * A create may register a per-volume delete credential ("delete_sha256",
 * server/token.h); a request authenticated by one may only delete its
 * volume, and answers 204 without deleting when the volume of that name
 * is no longer the one it was registered for.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <ini.h>
#include <sodium.h>

#include "keysource.h"
#include "names.h"
#include "tenant.h"
#include "volume.h"
#include "volume-ops.h"

#include "api-volumes.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 1000
#define MAX_IN_FLIGHT 256

static pthread_mutex_t mutate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t flight_lock = PTHREAD_MUTEX_INITIALIZER;
static char in_flight[MAX_IN_FLIGHT][128];

/* Claim (tenant, name) for one mutation; false if one is in flight. */
static bool
flight_begin (const char *tenant, const char *name)
{
  char key[128];
  int free_slot = -1;
  bool busy = false;

  snprintf (key, sizeof key, "%s/%s", tenant, name);
  pthread_mutex_lock (&flight_lock);
  for (int i = 0; i < MAX_IN_FLIGHT && !busy; i++) {
    if (in_flight[i][0] == '\0' && free_slot == -1)
      free_slot = i;
    busy = strcmp (in_flight[i], key) == 0;
  }
  if (!busy && free_slot != -1)
    memcpy (in_flight[free_slot], key, sizeof key);
  pthread_mutex_unlock (&flight_lock);
  return !busy && free_slot != -1;
}

static void
flight_end (const char *tenant, const char *name)
{
  char key[128];

  snprintf (key, sizeof key, "%s/%s", tenant, name);
  pthread_mutex_lock (&flight_lock);
  for (int i = 0; i < MAX_IN_FLIGHT; i++)
    if (strcmp (in_flight[i], key) == 0)
      in_flight[i][0] = '\0';
  pthread_mutex_unlock (&flight_lock);
}

struct attach {
  char host[256];
  int port;
};

static int
attach_handler (void *user, const char *section, const char *name,
                const char *value)
{
  struct attach *a = user;
  const char *colon = strrchr (value, ':');
  char *end;
  long port;

  if (strcmp (section, "serve") != 0 || strcmp (name, "attach") != 0
      || colon == NULL || (size_t) (colon - value) >= sizeof a->host)
    return 1;
  port = strtol (colon + 1, &end, 10);
  if (*end || port <= 0 || port > 65535)
    return 1;
  memcpy (a->host, value, (size_t) (colon - value));
  a->host[colon - value] = '\0';
  a->port = (int) port;
  return 1;
}

static json_object *
attach_json (const struct sv_tenant *t)
{
  struct attach a = { .port = 0 };
  char conf[4200];
  json_object *j;

  snprintf (conf, sizeof conf, "%s/" SV_TENANT_CONF_FILE, t->dir);
  ini_parse (conf, attach_handler, &a);
  if (a.port == 0)
    return NULL;
  j = json_object_new_object ();
  json_object_object_add (j, "host", json_object_new_string (a.host));
  json_object_object_add (j, "port", json_object_new_int (a.port));
  return j;
}

static json_object *
volume_json (const struct sv_tenant *t, const struct sv_superblock *sb)
{
  json_object *j = json_object_new_object ();
  char hex[2 * SV_ID_LEN + 1];

  sodium_bin2hex (hex, sizeof hex, sb->volume_id, SV_ID_LEN);
  json_object_object_add (j, "name", json_object_new_string (sb->name));
  json_object_object_add (j, "size", json_object_new_uint64 (sb->size));
  json_object_object_add (j, "cipher",
                          json_object_new_string (sv_cipher_name ((int) sb->cipher)));
  json_object_object_add (j, "service_type",
                          json_object_new_string (sb->service_type));
  json_object_object_add (j, "id", json_object_new_string (hex));
  json_object_object_add (j, "tenant", json_object_new_string (t->name));
  json_object_object_add (j, "attach", attach_json (t));
  return j;
}

/* The volume object of name, or NULL with errno (ENOENT: none). */
static json_object *
volume_object (const struct sv_tenant *t, const char *name)
{
  struct sv_volume *v = sv_volume_open (t, name, SV_OPEN_INFO, NULL);
  json_object *j;

  if (v == NULL)
    return NULL;
  j = volume_json (t, sv_volume_superblock (v));
  sv_volume_close (v);
  return j;
}

/* The tenant of the token with its key loaded, or NULL with the problem
 * answered. */
static struct sv_tenant *
api_open_tenant (struct api_req *r)
{
  struct sv_tenant *t = sv_tenant_open (r->root, r->token.tenant);

  if (t && sv_key_source_load (t, NULL) == 0)
    return t;
  sv_tenant_free (t);
  api_problem_errno (r, errno == ENOENT ? EIO : errno);
  return NULL;
}

static void
reply_volume (struct api_req *r, unsigned status, const struct sv_tenant *t,
              const char *name)
{
  json_object *j = volume_object (t, name);

  if (j)
    api_reply (r, status, j);
  else
    api_problem_errno (r, errno);
}

/* The {name} of the path is a sealvol name, else 400. */
static bool
name_ok (struct api_req *r, const char *name)
{
  if (sv_name_ok (name))
    return true;
  api_problem (r, 400, "INVALID_ARGUMENT", "bad volume name: %s",
               sv_name_problem (name));
  return false;
}

/* A size field of the body, a positive integer the format allows. */
static bool
body_size (struct api_req *r, uint64_t *size)
{
  json_object *v;

  if (!json_object_object_get_ex (r->body, "size", &v)
      || !json_object_is_type (v, json_type_int)
      || json_object_get_int64 (v) <= 0) {
    api_problem (r, 400, "INVALID_ARGUMENT",
                 "\"size\" (a positive integer, bytes) is required");
    return false;
  }
  *size = json_object_get_uint64 (v);
  if (sv_volume_size_ok (*size))
    return true;
  api_problem (r, 400, "OUT_OF_RANGE", "size must be a multiple of 4096, "
               "at least 4096 and at most 16 TiB");
  return false;
}

/* An optional string field; false (answered) if present but no string. */
static bool
body_string (struct api_req *r, const char *key, const char **out)
{
  json_object *v;

  *out = NULL;
  if (!json_object_object_get_ex (r->body, key, &v) || v == NULL)
    return true;
  if (json_object_is_type (v, json_type_string)) {
    *out = json_object_get_string (v);
    return true;
  }
  api_problem (r, 400, "INVALID_ARGUMENT", "\"%s\" must be a string", key);
  return false;
}

static int
free_bytes (const struct sv_tenant *t, uint64_t *out)
{
  struct statvfs st;

  if (statvfs (t->dir, &st) == -1)
    return -1;
  *out = (uint64_t) st.f_bavail * st.f_frsize;
  return 0;
}

void
api_capacity (struct api_req *r)
{
  struct sv_tenant *t = api_open_tenant (r);
  struct sv_tenant_usage u;
  uint64_t avail;
  json_object *j;

  if (t == NULL)
    return;
  if (sv_tenant_usage_get (t, &u) == -1 || free_bytes (t, &avail) == -1) {
    api_problem_errno (r, errno);
    sv_tenant_free (t);
    return;
  }
  if (u.caps.capacity)
    avail = u.bytes >= u.caps.capacity ? 0
      : avail < u.caps.capacity - u.bytes ? avail : u.caps.capacity - u.bytes;
  if (u.caps.volumes && u.volumes >= u.caps.volumes)
    avail = 0;                  /* no room for one more volume */
  j = json_object_new_object ();
  json_object_object_add (j, "available_bytes", json_object_new_uint64 (avail));
  json_object_object_add (j, "capacity_bytes", u.caps.capacity
                          ? json_object_new_uint64 (u.caps.capacity) : NULL);
  json_object_object_add (j, "used_bytes", json_object_new_uint64 (u.bytes));
  json_object_object_add (j, "volumes", json_object_new_uint64 (u.volumes));
  json_object_object_add (j, "max_volumes", u.caps.volumes
                          ? json_object_new_uint64 (u.caps.volumes) : NULL);
  api_reply (r, 200, j);
  sv_tenant_free (t);
}

/* ?limit=N (1..1000, default 100) and ?page_token=NAME. */
static bool
list_args (struct api_req *r, long *limit, const char **after)
{
  const char *l = MHD_lookup_connection_value (r->conn, MHD_GET_ARGUMENT_KIND,
                                               "limit");
  char *end;

  *limit = DEFAULT_LIMIT;
  *after = MHD_lookup_connection_value (r->conn, MHD_GET_ARGUMENT_KIND,
                                        "page_token");
  if (*after && (*after)[0] == '\0')
    *after = NULL;
  if (l && ((*limit = strtol (l, &end, 10)) < 1 || *limit > MAX_LIMIT
            || *end || l[0] == '\0')) {
    api_problem (r, 400, "INVALID_ARGUMENT", "limit must be 1 to %d",
                 MAX_LIMIT);
    return false;
  }
  if (*after && !sv_name_ok (*after)) {
    api_problem (r, 400, "INVALID_ARGUMENT", "bad page_token");
    return false;
  }
  return true;
}

/* Up to limit volume objects of names after `after`; the next token. */
static json_object *
list_page (const struct sv_tenant *t, char **names, long limit,
           const char *after, const char **next)
{
  json_object *arr = json_object_new_array ();
  long n = 0;

  *next = NULL;
  for (char **p = names; *p; p++) {
    json_object *v;
    if (after && strcmp (*p, after) <= 0)
      continue;
    if (n == limit) {
      *next = p[-1];
      break;
    }
    if ((v = volume_object (t, *p)) != NULL) {
      json_object_array_add (arr, v);
      n++;
    }
  }
  return arr;
}

void
api_volume_list (struct api_req *r)
{
  struct sv_tenant *t;
  const char *after, *next;
  json_object *j;
  char **names;
  long limit;

  if (!list_args (r, &limit, &after) || (t = api_open_tenant (r)) == NULL)
    return;
  if ((names = sv_tenant_volume_names (t)) == NULL) {
    api_problem_errno (r, errno);
    sv_tenant_free (t);
    return;
  }
  j = json_object_new_object ();
  json_object_object_add (j, "volumes", list_page (t, names, limit, after,
                                                   &next));
  json_object_object_add (j, "next_page_token",
                          next ? json_object_new_string (next) : NULL);
  api_reply (r, 200, j);
  sv_free_names (names);
  sv_tenant_free (t);
}

void
api_volume_get (struct api_req *r)
{
  struct sv_tenant *t;

  if (!name_ok (r, r->param) || (t = api_open_tenant (r)) == NULL)
    return;
  reply_volume (r, 200, t, r->param);
  sv_tenant_free (t);
}

struct create_args {
  struct sv_create_params p;
  const char *delete_sha256;    /* or NULL */
};

/* The create parameters of the body, checked as the CLI checks them. */
static bool
create_params (struct api_req *r, const char **name, struct create_args *a)
{
  struct sv_create_params *p = &a->p;
  const char *cipher;

  memset (a, 0, sizeof *a);
  p->cipher = SV_CIPHER_AES_256_GCM;
  if (!body_string (r, "name", name) || !body_string (r, "cipher", &cipher)
      || !body_string (r, "service_type", &p->service_type)
      || !body_string (r, "delete_sha256", &a->delete_sha256))
    return false;
  if (*name == NULL) {
    api_problem (r, 400, "INVALID_ARGUMENT", "\"name\" is required");
    return false;
  }
  if (!name_ok (r, *name) || !body_size (r, &p->size))
    return false;
  if (a->delete_sha256 && (strlen (a->delete_sha256) != 64
                           || strspn (a->delete_sha256, "0123456789abcdef") != 64)) {
    api_problem (r, 400, "INVALID_ARGUMENT", "\"delete_sha256\" must be 64 "
                 "lowercase hex digits");
    return false;
  }
  if (cipher && (p->cipher = sv_cipher_by_name (cipher)) == -1) {
    api_problem (r, 400, "INVALID_ARGUMENT", "unknown cipher: use "
                 "aes-256-gcm, xchacha20-poly1305 or aes-256-xts");
    return false;
  }
  if (p->service_type == NULL)
    p->service_type = "gp";
  if (sv_service_type_check (r->root, p->service_type) == -1) {
    api_problem (r, 400, "INVALID_ARGUMENT", "%s", api_last_error ());
    return false;
  }
  return true;
}

/* A volume of that name exists: 200 if it is what was asked for. */
static void
create_existing (struct api_req *r, json_object *have,
                 const struct sv_create_params *p)
{
  json_object *v;
  uint64_t size = 0;
  const char *cipher = "", *type = "";

  if (json_object_object_get_ex (have, "size", &v))
    size = json_object_get_uint64 (v);
  if (json_object_object_get_ex (have, "cipher", &v))
    cipher = json_object_get_string (v);
  if (json_object_object_get_ex (have, "service_type", &v))
    type = json_object_get_string (v);
  if (size >= p->size && strcmp (cipher, sv_cipher_name (p->cipher)) == 0
      && strcmp (type, p->service_type) == 0) {
    api_reply (r, 200, have);
    return;
  }
  json_object_put (have);
  api_problem (r, 409, "ALREADY_EXISTS", "a volume of that name exists with "
               "another size, cipher or service type");
}

static void
create_new (struct api_req *r, const struct sv_tenant *t, const char *name,
            const struct sv_create_params *p)
{
  uint64_t avail;

  if (free_bytes (t, &avail) == 0 && p->size > avail) {
    api_problem (r, 507, "RESOURCE_EXHAUSTED", "the storage host has %"
                 PRIu64 " bytes free", avail);
    return;
  }
  if (sv_volume_create_checked (r->root, t, name, p) == -1)
    api_problem_errno (r, errno);
  else
    reply_volume (r, 201, t, name);
}

/* Run fn on the volume name with the tenant open and (tenant, name)
 * claimed; 409 ABORTED if another operation on it is in flight. */
static void
with_volume (struct api_req *r, const char *name,
             void (*fn) (struct api_req *r, const struct sv_tenant *t,
                         const char *name, const void *arg),
             const void *arg)
{
  struct sv_tenant *t;

  if (!flight_begin (r->token.tenant, name)) {
    api_problem (r, 409, "ABORTED", "an operation on volume %s is in flight",
                 name);
    return;
  }
  if ((t = api_open_tenant (r)) != NULL) {
    pthread_mutex_lock (&mutate_lock);
    fn (r, t, name, arg);
    pthread_mutex_unlock (&mutate_lock);
    sv_tenant_free (t);
  }
  flight_end (r->token.tenant, name);
}

/* After a create answered 200 or 201: bind the delete credential to
 * the volume's id. */
static void
register_delete (struct api_req *r, const char *name, const char *sha256)
{
  json_object *id;

  if (!json_object_object_get_ex (r->reply, "id", &id))
    return;
  if (sv_token_set_delete (r->root, r->token.tenant, sha256, name,
                           json_object_get_string (id)) == -1)
    api_problem_errno (r, errno);
}

static void
create (struct api_req *r, const struct sv_tenant *t, const char *name,
        const void *arg)
{
  const struct create_args *a = arg;
  json_object *have;

  if ((have = volume_object (t, name)) != NULL)
    create_existing (r, have, &a->p);
  else if (errno == ENOENT)
    create_new (r, t, name, &a->p);
  else
    api_problem_errno (r, errno);
  if (a->delete_sha256 && (r->status == 200 || r->status == 201))
    register_delete (r, name, a->delete_sha256);
}

void
api_volume_create (struct api_req *r)
{
  struct create_args a;
  const char *name;

  if (create_params (r, &name, &a))
    with_volume (r, name, create, &a);
}

/* PATCH {"size": BYTES}: grow; a smaller size is OUT_OF_RANGE. */
static void
resize (struct api_req *r, const struct sv_tenant *t, const char *name,
        const void *arg)
{
  uint64_t size = *(const uint64_t *) arg, now;

  if (sv_volume_size_of (t, name, &now) == -1) {
    api_problem_errno (r, errno);
    return;
  }
  if (size < now) {
    api_problem (r, 400, "OUT_OF_RANGE", "volume %s is %" PRIu64 " bytes; "
                 "it can grow, not shrink", name, now);
    return;
  }
  if (sv_volume_grow_checked (t, name, size, &now) == -1)
    api_problem_errno (r, errno);
  else
    reply_volume (r, 200, t, name);
}

void
api_volume_resize (struct api_req *r)
{
  uint64_t size;

  if (name_ok (r, r->param) && body_size (r, &size))
    with_volume (r, r->param, resize, &size);
}

/* Is the volume name still the one the delete credential was made for
 * (same volume id)?  False also when there is none. */
static bool
credential_volume (const struct api_req *r, const struct sv_tenant *t,
                   const char *name)
{
  struct sv_volume *v = sv_volume_open (t, name, SV_OPEN_INFO, NULL);
  char hex[2 * SV_ID_LEN + 1];

  if (v == NULL)
    return false;
  sodium_bin2hex (hex, sizeof hex, sv_volume_superblock (v)->volume_id,
                  SV_ID_LEN);
  sv_volume_close (v);
  return strcmp (hex, r->token.volume_id) == 0;
}

/* DELETE: crypto-erase; 204 also when there is no such volume (for a
 * delete credential: when the volume it was made for is gone). */
static void
delete (struct api_req *r, const struct sv_tenant *t, const char *name,
        const void *arg)
{
  (void) arg;
  if (!(r->token.scopes & SV_SCOPE_VOLUMES) && !credential_volume (r, t, name))
    api_reply (r, 204, NULL);
  else if (sv_volume_delete (t, name) == 0 || errno == ENOENT)
    api_reply (r, 204, NULL);
  else
    api_problem_errno (r, errno);
}

void
api_volume_delete (struct api_req *r)
{
  if (name_ok (r, r->param))
    with_volume (r, r->param, delete, NULL);
}
