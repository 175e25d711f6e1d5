/* sealvol-attach: expose an nbd:// or nbds:// export as one regular file,
 * through FUSE, so a loop device can sit on it where the kernel has no
 * NBD module.
 *
 *   sealvol-attach [--connections N] [--timeout SECONDS] [--read-only] URI... FILE
 *
 * FILE must exist (an empty regular file); it becomes the export.  Unlike
 * nbdfuse, a lost connection (the storage server restarted) does not fail
 * the filesystem on top: every request waits, reconnects with backoff and
 * is retried, for up to --timeout seconds (default 60), and only then
 * fails with EIO.  Once one request has failed so, the server counts as
 * gone: every request fails with EIO at once, instead of each waiting a
 * timeout of its own, while a background thread keeps reconnecting; its
 * first success lets requests through again.  Where the server allows multi-conn, up to --connections
 * connections (default 4) carry requests in parallel.  fsync on the file
 * is an NBD flush, a write through an O_SYNC/O_DSYNC open carries FUA,
 * punching a hole is a trim.  SIGHUP reconnects and re-reads the export
 * size (after the volume grew).  SIGTERM or "fusermount3 -u FILE" detach
 * cleanly.
 *
 * Several URIs name the same export on several gateways: a connection
 * goes to the current one, and when that one is gone (refused, dropped)
 * to the next, in the same reconnect loop and --timeout.  A server whose
 * export name or description (sealvol's states TENANT-ID:VOLUME-ID)
 * differs from the first server's is refused.
 */
#define FUSE_USE_VERSION 312
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fuse.h>
#include <libnbd.h>

#include "log.h"

#define MAX_CONNECTIONS 16
/* Enough FUSE threads to keep every connection busy, and a few spare for
 * getattr while they are. */
#define FUSE_THREADS (MAX_CONNECTIONS + 4)

/* One NBD connection.  A request owns it while busy, so only that request
 * touches h; busy itself is guarded by pool_lock. */
struct conn {
  struct nbd_handle *h;         /* NULL while disconnected */
  bool busy;
};

#define MAX_URIS 8

static const char *uris[MAX_URIS];
static int nr_uris;
static atomic_int cur_uri;      /* where connections go first */
/* What the first server said: every later one must say the same. */
static char *want_name, *want_description;
static pthread_mutex_t want_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool refused[MAX_URIS]; /* said so once already */
static int timeout_s = 60;
static bool read_only;
static struct conn conns[MAX_CONNECTIONS];
static int nr_conns = 1;
static int next_conn;           /* round robin start, under pool_lock */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_changed = PTHREAD_COND_INITIALIZER;
static _Atomic int64_t export_size;
/* Set for good once any connection lands on a server without multi-conn:
 * from then on a flush on one connection no longer covers writes made on
 * the others, so fsync flushes each. */
static atomic_bool flush_each;
static atomic_bool detaching;   /* .destroy runs: SIGHUP must not reconnect */
/* Set when a request has waited its whole --timeout for the server, until
 * reconnect_thread connects again.  While set, requests fail at once and
 * only that thread tries to connect.  gone_changed wakes a request that
 * sleeps between connection attempts, and reconnect_thread. */
static atomic_bool server_gone;
static pthread_mutex_t gone_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone_changed = PTHREAD_COND_INITIALIZER;

/* Seconds on CLOCK_MONOTONIC: a request's deadline is its start plus
 * --timeout. */
