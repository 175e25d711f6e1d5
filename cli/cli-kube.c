/* sealvol tenant kube-secret: the Kubernetes Secret a tenant's namespace
 * needs, printed as YAML on stdout for the storage operator to hand over.
 *
 * The keys are those docs/csi-controller.md and docs/csi-node.md define:
 * access-token (access-token.HOST with --host), for the controller; and
 * for the nodes ca-cert (the CA that verifies the tenant's server) with
 * client-cert and client-key, or psk.  Which of the two the nodes need
 * follows the tenant's TLS material, as 'tenant serve' chooses it
 * (ROOT/TENANT/tls/server-cert.pem, else tls/psk), unless --client-dir or
 * --psk-user says.
 *
 * Without --with-secrets nothing secret is read or printed: every secret
 * value is "" under a comment saying what goes there.  Only the public
 * ca-cert is filled in, from --ca-cert or --client-dir's ca-cert.pem.
 * With it, the token is a new one of scope volumes (the secret of an
 * existing token is stored nowhere, so it cannot be looked up), said on
 * stderr by id only, or the one in --token-file, checked to be a live
 * volumes token of this tenant; the client certificate and key come from
 * --client-dir (as 'sealvol-certs client' makes it), the PSK line of
 * --psk-user from the tenant's PSK file.  Everything is read and checked
 * before the token is made, so a bad input leaves no token behind.
 *
 * The YAML is written by hand: libyaml's emitter cannot write the
 * comments the placeholders need.  Every scalar is double-quoted, so a
 * namespace "123" or a tenant "true" stays a string, and PEM goes in
 * literal blocks, after checking that it is PEM blocks of printable ASCII
 * and nothing else (certtool's text around them is left out).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "names.h"
#include "report.h"
#include "secmem.h"
#include "tenant.h"
#include "token.h"

#include "cli-common.h"
#include "cli-kube.h"
#include "cli-token.h"

#define DEFAULT_NAME "sealvol-tenant"
#define MAX_PEM_FILE (64 * 1024)

enum node_auth { AUTH_CERTS, AUTH_PSK };

/* What goes in the Secret; NULL where it is not known or not asked for.
 * Every value in locked memory, wiped at the end. */
struct secret {
  const char *tenant, *namespace, *name;
  char tenant_id[2 * SV_ID_LEN + 1];
  enum node_auth auth;
  struct sv_key *ca_cert;
  struct sv_key *client_cert, *client_key;
  struct sv_key *psk;           /* "USER:HEXKEY" */
  struct sv_key *token;         /* "ID.SECRET" */
  char token_id[SV_TOKEN_ID_MAX + 1];
};

static void
secret_free (struct secret *s)
{
  sv_key_free (s->ca_cert);
  sv_key_free (s->client_cert);
  sv_key_free (s->client_key);
  sv_key_free (s->psk);
  sv_key_free (s->token);
}

/* ---- names Kubernetes takes ---- */

/* An RFC 1123 label, as a namespace must be: 1-63 of [a-z0-9-], a letter
 * or digit at each end.  NULL, or what is wrong. */
static const char *
label_problem (const char *s, size_t n)
{
  if (n == 0 || n > 63)
    return "must be 1-63 characters";
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
          || s[i] == '-'))
      return "may hold only a-z, 0-9 and '-' (an RFC 1123 label)";
  if (s[0] == '-' || s[n - 1] == '-')
    return "must start and end with a letter or digit";
  return NULL;
}

/* An RFC 1123 subdomain, as an object's name must be: labels joined by
 * '.', 253 characters at most. */
static const char *
subdomain_problem (const char *s)
{
  const char *why;

  if (strlen (s) > 253)
    return "is longer than 253 characters";
  for (const char *dot; ; s = dot + 1) {
    dot = strchr (s, '.');
    if ((why = label_problem (s, dot ? (size_t) (dot - s) : strlen (s))))
      return why;
    if (dot == NULL)
      return NULL;
  }
}

/* A usage error naming the option and its value (escaped: a newline in
 * it must not make the message two lines). */
static int
bad_value (const char *option, const char *value, const char *why)
{
  char esc[SV_ESCAPED_LEN (64)];

  return usage_error ("bad --%s '%s': %s", option,
                      sv_log_escape (value, esc, sizeof esc), why);
}

