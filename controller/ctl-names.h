/* Names and ids of the controller (controller/ctl-names.c), pure.
 *
 * A CSI volume name (any string up to 128 bytes) becomes a sealvol
 * volume name: up to 23 characters of it, each outside [A-Za-z0-9._-]
 * replaced by '-' (and a 'v' in front when it would not start with a
 * letter or digit), then '-' and the first 16 hex digits of the name's
 * SHA-256.  The same name always gives the same volume; two names give
 * two volumes unless 64-bit hashes collide.
 *
 * A volume id is HOST/TENANT/VOLUME (none of them can hold a '/'), at
 * most 128 bytes: DeleteVolume needs no lookup. */
#ifndef SEALVOL_CTL_NAMES_H
#define SEALVOL_CTL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_NAME_MAX 64         /* a sealvol name and its NUL */
#define CTL_VOLUME_ID_MAX 128   /* the spec's string limit */

void ctl_volume_name (const char *csi_name, char out[CTL_NAME_MAX]);

/* 1-63 characters of [A-Za-z0-9._-], a letter or digit first. */
bool ctl_name_ok (const char *name);

/* -1 if the id would be longer than 128 bytes. */
int ctl_volume_id (const char *host, const char *tenant, const char *volume,
                   char out[CTL_VOLUME_ID_MAX + 1]);

/* -1 unless ID is HOST/TENANT/VOLUME with three valid names. */
int ctl_parse_volume_id (const char *id, char host[CTL_NAME_MAX],
                         char tenant[CTL_NAME_MAX], char volume[CTL_NAME_MAX]);

/* The per-volume delete credential for TENANT/VOLUME on HOST, derived
 * from the controller's KEY: SECRET = hex HMAC-SHA256 (KEY,
 * "sealvol-delete-v1\nHOST\nTENANT\nVOLUME"), its hash SHA256_HEX =
 * hex SHA-256 (SECRET) (what CreateVolume registers), and TOKEN =
 * TENANT~(first 12 digits of SHA256_HEX).SECRET (what DeleteVolume
 * presents).  -1 if OpenSSL fails. */
#define CTL_DELETE_TOKEN_MAX (CTL_NAME_MAX + 1 + 12 + 1 + 64)
int ctl_delete_credential (const char *key, const char *host, const char *tenant,
                           const char *volume, char token[CTL_DELETE_TOKEN_MAX + 1],
                           char sha256_hex[65]);

#endif
