/* sealvol: the storage host's admin command.
 *
 * Spellings are the interface contract of product.md; docs/sealvol.1
 * describes them.  Exit status: 0 success, 1 failure, 2 usage error.
 * Every error is one line on stderr.
 *
 * Two tables drive it, in the manner of cryptsetup's action_types[]: the
 * commands below (noun, verb, arguments, handler, help) and the options
 * (cli-common.c), each naming the commands it applies to.  The usage text
 * comes from both; an option given to a command it does not apply to is
 * a usage error.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "names.h"
#include "secmem.h"

#include "cli-common.h"
#include "cli-serve.h"
#include "cli-api.h"
#include "cli-kube.h"
#include "cli-tenant.h"
#include "cli-token.h"
#include "cli-volume.h"

struct cli_command_def {
  const char *noun, *verb;      /* verb: one word or two ("token list") */
  const char *args;             /* TENANT or TENANT/VOL, maybe one more;
                                 * "" for none */
  int (*run) (const struct options *o, const struct cli_args *a);
  const char *help;
  /* The refusal of an option that does not apply, if not the generic
   * one ("--OPT goes with ... only"). */
  const char *misfit;
};

static const struct cli_command_def commands[CMD_COUNT] = {
  [CMD_TENANT_CREATE] = { "tenant", "create", "TENANT", cmd_tenant_create,
    "create a tenant and its key, from one key source at most" },
  [CMD_TENANT_ROTATE_KEY] = { "tenant", "rotate-key", "TENANT",
    cmd_tenant_rotate_key,
    "re-wrap every volume key under a new key, destroy the old key" },
  [CMD_TENANT_SERVE] = { "tenant", "serve", "TENANT", cmd_tenant_serve,
    "run nbdkit for the tenant on a TCP port (TLS) or a Unix socket" },
  [CMD_VOLUME_CREATE] = { "volume", "create", "TENANT/VOL", cmd_volume_create,
    "create a volume" },
  [CMD_VOLUME_RESIZE] = { "volume", "resize", "TENANT/VOL", cmd_volume_resize,
    "grow a volume", "only --size applies here" },
  [CMD_VOLUME_DELETE] = { "volume", "delete", "TENANT/VOL", cmd_volume_delete,
    "crypto-erase a volume" },
  [CMD_VOLUME_LIST] = { "volume", "list", "TENANT", cmd_volume_list,
    "list the tenant's volumes" },
  [CMD_VOLUME_INFO] = { "volume", "info", "TENANT/VOL", cmd_volume_info,
    "show a volume's superblock and server counters" },
  [CMD_VOLUME_VERIFY] = { "volume", "verify", "TENANT/VOL", cmd_volume_verify,
    "read every block, report integrity failures, exit 1 if any" },
  [CMD_VOLUME_SET_SERVICE_TYPE] = { "volume", "set-service-type",
    "TENANT/VOL NAME", cmd_volume_set_service_type,
    "change a volume's service type, also while it is served" },
  [CMD_VOLUME_REKEY] = { "volume", "rekey", "TENANT/VOL", cmd_volume_rekey,
    "give a volume a new key, re-encrypting its data" },
  [CMD_VOLUME_BREAK_LOCK] = { "volume", "break-lock", "TENANT/VOL",
    cmd_volume_break_lock,
    "rbd: fence a dead gateway (blocklist) and break its volume lock" },
  [CMD_TOKEN_CREATE] = { "tenant", "token create", "TENANT", cmd_token_create,
    "a new API token of the tenant, printed once as ID.SECRET" },
  [CMD_TOKEN_LIST] = { "tenant", "token list", "TENANT", cmd_token_list,
    "the tenant's API tokens (never their secrets)" },
  [CMD_TOKEN_REVOKE] = { "tenant", "token revoke", "TENANT ID",
    cmd_token_revoke, "revoke an API token" },
  [CMD_TENANT_KUBE_SECRET] = { "tenant", "kube-secret", "TENANT",
    cmd_tenant_kube_secret,
    "print the tenant's Kubernetes Secret as YAML (secrets only on request)" },
  [CMD_API_SERVE] = { "api", "serve", "", cmd_api_serve,
    "run the HTTPS control API (docs/api.yaml)" },
};

