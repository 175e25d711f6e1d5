/* sealvol: volume lifecycle: create, open, close, delete, superblock. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "fault.h"
#include "fsutil.h"
#include "names.h"
#include "report.h"
#include "volume-impl.h"

/* Block writes allowed under one volume key (docs/format.md, "Limits").
 * GCM: 2^32 writes per derived subkey (a fresh subkey each 2^32 and each
 * session), so the bound is the number of random 128-bit salts; we stop at
 * 2^48 writes (1 EiB), far below any collision risk.  XChaCha20: the same
 * salt || counter nonces (HChaCha20 subkey per salt), same cap.  XTS: IEEE 1619 advises at most
 * 2^44 AES blocks per key, i.e. 2^36 writes of 4 KiB. */
uint64_t
sv_cipher_write_limit (int cipher)
{
  return cipher == SV_CIPHER_AES_256_XTS ? UINT64_C (1) << 36
    : UINT64_C (1) << 48;
}

const struct sv_superblock *
sv_volume_superblock (const struct sv_volume *vol)
{
  return &vol->sb;
}

/* nblocks, not sb.size: the data path reads it without a lock, and a
 * served volume grows under it (take_new_size). */
uint64_t
sv_volume_size (const struct sv_volume *vol)
{
  return atomic_load (&vol->nblocks) * SV_BLOCK_SIZE;
}

uint64_t
sv_volume_auth_failures (const struct sv_volume *vol)
{
  return atomic_load (&vol->auth_failures);
}

uint64_t
sv_volume_writes (const struct sv_volume *vol)
{
  return atomic_load (&vol->writes);
}

static int
check_volume_name (const char *name)
{
  const char *why = sv_name_problem (name);

  if (why == NULL)
    return 0;
  errno = EINVAL;
  sv_error ("volume name '%s' %s", name, why);
  return -1;
}

static int
check_volume_size (uint64_t size)
{
  if (sv_volume_size_ok (size))
    return 0;
  errno = EINVAL;
  sv_error ("size must be a multiple of 4K, at least 4K and at most 16T");
  return -1;
}

/* "cannot VERB volume T/V: why", with advice where the filesystem cannot
 * hold a file of the volume's size. */
static void
report_size_error (const char *verb, const char *tenant, const char *name)
{
  if (errno == EFBIG)
    sv_error ("cannot %s volume %s/%s: the filesystem under the root "
              "cannot hold a file this large (ext4 stops at 16T-4K; use "
              "xfs for 16T volumes)", verb, tenant, name);
  else
    sv_error ("cannot %s volume %s/%s: %m", verb, tenant, name);
}

static int
check_create_params (const struct sv_tenant *t, const char *name,
                     const struct sv_create_params *p)
{
  const char *st = p->service_type ? p->service_type : "gp";

  if (check_volume_name (name) == -1 || check_volume_size (p->size) == -1)
    return -1;
  errno = EINVAL;
  if (sv_cipher_name (p->cipher) == NULL)
    return sv_error ("unknown cipher"), -1;
  if (strlen (st) > SV_SERVICE_TYPE_MAX || sv_name_problem (st))
    return sv_error ("service type '%s' is not a valid name", st), -1;
  if (t->key == NULL || t->has_next_check)
    return sv_error ("tenant %s is in the middle of a key rotation; finish it "
                     "with 'sealvol tenant rotate-key %s'", t->name, t->name),
      -1;
  return 0;
}

static void
fill_new_superblock (struct sv_superblock *sb, const struct sv_tenant *t,
                     const char *name, const struct sv_create_params *p)
{
  memset (sb, 0, sizeof *sb);
  sb->version = SV_FORMAT_VERSION;
  sb->cipher = (uint32_t) p->cipher;
  sb->block_size = SV_BLOCK_SIZE;
  sb->slot_size = sv_cipher_is_aead (p->cipher) ? SV_SLOT_LEN : 0;
  sb->size = p->size;
  memcpy (sb->tenant_id, t->id, SV_ID_LEN);
  randombytes_buf (sb->volume_id, SV_ID_LEN);
  strcpy (sb->name, name);
  strcpy (sb->service_type, p->service_type ? p->service_type : "gp");
  sb->created = (uint64_t) time (NULL);
  sb->write_limit = p->write_limit ? p->write_limit
    : sv_cipher_write_limit (p->cipher);
  sb->tenant_key_version = t->key_version;
  sb->volume_key_version = 1;
}