static double
monotonic (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *
or_empty (const char *s)
{
  return s ? s : "";
}

/* The export H serves is the one the first connection found: same
 * export name, same description (a server may give none).  The first
 * connection records them. */
static bool
same_export (struct nbd_handle *h, int i)
{
  char *name = nbd_get_export_name (h), *desc = nbd_get_export_description (h);
  bool same;

  pthread_mutex_lock (&want_lock);
  if (want_name == NULL) {
    want_name = name;
    want_description = desc;
    name = desc = NULL;
  }
  same = name == NULL
    || (strcmp (name, want_name) == 0
        && strcmp (or_empty (desc), or_empty (want_description)) == 0);
  if (!same && !atomic_exchange (&refused[i], true))
    log_error ("refusing %s: export '%s' described '%s', not '%s' described '%s'",
               uris[i], name, or_empty (desc), want_name,
               or_empty (want_description));
  pthread_mutex_unlock (&want_lock);
  free (name);
  free (desc);
  return same;
}

static struct nbd_handle *
connect_to (int i)
{
  struct nbd_handle *h = nbd_create ();

  if (h == NULL)
    return NULL;
  /* The export description comes only with full info. */
  if (nbd_set_uri_allow_local_file (h, true) == -1
      || nbd_set_full_info (h, true) == -1
      || nbd_connect_uri (h, uris[i]) == -1) {
    nbd_close (h);
    return NULL;
  }
  if (!same_export (h, i)) {
    nbd_shutdown (h, 0);
    nbd_close (h);
    return NULL;
  }
  return h;
}

/* Connect to the current server, else to the next that answers, which
 * becomes the current one.  NULL with libnbd's error of the last try. */
static struct nbd_handle *
connect_once (void)
{
  int start = atomic_load (&cur_uri), k, i;
  struct nbd_handle *h = NULL;

  for (k = 0; k < nr_uris && h == NULL; k++)
    h = connect_to (i = (start + k) % nr_uris);
  if (h == NULL)
    return NULL;
  if (atomic_exchange (&cur_uri, i) != i)
    log_warning ("moved to %s", uris[i]);
  if (nbd_can_multi_conn (h) != 1 && nr_conns > 1
      && !atomic_exchange (&flush_each, true))
    log_warning ("the server no longer allows multi-conn: fsync flushes every connection");
  return h;
}

static void
disconnect (struct conn *c)
{
  if (c->h) {
    nbd_shutdown (c->h, 0);
    nbd_close (c->h);
    c->h = NULL;
  }
}

static bool
is_live (const struct conn *c)
{
  return c->h && !nbd_aio_is_dead (c->h) && !nbd_aio_is_closed (c->h);
}

/* Sleep BACKOFF microseconds, or less if server_gone changes; double
 * BACKOFF, up to a second. */
static void
nap (useconds_t *backoff)
{
  struct timespec until;

  clock_gettime (CLOCK_MONOTONIC, &until);
  until.tv_nsec += (long) *backoff * 1000;
  until.tv_sec += until.tv_nsec / 1000000000;
  until.tv_nsec %= 1000000000;
  pthread_mutex_lock (&gone_lock);
  pthread_cond_clockwait (&gone_changed, &gone_lock, CLOCK_MONOTONIC, &until);
  pthread_mutex_unlock (&gone_lock);
  if (*backoff < 1000000)
    *backoff *= 2;
}

static void
set_server_gone (bool gone)
{
  pthread_mutex_lock (&gone_lock);
  atomic_store (&server_gone, gone);
  pthread_cond_broadcast (&gone_changed);
  pthread_mutex_unlock (&gone_lock);
}

/* Make sure c has a live connection, waiting for the server to come back
 * until the deadline (at least one attempt), unless the server is gone.
 * Caller owns c. */
static int
ensure_connected (struct conn *c, double deadline)
{
  useconds_t backoff = 50000;

  if (is_live (c))
    return 0;
  disconnect (c);
  for (;;) {
    if (atomic_load (&server_gone))
      return -1;
    if ((c->h = connect_once ()) != NULL)
      return 0;
    if (monotonic () >= deadline) {
      if (!atomic_exchange (&server_gone, true)) {
        log_error ("server unreachable for %d s: %s; failing requests at once "
                   "until it is back", timeout_s, nbd_get_error ());
        set_server_gone (true);
      }
      return -1;
    }
    log_debug ("connect: %s; again in %u ms", nbd_get_error (),
               (unsigned) (backoff / 1000));
    nap (&backoff);
  }
}

/* A failure that a reconnect can cure (the server went away), as
 * opposed to an answer from the server (EIO for a bad block, ENOSPC). */
static bool
connection_lost (const struct conn *c)
{
  int e = nbd_get_errno ();

  return !is_live (c)
    || e == ENOTCONN || e == ESHUTDOWN || e == ECONNRESET || e == EPIPE;
}

/* ---------------------------------------------------------------- pool */

static void take (struct conn *c);
static void give_back (struct conn *c);

/* Take the next free connection, round robin so that even requests that
 * arrive one at a time keep every connection in use. */
static struct conn *
take_any (void)
{
  struct conn *c = NULL;
  int i;

  pthread_mutex_lock (&pool_lock);
  while (c == NULL) {
    for (i = 0; i < nr_conns && c == NULL; i++)
      if (!conns[(next_conn + i) % nr_conns].busy)
        c = &conns[(next_conn + i) % nr_conns];
    if (c == NULL)
      pthread_cond_wait (&pool_changed, &pool_lock);
  }
  c->busy = true;
  next_conn = (int) (c - conns + 1) % nr_conns;
  pthread_mutex_unlock (&pool_lock);
  return c;
}

/* Take connection c itself, once its current request is done. */
static void
take (struct conn *c)
{
  pthread_mutex_lock (&pool_lock);
  while (c->busy)
    pthread_cond_wait (&pool_changed, &pool_lock);
  c->busy = true;
  pthread_mutex_unlock (&pool_lock);
}

static void
give_back (struct conn *c)
{
  pthread_mutex_lock (&pool_lock);
  c->busy = false;
  /* Broadcast: a waiter in take() may want exactly this connection. */
  pthread_cond_broadcast (&pool_changed);
  pthread_mutex_unlock (&pool_lock);
}

/* Run fn on every connection in turn, each taken from the requests while
 * fn runs; the others keep serving.  Returns -1 if fn failed on any. */
static int
for_each_conn (int (*fn) (struct conn *, double), double deadline)
{
  int i, r = 0;

  for (i = 0; i < nr_conns; i++) {
    take (&conns[i]);
    if (fn (&conns[i], deadline) == -1)
      r = -1;
    give_back (&conns[i]);
  }
  return r;
}

/* ------------------------------------------------------------ requests */

enum op { OP_READ, OP_WRITE, OP_SYNC_WRITE, OP_FLUSH, OP_TRIM };

/* A server that cannot flush writes through (NBD spec): nothing to do. */
static int
flush (struct nbd_handle *h)
{
  return nbd_can_flush (h) == 1 ? nbd_flush (h, 0) : 0;
}

/* A write that must be durable when it returns: FUA where the server
 * has it, else write then flush on the same connection (which covers
 * that write with or without multi-conn). */
static int
sync_write (struct nbd_handle *h, const void *buf, size_t len, off_t off)
{
  if (nbd_can_fua (h) == 1)
    return nbd_pwrite (h, buf, len, off, LIBNBD_CMD_FLAG_FUA);
  if (nbd_pwrite (h, buf, len, off, 0) == -1)
    return -1;
  return flush (h);
}

static int
issue (struct nbd_handle *h, enum op op, void *buf, size_t len, off_t off)
{
  switch (op) {
  case OP_READ: return nbd_pread (h, buf, len, off, 0);
  case OP_WRITE: return nbd_pwrite (h, buf, len, off, 0);
  case OP_SYNC_WRITE: return sync_write (h, buf, len, off);
  case OP_FLUSH: return flush (h);
  case OP_TRIM: return nbd_trim (h, len, off, 0);
  }
  abort ();
}

/* One request on connection c, retried across reconnects until it gets
 * an answer or the deadline passes.  Returns 0 or -errno. */
static int
request_on (struct conn *c, enum op op, void *buf, size_t len, off_t off,
            double deadline)
{
  bool lost = false;
  int err;

  for (;;) {
    if (ensure_connected (c, deadline) == -1)
      return -EIO;
    if (lost)
      log_info ("connection %d: reconnected", (int) (c - conns));
    if (issue (c->h, op, buf, len, off) == 0)
      return 0;
    if (!connection_lost (c)) {
      err = nbd_get_errno ();
      return err ? -err : -EIO;
    }
    log_warning ("connection %d lost (%s); reconnecting", (int) (c - conns),
                 nbd_get_error ());
    disconnect (c);
    lost = true;
  }
}

static int
request (enum op op, void *buf, size_t len, off_t off)
{
  double deadline = monotonic () + timeout_s;
  struct conn *c = take_any ();
  int r = request_on (c, op, buf, len, off, deadline);

  give_back (c);
  return r;
}

static int
flush_conn (struct conn *c, double deadline)
{
  return request_on (c, OP_FLUSH, NULL, 0, 0, deadline) == 0 ? 0 : -1;
}

/* fsync.  With multi-conn, a flush on any one connection covers the
 * writes completed on all of them (NBD spec); without it, each
 * connection's writes need their own flush. */
static int
flush_all (void)
{
  if (!atomic_load (&flush_each))
    return request (OP_FLUSH, NULL, 0, 0);
  return for_each_conn (flush_conn, monotonic () + timeout_s) == 0 ? 0 : -EIO;
}

/* ------------------------------------------------------ size on SIGHUP */

static int
reconnect_conn (struct conn *c, double deadline)
{
  if (atomic_load (&detaching))
    return 0;
  disconnect (c);
  return ensure_connected (c, deadline);
}

/* Every connection learns the size in its handshake, and libnbd refuses
 * requests beyond it, so all of them reconnect before the file grows. */
static void
refresh_size (void)
{
  int64_t size;

  if (for_each_conn (reconnect_conn, monotonic () + timeout_s) == -1
      || atomic_load (&detaching)) {
    log_error ("size not refreshed");
    return;
  }
  take (&conns[0]);
  size = conns[0].h ? nbd_get_size (conns[0].h) : -1;
  give_back (&conns[0]);
  if (size == -1) {
    log_error ("size not refreshed: %s", nbd_get_error ());
    return;
  }
  atomic_store (&export_size, size);
  log_info ("export size now %" PRIi64 " bytes", size);
}

/* SIGHUP is blocked in every thread (FUSE would take it as a request to
 * exit); this one takes it with sigwait, so libnbd is never called from
 * a signal handler. */
static void *
sighup_thread (void *arg)
{
  sigset_t *set = arg;
  int sig;

  for (;;)
    if (sigwait (set, &sig) == 0)
      refresh_size ();
  return NULL;
}

/* ------------------------------------------------------ server gone */

/* Put H on the first connection without a live one (some request let
 * its dead one go), or close it if all are live again. */
static void
install (struct nbd_handle *h)
{
  int i;

  for (i = 0; i < nr_conns && h; i++) {
    take (&conns[i]);
    if (!is_live (&conns[i]) && !atomic_load (&detaching)) {
      disconnect (&conns[i]);
      conns[i].h = h;
      h = NULL;
    }
    give_back (&conns[i]);
  }
  if (h) {
    nbd_shutdown (h, 0);
    nbd_close (h);
  }
}

/* While the server is gone, try to connect, with backoff; the first
 * connection made goes into the pool and lets requests through again.
 * The other connections reconnect as requests need them. */
static void *
reconnect_thread (void *arg)
{
  struct nbd_handle *h;
  useconds_t backoff;

  (void) arg;
  for (;;) {
    pthread_mutex_lock (&gone_lock);
    while (!atomic_load (&server_gone))
      pthread_cond_wait (&gone_changed, &gone_lock);
    pthread_mutex_unlock (&gone_lock);
    backoff = 50000;
    while ((h = connect_once ()) == NULL) {
      log_debug ("connect: %s; again in %u ms", nbd_get_error (),
                 (unsigned) (backoff / 1000));
      nap (&backoff);
    }
    install (h);
    log_info ("server back: requests go through again");
    set_server_gone (false);
  }
  return NULL;
}

/* ------------------------------------------------------------- FUSE ops */

/* fi->fh: how the file was opened. */
enum { OPEN_PLAIN, OPEN_SYNC };

static void *
attach_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  (void) conn;
  /* The size changes on SIGHUP: stat asks every time. */
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  return NULL;
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
  st->st_size = atomic_load (&export_size);
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
  fi->fh = fi->flags & (O_SYNC | O_DSYNC) ? OPEN_SYNC : OPEN_PLAIN;
  return 0;
}

