/* sealvol: what a tenant or volume name may be, and size parsing.
 *
 * Names become directory names and NBD export names, so they are checked
 * against a fixed character set before they touch the filesystem:
 * 1-63 characters of [A-Za-z0-9._-], starting with a letter or digit.
 * That rules out "/", "..", NUL, empty and over-long names by construction.
 */
#ifndef SEALVOL_NAMES_H
#define SEALVOL_NAMES_H

#include <stdbool.h>
#include <stdint.h>

/* Returns NULL if valid, else a short reason ("contains '/'", ...). */
const char *sv_name_problem (const char *name);
static inline bool sv_name_ok (const char *name) { return sv_name_problem (name) == NULL; }

/* Split "TENANT/VOL" into its parts (both validated).  Returns -1 and a
 * reason in *why on failure. */
int sv_split_volume_spec (const char *spec, char tenant[64], char volume[64],
                          const char **why);

/* Parse SIZE with optional K, M, G, T suffix (powers of 1024). */
int sv_parse_size (const char *s, uint64_t *out);

/* Format a byte count as a short human string ("64M", "1.5G"). */
void sv_format_size (uint64_t bytes, char *buf, unsigned len);

#endif
