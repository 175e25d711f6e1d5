/* sealvol: the RBD store: a volume in a Ceph pool (docs/format.md,
 * "The RBD store").  In the pool's RADOS namespace sealvol.TENANT:
 *
 *   image  VOL.data        the ciphertext, the volume's size
 *   image  VOL.meta        the metadata slots (AEAD only), as the meta file
 *   object VOL.superblock  the superblock, 4096 bytes, replaced whole
 *
 * librbd runs with its cache off, so a completed write is on the OSDs
 * (they acknowledge after their commit): an ordered batch waits for each
 * request before issuing the next, and the slot is durable before its
 * data is sent, the crash rule of the file store.  One gateway at a time:
 * an advisory RBD lock on VOL.data with a cookie naming the host and
 * process; a dead holder is blocklisted and its lock broken only by
 * 'sealvol volume break-lock'.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <rbd/features.h>
#include <sodium.h>

#include "report.h"
#include "store.h"
#include "format.h"

#define SB_LOCK_NAME "sealvol-superblock"
#define SB_LOCK_SECONDS 30      /* a dead process's lock lapses */
#define LOCK_TAG "sealvol"

struct rbd_store {
  struct sv_store s;
  rados_t cluster;
  rados_ioctx_t ioctx;
  rbd_image_t data, meta;       /* meta NULL until open_meta */
  bool locked;
  char cookie[128];
  char oid[96];                 /* VOL.superblock */
};

static struct rbd_store *
rs_of (struct sv_store *s)
{
  return (struct rbd_store *) s;
}

/* ---- connecting ---- */

/* A cluster handle from the conf: its ceph.conf (NULL: librados's search,
 * $CEPH_CONF first) and client id (NULL: admin); the RBD cache off (see
 * the top of this file) and a bounded wait for an unreachable cluster. */
static int
connect_cluster (const struct sv_store_conf *c, rados_t *cluster)
{
  int r;

  if ((r = rados_create (cluster, c->ceph_id)) < 0)
    return r;
  if ((r = rados_conf_read_file (*cluster, c->ceph_conf)) < 0
      || (r = rados_conf_set (*cluster, "rbd_cache", "false")) < 0
      || (r = rados_conf_set (*cluster, "client_mount_timeout", "15")) < 0
      || (r = rados_connect (*cluster)) < 0) {
    rados_shutdown (*cluster);
    return r;
  }
  return 0;
}

static void
namespace_of (const char *tenant, char *ns, size_t len)
{
  snprintf (ns, len, "sealvol.%s", tenant);
}

/* Connect and open the pool in the tenant's namespace. */
static int
connect_pool (const struct sv_store_conf *c, const char *tenant,
              rados_t *cluster, rados_ioctx_t *ioctx)
{
  char ns[96];
  int r;

  if ((r = connect_cluster (c, cluster)) < 0) {
    errno = -r;
    sv_error ("cannot connect to the Ceph cluster (%s%s): %m",
              c->ceph_conf ? "ceph-conf " : "default ceph.conf",
              c->ceph_conf ? c->ceph_conf : "");
    return -1;
  }
  if ((r = rados_ioctx_create (*cluster, c->pool, ioctx)) < 0) {
    errno = -r;
    sv_error ("cannot open Ceph pool %s: %m", c->pool);
    rados_shutdown (*cluster);
    return -1;
  }
  namespace_of (tenant, ns, sizeof ns);
  rados_ioctx_set_namespace (*ioctx, ns);
  return 0;
}

static void
image_name (char *out, size_t len, const char *vol, const char *what)
{
  snprintf (out, len, "%s.%s", vol, what);
}

/* ---- the data path ---- */

static rbd_image_t
image_of (struct rbd_store *r, enum sv_store_obj obj)
{
  return obj == SV_STORE_DATA ? r->data : r->meta;
}

/* Start one request; its completion in *c. */
static int
start_req (struct rbd_store *rs, const struct sv_store_req *q,
           rbd_completion_t *c)
{
  rbd_image_t img = image_of (rs, q->obj);
  int r;

  if ((r = rbd_aio_create_completion (NULL, NULL, c)) < 0)
    return r;
  switch (q->op) {
  case SV_IO_READ:
    r = rbd_aio_read (img, q->off, q->len, q->buf, *c);
    break;
  case SV_IO_WRITE:
    r = rbd_aio_write (img, q->off, q->len, q->buf, *c);
    break;
  case SV_IO_FDATASYNC:
    r = rbd_aio_flush (img, *c);
    break;
  case SV_IO_PUNCH:
    r = rbd_aio_discard (img, q->off, q->len, *c);
    break;
  case SV_IO_ZERO_RANGE:
    r = rbd_aio_write_zeroes (img, q->off, q->len, *c, 0, 0);
    break;
  default:
    r = -EINVAL;
  }
  if (r < 0)
    rbd_aio_release (*c);
  return r;
}