/* Wrap the new volume key and encode the superblock into buf. */
static int
encode_new_superblock (uint8_t buf[SV_SUPERBLOCK_LEN],
                       struct sv_superblock *sb, const struct sv_tenant *t,
                       const struct sv_key *volume_key)
{
  struct sv_wrap_context wc;
  uint8_t mac_key[32];

  sv_superblock_wrap_context (sb, &wc);
  if (sv_wrap_key (sb->wrapped_key, t->key, &wc, volume_key) == -1
      || sv_derive_mac_key (mac_key, volume_key, sb->volume_id) == -1)
    return -1;
  sv_superblock_encode (sb, mac_key, buf);
  sv_wipe (mac_key, sizeof mac_key);
  return 0;
}

/* A broken volume in the way gets the command that clears it. */
static void
report_exists (const struct sv_tenant *t, const char *name)
{
  char why[128];

  if (sv_volume_breakage (t, name, why, sizeof why))
    sv_error ("volume %s/%s already exists, broken: %s; 'sealvol volume "
              "delete --force %s/%s' removes it", t->name, name, why, t->name,
              name);
  else
    sv_error ("volume %s/%s already exists", t->name, name);
}

/* sv_volume_create_in, under the tenant's key lock. */
static int
create_in_locked (const struct sv_tenant *t, const char *dir,
                  const char *name, const struct sv_create_params *p,
                  const struct sv_superblock *like)
{
  CLEANUP_KEY struct sv_key *volume_key = NULL;
  struct sv_superblock sb;
  uint8_t buf[SV_SUPERBLOCK_LEN];
  uint64_t meta_size = sv_cipher_is_aead (p->cipher)
    ? sv_meta_size (p->size / SV_BLOCK_SIZE) : 0;
  int r;

  fill_new_superblock (&sb, t, name, p);
  if (like) {
    memcpy (sb.volume_id, like->volume_id, SV_ID_LEN);
    sb.created = like->created;
    sb.write_limit = like->write_limit;
    sb.volume_key_version = like->volume_key_version + 1;
  }
  volume_key = sv_key_new_random (SV_VOLUME_KEY_LEN);
  if (volume_key == NULL
      || encode_new_superblock (buf, &sb, t, volume_key) == -1) {
    report_size_error ("create", t->name, name);
    return -1;
  }
  if (sv_store_conf_is_rbd (&t->store))
    r = sv_store_rbd_create (&t->store, t->name, name, p->size, meta_size,
                             buf);      /* reports all but EEXIST */
  else if ((r = sv_store_file_create (dir, p->size, meta_size, buf)) == -2)
    report_size_error ("create", t->name, name);
  else if (r == -1 && errno != EEXIST)
    sv_error ("cannot create %s: %m", dir);
  if (r == -1 && errno == EEXIST)
    report_exists (t, name);
  return r < 0 ? -1 : 0;
}

/* Create a volume in dir.  like: the volume a rekey replaces (same id,
 * service type and limit, next key version); NULL for a new volume.  The
 * new key is wrapped under the tenant key t holds, so the key lock is
 * held and tenant.state checked under it: a key rotation that ran since
 * t was opened would otherwise leave this volume wrapped under the key
 * it destroyed. */
int
sv_volume_create_in (const struct sv_tenant *t, const char *dir,
                     const char *name, const struct sv_create_params *p,
                     const struct sv_superblock *like)
{
  int lock, r = -1;

  if (check_create_params (t, name, p) == -1
      || (lock = sv_tenant_key_lock (t->dir, LOCK_SH)) == -1)
    return -1;
  if (sv_tenant_key_current (t) == 0)
    r = create_in_locked (t, dir, name, p, like);
  close (lock);
  return r;
}

int
sv_volume_create (const struct sv_tenant *t, const char *name,
                  const struct sv_create_params *p)
{
  char *dir = sv_tenant_volume_dir (t, name);
  int r;

  if (dir == NULL)
    return -1;
  r = sv_volume_create_in (t, dir, name, p, NULL);
  free (dir);
  return r;
}

/* ---- opening ---- */

/* One writer per volume across processes (and gateways); readers
 * (verify) share; info only reads the superblock and takes no lock. */
static int
lock_volume (struct sv_volume *vol)
{
  char holder[256];

  if ((vol->flags & SV_OPEN_INFO) == SV_OPEN_INFO
      || vol->store->ops->lock (vol->store, vol->readonly ? SV_STORE_SHARED
                                : SV_STORE_EXCLUSIVE, holder, sizeof holder)
         == 0)
    return 0;
  if (holder[0])
    sv_error ("volume %s/%s is in use by another gateway: %s; if it is "
              "dead, 'sealvol volume break-lock %s/%s'", vol->tenant,
              vol->name, holder, vol->tenant, vol->name);
  else
    sv_error ("volume %s/%s is in use by another process", vol->tenant,
              vol->name);
  return -1;
}

