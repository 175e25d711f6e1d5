/* The controller's configuration file (controller/ctl-config.h). */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ini.h>

#include "csi-topology.h"
#include "ctl-config.h"
#include "log.h"

struct ctl_config ctl_cfg;

struct parse_state {
  struct ctl_config *cfg;
  const char *path;
  int failed;
};

int
ctl_token_ok (const char *token)
{
  size_t n = strlen (token);

  if (n == 0 || n > CTL_TOKEN_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (token[i] <= ' ' || token[i] > '~')
      return 0;
  return 1;
}

static int
parse_error (struct parse_state *ps, const char *what, const char *value)
{
  log_error ("%s: %s: %s", ps->path, what, value);
  ps->failed = 1;
  return 0;
}

/* The file's first line, which must be a token. */
static char *
read_token_file (const char *path)
{
  char buf[CTL_TOKEN_MAX + 2];
  FILE *f = fopen (path, "re");
  char *r = NULL;

  if (f == NULL)
    return NULL;
  if (fgets (buf, sizeof buf, f)) {
    buf[strcspn (buf, "\r\n")] = '\0';
    if (ctl_token_ok (buf))
      r = strdup (buf);
  }
  explicit_bzero (buf, sizeof buf);
  fclose (f);
  if (r == NULL)
    errno = EINVAL;
  return r;
}

static struct ctl_host *
add_host (struct parse_state *ps, const char *name)
{
  struct ctl_config *cfg = ps->cfg;
  struct ctl_host *h;

  if (!csi_topology_value_ok (name)) {
    parse_error (ps, "a host NAME must be 1-63 characters of [A-Za-z0-9._-], "
                 "a letter or digit at both ends", name);
    return NULL;
  }
  if (ctl_config_host (cfg, name)) {
    parse_error (ps, "host named twice", name);
    return NULL;
  }
  h = realloc (cfg->hosts, (cfg->n_hosts + 1) * sizeof *h);
  if (h == NULL) {
    parse_error (ps, "out of memory", name);
    return NULL;
  }
  cfg->hosts = h;
  h = &cfg->hosts[cfg->n_hosts++];
  memset (h, 0, sizeof *h);
  strcpy (h->name, name);
  h->timeout_ms = 10000;
  h->connect_timeout_ms = 3000;
  return h;
}

/* The host the section SECTION names, added when first seen. */
static struct ctl_host *
section_host (struct parse_state *ps, const char *section)
{
  const struct ctl_host *h;

  if (strncmp (section, "host ", 5) != 0) {
    parse_error (ps, "unknown section (want [host NAME])", section);
    return NULL;
  }
  h = ctl_config_host (ps->cfg, section + 5);
  return h ? (struct ctl_host *) h : add_host (ps, section + 5);
}

static int
set_key (struct parse_state *ps, struct ctl_host *h, const char *key,
         const char *value)
{
  char *end;
  long t;

  if (strcmp (key, "api-url") == 0) {
    size_t n = strlen (value);

    if (strncmp (value, "https://", 8) != 0 || n <= 8)
      return parse_error (ps, "api-url must be https://HOST:PORT", value);
    free (h->api_url);
    h->api_url = strndup (value, value[n - 1] == '/' ? n - 1 : n);
  }
  else if (strcmp (key, "ca-cert") == 0) {
    if (access (value, R_OK) == -1)
      return parse_error (ps, "ca-cert", strerror (errno));
    free (h->ca_cert);
    h->ca_cert = strdup (value);
  }
  else if (strcmp (key, "access-token-file") == 0) {
    free (h->token);
    if ((h->token = read_token_file (value)) == NULL)
      return parse_error (ps, value, errno == EINVAL
                          ? "not one line of 1-512 visible characters" : strerror (errno));
  }
  else if (strcmp (key, "delete-key-file") == 0) {
    free (h->delete_key);
    if ((h->delete_key = read_token_file (value)) == NULL
        || strlen (h->delete_key) < 32)
      return parse_error (ps, value, h->delete_key || errno == EINVAL
                          ? "not one line of 32-512 visible characters" : strerror (errno));
  }
  else if (strcmp (key, "timeout") == 0 || strcmp (key, "connect-timeout") == 0) {
    t = strtol (value, &end, 10);
    if (*end || end == value || t < 1 || t > 600)
      return parse_error (ps, "a timeout is 1 to 600 seconds", value);
    if (key[0] == 't')
      h->timeout_ms = t * 1000;
    else
      h->connect_timeout_ms = t * 1000;
  }
  else
    return parse_error (ps, "unknown key", key);
  return 1;
}

static int
handler (void *user, const char *section, const char *key, const char *value)
{
  struct parse_state *ps = user;
  struct ctl_host *h = section_host (ps, section);

  return h ? set_key (ps, h, key, value) : 0;
}

int
ctl_config_load (const char *path, struct ctl_config *cfg)
{
  struct parse_state ps = { cfg, path, 0 };
  int r;

  memset (cfg, 0, sizeof *cfg);
  r = ini_parse (path, handler, &ps);
  if (r == -1) {
    log_error ("%s: %s", path, strerror (errno));
    return -1;
  }
  if (r != 0 || ps.failed) {
    if (!ps.failed)
      log_error ("%s: line %d is not a key = value line or a [section]", path, r);
    return -1;
  }
  if (cfg->n_hosts == 0) {
    log_error ("%s: no [host NAME] section", path);
    return -1;
  }
  for (size_t i = 0; i < cfg->n_hosts; i++)
    if (cfg->hosts[i].api_url == NULL || cfg->hosts[i].ca_cert == NULL) {
      log_error ("%s: [host %s] needs api-url and ca-cert", path, cfg->hosts[i].name);
      return -1;
    }
  return 0;
}

const struct ctl_host *
ctl_config_host (const struct ctl_config *cfg, const char *name)
{
  for (size_t i = 0; i < cfg->n_hosts; i++)
    if (strcmp (cfg->hosts[i].name, name) == 0)
      return &cfg->hosts[i];
  return NULL;
}
