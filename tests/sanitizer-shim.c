/* Test-harness shim for sanitizer runs only: p11-kit's library destructor
 * frees a locale at exit, which deadlocks on glibc's locale lock when
 * AddressSanitizer is preloaded into nbdkit.  Leaking it at exit is
 * harmless. */
#include <locale.h>
void freelocale (locale_t l) { (void) l; }
