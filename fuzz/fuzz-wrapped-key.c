/* Fuzz target: unwrapping a volume key (crypto/wrap.c).
 *
 * Why: the 104 wrapped-key bytes and their context (tenant and volume id,
 * cipher, key versions) come from the superblock before anything on it
 * has been authenticated; sv_unwrap_key is the step that authenticates
 * them.  It must fail cleanly (EILSEQ) on anything altered and never touch
 * memory outside its arguments.
 *
 * Input: wrapped[104] || tenant_id[16] || volume_id[16] || cipher le32 ||
 * volume_key_version le32 || tenant_key_version le32 || tenant_key[32],
 * then an optional byte whose low bit asks for a 16-byte tenant key (the
 * EINVAL path).  The seed is a real volume's, so unwrapping succeeds on it
 * and the fuzzer starts next to the success path.
 *
 * Properties: a wrong-length tenant key gives EINVAL; a success gives a
 * 64-byte key that re-wraps and unwraps to itself, and flipping any one
 * bit of the wrapped bytes or of the context makes the unwrap fail.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endian-util.h"
#include "fuzz-common.h"
#include "wrap.h"

#define CONTEXT_LEN (2 * SV_ID_LEN + 12)
#define INPUT_LEN (SV_WRAPPED_KEY_LEN + CONTEXT_LEN + SV_TENANT_KEY_LEN)

FUZZ_DEFAULT_INITIALIZE

static void
read_context (const uint8_t *p, struct sv_wrap_context *wc)
{
  memcpy (wc->tenant_id, p, SV_ID_LEN);
  memcpy (wc->volume_id, p + SV_ID_LEN, SV_ID_LEN);
  wc->cipher = get_le32 (p + 2 * SV_ID_LEN);
  wc->volume_key_version = get_le32 (p + 2 * SV_ID_LEN + 4);
  wc->tenant_key_version = get_le32 (p + 2 * SV_ID_LEN + 8);
}

/* The key unwrapped from in under tk and wc must be rejected once any one
 * bit (chosen by the key's first bytes) of the wrapped bytes or the
 * context is flipped. */
static void
check_tamper (const uint8_t *in, const struct sv_key *tk,
              const struct sv_wrap_context *wc, const struct sv_key *key)
{
  uint8_t bad[SV_WRAPPED_KEY_LEN];
  struct sv_wrap_context badwc = *wc;
  unsigned bit = get_le32 (sv_key_bytes (key)) % (8 * SV_WRAPPED_KEY_LEN);
  struct sv_key *k;

  memcpy (bad, in, sizeof bad);
  bad[bit / 8] ^= (uint8_t) (1u << (bit % 8));
  k = sv_unwrap_key (bad, tk, wc);
  FUZZ_CHECK (k == NULL && errno == EILSEQ);

  bit %= 8 * (uint32_t) sizeof badwc.tenant_id;
  badwc.tenant_id[bit / 8] ^= (uint8_t) (1u << (bit % 8));
  k = sv_unwrap_key (in, tk, &badwc);
  FUZZ_CHECK (k == NULL && errno == EILSEQ);
  badwc = *wc;
  badwc.volume_key_version++;
  k = sv_unwrap_key (in, tk, &badwc);
  FUZZ_CHECK (k == NULL && errno == EILSEQ);
}

static void
check_rewrap (const struct sv_key *tk, const struct sv_wrap_context *wc,
              const struct sv_key *key)
{
  uint8_t out[SV_WRAPPED_KEY_LEN];
  CLEANUP_KEY struct sv_key *again = NULL;

  FUZZ_CHECK (sv_wrap_key (out, tk, wc, key) == 0);
  again = sv_unwrap_key (out, tk, wc);
  FUZZ_CHECK (again != NULL && sv_key_equal (again, key));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct sv_wrap_context wc;
  bool short_key;
  CLEANUP_KEY struct sv_key *tk = NULL;
  CLEANUP_KEY struct sv_key *key = NULL;

  if (size < INPUT_LEN)
    return 0;
  short_key = size > INPUT_LEN && (data[INPUT_LEN] & 1);
  read_context (data + SV_WRAPPED_KEY_LEN, &wc);
  tk = sv_key_from_bytes (data + SV_WRAPPED_KEY_LEN + CONTEXT_LEN,
                          short_key ? 16 : SV_TENANT_KEY_LEN);
  if (tk == NULL)
    abort ();

  key = sv_unwrap_key (data, tk, &wc);
  if (short_key) {
    FUZZ_CHECK (key == NULL && errno == EINVAL);
    return 0;
  }
  if (key == NULL) {
    FUZZ_CHECK (errno == EILSEQ);
    return 0;
  }
  FUZZ_CHECK (sv_key_len (key) == SV_VOLUME_KEY_LEN);
  check_tamper (data, tk, &wc, key);
  check_rewrap (tk, &wc, key);
  return 0;
}
