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
/* unlink dir/leaf, ignoring errors (clean-up paths). */
void sv_unlink_in (const char *dir, const char *leaf);

/* Files sealvol creates take the owner of the directory they are made in
 * when root makes them: root's CLI creating a volume in a tenant's
 * volumes/ (the serving user's) must leave files that user's server can
 * open.  No-op unless running as root. */
int sv_take_dir_owner (int fd, const char *dir);
/* The directory part of path, malloc'd: "a/b" -> "a", "/a" -> "/",
 * "a" -> ".". */
char *sv_parent_dir (const char *path);
/* mkdir, the new directory taking its parent's owner the same way. */
int sv_mkdir_owned (const char *path, mode_t mode);

/* Whether no user but root and the caller can change what path names:
 * the file and every directory above it (symbolic links resolved) belong
 * to root or the caller and are not writable by group or others; a
 * sticky directory such as /tmp is allowed, as others cannot rename what
 * they do not own in it.  0, or -1 with why (one phrase) filled in. */
int sv_check_path_trusted (const char *path, char *why, size_t len);

#endif
