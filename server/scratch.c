/* sealvol: per-thread scratch buffers for the data path. */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "scratch.h"

struct scratch_set {
  void *buf[SV_SCRATCH_KINDS];
  size_t cap[SV_SCRATCH_KINDS];
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_free (void *p)
{
  struct scratch_set *s = p;

  for (int i = 0; i < SV_SCRATCH_KINDS; i++)
    free (s->buf[i]);
  free (s);
}

static void
make_key (void)
{
  pthread_key_create (&scratch_key, scratch_free);
}

void *
sv_scratch (enum sv_scratch_kind kind, size_t len)
{
  struct scratch_set *s;
  void *p;

  pthread_once (&scratch_once, make_key);
  s = pthread_getspecific (scratch_key);
  if (s == NULL) {
    if ((s = calloc (1, sizeof *s)) == NULL)
      return NULL;
    if (pthread_setspecific (scratch_key, s) != 0) {
      free (s);
      errno = ENOMEM;
      return NULL;
    }
  }
  if (s->cap[kind] >= len)
    return s->buf[kind];
  /* Page-aligned so an O_DIRECT engine can use the same buffers. */
  if (posix_memalign (&p, 4096, len) != 0) {
    errno = ENOMEM;
    return NULL;
  }
  free (s->buf[kind]);
  s->buf[kind] = p;
  s->cap[kind] = len;
  return p;
}
