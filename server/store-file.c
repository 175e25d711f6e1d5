/* sealvol: the file store: a volume as three files in its directory,
 * ROOT/TENANT/volumes/VOL/{superblock,data,meta} (docs/format.md).  This
 * is the store every volume had before store.h; its files, its locks and
 * its order of writes are unchanged. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "fsutil.h"
#include "report.h"
#include "store.h"

struct file_store {
  struct sv_store s;
  char *dir;
  int sb_fd, data_fd, meta_fd;  /* meta_fd -1 until open_meta (AEAD) */
  bool readonly;
  struct sv_io_engine *io;
};

static struct file_store *
fs_of (struct sv_store *s)
{
  return (struct file_store *) s;
}

static int
open_in (const char *dir, const char *leaf, int flags, mode_t mode)
{
  char path[4096];

  if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, leaf) >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return open (path, flags | O_CLOEXEC | O_NOFOLLOW, mode);
}

static int
fd_of (struct file_store *f, enum sv_store_obj obj)
{
  return obj == SV_STORE_DATA ? f->data_fd : f->meta_fd;
}

/* Up to 8 requests go through on the stack (the data path issues at most
 * four); longer batches are split, which only an unordered batch may be. */
static int
file_submit (struct sv_store *s, struct sv_store_req *reqs, size_t n,
             bool ordered)
{
  struct file_store *f = fs_of (s);
  struct sv_io_req io[8];

  while (n > 0) {
    size_t k = n < 8 ? n : 8;
    for (size_t i = 0; i < k; i++)
      io[i] = (struct sv_io_req) { reqs[i].op, fd_of (f, reqs[i].obj),
                                   reqs[i].buf, reqs[i].len, reqs[i].off };
    if (f->io->submit (f->io, io, k, ordered) == -1)
      return -1;
    reqs += k;
    n -= k;
  }
  return 0;
}

static int
file_sb_read (struct sv_store *s, uint8_t buf[SV_SUPERBLOCK_LEN])
{
  return sv_read_all (fs_of (s)->sb_fd, buf, SV_SUPERBLOCK_LEN, 0);
}

/* One aligned 4096-byte write, assumed atomic (docs/format.md). */
static int
file_sb_write (struct sv_store *s, const uint8_t buf[SV_SUPERBLOCK_LEN])
{
  int fd = fs_of (s)->sb_fd;

  return sv_write_all (fd, buf, SV_SUPERBLOCK_LEN, 0) == -1
    || fdatasync (fd) == -1 ? -1 : 0;
}

static int
file_sb_lock (struct sv_store *s, bool exclusive)
{
  return flock (fs_of (s)->sb_fd, exclusive ? LOCK_EX : LOCK_SH);
}

static void
file_sb_unlock (struct sv_store *s)
{
  flock (fs_of (s)->sb_fd, LOCK_UN);
}

/* On the data file: one writer per volume across processes, readers
 * (verify) share. */
static int
file_lock (struct sv_store *s, enum sv_store_lock mode, char *holder,
           size_t len)
{
  int op = mode == SV_STORE_EXCLUSIVE ? LOCK_EX : LOCK_SH;

  if (len)
    holder[0] = '\0';
  if (flock (fs_of (s)->data_fd, op | LOCK_NB) == 0)
    return 0;
  errno = EBUSY;
  return -1;
}

static int
file_open_meta (struct sv_store *s)
{
  struct file_store *f = fs_of (s);

  f->meta_fd = open_in (f->dir, "meta", f->readonly ? O_RDONLY : O_RDWR, 0);
  if (f->meta_fd >= 0)
    return 0;
  sv_error ("volume %s/%s: cannot open metadata file: %m", s->tenant,
            s->name);
  return -1;
}

static int
file_length (struct sv_store *s, enum sv_store_obj obj, uint64_t *len)
{
  struct stat st;

  if (fstat (fd_of (fs_of (s), obj), &st) == -1)
    return -1;
  *len = (uint64_t) st.st_size;
  return 0;
}

/* Cutting the file back to `from` first turns whatever a resize cut
 * short left past the old end into a hole. */
static int
file_grow (struct sv_store *s, enum sv_store_obj obj, uint64_t from,
           uint64_t to)
{
  struct file_store *f = fs_of (s);
  int fd = open_in (f->dir, obj == SV_STORE_DATA ? "data" : "meta",
                    O_WRONLY, 0);
  int r;

  if (fd == -1)
    return -1;
  r = ftruncate (fd, (off_t) from) == -1 || ftruncate (fd, (off_t) to) == -1
    || fsync (fd) == -1 ? -1 : 0;
  close (fd);
  return r;
}

static int
file_seek (struct sv_store *s, enum sv_store_obj obj, uint64_t off, bool hole,
           uint64_t *out)
{
  off_t d = lseek (fd_of (fs_of (s), obj), (off_t) off,
                   hole ? SEEK_HOLE : SEEK_DATA);

  if (d == -1)
    return -1;
  *out = (uint64_t) d;
  return 0;
}

static int
file_destroy_key (struct sv_store *s)
{
  uint8_t noise[SV_SUPERBLOCK_LEN];
  int fd = fs_of (s)->sb_fd;

  randombytes_buf (noise, sizeof noise);
  return sv_write_all (fd, noise, sizeof noise, 0) == -1 || fsync (fd) == -1
    ? -1 : 0;
}