/* Wait for a started request: 0 or a negative errno.  A read must fill
 * its whole buffer (every object has a known size, as sv_read_all). */
static int
finish_req (const struct sv_store_req *q, rbd_completion_t c)
{
  ssize_t r;

  rbd_aio_wait_for_complete (c);
  r = rbd_aio_get_return_value (c);
  rbd_aio_release (c);
  if (r >= 0 && q->op == SV_IO_READ && (size_t) r != q->len)
    return -EIO;
  return r < 0 ? (int) r : 0;
}

static int
rbd_submit (struct sv_store *s, struct sv_store_req *reqs, size_t n,
            bool ordered)
{
  struct rbd_store *rs = rs_of (s);
  rbd_completion_t c[8];
  int err = 0;

  while (n > 0 && err == 0) {
    size_t k = ordered ? 1 : n < 8 ? n : 8, started = 0;
    for (; started < k; started++)
      if ((err = start_req (rs, &reqs[started], &c[started])) < 0)
        break;
    for (size_t i = 0; i < started; i++) {
      int r = finish_req (&reqs[i], c[i]);
      if (err == 0)
        err = r;
    }
    reqs += k;
    n -= k;
  }
  if (err < 0) {
    errno = -err;
    return -1;
  }
  return 0;
}

/* ---- the superblock ---- */

static int
rbd_sb_read (struct sv_store *s, uint8_t buf[SV_SUPERBLOCK_LEN])
{
  struct rbd_store *rs = rs_of (s);
  int r = rados_read (rs->ioctx, rs->oid, (char *) buf, SV_SUPERBLOCK_LEN, 0);

  if (r == SV_SUPERBLOCK_LEN)
    return 0;
  errno = r < 0 ? -r : EIO;
  return -1;
}

/* A whole-object write is atomic in RADOS, and durable once it returns. */
static int
rbd_sb_write (struct sv_store *s, const uint8_t buf[SV_SUPERBLOCK_LEN])
{
  struct rbd_store *rs = rs_of (s);
  int r = rados_write_full (rs->ioctx, rs->oid, (const char *) buf,
                            SV_SUPERBLOCK_LEN);

  if (r == 0)
    return 0;
  errno = -r;
  return -1;
}

/* A RADOS lock on the superblock object, held at most SB_LOCK_SECONDS so
 * that a process killed while holding it does not stop the others for
 * good; taken again every 10 ms while another holds it. */
static int
rbd_sb_lock (struct sv_store *s, bool exclusive)
{
  struct rbd_store *rs = rs_of (s);
  struct timeval d = { SB_LOCK_SECONDS, 0 };
  int r;

  for (int i = 0; i < 100 * SB_LOCK_SECONDS; i++) {
    r = exclusive
      ? rados_lock_exclusive (rs->ioctx, rs->oid, SB_LOCK_NAME, rs->cookie,
                              "sealvol superblock update", &d, 0)
      : rados_lock_shared (rs->ioctx, rs->oid, SB_LOCK_NAME, rs->cookie,
                           LOCK_TAG, "sealvol superblock read", &d, 0);
    if (r == 0 || r == -EEXIST)
      return 0;
    if (r != -EBUSY)
      break;
    usleep (10000);
  }
  errno = -r;
  return -1;
}

static void
rbd_sb_unlock (struct sv_store *s)
{
  struct rbd_store *rs = rs_of (s);

  rados_unlock (rs->ioctx, rs->oid, SB_LOCK_NAME, rs->cookie);
}

/* ---- the volume lock ---- */

/* The first holder of an image's lock (the only one, for an exclusive
 * lock): 1, 0 if none, or a negative errno. */
struct holder {
  char client[256], cookie[256], addr[256];
};

static int
first_holder (rbd_image_t img, struct holder *h)
{
  char tag[64];
  size_t tl = sizeof tag, cl = sizeof h->client, kl = sizeof h->cookie,
    al = sizeof h->addr;
  int excl;
  ssize_t r = rbd_list_lockers (img, &excl, tag, &tl, h->client, &cl,
                                h->cookie, &kl, h->addr, &al);

  return r > 0 ? 1 : (int) r;
}

/* "locked by client.4151 at 10.0.0.5:0/2875 (host gw-a pid 77 open X)",
 * or "" if nobody holds the lock of img. */
