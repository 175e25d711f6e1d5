/* The topology segment (csi/csi-topology.h). */
#include <config.h>

#include <ctype.h>
#include <string.h>

#include "csi-fields.h"
#include "csi-topology.h"

bool
csi_topology_value_ok (const char *v)
{
  size_t n = strlen (v);

  if (n == 0 || n > 63 || !isalnum ((unsigned char) v[0])
      || !isalnum ((unsigned char) v[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum ((unsigned char) v[i]) && strchr ("._-", v[i]) == NULL)
      return false;
  return true;
}

const char *
csi_topology_host (const Csi__V1__Topology *t)
{
  return t ? map_get (t->n_segments, t->segments, CSI_TOPOLOGY_KEY) : NULL;
}