/* Open the volume's store: its directory, or its place in the tenant's
 * pool.  Takes io (the file store's engine; the rbd store has its own). */
static int
open_store (struct sv_volume *vol, const struct sv_tenant *t,
            struct sv_io_engine *io)
{
  struct sv_store_open o = {
    .readonly = vol->readonly,
    .sb_write = vol->flags & SV_OPEN_SB_WRITE,
    .direct = vol->flags & SV_OPEN_DIRECT,
  };

  if (sv_store_conf_is_rbd (&t->store)) {
    if (io)
      io->free (io);
    vol->store = sv_store_rbd_open (&t->store, vol->tenant, vol->name, &o);
  }
  else if ((io = io ? io : sv_io_sync_new ()) != NULL)
    vol->store = sv_store_file_open (vol->tenant, vol->name, vol->dir, &o, io);
  return vol->store ? lock_volume (vol) : -1;
}

/* Read, decode and authenticate the superblock; unwrap the volume key
 * and derive the MAC key and the block cipher. */
static int
load_superblock (struct sv_volume *vol, const struct sv_tenant *t)
{
  uint8_t buf[SV_SUPERBLOCK_LEN];
  struct sv_wrap_context wc;
  CLEANUP_KEY struct sv_key *volume_key = NULL;
  CLEANUP_KEY struct sv_key *data_key = NULL;
  const struct sv_key *tenant_key;
  const char *why;

  errno = EINVAL;
  if (vol->store->ops->sb_read (vol->store, buf) == -1)
    return sv_error ("volume %s/%s: superblock is truncated", vol->tenant,
                     vol->name), -1;
  if (sv_superblock_decode (buf, &vol->sb, &why) == -1)
    return sv_error ("volume %s/%s: %s", vol->tenant, vol->name, why), -1;
  if (memcmp (vol->sb.tenant_id, t->id, SV_ID_LEN) != 0
      || strcmp (vol->sb.name, vol->name) != 0)
    return sv_error ("volume %s/%s: superblock belongs to another tenant or "
                     "volume", vol->tenant, vol->name), -1;
  if ((tenant_key = sv_tenant_key_for (t, vol->sb.tenant_key_version)) == NULL)
    return sv_error ("volume %s/%s: wrapped under tenant key version %u, "
                     "which is not loaded (tenant key version %u)",
                     vol->tenant, vol->name, vol->sb.tenant_key_version,
                     t->key_version), -1;
  sv_superblock_wrap_context (&vol->sb, &wc);
  volume_key = sv_unwrap_key (vol->sb.wrapped_key, tenant_key, &wc);
  if (volume_key == NULL)
    return sv_error ("volume %s/%s: cannot unwrap the volume key (wrong "
                     "tenant key, or the wrapped key was altered)",
                     vol->tenant, vol->name), -1;
  vol->mac_key = sv_key_new (32);
  if (vol->mac_key == NULL
      || sv_derive_mac_key (sv_key_bytes_mut (vol->mac_key), volume_key,
                            vol->sb.volume_id) == -1)
    return -1;
  if (!sv_superblock_mac_ok (buf, sv_key_bytes (vol->mac_key)))
    return sv_error ("volume %s/%s: superblock failed its MAC check "
                     "(tampered or corrupted)", vol->tenant, vol->name), -1;
  data_key = sv_derive_data_key (volume_key, vol->sb.volume_id,
                                 (int) vol->sb.cipher);
  if (data_key == NULL
      || (vol->bc = sv_block_cipher_new ((int) vol->sb.cipher, data_key))
         == NULL)
    return sv_error ("volume %s/%s: cannot set up the cipher", vol->tenant,
                     vol->name), -1;
  vol->aead = sv_cipher_is_aead ((int) vol->sb.cipher);
  atomic_store (&vol->nblocks, vol->sb.size / SV_BLOCK_SIZE);
  return 0;
}

/* A file must be at least as long as the volume needs.  Longer is
 * allowed: "volume resize" grows the files before the superblock, so a
 * resize cut short leaves them longer, and nothing past the volume's end
 * is ever read. */
static int
check_file_size (struct sv_volume *vol, enum sv_store_obj obj,
                 uint64_t expect)
{
  const char *what = obj == SV_STORE_DATA ? "data" : "metadata";
  uint64_t len;

  if (vol->store->ops->length (vol->store, obj, &len) == -1)
    return sv_error ("volume %s/%s: %s: %m", vol->tenant, vol->name, what), -1;
  if (len < expect) {
    errno = EINVAL;
    sv_error ("volume %s/%s: %s file is %ju bytes, expected %ju "
              "(truncated or damaged); refusing to use it",
              vol->tenant, vol->name, what, (uintmax_t) len,
              (uintmax_t) expect);
    return -1;
  }
  return 0;
}