static size_t
clamp (size_t len, off_t off)
{
  int64_t size = atomic_load (&export_size);

  if (off >= size)
    return 0;
  return (int64_t) len > size - off ? (size_t) (size - off) : len;
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
  enum op op = fi->fh == OPEN_SYNC ? OP_SYNC_WRITE : OP_WRITE;
  int r;

  (void) path;
  len = clamp (len, off);
  if (len == 0)
    return -ENOSPC;
  r = request (op, (void *) buf, len, off);
  return r == 0 ? (int) len : r;
}

static int
attach_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  (void) path; (void) datasync; (void) fi;
  return flush_all ();
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

static int
close_conn (struct conn *c, double deadline)
{
  (void) deadline;
  if (is_live (c))
    flush (c->h);
  disconnect (c);
  return 0;
}

static void
attach_destroy (void *data)
{
  (void) data;
  atomic_store (&detaching, true);
  for_each_conn (close_conn, 0);
}

static const struct fuse_operations ops = {
  .init = attach_init,
  .getattr = attach_getattr,
  .open = attach_open,
  .read = attach_read,
  .write = attach_write,
  .fsync = attach_fsync,
  .fallocate = attach_fallocate,
  .destroy = attach_destroy,
};

/* ----------------------------------------------------------------- main */

/* The first connection, then more if the server allows multi-conn (it is
 * not safe to write through several otherwise: libnbd's advice is to ask
 * the first one).  Returns -1 with one line on stderr. */
