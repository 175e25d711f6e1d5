/* sealvol: a tenant's store configuration (store.h). */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "report.h"
#include "store.h"

bool
sv_store_conf_is_rbd (const struct sv_store_conf *c)
{
  return c->backend && strcmp (c->backend, "rbd") == 0;
}

static int
replace (char **field, const char *value)
{
  char *v = strdup (value);

  if (v == NULL)
    return -1;
  free (*field);
  *field = v;
  return 0;
}

int
sv_store_conf_set (struct sv_store_conf *c, const char *key,
                   const char *value, const char **why)
{
  errno = EINVAL;
  *why = NULL;
  if (strcmp (key, "backend") == 0) {
    if (strcmp (value, "file") != 0 && strcmp (value, "rbd") != 0)
      return *why = "must be 'file' or 'rbd'", -1;
    return replace (&c->backend, value);
  }
  if (strcmp (key, "pool") == 0) {
    /* A pool name goes into messages and librados: the name rules. */
    if (sv_name_problem (value))
      return *why = sv_name_problem (value), -1;
    return replace (&c->pool, value);
  }
  if (strcmp (key, "ceph-conf") == 0)
    return replace (&c->ceph_conf, value);
  if (strcmp (key, "ceph-id") == 0)
    return replace (&c->ceph_id, value);
  return *why = "is not a store setting", -1;
}

int
sv_store_conf_check (const struct sv_store_conf *c)
{
  if (sv_store_conf_is_rbd (c) && c->pool == NULL) {
    errno = EINVAL;
    sv_error ("backend rbd needs a pool");
    return -1;
  }
  if (!sv_store_conf_is_rbd (c) && (c->pool || c->ceph_conf || c->ceph_id)) {
    errno = EINVAL;
    sv_error ("pool, ceph-conf and ceph-id go with backend rbd");
    return -1;
  }
  return 0;
}

void
sv_store_conf_free (struct sv_store_conf *c)
{
  free (c->backend);
  free (c->pool);
  free (c->ceph_conf);
  free (c->ceph_id);
  memset (c, 0, sizeof *c);
}
