/* sealvol: crash points for tests (see fault.h). */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"

#ifdef SEALVOL_TEST_HOOKS
void
sv_fault_point (const char *name)
{
  const char *want = getenv ("SEALVOL_FAULT_POINT");

  if (want && strcmp (want, name) == 0)
    _exit (99);
}
#endif
