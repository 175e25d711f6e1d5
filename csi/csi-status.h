/* The outcome of a CSI call: a canonical gRPC code and, when it is not
 * OK, one human-readable line (the spec wants no status details). */
#ifndef SEALVOL_CSI_STATUS_H
#define SEALVOL_CSI_STATUS_H

#include <grpc/status.h>

struct csi_status {
  grpc_status_code code;
  char message[512];
};

/* Returns the code it was given, so that "return csi_fail (...)" reads
 * as what it does. */
grpc_status_code csi_fail (struct csi_status *st, grpc_status_code code,
                           const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

/* Back to OK (an error that turns out to be success). */
static inline grpc_status_code
csi_ok (struct csi_status *st)
{
  st->code = GRPC_STATUS_OK;
  st->message[0] = '\0';
  return GRPC_STATUS_OK;
}

#endif