static int
check_names (const struct options *o)
{
  const char *why;

  if ((why = label_problem (o->namespace, strlen (o->namespace))))
    return bad_value ("namespace", o->namespace, why);
  if (o->name && (why = subdomain_problem (o->name)))
    return bad_value ("name", o->name, why);
  /* The host's name in the controller's config is a topology label value
   * and goes into a Secret key: a sealvol name is both. */
  if (o->host && (why = sv_name_problem (o->host)))
    return bad_value ("host", o->host, why);
  return 0;
}

/* ---- reading what goes in ---- */

/* path's whole content, NUL-terminated, in locked memory; NULL and
 * reported if it cannot be read or is not a regular file of at most max
 * bytes. */
static struct sv_key *
read_small_file (const char *path, size_t max)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct sv_key *k = NULL;
  struct stat st;
  ssize_t r;

  if (fd == -1 || fstat (fd, &st) == -1) {
    sv_error ("cannot read %s: %m", path);
    goto out;
  }
  if (!S_ISREG (st.st_mode) || (size_t) st.st_size > max) {
    sv_error ("%s: not a regular file of at most %zu bytes", path, max);
    goto out;
  }
  k = sv_key_new ((size_t) st.st_size + 1);
  r = read (fd, sv_key_bytes_mut (k), (size_t) st.st_size);
  if (r != st.st_size) {
    sv_error ("cannot read %s: %s", path, r == -1 ? strerror (errno)
              : "it changed while being read");
    sv_key_free (k);
    k = NULL;
  }
out:
  if (fd >= 0)
    close (fd);
  return k;
}

/* Whether a PEM label is the kind wanted: "CERTIFICATE", or for a key
 * any unencrypted private key (PKCS#8, EC or RSA). */
static bool
label_wanted (const char *label, size_t n, bool key)
{
  static const char pk[] = "PRIVATE KEY";

  if (!key)
    return n == strlen ("CERTIFICATE") && memcmp (label, "CERTIFICATE", n) == 0;
  return n >= strlen (pk) && memcmp (label + n - strlen (pk), pk, strlen (pk))
    == 0 && strncmp (label, "ENCRYPTED", strlen ("ENCRYPTED")) != 0;
}

/* Copy the PEM blocks of in (NUL-terminated) to out, each line ending in
 * "\n" and without a "\r"; the text around them is dropped.  The number
 * of blocks, or -1 with *why set. */
static int
pem_blocks (const char *in, char *out, bool key, const char **why)
{
  int blocks = 0;
  bool inside = false;

  for (const char *line = in, *end; *line; line = *end ? end + 1 : end) {
    size_t n = (size_t) ((end = strchrnul (line, '\n')) - line);

    if (n > 0 && line[n - 1] == '\r')
      n--;
    if (!inside && n > 16 && strncmp (line, "-----BEGIN ", 11) == 0
        && strncmp (line + n - 5, "-----", 5) == 0) {
      if (!label_wanted (line + 11, n - 16, key))
        return *why = key ? "holds a PEM block that is not an unencrypted "
          "private key" : "holds a PEM block that is not a certificate", -1;
      inside = true;
    }
    if (!inside)
      continue;
    for (size_t i = 0; i < n; i++)
      if (line[i] < 0x20 || line[i] > 0x7e)
        return *why = "holds a byte that PEM does not", -1;
    memcpy (out, line, n);
    out += n;
    *out++ = '\n';
    if (strncmp (line, "-----END ", 9) == 0)
      inside = false, blocks++;
  }
  *out = '\0';
  if (inside)
    return *why = "ends inside a PEM block", -1;
  return blocks;
}

/* The PEM blocks of path (certificates, or one private key) in locked
 * memory; NULL and reported if there are none or the file is not PEM. */
static struct sv_key *
read_pem (const char *path, bool key)
{
  struct sv_key *in = read_small_file (path, MAX_PEM_FILE), *out;
  const char *why = NULL;
  int n;

  if (in == NULL)
    return NULL;
  /* Each line gains at most a '\n' (the last one). */
  out = sv_key_new (sv_key_len (in) + 1);
  n = pem_blocks ((const char *) sv_key_bytes (in),
                  (char *) sv_key_bytes_mut (out), key, &why);
  sv_key_free (in);
  if (n == 0 || (key && n > 1))
    why = n == 0 ? (key ? "holds no PEM private key" : "holds no PEM "
                    "certificate") : "holds more than one private key";
  if (why) {
    sv_error ("%s %s", path, why);
    sv_key_free (out);
    return NULL;
  }
  return out;
}

