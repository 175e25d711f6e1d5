/* sealvol fuzzing: what every target shares.
 *
 * FUZZ_CHECK is the property check: a violated property is a bug just like
 * a crash, so it aborts and libFuzzer saves the input.  fuzz_init starts
 * libsodium (sv_key_new needs it) and silences sv_error, whose messages
 * would otherwise flood the fuzzer's output.  The memfile is a memfd
 * behind a /proc/self/fd path, for the parsers that take a path
 * (libinih's ini_parse opens the file itself).
 */
#ifndef SEALVOL_FUZZ_COMMON_H
#define SEALVOL_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "report.h"
#include "secmem.h"

#define FUZZ_CHECK(cond)                                                \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "%s:%d: property violated: %s\n",                \
               __FILE__, __LINE__, #cond);                              \
      abort ();                                                         \
    }                                                                   \
  } while (0)

static void
fuzz_quiet (const char *msg)
{
  (void) msg;
}

static inline void
fuzz_init (void)
{
  if (sv_crypto_init () == -1)
    abort ();
  sv_set_error_handler (fuzz_quiet);
}

struct fuzz_memfile {
  int fd;
  char path[64];
};

static inline void
fuzz_memfile_open (struct fuzz_memfile *mf)
{
  mf->fd = memfd_create ("sealvol-fuzz", MFD_CLOEXEC);
  if (mf->fd == -1) {
    perror ("memfd_create");
    abort ();
  }
  snprintf (mf->path, sizeof mf->path, "/proc/self/fd/%d", mf->fd);
}

/* Make the file's contents exactly data[0..size). */
static inline void
fuzz_memfile_set (struct fuzz_memfile *mf, const uint8_t *data, size_t size)
{
  if (ftruncate (mf->fd, 0) == -1
      || (size && pwrite (mf->fd, data, size, 0) != (ssize_t) size)) {
    perror ("memfd write");
    abort ();
  }
}

/* data as a NUL-terminated string, malloc'd to the exact size so that
 * an over-read shows; free it. */
static inline char *
fuzz_cstring (const uint8_t *data, size_t size)
{
  char *s = malloc (size + 1);

  if (s == NULL)
    abort ();
  memcpy (s, data, size);
  s[size] = '\0';
  return s;
}

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* The initialisation most targets need: libsodium up, sv_error silenced. */
#define FUZZ_DEFAULT_INITIALIZE                                         \
  int                                                                   \
  LLVMFuzzerInitialize (int *argc, char ***argv)                        \
  {                                                                     \
    (void) argc; (void) argv;                                           \
    fuzz_init ();                                                       \
    return 0;                                                           \
  }

#endif
