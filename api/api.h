/* sealvol api serve: the HTTPS control API of a storage host.
 *
 * libmicrohttpd (TLS through its GnuTLS support) with json-c bodies.
 * Clients authenticate with "Authorization: Bearer ID.SECRET" (token.h);
 * a token acts on its own tenant only.  The routes are api-routes.c's
 * table, documented in docs/api.yaml and sealvol-api(8); every error is
 * application/problem+json (RFC 9457) with a gRPC code name in "code".
 */
#ifndef SEALVOL_API_H
#define SEALVOL_API_H

struct sv_api_options {
  const char *root;
  const char *addr, *port;      /* numeric address and port */
  const char *tls_dir;          /* server-cert.pem, server-key.pem */
};

/* Serve until SIGTERM or SIGINT.  0, or -1 (logged) if it cannot start. */
int sv_api_serve (const struct sv_api_options *o);

/* "METHOD PATH" of every route, one a line, on stdout. */
void sv_api_print_routes (void);

#endif
