/* sealvol: the io_uring I/O engine (liburing).
 *
 * One ring per thread, made on first use, so nbdkit's parallel worker
 * threads never share a ring and no lock is taken (against one shared,
 * locked ring the difference was inside the noise on two cores:
 * docs/performance.md, "The ring").  A batch becomes one
 * submission; an ordered batch is a chain of linked SQEs (IOSQE_IO_LINK),
 * so the kernel starts a request only after the one before it completed:
 * metadata before data, fdatasync after both.
 *
 * Completions are examined in submission order.  A short transfer, -EAGAIN
 * or -EINTR is finished synchronously from where it stopped; a request the
 * kernel cancelled because an earlier link in its chain fell short is then
 * run synchronously in its turn, so the order still holds.  Any other
 * error fails the batch with that errno.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <liburing.h>

#include "fsutil.h"
#include "io.h"
#include "report.h"

#define RING_ENTRIES 64

/* ThreadSanitizer does not see liburing map and unmap a ring (liburing
 * makes those system calls itself, not through libc), so when a new
 * thread's ring lands where a finished thread's ring was, the new
 * thread's writes to its SQEs look to it like unsynchronised sharing with
 * the old one.  munmap before mmap orders them in the kernel; say so:
 * every ring freed is a release, every ring made an acquire, on one
 * token. */
#ifdef __SANITIZE_THREAD__
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
static char ring_recycled;
#define RING_FREED() __tsan_release (&ring_recycled)
#define RING_MADE() __tsan_acquire (&ring_recycled)
#else
#define RING_FREED() ((void) 0)
#define RING_MADE() ((void) 0)
#endif

/* Rings belong to threads, not to volumes: every volume's engine shares
 * the one per-thread ring, made on first use, freed at thread exit. */
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;

static void
ring_free (void *p)
{
  struct io_uring *ring = p;

  io_uring_queue_exit (ring);
  free (ring);
  RING_FREED ();
}

/* This thread's ring, or NULL (errno set) if one cannot be made. */
static void
make_ring_key (void)
{
  pthread_key_create (&ring_key, ring_free);
}

static struct io_uring *
thread_ring (void)
{
  struct io_uring *ring;
  int r;

  pthread_once (&ring_key_once, make_ring_key);
  ring = pthread_getspecific (ring_key);
  if (ring)
    return ring;
  if ((ring = calloc (1, sizeof *ring)) == NULL)
    return NULL;
  RING_MADE ();
  if ((r = io_uring_queue_init (RING_ENTRIES, ring, 0)) < 0) {
    free (ring);
    errno = -r;
    return NULL;
  }
  if (pthread_setspecific (ring_key, ring) != 0) {
    ring_free (ring);
    errno = ENOMEM;
    return NULL;
  }
  return ring;
}

/* The request as a synchronous call, starting `done` bytes in. */
static int
run_sync (const struct sv_io_req *r, size_t done)
{
  struct sv_io_req rest = *r;

  if (r->op == SV_IO_READ || r->op == SV_IO_WRITE) {
    rest.buf = (char *) r->buf + done;
    rest.len = r->len - done;
    rest.off = r->off + done;
  }
  return sv_io_run_sync (&rest);
}

static void
prep (struct io_uring_sqe *sqe, const struct sv_io_req *r)
{
  switch (r->op) {
  case SV_IO_READ:
    io_uring_prep_read (sqe, r->fd, r->buf, (unsigned) r->len, r->off);
    break;
  case SV_IO_WRITE:
    io_uring_prep_write (sqe, r->fd, r->buf, (unsigned) r->len, r->off);
    break;
  case SV_IO_FDATASYNC:
    io_uring_prep_fsync (sqe, r->fd, IORING_FSYNC_DATASYNC);
    break;
  case SV_IO_PUNCH:
    io_uring_prep_fallocate (sqe, r->fd,
                             FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             (off_t) r->off, (off_t) r->len);
    break;
  case SV_IO_ZERO_RANGE:
    io_uring_prep_fallocate (sqe, r->fd,
                             FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                             (off_t) r->off, (off_t) r->len);
    break;
  }
}

