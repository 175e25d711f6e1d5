/* sealvol: the per-tenant audit log (see audit.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "report.h"

#define LOG_NAME "audit.log"
#define MAX_LINE 8191           /* bytes of one event, newline included */

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

/* The size cap; built with --enable-test-hooks, SEALVOL_AUDIT_MAX_BYTES
 * sets a small one so that tests see rotations. */
static off_t
max_bytes (void)
{
#ifdef SEALVOL_TEST_HOOKS
  const char *s = getenv ("SEALVOL_AUDIT_MAX_BYTES");

  if (s && atoll (s) > 0)
    return (off_t) atoll (s);
#endif
  return SV_AUDIT_MAX_BYTES;
}

/* Writers hold the lock for a few system calls.  The serving user owns
 * the directory and could hold it for ever: root's CLI waits 2 s at most,
 * then writes without it (a line in the wrong file beats a hung command
 * or a lost event). */
static void
lock_briefly (int dfd, const char *path)
{
  for (int ms = 0; flock (dfd, LOCK_EX | LOCK_NB) == -1; ms++) {
    if (errno != EWOULDBLOCK || ms == 2000) {
      sv_error ("audit: cannot lock %s: %m; writing without the lock", path);
      return;
    }
    nanosleep (&(struct timespec) { .tv_nsec = 1000000 }, NULL);
  }
}

/* TENANT_DIR/log, made if missing, opened without following a link and
 * locked: every writer, in this process or another, checks the size,
 * rotates and appends under this lock.  The fd, or -1 (reported). */
static int
lock_log_dir (const char *tenant_dir)
{
  char path[4096];
  int dfd;

  if ((size_t) snprintf (path, sizeof path, "%s/" SV_AUDIT_DIR, tenant_dir)
      >= sizeof path) {
    errno = ENAMETOOLONG;
    return sv_error ("audit: %s: %m", tenant_dir), -1;
  }
  if (mkdir (path, 0700) == -1 && errno != EEXIST)
    return sv_error ("audit: cannot make %s: %m", path), -1;
  dfd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd == -1)
    return sv_error ("audit: cannot open %s: %m", path), -1;
  lock_briefly (dfd, path);
  return dfd;
}

/* NAME in the log directory, opened with flags.  Root's CLI appends here
 * too, in a directory the serving user may own: so no link is followed,
 * opening a FIFO does not wait (O_NONBLOCK), and only a regular file with
 * a single link (not a hard link to a file elsewhere) is accepted.  The fd
 * and its stat, or -1 (reported). */
static int
open_log_file (int dfd, const char *name, int flags, struct stat *st)
{
  int fd = openat (dfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
                   | O_CLOEXEC, 0600);

  if (fd == -1) {
    sv_error ("audit: cannot open " SV_AUDIT_DIR "/%s: %m", name);
    return -1;
  }
  if (fstat (fd, st) == -1 || !S_ISREG (st->st_mode) || st->st_nlink != 1) {
    sv_error ("audit: " SV_AUDIT_DIR "/%s is not a regular file with one "
              "link; not using it", name);
    close (fd);
    return -1;
  }
  return fd;
}

/* A file root creates goes to the directory's owner, who serves the
 * tenant and must be able to append to it. */
static void
give_to_dir_owner (int dfd, int fd, const struct stat *st)
{
  struct stat d;

  if (geteuid () == 0 && fstat (dfd, &d) == 0 && d.st_uid != st->st_uid
      && fchown (fd, d.st_uid, d.st_gid) == -1)
    sv_error ("audit: cannot give " SV_AUDIT_DIR "/" LOG_NAME " to uid %u: %m",
              (unsigned) d.st_uid);
}

static int
open_log (int dfd, struct stat *st)
{
  int fd = open_log_file (dfd, LOG_NAME, O_WRONLY | O_APPEND | O_CREAT, st);

  if (fd >= 0)
    give_to_dir_owner (dfd, fd, st);
  return fd;
}

/* "audit.log" for i = 0, else "audit.log.I". */
static const char *
log_name (int i, char buf[32])
{
  if (i == 0)
    return LOG_NAME;
  snprintf (buf, 32, LOG_NAME ".%d", i);
  return buf;
}

/* The oldest file, about to go: how many events and bytes it holds, so
 * that the rotation event says what was dropped.  0 if it is absent. */
