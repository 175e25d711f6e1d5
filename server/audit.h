/* sealvol: the per-tenant audit log.
 *
 * ROOT/TENANT/audit.log holds one JSON object per line (json-c), appended
 * with O_APPEND in a single write, so lines from the CLI and from the
 * tenant's nbdkit never interleave.  Every object has "time" (UTC,
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

json_object *sv_audit_event (const char *event, const char *tenant);
/* Appends and frees e.  Returns 0, or -1 (reported) if it cannot write. */
int sv_audit_write (const char *tenant_dir, json_object *e);

#endif
