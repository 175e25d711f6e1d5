/* sealvol: log lines with levels (see log.h). */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *const names[] = { "error", "warning", "info", "debug" };
#define N_LEVELS (sizeof names / sizeof names[0])

static const char *program = "sealvol";
static enum sv_log_level threshold = SV_LOG_INFO;

int
sv_log_init (const char *prog)
{
  const char *want = getenv ("SEALVOL_LOG_LEVEL");

  program = prog;
  if (want == NULL || *want == '\0')
    return 0;
  for (size_t i = 0; i < N_LEVELS; i++)
    if (strcmp (want, names[i]) == 0) {
      threshold = (enum sv_log_level) i;
      return 0;
    }
  return -1;
}

void
sv_log (enum sv_log_level level, const char *fmt, ...)
{
  int saved_errno = errno;
  char line[1024];
  size_t n;
  va_list ap;

  if (level > threshold)
    return;
  n = (size_t) snprintf (line, sizeof line, "%s: %s: ", program, names[level]);
  va_start (ap, fmt);
  if (n < sizeof line)
    vsnprintf (line + n, sizeof line - n, fmt, ap);
  va_end (ap);
  n = strlen (line);
  if (n == sizeof line - 1)
    n--;                                /* cut: keep room for the newline */
  line[n++] = '\n';
  if (write (STDERR_FILENO, line, n) == -1) {
    /* nowhere left to say so */
  }
  errno = saved_errno;
}
