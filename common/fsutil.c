/* sealvol: small file helpers shared by the store and the CLI. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault.h"
#include "fsutil.h"
#include "report.h"

/* Move the whole range, retrying short transfers and EINTR. */
static int
transfer_all (int fd, char *p, size_t len, uint64_t off, bool write)
{
  while (len > 0) {
    ssize_t n = write ? pwrite (fd, p, len, (off_t) off)
                      : pread (fd, p, len, (off_t) off);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    if (n == 0) {               /* end of file on a read */
      errno = EIO;
      return -1;
    }
    p += n;
    off += (uint64_t) n;
    len -= (size_t) n;
  }
  return 0;
}

int
sv_read_all (int fd, void *buf, size_t len, uint64_t off)
{
  return transfer_all (fd, buf, len, off, false);
}

int
sv_write_all (int fd, const void *buf, size_t len, uint64_t off)
{
  return transfer_all (fd, (char *) buf, len, off, true);
}

int
sv_fsync_dir (const char *dir)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int r;

  if (fd == -1)
    return -1;
  r = fsync (fd);
  close (fd);
  return r;
}

int
sv_replace_file (const char *dir, const char *name, const void *data,
                 size_t len, mode_t mode)
{
  return sv_replace_file_ex (dir, name, data, len, mode, true);
}

int
sv_replace_file_ex (const char *dir, const char *name, const void *data,
                    size_t len, mode_t mode, bool durable)
{
  char *tmp = NULL, *dst = NULL;
  int fd = -1, r = -1;

  if (asprintf (&tmp, "%s/.%s.tmp", dir, name) == -1
      || asprintf (&dst, "%s/%s", dir, name) == -1)
    goto out;
  /* A fresh file, never one found there: in a directory the serving user
   * owns, a link it planted must not be truncated by root. */
  unlink (tmp);
  fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd == -1
      || sv_take_dir_owner (fd, dir) == -1
      || sv_write_all (fd, data, len, 0) == -1
      || (durable && fsync (fd) == -1))
    goto fail;
  sv_fault_point ("replace:before-rename");
  if (rename (tmp, dst) == -1
      || (durable && sv_fsync_dir (dir) == -1))
    goto fail;
  r = 0;
  goto out;

 fail:
  sv_error ("cannot write %s/%s: %m", dir, name);
  unlink (tmp);
 out:
  if (fd >= 0)
    close (fd);
  free (tmp);
  free (dst);
  return r;
}

void
sv_unlink_in (const char *dir, const char *leaf)
{
  char path[4096];

  if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, leaf) < sizeof path)
    unlink (path);
}

int
sv_take_dir_owner (int fd, const char *dir)
{
  struct stat st;

  if (geteuid () != 0)
    return 0;
  if (stat (dir, &st) == -1)
    return -1;
  if (st.st_uid == 0 && st.st_gid == 0)
    return 0;
  return fchown (fd, st.st_uid, st.st_gid);
}

static bool
trusted_owner (uid_t uid)
{
  return uid == 0 || uid == geteuid ();
}

/* One path component: a file, or a directory above it. */
static bool
component_trusted (const char *path, char *why, size_t len)
{
  struct stat st;

  if (stat (path, &st) == -1) {
    snprintf (why, len, "cannot check %s: %s", path, strerror (errno));
    return false;
  }
  if (!trusted_owner (st.st_uid)) {
    snprintf (why, len, "%s belongs to uid %u", path, (unsigned) st.st_uid);
    return false;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH))
      && !(S_ISDIR (st.st_mode) && (st.st_mode & S_ISVTX))) {
    snprintf (why, len, "%s is writable by group or others", path);
    return false;
  }
  return true;
}

int
sv_check_path_trusted (const char *path, char *why, size_t len)
{
  char *real = realpath (path, NULL);
  bool ok = real != NULL;

  if (real == NULL)
    snprintf (why, len, "cannot resolve %s: %s", path, strerror (errno));
  while (ok) {
    char *slash;
    ok = component_trusted (real, why, len);
    if (strcmp (real, "/") == 0)
      break;
    slash = strrchr (real, '/');
    slash[slash == real] = '\0';         /* "/a" goes up to "/" */
  }
  free (real);
  if (ok)
    return 0;
  errno = EPERM;
  return -1;
}

char *
sv_parent_dir (const char *path)
{
  const char *slash = strrchr (path, '/');

  if (slash == NULL)
    return strdup (".");
  return strndup (path, (size_t) (slash - path) + (slash == path));
}

int
sv_mkdir_owned (const char *path, mode_t mode)
{
  char *parent = sv_parent_dir (path);
  int fd = -1, r = -1;

  if (parent && mkdir (path, mode) == 0) {
    fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    r = fd == -1 || sv_take_dir_owner (fd, parent) == -1 ? -1 : 0;
    if (r == -1)
      rmdir (path);
  }
  if (fd >= 0)
    close (fd);
  free (parent);
  return r;
}
