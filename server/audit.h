/* sealvol: the per-tenant audit log.
 *
 * ROOT/TENANT/log/audit.log holds one JSON object per line (json-c),
 * appended with O_APPEND in a single write, so lines from the CLI and from
 * the tenant's nbdkit never interleave.  The log/ directory (0700, made
 * here if missing) belongs to the serving user; every writer takes a lock
 * on it (flock) around size check, rotation and append.
 *
 * Bounded: before a line would take audit.log past SV_AUDIT_MAX_BYTES, it
 * becomes audit.log.1 (.1 becomes .2, ... up to audit.log.SV_AUDIT_KEEP,
 * whose old content is dropped), and the new audit.log starts with an
 * "audit-log-rotated" event saying how many events and bytes were dropped,
 * so nothing goes silently.  At most (SV_AUDIT_KEEP + 1) x 8 MiB = 40 MiB
 * per tenant; ship the rotated files off the host to keep more.  Every object has "time" (UTC,
 * RFC 3339), "event" and "tenant"; callers add their own fields.  Nothing
 * secret is ever passed in: no key, no PSK, no key file contents.
 *
 *   json_object *e = sv_audit_event ("volume-create", t->name);
 *   json_object_object_add (e, "volume", json_object_new_string (name));
 *   sv_audit_write (t->dir, e);        // consumes e
 */
#ifndef SEALVOL_AUDIT_H
#define SEALVOL_AUDIT_H

#include <json-c/json.h>

#define SV_AUDIT_DIR "log"
#define SV_AUDIT_MAX_BYTES (8 << 20)
#define SV_AUDIT_KEEP 4

json_object *sv_audit_event (const char *event, const char *tenant);
/* Appends and frees e.  Returns 0, or -1 (reported) if it cannot write. */
int sv_audit_write (const char *tenant_dir, json_object *e);

#endif
