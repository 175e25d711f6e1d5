/* The controller's configuration file (controller/ctl-config.c): one
 * INI section per storage host,
 *
 *   [host NAME]                  NAME: the topology segment value
 *   api-url = https://HOST:PORT  the host's control API
 *   ca-cert = PATH               the CA that verifies it (never a tenant's)
 *   access-token-file = PATH     optional: the controller's own token, for
 *                                the calls that carry no secrets
 *                                (ListVolumes, GetCapacity)
 *   delete-key-file = PATH       optional: the controller's key (one line,
 *                                32-512 visible characters) from which it
 *                                derives each volume's delete credential
 *   timeout = SECONDS            optional: a whole API call (default 10)
 */
#ifndef SEALVOL_CTL_CONFIG_H
#define SEALVOL_CTL_CONFIG_H

#include <stddef.h>

#define CTL_TOKEN_MAX 512

struct ctl_host {
  char name[64];
  char *api_url;                /* without a trailing slash */
  char *ca_cert;
  char *token;                  /* from access-token-file, or NULL */
  char *delete_key;             /* from delete-key-file, or NULL */
  long timeout_ms;
  long connect_timeout_ms;
};

struct ctl_config {
  struct ctl_host *hosts;
  size_t n_hosts;
};

/* The configuration the controller serves with. */
extern struct ctl_config ctl_cfg;

/* Read PATH.  -1 after logging one line naming what is wrong. */
int ctl_config_load (const char *path, struct ctl_config *cfg);

/* The host called NAME, or NULL. */
const struct ctl_host *ctl_config_host (const struct ctl_config *cfg, const char *name);

/* A token as an Authorization header may carry it: 1-512 visible ASCII
 * characters. */
int ctl_token_ok (const char *token);

#endif
