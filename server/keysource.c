/* sealvol: tenant keys that do not live in a key file.
 *
 * kek-command: the key is what a command prints (64 hex digits), so a KMS
 * or Vault can hold it off the storage host's disks; the command runs
 * with /bin/sh -c, its output comes through a pipe (never argv or a
 * file) and is wiped after parsing.
 * passphrase: the key is Argon2id (libsodium crypto_pwhash) of the
 * passphrase with the salt and limits stored in tenant.conf.
 * Either way the tenant's key-check value tells a wrong key at once.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sodium.h>

#include "report.h"
#include "tenant.h"

extern char **environ;

/* Run command, reading at most len - 1 bytes of its output into buf. */
static int
run_capture (const char *command, char *buf, size_t len)
{
  char *argv[] = { (char *) "sh", (char *) "-c", (char *) command, NULL };
  posix_spawn_file_actions_t fa;
  int pipefd[2], status, r;
  size_t got = 0;
  ssize_t n;
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) == -1)
    return -1;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_adddup2 (&fa, pipefd[1], STDOUT_FILENO);
  r = posix_spawn (&pid, "/bin/sh", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy (&fa);
  close (pipefd[1]);
  if (r != 0) {
    close (pipefd[0]);
    errno = r;
    return -1;
  }
  while (got < len - 1
         && (n = read (pipefd[0], buf + got, len - 1 - got)) != 0) {
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      break;
    got += (size_t) n;
  }
  buf[got] = '\0';
  close (pipefd[0]);
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
    errno = ECHILD;
    return -1;
  }
  return 0;
}

int
sv_tenant_load_key_command (struct sv_tenant *t, const char *command)
{
  char out[256];
  int r;

  if (run_capture (command, out, sizeof out) == -1) {
    sv_wipe (out, sizeof out);
    sv_error ("tenant %s: kek-command failed (it must print the key as 64 "
              "hex digits and exit 0)", t->name);
    return -1;
  }
  r = sv_tenant_set_key_hex (t, out);
  sv_wipe (out, sizeof out);
  return r;
}

int
sv_tenant_set_passphrase (struct sv_tenant *t, const char *passphrase)
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