extern const char *const sv_volume_files[];     /* volume-force.c */

void
sv_store_file_remove_dir (const char *dir)
{
  /* Through a handle on the directory itself, never following a link:
   * volumes/ is the serving user's, who could otherwise swap VOL for a
   * symbolic link between the key check and the removal, and have root
   * unlink files in a directory of its choosing. */
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (dfd == -1)
    return;
  for (const char *const *l = sv_volume_files; *l; l++)
    unlinkat (dfd, *l, 0);
  close (dfd);
  rmdir (dir);
}

/* The files, then the directory above made durable. */
static int
file_remove (struct sv_store *s)
{
  struct file_store *f = fs_of (s);
  char *parent = sv_parent_dir (f->dir);

  sv_store_file_remove_dir (f->dir);
  if (parent)
    sv_fsync_dir (parent);
  free (parent);
  return 0;
}

static void
file_free (struct sv_store *s)
{
  struct file_store *f = fs_of (s);

  if (f->meta_fd >= 0)
    close (f->meta_fd);
  if (f->data_fd >= 0)
    close (f->data_fd);
  if (f->sb_fd >= 0)
    close (f->sb_fd);
  if (f->io)
    f->io->free (f->io);
  free (f->dir);
  free (f);
}

static const struct sv_store_ops file_ops = {
  .name = "file",
  .submit = file_submit,
  .sb_read = file_sb_read,
  .sb_write = file_sb_write,
  .sb_lock = file_sb_lock,
  .sb_unlock = file_sb_unlock,
  .lock = file_lock,
  .open_meta = file_open_meta,
  .length = file_length,
  .grow = file_grow,
  .seek = file_seek,
  .destroy_key = file_destroy_key,
  .remove = file_remove,
  .free = file_free,
};

int
sv_store_file_fd (struct sv_store *s, enum sv_store_obj obj)
{
  return s->ops == &file_ops ? fd_of (fs_of (s), obj) : -1;
}

static int
open_files (struct file_store *f, const struct sv_store_open *o)
{
  int rw = o->readonly ? O_RDONLY : O_RDWR;

  f->sb_fd = open_in (f->dir, "superblock", o->sb_write ? O_RDWR : rw, 0);
  if (f->sb_fd == -1) {
    if (errno == ENOENT)
      sv_error ("no such volume: %s/%s", f->s.tenant, f->s.name);
    else
      sv_error ("cannot open volume %s/%s: %m", f->s.tenant, f->s.name);
    return -1;
  }
  /* Every data transfer is whole 4 KiB blocks into page-aligned buffers,
   * as O_DIRECT wants. */
  if (o->direct && !o->readonly)
    rw |= O_DIRECT;
  f->data_fd = open_in (f->dir, "data", rw, 0);
  if (f->data_fd == -1 && errno == EINVAL && (rw & O_DIRECT)) {
    sv_error ("volume %s/%s: the file system refuses O_DIRECT (direct=true)",
              f->s.tenant, f->s.name);
    return -1;
  }
  if (f->data_fd == -1) {
    sv_error ("volume %s/%s: cannot open data file: %m", f->s.tenant,
              f->s.name);
    return -1;
  }
  return 0;
}

struct sv_store *
sv_store_file_open (const char *tenant, const char *name, const char *dir,
                    const struct sv_store_open *o, struct sv_io_engine *io)
{
  struct file_store *f = calloc (1, sizeof *f);

  if (f == NULL) {
    io->free (io);
    return NULL;
  }
  f->s.ops = &file_ops;
  snprintf (f->s.tenant, sizeof f->s.tenant, "%s", tenant);
  snprintf (f->s.name, sizeof f->s.name, "%s", name);
  f->sb_fd = f->data_fd = f->meta_fd = -1;
  f->readonly = o->readonly;
  f->io = io;
  f->dir = strdup (dir);
  if (f->dir == NULL || open_files (f, o) == -1) {
    file_free (&f->s);
    return NULL;
  }
  return &f->s;
}

/* A sparse file of exactly size bytes. */
static int
create_sparse (const char *dir, const char *leaf, uint64_t size)
{
  int fd = open_in (dir, leaf, O_WRONLY | O_CREAT | O_EXCL, 0600);
  int r;

  if (fd == -1)
    return -1;
  r = sv_take_dir_owner (fd, dir) == -1 || ftruncate (fd, (off_t) size) == -1
      || fsync (fd) == -1 ? -1 : 0;
  close (fd);
  return r;
}

int
sv_store_file_create (const char *dir, uint64_t size, uint64_t meta_size,
                      const uint8_t sb[SV_SUPERBLOCK_LEN])
{
  int e;

  if (sv_mkdir_owned (dir, 0700) == -1)
    return -1;
  /* The superblock is written last: a volume exists once it is there. */
  if (create_sparse (dir, "data", size) == 0
      && (meta_size == 0 || create_sparse (dir, "meta", meta_size) == 0)
      && sv_replace_file (dir, "superblock", sb, SV_SUPERBLOCK_LEN, 0600)
         == 0)
    return 0;
  e = errno;
  sv_store_file_remove_dir (dir);
  errno = e;
  return -2;
}
