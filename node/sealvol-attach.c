/* sealvol-attach: expose an nbd:// or nbds:// export as one regular file,
 * through FUSE, so a loop device can sit on it where the kernel has no
 * NBD module.
 *
 *   sealvol-attach [--timeout SECONDS] [--read-only] URI FILE
 *
 * FILE must exist (an empty regular file); it becomes the export.  Unlike
 * nbdfuse, a lost connection (the storage server restarted) does not fail
 * the filesystem on top: every request waits, reconnects with backoff and
 * is retried, for up to --timeout seconds (default 60), and only then
 * fails with EIO.  fsync on the file is an NBD flush; punching a hole is a
 * trim.  SIGTERM or "fusermount3 -u FILE" detach cleanly.
 */
#define FUSE_USE_VERSION 31
#include <config.h>


#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fuse.h>
#include <libnbd.h>

static const char *uri;
static int timeout_s = 60;
static bool read_only;
static struct nbd_handle *nbd;          /* NULL while disconnected */
static int64_t export_size;
static pthread_mutex_t nbd_lock = PTHREAD_MUTEX_INITIALIZER;

static struct nbd_handle *
connect_once (void)
{
  struct nbd_handle *h = nbd_create ();

  if (h == NULL)
    return NULL;
  if (nbd_set_uri_allow_local_file (h, true) == -1
      || nbd_connect_uri (h, uri) == -1) {
    nbd_close (h);
    return NULL;
  }
  return h;
}

/* Make sure there is a live connection, waiting for the server to come
 * back for at most the timeout.  Caller holds nbd_lock. */
static int
ensure_connected (void)
{
  struct timespec start, now;
  useconds_t backoff = 50000;

  if (nbd && !nbd_aio_is_dead (nbd) && !nbd_aio_is_closed (nbd))
    return 0;
  if (nbd) {
    nbd_close (nbd);
    nbd = NULL;
  }
  clock_gettime (CLOCK_MONOTONIC, &start);
  for (;;) {
    if ((nbd = connect_once ()) != NULL) {
      fprintf (stderr, "sealvol-attach: connected to the server\n");
      return 0;
    }
    clock_gettime (CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= timeout_s) {
      fprintf (stderr, "sealvol-attach: server unreachable for %d s: %s\n",
               timeout_s, nbd_get_error ());
      return -1;
    }
    usleep (backoff);
    if (backoff < 1000000)
      backoff *= 2;
  }
}

/* A failure that a reconnect can cure (the server went away), as
 * opposed to an answer from the server (EIO for a bad block, ENOSPC). */
static bool
connection_lost (void)
{
  int e = nbd_get_errno ();

  return nbd == NULL || nbd_aio_is_dead (nbd) || nbd_aio_is_closed (nbd)
    || e == ENOTCONN || e == ESHUTDOWN || e == ECONNRESET || e == EPIPE;
}

enum op { OP_READ, OP_WRITE, OP_FLUSH, OP_TRIM };

/* One request, retried across reconnects until it gets an answer. */
static int
request (enum op op, void *buf, size_t len, off_t off)
{
  int r = -1, err = EIO;

  pthread_mutex_lock (&nbd_lock);
  for (;;) {
    if (ensure_connected () == -1)
      break;
    switch (op) {
    case OP_READ: r = nbd_pread (nbd, buf, len, off, 0); break;
    case OP_WRITE: r = nbd_pwrite (nbd, buf, len, off, 0); break;
    case OP_FLUSH: r = nbd_flush (nbd, 0); break;
    case OP_TRIM: r = nbd_trim (nbd, len, off, 0); break;
    }
    if (r == 0)
      break;
    if (!connection_lost ()) {
      err = nbd_get_errno () ? nbd_get_errno () : EIO;
      break;
    }
    fprintf (stderr, "sealvol-attach: connection lost (%s); reconnecting\n",
             nbd_get_error ());
    nbd_close (nbd);
    nbd = NULL;
  }
  pthread_mutex_unlock (&nbd_lock);
  return r == 0 ? 0 : -err;
}

