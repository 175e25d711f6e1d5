/* sealvol CLI: the option table and what every command file shares.
 *
 * Each option names the commands it applies to; cli.c refuses an option
 * given to any other command (exit 2) and prints the usage from this
 * table and its own command table.
 */
#ifndef SEALVOL_CLI_COMMON_H
#define SEALVOL_CLI_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define EXIT_USAGE 2

/* The commands, in the order of cli.c's command table. */
enum cli_command {
  CMD_TENANT_CREATE, CMD_TENANT_ROTATE_KEY, CMD_TENANT_SERVE,
  CMD_VOLUME_CREATE, CMD_VOLUME_RESIZE, CMD_VOLUME_DELETE, CMD_VOLUME_LIST,
  CMD_VOLUME_INFO, CMD_VOLUME_VERIFY, CMD_VOLUME_SET_SERVICE_TYPE,
  CMD_VOLUME_REKEY, CMD_VOLUME_BREAK_LOCK, CMD_TOKEN_CREATE, CMD_TOKEN_LIST,
  CMD_TOKEN_REVOKE, CMD_TENANT_KUBE_SECRET, CMD_API_SERVE,
  CMD_COUNT
};
#define ON(cmd) (1u << (cmd))

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
  struct sv_store_conf store;   /* tenant create: --backend, --pool,
                                 * --ceph-conf, --ceph-id (not owned) */
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
  /* tenant token create */
  const char *scope;
  const char *expires;
  /* tenant kube-secret (and expires) */
  const char *namespace;
  const char *name;
  bool with_secrets;
  const char *host;
  const char *client_dir;
  const char *ca_cert;
  const char *psk_user;
  const char *token_file;
  /* api serve (with listen and tls_certificates) */
  bool print_routes;
  bool help, version;
};

/* One option: "--NAME ARG" (a flag when arg is NULL), stored at offset in
 * struct options (a const char * or, for a flag, a bool). */
struct cli_option {
  const char *name;
  const char *arg;
  unsigned commands;            /* ON (CMD_...) bits: where it applies */
  unsigned required;            /* ... and where it must be given */
  size_t offset;
  const char *help;
};
extern const struct cli_option cli_options[];
extern const size_t cli_option_count;

/* The command's positional arguments, checked by cli.c. */
struct cli_args {
  const char *spec;             /* the first as given: TENANT or TENANT/VOL */
  char tenant[64];
  char volume[64];              /* "" for a TENANT command */
  const char *extra;            /* a second argument, or NULL */
};

/* Parse the options of argv into *o, bit i of *given set for each
 * cli_options[i] seen; argv[optind...] are left as the command's words.
 * 0, or the usage error's exit status. */
int cli_parse_options (int argc, char **argv, struct options *o,
                       uint64_t *given);

/* Print "sealvol: MESSAGE (see 'sealvol --help')" and return EXIT_USAGE. */
int usage_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* The tenant with its key loaded from the key source the options name
 * (--passphrase-file, else --kek, else the tenant's own). */
/* sv_tenant_open with the --backend, --pool... options over tenant.conf. */
struct sv_tenant *cli_open_tenant (const struct options *o,
                                   const char *tenant);
struct sv_tenant *open_tenant_with_key (const struct options *o,
                                        const char *tenant);

/* One audit line for an administrative action. */
void cli_audit_event (const struct options *o, const char *tenant,
                      const char *event, const char *volume);

#endif