static void
describe_holder (rbd_image_t img, char *out, size_t len)
{
  struct holder h;

  out[0] = '\0';
  if (first_holder (img, &h) == 1)
    snprintf (out, len, "locked by %s at %s (%s)", h.client, h.addr,
              h.cookie);
}

static int
rbd_lock (struct sv_store *s, enum sv_store_lock mode, char *holder,
          size_t len)
{
  struct rbd_store *rs = rs_of (s);
  int r = mode == SV_STORE_EXCLUSIVE
    ? rbd_lock_exclusive (rs->data, rs->cookie)
    : rbd_lock_shared (rs->data, rs->cookie, LOCK_TAG);

  if (r == 0 || r == -EEXIST) {
    rs->locked = true;
    return 0;
  }
  if (len)
    describe_holder (rs->data, holder, len);
  if (len && holder[0] == '\0')
    snprintf (holder, len, "cannot lock its data image: %s", strerror (-r));
  errno = r == -EBUSY ? EBUSY : -r;
  return -1;
}

/* ---- sizes, seeking ---- */

static int
rbd_open_meta (struct sv_store *s)
{
  struct rbd_store *rs = rs_of (s);
  char name[96];
  int r;

  image_name (name, sizeof name, s->name, "meta");
  if ((r = rbd_open (rs->ioctx, name, &rs->meta, NULL)) == 0)
    return 0;
  rs->meta = NULL;
  errno = -r;
  sv_error ("volume %s/%s: cannot open metadata image: %m", s->tenant,
            s->name);
  return -1;
}

static int
rbd_length (struct sv_store *s, enum sv_store_obj obj, uint64_t *len)
{
  int r = rbd_get_size (image_of (rs_of (s), obj), len);

  if (r == 0)
    return 0;
  errno = -r;
  return -1;
}

static int
rbd_grow (struct sv_store *s, enum sv_store_obj obj, uint64_t from,
          uint64_t to)
{
  rbd_image_t img = image_of (rs_of (s), obj);
  int r;

  if ((r = rbd_resize (img, from)) < 0 || (r = rbd_resize (img, to)) < 0) {
    errno = -r;
    return -1;
  }
  return 0;
}

/* Everything counts as data (an image's allocation is not queried yet):
 * correct, only slower for extents and verify over sparse volumes. */
static int
rbd_seek (struct sv_store *s, enum sv_store_obj obj, uint64_t off, bool hole,
          uint64_t *out)
{
  uint64_t len;

  if (rbd_length (s, obj, &len) == -1)
    return -1;
  if (off >= len) {
    errno = ENXIO;
    return -1;
  }
  *out = hole ? len : off;
  return 0;
}

/* ---- erase, close ---- */

static int
rbd_destroy_key (struct sv_store *s)
{
  uint8_t noise[SV_SUPERBLOCK_LEN];

  randombytes_buf (noise, sizeof noise);
  return rbd_sb_write (s, noise);
}

static void
close_images (struct rbd_store *rs)
{
  if (rs->data && rs->locked)
    rbd_unlock (rs->data, rs->cookie);
  rs->locked = false;
  if (rs->meta)
    rbd_close (rs->meta);
  if (rs->data)
    rbd_close (rs->data);
  rs->meta = rs->data = NULL;
}

/* Both images of a volume; 0, or the first error but ENOENT. */
static int
remove_images (rados_ioctx_t io, const char *vol)
{
  static const char *const what[] = { "meta", "data" };
  char name[96];
  int r, e = 0;

  for (size_t i = 0; i < 2; i++) {
    image_name (name, sizeof name, vol, what[i]);
    if ((r = rbd_remove (io, name)) < 0 && r != -ENOENT && e == 0)
      e = r;
  }
  return e;
}

/* An image cannot be removed while open (it has a watcher): ours are
 * closed first; the superblock is noise by now, so nobody opens it. */
static int
rbd_remove_all (struct sv_store *s)
{
  struct rbd_store *rs = rs_of (s);
  int r, e;

  close_images (rs);
  e = remove_images (rs->ioctx, s->name);
  if ((r = rados_remove (rs->ioctx, rs->oid)) < 0 && r != -ENOENT && e == 0)
    e = r;
  if (e == 0)
    return 0;
  errno = -e;
  sv_error ("volume %s/%s: cannot remove its RBD images: %m", s->tenant,
            s->name);
  return -1;
}

static void
rbd_free (struct sv_store *s)
{
  struct rbd_store *rs = rs_of (s);

  close_images (rs);
  if (rs->ioctx)
    rados_ioctx_destroy (rs->ioctx);
  if (rs->cluster)
    rados_shutdown (rs->cluster);
  free (rs);
}

