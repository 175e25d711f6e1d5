/* sealvol tenant serve: start one tenant's nbdkit the right way.
 *
 * Over TCP always --tls=require with the tenant's certificates or PSK (the
 * plugin refuses plaintext TCP as well, so both layers say no); on a Unix
 * socket TLS is optional.  The tenant's own TLS material defaults to
 * ROOT/TENANT/tls/ (server-cert.pem, server-key.pem, ca-cert.pem = the CA
 * that signs this tenant's client certificates; or psk).  Over TCP client
 * certificates are checked unless --allow-any-client.  With --user, the
 * tenant's files are arranged for that user first (tenant-owner.c), then
 * nbdkit drops to it before the plugin loads the tenant key.
 */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "tenant.h"

#include "cli-common.h"
#include "cli-serve.h"

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

int
cli_split_listen (const char *listen, char *addr, size_t alen, char *port,
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

/* Client authentication: over TCP a server with certificates checks
 * client certificates against the tenant's client CA (DIR/ca-cert.pem)
 * unless the operator said --allow-any-client; without it anyone who
 * reaches the port could read and write every volume.  A PSK is
 * authentication by itself.  On a Unix socket the socket's permissions
 * decide, and --tls-verify-peer asks for the check there too. */
static int
add_verify_peer (struct argv_builder *a, const struct options *o,
                 const char *certs, bool tcp)
{
  if (certs == NULL || o->allow_any_client || !(tcp || o->tls_verify_peer))
    return 0;
  if (!exists_in (certs, "ca-cert.pem")) {
    sv_error ("%s has no ca-cert.pem to check client certificates against: "
              "put the tenant's client CA there, or give --allow-any-client",
              certs);
    return -1;
  }
  add (a, "--tls-verify-peer", NULL);
  return 0;
}

/* TLS flags: explicit options win, else the tenant's tls/ directory. */
static int
add_tls (struct argv_builder *a, const struct options *o, const char *tenant,
         bool tcp)
{
  const char *certs = NULL;
  char dir[4096];

  if ((size_t) snprintf (dir, sizeof dir, "%s/%s/tls", o->root, tenant)
      >= sizeof dir - sizeof "/psk")
    return sv_error ("root path too long"), -1;
  if (o->tls_certificates)
    add (a, "--tls-certificates=", certs = o->tls_certificates);
  else if (o->tls_psk)
    add (a, "--tls-psk=", o->tls_psk);
  else if (exists_in (dir, "server-cert.pem"))
    add (a, "--tls-certificates=", certs = dir);
  else if (exists_in (dir, "psk")) {
    strcat (dir, "/psk");
    add (a, "--tls-psk=", dir);
  }
  else if (tcp || o->tls_verify_peer) {
    sv_error ("tenant %s has no TLS material: give --tls-certificates DIR or "
              "--tls-psk FILE, or put it in %s", tenant, dir);
    return -1;
  }
  else
    return 0;
  add (a, "--tls=require", NULL);
  return add_verify_peer (a, o, certs, tcp);
}

/* --user USER [--group GROUP]: the tenant's files arranged for that user
 * (tenant-owner.c) before nbdkit starts and drops to it. */
static int
hand_over_to_user (const struct options *o, const char *tenant)
{
  struct passwd *pw = getpwnam (o->user);
  struct group *gr = o->group ? getgrnam (o->group) : NULL;
  struct sv_tenant *t;
  int r;

  if (pw == NULL || (o->group && gr == NULL)) {
    sv_error ("no such %s: %s", pw ? "group" : "user", pw ? o->group : o->user);
    return -1;
  }
  if ((t = sv_tenant_open (o->root, tenant)) == NULL)
    return -1;
  r = sv_tenant_hand_over (t, pw->pw_uid, gr ? gr->gr_gid : pw->pw_gid);
  sv_tenant_free (t);
  return r;
}

int
cmd_tenant_serve (const struct options *o, const struct cli_args *args)
{
  const char *tenant = args->tenant;
  struct argv_builder a = { .n = 0 };
  const char *plugin = getenv ("SEALVOL_PLUGIN");
  char addr[256], port[16];

  if (!o->listen == !o->unix_socket)
    return usage_error ("%s: give exactly one of --listen ADDR:PORT and "
                        "--unix PATH", "tenant serve");
  if (o->tls_certificates && o->tls_psk)
    return usage_error ("%s: --tls-certificates and --tls-psk exclude each "
                        "other", "tenant serve");
  if (o->listen && cli_split_listen (o->listen, addr, sizeof addr, port,
                                 sizeof port) == -1)
    return usage_error ("bad --listen '%s': expected ADDR:PORT", o->listen);
  if (o->tls_verify_peer && o->allow_any_client)
    return usage_error ("%s: --tls-verify-peer and --allow-any-client "
                        "exclude each other", "tenant serve");
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
  if (o->user) {
    if (hand_over_to_user (o, tenant) == -1)
      return EXIT_FAILURE;
    add (&a, "--user=", o->user);
  }
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
