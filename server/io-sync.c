/* sealvol: the synchronous I/O engine (pread, pwrite, fdatasync). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fsutil.h"
#include "io.h"

int
sv_io_run_sync (const struct sv_io_req *r)
{
  switch (r->op) {
  case SV_IO_READ:
    return sv_read_all (r->fd, r->buf, r->len, r->off);
  case SV_IO_WRITE:
    return sv_write_all (r->fd, r->buf, r->len, r->off);
  case SV_IO_FDATASYNC:
    return fdatasync (r->fd);
  case SV_IO_PUNCH:
    return fallocate (r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      (off_t) r->off, (off_t) r->len);
  case SV_IO_ZERO_RANGE:
    return fallocate (r->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                      (off_t) r->off, (off_t) r->len);
  }
  errno = EINVAL;
  return -1;
}

/* Running in submission order satisfies "ordered" too. */
static int
sync_submit (struct sv_io_engine *io, struct sv_io_req *reqs, size_t n,
             bool ordered)
{
  (void) io;
  (void) ordered;
  for (size_t i = 0; i < n; i++)
    if (sv_io_run_sync (&reqs[i]) == -1)
      return -1;
  return 0;
}

static void
sync_free (struct sv_io_engine *io)
{
  free (io);
}

struct sv_io_engine *
sv_io_sync_new (void)
{
  struct sv_io_engine *io = calloc (1, sizeof *io);

  if (io) {
    io->name = "sync";
    io->submit = sync_submit;
    io->free = sync_free;
  }
  return io;
}
