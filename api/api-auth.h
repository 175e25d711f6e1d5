/* sealvol api: who is asking (api-auth.c).
 *
 * "Authorization: Bearer ID.SECRET" only: no token in a URL, a cookie or
 * a body.  Failed authentications are counted per source address with
 * server/ratelimit.h's limiter: the first SV_LOG_BURST of each 10 s are
 * logged and audited one by one (in the claimed tenant's audit log when
 * the token's id names a tenant), the rest as a count; while an address
 * is over the burst every request from it answers 429 without a token
 * check, until its 10 s interval ends.  Nothing logged holds a secret.
 */
#ifndef SEALVOL_API_AUTH_H
#define SEALVOL_API_AUTH_H

#include "api-http.h"

/* 0 with r->token filled, or -1 with the problem answered. */
int api_authenticate (struct api_req *r);
/* Log what the limiters counted and did not log yet (at shutdown). */
void api_auth_flush (void);

#endif
