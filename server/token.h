/* sealvol: the control API's bearer tokens.
 *
 * A token is "ID.SECRET": ID is TENANT~HHHHHHHHHHHH (the tenant's name, a
 * '~', which no name may contain, and 12 random hex digits), so the
 * server finds the tenant from the token alone; SECRET is 64 hex digits
 * (32 random bytes), printed once by 'sealvol tenant token create' and
 * never stored.  ROOT/TENANT/tokens.json (root's, 0600, written only by
 * sealvol, replaced atomically under a flock of the tenant directory)
 * keeps per token: the id, SHA-256 of the secret, the scopes, created,
 * expires (null: never) and last use (Unix seconds).  A revoked token is
 * removed from the file.  The secret's hash is compared in constant time
 * (sodium_memcmp).
 *
 * Scopes: "volumes" (capacity and the tenant's volumes) and "admin"
 * (everything "volumes" may, and creating tenants).  A third, "delete",
 * is a per-volume delete credential (docs/csi-controller.md): registered
 * by a "volumes" token at create as the SHA-256 of a secret the client
 * keeps, its id TENANT~ and the first 12 hex digits of that hash, bound
 * to one volume name and that volume's id; it may delete that volume
 * and nothing else.
 */
#ifndef SEALVOL_TOKEN_H
#define SEALVOL_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define SV_TOKENS_FILE "tokens.json"
#define SV_TOKEN_ID_MAX (63 + 1 + 12)
#define SV_TOKEN_MAX (SV_TOKEN_ID_MAX + 1 + 64)

enum { SV_SCOPE_VOLUMES = 1, SV_SCOPE_ADMIN = 2, SV_SCOPE_DELETE = 4 };

struct sv_token_info {
  char id[SV_TOKEN_ID_MAX + 1];
  char tenant[64];
  unsigned scopes;
  int64_t created, expires, last_used;  /* 0: never */
  char volume[64];              /* SV_SCOPE_DELETE: the volume, its id */
  char volume_id[65];
};

/* "volumes" or "admin" into SV_SCOPE_* bits (admin includes volumes);
 * -1 if neither. */
int sv_token_scope_parse (const char *s, unsigned *scopes);
const char *sv_token_scope_name (unsigned scopes);
/* "never" (0), or N followed by s, m, h or d, into seconds. */
int sv_duration_parse (const char *s, int64_t *seconds);

/* A new token of the tenant, valid for lifetime seconds (0: no expiry);
 * "ID.SECRET" into out (SV_TOKEN_MAX + 1 bytes). */
int sv_token_create (const char *root, const char *tenant, unsigned scopes,
                     int64_t lifetime, char out[SV_TOKEN_MAX + 1]);
/* The tenant's tokens (malloc'd array, *n of them). */
int sv_token_list (const char *root, const char *tenant,
                   struct sv_token_info **out, size_t *n);
/* Remove a token; ENOENT if the tenant has none of that id. */
int sv_token_revoke (const char *root, const char *tenant, const char *id);

/* Register (or, for the same id and hash, rebind to volume_id) the
 * delete credential whose secret hashes to sha256_hex (64 lowercase hex
 * digits) for the tenant's volume; EINVAL for a bad hash, EEXIST if its
 * id is another token's.  Reported. */
int sv_token_set_delete (const char *root, const char *tenant,
                         const char *sha256_hex, const char *volume,
                         const char *volume_id);

/* Authenticate "ID.SECRET" at time now: 0 with *info filled, or -1 with
 * errno EACCES (malformed, unknown, revoked or wrong secret) or
 * EKEYEXPIRED, and *info->id filled when the id was well-formed (for the
 * audit; never the secret).  Nothing is reported.  Records the use at
 * most once a minute. */
int sv_token_check (const char *root, const char *presented, int64_t now,
                    struct sv_token_info *info);

#endif
