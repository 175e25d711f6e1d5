/* sealvol api: one request as the route handlers see it, and how they
 * answer (api-http.c). */
#ifndef SEALVOL_API_HTTP_H
#define SEALVOL_API_HTTP_H

#include <stdbool.h>
#include <json-c/json.h>
#include <microhttpd.h>

#include "token.h"

#define API_MAX_BODY (1 << 20)

struct api_req {
  struct MHD_Connection *conn;
  const char *method, *path;
  char source[64];              /* the client's address */
  const char *root;
  json_object *body;            /* POST and PATCH: the parsed object */
  struct sv_token_info token;   /* who asks */
  const char *param;            /* the {name} of the path, or NULL */
  /* The answer. */
  unsigned status;
  json_object *reply;           /* NULL: no body */
  const char *allow;            /* 405: the Allow header */
};

/* Answer status with j (consumed; NULL for no body). */
void api_reply (struct api_req *r, unsigned status, json_object *j);
/* An RFC 9457 problem object. */
json_object *api_problem_json (unsigned status, const char *code,
                               const char *detail);
/* Answer an error: status, the gRPC code name, a detail. */
void api_problem (struct api_req *r, unsigned status, const char *code,
                  const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));
/* Answer the failure of a library call from errno and the message it
 * reported (EEXIST 409, ENOENT 404, EDQUOT/ENOSPC 507, EINVAL 400, EBUSY
 * 409, else 500 with the message only in the server's log). */
void api_problem_errno (struct api_req *r, int err);

/* The last message sv_error reported on this thread. */
const char *api_last_error (void);
void api_install_error_handler (void);

/* One audit line for the request in the token's tenant's log. */
void api_audit (const struct api_req *r, const char *event);

#endif
