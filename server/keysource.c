/* sealvol: the one place a tenant key source is resolved (keysource.h);
 * key files themselves are read and checked by tenant.c.
 *
 * kek-command: the key is what a command prints (64 hex digits), so a KMS
 * or Vault can hold it off the storage host's disks.  The command is split
 * into words at spaces and run directly, not by a shell (so nothing in it
 * is expanded or redirected), unless tenant.conf says kek-command-shell =
 * true; either way in a clean environment (a fixed PATH, SEALVOL_TENANT
 * and nothing inherited), standard input /dev/null, its output through a
 * pipe (never argv or a file), wiped after parsing.
 * passphrase: the key is Argon2id (libsodium crypto_pwhash) of the
 * passphrase with the salt and limits stored in tenant.state.
 * Either way the tenant's key-check value tells a wrong key at once.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "keysource.h"
#include "report.h"
#include "child.h"

#define KEK_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_WORDS 32

/* command split at spaces and tabs into argv (pointers into words, a
 * copy the caller frees); no quoting, which is what the shell is for. */
static int
split_words (const char *command, char **words, char *argv[MAX_WORDS + 1])
{
  int n = 0;

  if ((*words = strdup (command)) == NULL)
    return -1;
  for (char *save = NULL, *w = strtok_r (*words, " \t", &save); w;
       w = strtok_r (NULL, " \t", &save)) {
    if (n == MAX_WORDS) {
      errno = E2BIG;
      return -1;
    }
    argv[n++] = w;
  }
  argv[n] = NULL;
  if (n == 0) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* The program to run: a path as given, else looked up in KEK_PATH (not
 * the caller's PATH, which the environment of root's shell decides). */
static int
find_program (const char *name, char *out, size_t len)
{
  char dirs[] = KEK_PATH;

  if (strchr (name, '/'))
    return snprintf (out, len, "%s", name) < (int) len ? 0 : -1;
  for (char *save = NULL, *d = strtok_r (dirs, ":", &save); d;
       d = strtok_r (NULL, ":", &save))
    if (snprintf (out, len, "%s/%s", d, name) < (int) len
        && access (out, X_OK) == 0)
      return 0;
  errno = ENOENT;
  return -1;
}

/* Start program with stdout on a pipe (*out_fd) and a clean
 * environment. */
static int
spawn_clean (const char *tenant, char *const argv[], const char *program,
             pid_t *pid, int *out_fd)
{
  char tenant_env[128];
  const char *envp[] = { "PATH=" KEK_PATH, "LC_ALL=C", tenant_env, NULL };
  int pipefd[2];

  snprintf (tenant_env, sizeof tenant_env, "SEALVOL_TENANT=%s", tenant);
  if (pipe2 (pipefd, O_CLOEXEC) == -1)
    return -1;
  *pid = sv_spawn (&(const struct sv_spawn) {
      .program = program, .argv = (const char *const *) argv, .envp = envp,
      .out_fd = pipefd[1], .err_fd = -1 });
  close (pipefd[1]);
  if (*pid == -1) {
    close (pipefd[0]);
    return -1;
  }
  *out_fd = pipefd[0];
  return 0;
}

/* Read at most len - 1 bytes of fd into buf, NUL-terminated. */
static void
read_capped (int fd, char *buf, size_t len)
{
  size_t got = 0;
  ssize_t n;

  while (got < len - 1 && (n = read (fd, buf + got, len - 1 - got)) != 0) {
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      break;
    got += (size_t) n;
  }
  buf[got] = '\0';
}

/* Run the tenant's key command, reading at most len - 1 bytes of its
 * output into buf; its exit status must be 0.  On failure why says what
 * went wrong. */
static int
run_capture (const struct sv_tenant *t, const char *command, char *buf,
             size_t len, char *why, size_t why_len)
{
  char *sh_argv[] = { (char *) "sh", (char *) "-c", (char *) command, NULL };
  char *argv[MAX_WORDS + 1], *words = NULL, program[4096];
  int fd, status, r = -1;
  pid_t pid;

  if (t->kek_shell)
    r = spawn_clean (t->name, sh_argv, "/bin/sh", &pid, &fd);
  else if (split_words (command, &words, argv) == 0
           && find_program (argv[0], program, sizeof program) == 0)
    r = spawn_clean (t->name, argv, program, &pid, &fd);
  free (words);
  if (r == -1) {
    snprintf (why, why_len, "cannot run it: %s", strerror (errno));
    return -1;
  }
  read_capped (fd, buf, len);
  close (fd);
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
    snprintf (why, why_len, "it exited with status %d",
              WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status));
    errno = ECHILD;
    return -1;
  }
  return 0;
}

static int
load_key_command (struct sv_tenant *t, const char *command)
{
  char out[256], why[256];
  int r;

  if (run_capture (t, command, out, sizeof out, why, sizeof why) == -1) {
    sv_wipe (out, sizeof out);
    sv_error ("tenant %s: kek-command failed, %s (it must print the key as "
              "64 hex digits and exit 0; it runs without a shell unless "
              "kek-command-shell = true)", t->name, why);
    return -1;
  }
  r = sv_tenant_set_key_hex (t, out);
  sv_wipe (out, sizeof out);
  return r;
}

