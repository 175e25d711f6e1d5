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

void
cli_token_id (const char *token, char id[SV_TOKEN_ID_MAX + 1])
{
  const char *dot = strrchr (token, '.');
  size_t n = dot ? (size_t) (dot - token) : strlen (token);

  snprintf (id, SV_TOKEN_ID_MAX + 1, "%.*s", (int) n, token);
}

/* A new token of the tenant, its lifetime from --expires, audited; into
 * token as ID.SECRET and *expires_at (Unix seconds, 0 for never).  0, or
 * the exit status. */
static int
new_token (const struct options *o, const char *tenant, unsigned scopes,
           char token[SV_TOKEN_MAX + 1], int64_t *expires_at)
{
  const char *expires = o->expires ? o->expires : DEFAULT_LIFETIME;
  char id[SV_TOKEN_ID_MAX + 1];
  int64_t lifetime;

  if (sv_duration_parse (expires, &lifetime) == -1)
    return usage_error ("bad --expires '%s': expected N with s, m, h or d "
                        "(90d, 12h), or never", expires);
  if (sv_token_create (o->root, tenant, scopes, lifetime, token) == -1)
    return EXIT_FAILURE;
  *expires_at = lifetime ? (int64_t) time (NULL) + lifetime : 0;
  cli_token_id (token, id);
  audit_token (o, tenant, "token-create", id);
  return 0;
}

int
cmd_token_create (const struct options *o, const struct cli_args *a)
{
  unsigned scopes = SV_SCOPE_VOLUMES;
  char token[SV_TOKEN_MAX + 1];
  int64_t expires_at;
  int r;

  if (o->scope && sv_token_scope_parse (o->scope, &scopes) == -1)
    return usage_error ("bad --scope '%s': use volumes or admin", o->scope);
  if ((r = new_token (o, a->tenant, scopes, token, &expires_at)) != 0)
    return r;
  puts (token);
  fflush (stdout);
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
cli_token_for_secret (const struct options *o, const char *tenant,
                      char token[SV_TOKEN_MAX + 1])
{
  char e[32], id[SV_TOKEN_ID_MAX + 1];
  int64_t expires_at;
  int r;

  if ((r = new_token (o, tenant, SV_SCOPE_VOLUMES, token, &expires_at)) != 0)
    return r;
  /* The id only: stderr may end up in a log. */
  cli_token_id (token, id);
  fprintf (stderr, "sealvol: the Secret holds a new API token of tenant %s "
           "(scope volumes, expires %s); 'sealvol tenant token revoke %s %s' "
           "withdraws it\n", tenant,
           when (expires_at, "never", e, sizeof e), tenant, id);
  return 0;
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
