/* sealvol: volumes that no longer open: how they are broken, and
 * "volume delete --force".
 *
 * A create that crashed leaves a directory without a superblock; a damaged
 * disk, a superblock too short to decode.  Neither opens, so the ordinary
 * delete (which opens the volume to prove the key and take its lock)
 * cannot remove them, and a create of the name finds the directory.  The
 * forced delete needs no key: it takes the locks the ordinary one takes
 * where their files exist, overwrites every byte of every file that can
 * hold a wrapped key with noise and syncs it, and only then removes the
 * files and the directory.  Rekey leftovers (volumes/.NAME.rekey) hold a
 * wrapped key of the same volume and go the same way.  A file sealvol did
 * not make stops it before anything changes.
 *
 * Everything goes through directory descriptors with O_NOFOLLOW: the tenant
 * directory belongs to the serving user, who could otherwise swap in a
 * symlink under a command run as root.
 */
#include <config.h>

#include <dirent.h>
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
#include "names.h"
#include "report.h"
#include "volume-impl.h"

/* Every file a volume directory holds; the first SV_KEY_FILES may hold a
 * wrapped volume key (.superblock.tmp: a superblock update cut short). */
const char *const sv_volume_files[] = {
  "superblock", ".superblock.tmp", "data", "meta", "stats.json",
  ".stats.json.tmp", NULL
};
#define SV_KEY_FILES 2

static bool
is_volume_file (const char *leaf)
{
  for (const char *const *f = sv_volume_files; *f; f++)
    if (strcmp (*f, leaf) == 0)
      return true;
  return false;
}

static int
open_volumes_dir (const struct sv_tenant *t)
{
  char path[4096];
  int fd;

  if ((size_t) snprintf (path, sizeof path, "%s/volumes", t->dir) >= sizeof path) {
    errno = ENAMETOOLONG;
    return sv_error ("cannot open the volumes of %s: %m", t->name), -1;
  }
  fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1)
    sv_error ("cannot open %s: %m", path);
  return fd;
}