static int
attach_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  (void) fi;
  if (strcmp (path, "/") != 0)
    return -ENOENT;
  memset (st, 0, sizeof *st);
  st->st_mode = S_IFREG | (read_only ? 0400 : 0600);
  st->st_nlink = 1;
  st->st_size = export_size;
  st->st_uid = getuid ();
  st->st_gid = getgid ();
  return 0;
}

static int
attach_open (const char *path, struct fuse_file_info *fi)
{
  if (strcmp (path, "/") != 0)
    return -ENOENT;
  if (read_only && (fi->flags & O_ACCMODE) != O_RDONLY)
    return -EROFS;
  fi->direct_io = 1;            /* no second page cache over the export */
  return 0;
}

static size_t
clamp (size_t len, off_t off)
{
  if (off >= export_size)
    return 0;
  return (int64_t) len > export_size - off ? (size_t) (export_size - off) : len;
}

static int
attach_read (const char *path, char *buf, size_t len, off_t off,
             struct fuse_file_info *fi)
{
  int r;

  (void) path; (void) fi;
  len = clamp (len, off);
  if (len == 0)
    return 0;
  r = request (OP_READ, buf, len, off);
  return r == 0 ? (int) len : r;
}

static int
attach_write (const char *path, const char *buf, size_t len, off_t off,
              struct fuse_file_info *fi)
{
  int r;

  (void) path; (void) fi;
  len = clamp (len, off);
  if (len == 0)
    return -ENOSPC;
  r = request (OP_WRITE, (void *) buf, len, off);
  return r == 0 ? (int) len : r;
}

static int
attach_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  (void) path; (void) datasync; (void) fi;
  return request (OP_FLUSH, NULL, 0, 0);
}

static int
attach_fallocate (const char *path, int mode, off_t off, off_t len,
                  struct fuse_file_info *fi)
{
  (void) path; (void) fi;
  if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
    return -EOPNOTSUPP;
  return request (OP_TRIM, NULL, clamp ((size_t) len, off), off);
}

static void
attach_destroy (void *data)
{
  (void) data;
  pthread_mutex_lock (&nbd_lock);
  if (nbd) {
    nbd_flush (nbd, 0);
    nbd_shutdown (nbd, 0);
    nbd_close (nbd);
    nbd = NULL;
  }
  pthread_mutex_unlock (&nbd_lock);
}

static const struct fuse_operations ops = {
  .getattr = attach_getattr,
  .open = attach_open,
  .read = attach_read,
  .write = attach_write,
  .fsync = attach_fsync,
  .fallocate = attach_fallocate,
  .destroy = attach_destroy,
};

static void
usage (FILE *f)
{
  fprintf (f, "usage: sealvol-attach [--timeout SECONDS] [--read-only] URI FILE\n");
}

int
main (int argc, char **argv)
{
  static const struct option long_opts[] = {
    { "timeout", required_argument, NULL, 't' },
    { "read-only", no_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  char *fargv[8];
  int c, fargc = 0;

  while ((c = getopt_long (argc, argv, "", long_opts, NULL)) != -1) {
    switch (c) {
    case 't': timeout_s = atoi (optarg); break;
    case 'r': read_only = true; break;
    case 'h': usage (stdout); return 0;
    default: usage (stderr); return 2;
    }
  }
  if (argc - optind != 2 || timeout_s <= 0) {
    usage (stderr);
    return 2;
  }
  uri = argv[optind];
  if ((nbd = connect_once ()) == NULL) {
    fprintf (stderr, "sealvol-attach: %s\n", nbd_get_error ());
    return 1;
  }
  if ((export_size = nbd_get_size (nbd)) == -1) {
    fprintf (stderr, "sealvol-attach: %s\n", nbd_get_error ());
    return 1;
  }
  fargv[fargc++] = argv[0];
  fargv[fargc++] = (char *) "-f";       /* the caller backgrounds us */
  fargv[fargc++] = (char *) "-o";
  fargv[fargc++] = (char *) (read_only ? "ro,default_permissions"
                                       : "default_permissions");
  fargv[fargc++] = argv[optind + 1];
  fargv[fargc] = NULL;
  return fuse_main (fargc, fargv, &ops, NULL);
}