/* Not fatal: without the mapping every metadata write is a pwrite and
 * every metadata read a pread (or a hit in the metadata cache). */
static void
map_meta (struct sv_volume *vol)
{
  int fd = sv_store_file_fd (vol->store, SV_STORE_META);
  const char *why;

  if (fd == -1)
    return;                     /* only files can be mapped */
  if (sv_metamap_init (&vol->metamap, fd, sv_meta_size (vol->nblocks),
                       !vol->readonly) == 0)
    return;
  why = errno == EINVAL ? "pages or file system blocks are not 4096 bytes"
    : errno == ENOTSUP ? "the SIGBUS handler could not be installed"
    : strerror (errno);
  sv_error ("warning: volume %s/%s: metadata not mapped (%s); reading and "
            "writing it with pread and pwrite", vol->tenant, vol->name, why);
}

static int
open_meta (struct sv_volume *vol)
{
  if (vol->store->ops->open_meta (vol->store) == -1)
    return -1;
  return check_file_size (vol, SV_STORE_META, sv_meta_size (vol->nblocks));
}

/* The superblock is shared with other processes: the CLI changes the
 * service type while nbdkit serves, nbdkit moves the session and the
 * write mark.  So every update is a read-modify-write under an exclusive
 * flock: re-read and authenticate the copy on disk, apply the change to
 * it, write it back (one aligned 4096-byte write, assumed atomic; see
 * docs/format.md) and make it durable.  Caller holds sb_lock. */
typedef void (*sb_change_fn) (struct sv_superblock *sb, const void *arg);

static int
read_disk_superblock (struct sv_volume *vol, struct sv_superblock *disk)
{
  uint8_t buf[SV_SUPERBLOCK_LEN];
  const char *why = "superblock unreadable";

  if (vol->store->ops->sb_read (vol->store, buf) == -1
      || sv_superblock_decode (buf, disk, &why) == -1
      || !sv_superblock_mac_ok (buf, sv_key_bytes (vol->mac_key))) {
    errno = EIO;
    sv_error ("volume %s/%s: superblock on disk fails its check (%s); "
              "not updating it", vol->tenant, vol->name, why);
    return -1;
  }
  return 0;
}

static int
lock_superblock (struct sv_volume *vol)
{
  if (vol->store->ops->sb_lock (vol->store, true) == 0)
    return 0;
  sv_error ("volume %s/%s: cannot lock superblock: %m", vol->tenant,
            vol->name);
  return -1;
}

/* The read-modify-write itself; the caller holds sb_lock and the flock. */
static int
rewrite_superblock (struct sv_volume *vol, sb_change_fn change,
                    const void *arg)
{
  uint8_t buf[SV_SUPERBLOCK_LEN];
  struct sv_superblock disk;

  if (read_disk_superblock (vol, &disk) == -1)
    return -1;
  change (&disk, arg);
  disk.seq++;
  sv_superblock_encode (&disk, sv_key_bytes (vol->mac_key), buf);
  if (vol->store->ops->sb_write (vol->store, buf) == -1) {
    sv_error ("volume %s/%s: cannot write superblock: %m", vol->tenant,
              vol->name);
    return -1;
  }
  /* Only the fields that change after open; the data path reads the
   * others (ids, cipher, key version) without a lock.  The size changes
   * only through take_new_size. */
  vol->sb.seq = disk.seq;
  vol->sb.flags = disk.flags;
  vol->sb.session = disk.session;
  vol->sb.last_unclean_session = disk.last_unclean_session;
  vol->sb.writes_reserved = disk.writes_reserved;
  vol->sb.tenant_key_version = disk.tenant_key_version;
  memcpy (vol->sb.wrapped_key, disk.wrapped_key, SV_WRAPPED_KEY_LEN);
  memcpy (vol->sb.service_type, disk.service_type, sizeof disk.service_type);
  atomic_store (&vol->writes_mark, disk.writes_reserved);
  return 0;
}

static int
update_superblock_locked (struct sv_volume *vol, sb_change_fn change,
                          const void *arg)
{
  int r;

  if (lock_superblock (vol) == -1)
    return -1;
  r = rewrite_superblock (vol, change, arg);
  vol->store->ops->sb_unlock (vol->store);
  return r;
}

static void
change_start_session (struct sv_superblock *sb, const void *arg)
{
  (void) arg;
  if (sb->flags & SV_SB_OPEN)
    sb->last_unclean_session = sb->session;
  sb->session++;
  sb->flags |= SV_SB_OPEN;
}

