/* sealvol: one place where library errors become one-line messages. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

/* The escaped form of one byte: "\\xHH" at most, written to e. */
static size_t
escape_byte (unsigned char c, char e[5])
{
  if (c == '\\')
    return (size_t) snprintf (e, 5, "\\\\");
  if (c >= 0x20 && c < 0x7f)
    return (size_t) snprintf (e, 5, "%c", c);
  return (size_t) snprintf (e, 5, "\\x%02x", c);
}

const char *
sv_log_escape (const char *in, char *out, size_t len)
{
  size_t n = 0, room = len - sizeof "...";
  char e[5];

  for (; *in; in++) {
    size_t k = escape_byte ((unsigned char) *in, e);
    if (n + k > room) {
      strcpy (out + n, "...");
      return out;
    }
    memcpy (out + n, e, k);
    n += k;
  }
  out[n] = '\0';
  return out;
}
