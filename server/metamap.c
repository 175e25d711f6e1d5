/* sealvol: metadata pairs stored through a shared mapping (metamap.h). */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "format.h"
#include "metamap.h"

/* ---- the SIGBUS guard ----
 *
 * One process-wide handler, installed on first use.  A thread inside a
 * guarded copy has fault_jump set; the handler jumps back out of the copy.
 * A SIGBUS anywhere else is not ours: the handler puts back the action
 * there was before and returns, the instruction faults again and gets
 * that action (by default, a core dump).  SA_NODEFER leaves SIGBUS
 * unblocked in the handler, so jumping out needs no signal-mask system
 * call (sigsetjmp without savemask): the copy stays free of system calls.
 * initial-exec TLS: the handler must not call into the dynamic loader. */

static __thread sigjmp_buf *volatile fault_jump
  __attribute__ ((tls_model ("initial-exec")));
static struct sigaction previous_sigbus;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;
static int guard_errno;

static void
on_sigbus (int sig, siginfo_t *info, void *context)
{
  sigjmp_buf *jump = fault_jump;

  (void) sig;
  (void) info;
  (void) context;
  if (jump)
    siglongjmp (*jump, 1);
  sigaction (SIGBUS, &previous_sigbus, NULL);
}

static void
install_guard (void)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset (&sa.sa_mask);
  if (sigaction (SIGBUS, &sa, &previous_sigbus) == -1)
    guard_errno = errno;
}

static int
guarded_copy (void *dst, const void *src, size_t len)
{
  sigjmp_buf jump;

  if (sigsetjmp (jump, 0) != 0) {
    fault_jump = NULL;
    errno = EIO;
    return -1;
  }
  fault_jump = &jump;
  atomic_signal_fence (memory_order_seq_cst);
  memcpy (dst, src, len);
  atomic_signal_fence (memory_order_seq_cst);
  fault_jump = NULL;
  return 0;
}

/* ---- the mapping ---- */

#define WORD_BITS 64

int
sv_metamap_init (struct sv_metamap *mm, int fd, uint64_t len)
{
  uint64_t pages = len / SV_META_PAGE;
  void *p;

  mm->base = NULL;
  mm->pages = 0;
  mm->written = NULL;
  pthread_once (&guard_once, install_guard);
  if (guard_errno) {
    errno = guard_errno;
    return -1;
  }
  if (pages == 0) {
    errno = EINVAL;
    return -1;
  }
  mm->written = calloc ((pages + WORD_BITS - 1) / WORD_BITS,
                        sizeof *mm->written);
  if (mm->written == NULL)
    return -1;
  p = mmap (NULL, pages * SV_META_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
            fd, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    free (mm->written);
    mm->written = NULL;
    errno = e;
    return -1;
  }
  mm->base = p;
  mm->pages = pages;
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
sv_metamap_can_store (const struct sv_metamap *mm, uint64_t p0, uint64_t p1)
{
  if (mm->base == NULL || p1 >= mm->pages)
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
  return guarded_copy (mm->base + off, src, len);
}

void
sv_metamap_mark_written (struct sv_metamap *mm, uint64_t p0, uint64_t p1)
{
  if (mm->base == NULL)
    return;
  for (uint64_t p = p0; p <= p1 && p < mm->pages; p++)
    atomic_fetch_or_explicit (&mm->written[p / WORD_BITS],
                              UINT64_C (1) << (p % WORD_BITS),
                              memory_order_relaxed);
}

void
sv_metamap_forget (struct sv_metamap *mm, uint64_t p0, uint64_t p1)
{
  if (mm->base == NULL)
    return;
  for (uint64_t p = p0; p <= p1 && p < mm->pages; p++)
    atomic_fetch_and_explicit (&mm->written[p / WORD_BITS],
                               ~(UINT64_C (1) << (p % WORD_BITS)),
                               memory_order_relaxed);
}