static void
change_clean_close (struct sv_superblock *sb, const void *writes)
{
  sb->flags &= ~SV_SB_OPEN;
  sb->writes_reserved = *(const uint64_t *) writes;
}

static void
change_write_mark (struct sv_superblock *sb, const void *mark)
{
  if (sb->writes_reserved < *(const uint64_t *) mark)
    sb->writes_reserved = *(const uint64_t *) mark;
}

static void
change_service_type (struct sv_superblock *sb, const void *type)
{
  memset (sb->service_type, 0, sizeof sb->service_type);
  strcpy (sb->service_type, type);
}

/* A writable open starts a session: remember whether the last one ended
 * cleanly, take a new session number and mark the volume open. */
static int
start_session (struct sv_volume *vol)
{
  int r;

  pthread_mutex_lock (&vol->sb_lock);
  r = update_superblock_locked (vol, change_start_session, NULL);
  pthread_mutex_unlock (&vol->sb_lock);
  if (r == -1)
    return -1;
  vol->session = vol->sb.session;
  vol->last_unclean = vol->sb.last_unclean_session;
  /* After a crash the true count may be anywhere below the mark. */
  atomic_store (&vol->writes, vol->sb.writes_reserved);
  randombytes_buf (vol->session_salt, sizeof vol->session_salt);
  return 0;
}

static struct sv_volume *
volume_alloc_in (const struct sv_tenant *t, const char *name, const char *dir,
                 unsigned flags)
{
  struct sv_volume *vol = calloc (1, sizeof *vol);

  if (vol == NULL)
    return NULL;
  strcpy (vol->tenant, t->name);
  strcpy (vol->name, name);
  vol->flags = flags;
  vol->readonly = flags & SV_OPEN_READONLY;
  pthread_mutex_init (&vol->sb_lock, NULL);
  sv_rangelock_init (&vol->locks);
  vol->dir = dir ? strdup (dir) : sv_tenant_volume_dir (t, name);
  vol->tenant_dir = strdup (t->dir);
  if (vol->dir == NULL || vol->tenant_dir == NULL) {
    sv_volume_close (vol);
    return NULL;
  }
  return vol;
}

static void
volume_free (struct sv_volume *vol)
{
  if (vol->store)
    vol->store->ops->free (vol->store);
  sv_block_cipher_free (vol->bc);
  sv_key_free (vol->mac_key);
  sv_rangelock_destroy (&vol->locks);
  sv_metacache_free (&vol->metacache);
  sv_metamap_free (&vol->metamap);
  pthread_mutex_destroy (&vol->sb_lock);
  free (vol->dir);
  free (vol->tenant_dir);
  sv_wipe (vol->session_salt, sizeof vol->session_salt);
  free (vol);
}

/* Files and authenticated superblock only: for the commands that change
 * the superblock beside a server (SV_OPEN_INFO | SV_OPEN_SB_WRITE) or
 * destroy the volume (0: the exclusive lock, refused while served). */
static struct sv_volume *
open_header (const struct sv_tenant *t, const char *name, unsigned flags)
{
  struct sv_volume *vol;

  if (check_volume_name (name) == -1
      || (vol = volume_alloc_in (t, name, NULL, flags)) == NULL)
    return NULL;
  if (open_store (vol, t, NULL) == -1 || load_superblock (vol, t) == -1) {
    volume_free (vol);
    return NULL;
  }
  return vol;
}

struct sv_volume *
sv_volume_open (const struct sv_tenant *t, const char *name, unsigned flags,
                struct sv_io_engine *io)
{
  return sv_volume_open_in (t, name, NULL, flags, io);
}

struct sv_volume *
sv_volume_open_in (const struct sv_tenant *t, const char *name,
                   const char *dir, unsigned flags, struct sv_io_engine *io)
{
  struct sv_volume *vol;

  if (check_volume_name (name) == -1
      || (vol = volume_alloc_in (t, name, dir, flags)) == NULL) {
    if (io)
      io->free (io);
    return NULL;
  }
  if (open_store (vol, t, io) == -1 || load_superblock (vol, t) == -1)
    goto fail;
  /* Read-only opens (verify) judge slots like the next writer would. */
  vol->last_unclean = vol->sb.flags & SV_SB_OPEN ? vol->sb.session
    : vol->sb.last_unclean_session;
  if (check_file_size (vol, SV_STORE_DATA, vol->sb.size) == -1
      || (vol->aead && open_meta (vol) == -1)
      || (!vol->readonly && start_session (vol) == -1))
    goto fail;
  if (vol->aead && (flags & SV_OPEN_META_MMAP))
    map_meta (vol);
  /* The mapping is the page cache itself: a cache of its own would only
   * copy it. */
  if (vol->aead && !vol->readonly && vol->metamap.base == NULL
      && sv_metacache_init (&vol->metacache, SV_META_CACHE_DEFAULT) == -1) {
    sv_error ("volume %s/%s: cannot map the metadata cache: %m", vol->tenant,
              vol->name);
    goto fail;
  }
  return vol;

 fail:
  volume_free (vol);
  return NULL;
}