/* dir/leaf as read_pem reads it. */
static struct sv_key *
read_pem_in (const char *dir, const char *leaf, bool key)
{
  char path[4096];

  if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, leaf) >= sizeof path) {
    sv_error ("path too long: %s", dir);
    return NULL;
  }
  return read_pem (path, key);
}

/* The tenant's PSK file's line for user, "USER:HEXKEY", as nbdkit reads
 * it (its first such line). */
static struct sv_key *
read_psk_line (const struct sv_tenant *t, const char *user)
{
  char path[4096];
  struct sv_key *file, *line = NULL;
  const char *p, *end;
  size_t n = strlen (user);

  snprintf (path, sizeof path, "%s/tls/psk", t->dir);
  if ((file = read_small_file (path, MAX_PEM_FILE)) == NULL)
    return NULL;
  for (p = (const char *) sv_key_bytes (file); *p; p = *end ? end + 1 : end) {
    end = strchrnul (p, '\n');
    if (strncmp (p, user, n) == 0 && p[n] == ':') {
      line = sv_key_from_bytes (p, (size_t) (end - p) + 1);
      sv_key_bytes_mut (line)[end - p] = '\0';
      break;
    }
  }
  sv_key_free (file);
  if (line == NULL)
    sv_error ("%s has no line for PSK user %s", path, user);
  else if (strspn ((const char *) sv_key_bytes (line) + n + 1,
                   "0123456789abcdefABCDEF") + n + 1
           != strlen ((const char *) sv_key_bytes (line))) {
    sv_error ("%s: the line of %s is not USER:HEXKEY", path, user);
    sv_key_free (line);
    line = NULL;
  }
  return line;
}

/* The token of --token-file: its first line, a live token of this tenant
 * with scope volumes and no more (an admin token may create tenants, and
 * a Secret is handed to a namespace). */
static struct sv_key *
read_token_file (const struct options *o, const char *tenant)
{
  struct sv_key *k = read_small_file (o->token_file, SV_TOKEN_MAX + 2);
  struct sv_token_info info;
  char *tok;

  if (k == NULL)
    return NULL;
  tok = (char *) sv_key_bytes_mut (k);
  tok[strcspn (tok, "\r\n")] = '\0';
  if (sv_token_check (o->root, tok, time (NULL), &info) == -1)
    sv_error ("%s: not a valid token%s", o->token_file,
              errno == EKEYEXPIRED ? " (it has expired)" : "");
  else if (strcmp (info.tenant, tenant) != 0)
    sv_error ("%s: a token of tenant %s, not %s", o->token_file, info.tenant,
              tenant);
  else if (info.scopes != SV_SCOPE_VOLUMES)
    sv_error ("%s: a token of scope %s; a tenant's Secret gets a volumes "
              "token", o->token_file, sv_token_scope_name (info.scopes));
  else
    return k;
  sv_key_free (k);
  return NULL;
}

/* ---- deciding what to read ---- */

static bool
tenant_has (const struct sv_tenant *t, const char *leaf)
{
  char path[4096];

  snprintf (path, sizeof path, "%s/tls/%s", t->dir, leaf);
  return access (path, F_OK) == 0;
}

/* Certificates or PSK: as the options say, else as 'tenant serve' would
 * serve (certificates win; a tenant with neither yet gets the
 * certificate keys). */
static enum node_auth
choose_auth (const struct options *o, const struct sv_tenant *t)
{
  if (o->client_dir)
    return AUTH_CERTS;
  if (o->psk_user)
    return AUTH_PSK;
  if (!tenant_has (t, "server-cert.pem") && tenant_has (t, "psk"))
    return AUTH_PSK;
  return AUTH_CERTS;
}

/* The public part: the CA that verifies the server, where one is named. */
static int
read_public (const struct options *o, struct secret *s)
{
  if (s->auth != AUTH_CERTS)
    return 0;
  if (o->ca_cert)
    s->ca_cert = read_pem (o->ca_cert, false);
  else if (o->client_dir)
    s->ca_cert = read_pem_in (o->client_dir, "ca-cert.pem", false);
  else
    return 0;
  return s->ca_cert ? 0 : -1;
}

