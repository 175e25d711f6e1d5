/* sealvol api serve: the libmicrohttpd glue.  TLS always (GnuTLS through
 * MHD_USE_TLS, TLS 1.2 and 1.3 only); a pool of threads; bodies of at
 * most API_MAX_BODY bytes, refused with 413 before they are read when the
 * Content-Length says so; SIGTERM or SIGINT stops it. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "log.h"
#include "ratelimit.h"

#include "api.h"
#include "api-auth.h"
#include "api-routes.h"

#define THREADS 4
#define MAX_CONNECTIONS 512
#define TIMEOUT_S 30
#define PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct body {
  char *data;
  size_t len;
  bool too_big;
};

static const char *root;

static void
client_address (struct MHD_Connection *c, char *out, size_t len)
{
  const union MHD_ConnectionInfo *ci =
    MHD_get_connection_info (c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;
  socklen_t salen = sa && sa->sa_family == AF_INET6
    ? sizeof (struct sockaddr_in6) : sizeof (struct sockaddr_in);

  if (sa == NULL || getnameinfo (sa, salen, out, (socklen_t) len, NULL, 0,
                                 NI_NUMERICHOST) != 0)
    snprintf (out, len, "unknown");
}

static enum MHD_Result
send_reply (struct MHD_Connection *c, struct api_req *r)
{
  const char *text = r->reply ? json_object_to_json_string_ext
    (r->reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "";
  struct MHD_Response *resp =
    MHD_create_response_from_buffer (strlen (text), (void *) text,
                                     MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret;

  if (resp == NULL)
    return MHD_NO;
  if (r->reply)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                             r->status >= 400 ? "application/problem+json"
                             : "application/json");
  if (r->status == 401)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                             "Bearer");
  if (r->status == 429)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_RETRY_AFTER, "10");
  ret = MHD_queue_response (c, r->status, resp);
  MHD_destroy_response (resp);
  json_object_put (r->reply);
  return ret;
}

static enum MHD_Result
send_problem (struct MHD_Connection *c, unsigned status, const char *code,
              const char *detail)
{
  struct api_req r = { .status = status,
    .reply = api_problem_json (status, code, detail) };

  return send_reply (c, &r);
}

/* The body as a JSON object, or false with the problem answered. */
static bool
parse_body (struct api_req *r, const struct body *b)
{
  enum json_tokener_error err = json_tokener_success;
  json_tokener *tok = json_tokener_new ();

  if (b->len)
    r->body = json_tokener_parse_ex (tok, b->data, (int) b->len);
  err = json_tokener_get_error (tok);
  json_tokener_free (tok);
  if (b->len && err == json_tokener_success
      && json_object_is_type (r->body, json_type_object))
    return true;
  json_object_put (r->body);
  r->body = NULL;
  api_problem (r, 400, "INVALID_ARGUMENT", "the body must be a JSON object%s%s",
               err != json_tokener_success ? ": " : "",
               err != json_tokener_success ? json_tokener_error_desc (err) : "");
  return false;
}

static enum MHD_Result
handle (struct MHD_Connection *c, const char *url, const char *method,
        struct body *b)
{
  struct api_req r = { .conn = c, .method = method, .path = url,
    .root = root, .status = 500 };
  enum MHD_Result ret;

  client_address (c, r.source, sizeof r.source);
  if (api_authenticate (&r) == 0
      && (!api_wants_body (method) || parse_body (&r, b)))
    api_dispatch (&r);
  ret = send_reply (c, &r);
  json_object_put (r.body);
  return ret;
}