/* Report a failed step once and turn it into the errno the client sees.
 * An authentication failure was already logged with its block number. */
int
sv_volume_io_error (struct sv_volume *vol, const char *what)
{
  int e = errno;

  if (e != EILSEQ)
    sv_error ("volume %s/%s: %s: %m", vol->tenant, vol->name, what);
  errno = e == EILSEQ ? EIO : e;
  return -1;
}

int
sv_volume_flush (struct sv_volume *vol)
{
  struct sv_store_req req[2];
  size_t n = 0;

  if (vol->aead)
    req[n++] = (struct sv_store_req) { .op = SV_IO_FDATASYNC,
                                       .obj = SV_STORE_META };
  req[n++] = (struct sv_store_req) { .op = SV_IO_FDATASYNC,
                                     .obj = SV_STORE_DATA };
  if (vol->store->ops->submit (vol->store, req, n, true) == -1) {
    /* Sticky: Linux reports a writeback error to one fdatasync only, so
     * a later flush could "succeed" over writes that were lost. */
    atomic_store (&vol->sync_failed, true);
    return sv_volume_io_error (vol, "flush");
  }
  return 0;
}

int
sv_volume_close (struct sv_volume *vol)
{
  int r = 0;

  if (vol == NULL)
    return 0;
  if (!vol->readonly && vol->session) {
    r = sv_volume_flush (vol);
    pthread_mutex_lock (&vol->sb_lock);
    /* A session that lost a sync, or left slots it no longer trusts,
     * stays marked open: the next one then checks slots against their
     * data before trusting them (the phantom rule, docs/format.md). */
    if (r == 0 && !atomic_load (&vol->sync_failed)
        && !atomic_load (&vol->suspect_all)) {
      /* Clean: every write finished, so the exact count can be kept. */
      uint64_t writes = atomic_load (&vol->writes);
      r = update_superblock_locked (vol, change_clean_close, &writes);
    }
    pthread_mutex_unlock (&vol->sb_lock);
  }
  volume_free (vol);
  return r;
}

int
sv_volume_reserve_writes (struct sv_volume *vol, uint64_t n)
{
  uint64_t now = atomic_fetch_add (&vol->writes, n) + n;
  int r = 0;

  /* write_limit never changes after open; the mark moves under sb_lock
   * and is mirrored in an atomic for this lock-free check. */
  if (now > vol->sb.write_limit) {
    atomic_fetch_sub (&vol->writes, n);
    errno = ENOSPC;
    sv_error ("volume %s/%s has reached the write limit of its key "
              "(%ju block writes); run 'sealvol volume rekey %s/%s'",
              vol->tenant, vol->name, (uintmax_t) vol->sb.write_limit,
              vol->tenant, vol->name);
    return -1;
  }
  if (now <= atomic_load (&vol->writes_mark))
    return 0;
  pthread_mutex_lock (&vol->sb_lock);
  if (now > vol->sb.writes_reserved) {
    uint64_t mark = now + SV_WRITE_RESERVATION;
    if (mark > vol->sb.write_limit)
      mark = vol->sb.write_limit;
    r = update_superblock_locked (vol, change_write_mark, &mark);
  }
  pthread_mutex_unlock (&vol->sb_lock);
  return r;
}

int
sv_volume_set_service_type (const struct sv_tenant *t, const char *name,
                            const char *type)
{
  struct sv_volume *vol = open_header (t, name,
                                      SV_OPEN_INFO | SV_OPEN_SB_WRITE);
  int r;

  if (vol == NULL)
    return -1;
  pthread_mutex_lock (&vol->sb_lock);
  r = update_superblock_locked (vol, change_service_type, type);
  pthread_mutex_unlock (&vol->sb_lock);
  volume_free (vol);
  return r;
}

struct rewrap {
  const uint8_t *wrapped;
  uint32_t version;
};

static void
change_wrapping (struct sv_superblock *sb, const void *arg)
{
  const struct rewrap *rw = arg;

  memcpy (sb->wrapped_key, rw->wrapped, SV_WRAPPED_KEY_LEN);
  sb->tenant_key_version = rw->version;
}

