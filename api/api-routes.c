/* sealvol api: the routes.  This table is what the server answers;
 * 'sealvol api serve --print-routes' prints it and tests/test-api-doc.sh
 * compares it with docs/api.yaml both ways. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qos-config.h"
#include "tenant.h"
#include "names.h"

#include "api-routes.h"
#include "api-volumes.h"

#define NAME_PARAM "{name}"

struct api_route {
  const char *method;
  const char *path;             /* may end in NAME_PARAM */
  void (*fn) (struct api_req *r);
  unsigned scope;               /* SV_SCOPE_* the token needs */
  const char *audit;            /* a mutation's audit event, else NULL */
};

static void tenant_create (struct api_req *r);
static void tenant_rotate_key (struct api_req *r);

static const struct api_route routes[] = {
  { "GET", "/v1/capacity", api_capacity, SV_SCOPE_VOLUMES, NULL },
  { "GET", "/v1/volumes", api_volume_list, SV_SCOPE_VOLUMES, NULL },
  { "POST", "/v1/volumes", api_volume_create, SV_SCOPE_VOLUMES,
    "api-volume-create" },
  { "GET", "/v1/volumes/" NAME_PARAM, api_volume_get, SV_SCOPE_VOLUMES, NULL },
  { "PATCH", "/v1/volumes/" NAME_PARAM, api_volume_resize, SV_SCOPE_VOLUMES,
    "api-volume-resize" },
  { "DELETE", "/v1/volumes/" NAME_PARAM, api_volume_delete, SV_SCOPE_VOLUMES,
    "api-volume-delete" },
  { "POST", "/v1/tenant/rotate-key", tenant_rotate_key, SV_SCOPE_ADMIN,
    NULL },                     /* the rotation audits itself */
  { "POST", "/v1/tenants", tenant_create, SV_SCOPE_ADMIN,
    "api-tenant-create" },
};
#define NROUTES (sizeof routes / sizeof routes[0])

void
api_print_routes (void)
{
  for (size_t i = 0; i < NROUTES; i++)
    printf ("%s %s\n", routes[i].method, routes[i].path);
}

bool
api_wants_body (const char *method)
{
  return strcmp (method, "POST") == 0 || strcmp (method, "PATCH") == 0;
}

/* Does path match the route's pattern?  *param gets what {name} matched. */
static bool
path_matches (const char *pattern, const char *path, const char **param)
{
  const char *p = strstr (pattern, NAME_PARAM);
  size_t n = p ? (size_t) (p - pattern) : strlen (pattern);

  *param = NULL;
  if (p == NULL)
    return strcmp (pattern, path) == 0;
  if (strncmp (pattern, path, n) != 0 || path[n] == '\0')
    return false;
  *param = path + n;
  return true;
}

/* A per-volume delete credential may delete its one volume. */
static bool
delete_credential_allows (const struct api_req *r,
                          const struct api_route *route)
{
  return (r->token.scopes & SV_SCOPE_DELETE) && route->fn == api_volume_delete
    && r->param && r->token.volume[0] && strcmp (r->param, r->token.volume) == 0;
}

void
api_dispatch (struct api_req *r)
{
  const struct api_route *found = NULL;
  bool path_known = false;

  for (size_t i = 0; i < NROUTES && found == NULL; i++) {
    if (!path_matches (routes[i].path, r->path, &r->param))
      continue;
    path_known = true;
    if (strcmp (routes[i].method, r->method) == 0)
      found = &routes[i];
  }
  if (found == NULL && path_known) {
    api_problem (r, 405, "INVALID_ARGUMENT", "method %s not allowed here",
                 r->method);
    return;
  }
  if (found == NULL) {
    api_problem (r, 404, "NOT_FOUND", "no such resource");
    return;
  }
  if ((r->token.scopes & found->scope) != found->scope
      && !delete_credential_allows (r, found))
    api_problem (r, 403, "PERMISSION_DENIED", "the token's scope does not "
                 "allow this");
  else
    found->fn (r);
  if (found->audit)
    api_audit (r, found->audit);
}

/* POST /v1/tenants {"name": "..."}: admin scope; the new tenant's key is
 * a key file in its directory, as 'sealvol tenant create' makes. */
static void
tenant_create (struct api_req *r)
{
  json_object *name, *j;
  const char *n;

  if (!json_object_object_get_ex (r->body, "name", &name)
      || !json_object_is_type (name, json_type_string)) {
    api_problem (r, 400, "INVALID_ARGUMENT", "\"name\" (a string) is required");
    return;
  }
  n = json_object_get_string (name);
  if (!sv_name_ok (n)) {
    api_problem (r, 400, "INVALID_ARGUMENT", "bad tenant name: %s",
                 sv_name_problem (n));
    return;
  }
  if (sv_tenant_create (r->root, n, NULL) == -1
      || sv_service_types_install_default (r->root) == -1) {
    api_problem_errno (r, errno);
    return;
  }
  j = json_object_new_object ();
  json_object_object_add (j, "name", json_object_new_string (n));
  api_reply (r, 201, j);
}

/* POST /v1/tenant/rotate-key: admin scope; the token's tenant gets a new
 * tenant key, as 'sealvol tenant rotate-key' gives it (its server keeps
 * serving).  Answers the new key version. */
static void
tenant_rotate_key (struct api_req *r)
{
  struct sv_tenant *t;
  json_object *j;

  if (sv_tenant_rotate_key (r->root, r->token.tenant) == -1
      || (t = sv_tenant_open (r->root, r->token.tenant)) == NULL) {
    api_problem_errno (r, errno);
    return;
  }
  j = json_object_new_object ();
  json_object_object_add (j, "tenant", json_object_new_string (t->name));
  json_object_object_add (j, "key_version",
                          json_object_new_int64 (t->key_version));
  sv_tenant_free (t);
  api_reply (r, 200, j);
}
