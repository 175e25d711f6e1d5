/* sealvol: the I/O engine by name, wrapped for fault injection in test
 * builds.  Its own file so that no engine depends on another. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "io.h"

struct sv_io_engine *
sv_io_new (const char *name)
{
  if (strcmp (name, "sync") == 0)
    return sv_io_fault_wrap (sv_io_sync_new ());
  if (strcmp (name, "uring") == 0)
    return sv_io_fault_wrap (sv_io_uring_new ());
  errno = ENOTSUP;
  return NULL;
}
