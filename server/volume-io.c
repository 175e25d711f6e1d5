/* sealvol: the volume data path: read, write, zero, flush, extents,
 * verify.  See volume.h for the locking and crash rules. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "audit.h"
#include "endian-util.h"
#include "report.h"
#include "scratch.h"
#include "volume-impl.h"

#define BS SV_BLOCK_SIZE

/* A request's block range and how it relates to the byte range. */
struct span {
  uint64_t first, last, n;      /* blocks */
  uint32_t head;                /* offset into the first block */
  bool aligned;
  uint64_t meta_base;           /* file offset of the metadata buffer */
};

static struct span
span_of (uint32_t count, uint64_t offset)
{
  struct span s;

  s.first = offset / BS;
  s.last = (offset + count - 1) / BS;
  s.n = s.last - s.first + 1;
  s.head = (uint32_t) (offset % BS);
  s.aligned = s.head == 0 && count % BS == 0;
  s.meta_base = sv_meta_offset (s.first);
  return s;
}

static int
check_range (const struct sv_volume *vol, uint32_t count, uint64_t offset)
{
  uint64_t size = sv_volume_size (vol);

  if (count == 0 || offset > size || count > size - offset) {
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int read_via_engine (struct sv_volume *vol, enum sv_store_obj obj,
                            void *buf, size_t len, uint64_t off);

/* Metadata of blocks [first, last] is one contiguous byte range, page
 * padding included. */
static uint64_t
meta_span_off (const struct span *s)
{
  return sv_meta_offset (s->first);
}

static size_t
meta_span_len (const struct span *s)
{
  return (size_t) (sv_meta_offset (s->last) + SV_PAIR_LEN
                   - sv_meta_offset (s->first));
}

/* The pair of `block` in a metadata buffer whose byte 0 is file offset
 * s->meta_base. */
static uint8_t *
pair_ptr (uint8_t *meta, const struct span *s, uint64_t block)
{
  return meta + (sv_meta_offset (block) - s->meta_base);
}

/* Metadata pages of the span: [first_page, last_page]. */
static uint64_t first_page (const struct span *s) { return s->first / SV_PAIRS_PER_PAGE; }
static uint64_t last_page (const struct span *s) { return s->last / SV_PAIRS_PER_PAGE; }

/* File offsets [*a, *b): the part of metadata page p that holds span s's
 * pairs. */
static void
pairs_in_page (const struct span *s, uint64_t p, uint64_t *a, uint64_t *b)
{
  uint64_t lo = meta_span_off (s), hi = lo + meta_span_len (s);

  *a = p * SV_META_PAGE > lo ? p * SV_META_PAGE : lo;
  *b = (p + 1) * SV_META_PAGE < hi ? (p + 1) * SV_META_PAGE : hi;
}

/* The span's pairs straight out of the page cache, through the mapping
 * of the meta file (metamap.h), with s->meta_base the span's first pair.
 * False if the pages are not mapped or the load faulted: then pread. */
static bool
meta_from_map (struct sv_volume *vol, struct span *s, uint8_t *meta)
{
  if (!sv_metamap_covers (&vol->metamap, last_page (s)))
    return false;
  if (sv_metamap_load (&vol->metamap, meta_span_off (s), meta,
                       meta_span_len (s)) == -1) {
    if (!atomic_exchange (&vol->map_load_faulted, true))
      sv_error ("warning: volume %s/%s: a load through the metadata mapping "
                "faulted at block %" PRIu64 "; reading the metadata instead",
                vol->tenant, vol->name, s->first);
    return false;
  }
  s->meta_base = meta_span_off (s);
  return true;
}

/* Reads: copy the span's pairs out of the cache (used where the meta file
 * is not mapped).  False on any miss (nothing is filled: readers share
 * their stripes, see metacache.h). */
static bool
meta_from_cache (struct sv_volume *vol, const struct span *s, uint8_t *meta)
{
  uint64_t lo = meta_span_off (s), a, b;

  if (vol->metacache.nslots == 0)
    return false;               /* a lookup would only fault pages in */
  for (uint64_t p = first_page (s); p <= last_page (s); p++)
    if (sv_metacache_get (&vol->metacache, p) == NULL)
      return false;
  for (uint64_t p = first_page (s); p <= last_page (s); p++) {
    pairs_in_page (s, p, &a, &b);
    memcpy (meta + (a - lo), sv_metacache_get (&vol->metacache, p)
            + (a % SV_META_PAGE), b - a);
  }
  return true;
}

/* Writes: the span's pairs from the mapping, or else its whole metadata
 * pages into meta (s->meta_base becomes the first page's offset) from the
 * cache or from disk, filling the cache: the caller holds these pages'
 * stripes exclusively. */
static int
load_meta_pages (struct sv_volume *vol, struct span *s, uint8_t *meta)
{
  uint64_t p0 = first_page (s), np = last_page (s) - p0 + 1;
  bool all_cached = true;

  if (meta_from_map (vol, s, meta))
    return 0;
  s->meta_base = p0 * SV_META_PAGE;
  for (uint64_t i = 0; i < np && all_cached; i++) {
    const uint8_t *page = sv_metacache_get (&vol->metacache, p0 + i);
    if (page)
      memcpy (meta + i * SV_META_PAGE, page, SV_META_PAGE);
    else
      all_cached = false;
  }
  if (all_cached)
    return 0;
  if (read_via_engine (vol, SV_STORE_META, meta, np * SV_META_PAGE,
                       s->meta_base) == -1)
    return -1;
  for (uint64_t i = 0; i < np; i++)
    sv_metacache_put (&vol->metacache, p0 + i, meta + i * SV_META_PAGE);
  return 0;
}

/* After a metadata write: the cache holds what is on disk, or nothing.
 * load_meta_pages cached these pages and the stripes stayed ours, so only
 * the span's pairs changed (copying them, not whole pages, measured 2 % of
 * a 4 KiB random write's profile). */
static void
cache_after_write (struct sv_volume *vol, const struct span *s,
                   const uint8_t *meta, bool written)
{
  uint64_t a, b;

  for (uint64_t p = first_page (s); p <= last_page (s); p++) {
    if (written) {
      pairs_in_page (s, p, &a, &b);
      sv_metacache_update (&vol->metacache, p, a % SV_META_PAGE,
                           meta + (a - s->meta_base), b - a);
    }
    else
      sv_metacache_drop (&vol->metacache, p);
  }
}

static void
decode_pair (const uint8_t *p, struct sv_slot pair[2])
{
  sv_slot_decode (p, &pair[0]);
  sv_slot_decode (p + SV_SLOT_LEN, &pair[1]);
}

/* One log line per failed block, at most 10 a second per volume. */
static void
report_auth_failure (struct sv_volume *vol, uint64_t block)
{
  uint64_t now = (uint64_t) time (NULL);

  atomic_fetch_add (&vol->auth_failures, 1);
  if (atomic_exchange (&vol->log_window, now) != now)
    atomic_store (&vol->log_count, 0);
  if (atomic_fetch_add (&vol->log_count, 1) < 10) {
    json_object *e = sv_audit_event ("integrity-failure", vol->tenant);
    sv_error ("integrity failure: tenant %s volume %s block %" PRIu64
              ": authentication failed, returning EIO",
              vol->tenant, vol->name, block);
    json_object_object_add (e, "volume", json_object_new_string (vol->name));
    json_object_object_add (e, "block", json_object_new_uint64 (block));
    sv_audit_write (vol->tenant_dir, e);
  }
}

/* Ciphertext is not secret, so the fast (vectorised memcmp) test will
 * do: all zero iff the first byte is zero and every byte equals the next. */
static bool
all_zero (const uint8_t *p, size_t len)
{
  return p[0] == 0 && memcmp (p, p + 1, len - 1) == 0;
}

/* Might this slot describe data that never reached the disk (a crash
 * between the slot's write and its data's)?  Slots of a session that
 * crashed, and after a failed write any slot.  The last_unclean of a
 * read-only open counts a session left open as crashed. */
static bool
slot_maybe_phantom (const struct sv_volume *vol, const struct sv_slot *s)
{
  return s->session <= vol->last_unclean || atomic_load (&vol->suspect_all);
}

/* May this slot be trusted to describe the data on disk? */
static bool
slot_trusted (const struct sv_volume *vol, const struct sv_slot *s)
{
  return !slot_maybe_phantom (vol, s);
}

/* Try to open block `block` under slot s.  0, or -1 with EILSEQ. */
static int
open_with_slot (struct sv_volume *vol, uint64_t block,
                const struct sv_slot *s, const uint8_t *ct, uint8_t *out)
{
  uint8_t ad[SV_BLOCK_AD_LEN];

  sv_block_ad (ad, &vol->sb, block, s);
  return sv_block_open (vol->bc, s->nonce, ad, sizeof ad, ct, out, BS, s->tag);
}

/* Decrypt one AEAD block, newest slot first.  *which gets the slot that
 * authenticated (-1: empty block, reads as zeros).  A block nobody can
 * authenticate returns -1 with errno = EILSEQ and out wiped.  ct may be
 * out (decryption in place): a failed attempt wipes out, so the
 * ciphertext is then read again for the next one (only a block whose
 * newest slot fails, after a crash or on damage, pays for that). */
static int
decrypt_aead_block (struct sv_volume *vol, uint64_t block, const uint8_t *ct,
                    uint8_t *out, const uint8_t *pairbuf, int *which)
{
  struct sv_slot pair[2];
  int newest;

  decode_pair (pairbuf, pair);
  newest = sv_pair_newest (pair);
  *which = newest;
  if (newest == -1) {
    memset (out, 0, BS);
    return 0;
  }
  if (open_with_slot (vol, block, &pair[newest], ct, out) == 0)
    return 0;
  if (ct == out
      && read_via_engine (vol, SV_STORE_DATA, out, BS, block * BS) == -1)
    goto fail;                  /* it did fail to authenticate */
  *which = 1 - newest;
  if (!sv_slot_empty (&pair[1 - newest])
      && open_with_slot (vol, block, &pair[1 - newest], ct, out) == 0)
    return 0;
  /* The first write of a never-written (or trimmed) block, cut short by a
   * crash after its slot and before its data: the block still holds its
   * old content, zeros.  Only for a slot that may be such a phantom, so a
   * block written in a clean session still fails when its data is
   * zeroed (docs/threat-model.md). */
  if (sv_slot_empty (&pair[1 - newest]) && slot_maybe_phantom (vol, &pair[newest])
      && all_zero (ct, BS)) {
    *which = -1;
    memset (out, 0, BS);
    return 0;
  }
 fail:
  if (ct == out)
    sv_wipe (out, BS);          /* the ciphertext, or part of it */
  *which = -2;
  errno = EILSEQ;
  return -1;
}

/* XTS has no metadata: a block that is all zeros on disk was never
 * written (or was trimmed) and reads as zeros. */
static int
decrypt_xts_block (struct sv_volume *vol, uint64_t block, const uint8_t *ct,
                   uint8_t *out)
{
  if (all_zero (ct, BS)) {
    memset (out, 0, BS);
    return 0;
  }
  return sv_block_xts (vol->bc, block, ct, out, BS, false);
}

static int
decrypt_block (struct sv_volume *vol, uint64_t block, const uint8_t *ct,
               uint8_t *out, const uint8_t *pairbuf, int *which)
{
  if (!vol->aead)
    return decrypt_xts_block (vol, block, ct, out);
  if (decrypt_aead_block (vol, block, ct, out, pairbuf, which) == 0)
    return 0;
  report_auth_failure (vol, block);
  return -1;
}

/* Read the ciphertext of a span into ct, and its metadata into a scratch
 * buffer. */
static int
read_span (struct sv_volume *vol, struct span *s, uint8_t *ct, uint8_t **meta)
{
  struct sv_store_req req[2];
  size_t n = 0;

  *meta = vol->aead ? sv_scratch (SV_SCRATCH_META, meta_span_len (s)) : NULL;
  if (ct == NULL || (vol->aead && *meta == NULL))
    return -1;
  req[n++] = (struct sv_store_req) { SV_IO_READ, SV_STORE_DATA, ct,
                                     s->n * BS, s->first * BS };
  if (vol->aead && !meta_from_map (vol, s, *meta)
      && !meta_from_cache (vol, s, *meta))
    req[n++] = (struct sv_store_req) { SV_IO_READ, SV_STORE_META, *meta,
                                       meta_span_len (s), meta_span_off (s) };
  return vol->store->ops->submit (vol->store, req, n, false);
}

static int
read_via_engine (struct sv_volume *vol, enum sv_store_obj obj, void *buf,
                 size_t len, uint64_t off)
{
  struct sv_store_req req = { SV_IO_READ, obj, buf, len, off };

  return vol->store->ops->submit (vol->store, &req, 1, false);
}

/* The ciphertext is read into the buffer it is decrypted in: the
 * caller's when the request is whole blocks, else a scratch buffer (and
 * with O_DIRECT also when the caller's is not page-aligned). */
static uint8_t *
read_buffer (const struct sv_volume *vol, const struct span *s, void *buf)
{
  if (s->aligned && (!(vol->flags & SV_OPEN_DIRECT)
                     || (uintptr_t) buf % SV_BLOCK_SIZE == 0))
    return buf;
  return sv_scratch (SV_SCRATCH_PLAIN, s->n * BS);
}

int
sv_volume_read (struct sv_volume *vol, void *buf, uint32_t count,
                uint64_t offset)
{
  struct sv_range_held held;
  struct span s;
  uint8_t *meta, *plain;
  int r = 0, which;

  if (check_range (vol, count, offset) == -1)
    return -1;
  s = span_of (count, offset);
  if ((plain = read_buffer (vol, &s, buf)) == NULL)
    return -1;
  sv_range_lock (&vol->locks, &held, s.first, s.last, false);
  if (read_span (vol, &s, plain, &meta) == -1) {
    sv_range_unlock (&held);
    return sv_volume_io_error (vol, "read");
  }
  for (uint64_t i = 0; i < s.n; i++) {
    uint64_t b = s.first + i;
    uint8_t *block = plain + i * BS;
    if (decrypt_block (vol, b, block, block,
                       meta ? pair_ptr (meta, &s, b) : NULL, &which) == -1)
      r = -1;                   /* keep going: log every bad block */
  }
  sv_range_unlock (&held);
  if (r == -1) {
    sv_wipe (plain, s.n * BS);  /* nothing unauthenticated leaves here */
    errno = EIO;
    return -1;
  }
  if (plain != buf)
    memcpy (buf, plain + s.head, count);
  return 0;
}

/* ---- writes ---- */


/* Which slot of a pair describes the data on disk now?  -1: none (empty
 * or unauthenticated).  Untrusted slots are checked against the data. */
static int
current_slot (struct sv_volume *vol, uint64_t block, const uint8_t *pairbuf,
              int known)
{
  struct sv_slot pair[2];
  uint8_t *ct, *scratch;        /* page-aligned, for O_DIRECT */
  int newest, which;

  if (known != -3)
    return known;               /* already established by a merge read */
  decode_pair (pairbuf, pair);
  newest = sv_pair_newest (pair);
  if (newest == -1 || slot_trusted (vol, &pair[newest]))
    return newest;
  if ((ct = sv_scratch (SV_SCRATCH_BLOCK, 2 * BS)) == NULL)
    return -2;
  scratch = ct + BS;
  if (read_via_engine (vol, SV_STORE_DATA, ct, BS, block * BS) == -1)
    return -2;
  if (decrypt_aead_block (vol, block, ct, scratch, pairbuf, &which) == -1)
    which = -1;
  sv_wipe (scratch, BS);
  return which;
}

/* Nonce fields for n blocks of this session: a random 16-byte session
 * salt || a 64-bit counter, the salt changed every 2^32 writes.  GCM
 * derives its subkey from the salt; XChaCha20 runs HChaCha20 on it (the
 * first 16 nonce bytes), so for both ciphers one subkey serves a whole
 * session and is cached, and no (subkey, counter) pair ever repeats: a
 * fresh salt per session and a counter within it.  Readers take the
 * field as an opaque nonce. */
static void
fill_nonces (struct sv_volume *vol, uint8_t *nonces, uint64_t n)
{
  uint64_t c;

  c = atomic_fetch_add (&vol->nonce_counter, n);
  for (uint64_t i = 0; i < n; i++, c++) {
    uint8_t *nonce = nonces + i * SV_NONCE_LEN;
    memcpy (nonce, vol->session_salt, SV_GCM_SALT_LEN);
    put_le32 (nonce + 12, get_le32 (nonce + 12) ^ (uint32_t) (c >> 32));
    put_le64 (nonce + SV_GCM_SALT_LEN, c);
  }
}

/* Seal one block into ct and record it in the slot after `current`. */
static int
seal_aead_block (struct sv_volume *vol, uint64_t block, const uint8_t *plain,
                 uint8_t *ct, uint8_t *pairbuf, int current,
                 const uint8_t nonce[SV_NONCE_LEN])
{
  struct sv_slot pair[2], *slot;
  uint8_t ad[SV_BLOCK_AD_LEN];
  int target;

  decode_pair (pairbuf, pair);
  if (current < 0)              /* empty or damaged: overwrite the older */
    current = sv_pair_newest (pair);
  target = current < 0 ? 0 : 1 - current;
  slot = &pair[target];
  slot->gen = current < 0 ? 1 : pair[current].gen + 1;
  slot->session = vol->session;
  memcpy (slot->nonce, nonce, SV_NONCE_LEN);
  sv_block_ad (ad, &vol->sb, block, slot);
  if (sv_block_seal (vol->bc, slot->nonce, ad, sizeof ad, plain, ct, BS,
                     slot->tag) == -1)
    return -1;
  sv_slot_encode (slot, pairbuf + target * SV_SLOT_LEN);
  return 0;
}

/* Is the first (e = 0) or last (e = 1) block of the span only partly
 * covered by the request?  A one-block span has only a first edge. */
static bool
edge_partial (const struct span *s, uint32_t count, int e)
{
  uint32_t tail = (uint32_t) ((s->head + (uint64_t) count) % BS);

  if (s->n == 1)
    return e == 0 && (s->head != 0 || tail != 0);
  return e == 0 ? s->head != 0 : tail != 0;
}

/* Build the plaintext of the span: the caller's bytes, with the edges of
 * partial blocks filled from the blocks on disk (read, authenticate,
 * merge).  known[] gets the slot that authenticated each edge block. */
static const uint8_t *
merge_partial (struct sv_volume *vol, const struct span *s, const void *buf,
               uint32_t count, const uint8_t *meta, int known[2])
{
  uint8_t *plain = sv_scratch (SV_SCRATCH_PLAIN, s->n * BS);
  uint64_t edges[2] = { s->first, s->last };

  if (plain == NULL)
    return NULL;
  for (int e = 0; e < 2; e++) {
    uint64_t b = edges[e];
    uint8_t *ct;                /* page-aligned, for O_DIRECT */
    if (!edge_partial (s, count, e))
      continue;
    if ((ct = sv_scratch (SV_SCRATCH_BLOCK, BS)) == NULL
        || read_via_engine (vol, SV_STORE_DATA, ct, BS, b * BS) == -1
        || decrypt_block (vol, b, ct, plain + (b - s->first) * BS,
                          meta ? pair_ptr ((uint8_t *) meta, s, b) : NULL,
                          &known[e]) == -1)
      return NULL;
  }
  memcpy (plain + s->head, buf, count);
  return plain;
}

static int
seal_span (struct sv_volume *vol, const struct span *s, const uint8_t *plain,
           uint8_t *ct, uint8_t *meta, const int known[2])
{
  uint8_t *nonces = NULL;

  if (vol->aead) {
    if ((nonces = sv_scratch (SV_SCRATCH_NONCE, s->n * SV_NONCE_LEN)) == NULL)
      return -1;
    fill_nonces (vol, nonces, s->n);
  }
  for (uint64_t i = 0; i < s->n; i++) {
    uint64_t b = s->first + i;
    int cur;
    if (!vol->aead) {
      if (sv_block_xts (vol->bc, b, plain + i * BS, ct + i * BS, BS, true)
          == -1)
        return -1;
      continue;
    }
    cur = current_slot (vol, b, pair_ptr (meta, s, b),
                        i == 0 ? known[0] : i == s->n - 1 ? known[1] : -3);
    if (cur == -2
        || seal_aead_block (vol, b, plain + i * BS, ct + i * BS,
                            pair_ptr (meta, s, b), cur,
                            nonces + i * SV_NONCE_LEN) == -1)
      return -1;
  }
  return 0;
}

/* The span's pairs through the metadata mapping, if its pages may be
 * stored into.  False: write them with pwrite instead, also after a store
 * that faulted (the pages go back to pwrite, which reports the real
 * error, ENOSPC say, or succeeds: a partial store is simply rewritten). */
static bool
store_pairs (struct sv_volume *vol, const struct span *s, const uint8_t *pairs)
{
  if (!sv_metamap_can_store (&vol->metamap, first_page (s), last_page (s)))
    return false;
  if (sv_metamap_store (&vol->metamap, meta_span_off (s), pairs,
                        meta_span_len (s)) == 0)
    return true;
  sv_metamap_forget (&vol->metamap, first_page (s), last_page (s));
  sv_error ("warning: volume %s/%s: a store through the metadata mapping "
            "faulted at block %" PRIu64 "; writing the metadata instead",
            vol->tenant, vol->name, s->first);
  return false;
}

/* Metadata first, then data.  If anything fails part way, some blocks may
 * have a new slot without their new data and others new data with the new
 * slot: both still read correctly (a read tries both slots), but no slot
 * may be trusted without checking it against the data any more, so the
 * rest of this session verifies before every overwrite.  Putting the old
 * metadata back instead would break the blocks whose data did land. */
static int
write_span (struct sv_volume *vol, const struct span *s, uint8_t *ct,
            uint8_t *meta, bool fua)
{
  struct sv_store_req req[4];
  size_t n = 0;
  bool pwrite_pairs = false;

  if (vol->aead) {
    uint8_t *pairs = pair_ptr (meta, s, s->first);
    /* Through the mapping, the pairs are in the page cache before the
     * data write starts, as a pwrite first in the batch would leave them. */
    pwrite_pairs = !store_pairs (vol, s, pairs);
    if (pwrite_pairs)
      req[n++] = (struct sv_store_req) { SV_IO_WRITE, SV_STORE_META, pairs,
                                         meta_span_len (s),
                                         meta_span_off (s) };
  }
  req[n++] = (struct sv_store_req) { SV_IO_WRITE, SV_STORE_DATA, ct,
                                     s->n * BS, s->first * BS };
  if (fua) {
    if (vol->aead)
      req[n++] = (struct sv_store_req) { .op = SV_IO_FDATASYNC,
                                         .obj = SV_STORE_META };
    req[n++] = (struct sv_store_req) { .op = SV_IO_FDATASYNC,
                                       .obj = SV_STORE_DATA };
  }
  if (vol->store->ops->submit (vol->store, req, n, true) == 0) {
    if (pwrite_pairs)           /* stored ones are marked already */
      sv_metamap_mark_written (&vol->metamap, first_page (s), last_page (s));
    if (vol->aead)
      cache_after_write (vol, s, meta, true);
    return 0;
  }
  if (fua)
    atomic_store (&vol->sync_failed, true);
  if (vol->aead) {
    cache_after_write (vol, s, meta, false);
    atomic_store (&vol->suspect_all, true);
  }
  return -1;
}

static int
write_locked (struct sv_volume *vol, struct span *s, const void *buf,
              uint32_t count, bool fua)
{
  uint8_t *ct, *meta = NULL;
  const uint8_t *plain = buf;
  int known[2] = { -3, -3 };

  ct = sv_scratch (SV_SCRATCH_CIPHER, s->n * BS);
  if (ct == NULL)
    return -1;
  if (vol->aead) {
    meta = sv_scratch (SV_SCRATCH_META,
                       (last_page (s) - first_page (s) + 1) * SV_META_PAGE);
    if (meta == NULL || load_meta_pages (vol, s, meta) == -1)
      return sv_volume_io_error (vol, "read metadata");
  }
  if (!s->aligned
      && (plain = merge_partial (vol, s, buf, count, meta, known)) == NULL)
    return sv_volume_io_error (vol, "read for partial write");
  if (sv_volume_reserve_writes (vol, s->n) == -1)
    return -1;
  if (seal_span (vol, s, plain, ct, meta, known) == -1)
    return sv_volume_io_error (vol, "encrypt");
  if (write_span (vol, s, ct, meta, fua) == -1)
    return sv_volume_io_error (vol, "write");
  return 0;
}

int
sv_volume_write (struct sv_volume *vol, const void *buf, uint32_t count,
                 uint64_t offset, bool fua)
{
  struct sv_range_held held;
  struct span s;
  int r;

  if (vol->readonly) {
    errno = EROFS;
    return -1;
  }
  if (check_range (vol, count, offset) == -1)
    return -1;
  s = span_of (count, offset);
  sv_range_lock (&vol->locks, &held, s.first, s.last, true);
  r = write_locked (vol, &s, buf, count, fua);
  sv_range_unlock (&held);
  return r;
}

/* ---- zero and trim ---- */

/* Zero [off, off+len) of fd: deallocate or zero in place, and where the
 * filesystem cannot, write zeros. */
static int
zero_file_range (struct sv_volume *vol, enum sv_store_obj obj, uint64_t off,
                 uint64_t len, bool punch)
{
  static const uint8_t zeros[1 << 16] __attribute__ ((aligned (4096)));
  struct sv_store_req req = { punch ? SV_IO_PUNCH : SV_IO_ZERO_RANGE, obj,
                              NULL, len, off };

  if (len == 0 || vol->store->ops->submit (vol->store, &req, 1, true) == 0)
    return 0;
  if (errno != EOPNOTSUPP)
    return -1;
  while (len > 0) {
    size_t n = len < sizeof zeros ? len : sizeof zeros;
    req = (struct sv_store_req) { SV_IO_WRITE, obj, (void *) zeros, n, off };
    if (vol->store->ops->submit (vol->store, &req, 1, true) == -1)
      return -1;
    off += n;
    len -= n;
  }
  return 0;
}

/* Whole blocks [first, end): empty their metadata slots (they then read
 * as zeros whatever the data holds), and only then drop the data. */
static int
zero_whole_blocks (struct sv_volume *vol, uint64_t first, uint64_t end,
                   bool may_punch)
{
  struct sv_range_held held;
  int r = 0;

  sv_range_lock (&vol->locks, &held, first, end - 1, true);
  if (vol->aead) {
    uint64_t mo = sv_meta_offset (first);
    uint64_t pa = first / SV_PAIRS_PER_PAGE, pz = (end - 1) / SV_PAIRS_PER_PAGE;
    for (uint64_t p = pa; p <= pz; p++)
      sv_metacache_drop (&vol->metacache, p);
    /* Punched pages have no blocks: the next store must be a pwrite. */
    sv_metamap_forget (&vol->metamap, pa, pz);
    uint64_t me = sv_meta_offset (end - 1) + SV_PAIR_LEN;
    uint64_t p0 = (mo + SV_META_PAGE - 1) / SV_META_PAGE * SV_META_PAGE;
    uint64_t p1 = me / SV_META_PAGE * SV_META_PAGE;
    if (p0 >= p1)
      r = zero_file_range (vol, SV_STORE_META, mo, me - mo, false);
    else
      r = zero_file_range (vol, SV_STORE_META, mo, p0 - mo, false) == -1
        || zero_file_range (vol, SV_STORE_META, p0, p1 - p0, true) == -1
        || zero_file_range (vol, SV_STORE_META, p1, me - p1, false) == -1
        ? -1 : 0;
  }
  if (r == 0)
    r = zero_file_range (vol, SV_STORE_DATA, first * BS, (end - first) * BS,
                         may_punch);
  sv_range_unlock (&held);
  return r;
}

/* A piece smaller than a block goes through the ordinary write path. */
static int
zero_partial (struct sv_volume *vol, uint64_t off, uint64_t len)
{
  static const uint8_t zeros[BS];

  if (len == 0)
    return 0;
  return sv_volume_write (vol, zeros, (uint32_t) len, off, false);
}

int
sv_volume_zero (struct sv_volume *vol, uint32_t count, uint64_t offset,
                bool may_punch, bool fua)
{
  uint64_t end = offset + count;
  uint64_t first_full = (offset + BS - 1) / BS, end_full = end / BS;

  if (vol->readonly) {
    errno = EROFS;
    return -1;
  }
  if (check_range (vol, count, offset) == -1)
    return -1;
  if (first_full >= end_full) {
    /* No whole block inside: at most two partial pieces. */
    uint64_t split = first_full * BS < end ? first_full * BS : end;
    if (zero_partial (vol, offset, split - offset) == -1
        || zero_partial (vol, split, end - split) == -1)
      return -1;
  }
  else if (zero_partial (vol, offset, first_full * BS - offset) == -1
           || zero_whole_blocks (vol, first_full, end_full, may_punch) == -1
           || zero_partial (vol, end_full * BS, end - end_full * BS) == -1)
    return sv_volume_io_error (vol, "zero");
  return fua ? sv_volume_flush (vol) : 0;
}

/* ---- extents ---- */

struct run {
  uint64_t start, end;          /* bytes */
  bool zero, open;
  uint64_t lo, hi;              /* the requested range, for clipping */
  sv_extent_fn fn;
  void *opaque;
};

static int
run_flush (struct run *r)
{
  uint64_t a = r->start > r->lo ? r->start : r->lo;
  uint64_t b = r->end < r->hi ? r->end : r->hi;

  r->open = false;
  return a < b ? r->fn (r->opaque, a, b - a, r->zero) : 0;
}

static int
run_add (struct run *r, uint64_t start, uint64_t end, bool zero)
{
  if (r->open && r->zero == zero && r->end == start) {
    r->end = end;
    return 0;
  }
  if (r->open && run_flush (r) == -1)
    return -1;
  *r = (struct run) { start, end, zero, true, r->lo, r->hi, r->fn, r->opaque };
  return 0;
}

/* lseek over the store: SEEK_DATA or SEEK_HOLE. */
static off_t
store_seek (struct sv_volume *vol, enum sv_store_obj obj, off_t off,
            int whence)
{
  uint64_t out;

  if (vol->store->ops->seek (vol->store, obj, (uint64_t) off,
                             whence == SEEK_HOLE, &out) == -1)
    return -1;
  return (off_t) out;
}

/* XTS: holes in the data file are the zero runs. */
static int
extents_xts (struct sv_volume *vol, struct run *run)
{
  uint64_t pos = run->lo / BS * BS;

  while (pos < run->hi) {
    off_t d = store_seek (vol, SV_STORE_DATA, (off_t) pos, SEEK_DATA);
    uint64_t data = d == -1 ? run->hi : (uint64_t) d / BS * BS;
    if (d == -1 && errno != ENXIO)
      return -1;
    if (data > pos) {
      if (run_add (run, pos, data, true) == -1)
        return -1;
      pos = data;
      continue;
    }
    d = store_seek (vol, SV_STORE_DATA, (off_t) pos, SEEK_HOLE);
    if (d == -1)
      return -1;
    if (run_add (run, pos, ((uint64_t) d + BS - 1) / BS * BS, false) == -1)
      return -1;
    pos = ((uint64_t) d + BS - 1) / BS * BS;
  }
  return 0;
}

/* AEAD: a block with two empty slots reads as zeros.  Pages missing from
 * the sparse metadata file are skipped without reading them. */
#define EXTENT_PAGES_PER_CALL 256       /* 42 MiB of volume per call */

/* Classify the blocks of metadata pages [p, p + np) that lie in the run's
 * range, reading the pages in one go. */
static int
extents_of_pages (struct sv_volume *vol, struct run *run, uint64_t p,
                  uint64_t np, uint64_t *b)
{
  uint8_t *pages = sv_scratch (SV_SCRATCH_META, np * SV_META_PAGE);
  uint64_t last = (run->hi - 1) / BS, end = (p + np) * SV_PAIRS_PER_PAGE;

  if (pages == NULL
      || read_via_engine (vol, SV_STORE_META, pages, np * SV_META_PAGE,
                          p * SV_META_PAGE) == -1)
    return -1;
  for (; *b < end && *b <= last && *b < vol->nblocks; (*b)++) {
    struct sv_slot pair[2];
    decode_pair (pages + sv_meta_offset (*b) - p * SV_META_PAGE, pair);
    if (run_add (run, *b * BS, (*b + 1) * BS, sv_pair_newest (pair) == -1)
        == -1)
      return -1;
  }
  return 0;
}

/* AEAD: a block with two empty slots reads as zeros.  Holes in the sparse
 * metadata file are whole pages of such blocks, found with SEEK_DATA and
 * SEEK_HOLE (two calls per region, not per page) and never read. */
static int
extents_aead (struct sv_volume *vol, struct run *run)
{
  uint64_t b = run->lo / BS, last = (run->hi - 1) / BS, budget;

  for (budget = EXTENT_PAGES_PER_CALL; b <= last && budget > 0;) {
    uint64_t p = b / SV_PAIRS_PER_PAGE, data_page, hole_page, np;
    off_t d = store_seek (vol, SV_STORE_META, (off_t) (p * SV_META_PAGE), SEEK_DATA);
    if (d == -1 && errno != ENXIO)
      return -1;
    data_page = d == -1 ? UINT64_MAX : (uint64_t) d / SV_META_PAGE;
    if (data_page > p) {                /* a hole: all zero, nothing read */
      uint64_t next = data_page == UINT64_MAX ? vol->nblocks
        : data_page * SV_PAIRS_PER_PAGE;
      if (run_add (run, b * BS, next * BS, true) == -1)
        return -1;
      b = next;
      continue;
    }
    d = store_seek (vol, SV_STORE_META, (off_t) (p * SV_META_PAGE), SEEK_HOLE);
    if (d == -1)
      return -1;
    hole_page = ((uint64_t) d + SV_META_PAGE - 1) / SV_META_PAGE;
    np = hole_page - p;
    if (np > budget)
      np = budget;
    if (np > last / SV_PAIRS_PER_PAGE - p + 1)
      np = last / SV_PAIRS_PER_PAGE - p + 1;
    if (extents_of_pages (vol, run, p, np, &b) == -1)
      return -1;
    budget -= np;
  }
  return 0;
}

int
sv_volume_extents (struct sv_volume *vol, uint32_t count, uint64_t offset,
                   sv_extent_fn fn, void *opaque)
{
  struct run run = { .lo = offset, .hi = offset + count, .fn = fn,
                     .opaque = opaque };
  int r;

  if (check_range (vol, count, offset) == -1)
    return -1;
  r = vol->aead ? extents_aead (vol, &run) : extents_xts (vol, &run);
  if (r == -1)
    return sv_volume_io_error (vol, "extents");
  return run.open ? run_flush (&run) : 0;
}

/* ---- verify ---- */

#define VERIFY_CHUNK 256        /* blocks per read */

static int64_t
verify_chunk (struct sv_volume *vol, uint64_t first, uint64_t n,
              sv_bad_block_fn fn, void *opaque)
{
  struct sv_range_held held;
  struct span s = { first, first + n - 1, n, 0, true, sv_meta_offset (first) };
  uint8_t *ct, *meta, out[BS];
  int64_t bad = 0;
  int which;

  sv_range_lock (&vol->locks, &held, s.first, s.last, false);
  ct = sv_scratch (SV_SCRATCH_CIPHER, n * BS);
  if (read_span (vol, &s, ct, &meta) == -1) {
    sv_range_unlock (&held);
    return sv_volume_io_error (vol, "verify");
  }
  for (uint64_t i = 0; i < n; i++)
    if (decrypt_aead_block (vol, first + i, ct + i * BS, out,
                            pair_ptr (meta, &s, first + i), &which) == -1) {
      fn (opaque, first + i);
      bad++;
    }
  sv_range_unlock (&held);
  sv_wipe (out, sizeof out);
  return bad;
}

int64_t
sv_volume_verify (struct sv_volume *vol, sv_bad_block_fn fn, void *opaque)
{
  int64_t bad = 0;
  uint64_t b = 0;

  if (!vol->aead)
    return 0;                   /* XTS carries no integrity metadata */
  while (b < vol->nblocks) {
    /* Skip metadata pages that were never written: all-empty blocks. */
    off_t d = store_seek (vol, SV_STORE_META, (off_t) sv_meta_offset (b), SEEK_DATA);
    uint64_t n, r;
    int64_t chunk;
    if (d == -1 && errno == ENXIO)
      break;
    if (d == -1)
      return sv_volume_io_error (vol, "verify");
    if ((uint64_t) d > sv_meta_offset (b)) {
      uint64_t next = (uint64_t) d / SV_META_PAGE * SV_PAIRS_PER_PAGE;
      b = next > b ? next : b + 1;
      continue;
    }
    r = vol->nblocks - b;
    n = r < VERIFY_CHUNK ? r : VERIFY_CHUNK;
    if ((chunk = verify_chunk (vol, b, n, fn, opaque)) == -1)
      return -1;
    bad += chunk;
    b += n;
  }
  return bad;
}
