/* sealvol: per-thread scratch buffers for the data path.
 *
 * Each thread keeps its own page-aligned buffers, grown on demand and
 * reused across requests, so a request allocates nothing.  They hold
 * ciphertext, metadata and merged plaintext of the current request only.
 */
#ifndef SEALVOL_SCRATCH_H
#define SEALVOL_SCRATCH_H

#include <stddef.h>

enum sv_scratch_kind { SV_SCRATCH_CIPHER, SV_SCRATCH_PLAIN, SV_SCRATCH_META,
                       SV_SCRATCH_NONCE,
                       SV_SCRATCH_BLOCK,  /* one block read on the side */
                       SV_SCRATCH_KINDS };

/* A buffer of at least len bytes, or NULL (errno = ENOMEM). */
void *sv_scratch (enum sv_scratch_kind kind, size_t len);

#endif
