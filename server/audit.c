/* sealvol: the per-tenant audit log. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "report.h"

static void
utc_now (char *buf, size_t len)
{
  struct timespec ts;
  struct tm tm;
  size_t n;

  clock_gettime (CLOCK_REALTIME, &ts);
  gmtime_r (&ts.tv_sec, &tm);
  n = strftime (buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf (buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

json_object *
sv_audit_event (const char *event, const char *tenant)
{
  json_object *e = json_object_new_object ();
  char now[40];

  utc_now (now, sizeof now);
  json_object_object_add (e, "time", json_object_new_string (now));
  json_object_object_add (e, "event", json_object_new_string (event));
  json_object_object_add (e, "tenant", json_object_new_string (tenant));
  return e;
}

int
sv_audit_write (const char *tenant_dir, json_object *e)
{
  char path[4096], line[8192];
  int fd, n, r = 0;

  n = snprintf (line, sizeof line, "%s\n",
                json_object_to_json_string_ext (e, JSON_C_TO_STRING_PLAIN
                                                | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put (e);
  if (n < 0 || (size_t) n >= sizeof line
      || (size_t) snprintf (path, sizeof path, "%s/audit.log", tenant_dir)
         >= sizeof path) {
    errno = ENAMETOOLONG;
    sv_error ("audit: event too long to log");
    return -1;
  }
  fd = open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd == -1 || write (fd, line, (size_t) n) != n) {
    sv_error ("audit: cannot append to %s: %m", path);
    r = -1;
  }
  if (fd >= 0)
    close (fd);
  return r;
}
