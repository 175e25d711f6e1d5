/* sealvol: the QoS configuration files. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ini.h>

#include "fsutil.h"
#include "names.h"
#include "qos-config.h"
#include "report.h"

static const char default_service_types[] =
  "# sealvol service types: QoS templates every volume inherits one of.\n"
  "# See sealvol(1).  Edits take effect in running servers within a second;\n"
  "# a file that fails to parse is logged and the last good one stays.\n"
  "\n"
  "# General purpose, like a cloud gp3 disk.\n"
  "[gp]\n"
  "iops = 3000\n"
  "bandwidth = 125M\n"
  "burst-iops = 6000\n"
  "burst-bandwidth = 250M\n"
  "burst-seconds = 60\n"
  "reserved-iops = 100\n"
  "weight = 1\n"
  "\n"
  "# Provisioned IOPS for databases.\n"
  "[piops]\n"
  "iops = 16000\n"
  "bandwidth = 500M\n"
  "reserved-iops = 1000\n"
  "weight = 4\n"
  "\n"
  "# No limits (benchmarks, trusted workloads).\n"
  "[unlimited]\n"
  "weight = 1\n";

/* Keep the first problem: it is the one the line number libinih returns
 * belongs to. */
#define BAD_ONCE(buf, ...) \
  ((buf)[0] ? 0 : snprintf ((buf), sizeof (buf), __VA_ARGS__))

struct parse_state {
  struct sv_service_types *st;
  char bad[128];
};

/* A count or a size with an optional K, M, G, T suffix. */
static bool
parse_amount (const char *value, uint64_t *out)
{
  return sv_parse_size (value, out) == 0;
}

static struct sv_service_type *
type_for_section (struct sv_service_types *st, const char *section)
{
  struct sv_service_type *grown;

  if (st->n && strcmp (st->type[st->n - 1].name, section) == 0)
    return &st->type[st->n - 1];
  if (sv_service_type_find (st, section))
    return NULL;                        /* a section given twice */
  grown = realloc (st->type, (st->n + 1) * sizeof *grown);
  if (grown == NULL)
    return NULL;
  st->type = grown;
  memset (&grown[st->n], 0, sizeof *grown);
  strcpy (grown[st->n].name, section);
  grown[st->n].limits.weight = 1;
  return &grown[st->n++];
}

static int
service_type_handler (void *user, const char *section, const char *name,
                      const char *value)
{
  struct parse_state *ps = user;
  struct sv_service_type *t;
  struct sv_qos_limits *l;
  uint64_t v;

  if (strlen (section) > sizeof t->name - 1 || sv_name_problem (section)) {
    BAD_ONCE (ps->bad, "bad service type name [%s]", section);
    return 0;
  }
  if ((t = type_for_section (ps->st, section)) == NULL) {
    BAD_ONCE (ps->bad, "service type [%s] given twice", section);
    return 0;
  }
  if (name == NULL)
    return 1;                           /* an empty section: no limits */
  l = &t->limits;
  if (!parse_amount (value, &v)) {
    BAD_ONCE (ps->bad, "[%s] %s: bad value '%s'", section,
              name, value);
    return 0;
  }
  if (strcmp (name, "iops") == 0) l->iops = v;
  else if (strcmp (name, "bandwidth") == 0) l->bps = v;
  else if (strcmp (name, "burst-iops") == 0) l->burst_iops = v;
  else if (strcmp (name, "burst-bandwidth") == 0) l->burst_bps = v;
  else if (strcmp (name, "burst-seconds") == 0) l->burst_seconds = v;
  else if (strcmp (name, "reserved-iops") == 0) l->reserved_iops = v;
  else if (strcmp (name, "weight") == 0 && v >= 1 && v <= 1000)
    l->weight = (unsigned) v;
  else {
    BAD_ONCE (ps->bad, "[%s]: unknown key or bad value '%s'",
              section, name);
    return 0;
  }
  return 1;
}

int
sv_service_types_load (const char *path, struct sv_service_types *out,
                       char *why, size_t whylen)
{
  struct sv_service_types st = { 0, NULL };
  struct parse_state ps = { .st = &st, .bad = "" };
  int r = ini_parse (path, service_type_handler, &ps);

  if (r == -1) {
    snprintf (why, whylen, "cannot read %s: %s", path, strerror (ENOENT));
    errno = ENOENT;
    return -1;
  }
  if (r != 0) {
    snprintf (why, whylen, "%s line %d: %s", path, r,
              ps.bad[0] ? ps.bad : "syntax error");
    sv_service_types_free (&st);
    errno = EINVAL;
    return -1;
  }
  *out = st;
  return 0;
}

void
sv_service_types_free (struct sv_service_types *st)
{
  free (st->type);
  st->type = NULL;
  st->n = 0;
}

const struct sv_service_type *
sv_service_type_find (const struct sv_service_types *st, const char *name)
{
  for (unsigned i = 0; i < st->n; i++)
    if (strcmp (st->type[i].name, name) == 0)
      return &st->type[i];
  return NULL;
}

struct caps_state {
  struct sv_tenant_caps *caps;
  char bad[128];
};

static int
caps_handler (void *user, const char *section, const char *name,
              const char *value)
{
  struct caps_state *cs = user;
  uint64_t v;

  if (strcmp (section, "caps") != 0)
    return 1;                           /* [tenant] belongs to tenant.c */
  if (!parse_amount (value, &v)) {
    BAD_ONCE (cs->bad, "[caps] %s: bad value '%s'", name, value);
    return 0;
  }
  if (strcmp (name, "iops") == 0) cs->caps->iops = v;
  else if (strcmp (name, "bandwidth") == 0) cs->caps->bps = v;
  else if (strcmp (name, "capacity") == 0) cs->caps->capacity = v;
  else if (strcmp (name, "volumes") == 0) cs->caps->volumes = v;
  else {
    BAD_ONCE (cs->bad, "[caps]: unknown key '%s'", name);
    return 0;
  }
  return 1;
}

int
sv_tenant_caps_load (const char *tenant_conf, struct sv_tenant_caps *out,
                     char *why, size_t whylen)
{
  struct sv_tenant_caps caps = { 0, 0, 0, 0 };
  struct caps_state cs = { .caps = &caps, .bad = "" };
  int r = ini_parse (tenant_conf, caps_handler, &cs);

  if (r != 0) {
    snprintf (why, whylen, "%s line %d: %s", tenant_conf, r,
              r == -1 ? "cannot read" : cs.bad[0] ? cs.bad : "syntax error");
    errno = r == -1 ? ENOENT : EINVAL;
    return -1;
  }
  *out = caps;
  return 0;
}

int
sv_service_types_install_default (const char *root)
{
  char *path;
  int r = 0;

  if (asprintf (&path, "%s/%s", root, SV_SERVICE_TYPES_FILE) == -1)
    return -1;
  if (access (path, F_OK) != 0)
    r = sv_replace_file (root, SV_SERVICE_TYPES_FILE, default_service_types,
                         sizeof default_service_types - 1, 0644);
  free (path);
  return r;
}
