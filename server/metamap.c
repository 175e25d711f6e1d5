/* sealvol: metadata pairs stored through a shared mapping (metamap.h). */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format.h"
#include "metamap.h"

/* ---- the SIGBUS guard ----
 *
 * One process-wide handler, installed on first use.  A thread inside a
 * guarded copy records the jump and the destination range; a fault the
 * kernel raised (si_code > 0) at an address in that range jumps back out
 * of the copy.  Any other SIGBUS is passed to the action that was there
 * before (by default a core dump).  SA_NODEFER leaves SIGBUS unblocked in
 * the handler, so jumping out needs no signal-mask system call (sigsetjmp
 * without savemask): the copy stays free of system calls.  initial-exec
 * TLS: the handler must not call into the dynamic loader. */

struct guard {
  sigjmp_buf jump;
  uintptr_t lo, hi;             /* the mapped range being copied to or from */
};

static __thread struct guard *volatile active_guard
  __attribute__ ((tls_model ("initial-exec")));
static struct sigaction previous_sigbus;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;

/* The action there was before ours, for a SIGBUS that is not ours. */
static void
pass_on (int sig, siginfo_t *info, void *context)
{
  struct sigaction dfl;

  if (previous_sigbus.sa_flags & SA_SIGINFO) {
    previous_sigbus.sa_sigaction (sig, info, context);
    return;
  }
  if (previous_sigbus.sa_handler == SIG_IGN && info->si_code <= 0)
    return;                     /* sent, and ignored before we came */
  if (previous_sigbus.sa_handler != SIG_IGN
      && previous_sigbus.sa_handler != SIG_DFL) {
    previous_sigbus.sa_handler (sig);
    return;
  }
  /* The default action: a fault happens again on return, a sent signal
   * is sent again. */
  memset (&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction (SIGBUS, &dfl, NULL);
  if (info->si_code <= 0)
    raise (sig);
}

static void
on_sigbus (int sig, siginfo_t *info, void *context)
{
  struct guard *g = active_guard;
  uintptr_t addr = (uintptr_t) info->si_addr;

  if (g && info->si_code > 0 && addr >= g->lo && addr < g->hi)
    siglongjmp (g->jump, 1);
  pass_on (sig, info, context);
}

/* Install the handler once; true if it is in place (something may have
 * refused it, e.g. a sanitizer that keeps SIGBUS for itself). */
static bool
install_guard (void)
{
  struct sigaction sa, now;

  pthread_mutex_lock (&install_lock);
  if (!installed) {
    memset (&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset (&sa.sa_mask);
    installed = sigaction (SIGBUS, &sa, &previous_sigbus) == 0
      && sigaction (SIGBUS, NULL, &now) == 0
      && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigbus;
  }
  pthread_mutex_unlock (&install_lock);
  return installed;
}

void
sv_metamap_uninstall_guard (void)
{
  pthread_mutex_lock (&install_lock);
  if (installed)
    sigaction (SIGBUS, &previous_sigbus, NULL);
  installed = false;
  pthread_mutex_unlock (&install_lock);
}

/* memcpy, with a fault in mapped[0..len) (dst or src) turned into EIO. */
static int
guarded_copy (void *dst, const void *src, size_t len, const void *mapped)
{
  struct guard g;

  g.lo = (uintptr_t) mapped;
  g.hi = g.lo + len;
  if (sigsetjmp (g.jump, 0) != 0) {
    active_guard = NULL;
    errno = EIO;
    return -1;
  }
  active_guard = &g;
  atomic_signal_fence (memory_order_seq_cst);
  memcpy (dst, src, len);
  atomic_signal_fence (memory_order_seq_cst);
  active_guard = NULL;
  return 0;
}

/* ---- the mapping ---- */

#define WORD_BITS 64

int
sv_metamap_init (struct sv_metamap *mm, int fd, uint64_t len, bool writable)
{
  uint64_t pages = len / SV_META_PAGE;
  struct stat st;
  void *p;

  mm->base = NULL;
  mm->pages = 0;
  mm->writable = false;
  mm->written = NULL;
  if (!install_guard ()) {
    errno = ENOTSUP;
    return -1;
  }
  /* A store may fault on more than the page it writes where a fault
   * covers more than one metadata page or a page more than one block;
   * the guard copes, but pwrite reports such errors better. */
  if (pages == 0 || pages > SIZE_MAX / SV_META_PAGE
      || sysconf (_SC_PAGESIZE) != SV_META_PAGE
      || fstat (fd, &st) == -1 || st.st_blksize < SV_META_PAGE) {
    errno = EINVAL;
    return -1;
  }
  mm->written = calloc ((pages + WORD_BITS - 1) / WORD_BITS,
                        sizeof *mm->written);
  if (mm->written == NULL)
    return -1;
  p = mmap (NULL, pages * SV_META_PAGE,
            writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    free (mm->written);
    mm->written = NULL;
    errno = e;
    return -1;
  }
  mm->base = p;
  mm->pages = pages;
  mm->writable = writable;
  return 0;
}

void
sv_metamap_free (struct sv_metamap *mm)
{
  if (mm->base)
    munmap (mm->base, mm->pages * SV_META_PAGE);
  free (mm->written);
  mm->base = NULL;
  mm->pages = 0;
  mm->written = NULL;
}

static bool
page_written (const struct sv_metamap *mm, uint64_t p)
{
  uint64_t word = atomic_load_explicit (&mm->written[p / WORD_BITS],
                                        memory_order_relaxed);
  return word & (UINT64_C (1) << (p % WORD_BITS));
}

bool
sv_metamap_covers (const struct sv_metamap *mm, uint64_t p1)
{
  return mm->base != NULL && p1 < mm->pages;
}

bool
sv_metamap_can_store (const struct sv_metamap *mm, uint64_t p0, uint64_t p1)
{
  if (!mm->writable || !sv_metamap_covers (mm, p1))
    return false;
  for (uint64_t p = p0; p <= p1; p++)
    if (!page_written (mm, p))
      return false;
  return true;
}

int
sv_metamap_store (struct sv_metamap *mm, uint64_t off, const void *src,
                  size_t len)
{
  return guarded_copy (mm->base + off, src, len, mm->base + off);
}

int
sv_metamap_load (const struct sv_metamap *mm, uint64_t off, void *dst,
                 size_t len)
{
  return guarded_copy (dst, mm->base + off, len, mm->base + off);
}

/* Set or clear the bits of pages [p0, p1] (those that are mapped). */
static void
set_written (struct sv_metamap *mm, uint64_t p0, uint64_t p1, bool written)
{
  if (mm->base == NULL)
    return;
  for (uint64_t p = p0; p <= p1 && p < mm->pages; p++) {
    uint64_t bit = UINT64_C (1) << (p % WORD_BITS);
    if (written)
      atomic_fetch_or_explicit (&mm->written[p / WORD_BITS], bit,
                                memory_order_relaxed);
    else
      atomic_fetch_and_explicit (&mm->written[p / WORD_BITS], ~bit,
                                 memory_order_relaxed);
  }
}

void
sv_metamap_mark_written (struct sv_metamap *mm, uint64_t p0, uint64_t p1)
{
  set_written (mm, p0, p1, true);
}

void
sv_metamap_forget (struct sv_metamap *mm, uint64_t p0, uint64_t p1)
{
  set_written (mm, p0, p1, false);
}
