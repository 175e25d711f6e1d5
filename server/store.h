/* sealvol: where a volume's bytes live.
 *
 * A volume is three things: its superblock (4096 bytes, rewritten whole),
 * its data (size bytes) and, with an AEAD cipher, its metadata slots
 * (sv_meta_size bytes).  The volume code (volume.c, volume-io.c) reaches
 * all three only through a struct sv_store, so the same format, crypto
 * and crash rule run over two backends:
 *
 *   file (store-file.c)  ROOT/TENANT/volumes/VOL/{superblock,data,meta},
 *                        I/O through an engine (io.h), flock for locks;
 *   rbd  (store-rbd.c)   RBD images and a RADOS object in a Ceph pool,
 *                        I/O through librbd, RBD locks (docs/format.md).
 *
 * The seam is a request batch like io.h's, but naming the volume's data
 * or metadata instead of a file descriptor: the file store turns it into
 * an engine batch, the RBD store into librbd aio.  Ordered batches keep
 * io.h's meaning (each request visible before the next starts: metadata
 * before data, the crash rule), so the volume code is the same for both.
 */
#ifndef SEALVOL_STORE_H
#define SEALVOL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format.h"
#include "io.h"

enum sv_store_obj { SV_STORE_DATA, SV_STORE_META };

struct sv_store_req {
  enum sv_io_op op;             /* SV_IO_FDATASYNC: make obj durable */
  enum sv_store_obj obj;
  void *buf;
  size_t len;
  uint64_t off;
};

/* The lock a volume open takes: one writer, or readers that share. */
enum sv_store_lock { SV_STORE_SHARED, SV_STORE_EXCLUSIVE };

struct sv_store;

struct sv_store_ops {
  const char *name;             /* "file", "rbd" */
  /* Run every request; 0, or -1 with errno of the first that failed. */
  int (*submit) (struct sv_store *s, struct sv_store_req *reqs, size_t n,
                 bool ordered);
  /* The superblock: read it, or replace it atomically and durably. */
  int (*sb_read) (struct sv_store *s, uint8_t buf[SV_SUPERBLOCK_LEN]);
  int (*sb_write) (struct sv_store *s, const uint8_t buf[SV_SUPERBLOCK_LEN]);
  /* Serialise superblock read-modify-writes across processes (and, for
   * rbd, gateways); shared for a plain read. */
  int (*sb_lock) (struct sv_store *s, bool exclusive);
  void (*sb_unlock) (struct sv_store *s);
  /* The volume lock, not waiting: -1 with EBUSY if another holds it, and
   * who in holder (a phrase, "" where the backend cannot tell). */
  int (*lock) (struct sv_store *s, enum sv_store_lock mode, char *holder,
               size_t len);
  /* Open the metadata (AEAD volumes only have it), with a message if it
   * is missing. */
  int (*open_meta) (struct sv_store *s);
  int (*length) (struct sv_store *s, enum sv_store_obj obj, uint64_t *len);
  /* Grow obj from `from` bytes (what the superblock covers) to `to`,
   * durably; whatever lay past `from` reads as zeros afterwards. */
  int (*grow) (struct sv_store *s, enum sv_store_obj obj, uint64_t from,
               uint64_t to);
  /* lseek's SEEK_DATA (hole false) or SEEK_HOLE: -1 with ENXIO when no
   * data follows.  A store that cannot tell reports everything as data. */
  int (*seek) (struct sv_store *s, enum sv_store_obj obj, uint64_t off,
               bool hole, uint64_t *out);
  /* Crypto-erase: noise over the superblock, durably. */
  int (*destroy_key) (struct sv_store *s);
  /* Remove everything of the volume (after destroy_key). */
  int (*remove) (struct sv_store *s);
  void (*free) (struct sv_store *s);
};

struct sv_store {
  const struct sv_store_ops *ops;
  char tenant[64], name[64];    /* for messages */
};

/* Where a tenant keeps its volumes: tenant.conf's [store] section, or a
 * server's parameters over it.  backend NULL or "file": the directory. */
struct sv_store_conf {
  char *backend, *pool, *ceph_conf, *ceph_id;
};

bool sv_store_conf_is_rbd (const struct sv_store_conf *c);
/* Set one key of [store] (backend, pool, ceph-conf, ceph-id); 0, or -1
 * with *why saying what is wrong with key or value (NULL: no memory).
 * No message: tenant.conf's parser reports the line instead. */
int sv_store_conf_set (struct sv_store_conf *c, const char *key,
                       const char *value, const char **why);
/* Refuse an incomplete conf (rbd without a pool) with one line. */
int sv_store_conf_check (const struct sv_store_conf *c);
void sv_store_conf_free (struct sv_store_conf *c);

/* What a store open does, from the volume's open flags (volume.h). */
struct sv_store_open {
  bool readonly;                /* data and metadata read-only */
  bool sb_write;                /* the superblock writable anyway */
  bool direct;                  /* file: data with O_DIRECT */
};

/* The file store over the volume directory dir; takes io (never NULL).
 * NULL after a message naming tenant/name. */
struct sv_store *sv_store_file_open (const char *tenant, const char *name,
                                     const char *dir,
                                     const struct sv_store_open *o,
                                     struct sv_io_engine *io);
/* Create the files of a new volume in dir (made here, 0700); the
 * superblock last.  No message: the caller words it.  -1 if dir could
 * not be made (EEXIST: it exists), -2 (errno kept) if a file could not,
 * after removing what was made. */
int sv_store_file_create (const char *dir, uint64_t size, uint64_t meta_size,
                          const uint8_t sb[SV_SUPERBLOCK_LEN]);
/* Remove the volume files in dir and dir itself (no link followed). */
void sv_store_file_remove_dir (const char *dir);
/* The file store's descriptor of obj (the metadata mapping wants it), or
 * -1 for any other store. */
int sv_store_file_fd (struct sv_store *s, enum sv_store_obj obj);

/* The RBD store (store-rbd.c). */
struct sv_store *sv_store_rbd_open (const struct sv_store_conf *c,
                                    const char *tenant, const char *name,
                                    const struct sv_store_open *o);
int sv_store_rbd_create (const struct sv_store_conf *c, const char *tenant,
                         const char *name, uint64_t size, uint64_t meta_size,
                         const uint8_t sb[SV_SUPERBLOCK_LEN]);
/* The tenant's volume names (NULL-terminated, sorted; sv_free_names). */
char **sv_store_rbd_names (const struct sv_store_conf *c, const char *tenant);
/* Break the volume lock of a dead gateway: blocklist its client address
 * (so nothing it still has in flight lands), then remove its lock.
 * *who gets the holder broken ("" if none was held). */
int sv_store_rbd_break_lock (const struct sv_store_conf *c,
                             const char *tenant, const char *name,
                             char *who, size_t len);

#endif
