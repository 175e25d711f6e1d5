/* sealvol tenant serve: start one tenant's nbdkit the right way.
 *
 * Over TCP always --tls=require with the tenant's certificates or PSK (the
 * plugin refuses plaintext TCP as well, so both layers say no); on a Unix
 * socket TLS is optional.  The tenant's own TLS material defaults to
 * ROOT/TENANT/tls/ (server-cert.pem, server-key.pem, ca-cert.pem = the CA
 * that signs this tenant's client certificates; or psk).  With --user,
 * nbdkit drops to that user before the plugin loads the tenant key.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "names.h"
#include "report.h"

#define MAX_ARGS 40

struct argv_builder {
  char *arg[MAX_ARGS];
  int n;
};

/* Append OPTION (e.g. "--port=") followed by VALUE (may be NULL). */
static void
add (struct argv_builder *a, const char *option, const char *value)
{
  if (a->n < MAX_ARGS - 1
      && asprintf (&a->arg[a->n], "%s%s", option, value ? value : "") != -1)
    a->n++;
  a->arg[a->n] = NULL;
}

static bool
exists_in (const char *dir, const char *leaf)
{
  char *path;
  bool r;

  if (asprintf (&path, "%s/%s", dir, leaf) == -1)
    return false;
  r = access (path, R_OK) == 0;
  free (path);
  return r;
}

/* Split "ADDR:PORT" ("[::1]:10809" for IPv6) into its parts. */
static int
split_listen (const char *listen, char *addr, size_t alen, char *port,
              size_t plen)
{
  const char *colon = strrchr (listen, ':');
  const char *a = listen;
  size_t n;

  if (colon == NULL || colon[1] == '\0' || strspn (colon + 1, "0123456789")
      != strlen (colon + 1))
    return -1;
  n = (size_t) (colon - listen);
  if (a[0] == '[' && (n < 3 || a[n - 1] != ']'))
    return -1;                  /* "[::1": an unclosed bracket */
  if (a[0] == '[')
    a++, n -= 2;
  if (n == 0 || n >= alen || strlen (colon + 1) >= plen
      || memchr (a, '[', n) || memchr (a, ']', n))
    return -1;
  memcpy (addr, a, n);
  addr[n] = '\0';
  strcpy (port, colon + 1);
  return 0;
}

/* TLS flags: explicit options win, else the tenant's tls/ directory. */
static int
add_tls (struct argv_builder *a, const struct options *o, const char *tenant,
         bool required)
{
  char dir[4096];

  if ((size_t) snprintf (dir, sizeof dir, "%s/%s/tls", o->root, tenant)
      >= sizeof dir - sizeof "/psk")
    return sv_error ("root path too long"), -1;
  if (o->tls_certificates)
    add (a, "--tls-certificates=", o->tls_certificates);
  else if (o->tls_psk)
    add (a, "--tls-psk=", o->tls_psk);
  else if (exists_in (dir, "server-cert.pem"))
    add (a, "--tls-certificates=", dir);
  else if (exists_in (dir, "psk")) {
    strcat (dir, "/psk");
    add (a, "--tls-psk=", dir);
  }
  else if (required) {
    sv_error ("tenant %s has no TLS material: give --tls-certificates DIR or "
              "--tls-psk FILE, or put it in %s", tenant, dir);
    return -1;
  }
  else
    return 0;
  add (a, "--tls=require", NULL);
  if (o->tls_verify_peer)
    add (a, "--tls-verify-peer", NULL);
  return 0;
}

int
cmd_tenant_serve (const struct options *o, const char *tenant)
{
  struct argv_builder a = { .n = 0 };
  const char *plugin = getenv ("SEALVOL_PLUGIN");
  char addr[256], port[16];

  if (sv_name_problem (tenant))
    return usage_error ("bad tenant name '%s': %s", tenant,
                        sv_name_problem (tenant));
  if (!o->listen == !o->unix_socket)
    return usage_error ("%s: give exactly one of --listen ADDR:PORT and "
                        "--unix PATH", "tenant serve");
  if (o->tls_certificates && o->tls_psk)
    return usage_error ("%s: --tls-certificates and --tls-psk exclude each "
                        "other", "tenant serve");
  if (o->listen && split_listen (o->listen, addr, sizeof addr, port,
                                 sizeof port) == -1)
    return usage_error ("bad --listen '%s': expected ADDR:PORT", o->listen);
  if (o->group && !o->user)
    return usage_error ("%s: --group needs --user", "tenant serve");

  add (&a, "nbdkit", NULL);
  if (o->foreground)
    add (&a, "--foreground", NULL);
  if (o->listen) {
    add (&a, "--ipaddr=", addr);
    add (&a, "--port=", port);
  }
  else
    add (&a, "--unix=", o->unix_socket);
  if (add_tls (&a, o, tenant, o->listen != NULL) == -1)
    return EXIT_FAILURE;
  if (o->user)
    add (&a, "--user=", o->user);
  if (o->group)
    add (&a, "--group=", o->group);
  add (&a, "", plugin ? plugin : "sealvol");
  add (&a, "root=", o->root);
  add (&a, "tenant=", tenant);
  if (o->kek)
    add (&a, "kek=", o->kek);
  if (o->io)
    add (&a, "io=", o->io);
  fflush (stdout);
  execvp ("nbdkit", a.arg);
  sv_error ("cannot run nbdkit: %m");
  return EXIT_FAILURE;
}
