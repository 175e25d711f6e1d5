/* sealvol: fault injection into the I/O engine, for tests only.
 *
 * Built with --enable-test-hooks, an engine made while the environment
 * names SEALVOL_FAULT_FILE is wrapped: before every request the wrapper
 * reads that file, one line "OP FILE ERRNO [short]", e.g.
 *     write meta EIO          every metadata write fails with EIO
 *     write data ENOSPC short data writes land half, then fail (ENOSPC)
 *     flush data EIO          fdatasync of the data file fails
 *     flush data SLEEP 3      fdatasync of the data file takes 3 s more
 * OP is read, write or flush; FILE is data, meta or any.  An empty or
 * missing file injects nothing, so a test turns faults on and off while
 * the server runs.  Requests of a batch run one by one, in order, so the
 * ones before a failure have happened, as on a real device.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

#ifdef SEALVOL_TEST_HOOKS

struct fault_engine {
  struct sv_io_engine base;
  struct sv_io_engine *inner;
  char path[4096];
};

static bool
fd_is (int fd, const char *leaf)
{
  char link[64], target[4096];
  ssize_t n;
  size_t l = strlen (leaf);

  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, target, sizeof target - 1);
  if (n <= 0)
    return false;
  target[n] = '\0';
  return (size_t) n > l && strcmp (target + n - l, leaf) == 0
    && target[n - l - 1] == '/';
}

/* Does the fault file ask for this request to fail or to wait?  *err,
 * *half set; *err is 0 and *sleep_s set for a wait. */
static bool
fault_for (const char *path, const struct sv_io_req *r, int *err, bool *half,
           unsigned *sleep_s)
{
  char op[16], file[16], code[16], extra[16] = "";
  FILE *f = fopen (path, "re");
  int n = 0;

  if (f) {
    n = fscanf (f, "%15s %15s %15s %15s", op, file, code, extra);
    fclose (f);
  }
  if (n < 3)
    return false;
  if (!((strcmp (op, "write") == 0 && r->op == SV_IO_WRITE)
        || (strcmp (op, "read") == 0 && r->op == SV_IO_READ)
        || (strcmp (op, "flush") == 0 && r->op == SV_IO_FDATASYNC)))
    return false;
  if (strcmp (file, "any") != 0 && !fd_is (r->fd, file))
    return false;
  *err = strcmp (code, "ENOSPC") == 0 ? ENOSPC : EIO;
  *half = strcmp (extra, "short") == 0;
  *sleep_s = 0;
  if (strcmp (code, "SLEEP") == 0) {
    *err = 0;
    *sleep_s = (unsigned) atoi (extra);
  }
  return true;
}

static int
fault_submit (struct sv_io_engine *io, struct sv_io_req *reqs, size_t n,
              bool ordered)
{
  struct fault_engine *fe = (struct fault_engine *) io;

  for (size_t i = 0; i < n; i++) {
    int err;
    bool half;
    unsigned sleep_s;
    if (fault_for (fe->path, &reqs[i], &err, &half, &sleep_s)) {
      if (err == 0)
        sleep (sleep_s);
      else {
        if (half && reqs[i].op == SV_IO_WRITE) {
          struct sv_io_req part = reqs[i];
          part.len = (part.len / 2 + 4095) / 4096 * 4096;
          if (part.len > 0 && part.len < reqs[i].len)
            fe->inner->submit (fe->inner, &part, 1, true);
        }
        errno = err;
        return -1;
      }
    }
    if (fe->inner->submit (fe->inner, &reqs[i], 1, ordered) == -1)
      return -1;
  }
  return 0;
}

static void
fault_free (struct sv_io_engine *io)
{
  struct fault_engine *fe = (struct fault_engine *) io;

  fe->inner->free (fe->inner);
  free (fe);
}

struct sv_io_engine *
sv_io_fault_wrap (struct sv_io_engine *inner)
{
  const char *path = getenv ("SEALVOL_FAULT_FILE");
  struct fault_engine *fe;

  if (inner == NULL || path == NULL || strlen (path) >= sizeof fe->path
      || (fe = calloc (1, sizeof *fe)) == NULL)
    return inner;
  fe->base.name = inner->name;
  fe->base.submit = fault_submit;
  fe->base.free = fault_free;
  fe->inner = inner;
  strcpy (fe->path, path);
  return &fe->base;
}

#else

struct sv_io_engine *
sv_io_fault_wrap (struct sv_io_engine *inner)
{
  return inner;
}

#endif
