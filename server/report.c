/* sealvol: one place where library errors become one-line messages. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "report.h"

static void
default_handler (const char *msg)
{
  fprintf (stderr, "sealvol: %s\n", msg);
}

static sv_error_handler handler = default_handler;

void
sv_set_error_handler (sv_error_handler fn)
{
  handler = fn ? fn : default_handler;
}

void
sv_error (const char *fmt, ...)
{
  int saved_errno = errno;
  char msg[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  handler (msg);
  errno = saved_errno;
}
