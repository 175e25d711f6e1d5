/* Host helpers for the node plugin: child processes, the mount table
 * (libmount), removing a directory tree.  Nothing here ever sees a
 * secret's value. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libmount.h>

#include "node-util.h"
#include "child.h"

#define MAX_ARGS 32

#define RUN_TIMEOUT_S 300          /* mkfs of a large volume over FUSE */

/* What a tool printed, for an error message: its first line (where mount
 * and losetup say what went wrong) and its last (where resize2fs does,
 * after a banner), joined when they differ. */
struct tool_output {
  char first[256];
  char last[256];
  char line[256];
  size_t have;
};

static void
take_line (struct tool_output *o)
{
  if (o->have == 0)
    return;
  o->line[o->have] = '\0';
  if (o->first[0] == '\0')
    memcpy (o->first, o->line, o->have + 1);
  memcpy (o->last, o->line, o->have + 1);
  o->have = 0;
}

static void
take_bytes (struct tool_output *o, const char *buf, ssize_t n)
{
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n')
      take_line (o);
    else if (o->have + 1 < sizeof o->line)
      o->line[o->have++] = buf[i];
  }
}

/* Read the child's output until it closes it or the deadline passes;
 * false on the deadline. */
static bool
collect_output (int fd, struct tool_output *o, time_t deadline)
{
  char buf[4096];

  for (;;) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    time_t left = deadline - time (NULL);
    ssize_t n;

    if (left <= 0)
      return false;
    if (poll (&p, 1, (int) (left > 1000 ? 1000 : left) * 1000) == 0)
      continue;
    n = read (fd, buf, sizeof buf);
    if (n == -1 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n <= 0)
      break;
    take_bytes (o, buf, n);
  }
  take_line (o);
  return true;
}

/* Reap PID, but only until the deadline: a tool that closed its output
 * may still hang. */
static bool
wait_until_deadline (pid_t pid, int *status, time_t deadline)
{
  for (;;) {
    pid_t r = waitpid (pid, status, WNOHANG);

    if (r == pid)
      return true;
    if (r == -1 && errno != EINTR)
      return false;
    if (time (NULL) >= deadline)
      return false;
    usleep (10000);
  }
}

pid_t
spawn (const char *const argv[], int out_fd, bool new_session)
{
  const struct sv_spawn s = {
    .argv = argv, .out_fd = out_fd, .err_fd = out_fd,
    .new_session = new_session,
  };

  return sv_spawn (&s);
}

int
run_argv (char *out, size_t outlen, const char *const argv[])
{
  struct tool_output o = { "", "", "", 0 };
  time_t deadline = time (NULL) + RUN_TIMEOUT_S;
  int fds[2], status;
  bool finished;
  pid_t pid;

  if (pipe2 (fds, O_CLOEXEC) == -1)
    return -1;
  pid = spawn (argv, fds[1], false);
  close (fds[1]);
  if (pid == -1) {
    snprintf (out, outlen, "cannot run %s: %s", argv[0], strerror (errno));
    close (fds[0]);
    return -1;
  }
  finished = collect_output (fds[0], &o, deadline)
    && wait_until_deadline (pid, &status, deadline);
  close (fds[0]);
  if (!finished) {
    kill (pid, SIGKILL);
    while (waitpid (pid, &status, 0) == -1)
      if (errno != EINTR)
        return -1;
  }
  if (!finished)
    snprintf (out, outlen, "%s did not finish within %d s", argv[0], RUN_TIMEOUT_S);
  else if (strcmp (o.first, o.last) == 0)
    snprintf (out, outlen, "%s", o.first);
  else
    snprintf (out, outlen, "%s ... %s", o.first, o.last);
  return finished && WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

int
run (char *out, size_t outlen, const char *prog, ...)
{
  const char *argv[MAX_ARGS + 1];
  int argc = 0;
  va_list ap;

  argv[argc++] = prog;
  va_start (ap, prog);
  while (argc < MAX_ARGS && (argv[argc] = va_arg (ap, const char *)) != NULL)
    argc++;
  va_end (ap);
  argv[argc] = NULL;
  return run_argv (out, outlen, argv);
}

/* The kernel's mount table for this process, read (and unescaped) by
 * libmount.  No cache is set on the table, so mnt_table_find_target
 * compares spellings only and never follows a symlink in PATH.  Later
 * entries are mounted on top of earlier ones: searching backward finds
 * the one PATH shows. */
bool
mount_point (const char *path, char *fstype, size_t fstype_len)
{
  struct libmnt_table *tb = mnt_new_table ();
  struct libmnt_fs *fs = NULL;

  if (tb && mnt_table_parse_file (tb, "/proc/self/mountinfo") == 0)
    fs = mnt_table_find_target (tb, path, MNT_ITER_BACKWARD);
  if (fs && fstype && fstype_len)
    snprintf (fstype, fstype_len, "%s", mnt_fs_get_fstype (fs) ? : "");
  mnt_unref_table (tb);
  return fs != NULL;
}

int
unmount_if_mounted (const char *path)
{
  while (mount_point (path, NULL, 0))
    if (umount2 (path, UMOUNT_NOFOLLOW) == -1)
      return -1;
  return 0;
}

static int
remove_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void) st; (void) ftw;
  return (type == FTW_DP ? rmdir (path) : unlink (path)) == -1 && errno != ENOENT
    ? -1 : 0;
}

int
remove_tree (const char *dir)
{
  if (access (dir, F_OK) == -1 && errno == ENOENT)
    return 0;
  return nftw (dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
