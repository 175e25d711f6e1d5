/* sealvol: small file helpers shared by the store and the CLI. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd == -1
      || sv_write_all (fd, data, len, 0) == -1
      || (durable && fsync (fd) == -1)
      || rename (tmp, dst) == -1
      || (durable && sv_fsync_dir (dir) == -1)) {
    sv_error ("cannot write %s/%s: %m", dir, name);
    unlink (tmp);
    goto out;
  }
  r = 0;
 out:
  if (fd >= 0)
    close (fd);
  free (tmp);
  free (dst);
  return r;
}