/* ---- usage, from the two tables ---- */

#define WIDTH 79

/* Print word, wrapping at WIDTH with an indent of 6; *col is the column. */
static void
put_word (const char *word, int *col)
{
  int len = (int) strlen (word);

  if (*col + 1 + len > WIDTH) {
    printf ("\n      %s", word);
    *col = 6 + len;
  }
  else {
    printf (" %s", word);
    *col += 1 + len;
  }
}

static void
usage_command (enum cli_command c)
{
  const struct cli_command_def *d = &commands[c];
  char word[128];
  int col = printf ("  %s %s%s%s", d->noun, d->verb, d->args[0] ? " " : "",
                    d->args);

  for (size_t i = 0; i < cli_option_count; i++) {
    const struct cli_option *opt = &cli_options[i];
    bool required = opt->required & ON (c);

    if (!(opt->commands & ON (c)) || opt->commands == ON (CMD_COUNT) - 1)
      continue;
    snprintf (word, sizeof word, "%s--%s%s%s%s", required ? "" : "[",
              opt->name, opt->arg ? " " : "", opt->arg ? opt->arg : "",
              required ? "" : "]");
    put_word (word, &col);
  }
  printf ("\n    %s\n", d->help);
}

static void
usage (void)
{
  printf ("usage: sealvol [--root DIR] COMMAND ...\n");
  printf ("commands:\n");
  for (int c = 0; c < CMD_COUNT; c++)
    usage_command ((enum cli_command) c);
  printf ("options:\n");
  for (size_t i = 0; i < cli_option_count; i++) {
    const struct cli_option *opt = &cli_options[i];
    char word[64];

    snprintf (word, sizeof word, "--%s%s%s", opt->name, opt->arg ? " " : "",
              opt->arg ? opt->arg : "");
    printf ("  %-24s %s\n", word, opt->help);
  }
  printf ("SIZE takes K, M, G, T suffixes (powers of 1024)\n");
}

/* ---- dispatch ---- */

/* The commands in mask as words: "'volume list' and 'volume info'", or
 * "the volume commands" for all of a noun's (when it has more than 2). */
static void
describe_commands (unsigned mask, char *buf, size_t len)
{
  char item[CMD_COUNT][48];
  size_t n = 0, used = 0;

  for (int c = 0; c < CMD_COUNT; c++) {
    unsigned noun = 0;
    for (int d = 0; d < CMD_COUNT; d++)
      if (strcmp (commands[d].noun, commands[c].noun) == 0)
        noun |= ON (d);
    if (!(mask & ON (c)))
      continue;
    if ((mask & noun) == noun && __builtin_popcount (noun) > 2) {
      snprintf (item[n++], sizeof item[0], "the %s commands", commands[c].noun);
      mask &= ~noun;
    }
    else
      snprintf (item[n++], sizeof item[0], "'%s %s'", commands[c].noun,
                commands[c].verb);
  }
  buf[0] = '\0';
  for (size_t i = 0; i < n && used < len; i++)
    used += (size_t) snprintf (buf + used, len - used, "%s%s",
                               i == 0 ? "" : i + 1 == n ? " and " : ", ",
                               item[i]);
}

