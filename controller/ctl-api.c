/* A storage host's control API (controller/ctl-api.h). */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "ctl-api.h"
#include "log.h"

#define REPLY_MAX (4 << 20)     /* a page of volumes is far smaller */

struct reply {
  char *data;
  size_t len;
  int too_big;
};

int
ctl_api_init (void)
{
  return curl_global_init (CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static size_t
collect (char *ptr, size_t size, size_t nmemb, void *user)
{
  struct reply *r = user;
  size_t n = size * nmemb;
  char *p;

  if (r->len + n > REPLY_MAX) {
    r->too_big = 1;
    return 0;
  }
  if ((p = realloc (r->data, r->len + n + 1)) == NULL)
    return 0;
  memcpy (p + r->len, ptr, n);
  r->len += n;
  p[r->len] = '\0';
  r->data = p;
  return n;
}

int
ctl_api_path (char *path, size_t len, const char *prefix, const char *s)
{
  char *e = curl_easy_escape (NULL, s, 0);
  int n;

  if (e == NULL)
    return -1;
  n = snprintf (path, len, "%s%s", prefix, e);
  curl_free (e);
  return n < 0 || (size_t) n >= len ? -1 : 0;
}

/* The problem document's "code", as the API spells the gRPC codes. */
static grpc_status_code
code_by_name (const char *name, long http)
{
  static const struct { const char *name; grpc_status_code code; } codes[] = {
    { "INVALID_ARGUMENT", GRPC_STATUS_INVALID_ARGUMENT },
    { "NOT_FOUND", GRPC_STATUS_NOT_FOUND },
    { "ALREADY_EXISTS", GRPC_STATUS_ALREADY_EXISTS },
    { "FAILED_PRECONDITION", GRPC_STATUS_FAILED_PRECONDITION },
    { "OUT_OF_RANGE", GRPC_STATUS_OUT_OF_RANGE },
    { "RESOURCE_EXHAUSTED", GRPC_STATUS_RESOURCE_EXHAUSTED },
    { "UNAUTHENTICATED", GRPC_STATUS_UNAUTHENTICATED },
    { "PERMISSION_DENIED", GRPC_STATUS_PERMISSION_DENIED },
    { "ABORTED", GRPC_STATUS_ABORTED },
    { "INTERNAL", GRPC_STATUS_INTERNAL },
    { "UNAVAILABLE", GRPC_STATUS_UNAVAILABLE },
  };

  for (size_t i = 0; name && i < sizeof codes / sizeof codes[0]; i++)
    if (strcmp (name, codes[i].name) == 0)
      return codes[i].code;
  /* No problem document (a proxy, an older server): the HTTP status. */
  switch (http) {
  case 400: return GRPC_STATUS_INVALID_ARGUMENT;
  case 401: return GRPC_STATUS_UNAUTHENTICATED;
  case 403: return GRPC_STATUS_PERMISSION_DENIED;
  case 404: return GRPC_STATUS_NOT_FOUND;
  case 409: return GRPC_STATUS_ALREADY_EXISTS;
  case 413: case 429: return GRPC_STATUS_RESOURCE_EXHAUSTED;
  case 502: case 503: case 504: return GRPC_STATUS_UNAVAILABLE;
  default: return GRPC_STATUS_INTERNAL;
  }
}

static const char *
string_field (json_object *o, const char *key)
{
  json_object *v;

  return o && json_object_object_get_ex (o, key, &v) && json_object_is_type (v, json_type_string)
    ? json_object_get_string (v) : NULL;
}

static grpc_status_code
problem (const struct ctl_host *h, const char *method, const char *path, long http,
         json_object *doc, struct csi_status *st)
{
  const char *detail = string_field (doc, "detail");
  const char *title = string_field (doc, "title");

  return csi_fail (st, code_by_name (string_field (doc, "code"), http),
                   "storage host %s: %s %s: HTTP %ld: %.200s", h->name, method, path, http,
                   detail ? detail : title ? title : "no detail");
}

static CURL *
make_handle (const struct ctl_host *h, const char *url, struct reply *r, char *errbuf)
{
  CURL *c = curl_easy_init ();

  if (c == NULL)
    return NULL;
  curl_easy_setopt (c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "https");
#else
  curl_easy_setopt (c, CURLOPT_PROTOCOLS, (long) CURLPROTO_HTTPS);
#endif
  /* The configured CA and nothing else: not the system store. */
  curl_easy_setopt (c, CURLOPT_CAINFO, h->ca_cert);
  curl_easy_setopt (c, CURLOPT_CAPATH, NULL);
  curl_easy_setopt (c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt (c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
  curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, errbuf);
  return c;
}

/* The headers, the token among them; *AUTH is wiped by the caller. */
static struct curl_slist *
make_headers (const char *token, char *auth, size_t len, int has_body)
{
  struct curl_slist *l = NULL, *t;

  snprintf (auth, len, "Authorization: Bearer %s", token);
  if ((t = curl_slist_append (l, auth)) == NULL)
    return NULL;
  l = t;
  if ((t = curl_slist_append (l, "Accept: application/json")) == NULL)
    goto fail;
  l = t;
  if (has_body) {
    if ((t = curl_slist_append (l, "Content-Type: application/json")) == NULL)
      goto fail;
    l = t;
  }
  return l;
 fail:
  curl_slist_free_all (l);
  return NULL;
}

/* Send the request; OK with *HTTP and R filled, or UNAVAILABLE. */
static grpc_status_code
perform (const struct ctl_host *h, const char *token, const char *method,
         const char *path, const char *body, struct reply *r, long *http,
         struct csi_status *st)
{
  char url[2048], errbuf[CURL_ERROR_SIZE] = "", auth[CTL_TOKEN_MAX + 32];
  struct curl_slist *headers;
  CURL *c;
  CURLcode rc;

  if ((size_t) snprintf (url, sizeof url, "%s%s", h->api_url, path) >= sizeof url)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "storage host %s: URL too long", h->name);
  c = make_handle (h, url, r, errbuf);
  headers = make_headers (token, auth, sizeof auth, body != NULL);
  explicit_bzero (auth, sizeof auth);   /* curl keeps its own copy */
  if (c == NULL || headers == NULL) {
    curl_slist_free_all (headers);
    curl_easy_cleanup (c);
    return csi_fail (st, GRPC_STATUS_INTERNAL, "out of memory");
  }
  curl_easy_setopt (c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (c, CURLOPT_CUSTOMREQUEST, method);
  if (body)
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
  rc = curl_easy_perform (c);
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, http);
  curl_slist_free_all (headers);
  curl_easy_cleanup (c);
  if (rc != CURLE_OK)
    return csi_fail (st, r->too_big ? GRPC_STATUS_INTERNAL : GRPC_STATUS_UNAVAILABLE,
                     "storage host %s (%s): %s %s: %s", h->name, h->api_url, method, path,
                     r->too_big ? "answer over 4 MiB" : errbuf[0] ? errbuf
                     : curl_easy_strerror (rc));
  return GRPC_STATUS_OK;
}

grpc_status_code
ctl_api_call (const struct ctl_host *h, const char *token, const char *method,
              const char *path, json_object *body, json_object **out, long *http,
              struct csi_status *st)
{
  struct reply r = { NULL, 0, 0 };
  long status = 0;
  json_object *doc = NULL;

  *out = NULL;
  if (perform (h, token, method, path,
               body ? json_object_to_json_string_ext (body, JSON_C_TO_STRING_PLAIN) : NULL,
               &r, &status, st) != GRPC_STATUS_OK) {
    free (r.data);
    return st->code;
  }
  if (http)
    *http = status;
  if (r.len > 0)
    doc = json_tokener_parse (r.data);
  free (r.data);
  log_debug ("%s %s %s: HTTP %ld", h->name, method, path, status);
  if (status < 200 || status > 299) {
    problem (h, method, path, status, doc, st);
    json_object_put (doc);
    return st->code;
  }
  if (r.len > 0 && doc == NULL)
    return csi_fail (st, GRPC_STATUS_INTERNAL, "storage host %s: %s %s: the answer is not JSON",
                     h->name, method, path);
  *out = doc;
  return GRPC_STATUS_OK;
}
