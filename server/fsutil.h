/* sealvol: small file helpers shared by the store and the CLI. */
#ifndef SEALVOL_FSUTIL_H
#define SEALVOL_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* pread/pwrite the whole range, retrying short transfers and EINTR.
 * A read that hits end of file fails with errno = EIO: every store file
 * has a known size, so a short read means it was truncated. */
int sv_read_all (int fd, void *buf, size_t len, uint64_t off);
int sv_write_all (int fd, const void *buf, size_t len, uint64_t off);

/* Atomically replace dir/name with data: write a temporary file, fsync,
 * rename over, fsync the directory. */
int sv_replace_file (const char *dir, const char *name, const void *data,
                     size_t len, mode_t mode);
/* The same, durable or not (statistics need not survive a crash). */
int sv_replace_file_ex (const char *dir, const char *name, const void *data,
                        size_t len, mode_t mode, bool durable);
int sv_fsync_dir (const char *dir);

#endif
