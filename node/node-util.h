/* What the node plugin needs from the host: running the standard tools
 * (losetup, mkfs, mount, resize2fs, nbd-client) and reading the mount
 * table. */
#ifndef SEALVOL_NODE_UTIL_H
#define SEALVOL_NODE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

/* Run PROG with the NULL-terminated arguments after it, stdin from
 * /dev/null, for at most 5 minutes.  What it printed (stdout or stderr:
 * its first and last lines) is left in OUT for an error message.  Returns
 * the exit status, or -1 if it could not be run, died of a signal or was
 * killed at the deadline. */
int run (char *out, size_t outlen, const char *prog, ...)
  __attribute__ ((sentinel));
int run_argv (char *out, size_t outlen, const char *const argv[]);

/* Start ARGV[0] (searched in $PATH) with stdin from /dev/null and
 * stdout and stderr on OUT_FD, in a session of its own if NEW_SESSION.
 * Returns its pid, or -1 with errno. */
pid_t spawn (const char *const argv[], int out_fd, bool new_session);

/* True if PATH is a mount point; its filesystem type goes to FSTYPE
 * (which may be NULL). */
bool mount_point (const char *path, char *fstype, size_t fstype_len);

/* umount PATH if it is mounted (not following a symlink there).  0 or
 * -1 with errno. */
int unmount_if_mounted (const char *path);

/* Remove DIR and everything in it; 0 if it is gone. */
int remove_tree (const char *dir);

/* Wait up to MS milliseconds for COND (polled every 50 ms). */
#define WAIT_UNTIL(cond, ms)                                    \
  ({ int waited_ = 0;                                           \
     while (!(cond) && waited_ < (ms)) {                        \
       usleep (50000); waited_ += 50;                           \
     }                                                          \
     (cond); })

#endif
