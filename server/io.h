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

/* The io_uring engine; NULL (errno set) where the kernel or a seccomp
 * policy refuses io_uring.  sv_io_uring_available probes without making
 * an engine. */
struct sv_io_engine *sv_io_uring_new (void);
bool sv_io_uring_available (void);

/* Engine by name: "sync" or "uring".  NULL (errno set) if unknown or
 * refused. */
struct sv_io_engine *sv_io_new (const char *name);

/* Test builds: wrap an engine so SEALVOL_FAULT_FILE can inject errors
 * (io-fault.c); otherwise returns inner unchanged. */
struct sv_io_engine *sv_io_fault_wrap (struct sv_io_engine *inner);

/* Run one request with plain system calls (short transfers retried). */
int sv_io_run_sync (const struct sv_io_req *r);

#endif
