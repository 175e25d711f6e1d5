/* sealvol: metadata pairs stored through a shared mapping of the meta
 * file instead of written with pwrite.
 *
 * Every AEAD block write updates its pair in the meta file before its data
 * write.  As a pwrite that is a second trip through the filesystem's write
 * path (inode lock, write_begin/write_end, time update) per request, and it
 * cost 17 % of 4 KiB random-write throughput (docs/performance.md).  A
 * store into a MAP_SHARED mapping lands in the same page-cache page: a
 * later pread sees it, a crash of this process keeps it exactly as it
 * keeps a pwrite, and fdatasync writes it back like any dirty page.  So
 * the metadata-before-data order (docs/format.md) holds unchanged.
 *
 * A store into a file mapping reports failure as SIGBUS, not as an errno:
 * when the page has no blocks yet and the filesystem is full, when reading
 * the page in fails, or when the file shrank.  Hence:
 *  - a page is stored into only once this process has written it with
 *    pwrite since it was last zeroed or punched, so the filesystem has
 *    normally reserved its blocks already (sv_metamap_mark_written); not
 *    mapped at all where a page is not one 4 KiB block;
 *  - the copy runs under a SIGBUS guard that turns the fault into EIO,
 *    and the caller then writes the pairs with pwrite after all, which
 *    reports the real error or succeeds (volume-io.c, store_pairs).
 * Pages past the end of the mapping (a volume grown while it is served)
 * keep using pwrite until the volume is opened again.
 *
 * Loads: readers and writers take the pairs they need from the mapping
 * too (sv_metamap_load), under the same guard, so a read is one pread of
 * its data and a write reads no metadata at all: before, readers never
 * filled the metadata cache, and every read of a volume opened afresh sent
 * its metadata read and its data read through io_uring together.  The
 * mapping is the page cache itself, so a volume that has it keeps no
 * metadata cache of its own (metacache.h).  Read-only opens map the file
 * read-only, for loads only.
 *
 * Locking: the caller holds the range-lock stripe of every page it passes
 * (one stripe per metadata page), as for the metadata cache; the bitmap
 * words shared by pages of different stripes are updated atomically.
 */
#ifndef SEALVOL_METAMAP_H
#define SEALVOL_METAMAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sv_metamap {
  uint8_t *base;                /* NULL: not mapped, everything by pwrite */
  uint64_t pages;               /* pages mapped */
  bool writable;                /* false: loads only */
  _Atomic uint64_t *written;    /* bit per page: safe to store into */
};

/* Map the first len bytes of the meta file fd (whole pages), for loads
 * and, if writable (fd open for writing), stores.  -1 with errno if it
 * cannot be mapped; the volume then reads and writes by pread/pwrite. */
int sv_metamap_init (struct sv_metamap *mm, int fd, uint64_t len,
                     bool writable);
void sv_metamap_free (struct sv_metamap *mm);

/* Are pages [0, p1] mapped (may they be loaded from)? */
bool sv_metamap_covers (const struct sv_metamap *mm, uint64_t p1);

/* Copy len bytes from file offset off out of the mapping: what a pread
 * would return, without the system call.  0, or -1 with errno = EIO if
 * the load faulted (a page that could not be read in, a file that shrank):
 * the caller then reads with pread, which reports the real error. */
int sv_metamap_load (const struct sv_metamap *mm, uint64_t off, void *dst,
                     size_t len);

/* May pages [p0, p1] be stored into? */
bool sv_metamap_can_store (const struct sv_metamap *mm, uint64_t p0,
                           uint64_t p1);

/* Copy len bytes to file offset off through the mapping.  0, or -1 with
 * errno = EIO if the store faulted (what reached the page before the
 * fault stays there, as with a short pwrite). */
int sv_metamap_store (struct sv_metamap *mm, uint64_t off, const void *src,
                      size_t len);

/* Pages [p0, p1] were written with pwrite: later stores are safe. */
void sv_metamap_mark_written (struct sv_metamap *mm, uint64_t p0,
                              uint64_t p1);

/* Pages [p0, p1] were zeroed or punched: back to pwrite for them. */
void sv_metamap_forget (struct sv_metamap *mm, uint64_t p0, uint64_t p1);

/* Put back the SIGBUS action there was before the first map (the plugin
 * calls this when it is unloaded). */
void sv_metamap_uninstall_guard (void);

#endif
