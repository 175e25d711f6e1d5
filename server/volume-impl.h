/* sealvol: the volume object, shared by volume.c (lifecycle) and
 * volume-io.c (data path).  Not part of the library's interface. */
#ifndef SEALVOL_VOLUME_IMPL_H
#define SEALVOL_VOLUME_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "metacache.h"
#include "metamap.h"
#include "rangelock.h"
#include "store.h"
#include "volume.h"

/* How many block writes one superblock update reserves ahead. */
#define SV_WRITE_RESERVATION (UINT64_C (1) << 20)

/* Metadata cache per writable volume: 32 MiB caches the metadata of
 * 1.3 GiB of hot data (docs/performance.md). */
#define SV_META_CACHE_DEFAULT (UINT64_C (32) << 20)

struct sv_volume {
  char tenant[64];
  char name[64];
  char *dir;
  char *tenant_dir;                     /* for the audit log */
  struct sv_store *store;               /* superblock, data, metadata */
  unsigned flags;
  bool readonly;
  bool aead;
  _Atomic uint64_t nblocks;             /* grows when a resize is seen */

  pthread_mutex_t sb_lock;              /* guards sb and superblock writes;
                                         * the data path takes the size
                                         * from nblocks, not sb.size */
  struct sv_superblock sb;
  struct sv_key *mac_key;
  struct sv_block_cipher *bc;

  /* This session.  A slot from a session <= last_unclean may describe data
   * that never reached the disk (a crash between metadata and data), so
   * it is checked against the data before its partner is overwritten. */
  uint32_t session;
  uint32_t last_unclean;
  atomic_bool suspect_all;              /* a write failed part way */
  atomic_bool sync_failed;              /* a flush or FUA sync failed */
  uint8_t session_salt[SV_GCM_SALT_LEN];
  _Atomic uint64_t nonce_counter;

  _Atomic uint64_t writes;              /* block writes under this key */
  _Atomic uint64_t writes_mark;         /* = sb.writes_reserved */
  _Atomic uint64_t auth_failures;
  _Atomic uint64_t log_window, log_count;

  struct sv_rangelock locks;
  struct sv_metacache metacache;        /* guarded by the range locks;
                                         * only where meta is not mapped */
  struct sv_metamap metamap;            /* likewise; base NULL: pwrite */
  atomic_bool map_load_faulted;         /* warned once */
};

/* For rekey.c: create or open a volume in a directory other than its
 * own, and crypto-erase a directory of volume files. */
int sv_volume_create_in (const struct sv_tenant *t, const char *dir,
                         const char *name, const struct sv_create_params *p,
                         const struct sv_superblock *like);
struct sv_volume *sv_volume_open_in (const struct sv_tenant *t,
                                     const char *name, const char *dir,
                                     unsigned flags, struct sv_io_engine *io);
int sv_volume_erase_dir (const char *dir);

/* volume-force.c: the files of a volume directory (NULL-terminated), and
 * the crypto-erase of volumes/.NAME.rekey, which a rekey cut short leaves
 * (0 also when there is none). */
extern const char *const sv_volume_files[];
int sv_volume_erase_rekey_leftover (const struct sv_tenant *t,
                                    const char *name,
                                    struct sv_erase_report *rep);

/* Reserve n block writes against the key's limit, persisting the
 * high-water mark ahead of use.  -1 with errno = ENOSPC past the limit. */
int sv_volume_reserve_writes (struct sv_volume *vol, uint64_t n);

/* Log a failed I/O step once; -1 with the errno the client sees (EIO
 * for an authentication failure, which was logged with its block). */
int sv_volume_io_error (struct sv_volume *vol, const char *what);

#endif