static const struct sv_store_ops rbd_ops = {
  .name = "rbd",
  .submit = rbd_submit,
  .sb_read = rbd_sb_read,
  .sb_write = rbd_sb_write,
  .sb_lock = rbd_sb_lock,
  .sb_unlock = rbd_sb_unlock,
  .lock = rbd_lock,
  .open_meta = rbd_open_meta,
  .length = rbd_length,
  .grow = rbd_grow,
  .seek = rbd_seek,
  .destroy_key = rbd_destroy_key,
  .remove = rbd_remove_all,
  .free = rbd_free,
};

/* ---- opening ---- */

/* Unique per open: host, process and a random tag, so two opens in one
 * process are two holders, and the holder's message names the gateway. */
static void
make_cookie (char *out, size_t len)
{
  char host[64] = "?";

  gethostname (host, sizeof host - 1);
  snprintf (out, len, "host %s pid %ld open %08x", host, (long) getpid (),
            randombytes_random ());
}

static int
open_data (struct rbd_store *rs)
{
  char name[96];
  uint64_t size;
  int r;

  if ((r = rados_stat (rs->ioctx, rs->oid, &size, NULL)) == -ENOENT) {
    sv_error ("no such volume: %s/%s", rs->s.tenant, rs->s.name);
    errno = ENOENT;
    return -1;
  }
  image_name (name, sizeof name, rs->s.name, "data");
  /* Read-write even for a read-only open: it takes a (shared) lock. */
  if (r == 0)
    r = rbd_open (rs->ioctx, name, &rs->data, NULL);
  if (r == 0)
    return 0;
  rs->data = NULL;
  errno = -r;
  sv_error ("volume %s/%s: cannot open data image: %m", rs->s.tenant,
            rs->s.name);
  return -1;
}

struct sv_store *
sv_store_rbd_open (const struct sv_store_conf *c, const char *tenant,
                   const char *name, const struct sv_store_open *o)
{
  struct rbd_store *rs = calloc (1, sizeof *rs);

  if (rs == NULL)
    return NULL;
  rs->s.ops = &rbd_ops;
  snprintf (rs->s.tenant, sizeof rs->s.tenant, "%s", tenant);
  snprintf (rs->s.name, sizeof rs->s.name, "%s", name);
  snprintf (rs->oid, sizeof rs->oid, "%s.superblock", name);
  (void) o;                     /* the volume code never writes read-only */
  make_cookie (rs->cookie, sizeof rs->cookie);
  if (connect_pool (c, tenant, &rs->cluster, &rs->ioctx) == -1) {
    free (rs);
    return NULL;
  }
  if (open_data (rs) == -1) {
    rbd_free (&rs->s);
    return NULL;
  }
  return &rs->s;
}

/* ---- creating ---- */

/* Layering only: no exclusive-lock feature, whose lock librbd hands over
 * to any other client that writes: the opposite of one gateway at a time
 * (the advisory lock above does that). */
static int
create_image (rados_ioctx_t io, const char *vol, const char *what,
              uint64_t size)
{
  char name[96];
  int order = 22;

  image_name (name, sizeof name, vol, what);
  return rbd_create2 (io, name, size, RBD_FEATURE_LAYERING, &order);
}

/* The namespace of a tenant's first volume. */
static int
ensure_namespace (rados_ioctx_t io, const char *tenant)
{
  char ns[96];
  bool exists = false;
  int r;

  namespace_of (tenant, ns, sizeof ns);
  rados_ioctx_set_namespace (io, "");
  r = rbd_namespace_exists (io, ns, &exists);
  if (r == 0 && !exists)
    r = rbd_namespace_create (io, ns);
  rados_ioctx_set_namespace (io, ns);
  return r == -EEXIST ? 0 : r;
}

