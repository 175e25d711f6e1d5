/* sealvol CLI: the control API's tokens.  The secret is printed once, by
 * create, and stored nowhere; list shows everything else. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sodium.h>

#include "audit.h"
#include "token.h"

#include "cli-common.h"
#include "cli-token.h"

#define DEFAULT_LIFETIME "90d"

static void
audit_token (const struct options *o, const char *tenant, const char *event,
             const char *id)
{
  json_object *e = sv_audit_event (event, tenant);
  char dir[4096];

  json_object_object_add (e, "token", json_object_new_string (id));
  json_object_object_add (e, "uid", json_object_new_int64 (getuid ()));
  snprintf (dir, sizeof dir, "%s/%s", o->root, tenant);
  sv_audit_write (dir, e);
}

int
cmd_token_create (const struct options *o, const struct cli_args *a)
{
  const char *expires = o->expires ? o->expires : DEFAULT_LIFETIME;
  unsigned scopes = SV_SCOPE_VOLUMES;
  char token[SV_TOKEN_MAX + 1];
  int64_t lifetime;
  char *dot;

  if (o->scope && sv_token_scope_parse (o->scope, &scopes) == -1)
    return usage_error ("bad --scope '%s': use volumes or admin", o->scope);
  if (sv_duration_parse (expires, &lifetime) == -1)
    return usage_error ("bad --expires '%s': expected N with s, m, h or d "
                        "(90d, 12h), or never", expires);
  if (sv_token_create (o->root, a->tenant, scopes, lifetime, token) == -1)
    return EXIT_FAILURE;
  puts (token);
  fflush (stdout);
  dot = strrchr (token, '.');
  *dot = '\0';
  audit_token (o, a->tenant, "token-create", token);
  sodium_memzero (token, sizeof token);
  return EXIT_SUCCESS;
}

/* Unix seconds as UTC RFC 3339, or "never"/"-" for 0. */
static const char *
when (int64_t t, const char *zero, char *buf, size_t len)
{
  time_t tt = (time_t) t;
  struct tm tm;

  if (t == 0)
    return zero;
  strftime (buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&tt, &tm));
  return buf;
}

int
cmd_token_list (const struct options *o, const struct cli_args *a)
{
  struct sv_token_info *ti;
  char c[32], e[32], u[32];
  size_t n;

  if (sv_token_list (o->root, a->tenant, &ti, &n) == -1)
    return EXIT_FAILURE;
  printf ("%-40s %-8s %-20s %-20s %s\n", "ID", "SCOPE", "CREATED",
            "EXPIRES", "LAST-USED");
  for (size_t i = 0; i < n; i++)
    printf ("%-40s %-8s %-20s %-20s %s\n", ti[i].id,
            sv_token_scope_name (ti[i].scopes),
            when (ti[i].created, "-", c, sizeof c),
            when (ti[i].expires, "never", e, sizeof e),
            when (ti[i].last_used, "-", u, sizeof u));
  free (ti);
  return EXIT_SUCCESS;
}

int
cmd_token_revoke (const struct options *o, const struct cli_args *a)
{
  if (sv_token_revoke (o->root, a->tenant, a->extra) == -1)
    return EXIT_FAILURE;
  audit_token (o, a->tenant, "token-revoke", a->extra);
  printf ("revoked token %s\n", a->extra);
  return EXIT_SUCCESS;
}