static int
open_connections (int wanted)
{
  int i;

  if ((conns[0].h = connect_once ()) == NULL
      || (export_size = nbd_get_size (conns[0].h)) == -1) {
    log_error ("%s", nbd_get_error ());
    return -1;
  }
  if (wanted > 1 && nbd_can_multi_conn (conns[0].h) != 1) {
    log_warning ("the server does not allow multi-conn: using one connection");
    wanted = 1;
  }
  for (i = 1; i < wanted; i++)
    if ((conns[i].h = connect_once ()) == NULL) {
      log_error ("connection %d: %s", i, nbd_get_error ());
      return -1;
    }
  nr_conns = wanted;
  log_info ("%d connection%s open, export size %" PRIi64 " bytes", nr_conns,
            nr_conns == 1 ? "" : "s", atomic_load (&export_size));
  return 0;
}

static int
start_thread (void *(*fn) (void *), void *arg)
{
  pthread_t thread;
  int r = pthread_create (&thread, NULL, fn, arg);

  if (r == 0)
    r = pthread_detach (thread);
  if (r != 0)
    log_error ("cannot start a thread: %s", strerror (r));
  return r == 0 ? 0 : -1;
}

/* Block SIGHUP here, before FUSE starts its threads (they inherit the
 * mask), and hand it to sighup_thread.  That thread and reconnect_thread
 * block every signal, as FUSE's workers do: a SIGTERM must reach the
 * main thread, whose wait it interrupts to end the loop. */
