/* sealvol tests: a tiny assertion helper for the C unit tests.
 * Each CHECK prints "ok N"/"not ok N" with the expression.  main returns
 * tap_result(), which prints the TAP plan "1..N" last (a trailing plan:
 * a test that dies early prints none, and a TAP reader reports it
 * incomplete) and returns nonzero if any check failed, so automake counts
 * a failed check as a failed test. */
#ifndef SEALVOL_TAP_H
#define SEALVOL_TAP_H

#include <stdio.h>

static int tap_failures, tap_count;

#define CHECK(expr) do {                                                \
    tap_count++;                                                        \
    if (expr)                                                           \
      printf ("ok %d - %s\n", tap_count, #expr);                        \
    else {                                                              \
      printf ("not ok %d - %s (%s:%d)\n", tap_count, #expr,             \
              __FILE__, __LINE__);                                      \
      tap_failures++;                                                   \
    }                                                                   \
  } while (0)

static inline int
tap_result (void)
{
  printf ("# %d checks, %d failed\n", tap_count, tap_failures);
  printf ("1..%d\n", tap_count);
  return tap_failures ? 1 : 0;
}

#endif
