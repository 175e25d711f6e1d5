/* A storage host's control API over HTTPS (controller/ctl-api.c):
 * libcurl, the host verified with the CA of the driver's configuration,
 * bounded timeouts, JSON bodies (json-c).  An answer that is not 2xx
 * becomes the gRPC code its problem document names ("code"), one to
 * one; a host that cannot be reached or verified is UNAVAILABLE. */
#ifndef SEALVOL_CTL_API_H
#define SEALVOL_CTL_API_H

#include <json-c/json.h>

#include "csi-status.h"
#include "ctl-config.h"

/* Once, before any thread. */
int ctl_api_init (void);

/* METHOD PATH on host H with TOKEN, BODY (or NULL) as JSON.  On a 2xx
 * answer returns OK and sets *OUT to the parsed body (NULL for an empty
 * one; the caller puts it); *HTTP gets the status if HTTP is not NULL.
 * Otherwise fills ST ("HOST: ...") and returns its code. */
grpc_status_code ctl_api_call (const struct ctl_host *h, const char *token,
                               const char *method, const char *path,
                               json_object *body, json_object **out, long *http,
                               struct csi_status *st);

/* PATH with S escaped for a URL query or path segment appended. */
int ctl_api_path (char *path, size_t len, const char *prefix, const char *s);

#endif
