/* Reading the fields of CSI requests (csi/csi-fields.h). */
#include <config.h>

#include <string.h>
#include <protobuf-c/protobuf-c.h>

#include "csi-fields.h"

bool
csi_printable (const char *s)
{
  for (; *s; s++)
    if ((unsigned char) *s < 0x20 ? *s != '\t' : *s == 0x7f)
      return false;
  return true;
}

grpc_status_code
require_field (const char *value, const char *field, struct csi_status *st)
{
  if (value == NULL || value[0] == '\0')
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "%s is required", field);
  if (!csi_printable (value))
    return csi_fail (st, GRPC_STATUS_INVALID_ARGUMENT, "%s holds a control character",
                     field);
  return GRPC_STATUS_OK;
}

/* Every protobuf-c map entry has this layout, whatever its message. */
struct map_entry {
  ProtobufCMessage base;
  char *key;
  char *value;
};

const char *
map_get (size_t n, void *entries, const char *key)
{
  struct map_entry **e = entries;

  for (size_t i = 0; i < n; i++)
    if (strcmp (e[i]->key, key) == 0)
      return e[i]->value;
  return NULL;
}
