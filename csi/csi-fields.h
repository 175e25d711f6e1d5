/* Reading the fields of CSI requests: what both plugins check the same
 * way (csi/csi-fields.c). */
#ifndef SEALVOL_CSI_FIELDS_H
#define SEALVOL_CSI_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "csi-status.h"

/* No control characters other than tab: every string may end up in a
 * log line. */
bool csi_printable (const char *s);

/* FIELD must be a non-empty string (proto3 sends "" for unset) without
 * control characters other than tab.  GRPC_STATUS_OK (0), or ST filled
 * and its code returned, so that checks chain with ||. */
grpc_status_code require_field (const char *value, const char *field,
                                struct csi_status *st);

/* The value of KEY in a protobuf-c map (N entries), or NULL. */
const char *map_get (size_t n, void *entries, const char *key);

#endif
