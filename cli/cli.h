/* sealvol: what the CLI's command files share. */
#ifndef SEALVOL_CLI_H
#define SEALVOL_CLI_H

#include <stdbool.h>
#include <stdint.h>

#define EXIT_USAGE 2

struct options {
  const char *root;
  const char *kek_file;         /* tenant create: where the key lives */
  const char *kek;              /* volume commands: key to use instead */
  const char *kek_command;      /* tenant create: the key is its output */
  const char *passphrase_file;  /* the key is Argon2id of this passphrase */
  const char *size;
  const char *cipher;
  const char *service_type;
  const char *write_limit;
  bool json;
  bool force;                   /* volume delete: a volume that won't open */
  /* tenant serve */
  const char *listen;
  const char *unix_socket;
  const char *tls_certificates;
  const char *tls_psk;
  bool tls_verify_peer;         /* the default over TCP; kept for old units */
  bool allow_any_client;        /* no client certificate check over TCP */
  const char *user;
  const char *group;
  const char *io;
  bool foreground;
};

/* Print "sealvol: MESSAGE (see 'sealvol --help')" and return EXIT_USAGE. */
int usage_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

int cmd_tenant_serve (const struct options *o, const char *tenant);

/* The tenant with its key loaded from the key source the options name. */
struct sv_tenant *open_tenant_with_key (const struct options *o,
                                        const char *tenant);

/* cli-qos.c */
struct sv_tenant;
int cli_check_service_type (const struct options *o, const char *type);
/* Would the tenant stay within its caps with more_bytes more of volumes,
 * and one more volume if new_volume?  -1 (reported) if not. */
int cli_check_tenant_caps (const struct sv_tenant *t, uint64_t more_bytes,
                           bool new_volume);
/* The size in a volume's superblock; -1 (reported) if it cannot open. */
int cli_volume_size (const struct sv_tenant *t, const char *volume,
                     uint64_t *size);
int cmd_volume_set_service_type (const struct options *o, const char *tenant,
                                 const char *volume, const char *type);

#endif
