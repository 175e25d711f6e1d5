/* Unit tests for bounded logs: the audit log
 * (server/audit.c) and the rate limit on refusals (server/ratelimit.c).
 *
 * The rate limit, on a fake clock: SV_LOG_BURST events of an interval go
 * through one by one, the rest are counted, and the count comes back once
 * (at the next interval's first event, or at a flush), so none is lost.
 *
 * Rotation, with a small cap (SEALVOL_AUDIT_MAX_BYTES, a test hook; not
 * tested without --enable-test-hooks): every
 * file stays under the cap, at most SV_AUDIT_KEEP rotated files are kept,
 * the newest events are all there in order, and every rotation starts the
 * new file with an "audit-log-rotated" event whose removed_events and
 * removed_bytes are exactly what the dropped file held.
 *
 * Refusals, because root's CLI appends in a directory the serving user
 * owns: a symbolic link, a hard link and a FIFO in place of audit.log are
 * refused (and the FIFO without waiting for a reader); the file they
 * point to is untouched. */
#include <config.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "ratelimit.h"
#include "report.h"
#include "tap.h"

#define CAP 2000
#define EVENTS 400

static char dir[] = "/tmp/sealvol-test-audit.XXXXXX";
static char last_error[512];

static void
keep_error (const char *msg)
{
  snprintf (last_error, sizeof last_error, "%s", msg);
}

/* DIR/log/NAME, in a static buffer. */
static const char *
log_path (const char *name)
{
  static char path[256];

  snprintf (path, sizeof path, "%s/" SV_AUDIT_DIR "/%s", dir, name);
  return path;
}

static int
write_event (int seq)
{
  json_object *e = sv_audit_event ("test", "acme");

  json_object_object_add (e, "seq", json_object_new_int (seq));
  return sv_audit_write (dir, e);
}

/* Lines and bytes of a file; 0 and 0 if it is absent. */
static void
file_lines (const char *path, int64_t *lines, int64_t *bytes)
{
  FILE *f = fopen (path, "r");
  int c;

  *lines = *bytes = 0;
  if (f == NULL)
    return;
  while ((c = getc (f)) != EOF) {
    ++*bytes;
    *lines += c == '\n';
  }
  fclose (f);
}

/* Line number i (from 0) of the file, parsed; NULL if there is none. */
static json_object *
nth_event (const char *path, int i)
{
  char line[1024];
  FILE *f = fopen (path, "r");
  json_object *e = NULL;

  while (f && fgets (line, sizeof line, f))
    if (i-- == 0) {
      e = json_tokener_parse (line);
      break;
    }
  if (f)
    fclose (f);
  return e;
}

static int64_t
member (json_object *e, const char *key)
{
  json_object *v;

  return json_object_object_get_ex (e, key, &v) ? json_object_get_int64 (v)
    : -1;
}

static bool
is_event (json_object *e, const char *name)
{
  json_object *v;

  return e && json_object_object_get_ex (e, "event", &v)
    && strcmp (json_object_get_string (v), name) == 0;
}

/* After a write: if audit.log did not just grow by one line, it
 * rotated; then it holds the note and the event, and the note counts what
 * the oldest file held before. */
static bool
rotation_recorded (int64_t lines_before, int64_t old_lines, int64_t old_bytes,
                   int *rotations)
{
  int64_t lines, bytes;
  json_object *note;
  bool ok;

  file_lines (log_path ("audit.log"), &lines, &bytes);
  if (lines == lines_before + 1)
    return true;
  if (lines != 2)
    return false;
  note = nth_event (log_path ("audit.log"), 0);
  ok = is_event (note, "audit-log-rotated")
    && member (note, "removed_events") == old_lines
    && member (note, "removed_bytes") == old_bytes;
  if (!ok)
    printf ("# bad rotation note: %s (the oldest held %lld lines, %lld bytes)\n",
            json_object_to_json_string (note), (long long) old_lines,
            (long long) old_bytes);
  json_object_put (note);
  ++*rotations;
  return ok;
}

/* Every file under the cap, none beyond SV_AUDIT_KEEP. */
static bool
files_bounded (void)
{
  char name[32];
  struct stat st;

  for (int i = 0; i <= SV_AUDIT_KEEP + 1; i++) {
    snprintf (name, sizeof name, i ? "audit.log.%d" : "audit.log", i);
    if (stat (log_path (name), &st) == 0
        ? i > SV_AUDIT_KEEP || st.st_size > CAP : i <= SV_AUDIT_KEEP)
      return false;
  }
  return true;
}

