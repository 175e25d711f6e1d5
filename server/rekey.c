/* sealvol: volume rekey (offline): a new volume key, all data re-encrypted.
 *
 *   1. Leftovers of an earlier rekey (volumes/.VOL.rekey) are erased.
 *   2. The volume is opened exclusively (refused while served) and a new
 *      volume is built beside it in volumes/.VOL.rekey: same id, size,
 *      cipher and service type, a fresh random key, key version + 1.
 *   3. Every block that holds data is read (and so authenticated) and
 *      written into the new volume; zero ranges are skipped.
 *   4. The two directories are swapped in one atomic renameat2
 *      (RENAME_EXCHANGE).
 *   5. The old key is destroyed (noise over its superblock, fsync), then
 *      the old files are removed.
 * Steps 4 and 5 hold the live superblock's flock, after checking that the
 * size is still the copy's: "volume resize" runs beside a server, so it
 * does not wait for the volume lock, but it holds that flock throughout.
 * A crash before 4 leaves the old volume as it was; after 4, the new one.
 * Either way step 1 of the next run clears what is left.
 * The whole rekey holds the tenant's key lock shared (tenant.h): the new
 * superblock is wrapped under the tenant key of its start, which a key
 * rotation must not destroy before the swap.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit.h"
#include "fault.h"
#include "fsutil.h"
#include "report.h"
#include "volume-impl.h"

#define COPY_CHUNK (1024 * 1024)

/* The copy walks the source's extents; each call of copy_extent gets the
 * next run, and `reached` tells copy_data where to ask for more. */
struct copy_state {
  struct sv_volume *from, *to;
  uint8_t *buf;
  uint64_t reached;
  bool failed;
};

static int
copy_extent (void *opaque, uint64_t off, uint64_t len, bool zero)
{
  struct copy_state *cs = opaque;

  cs->reached = off + len;
  if (zero)
    return 0;                   /* the new volume reads zeros already */
  while (len > 0) {
    uint32_t n = len < COPY_CHUNK ? (uint32_t) len : COPY_CHUNK;
    if (sv_volume_read (cs->from, cs->buf, n, off) == -1
        || sv_volume_write (cs->to, cs->buf, n, off, false) == -1) {
      cs->failed = true;
      return -1;
    }
    off += n;
    len -= n;
  }
  return 0;
}

static int
copy_data (struct sv_volume *from, struct sv_volume *to)
{
  struct copy_state cs = { from, to, malloc (COPY_CHUNK), 0, false };
  uint64_t size = sv_volume_size (from);
  int r = 0;

  if (cs.buf == NULL)
    return -1;
  while (cs.reached < size && r == 0) {
    uint64_t pos = cs.reached, left = size - pos;
    uint32_t ask = left > (UINT64_C (1) << 30) ? 1U << 30 : (uint32_t) left;
    r = sv_volume_extents (from, ask, pos, copy_extent, &cs);
    if (cs.failed || cs.reached <= pos)
      r = -1;
  }
  sv_wipe (cs.buf, COPY_CHUNK);
  free (cs.buf);
  return r;
}

static int
build_new_volume (const struct sv_tenant *t, const char *name,
                  const char *tmpdir, struct sv_volume *from)
{
  const struct sv_superblock *sb = sv_volume_superblock (from);
  struct sv_create_params p = { .size = sb->size, .cipher = (int) sb->cipher,
                                .service_type = sb->service_type };
  struct sv_volume *to;
  int r;

  if (sv_volume_create_in (t, tmpdir, name, &p, sb) == -1)
    return -1;
  to = sv_volume_open_in (t, name, tmpdir, 0, NULL);
  if (to == NULL)
    return -1;
  r = copy_data (from, to);
  if (sv_volume_close (to) == -1)
    r = -1;
  return r;
}

/* The live superblock, flocked, if the volume still has the copy's size;
 * otherwise a resize since the copy was sized would be undone by the
 * swap.  A resize that waits for the flock meanwhile finds the old
 * superblock destroyed by then, and fails.  Close the fd to unlock. */
