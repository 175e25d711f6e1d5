/* Failing a CSI call with a message (node/csi-status.h). */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>

#include "csi-status.h"

grpc_status_code
csi_fail (struct csi_status *st, grpc_status_code code, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (st->message, sizeof st->message, fmt, ap);
  va_end (ap);
  st->code = code;
  return code;
}