/* The seq members, oldest file first, must count up to EVENTS - 1. */
static bool
newest_events_in_order (void)
{
  char name[32];
  int want = -1;

  for (int i = SV_AUDIT_KEEP; i >= 0; i--) {
    snprintf (name, sizeof name, i ? "audit.log.%d" : "audit.log", i);
    for (int k = 0; ; k++) {
      json_object *e = nth_event (log_path (name), k);
      int64_t seq = member (e, "seq");
      json_object_put (e);
      if (e == NULL)
        break;
      if (seq == -1)
        continue;               /* a rotation note */
      if (want != -1 && seq != want)
        return false;
      want = (int) seq + 1;
    }
  }
  return want == EVENTS;
}

static void
test_rotation (void)
{
  int64_t lines, bytes, old_lines, old_bytes;
  int rotations = 0, failed_writes = 0, bad_notes = 0;
  char oldest[32];

#ifndef SEALVOL_TEST_HOOKS
  puts ("# rotation not tested: the cap needs --enable-test-hooks");
  return;
#endif
  snprintf (oldest, sizeof oldest, "audit.log.%d", SV_AUDIT_KEEP);
  for (int seq = 0; seq < EVENTS; seq++) {
    file_lines (log_path ("audit.log"), &lines, &bytes);
    file_lines (log_path (oldest), &old_lines, &old_bytes);
    failed_writes += write_event (seq) != 0;
    bad_notes += !rotation_recorded (lines, old_lines, old_bytes, &rotations);
  }
  printf ("# %d rotations\n", rotations);
  CHECK (failed_writes == 0);
  CHECK (rotations > SV_AUDIT_KEEP + 1);   /* so files were dropped too */
  CHECK (bad_notes == 0);
  CHECK (files_bounded ());
  CHECK (newest_events_in_order ());
}

/* n events at now; how many were to be logged one by one; the
 * summaries they brought are added to *summed. */
static int
burst (struct sv_log_limit *l, uint64_t now, int n, uint64_t *summed)
{
  uint64_t summary;
  int logged = 0;

  for (int i = 0; i < n; i++) {
    logged += sv_log_limit_event (l, now, &summary);
    *summed += summary;
  }
  return logged;
}

static void
test_rate_limit (void)
{
  struct sv_log_limit l = { 0 };
  uint64_t summed = 0, t = 1;
  int logged;

  logged = burst (&l, t, 1000, &summed);
  CHECK (logged == SV_LOG_BURST && summed == 0);
  /* Later in the same interval: counted only. */
  logged = burst (&l, t + SV_LOG_INTERVAL_NS - 1, 5, &summed);
  CHECK (logged == 0 && summed == 0);
  /* The next interval's first event brings the count, once. */
  logged = burst (&l, t + SV_LOG_INTERVAL_NS, 1, &summed);
  CHECK (logged == 1 && summed == 1000 + 5 - SV_LOG_BURST);
  CHECK (sv_log_limit_flush (&l) == 0);
  /* A flush reports what the interval counted so far. */
  t += 3 * SV_LOG_INTERVAL_NS;
  logged = burst (&l, t, SV_LOG_BURST + 7, &summed);
  CHECK (logged == SV_LOG_BURST);
  CHECK (sv_log_limit_flush (&l) == 7);
  CHECK (sv_log_limit_flush (&l) == 0);
}

/* Put what make creates in place of audit.log; the write must fail with
 * a one-line reason, without blocking, and leave victim unchanged. */
static void
test_refused (const char *what, int (*make) (const char *victim,
                                               const char *path))
{
  char victim[256];
  struct stat before, after;
  int fd;

  snprintf (victim, sizeof victim, "%s/victim", dir);
  fd = open (victim, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0)
    close (fd);
  unlink (log_path ("audit.log"));
  CHECK (make (victim, log_path ("audit.log")) == 0);
  stat (victim, &before);
  last_error[0] = '\0';
  CHECK (write_event (-1) == -1);
  printf ("# %s: %s\n", what, last_error);
  CHECK (strstr (last_error, "audit: ") == last_error);
  CHECK (stat (victim, &after) == 0 && after.st_size == before.st_size);
}

static int
make_symlink (const char *victim, const char *path)
{
  return symlink (victim, path);
}

static int
make_hardlink (const char *victim, const char *path)
{
  return link (victim, path);
}

static int
make_fifo (const char *victim, const char *path)
{
  (void) victim;
  return mkfifo (path, 0600);
}

int
main (void)
{
  char cap[16], cmd[64];

  if (mkdtemp (dir) == NULL)
    return 1;
  snprintf (cap, sizeof cap, "%d", CAP);
  setenv ("SEALVOL_AUDIT_MAX_BYTES", cap, 1);
  sv_set_error_handler (keep_error);
  test_rate_limit ();
  test_rotation ();
  test_refused ("symbolic link", make_symlink);
  test_refused ("hard link", make_hardlink);
  test_refused ("FIFO", make_fifo);
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK (system (cmd) == 0);
  return tap_result ();
}
