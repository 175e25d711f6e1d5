/* sealvol CLI: the certificate checks of tenant kube-secret, with OpenSSL.
 * They catch what would otherwise show only when a node stages a volume,
 * as an UNAUTHENTICATED nobody can explain: another tenant's client
 * directory, another host's CA, a key of another certificate. */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "cli-x509.h"

/* The first certificate of pem, or NULL. */
static X509 *
first_cert (const char *pem)
{
  BIO *b = BIO_new_mem_buf (pem, -1);
  X509 *x = b ? PEM_read_bio_X509 (b, NULL, NULL, NULL) : NULL;

  BIO_free (b);
  return x;
}

/* A store of every certificate in pem; NULL if it holds none. */
static X509_STORE *
store_of (const char *pem)
{
  X509_STORE *s = X509_STORE_new ();
  BIO *b = BIO_new_mem_buf (pem, -1);
  X509 *x;
  int n = 0;

  while (s && b && (x = PEM_read_bio_X509 (b, NULL, NULL, NULL)) != NULL) {
    n += X509_STORE_add_cert (s, x) == 1;
    X509_free (x);
  }
  BIO_free (b);
  ERR_clear_error ();           /* the end of the PEM is an "error" */
  if (n == 0) {
    X509_STORE_free (s);
    return NULL;
  }
  return s;
}

int
cli_x509_verifies (const char *ca_pem, const char *cert_pem, char *why,
                   size_t len)
{
  X509_STORE *store = store_of (ca_pem);
  X509 *cert = first_cert (cert_pem);
  X509_STORE_CTX *ctx = X509_STORE_CTX_new ();
  int r = -1;

  if (store == NULL || cert == NULL || ctx == NULL)
    snprintf (why, len, "%s", "no certificate to check");
  else if (X509_STORE_CTX_init (ctx, store, cert, NULL) != 1)
    snprintf (why, len, "%s", "cannot set up the check");
  else if (X509_verify_cert (ctx) != 1)
    snprintf (why, len, "%s", X509_verify_cert_error_string
              (X509_STORE_CTX_get_error (ctx)));
  else
    r = 0;
  X509_STORE_CTX_free (ctx);
  X509_free (cert);
  X509_STORE_free (store);
  ERR_clear_error ();
  return r;
}

int
cli_x509_key_matches (const char *cert_pem, const char *key_pem)
{
  BIO *b = BIO_new_mem_buf (key_pem, -1);
  EVP_PKEY *key = b ? PEM_read_bio_PrivateKey (b, NULL, NULL, NULL) : NULL;
  X509 *cert = first_cert (cert_pem);
  int r = key && cert && X509_check_private_key (cert, key) == 1 ? 0 : -1;

  EVP_PKEY_free (key);
  X509_free (cert);
  BIO_free (b);
  ERR_clear_error ();
  return r;
}
