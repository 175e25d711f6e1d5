/* Fuzz target: the superblock decoder (server/format.c).
 *
 * Why: the superblock is the first thing read from a volume directory,
 * before any key is known, so sv_superblock_decode sees whatever bytes are
 * on disk (a torn write, a corrupted or hostile file).  It must refuse bad
 * input with a reason and never read or write out of bounds.
 *
 * Properties, once decode accepts the input:
 *   - encode(decoded) under a MAC key decodes to the same fields (strings
 *     compared as strings: padding after the NUL is not a field);
 *   - that encoding is canonical: encoding the second decode gives the
 *     same bytes;
 *   - the MAC verifies under its key and not under another.
 * Inputs shorter than a superblock are zero-padded, longer ones cut.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "fuzz-common.h"

static const uint8_t mac_key[32] = { 0x5e, 0xa1 };
static const uint8_t other_key[32] = { 0x5e, 0xa2 };

FUZZ_DEFAULT_INITIALIZE

static bool
same_fields (const struct sv_superblock *a, const struct sv_superblock *b)
{
  return a->version == b->version && a->flags == b->flags
    && a->cipher == b->cipher && a->block_size == b->block_size
    && a->slot_size == b->slot_size && a->size == b->size
    && memcmp (a->tenant_id, b->tenant_id, SV_ID_LEN) == 0
    && memcmp (a->volume_id, b->volume_id, SV_ID_LEN) == 0
    && strcmp (a->name, b->name) == 0
    && strcmp (a->service_type, b->service_type) == 0
    && a->created == b->created && a->seq == b->seq
    && a->session == b->session
    && a->last_unclean_session == b->last_unclean_session
    && a->writes_reserved == b->writes_reserved
    && a->write_limit == b->write_limit
    && a->tenant_key_version == b->tenant_key_version
    && a->volume_key_version == b->volume_key_version
    && memcmp (a->wrapped_key, b->wrapped_key, SV_WRAPPED_KEY_LEN) == 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Heap buffers of the exact length, so ASan sees any over-read. */
  uint8_t *buf = calloc (1, SV_SUPERBLOCK_LEN);
  uint8_t *again = malloc (SV_SUPERBLOCK_LEN);
  uint8_t *third = malloc (SV_SUPERBLOCK_LEN);
  struct sv_superblock sb, back;
  struct sv_wrap_context wc;
  const char *why = NULL;

  if (!buf || !again || !third)
    abort ();
  memcpy (buf, data, size < SV_SUPERBLOCK_LEN ? size : SV_SUPERBLOCK_LEN);

  /* The MAC check runs on any bytes (the caller may order it either way). */
  (void) sv_superblock_mac_ok (buf, mac_key);

  if (sv_superblock_decode (buf, &sb, &why) == -1)
    FUZZ_CHECK (why != NULL);
  else {
    FUZZ_CHECK (sb.size > 0 && sb.size % SV_BLOCK_SIZE == 0
                && sb.size <= SV_MAX_SIZE);
    FUZZ_CHECK (strlen (sb.name) <= SV_NAME_MAX
                && strlen (sb.service_type) <= SV_SERVICE_TYPE_MAX);
    sv_superblock_wrap_context (&sb, &wc);

    sv_superblock_encode (&sb, mac_key, again);
    FUZZ_CHECK (sv_superblock_mac_ok (again, mac_key));
    FUZZ_CHECK (!sv_superblock_mac_ok (again, other_key));
    why = NULL;
    FUZZ_CHECK (sv_superblock_decode (again, &back, &why) == 0);
    FUZZ_CHECK (same_fields (&sb, &back));
    sv_superblock_encode (&back, mac_key, third);
    FUZZ_CHECK (memcmp (again, third, SV_SUPERBLOCK_LEN) == 0);
  }
  free (third);
  free (again);
  free (buf);
  return 0;
}