static int
lock_same_size (const struct sv_tenant *t, const char *name, const char *dir,
                uint64_t size)
{
  uint8_t buf[SV_SUPERBLOCK_LEN];
  struct sv_superblock sb;
  const char *why;
  char path[4096];
  int fd;

  snprintf (path, sizeof path, "%s/superblock", dir);
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd == -1 || flock (fd, LOCK_EX) == -1
      || sv_read_all (fd, buf, sizeof buf, 0) == -1)
    sv_error ("rekey of %s/%s: cannot lock its superblock: %m", t->name,
              name);
  else if (sv_superblock_decode (buf, &sb, &why) == 0 && sb.size == size)
    return fd;
  else {
    errno = EBUSY;
    sv_error ("rekey of %s/%s failed: the volume was resized meanwhile; it "
              "is unchanged, run the rekey again", t->name, name);
  }
  if (fd >= 0)
    close (fd);
  return -1;
}

/* Steps 4 and 5; parent is the volumes directory. */
static int
swap_in (const struct sv_tenant *t, const char *name, const char *dir,
         const char *tmpdir, const char *parent, uint64_t size)
{
  int fd = lock_same_size (t, name, dir, size);
  int r = -1;

  if (fd == -1) {
    sv_volume_erase_dir (tmpdir);
    return -1;
  }
  if (renameat2 (AT_FDCWD, tmpdir, AT_FDCWD, dir, RENAME_EXCHANGE) == -1
      || sv_fsync_dir (parent) == -1) {
    sv_error ("rekey of %s/%s: cannot swap in the new volume: %m", t->name,
              name);
    sv_volume_erase_dir (tmpdir);
  }
  else {
    sv_fault_point ("rekey:after-swap");
    r = sv_volume_erase_dir (tmpdir);     /* the old key and data */
  }
  close (fd);
  return r;
}

/* Refuse a volume that is served (or verified) with one line saying what
 * to do: the open below would refuse it too, as "in use".  The rekey
 * works only offline; re-encrypting a served volume is not implemented. */
static int
check_offline (const struct sv_tenant *t, const char *name, const char *dir)
{
  char path[4096];
  int fd;

  snprintf (path, sizeof path, "%s/data", dir);
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd == -1)
    return 0;                   /* the open reports it */
  if (flock (fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK) {
    close (fd);
    errno = EBUSY;
    sv_error ("volume %s/%s is in use (served, or being verified): volume "
              "rekey works only offline; disconnect its clients or stop the "
              "tenant's server, then run it again", t->name, name);
    return -1;
  }
  close (fd);
  return 0;
}

int
sv_volume_rekey (const struct sv_tenant *t, const char *name)
{
  char *dir = sv_tenant_volume_dir (t, name), *tmpdir = NULL, *parent = NULL;
  struct sv_volume *from = NULL;
  uint32_t version = 0;
  uint64_t size;
  int lock = -1, r = -1;

  if (sv_store_refuse_rbd (t, name, "rekey") == -1)
    goto out;
  if (dir == NULL || asprintf (&tmpdir, "%s/volumes/.%s.rekey", t->dir, name) == -1
      || asprintf (&parent, "%s/volumes", t->dir) == -1
      || (lock = sv_tenant_key_lock (t->dir, LOCK_SH)) == -1)
    goto out;
  if (check_offline (t, name, dir) == -1
      || (access (tmpdir, F_OK) == 0 && sv_volume_erase_dir (tmpdir) == -1))
    goto out;
  if ((from = sv_volume_open (t, name, 0, NULL)) == NULL)
    goto out;
  version = sv_volume_superblock (from)->volume_key_version + 1;
  size = sv_volume_size (from);
  if (build_new_volume (t, name, tmpdir, from) == -1) {
    sv_error ("rekey of %s/%s failed; the volume is unchanged", t->name, name);
    sv_volume_close (from);
    from = NULL;
    sv_volume_erase_dir (tmpdir);
    goto out;
  }
  sv_volume_close (from);
  from = NULL;
  sv_fault_point ("rekey:before-swap");
  r = swap_in (t, name, dir, tmpdir, parent, size);
  if (r == 0) {
    json_object *e = sv_audit_event ("volume-rekey", t->name);
    json_object_object_add (e, "volume", json_object_new_string (name));
    json_object_object_add (e, "volume_key_version",
                            json_object_new_int64 (version));
    sv_audit_write (t->dir, e);
  }
 out:
  if (from)
    sv_volume_close (from);
  if (lock >= 0)
    close (lock);
  free (dir);
  free (tmpdir);
  free (parent);
  return r;
}
