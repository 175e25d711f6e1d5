/* Test-harness shim for sanitizer runs only (preloaded after the ASan or
 * TSan runtime into nbdkit, which is not instrumented).  In a process that
 * links p11-kit (nbdkit does, through GnuTLS), a preloaded sanitizer
 * runtime leaves glibc's locale lock (__libc_setlocale_lock) with a
 * reader count that never drains, so every later call that takes it for
 * writing waits forever: p11-kit's destructor freeing its locale at exit,
 * and json-c's tokener, which brackets each parse with duplocale and
 * newlocale (LC_NUMERIC_MASK, "C", ...).  (Reproduced without sealvol: a
 * ten-line program linked with -lp11-kit that calls json_tokener_parse
 * hangs under LD_PRELOAD=libasan.so or libtsan.so, and runs without it.)
 *
 * glibc hands out its static C locale for newlocale (LC_ALL_MASK, "C",
 * NULL) without the lock, so the C and POSIX locales are answered with
 * that object, duplicates of it are itself, and freeing is a no-op; any
 * other locale goes to glibc.  json-c then parses in the C locale, which
 * is what it asks for. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <locale.h>
#include <string.h>

static locale_t
c_locale (void)
{
  static locale_t (*real_newlocale) (int, const char *, locale_t);

  if (real_newlocale == NULL)
    real_newlocale = dlsym (RTLD_NEXT, "newlocale");
  return real_newlocale (LC_ALL_MASK, "C", (locale_t) 0);
}

locale_t
newlocale (int mask, const char *name, locale_t base)
{
  static locale_t (*real_newlocale) (int, const char *, locale_t);

  if (name && (strcmp (name, "C") == 0 || strcmp (name, "POSIX") == 0))
    return c_locale ();
  if (real_newlocale == NULL)
    real_newlocale = dlsym (RTLD_NEXT, "newlocale");
  return real_newlocale (mask, name, base);
}

locale_t
duplocale (locale_t l)
{
  (void) l;
  return c_locale ();
}

void
freelocale (locale_t l)
{
  (void) l;
}