/* Body bytes: kept up to API_MAX_BODY, past that dropped and counted. */
static void
take_body (struct body *b, const char *data, size_t len)
{
  char *p;

  if (b->too_big || b->len + len > API_MAX_BODY) {
    b->too_big = true;
    return;
  }
  if ((p = realloc (b->data, b->len + len + 1)) == NULL) {
    b->too_big = true;
    return;
  }
  b->data = p;
  memcpy (b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
}

static enum MHD_Result
on_request (void *cls, struct MHD_Connection *c, const char *url,
            const char *method, const char *version, const char *data,
            size_t *size, void **state)
{
  struct body *b = *state;
  const char *cl;

  (void) cls;
  (void) version;
  if (b == NULL) {
    if ((b = *state = calloc (1, sizeof *b)) == NULL)
      return MHD_NO;
    cl = MHD_lookup_connection_value (c, MHD_HEADER_KIND,
                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull (cl, NULL, 10) > API_MAX_BODY)
      return send_problem (c, 413, "INVALID_ARGUMENT",
                           "the body is larger than 1 MiB");
    return MHD_YES;
  }
  if (*size) {
    take_body (b, data, *size);
    *size = 0;
    return MHD_YES;
  }
  if (b->too_big)
    return send_problem (c, 413, "INVALID_ARGUMENT",
                         "the body is larger than 1 MiB");
  return handle (c, url, method, b);
}

static void
on_completed (void *cls, struct MHD_Connection *c, void **state,
              enum MHD_RequestTerminationCode why)
{
  struct body *b = *state;

  (void) cls;
  (void) c;
  (void) why;
  if (b) {
    free (b->data);
    free (b);
    *state = NULL;
  }
}

/* libmicrohttpd's own messages (a failed TLS handshake, say) are what a
 * client causes at will: rate-limited like failed authentications. */
static void
on_mhd_error (void *cls, const char *fmt, va_list ap)
{
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  static struct sv_log_limit limit;
  struct timespec ts;
  uint64_t summary;
  char msg[512];
  bool log;

  (void) cls;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  pthread_mutex_lock (&lock);
  log = sv_log_limit_event (&limit, (uint64_t) ts.tv_sec * 1000000000
                            + (uint64_t) ts.tv_nsec, &summary);
  pthread_mutex_unlock (&lock);
  if (summary)
    log_warning ("%" PRIu64 " more messages of libmicrohttpd", summary);
  if (!log)
    return;
  vsnprintf (msg, sizeof msg, fmt, ap);
  msg[strcspn (msg, "\n")] = '\0';
  log_warning ("%s", msg);
}

/* A PEM file whole, NUL-terminated; the key in locked memory. */
static char *
read_pem (const char *dir, const char *leaf, bool secret, size_t *len)
{
  char path[4200];
  struct stat st;
  char *buf;
  int fd;

  snprintf (path, sizeof path, "%s/%s", dir, leaf);
  if ((fd = open (path, O_RDONLY | O_CLOEXEC)) == -1 || fstat (fd, &st) == -1) {
    log_error ("cannot read %s: %m", path);
    if (fd != -1)
      close (fd);
    return NULL;
  }
  if (secret && (st.st_mode & 077)) {
    log_error ("%s is readable by group or others: make it mode 0600", path);
    close (fd);
    return NULL;
  }
  *len = (size_t) st.st_size;
  buf = secret ? sodium_malloc (*len + 1) : malloc (*len + 1);
  if (buf == NULL || read (fd, buf, *len) != (ssize_t) *len) {
    log_error ("cannot read %s: %m", path);
    close (fd);
    return NULL;
  }
  buf[*len] = '\0';
  close (fd);
  return buf;
}

static struct addrinfo *
resolve (const struct sv_api_options *o)
{
  struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
    .ai_socktype = SOCK_STREAM };
  struct addrinfo *ai;
  int e;

  if ((e = getaddrinfo (o->addr, o->port, &hints, &ai)) != 0) {
    log_error ("bad listen address %s port %s: %s", o->addr, o->port,
               gai_strerror (e));
    return NULL;
  }
  return ai;
}

static struct MHD_Daemon *
start (const struct addrinfo *ai, const char *cert, const char *key)
{
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_TLS
    | MHD_USE_ERROR_LOG | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);

  return MHD_start_daemon (flags, 0, NULL, NULL, on_request, NULL,
                           MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
                           MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                           MHD_OPTION_HTTPS_MEM_CERT, cert,
                           MHD_OPTION_HTTPS_MEM_KEY, key,
                           MHD_OPTION_HTTPS_PRIORITIES, PRIORITIES,
                           MHD_OPTION_THREAD_POOL_SIZE, (unsigned) THREADS,
                           MHD_OPTION_CONNECTION_LIMIT,
                           (unsigned) MAX_CONNECTIONS,
                           MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) TIMEOUT_S,
                           MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                           MHD_OPTION_END);
}

static void
wait_for_stop (void)
{
  sigset_t set;
  int sig;

  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigwait (&set, &sig);
  log_info ("stopping on signal %d", sig);
}

int
sv_api_serve (const struct sv_api_options *o)
{
  struct MHD_Daemon *d = NULL;
  struct addrinfo *ai = resolve (o);
  size_t certlen = 0, keylen = 0;
  char *cert = NULL, *key = NULL;
  sigset_t set;

  root = o->root;
  api_install_error_handler ();
  signal (SIGPIPE, SIG_IGN);
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);      /* threads inherit it */
  if (ai && (cert = read_pem (o->tls_dir, "server-cert.pem", false, &certlen))
      && (key = read_pem (o->tls_dir, "server-key.pem", true, &keylen))
      && (d = start (ai, cert, key)) == NULL)
    log_error ("cannot serve on %s port %s: %m", o->addr, o->port);
  if (ai)
    freeaddrinfo (ai);
  if (d) {
    log_info ("serving the control API on https://%s:%s (root %s)",
              o->addr, o->port, o->root);
    wait_for_stop ();
    MHD_stop_daemon (d);
    api_auth_flush ();
  }
  free (cert);
  if (key)
    sodium_free (key);
  return d ? 0 : -1;
}

void
sv_api_print_routes (void)
{
  api_print_routes ();
}
