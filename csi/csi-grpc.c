/* A unary gRPC server for protobuf-c messages on gRPC core's C API.
 *
 * The loop asks for one call (grpc_server_request_call), then runs it in
 * two batches: send the initial metadata and receive the request, then
 * send the response (if OK), the status, and wait for the close.  Only
 * then is the next call requested.  A thread waiting in sigwait turns
 * SIGTERM/SIGINT into grpc_server_shutdown_and_notify, which is safe
 * from any thread.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "csi-grpc.h"
#include "log.h"

struct call_chunk {
  struct call_chunk *next;
  max_align_t data[];
};

struct csi_call {
  struct call_chunk *chunks;
};

void *
call_alloc (struct csi_call *call, size_t size)
{
  struct call_chunk *c = calloc (1, sizeof *c + size);

  if (c == NULL) {
    log_error ("calloc: %s", strerror (errno));
    abort ();                   /* a node plugin out of memory cannot answer */
  }
  c->next = call->chunks;
  call->chunks = c;
  return c->data;
}

static void
call_free (struct csi_call *call)
{
  while (call->chunks) {
    struct call_chunk *next = call->chunks->next;

    free (call->chunks);
    call->chunks = next;
  }
}

/* ---- the completion queues ---- */

/* A worker answers one call at a time on a completion queue of its own,
 * so its batches complete in order and need no matching.  The first
 * worker's queue also gets the shutdown notice. */
struct worker {
  grpc_completion_queue *cq;
  pthread_t thread;
  const struct csi_method *methods;
  size_t n_methods;
};

static grpc_server *server;
static struct worker *workers;
static size_t n_workers;
static int shutdown_tag;                /* addresses used as tags */
static int call_tag;
static int batch_tag;

/* Wait for TAG on CQ.  A worker serves one call at a time, so the only
 * other event that can arrive meanwhile is the shutdown notice. */
static int
wait_for (grpc_completion_queue *cq, void *tag, bool *shutting_down)
{
  for (;;) {
    grpc_event ev = grpc_completion_queue_next (cq,
                                                gpr_inf_future (GPR_CLOCK_REALTIME),
                                                NULL);
    if (ev.type != GRPC_OP_COMPLETE)
      return -1;
    if (ev.tag == &shutdown_tag) {
      *shutting_down = true;
      continue;
    }
    if (ev.tag == tag)
      return ev.success ? 0 : -1;
  }
}

static const struct csi_method *
find_method (const struct csi_method *methods, size_t n, grpc_slice path)
{
  for (size_t i = 0; i < n; i++)
    if (grpc_slice_str_cmp (path, methods[i].path) == 0)
      return &methods[i];
  return NULL;
}

/* Read the request message; NULL if it does not parse. */
static ProtobufCMessage *
unpack_request (const struct csi_method *m, grpc_byte_buffer *bb)
{
  grpc_byte_buffer_reader reader;
  grpc_slice all;
  ProtobufCMessage *msg = NULL;

  if (bb == NULL || !grpc_byte_buffer_reader_init (&reader, bb))
    return NULL;
  all = grpc_byte_buffer_reader_readall (&reader);
  grpc_byte_buffer_reader_destroy (&reader);
  msg = protobuf_c_message_unpack (m->request, NULL,
                                   GRPC_SLICE_LENGTH (all),
                                   GRPC_SLICE_START_PTR (all));
  grpc_slice_unref (all);
  return msg;
}

static grpc_byte_buffer *
pack_response (const ProtobufCMessage *msg)
{
  size_t len = protobuf_c_message_get_packed_size (msg);
  grpc_slice s = grpc_slice_malloc (len);
  grpc_byte_buffer *bb;

  protobuf_c_message_pack (msg, GRPC_SLICE_START_PTR (s));
  bb = grpc_raw_byte_buffer_create (&s, 1);
  grpc_slice_unref (s);
  return bb;
}

/* Run the handler of M on the received bytes; fills ST, and returns
 * the packed response when ST is OK. */
static grpc_byte_buffer *
dispatch (const struct csi_method *m, grpc_byte_buffer *request_bytes,
          struct csi_status *st)
{
  struct csi_call call = { NULL };
  ProtobufCMessage *request, *response;
  grpc_byte_buffer *out = NULL;