/* The node's credentials, with --with-secrets. */
static int
read_node_secrets (const struct options *o, const struct sv_tenant *t,
                   struct secret *s)
{
  if (s->auth == AUTH_PSK) {
    if (o->psk_user == NULL)
      return usage_error ("tenant %s serves with a PSK: --with-secrets "
                          "needs --psk-user USER", s->tenant);
    return (s->psk = read_psk_line (t, o->psk_user)) ? 0 : EXIT_FAILURE;
  }
  if (s->ca_cert == NULL)
    return usage_error ("tenant %s serves with certificates: --with-secrets "
                        "needs --client-dir DIR or --ca-cert FILE",
                        s->tenant);
  if (o->client_dir == NULL)
    return 0;                   /* a tenant that takes any client */
  if ((s->client_cert = read_pem_in (o->client_dir, "client-cert.pem",
                                     false)) == NULL
      || (s->client_key = read_pem_in (o->client_dir, "client-key.pem",
                                       true)) == NULL)
    return EXIT_FAILURE;
  return 0;
}

/* The token last: made only once everything else was read. */
static int
get_token (const struct options *o, struct secret *s)
{
  char tok[SV_TOKEN_MAX + 1];
  int r;

  if (o->token_file)
    s->token = read_token_file (o, s->tenant);
  else if ((r = cli_token_for_secret (o, s->tenant, tok)) != 0)
    return r;
  else {
    s->token = sv_key_from_bytes (tok, strlen (tok) + 1);
    sodium_memzero (tok, sizeof tok);
  }
  if (s->token == NULL)
    return EXIT_FAILURE;
  cli_token_id ((const char *) sv_key_bytes (s->token), s->token_id);
  return 0;
}

/* ---- YAML ---- */

/* A double-quoted scalar: '"' and '\' escaped, any other byte outside
 * printable ASCII as \xHH. */
static void
put_quoted (FILE *f, const char *s)
{
  fputc ('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char) *s;
    if (c == '"' || c == '\\')
      fprintf (f, "\\%c", c);
    else if (c < 0x20 || c > 0x7e)
      fprintf (f, "\\x%02x", c);
    else
      fputc (c, f);
  }
  fputc ('"', f);
}

/* "  key: value" at indent, the value quoted. */
static void
put_pair (FILE *f, int indent, const char *key, const char *value)
{
  fprintf (f, "%*s%s: ", indent, "", key);
  put_quoted (f, value);
  fputc ('\n', f);
}

/* A stringData entry: PEM as a literal block (each line ends in '\n',
 * none is blank or starts with a space: pem_blocks made it so), a line
 * as a quoted scalar, or "" under the comment that says what goes there. */
static void
put_data (FILE *f, const char *key, const struct sv_key *value, bool pem,
          const char *placeholder)
{
  const char *v = value ? (const char *) sv_key_bytes (value) : NULL;

  if (v && pem) {
    fprintf (f, "  %s: |\n", key);
    for (const char *l = v, *end; *l; l = end + 1) {
      end = strchr (l, '\n');
      fprintf (f, "    %.*s\n", (int) (end - l), l);
    }
    return;
  }
  if (v == NULL)
    fprintf (f, "  # %s\n", placeholder);
  put_pair (f, 2, key, v ? v : "");
}

static void
put_metadata (FILE *f, const struct options *o, const struct secret *s)
{
  fprintf (f, "metadata:\n");
  put_pair (f, 2, "name", s->name);
  put_pair (f, 2, "namespace", s->namespace);
  fprintf (f, "  labels:\n");
  put_pair (f, 4, "app.kubernetes.io/part-of", "sealvol");
  fprintf (f, "  annotations:\n");
  put_pair (f, 4, "sealvol.org/tenant", s->tenant);
  put_pair (f, 4, "sealvol.org/tenant-id", s->tenant_id);
  if (o->host)
    put_pair (f, 4, "sealvol.org/host", o->host);
  if (s->token)
    put_pair (f, 4, "sealvol.org/access-token-id", s->token_id);
}

