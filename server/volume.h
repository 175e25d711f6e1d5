/* sealvol: the volume store.
 *
 * A struct sv_volume is one opened volume: its authenticated superblock,
 * its block cipher, its files and an I/O engine.  Reads and writes take
 * byte ranges of any alignment; whole 4 KiB blocks go straight through,
 * partial blocks are read, checked, merged and rewritten under the range's
 * lock.  Every function is safe to call from many threads at once: ranges
 * are serialised by striped reader/writer locks, nothing else is shared.
 *
 * Crash rule (docs/format.md): for each block the write path puts the new
 * metadata in the slot that does NOT describe the data on disk, then
 * overwrites the data.  A crash between the two leaves the old slot
 * matching the old data; a read tries the newer slot, then the older.
 */
#ifndef SEALVOL_VOLUME_H
#define SEALVOL_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "io.h"
#include "tenant.h"

struct sv_volume;

struct sv_create_params {
  uint64_t size;
  int cipher;
  const char *service_type;     /* NULL: "gp" */
  uint64_t write_limit;         /* 0: the cipher's limit */
};

/* The tenant's key must be loaded. */
int sv_volume_create (const struct sv_tenant *t, const char *name,
                      const struct sv_create_params *p);
int sv_volume_delete (const struct sv_tenant *t, const char *name);

/* Why a volume whose directory exists can never open (no superblock, a
 * truncated or undecodable one, no data file): a phrase in why, returned;
 * NULL if it looks whole or does not exist.  A wrong key is no breakage. */
const char *sv_volume_breakage (const struct sv_tenant *t, const char *name,
                                char *why, size_t len);

/* What a forced delete did, for its one line of output. */
struct sv_erase_report {
  char overwritten[256];        /* key files: "superblock (100 bytes)" */
  char removed[256];            /* "superblock, data, meta" */
  bool rekey_leftover;          /* volumes/.NAME.rekey was erased too */
};
/* Remove a volume even if it does not open (volume-force.c), with no key:
 * noise over whatever key material is left, synced, then the files.
 * Refused while the volume is in use or if its directory holds other
 * files. */
int sv_volume_delete_force (const struct sv_tenant *t, const char *name,
                            struct sv_erase_report *rep);

enum {
  SV_OPEN_READONLY = 1,         /* no session, no writes, shared lock */
  SV_OPEN_INFO = 3,             /* read-only, no lock: superblock only */
  SV_OPEN_SB_WRITE = 4,         /* with INFO: may update the superblock */
  SV_OPEN_META_MMAP = 8,        /* store metadata through a mapping
                                 * (metamap.h) instead of pwrite */
  SV_OPEN_DIRECT = 16,          /* data file with O_DIRECT */
};
/* io may be NULL (sync).  The volume takes ownership of io. */
struct sv_volume *sv_volume_open (const struct sv_tenant *t, const char *name,
                                  unsigned flags, struct sv_io_engine *io);
/* Flushes, marks the superblock clean, closes.  -1 if the flush failed. */
int sv_volume_close (struct sv_volume *vol);

const struct sv_superblock *sv_volume_superblock (const struct sv_volume *vol);
uint64_t sv_volume_size (const struct sv_volume *vol);
uint64_t sv_volume_auth_failures (const struct sv_volume *vol);
uint64_t sv_volume_writes (const struct sv_volume *vol);

/* I/O.  Return 0, or -1 with errno (EIO for a block that failed
 * authentication, after logging tenant, volume and block). */
int sv_volume_read (struct sv_volume *vol, void *buf, uint32_t count,
                    uint64_t offset);
int sv_volume_write (struct sv_volume *vol, const void *buf, uint32_t count,
                     uint64_t offset, bool fua);
int sv_volume_zero (struct sv_volume *vol, uint32_t count, uint64_t offset,
                    bool may_punch, bool fua);
int sv_volume_flush (struct sv_volume *vol);

/* Report [offset, offset+count) as runs of data or zero, calling fn for
 * each run in order; may stop early.  fn returns -1 to abort. */
typedef int (*sv_extent_fn) (void *opaque, uint64_t offset, uint64_t length,
                             bool zero);
int sv_volume_extents (struct sv_volume *vol, uint32_t count, uint64_t offset,
                       sv_extent_fn fn, void *opaque);

/* Check every written block; fn is called for each that fails.  Returns
 * the number of failures, or -1 on an I/O error. */
typedef void (*sv_bad_block_fn) (void *opaque, uint64_t block);
int64_t sv_volume_verify (struct sv_volume *vol, sv_bad_block_fn fn,
                          void *opaque);

/* Change a volume's service type in its authenticated superblock; safe
 * while nbdkit serves the volume, which picks it up via sv_volume_refresh
 * (re-read the superblock from disk, take the service type and a size
 * that grew). */
int sv_volume_set_service_type (const struct sv_tenant *t, const char *name,
                                const char *type);
int sv_volume_refresh (struct sv_volume *vol);

/* Grow a volume to size bytes (a multiple of 4096, at most 16 TiB); safe
 * while nbdkit serves it.  *old_size gets the size before.  The same size
 * is a no-op, a smaller one is refused (-1, reported).  A server gives
 * the new size to connections opened after (sv_volume_refresh); the new
 * blocks read as zeros. */
int sv_volume_resize (const struct sv_tenant *t, const char *name,
                      uint64_t size, uint64_t *old_size);

/* Key rotation: re-wrap a volume's key from the tenant's key to its next
 * key (refuses a volume in use). */
int sv_volume_rewrap (const struct sv_tenant *t, const char *name);
void sv_volume_service_type (struct sv_volume *vol,
                             char type[SV_SERVICE_TYPE_MAX + 1]);

/* A new volume key with all data re-encrypted (offline: refused while the
 * volume is served).  rekey.c describes the crash-safe steps. */
int sv_volume_rekey (const struct sv_tenant *t, const char *name);

/* The per-key write limit of a cipher, in 4 KiB block writes. */
uint64_t sv_cipher_write_limit (int cipher);

#endif