static int
start_threads (void)
{
  static sigset_t hup;
  sigset_t all, old;
  int r;

  sigemptyset (&hup);
  sigaddset (&hup, SIGHUP);
  sigfillset (&all);
  if (pthread_sigmask (SIG_BLOCK, &hup, NULL) != 0
      || pthread_sigmask (SIG_SETMASK, &all, &old) != 0) {
    log_error ("pthread_sigmask failed");
    return -1;
  }
  r = start_thread (sighup_thread, &hup) == 0
    && start_thread (reconnect_thread, NULL) == 0 ? 0 : -1;
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return r;
}

/* Mount FILE and serve until it is unmounted or a signal says stop.  Not
 * fuse_main: that reports the exit after SIGTERM as a failure (status 8),
 * and a clean detach is what SIGTERM asks for.  Returns the exit status. */
static int
serve (const char *prog, const char *file)
{
  char *fargv[] = {
    (char *) prog, (char *) "-o",
    (char *) (read_only ? "ro,default_permissions" : "default_permissions"),
    NULL
  };
  struct fuse_args args = FUSE_ARGS_INIT (3, fargv);
  struct fuse_loop_config *cfg;
  struct fuse *f;
  int r = 1;

  if ((f = fuse_new (&args, &ops, sizeof ops, NULL)) == NULL)
    return 1;
  if (fuse_mount (f, file) == -1)
    goto out;
  if (fuse_set_signal_handlers (fuse_get_session (f)) == 0
      && (cfg = fuse_loop_cfg_create ()) != NULL) {
    fuse_loop_cfg_set_max_threads (cfg, FUSE_THREADS);
    /* 0, -errno, or the number of the signal that ended the loop. */
    r = fuse_loop_mt (f, cfg);
    r = (r == 0 || r == SIGTERM || r == SIGINT) ? 0 : 1;
    fuse_loop_cfg_destroy (cfg);
    fuse_remove_signal_handlers (fuse_get_session (f));
  }
  fuse_unmount (f);
 out:
  fuse_destroy (f);
  return r;
}

static void
usage (FILE *f)
{
  fprintf (f, "usage: sealvol-attach [--connections N] [--timeout SECONDS] "
           "[--read-only] URI... FILE\n");
}

int
main (int argc, char **argv)
{
  static const struct option long_opts[] = {
    { "connections", required_argument, NULL, 'c' },
    { "timeout", required_argument, NULL, 't' },
    { "read-only", no_argument, NULL, 'r' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c, connections = 4;

  if (sv_log_init ("sealvol-attach") == -1) {
    log_error ("SEALVOL_LOG_LEVEL must be error, warning, info or debug");
    return 2;
  }
  while ((c = getopt_long (argc, argv, "", long_opts, NULL)) != -1) {
    switch (c) {
    case 'c': connections = atoi (optarg); break;
    case 't': timeout_s = atoi (optarg); break;
    case 'r': read_only = true; break;
    case 'h': usage (stdout); return 0;
    default: usage (stderr); return 2;
    }
  }
  nr_uris = argc - optind - 1;
  if (nr_uris < 1 || nr_uris > MAX_URIS || timeout_s <= 0
      || connections < 1 || connections > MAX_CONNECTIONS) {
    usage (stderr);
    return 2;
  }
  memcpy (uris, argv + optind, nr_uris * sizeof *uris);
  if (open_connections (connections) == -1 || start_threads () == -1)
    return 1;
  return serve (argv[0], argv[argc - 1]);
}
