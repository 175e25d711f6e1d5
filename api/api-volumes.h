/* sealvol api: capacity and the volume resources (api-volumes.c). */
#ifndef SEALVOL_API_VOLUMES_H
#define SEALVOL_API_VOLUMES_H

#include "api-http.h"

void api_capacity (struct api_req *r);
void api_volume_list (struct api_req *r);
void api_volume_create (struct api_req *r);
void api_volume_get (struct api_req *r);
void api_volume_resize (struct api_req *r);
void api_volume_delete (struct api_req *r);

#endif