static int
create_in_pool (rados_ioctx_t io, const char *tenant, const char *name,
                uint64_t size, uint64_t meta_size,
                const uint8_t sb[SV_SUPERBLOCK_LEN])
{
  char oid[96];
  uint64_t len;
  int r;

  snprintf (oid, sizeof oid, "%s.superblock", name);
  if ((r = ensure_namespace (io, tenant)) < 0)
    return r;
  if (rados_stat (io, oid, &len, NULL) == 0)
    return -EEXIST;
  /* Images without a superblock: a create cut short; nobody can open
   * them, so they are made again. */
  remove_images (io, name);
  if ((r = create_image (io, name, "data", size)) < 0)
    return r;
  if (meta_size && (r = create_image (io, name, "meta", meta_size)) < 0)
    return r;
  /* The superblock last, exclusively: a volume exists once it is there,
   * and two creates of one name cannot both succeed. */
  {
    rados_write_op_t op = rados_create_write_op ();
    rados_write_op_create (op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
    rados_write_op_write_full (op, (const char *) sb, SV_SUPERBLOCK_LEN);
    r = rados_write_op_operate (op, io, oid, NULL, 0);
    rados_release_write_op (op);
  }
  return r;
}

int
sv_store_rbd_create (const struct sv_store_conf *c, const char *tenant,
                     const char *name, uint64_t size, uint64_t meta_size,
                     const uint8_t sb[SV_SUPERBLOCK_LEN])
{
  rados_t cluster;
  rados_ioctx_t io;
  int r;

  if (connect_pool (c, tenant, &cluster, &io) == -1)
    return -1;
  r = create_in_pool (io, tenant, name, size, meta_size, sb);
  if (r < 0 && r != -EEXIST)
    remove_images (io, name);   /* take back what this create made */
  rados_ioctx_destroy (io);
  rados_shutdown (cluster);
  if (r == 0)
    return 0;
  errno = -r;
  if (r != -EEXIST)
    sv_error ("cannot create volume %s/%s in pool %s: %m", tenant, name,
              c->pool);
  return -1;
}

/* ---- listing, breaking a lock ---- */

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The names of images called VOL.data, as a sorted list. */
static char **
data_image_names (rbd_image_spec_t *imgs, size_t n)
{
  char **names = calloc (n + 1, sizeof *names);
  size_t k = 0;

  for (size_t i = 0; names && i < n; i++) {
    size_t l = strlen (imgs[i].name);
    if (l > 5 && strcmp (imgs[i].name + l - 5, ".data") == 0
        && (names[k] = strndup (imgs[i].name, l - 5)) != NULL)
      k++;
  }
  if (names)
    qsort (names, k, sizeof *names, compare_names);
  return names;
}

char **
sv_store_rbd_names (const struct sv_store_conf *c, const char *tenant)
{
  rados_t cluster;
  rados_ioctx_t io;
  rbd_image_spec_t *imgs = NULL;
  size_t n = 64;
  char **names = NULL;
  int r;

  if (connect_pool (c, tenant, &cluster, &io) == -1)
    return NULL;
  do {
    free (imgs);
    imgs = calloc (n, sizeof *imgs);
    r = imgs ? rbd_list2 (io, imgs, &n) : -ENOMEM;
  } while (r == -ERANGE);
  if (r == -ENOENT)
    n = 0, r = 0;               /* the namespace of a tenant with none */
  if (r >= 0)
    names = data_image_names (imgs, n);
  else {
    errno = -r;
    sv_error ("cannot list the volumes of tenant %s in pool %s: %m", tenant,
              c->pool);
  }
  if (r >= 0)
    rbd_image_spec_list_cleanup (imgs, n);
  free (imgs);
  rados_ioctx_destroy (io);
  rados_shutdown (cluster);
  return names;
}

/* Blocklist the holder's address (its in-flight writes can then never
 * land: the OSDs refuse them), then break its lock. */
static int
break_holder (rados_t cluster, rbd_image_t img, char *who, size_t len)
{
  struct holder h;
  int r;

  who[0] = '\0';
  if ((r = first_holder (img, &h)) <= 0)
    return r;
  snprintf (who, len, "%s at %s (%s)", h.client, h.addr, h.cookie);
  if ((r = rados_blocklist_add (cluster, h.addr, 0)) < 0
      || (r = rbd_break_lock (img, h.client, h.cookie)) < 0)
    return r;
  return 0;
}

int
sv_store_rbd_break_lock (const struct sv_store_conf *c, const char *tenant,
                         const char *name, char *who, size_t len)
{
  rados_t cluster;
  rados_ioctx_t io;
  rbd_image_t img;
  char img_name[96];
  int r;

  if (connect_pool (c, tenant, &cluster, &io) == -1)
    return -1;
  image_name (img_name, sizeof img_name, name, "data");
  if ((r = rbd_open (io, img_name, &img, NULL)) == 0) {
    r = break_holder (cluster, img, who, len);
    rbd_close (img);
  }
  rados_ioctx_destroy (io);
  rados_shutdown (cluster);
  if (r >= 0)
    return 0;
  errno = -r;
  if (r == -ENOENT)
    sv_error ("no such volume: %s/%s", tenant, name);
  else
    sv_error ("cannot break the lock of volume %s/%s: %m", tenant, name);
  return -1;
}
