/* sealvol api: answers, errors and the audit line of a request. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "report.h"

#include "api-http.h"

static __thread char last_error[512];

static void
remember_error (const char *msg)
{
  snprintf (last_error, sizeof last_error, "%s", msg);
}

void
api_install_error_handler (void)
{
  sv_set_error_handler (remember_error);
}

const char *
api_last_error (void)
{
  return last_error;
}

void
api_reply (struct api_req *r, unsigned status, json_object *j)
{
  json_object_put (r->reply);
  r->status = status;
  r->reply = j;
}

static const char *
title (unsigned status)
{
  switch (status) {
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 413: return "Content Too Large";
  case 429: return "Too Many Requests";
  case 503: return "Service Unavailable";
  case 507: return "Insufficient Storage";
  default: return "Internal Server Error";
  }
}

json_object *
api_problem_json (unsigned status, const char *code, const char *detail)
{
  json_object *j = json_object_new_object ();

  json_object_object_add (j, "type", json_object_new_string ("about:blank"));
  json_object_object_add (j, "title", json_object_new_string (title (status)));
  json_object_object_add (j, "status", json_object_new_int ((int) status));
  json_object_object_add (j, "detail", json_object_new_string (detail));
  json_object_object_add (j, "code", json_object_new_string (code));
  return j;
}

void
api_problem (struct api_req *r, unsigned status, const char *code,
             const char *fmt, ...)
{
  char detail[600];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (detail, sizeof detail, fmt, ap);
  va_end (ap);
  api_reply (r, status, api_problem_json (status, code, detail));
}

void
api_problem_errno (struct api_req *r, int err)
{
  const char *msg = last_error;

  switch (err) {
  case EEXIST: api_problem (r, 409, "ALREADY_EXISTS", "%s", msg); break;
  case ENOENT: api_problem (r, 404, "NOT_FOUND", "%s", msg); break;
  case EDQUOT: case ENOSPC:
    api_problem (r, 507, "RESOURCE_EXHAUSTED", "%s", msg);
    break;
  case EINVAL: api_problem (r, 400, "INVALID_ARGUMENT", "%s", msg); break;
  case EBUSY: api_problem (r, 409, "FAILED_PRECONDITION", "%s", msg); break;
  case EAGAIN: api_problem (r, 409, "ABORTED", "%s", msg); break;
  default:
    log_error ("%s %s (tenant %s): %s", r->method, r->path, r->token.tenant,
               msg);
    api_problem (r, 500, "INTERNAL", "the storage host failed; its log "
                 "says why");
  }
}

void
api_audit (const struct api_req *r, const char *event)
{
  json_object *e = sv_audit_event (event, r->token.tenant);
  json_object *code;
  char dir[4096];

  json_object_object_add (e, "token", json_object_new_string (r->token.id));
  json_object_object_add (e, "source", json_object_new_string (r->source));
  json_object_object_add (e, "method", json_object_new_string (r->method));
  json_object_object_add (e, "resource", json_object_new_string (r->path));
  json_object_object_add (e, "status", json_object_new_int ((int) r->status));
  if (r->status >= 300 && r->reply
      && json_object_object_get_ex (r->reply, "code", &code))
    json_object_object_add (e, "result", json_object_get (code));
  else
    json_object_object_add (e, "result", json_object_new_string ("OK"));
  snprintf (dir, sizeof dir, "%s/%s", r->root, r->token.tenant);
  sv_audit_write (dir, e);
}