static void
put_secret (FILE *f, const struct options *o, const struct secret *s)
{
  char key[64 + sizeof "access-token."], hint[512];

  fprintf (f, "# The sealvol Secret of tenant %s for namespace %s "
           "(sealvol tenant kube-secret).\n", s->tenant, s->namespace);
  if (o->with_secrets)
    fprintf (f, "# It holds secrets: apply it, do not keep or commit it.\n");
  fprintf (f, "apiVersion: v1\nkind: Secret\n");
  put_metadata (f, o, s);
  fprintf (f, "type: Opaque\nstringData:\n");
  snprintf (key, sizeof key, "access-token%s%s", o->host ? "." : "",
            o->host ? o->host : "");
  snprintf (hint, sizeof hint, "the tenant's API token, ID.SECRET, for the "
            "controller: on the storage host, 'sealvol tenant token create "
            "%s'", s->tenant);
  put_data (f, key, s->token, false, hint);
  if (s->auth == AUTH_PSK) {
    put_data (f, "psk", s->psk, false, "the node's PSK, one line USER:HEXKEY "
              "of the tenant's tls/psk file ('sealvol-certs psk')");
    return;
  }
  put_data (f, "ca-cert", s->ca_cert, true, "PEM: the CA that verifies the "
            "tenant's server (ca-cert.pem of 'sealvol-certs client "
            "--server-ca')");
  if (o->with_secrets && s->client_cert == NULL)
    return;                     /* --ca-cert only: any client is served */
  put_data (f, "client-cert", s->client_cert, true, "PEM: the node's client "
            "certificate, signed by the tenant's client CA "
            "(client-cert.pem of 'sealvol-certs client')");
  put_data (f, "client-key", s->client_key, true, "PEM: its private key "
            "(client-key.pem)");
}

/* ---- the command ---- */

static int
check_options (const struct options *o)
{
  if (o->client_dir && o->psk_user)
    return usage_error ("%s: --client-dir and --psk-user exclude each other",
                        "tenant kube-secret");
  if (o->ca_cert && o->psk_user)
    return usage_error ("%s: --ca-cert goes with certificates, not with "
                        "--psk-user", "tenant kube-secret");
  if (!o->with_secrets && (o->token_file || o->expires))
    return usage_error ("%s: --%s goes with --with-secrets",
                        "tenant kube-secret",
                        o->token_file ? "token-file" : "expires");
  if (o->token_file && o->expires)
    return usage_error ("%s: --expires is for a new token, not with "
                        "--token-file", "tenant kube-secret");
  return check_names (o);
}

/* Everything but the token, into s. */
static int
gather (const struct options *o, const struct sv_tenant *t, struct secret *s)
{
  int r;

  s->auth = choose_auth (o, t);
  if (read_public (o, s) == -1)
    return EXIT_FAILURE;
  if (o->with_secrets && (r = read_node_secrets (o, t, s)) != 0)
    return r;
  return 0;
}

/* Print s; a new token that could not be printed is revoked again. */
static int
print_secret (const struct options *o, const struct secret *s)
{
  bool revoked;

  put_secret (stdout, o, s);
  if (fflush (stdout) == 0 && !ferror (stdout))
    return EXIT_SUCCESS;
  revoked = s->token && o->token_file == NULL
    && sv_token_revoke (o->root, s->tenant, s->token_id) == 0;
  sv_error ("cannot write the Secret: %m%s%s%s", revoked ? " (its new token "
            : "", revoked ? s->token_id : "", revoked ? " is revoked)" : "");
  return EXIT_FAILURE;
}

int
cmd_tenant_kube_secret (const struct options *o, const struct cli_args *a)
{
  struct secret s = { .tenant = a->tenant, .namespace = o->namespace,
    .name = o->name ? o->name : DEFAULT_NAME };
  struct sv_tenant *t;
  int r;

  if ((r = check_options (o)) != 0)
    return r;
  if ((t = sv_tenant_open (o->root, a->tenant)) == NULL)
    return EXIT_FAILURE;
  sodium_bin2hex (s.tenant_id, sizeof s.tenant_id, t->id, SV_ID_LEN);
  r = gather (o, t, &s);
  sv_tenant_free (t);
  if (r == 0 && o->with_secrets)
    r = get_token (o, &s);
  if (r == 0)
    r = print_secret (o, &s);
  secret_free (&s);
  return r;
}
