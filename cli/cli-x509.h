/* sealvol CLI: certificate checks (OpenSSL) for tenant kube-secret.
 * Arguments are NUL-terminated PEM text. */
#ifndef SEALVOL_CLI_X509_H
#define SEALVOL_CLI_X509_H

#include <stddef.h>

/* Whether a CA of ca_pem (one or more certificates) verifies the first
 * certificate of cert_pem, now: 0, or -1 with why (OpenSSL's reason,
 * e.g. "unable to get local issuer certificate") filled in. */
int cli_x509_verifies (const char *ca_pem, const char *cert_pem, char *why,
                       size_t len);

/* Whether key_pem is the private key of cert_pem's first certificate. */
int cli_x509_key_matches (const char *cert_pem, const char *key_pem);

#endif
