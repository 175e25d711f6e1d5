/* sealvol api: bearer tokens and the limiter of failed attempts. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "ratelimit.h"
#include "token.h"

#include "api-auth.h"

#define SLOTS 1024              /* addresses tracked at once */

struct source {
  char addr[64];
  struct sv_log_limit limit;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct source sources[SLOTS];

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}

/* The slot of addr; a slot of another address whose interval is over is
 * taken over (caller holds lock). */
static struct source *
source_of (const char *addr, uint64_t now)
{
  uint32_t h = 2166136261u;
  struct source *s;

  for (const char *p = addr; *p; p++)
    h = (h ^ (uint8_t) *p) * 16777619u;
  s = &sources[h % SLOTS];
  if (strcmp (s->addr, addr) != 0
      && (s->addr[0] == '\0' || now >= s->limit.interval_end)) {
    uint64_t left = sv_log_limit_flush (&s->limit);
    if (left)
      log_warning ("%" PRIu64 " more failed authentications from %s",
                   left, s->addr);
    memset (s, 0, sizeof *s);
    snprintf (s->addr, sizeof s->addr, "%s", addr);
  }
  return s;
}

static bool
blocked (const char *addr)
{
  uint64_t now = now_ns ();
  struct source *s;
  bool r;

  pthread_mutex_lock (&lock);
  s = source_of (addr, now);
  r = strcmp (s->addr, addr) == 0 && sv_log_limit_over (&s->limit, now);
  pthread_mutex_unlock (&lock);
  return r;
}

static void
audit_failure (const struct api_req *r, const char *why)
{
  json_object *e;
  char dir[4096];

  if (r->token.id[0] == '\0')
    return;                     /* no tenant to tell */
  snprintf (dir, sizeof dir, "%s/%s", r->root, r->token.tenant);
  if (access (dir, F_OK) == -1)
    return;
  e = sv_audit_event ("api-auth-failed", r->token.tenant);
  json_object_object_add (e, "token", json_object_new_string (r->token.id));
  json_object_object_add (e, "source", json_object_new_string (r->source));
  json_object_object_add (e, "method", json_object_new_string (r->method));
  json_object_object_add (e, "resource", json_object_new_string (r->path));
  json_object_object_add (e, "reason", json_object_new_string (why));
  sv_audit_write (dir, e);
}

/* Count a failure; log and audit it unless the limiter says not. */
static void
failed (const struct api_req *r, const char *why)
{
  uint64_t now = now_ns (), summary;
  struct source *s;
  bool log;

  pthread_mutex_lock (&lock);
  s = source_of (r->source, now);
  log = sv_log_limit_event (&s->limit, now, &summary);
  pthread_mutex_unlock (&lock);
  if (summary)
    log_warning ("%" PRIu64 " more failed authentications from %s", summary,
                 r->source);
  if (!log)
    return;
  log_warning ("authentication failed from %s: %s%s%s", r->source, why,
               r->token.id[0] ? ", token " : "", r->token.id);
  audit_failure (r, why);
}

int
api_authenticate (struct api_req *r)
{
  const char *h = MHD_lookup_connection_value (r->conn, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_AUTHORIZATION);
  const char *why = "no bearer token";

  if (blocked (r->source)) {
    api_problem (r, 429, "RESOURCE_EXHAUSTED", "too many failed "
                 "authentications from %s; try again later", r->source);
    return -1;
  }
  if (h && strncasecmp (h, "Bearer ", 7) == 0) {
    if (sv_token_check (r->root, h + 7, time (NULL), &r->token) == 0)
      return 0;
    why = errno == EKEYEXPIRED ? "token expired"
      : "unknown, revoked or wrong token";
  }
  failed (r, why);
  api_problem (r, 401, "UNAUTHENTICATED", "%s", why);
  return -1;
}

void
api_auth_flush (void)
{
  pthread_mutex_lock (&lock);
  for (size_t i = 0; i < SLOTS; i++) {
    uint64_t left = sv_log_limit_flush (&sources[i].limit);
    if (left)
      log_warning ("%" PRIu64 " more failed authentications from %s", left,
                   sources[i].addr);
  }
  pthread_mutex_unlock (&lock);
}
