/* A unary gRPC server over gRPC core's C API for protobuf-c messages.
 *
 * protobuf-c emits no gRPC glue, so the method paths are registered by
 * hand: each one names its request and response descriptors and a
 * handler.  Each of a fixed number of threads serves one call at a
 * time: with one thread (the node plugin) two CSI calls for one volume
 * cannot race; with more, the handlers must keep them apart.
 */
#ifndef SEALVOL_CSI_GRPC_H
#define SEALVOL_CSI_GRPC_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "csi-status.h"

/* One call in progress.  Whatever a handler hangs off its response
 * (strings, sub-messages, arrays) comes from call_alloc and is freed
 * with the call. */
struct csi_call;

void *call_alloc (struct csi_call *call, size_t size);

typedef grpc_status_code (*csi_handler) (struct csi_call *call,
                                         const ProtobufCMessage *request,
                                         ProtobufCMessage *response,
                                         struct csi_status *st);

struct csi_method {
  const char *path;                       /* "/csi.v1.Node/NodeGetInfo" */
  const ProtobufCMessageDescriptor *request;
  const ProtobufCMessageDescriptor *response;
  csi_handler handler;
};

/* The entry of METHOD for the CSI method SERVICE/NAME, whose messages
 * are csi__v1__TYPE_request and csi__v1__TYPE_response. */
#define CSI_METHOD(service, name, type, handler)                        \
  { "/csi.v1." service "/" name, &csi__v1__##type##_request__descriptor, \
    &csi__v1__##type##_response__descriptor, handler }

/* Serve METHODS on ENDPOINT ("unix:///path.sock") with N_THREADS calls
 * at a time until SIGTERM or SIGINT.  Any other method path answers UNIMPLEMENTED.  Returns 0 after
 * a shutdown, -1 (with a message on stderr) if it cannot listen.  When
 * clients keep their channels open gRPC may still run threads on return,
 * so the caller should _exit. */
int csi_serve (const char *endpoint, const struct csi_method *methods,
               size_t n_methods, size_t n_threads);

#endif
