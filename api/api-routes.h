/* sealvol api: the route table and the handlers (api-routes.c,
 * api-volumes.c). */
#ifndef SEALVOL_API_ROUTES_H
#define SEALVOL_API_ROUTES_H

#include "api-http.h"

/* Route an authenticated request: the handler's answer, or 404/405.
 * Every mutation gets its audit line. */
void api_dispatch (struct api_req *r);
/* Does the route of r take a JSON body? */
bool api_wants_body (const char *method);

void api_print_routes (void);

#endif