/* Submit reqs[0..n) (n <= RING_ENTRIES) and collect every completion's
 * result into res[] by index. */
static int
submit_and_reap (struct io_uring *ring, struct sv_io_req *reqs, size_t n,
                 bool ordered, int *res)
{
  for (size_t i = 0; i < n; i++) {
    struct io_uring_sqe *sqe = io_uring_get_sqe (ring);
    if (sqe == NULL) {
      errno = EBUSY;
      return -1;
    }
    prep (sqe, &reqs[i]);
    io_uring_sqe_set_data64 (sqe, i);
    if (ordered && i + 1 < n)
      sqe->flags |= IOSQE_IO_LINK;
  }
  int r = io_uring_submit_and_wait (ring, (unsigned) n);
  if (r < 0) {
    errno = -r;
    return -1;
  }
  for (size_t seen = 0; seen < n; seen++) {
    struct io_uring_cqe *cqe;
    if ((r = io_uring_wait_cqe (ring, &cqe)) < 0) {
      errno = -r;
      return -1;                /* unreachable in practice: the ring is ours */
    }
    res[io_uring_cqe_get_data64 (cqe)] = cqe->res;
    io_uring_cqe_seen (ring, cqe);
  }
  return 0;
}

/* Settle one completion: 0, or -1 with errno.  *redo_rest is set once a
 * link fell short, so later cancelled links are run by hand. */
static int
settle (const struct sv_io_req *r, int res, bool *redo_rest)
{
  bool transfer = r->op == SV_IO_READ || r->op == SV_IO_WRITE;

  if (res == -ECANCELED && *redo_rest)
    return run_sync (r, 0);
  if (res == -EAGAIN || res == -EINTR) {
    *redo_rest = true;
    return run_sync (r, 0);
  }
  if (res < 0) {
    errno = -res;
    return -1;
  }
  if (transfer && (size_t) res < r->len) {
    if (res == 0 && r->op == SV_IO_READ) {
      errno = EIO;              /* end of file: the store is truncated */
      return -1;
    }
    *redo_rest = true;
    return run_sync (r, (size_t) res);
  }
  return 0;
}

static bool
has_buffered_write (const struct sv_io_req *reqs, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (reqs[i].op == SV_IO_WRITE)
      return true;
  return false;
}

static int
uring_submit (struct sv_io_engine *io, struct sv_io_req *reqs, size_t n,
              bool ordered)
{
  struct io_uring *ring = thread_ring ();
  int res[RING_ENTRIES];
  bool redo_rest = false;

  (void) io;
  if (ring == NULL || n == 1 || n > RING_ENTRIES
      || has_buffered_write (reqs, n)) {
    /* No ring for this thread (memlock limit, say); a single request (a
     * read whose metadata came from the cache), which one plain system
     * call does with less work than a ring round trip; or a write into
     * the page cache: io_uring hands buffered writes on ext4 to its
     * worker threads, which measured twice as slow as writing inline
     * (docs/performance.md).  Same semantics, in order. */
    for (size_t i = 0; i < n; i++)
      if (sv_io_run_sync (&reqs[i]) == -1)
        return -1;
    return 0;
  }
  if (submit_and_reap (ring, reqs, n, ordered, res) == -1)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (settle (&reqs[i], res[i], &redo_rest) == -1)
      return -1;
  return 0;
}

static void
uring_free (struct sv_io_engine *io)
{
  free (io);
}

bool
sv_io_uring_available (void)
{
  struct io_uring ring;
  int r;

  RING_MADE ();
  if ((r = io_uring_queue_init (2, &ring, 0)) < 0) {
    errno = -r;
    return false;
  }
  io_uring_queue_exit (&ring);
  RING_FREED ();
  return true;
}

struct sv_io_engine *
sv_io_uring_new (void)
{
  struct sv_io_engine *io;

  if (!sv_io_uring_available ())
    return NULL;
  if ((io = calloc (1, sizeof *io)) == NULL)
    return NULL;
  io->name = "uring";
  io->submit = uring_submit;
  io->free = uring_free;
  return io;
}
