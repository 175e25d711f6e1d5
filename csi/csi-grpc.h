/* A unary gRPC server over gRPC core's C API for protobuf-c messages.
 *
 * protobuf-c emits no gRPC glue, so the method paths are registered by
 * hand: each one names its request and response descriptors and a
 * handler.  Calls are served one at a time on one completion queue,
 * which is what keeps two CSI calls for one volume from racing.
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

/* Serve METHODS on ENDPOINT ("unix:///path.sock") until SIGTERM or
 * SIGINT.  Any other method path answers UNIMPLEMENTED.  Returns 0 after
 * a shutdown, -1 (with a message on stderr) if it cannot listen.  When
 * clients keep their channels open gRPC may still run threads on return,
 * so the caller should _exit. */
int csi_serve (const char *endpoint, const struct csi_method *methods,
               size_t n_methods);

#endif
