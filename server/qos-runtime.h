/* sealvol: QoS for one served tenant: its configuration, kept current.
 *
 * Holds the tenant's cap and the last good service-type table, and
 * notices edits: sv_qos_runtime_poll stats both files at most once a
 * second and re-parses what changed.  A file that fails to parse is
 * reported once and the last good configuration stays in force; a missing
 * service-types.conf means no limits.  The server then re-applies limits
 * to its volumes (sv_qos_runtime_limits) — no restart needed.
 */
#ifndef SEALVOL_QOS_RUNTIME_H
#define SEALVOL_QOS_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "qos-config.h"
#include "qos.h"

struct sv_qos_runtime {
  char *types_path, *conf_path;
  pthread_mutex_t lock;                 /* the fields below; never I/O */
  struct sv_service_types types;        /* last good */
  struct sv_tenant_caps caps;           /* last good */
  struct stat types_st, conf_st;        /* what was parsed */
  _Atomic uint64_t next_check_ns;
  struct sv_qos_tenant tenant;          /* the cap, shared by its volumes */
};

uint64_t sv_monotonic_ns (void);

int sv_qos_runtime_init (struct sv_qos_runtime *rt, const char *root,
                         const char *tenant_dir);
void sv_qos_runtime_destroy (struct sv_qos_runtime *rt);

/* At most once a second one caller gets its turn: files that changed are
 * re-read.  -1: not this caller's turn; 0: its turn, nothing changed; 1:
 * the configuration in force changed.  On 0 and 1 the caller refreshes
 * its volumes (service types, limits, statistics). */
int sv_qos_runtime_poll (struct sv_qos_runtime *rt, uint64_t now_ns);

/* VOLDIR/stats.json: what an operator reads to see who is throttled. */
int sv_qos_write_stats (const char *voldir, const char *service_type,
                        const struct sv_qos_stats *st,
                        uint64_t integrity_failures);

/* The limits of a service type; an unknown type gets none (and *known is
 * false, so the caller can say so once). */
void sv_qos_runtime_limits (struct sv_qos_runtime *rt, const char *type,
                            struct sv_qos_limits *lim, bool *known);

#endif