/* Re-wrap one volume's key under the tenant's next key.  The superblock
 * is rewritten in one atomic write, so the volume is wrapped under
 * exactly one of the two keys at every moment.  Already done: no-op.
 * A served volume too: the server's own superblock updates are
 * read-modify-writes under the same flock, so they keep the new wrapping,
 * and it never unwraps again (it holds the volume key from its open). */
int
sv_volume_rewrap (const struct sv_tenant *t, const char *name)
{
  struct sv_volume *vol = open_header (t, name,
                                      SV_OPEN_INFO | SV_OPEN_SB_WRITE);
  uint8_t wrapped[SV_WRAPPED_KEY_LEN];
  struct sv_wrap_context wc;
  struct sv_key *volume_key = NULL;
  struct rewrap rw = { wrapped, t->key_version + 1 };
  int r = -1;

  if (vol == NULL)
    return -1;
  if (vol->sb.tenant_key_version == rw.version) {
    r = 0;
    goto out;
  }
  sv_superblock_wrap_context (&vol->sb, &wc);
  volume_key = sv_unwrap_key (vol->sb.wrapped_key, t->key, &wc);
  wc.tenant_key_version = rw.version;
  if (volume_key == NULL
      || sv_wrap_key (wrapped, t->next_key, &wc, volume_key) == -1)
    goto out;
  pthread_mutex_lock (&vol->sb_lock);
  r = update_superblock_locked (vol, change_wrapping, &rw);
  pthread_mutex_unlock (&vol->sb_lock);
 out:
  sv_key_free (volume_key);
  volume_free (vol);
  return r;
}

/* A served volume that "volume resize" grew.  Its files grew before its
 * superblock did, so they are long enough (checked anyway); from now on
 * requests may reach the new blocks.  Nothing else here depends on the
 * size: the range locks and the metadata cache index pages modulo their
 * own size, nonces count per session.  Connections opened earlier keep
 * the size nbdkit asked for at their start, and never go past it.
 * Caller holds sb_lock. */
static int
take_new_size (struct sv_volume *vol, uint64_t size)
{
  uint64_t nblocks = size / SV_BLOCK_SIZE;

  if (check_file_size (vol, SV_STORE_DATA, size) == -1
      || (vol->aead && check_file_size (vol, SV_STORE_META,
                                        sv_meta_size (nblocks)) == -1))
    return -1;
  vol->sb.size = size;
  atomic_store (&vol->nblocks, nblocks);
  return 0;
}

int
sv_volume_refresh (struct sv_volume *vol)
{
  struct sv_superblock disk;
  int r;

  pthread_mutex_lock (&vol->sb_lock);
  vol->store->ops->sb_lock (vol->store, false);
  r = read_disk_superblock (vol, &disk);
  vol->store->ops->sb_unlock (vol->store);
  if (r == 0) {
    memcpy (vol->sb.service_type, disk.service_type,
            sizeof vol->sb.service_type);
    if (disk.size > vol->sb.size)
      r = take_new_size (vol, disk.size);
  }
  pthread_mutex_unlock (&vol->sb_lock);
  return r;
}

void
sv_volume_service_type (struct sv_volume *vol, char type[SV_SERVICE_TYPE_MAX + 1])
{
  pthread_mutex_lock (&vol->sb_lock);
  memcpy (type, vol->sb.service_type, SV_SERVICE_TYPE_MAX + 1);
  pthread_mutex_unlock (&vol->sb_lock);
}

/* ---- resize ---- */

static void
change_size (struct sv_superblock *sb, const void *size)
{
  sb->size = *(const uint64_t *) size;
}

/* Grow the volume's data or metadata from `from` bytes, its length under
 * the superblock on disk, to `to`, durably.  The store cuts it back to
 * `from` first, so whatever a resize cut short left past the old end
 * reads as zeros (holes in data, empty slots in meta).  The cut never
 * reaches a byte a server uses: it serves at most `from`. */
static int
grow_file (struct sv_volume *vol, enum sv_store_obj obj, uint64_t from,
           uint64_t to)
{
  if (check_file_size (vol, obj, from) == -1)
    return -1;
  if (vol->store->ops->grow (vol->store, obj, from, to) == 0)
    return 0;
  report_size_error ("grow", vol->tenant, vol->name);
  return -1;
}

static int
refuse_shrink (struct sv_volume *vol, uint64_t size, uint64_t want)
{
  char now[32], asked[32];

  sv_format_size (size, now, sizeof now);
  sv_format_size (want, asked, sizeof asked);
  errno = EINVAL;
  sv_error ("volume %s/%s is %s; cannot shrink it to %s (resize only "
            "grows volumes)", vol->tenant, vol->name, now, asked);
  return -1;
}

