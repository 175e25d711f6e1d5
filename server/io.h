/* sealvol: the I/O engine interface.
 *
 * The volume store never calls pread/pwrite itself: it describes the I/O
 * of one request as a batch and hands it to an engine.  A batch marked
 * ordered must become visible in order (metadata before data, the
 * crash-consistency rule); an unordered batch may run in any order or in
 * parallel.  The sync engine runs the batch with pread/pwrite; the
 * io_uring engine (issue 3) submits it in one go.
 */
#ifndef SEALVOL_IO_H
#define SEALVOL_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sv_io_op {
  SV_IO_READ, SV_IO_WRITE, SV_IO_FDATASYNC,
  SV_IO_PUNCH,                  /* deallocate [off, off+len), keep size */
  SV_IO_ZERO_RANGE,             /* zero [off, off+len), keep allocation */
};

struct sv_io_req {
  enum sv_io_op op;
  int fd;
  void *buf;
  size_t len;
  uint64_t off;
};

struct sv_io_engine {
  const char *name;
  /* Run every request; 0, or -1 with errno of the first that failed.
   * An ordered batch stops at the first failure. */
  int (*submit) (struct sv_io_engine *io, struct sv_io_req *reqs, size_t n,
                 bool ordered);
  void (*free) (struct sv_io_engine *io);
};

struct sv_io_engine *sv_io_sync_new (void);

/* Engine by name ("sync"; "uring" once built).  NULL if unknown. */
struct sv_io_engine *sv_io_new (const char *name);

#endif