  if (m == NULL) {
    csi_fail (st, GRPC_STATUS_UNIMPLEMENTED, "method not implemented");
    return NULL;
  }
  request = unpack_request (m, request_bytes);
  if (request == NULL) {
    csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "request does not parse");
    return NULL;
  }
  response = call_alloc (&call, m->response->sizeof_message);
  m->response->message_init (response);
  st->code = GRPC_STATUS_OK;
  st->message[0] = '\0';
  if (m->handler (&call, request, response, st) == GRPC_STATUS_OK)
    out = pack_response (response);
  log_debug ("%s: status %d", m->path, (int) st->code);
  protobuf_c_message_free_unpacked (request, NULL);
  call_free (&call);
  return out;
}

/* Answer one call that has been accepted. */
static int
serve_call (const struct worker *w, grpc_call *call, grpc_slice method,
            bool *shutting_down)
{
  grpc_byte_buffer *request_bytes = NULL, *response_bytes;
  struct csi_status st;
  grpc_slice details;
  grpc_op ops[3];
  int cancelled = 0, r;
  size_t nops = 0;

  memset (ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_RECV_MESSAGE;
  ops[1].data.recv_message.recv_message = &request_bytes;
  if (grpc_call_start_batch (call, ops, 2, &batch_tag, NULL) != GRPC_CALL_OK
      || wait_for (w->cq, &batch_tag, shutting_down) == -1) {
    grpc_byte_buffer_destroy (request_bytes);
    return -1;
  }

  response_bytes = dispatch (find_method (w->methods, w->n_methods, method), request_bytes, &st);
  grpc_byte_buffer_destroy (request_bytes);

  memset (ops, 0, sizeof ops);
  if (response_bytes) {
    ops[nops].op = GRPC_OP_SEND_MESSAGE;
    ops[nops++].data.send_message.send_message = response_bytes;
  }
  details = grpc_slice_from_copied_string (st.message);
  ops[nops].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[nops].data.send_status_from_server.status = st.code;
  ops[nops++].data.send_status_from_server.status_details = &details;
  ops[nops].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[nops++].data.recv_close_on_server.cancelled = &cancelled;
  r = grpc_call_start_batch (call, ops, nops, &batch_tag, NULL) == GRPC_CALL_OK
    ? wait_for (w->cq, &batch_tag, shutting_down) : -1;
  grpc_slice_unref (details);
  grpc_byte_buffer_destroy (response_bytes);
  return r;
}

static void *
signal_thread (void *arg)
{
  sigset_t *set = arg;
  int sig;

  sigwait (set, &sig);
  log_info ("signal %d, shutting down", sig);
  grpc_server_shutdown_and_notify (server, workers[0].cq, &shutdown_tag);
  grpc_server_cancel_all_calls (server);
  return NULL;
}

/* "unix:///abs/path.sock" -> "/abs/path.sock", or NULL. */
static const char *
endpoint_socket_path (const char *endpoint)
{
  static const char prefix[] = "unix://";

  if (strncmp (endpoint, prefix, sizeof prefix - 1) != 0
      || endpoint[sizeof prefix - 1] != '/')
    return NULL;
  return endpoint + sizeof prefix - 1;
}

static int
start_listening (const char *endpoint)
{
  const char *path = endpoint_socket_path (endpoint);
  grpc_server_credentials *creds;
  struct stat sb;
  int port;

  if (path == NULL) {
    log_error ("CSI_ENDPOINT must be unix:///ABSOLUTE/PATH.sock, not %s", endpoint);
    return -1;
  }
  /* A socket left by a previous run would make the bind fail; anything
   * else there is not ours to remove. */
  if (lstat (path, &sb) == 0 && !S_ISSOCK (sb.st_mode)) {
    log_error ("%s exists and is not a socket", path);
    return -1;
  }
  if (unlink (path) == -1 && errno != ENOENT) {
    log_error ("%s: %s", path, strerror (errno));
    return -1;
  }
  server = grpc_server_create (NULL, NULL);
  for (size_t i = 0; i < n_workers; i++)
    grpc_server_register_completion_queue (server, workers[i].cq, NULL);
  creds = grpc_insecure_server_credentials_create ();
  port = grpc_server_add_http2_port (server, endpoint, creds);
  grpc_server_credentials_release (creds);
  if (port == 0) {
    log_error ("cannot listen on %s", endpoint);
    return -1;
  }
  grpc_server_start (server);
  log_info ("listening on %s", endpoint);
  return 0;
}

/* Until a signal starts the shutdown: then the outstanding request for
 * a call fails, and the loop ends. */
static void *
serve_until_shutdown (void *arg)
{
  const struct worker *w = arg;
  bool shutting_down = false;

  while (!shutting_down) {
    grpc_call *call = NULL;
    grpc_call_details details;
    grpc_metadata_array metadata;

    grpc_call_details_init (&details);
    grpc_metadata_array_init (&metadata);
    if (grpc_server_request_call (server, &call, &details, &metadata,
                                  w->cq, w->cq, &call_tag) != GRPC_CALL_OK
        || wait_for (w->cq, &call_tag, &shutting_down) == -1)
      shutting_down = true;
    else if (call)
      serve_call (w, call, details.method, &shutting_down);
    if (call)
      grpc_call_unref (call);
    grpc_call_details_destroy (&details);
    grpc_metadata_array_destroy (&metadata);
  }
  return NULL;
}

static void
destroy_queues (void)
{
  for (size_t i = 0; i < n_workers; i++) {
    grpc_event ev;

    grpc_completion_queue_shutdown (workers[i].cq);
    do
      ev = grpc_completion_queue_next (workers[i].cq,
                                       gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
    while (ev.type != GRPC_QUEUE_SHUTDOWN);
    grpc_completion_queue_destroy (workers[i].cq);
  }
  free (workers);
}

/* Stop the server and free it.  gRPC completes a shutdown only when
 * its clients have hung up, and a kubelet keeps its channel open: after
 * a short grace the process just exits (returns false), which is safe
 * because everything the plugin knows is on disk. */
static bool
drain_and_destroy (void)
{
  gpr_timespec deadline = gpr_time_add (gpr_now (GPR_CLOCK_MONOTONIC),
                                        gpr_time_from_seconds (2, GPR_TIMESPAN));
  grpc_event ev;

  grpc_server_shutdown_and_notify (server, workers[0].cq, &shutdown_tag);
  grpc_server_cancel_all_calls (server);
  do
    ev = grpc_completion_queue_next (workers[0].cq, deadline, NULL);
  while (ev.type == GRPC_OP_COMPLETE && ev.tag != &shutdown_tag);
  if (ev.type != GRPC_OP_COMPLETE)
    return false;
  grpc_server_destroy (server);
  destroy_queues ();
  return true;
}

/* The first worker runs on the calling thread, the others on threads of
 * their own; after a shutdown every outstanding request for a call
 * fails, so they all end. */
static void
run_workers (void)
{
  size_t started = 1;

  for (; started < n_workers; started++)
    if (pthread_create (&workers[started].thread, NULL, serve_until_shutdown,
                        &workers[started]) != 0)
      break;
  serve_until_shutdown (&workers[0]);
  for (size_t i = 1; i < started; i++)
    pthread_join (workers[i].thread, NULL);
}

int
csi_serve (const char *endpoint, const struct csi_method *methods,
           size_t n_methods, size_t n_threads)
{
  static sigset_t set;
  pthread_t sig_thread;
  int r = -1;

  /* Block the signals in every thread (gRPC's included) before any is
   * created, so that only the sigwait thread sees them. */
  sigemptyset (&set);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  pthread_sigmask (SIG_BLOCK, &set, NULL);

  grpc_init ();
  n_workers = n_threads ? n_threads : 1;
  workers = calloc (n_workers, sizeof *workers);
  if (workers == NULL) {
    log_error ("calloc: %s", strerror (errno));
    return -1;
  }
  for (size_t i = 0; i < n_workers; i++) {
    workers[i].cq = grpc_completion_queue_create_for_next (NULL);
    workers[i].methods = methods;
    workers[i].n_methods = n_methods;
  }
  if (start_listening (endpoint) == 0) {
    if (pthread_create (&sig_thread, NULL, signal_thread, &set) == 0) {
      run_workers ();
      /* The loop may also end without a signal (the server failed):
       * wake the signal thread so that it can be joined. */
      pthread_kill (sig_thread, SIGTERM);
      pthread_join (sig_thread, NULL);
      r = 0;
    }
    if (!drain_and_destroy ())
      return r;                 /* clients still connected: the caller exits */
  }
  else {
    if (server)
      grpc_server_destroy (server);
    destroy_queues ();
  }
  grpc_shutdown ();
  return r;
}