static int
open_at (int dfd, const char *leaf, int flags)
{
  return openat (dfd, leaf, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
}

/* ---- diagnosis ---- */

/* What is wrong with the superblock file, or NULL if it decodes. */
static const char *
superblock_problem (int dfd, char *why, size_t len)
{
  uint8_t buf[SV_SUPERBLOCK_LEN];
  struct sv_superblock sb;
  const char *decode_why = NULL;
  int fd = open_at (dfd, "superblock", O_RDONLY);
  ssize_t n;

  if (fd == -1 && errno == ENOENT)
    return snprintf (why, len, "it has no superblock (a create that did "
                     "not finish?)"), why;
  if (fd == -1)
    return snprintf (why, len, "its superblock cannot be opened (%m)"), why;
  n = pread (fd, buf, sizeof buf, 0);
  close (fd);
  if (n < (ssize_t) sizeof buf)
    return snprintf (why, len, "its superblock is truncated (%zd of %d "
                     "bytes)", n < 0 ? 0 : n, SV_SUPERBLOCK_LEN), why;
  if (sv_superblock_decode (buf, &sb, &decode_why) == -1)
    return snprintf (why, len, "its superblock does not decode (%s)",
                     decode_why), why;
  return NULL;
}

const char *
sv_volume_breakage (const struct sv_tenant *t, const char *name, char *why,
                    size_t len)
{
  const char *problem = NULL;
  int vfd, dfd;
  struct stat st;

  if (sv_name_problem (name) || (vfd = open_volumes_dir (t)) == -1)
    return NULL;
  dfd = open_at (vfd, name, O_RDONLY | O_DIRECTORY);
  close (vfd);
  if (dfd == -1)
    return NULL;                /* none at all: "no such volume" says it */
  problem = superblock_problem (dfd, why, len);
  if (problem == NULL && fstatat (dfd, "data", &st, AT_SYMLINK_NOFOLLOW) == -1)
    problem = (snprintf (why, len, "its data file is missing"), why);
  close (dfd);
  return problem;
}

/* ---- the forced delete ---- */

/* Refuse a directory that holds anything sealvol did not put there. */
static int
check_only_volume_files (int dfd, const char *spec)
{
  DIR *d;
  struct dirent *de;
  struct stat st;
  int fd = dup (dfd), r = 0;

  if (fd == -1 || (d = fdopendir (fd)) == NULL) {
    if (fd != -1)
      close (fd);
    return sv_error ("volume %s: cannot list its directory: %m", spec), -1;
  }
  while (r == 0 && (de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    if (!is_volume_file (de->d_name))
      sv_error ("volume %s: its directory holds '%s', which is not a volume "
                "file; nothing removed", spec, de->d_name);
    else if (fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1
             || !S_ISREG (st.st_mode))
      sv_error ("volume %s: its '%s' is not a regular file; nothing removed",
                spec, de->d_name);
    else
      continue;
    r = -1;
  }
  closedir (d);
  return r;
}

/* Take leaf's flock as the ordinary delete would (*fd -1: no such file).
 * data: refused while a server or a verify has the volume open. */
static int
lock_file (int dfd, const char *leaf, int how, const char *spec, int *fd)
{
  *fd = open_at (dfd, leaf, O_RDONLY);
  if (*fd == -1)
    return errno == ENOENT ? 0
      : (sv_error ("volume %s: cannot open %s: %m", spec, leaf), -1);
  if (flock (*fd, how) == 0)
    return 0;
  if (errno == EWOULDBLOCK)
    sv_error ("volume %s is in use by another process", spec);
  else
    sv_error ("volume %s: cannot lock %s: %m", spec, leaf);
  close (*fd);
  *fd = -1;
  return -1;
}

/* Noise over every byte of leaf, synced.  *len: its size, -1 if none. */
static int
overwrite_with_noise (int dfd, const char *leaf, const char *spec,
                      off_t *len)
{
  uint8_t noise[SV_SUPERBLOCK_LEN];
  int fd = open_at (dfd, leaf, O_WRONLY);
  struct stat st;
  off_t off;
  int r = 0;

  *len = -1;
  if (fd == -1)
    return errno == ENOENT ? 0
      : (sv_error ("volume %s: cannot open %s: %m", spec, leaf), -1);
  if (fstat (fd, &st) == -1)
    r = -1;
  for (off = 0; r == 0 && off < st.st_size; off += (off_t) sizeof noise) {
    size_t n = st.st_size - off < (off_t) sizeof noise
      ? (size_t) (st.st_size - off) : sizeof noise;
    randombytes_buf (noise, n);
    r = sv_write_all (fd, noise, n, (uint64_t) off);
  }
  if (r == 0 && fsync (fd) == -1)
    r = -1;
  if (r == -1)
    sv_error ("volume %s: cannot overwrite %s: %m", spec, leaf);
  else
    *len = st.st_size;
  close (fd);
  return r;
}

/* Append item to list, comma-separated. */
static void
add_item (char *list, size_t len, const char *item)
{
  size_t used = strlen (list);

  if (used < len)
    snprintf (list + used, len - used, "%s%s", used ? ", " : "", item);
}

static int
overwrite_key_files (int dfd, const char *spec, struct sv_erase_report *rep)
{
  char item[64];
  off_t n;

  for (int i = 0; i < SV_KEY_FILES; i++) {
    if (overwrite_with_noise (dfd, sv_volume_files[i], spec, &n) == -1)
      return -1;
    snprintf (item, sizeof item, "%s (%lld bytes)", sv_volume_files[i],
              (long long) n);
    if (n >= 0)
      add_item (rep->overwritten, sizeof rep->overwritten, item);
  }
  return 0;
}

static void
unlink_volume_files (int dfd, struct sv_erase_report *rep)
{
  for (const char *const *f = sv_volume_files; *f; f++)
    if (unlinkat (dfd, *f, 0) == 0)
      add_item (rep->removed, sizeof rep->removed, *f);
}

/* Erase the volume directory leaf of the volumes directory vfd: the keys
 * first and durably, then the files, then the directory (as rep says).
 * 1 if there was no such directory. */
static int
erase_volume_dir (int vfd, const char *leaf, const char *spec,
                  struct sv_erase_report *rep)
{
  int dfd = open_at (vfd, leaf, O_RDONLY | O_DIRECTORY);
  int data_fd = -1, sb_fd = -1, r = -1;

  if (dfd == -1)
    return errno == ENOENT ? 1
      : (sv_error ("volume %s: cannot open its directory: %m", spec), -1);
  if (check_only_volume_files (dfd, spec) == 0
      && lock_file (dfd, "data", LOCK_EX | LOCK_NB, spec, &data_fd) == 0
      && lock_file (dfd, "superblock", LOCK_EX, spec, &sb_fd) == 0
      && overwrite_key_files (dfd, spec, rep) == 0) {
    unlink_volume_files (dfd, rep);
    r = unlinkat (vfd, leaf, AT_REMOVEDIR);
    if (r == -1)
      sv_error ("volume %s: cannot remove its directory: %m", spec);
    fsync (vfd);
  }
  if (sb_fd != -1)
    close (sb_fd);
  if (data_fd != -1)
    close (data_fd);
  close (dfd);
  return r;
}

int
sv_volume_erase_rekey_leftover (const struct sv_tenant *t, const char *name,
                                struct sv_erase_report *rep)
{
  char leaf[80], spec[160];
  int vfd, r;

  snprintf (leaf, sizeof leaf, ".%s.rekey", name);
  snprintf (spec, sizeof spec, "%s/%s (rekey leftover)", t->name, name);
  if ((vfd = open_volumes_dir (t)) == -1)
    return -1;
  r = erase_volume_dir (vfd, leaf, spec, rep);
  if (r == 0)
    rep->rekey_leftover = true;
  close (vfd);
  return r == -1 ? -1 : 0;
}

int
sv_volume_delete_force (const struct sv_tenant *t, const char *name,
                        struct sv_erase_report *rep)
{
  char spec[160];
  int vfd, r;

  memset (rep, 0, sizeof *rep);
  if (sv_name_problem (name)) {
    errno = EINVAL;
    return sv_error ("volume name '%s' %s", name, sv_name_problem (name)), -1;
  }
  if (sv_store_refuse_rbd (t, name, "delete --force") == -1)
    return -1;
  snprintf (spec, sizeof spec, "%s/%s", t->name, name);
  if ((vfd = open_volumes_dir (t)) == -1)
    return -1;
  r = erase_volume_dir (vfd, name, spec, rep);
  close (vfd);
  if (r == 1) {
    errno = ENOENT;
    sv_error ("no such volume: %s", spec);
  }
  if (r != 0)
    return -1;
  return sv_volume_erase_rekey_leftover (t, name, rep);
}
