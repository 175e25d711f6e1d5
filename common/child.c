/* sealvol: starting a helper program (see child.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include "child.h"

extern char **environ;

pid_t
sv_spawn (const struct sv_spawn *s)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, defaults;
  char *const *argv = (char *const *) s->argv;
  char *const *envp = s->envp ? (char *const *) s->envp : environ;
  pid_t pid;
  int err;

  sigemptyset (&none);
  sigfillset (&defaults);
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, s->out_fd, STDOUT_FILENO);
  if (s->err_fd >= 0)
    posix_spawn_file_actions_adddup2 (&fa, s->err_fd, STDERR_FILENO);
  posix_spawnattr_init (&attr);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &defaults);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                            | (s->new_session ? POSIX_SPAWN_SETSID : 0));
  err = s->program
    ? posix_spawn (&pid, s->program, &fa, &attr, argv, envp)
    : posix_spawnp (&pid, argv[0], &fa, &attr, argv, envp);
  posix_spawnattr_destroy (&attr);
  posix_spawn_file_actions_destroy (&fa);
  if (err) {
    errno = err;
    return -1;
  }
  return pid;
}
