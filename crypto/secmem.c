/* sealvol: key material in locked, non-dumpable memory. */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "secmem.h"

struct sv_key {
  size_t len;
  uint8_t bytes[];
};

int
sv_crypto_init (void)
{
  return sodium_init () < 0 ? -1 : 0;
}

struct sv_key *
sv_key_new (size_t len)
{
  /* sodium_malloc puts the end of the allocation against a guard page,
   * so its start is aligned only if the size is a multiple of the
   * alignment: round up (a key read from a file descriptor can have any
   * length). */
  size_t align = _Alignof (struct sv_key);
  size_t size = (sizeof (struct sv_key) + len + align - 1) / align * align;
  struct sv_key *key = size < len ? NULL : sodium_malloc (size);

  if (key == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  key->len = len;
  sodium_memzero (key->bytes, len);
  return key;
}

struct sv_key *
sv_key_new_random (size_t len)
{
  struct sv_key *key = sv_key_new (len);

  if (key)
    randombytes_buf (key->bytes, len);
  return key;
}

struct sv_key *
sv_key_from_bytes (const void *bytes, size_t len)
{
  struct sv_key *key = sv_key_new (len);

  if (key)
    memcpy (key->bytes, bytes, len);
  return key;
}

void
sv_key_free (struct sv_key *key)
{
  /* sodium_free wipes the whole allocation before unmapping it. */
  if (key)
    sodium_free (key);
}

const uint8_t *
sv_key_bytes (const struct sv_key *key)
{
  return key->bytes;
}

uint8_t *
sv_key_bytes_mut (struct sv_key *key)
{
  return key->bytes;
}

size_t
sv_key_len (const struct sv_key *key)
{
  return key->len;
}

bool
sv_key_equal (const struct sv_key *a, const struct sv_key *b)
{
  return a->len == b->len && sodium_memcmp (a->bytes, b->bytes, a->len) == 0;
}

void
sv_wipe (void *p, size_t len)
{
  sodium_memzero (p, len);
}