/* Files first, superblock last, each step durable before the next: a
 * crash before the superblock write leaves the old size over longer
 * files, which opens and reads as before; after it, the new size over
 * files already long enough.  Caller holds sb_lock and the flock, which
 * every superblock update takes, so a concurrent resize or a server's own
 * update waits, and a server never sees the new size before the files. */
static int
resize_flocked (struct sv_volume *vol, uint64_t size, uint64_t *old_size)
{
  struct sv_superblock disk;
  uint64_t from;

  if (read_disk_superblock (vol, &disk) == -1)
    return -1;
  *old_size = from = disk.size;
  if (size == from)
    return 0;                   /* done already: idempotent */
  if (size < from)
    return refuse_shrink (vol, from, size);
  if (grow_file (vol, SV_STORE_DATA, from, size) == -1)
    return -1;
  sv_fault_point ("resize:after-data");
  if (vol->aead
      && (vol->store->ops->open_meta (vol->store) == -1
          || grow_file (vol, SV_STORE_META,
                    sv_meta_size (from / SV_BLOCK_SIZE),
                        sv_meta_size (size / SV_BLOCK_SIZE)) == -1))
    return -1;
  sv_fault_point ("resize:before-superblock");
  return rewrite_superblock (vol, change_size, &size);
}

int
sv_volume_resize (const struct sv_tenant *t, const char *name, uint64_t size,
                  uint64_t *old_size)
{
  unsigned flags = SV_OPEN_INFO | SV_OPEN_SB_WRITE;
  struct sv_volume *vol;
  int r = -1;

  if (check_volume_size (size) == -1
      || (vol = open_header (t, name, flags)) == NULL)
    return -1;
  pthread_mutex_lock (&vol->sb_lock);
  if (lock_superblock (vol) == 0) {
    r = resize_flocked (vol, size, old_size);
    vol->store->ops->sb_unlock (vol->store);
  }
  pthread_mutex_unlock (&vol->sb_lock);
  volume_free (vol);
  return r;
}

/* ---- delete ---- */

/* Crypto-erase: the wrapped key goes first and durably, so a crash after
 * this point leaves a volume nobody can open; only then the bulk.  Under
 * the superblock's flock, so that a command updating the superblock
 * beside us (resize, set-service-type) cannot write the key back after. */
static int
destroy_wrapped_key (struct sv_volume *vol)
{
  int r = 0;

  if (lock_superblock (vol) == -1)
    return -1;
  if (vol->store->ops->destroy_key (vol->store) == -1) {
    sv_error ("volume %s/%s: cannot overwrite the wrapped key: %m",
              vol->tenant, vol->name);
    r = -1;
  }
  vol->store->ops->sb_unlock (vol->store);
  return r;
}

/* Crypto-erase the volume files in dir whatever their state: noise over
 * the superblock, then remove everything.  (Rekey's leftovers.) */
int
sv_volume_erase_dir (const char *dir)
{
  uint8_t noise[SV_SUPERBLOCK_LEN];
  char path[4096];
  int fd, r = 0;

  if ((size_t) snprintf (path, sizeof path, "%s/superblock", dir)
      >= sizeof path)
    return -1;
  if ((fd = open (path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
    randombytes_buf (noise, sizeof noise);
    if (sv_write_all (fd, noise, sizeof noise, 0) == -1 || fsync (fd) == -1)
      r = -1;
    close (fd);
  }
  if (r == 0)
    sv_store_file_remove_dir (dir);
  return r;
}

/* The ordinary delete opens the volume; one that can never open gets the
 * command that removes it instead of the reason alone. */
static int
refuse_broken (const struct sv_tenant *t, const char *name)
{
  char why[128];

  if (sv_volume_breakage (t, name, why, sizeof why) == NULL)
    return 0;
  errno = EINVAL;
  sv_error ("cannot delete volume %s/%s: %s; 'sealvol volume delete --force "
            "%s/%s' destroys what key material is left and removes it",
            t->name, name, why, t->name, name);
  return -1;
}

int
sv_volume_delete (const struct sv_tenant *t, const char *name)
{
  struct sv_erase_report leftover;
  struct sv_volume *vol;
  int r;

  /* Opening proves the key and takes the exclusive lock, so a served
   * volume is never deleted under its server. */
  if (refuse_broken (t, name) == -1
      || (vol = open_header (t, name, 0)) == NULL)
    return -1;
  r = destroy_wrapped_key (vol);
  sv_fault_point ("delete:after-key-destroyed");
  if (r == 0)
    r = vol->store->ops->remove (vol->store);
  volume_free (vol);
  memset (&leftover, 0, sizeof leftover);
  if (r == 0 && !sv_store_conf_is_rbd (&t->store))
    r = sv_volume_erase_rekey_leftover (t, name, &leftover);
  return r;
}
