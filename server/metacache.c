/* sealvol: a write-through cache of metadata pages. */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "metacache.h"
#include "rangelock.h"

int
sv_metacache_init (struct sv_metacache *mc, uint64_t bytes)
{
  uint64_t n = bytes / sizeof (struct sv_metacache_slot) / SV_STRIPES
    * SV_STRIPES;
  void *p;

  mc->nslots = 0;
  mc->slot = NULL;
  if (n == 0)
    return 0;
  /* An anonymous mapping is zero-filled (all slots empty) and costs
   * memory only for the slots that are used. */
  p = mmap (NULL, n * sizeof *mc->slot, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return -1;
  mc->slot = p;
  mc->nslots = n;
  return 0;
}

void
sv_metacache_free (struct sv_metacache *mc)
{
  if (mc->slot)
    munmap (mc->slot, mc->nslots * sizeof *mc->slot);
  mc->slot = NULL;
  mc->nslots = 0;
}

const uint8_t *
sv_metacache_get (const struct sv_metacache *mc, uint64_t page)
{
  const struct sv_metacache_slot *s;

  if (mc->nslots == 0)
    return NULL;
  s = &mc->slot[page % mc->nslots];
  return s->tag == page + 1 ? s->data : NULL;
}

void
sv_metacache_put (struct sv_metacache *mc, uint64_t page, const uint8_t *data)
{
  struct sv_metacache_slot *s;

  if (mc->nslots == 0)
    return;
  s = &mc->slot[page % mc->nslots];
  memcpy (s->data, data, SV_META_PAGE);
  s->tag = page + 1;
}

void
sv_metacache_update (struct sv_metacache *mc, uint64_t page, size_t off,
                     const uint8_t *data, size_t len)
{
  struct sv_metacache_slot *s;

  if (mc->nslots == 0)
    return;
  s = &mc->slot[page % mc->nslots];
  if (s->tag == page + 1)
    memcpy (s->data + off, data, len);
}

void
sv_metacache_drop (struct sv_metacache *mc, uint64_t page)
{
  struct sv_metacache_slot *s;

  if (mc->nslots == 0)
    return;
  s = &mc->slot[page % mc->nslots];
  if (s->tag == page + 1)
    s->tag = 0;
}