static int
count_oldest (int dfd, const char *name, int64_t *events, int64_t *bytes)
{
  struct stat st;
  char buf[4096];
  ssize_t n;
  int fd;

  *events = *bytes = 0;
  if (faccessat (dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == -1)
    return errno == ENOENT ? 0 : -1;
  if ((fd = open_log_file (dfd, name, O_RDONLY, &st)) == -1)
    return -1;
  *bytes = st.st_size;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    for (char *p = buf; (p = memchr (p, '\n', (size_t) (buf + n - p))); p++)
      ++*events;
  close (fd);
  return n == 0 ? 0 : -1;
}

/* audit.log.N-1 .. audit.log.1 move up one, audit.log becomes
 * audit.log.1; audit.log.N is overwritten, so it is counted first.
 * Returns the event that records the rotation (to be written first into
 * the new file), or NULL (reported) if it could not rotate. */
static json_object *
rotate (int dfd, const char *tenant, off_t size)
{
  char from[32], to[32];
  int64_t events, bytes;
  json_object *note;

  if (count_oldest (dfd, log_name (SV_AUDIT_KEEP, to), &events, &bytes) == -1)
    return sv_error ("audit: cannot rotate: %m"), NULL;
  for (int i = SV_AUDIT_KEEP; i >= 1; i--)
    if (renameat (dfd, log_name (i - 1, from), dfd, log_name (i, to)) == -1
        && errno != ENOENT)
      return sv_error ("audit: cannot rotate %s: %m", from), NULL;
  note = sv_audit_event ("audit-log-rotated", tenant);
  json_object_object_add (note, "rotated_bytes", json_object_new_int64 (size));
  json_object_object_add (note, "removed_events",
                          json_object_new_int64 (events));
  json_object_object_add (note, "removed_bytes", json_object_new_int64 (bytes));
  return note;
}

/* e as one line, freed; the length, or -1 if it does not fit. */
static int
format_line (json_object *e, char **line)
{
  int n = asprintf (line, "%s\n", json_object_to_json_string_ext
                    (e, JSON_C_TO_STRING_PLAIN
                     | JSON_C_TO_STRING_NOSLASHESCAPE));

  json_object_put (e);
  if (n > MAX_LINE) {
    free (*line);
    errno = ENAMETOOLONG;
    return -1;
  }
  return n;
}

static int
append (int fd, const char *line, int n)
{
  if (write (fd, line, (size_t) n) != n) {
    sv_error ("audit: cannot append to " SV_AUDIT_DIR "/" LOG_NAME ": %m");
    return -1;
  }
  return 0;
}

/* A fresh audit.log after a rotation, starting with the event that
 * records it.  If the rotation failed, the full file again: an event
 * past the cap beats an event lost. */
static int
open_rotated (int dfd, const char *tenant, off_t size)
{
  json_object *note = rotate (dfd, tenant, size);
  char *line;
  struct stat st;
  int fd = open_log (dfd, &st), n;

  if (note == NULL)
    return fd;
  n = format_line (note, &line);
  if (n > 0) {
    if (fd >= 0)
      append (fd, line, n);
    free (line);
  }
  return fd;
}

/* Rotate first if the line would take the file past the cap (an empty
 * file takes any line, so no line is refused for its length). */
static int
append_rotating (int dfd, const char *tenant, const char *line, int n)
{
  struct stat st;
  int fd = open_log (dfd, &st), r;

  if (fd >= 0 && st.st_size > 0 && st.st_size + n > max_bytes ()) {
    close (fd);
    fd = open_rotated (dfd, tenant, st.st_size);
  }
  if (fd == -1)
    return -1;
  r = append (fd, line, n);
  close (fd);
  return r;
}

int
sv_audit_write (const char *tenant_dir, json_object *e)
{
  json_object *t;
  char tenant[128] = "", *line;     /* on the heap: ASan's frame limit */
  int dfd, n, r = -1;

  if (json_object_object_get_ex (e, "tenant", &t))
    snprintf (tenant, sizeof tenant, "%s", json_object_get_string (t));
  if ((n = format_line (e, &line)) == -1) {
    sv_error ("audit: event too long to log");
    return -1;
  }
  if ((dfd = lock_log_dir (tenant_dir)) != -1) {
    r = append_rotating (dfd, tenant, line, n);
    close (dfd);
  }
  free (line);
  return r;
}
