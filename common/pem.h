/* sealvol: the PEM blocks of a file's text, and nothing else.
 *
 * For tenant kube-secret, which puts certificates and keys into a YAML
 * literal block: what it copies must be PEM and nothing that could end
 * the block or change its meaning.  certtool writes a text dump of the
 * certificate or key before the PEM (for a key, its private numbers in
 * hex), which must not travel with it.
 */
#ifndef SEALVOL_PEM_H
#define SEALVOL_PEM_H

#include <stdbool.h>

/* Copy the PEM blocks of in (NUL-terminated) to out (room for
 * strlen (in) + 2 bytes), each line ending in "\n" and without a "\r",
 * NUL-terminated; the text around the blocks is dropped.  A block runs
 * from a line "-----BEGIN LABEL-----" to the next line that starts
 * "-----END "; every line of it must be printable ASCII.  With key, every
 * LABEL must be an unencrypted private key ("PRIVATE KEY", "EC PRIVATE
 * KEY", ...), else "CERTIFICATE".  The number of blocks, or -1 with *why
 * set (a block of another label, a byte outside printable ASCII in a
 * block, a block without an end). */
int sv_pem_blocks (const char *in, char *out, bool key, const char **why);

#endif