/* Every option given must apply to command c. */
static int
check_options (enum cli_command c, uint64_t given)
{
  const struct cli_command_def *d = &commands[c];
  char where[512];

  for (size_t i = 0; i < cli_option_count; i++) {
    const struct cli_option *opt = &cli_options[i];
    if (!(given & (UINT64_C (1) << i)) || (opt->commands & ON (c)))
      continue;
    if (d->misfit)
      return usage_error ("%s %s: %s, not --%s", d->noun, d->verb,
                          d->misfit, opt->name);
    describe_commands (opt->commands, where, sizeof where);
    return usage_error ("--%s goes with %s only, not with '%s %s'",
                        opt->name, where, d->noun, d->verb);
  }
  for (size_t i = 0; i < cli_option_count; i++)
    if ((cli_options[i].required & ON (c)) && !(given & (UINT64_C (1) << i)))
      return usage_error ("%s %s: --%s is required", d->noun, d->verb,
                          cli_options[i].name);
  return 0;
}

/* The command's arguments: a tenant name, or TENANT/VOL split. */
static int
parse_args (const struct cli_command_def *d, int argc, char **argv,
            struct cli_args *a)
{
  const char *why;
  int want = d->args[0] == '\0' ? 0 : strchr (d->args, ' ') ? 2 : 1;

  if (argc != want)
    return usage_error ("'%s %s': wrong number of arguments", d->noun,
                        d->verb);
  if (want == 0)
    return 0;
  a->spec = argv[0];
  a->extra = want == 2 ? argv[1] : NULL;
  if (strchr (d->args, '/') == NULL) {
    if (sv_name_problem (a->spec))
      return usage_error ("bad tenant name '%s': %s", a->spec,
                          sv_name_problem (a->spec));
    snprintf (a->tenant, sizeof a->tenant, "%s", a->spec);
    return 0;
  }
  if (sv_split_volume_spec (a->spec, a->tenant, a->volume, &why) == -1) {
    fprintf (stderr, "sealvol: bad volume '%s': %s\n", a->spec, why);
    return EXIT_USAGE;
  }
  return 0;
}

/* How many of argv's words the verb is (1 or 2), 0 if they are not it. */
static int
verb_words (const char *verb, int argc, char **argv)
{
  const char *space = strchr (verb, ' ');
  size_t n = space ? (size_t) (space - verb) : strlen (verb);

  if (strlen (argv[0]) != n || strncmp (argv[0], verb, n) != 0)
    return 0;
  if (space == NULL)
    return 1;
  return argc >= 2 && strcmp (argv[1], space + 1) == 0 ? 2 : 0;
}

static int
dispatch (const struct options *o, uint64_t given, int argc, char **argv)
{
  bool noun_known = false;
  struct cli_args a = { .spec = NULL };
  int r, words;

  if (argc < 2)
    return usage_error ("%s", "missing command");
  for (int c = 0; c < CMD_COUNT; c++) {
    const struct cli_command_def *d = &commands[c];
    if (strcmp (argv[0], d->noun) != 0)
      continue;
    noun_known = true;
    if ((words = verb_words (d->verb, argc - 1, argv + 1)) == 0)
      continue;
    if ((r = check_options ((enum cli_command) c, given)) != 0
        || (r = parse_args (d, argc - 1 - words, argv + 1 + words, &a)) != 0)
      return r;
    return d->run (o, &a);
  }
  if (noun_known)
    return usage_error ("unknown %s command '%s'", argv[0], argv[1]);
  return usage_error ("unknown command '%s'", argv[0]);
}

int
main (int argc, char **argv)
{
  struct options o = { .root = "/var/lib/sealvol" };
  uint64_t given = 0;
  int r;

  if ((r = cli_parse_options (argc, argv, &o, &given)) != 0)
    return r;
  if (o.help) {
    usage ();
    return EXIT_SUCCESS;
  }
  if (o.version) {
    puts ("sealvol " PACKAGE_VERSION);
    return EXIT_SUCCESS;
  }
  if (sv_crypto_init () == -1) {
    fprintf (stderr, "sealvol: cannot initialise libsodium\n");
    return EXIT_FAILURE;
  }
  return dispatch (&o, given, argc - optind, argv + optind);
}
