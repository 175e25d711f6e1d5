/* sealvol: starting a child program, the one way every program does it.
 *
 * posix_spawn, not fork: it runs no atfork handlers (gRPC registers some)
 * and copies no address space.  The child gets standard input from
 * /dev/null, an empty signal mask and default handlers for every signal:
 * a caller that blocks signals for a sigwait thread (the CSI plugin), or
 * was started ignoring some, must not pass that on to a child it may have
 * to stop.
 */
#ifndef SEALVOL_CHILD_H
#define SEALVOL_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

struct sv_spawn {
  const char *program;          /* run this file; NULL: argv[0], looked up
                                 * in the caller's PATH */
  const char *const *argv;
  const char *const *envp;      /* NULL: the caller's environment */
  int out_fd;                   /* standard output */
  int err_fd;                   /* standard error; -1: the caller's */
  bool new_session;             /* setsid: out of the caller's group */
};

/* The child's pid, or -1 with errno set. */
pid_t sv_spawn (const struct sv_spawn *s);

#endif
