/* Host helpers for the node plugin: child processes, the mount table,
 * private files.  Nothing here ever sees a secret's value except
 * write_private_file, which prints nothing. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node-util.h"

#define MAX_ARGS 32

/* Keep the last non-empty line the child prints (where tools put their
 * verdict: resize2fs starts with a banner), reading everything so that
 * the child never blocks on a full pipe. */
static void
read_last_line (int fd, char *out, size_t outlen)
{
  char buf[4096], line[512];
  size_t have = 0;
  ssize_t n;

  if (outlen)
    out[0] = '\0';
  while ((n = read (fd, buf, sizeof buf)) > 0 || (n == -1 && errno == EINTR)) {
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (have + 1 < sizeof line)
          line[have++] = buf[i];
        continue;
      }
      if (have > 0) {
        snprintf (out, outlen, "%.*s", (int) have, line);
        have = 0;
      }
    }
  }
  if (have > 0)
    snprintf (out, outlen, "%.*s", (int) have, line);
}

/* posix_spawn, not fork: it runs no atfork handlers (gRPC registers
 * some) and copies no address space. */
pid_t
spawn (const char *const argv[], int out_fd, bool new_session)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  pid_t pid;
  int err;

  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, out_fd, 1);
  posix_spawn_file_actions_adddup2 (&fa, out_fd, 2);
  posix_spawnattr_init (&attr);
  if (new_session)
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSID);
  err = posix_spawnp (&pid, argv[0], &fa, &attr, (char *const *) argv, environ);
  posix_spawnattr_destroy (&attr);
  posix_spawn_file_actions_destroy (&fa);
  if (err) {
    errno = err;
    return -1;
  }
  return pid;
}

int
run_argv (char *out, size_t outlen, const char *const argv[])
{
  int fds[2], status;
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
  read_last_line (fds[0], out, outlen);
  close (fds[0]);
  while (waitpid (pid, &status, 0) == -1)
    if (errno != EINTR)
      return -1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
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

/* /proc/self/mountinfo escapes space, tab, newline and backslash as
 * \ooo; undo that in place. */
static void
unescape_octal (char *s)
{
  char *w = s;

  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
      *w++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      s += 3;
    }
    else
      *w++ = *s;
  }
  *w = '\0';
}

bool
mount_point (const char *path, char *fstype, size_t fstype_len)
{
  FILE *f = fopen ("/proc/self/mountinfo", "r");
  char *line = NULL;
  size_t cap = 0;
  bool found = false;

  if (f == NULL)
    return false;
  /* Later lines are mounted on top of earlier ones: the last match wins. */
  while (getline (&line, &cap, f) != -1) {
    char *fields[10], *save = NULL, *tok = line;
    int n = 0;

    while (n < 10 && (fields[n] = strtok_r (tok, " \n", &save)) != NULL) {
      tok = NULL;
      n++;
    }
    if (n < 5)
      continue;
    unescape_octal (fields[4]);
    if (strcmp (fields[4], path) != 0)
      continue;
    found = true;
    if (fstype && fstype_len) {
      /* After the optional fields comes "-", then the type. */
      int i = 6;
      while (i < n && strcmp (fields[i], "-") != 0)
        i++;
      snprintf (fstype, fstype_len, "%s", i + 1 < n ? fields[i + 1] : "");
    }
  }
  free (line);
  fclose (f);
  return found;
}

int
unmount_if_mounted (const char *path)
{
  while (mount_point (path, NULL, 0))
    if (umount2 (path, 0) == -1)
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

int
write_private_file (const char *path, const char *data, size_t len)
{
  int fd, r = 0;

  unlink (path);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd == -1)
    return -1;
  while (len > 0) {
    ssize_t n = write (fd, data, len);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      r = -1;
      break;
    }
    data += n;
    len -= (size_t) n;
  }
  if (close (fd) == -1)
    r = -1;
  return r;
}