static int
load_key_passphrase (struct sv_tenant *t, const char *passphrase)
{
  struct sv_key *key = sv_key_new (SV_TENANT_KEY_LEN);
  size_t len = strcspn (passphrase, "\n");

  if (key == NULL)
    return -1;
  if (len == 0 || t->pw_ops == 0 || t->pw_mem == 0
      || crypto_pwhash (sv_key_bytes_mut (key), SV_TENANT_KEY_LEN, passphrase,
                        len, t->pw_salt, t->pw_ops, (size_t) t->pw_mem,
                        crypto_pwhash_ALG_ARGON2ID13) != 0) {
    sv_key_free (key);
    errno = EINVAL;
    sv_error ("tenant %s: cannot derive the key from the passphrase", t->name);
    return -1;
  }
  return sv_tenant_adopt_key (t, key);
}

/* A passphrase from its file (first line, any length), in a buffer the
 * caller wipes. */
static char *
read_passphrase_file (const char *path)
{
  FILE *f = fopen (path, "re");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;

  if (f == NULL) {
    sv_error ("cannot read passphrase file %s: %m", path);
    return NULL;
  }
  setvbuf (f, NULL, _IONBF, 0);         /* no stdio copy of the secret */
  n = getline (&line, &cap, f);
  fclose (f);
  if (n > 0)
    line[strcspn (line, "\n")] = '\0';
  if (n <= 0 || line[0] == '\0') {
    sv_error ("passphrase file %s is empty", path);
    if (line)
      sv_wipe (line, cap);
    free (line);
    return NULL;
  }
  return line;
}

static int
load_key_passphrase_file (struct sv_tenant *t, const char *path)
{
  char *pass = read_passphrase_file (path);
  int r;

  if (pass == NULL)
    return -1;
  r = load_key_passphrase (t, pass);
  sv_wipe (pass, strlen (pass));
  free (pass);
  return r;
}

/* The source tenant.conf names: its command, else its key file. */
static int
load_own_key (struct sv_tenant *t)
{
  if (t->kek_command)
    return load_key_command (t, t->kek_command);
  if (t->kek_passphrase) {
    errno = EINVAL;
    sv_error ("tenant %s derives its key from a passphrase: give "
              "--passphrase-file FILE (or kek-passphrase= to nbdkit)",
              t->name);
    return -1;
  }
  return sv_tenant_load_key (t, NULL);
}

int
sv_key_source_load (struct sv_tenant *t, const struct sv_key_source *src)
{
  if (src == NULL)
    return load_own_key (t);
  if (src->kek_command)
    return load_key_command (t, src->kek_command);
  if (src->key_hex)
    return sv_tenant_set_key_hex (t, src->key_hex);
  if (src->passphrase)
    return load_key_passphrase (t, src->passphrase);
  if (src->passphrase_file)
    return load_key_passphrase_file (t, src->passphrase_file);
  if (src->kek_file)
    return sv_tenant_load_key (t, src->kek_file);
  return load_own_key (t);
}

/* ---- a server following key rotations ---- */

void
sv_tenant_state_stamp (const struct sv_tenant *t, struct sv_state_stamp *stamp)
{
  char path[4096];
  struct stat st;

  memset (stamp, 0, sizeof *stamp);
  snprintf (path, sizeof path, "%s/%s", t->dir, SV_TENANT_STATE_FILE);
  if (stat (path, &st) == 0) {
    stamp->dev = st.st_dev;
    stamp->ino = st.st_ino;
    stamp->size = st.st_size;
    stamp->mtime = st.st_mtim;
  }
}

bool
sv_state_stamp_update (const struct sv_tenant *t, struct sv_state_stamp *stamp)
{
  struct sv_state_stamp now;
  bool same;

  sv_tenant_state_stamp (t, &now);
  same = now.dev == stamp->dev && now.ino == stamp->ino
    && now.size == stamp->size && now.mtime.tv_sec == stamp->mtime.tv_sec
    && now.mtime.tv_nsec == stamp->mtime.tv_nsec;
  *stamp = now;
  return !same;
}

/* t takes n's keys and key state; n gets t's old keys, to be freed. */
static void
take_keys (struct sv_tenant *t, struct sv_tenant *n)
{
  struct sv_key *key = t->key, *next = t->next_key;

  t->key = n->key;
  t->next_key = n->next_key;
  n->key = key;
  n->next_key = next;
  t->key_version = n->key_version;
  memcpy (t->key_check, n->key_check, KEY_CHECK_LEN);
  t->has_key_check = n->has_key_check;
  memcpy (t->next_key_check, n->next_key_check, KEY_CHECK_LEN);
  t->has_next_check = n->has_next_check;
}

int
sv_key_source_refresh (struct sv_tenant *t, const char *root,
                       const struct sv_key_source *src,
                       struct sv_state_stamp *stamp)
{
  struct sv_tenant *n;

  /* Stamped before reading: a change made meanwhile is seen next time. */
  if (!sv_state_stamp_update (t, stamp))
    return 0;
  n = sv_tenant_open (root, t->name);
  if (n == NULL || sv_key_source_load (n, src) == -1
      || sodium_memcmp (n->id, t->id, SV_ID_LEN) != 0) {
    sv_tenant_free (n);
    sv_error ("warning: tenant %s: %s changed (a key rotation?) but the "
              "tenant's keys could not be read again; volumes open now keep "
              "working, others open only with the keys loaded before",
              t->name, SV_TENANT_STATE_FILE);
    return -1;
  }
  take_keys (t, n);
  sv_tenant_free (n);
  return 1;
}
