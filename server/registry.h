/* sealvol: the volumes a server has open, shared by its connections.
 *
 * Every connection to a volume shares one opened sv_volume, so writes and
 * flushes are consistent across connections and multi-conn is safe.  The
 * contract:
 *   - sv_registry_acquire returns the volume's one open instance, opening
 *     it on first use (NULL, reported, if it cannot be opened); a volume
 *     already open is refreshed, so a new connection sees a resize.  Each
 *     acquire is paired with one sv_registry_release.
 *   - The last release closes the volume, which flushes it: seconds after
 *     a bulk copy.  Clients of other volumes never wait for that; a client
 *     of the same volume waits, then opens it afresh (the closing copy
 *     still holds the volume's lock).
 *   - sv_registry_throttle returns when the volume's service-type limits
 *     and the tenant's cap admit the request.  Once a second one caller
 *     also re-reads edited QoS files and service types and writes every
 *     volume's stats.json.  Throttled requests of one volume take turns:
 *     one sleeps (through the host's sleep, outside every lock), the
 *     others wait on a condition.  -1 if the sleep was cut short (the
 *     server is shutting down).
 *   - The registry lock guards only the list and the tenant's keys,
 *     never I/O.  Errors and
 *     warnings go to sv_error.
 * The server keeps QoS off by not calling sv_registry_throttle.
 */
#ifndef SEALVOL_REGISTRY_H
#define SEALVOL_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "keysource.h"
#include "qos.h"
#include "tenant.h"
#include "volume.h"

struct sv_registry;
struct sv_shared_volume;

/* Sleep NS nanoseconds; -1 if woken early because the server stops. */
typedef int (*sv_sleep_fn) (uint64_t ns);

/* Volumes of T under ROOT, opened with OPEN_FLAGS (SV_OPEN_*) on the I/O
 * engine IO_NAME.  NULL (reported) if the QoS files cannot be read. */
struct sv_registry *sv_registry_new (const char *root, struct sv_tenant *t,
                                     unsigned open_flags, const char *io_name,
                                     sv_sleep_fn sleep);
/* Closes every volume still open (publishing its statistics). */
void sv_registry_free (struct sv_registry *reg);

/* Follow key rotations (keysource.h): before each volume open, and once
 * a second with the QoS files, if tenant.state changed since *stamp (its
 * stamp from before the keys were loaded), read the tenant's keys again
 * from src and drop the old ones.  reloadable false: the server was
 * given its key once (kek=-FD) and cannot read it again; a change is
 * then reported, and volumes not open keep needing the old key.  Without
 * this call the keys loaded at start are kept. */
void sv_registry_follow_keys (struct sv_registry *reg,
                              const struct sv_key_source *src, bool reloadable,
                              const struct sv_state_stamp *stamp);

struct sv_shared_volume *sv_registry_acquire (struct sv_registry *reg,
                                              const char *name);
void sv_registry_release (struct sv_registry *reg, struct sv_shared_volume *sv);
int sv_registry_throttle (struct sv_registry *reg, struct sv_shared_volume *sv,
                          enum sv_qos_op op, uint64_t len);

struct sv_volume *sv_shared_volume_vol (const struct sv_shared_volume *sv);
const char *sv_shared_volume_name (const struct sv_shared_volume *sv);

#endif
