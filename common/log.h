/* sealvol: log lines with levels, for the programs that run on their own
 * (sealvol-attach, sealvol-csi-node).
 *
 * Each line is "PROGRAM: LEVEL: MESSAGE" on stderr, written with one
 * write(2) so that lines from several threads do not interleave.
 * $SEALVOL_LOG_LEVEL (error, warning, info or debug; default info) says
 * which levels are printed.  A message names a secret's file, never its
 * value; mount flags are not logged either.  sv_log preserves errno.
 */
#ifndef SEALVOL_LOG_H
#define SEALVOL_LOG_H

enum sv_log_level { SV_LOG_ERROR, SV_LOG_WARNING, SV_LOG_INFO, SV_LOG_DEBUG };

/* PROGRAM starts every line; the level comes from $SEALVOL_LOG_LEVEL.
 * Returns -1 if that names no level (the level stays info). */
int sv_log_init (const char *program);

void sv_log (enum sv_log_level level, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

#define log_error(...) sv_log (SV_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) sv_log (SV_LOG_WARNING, __VA_ARGS__)
#define log_info(...) sv_log (SV_LOG_INFO, __VA_ARGS__)
#define log_debug(...) sv_log (SV_LOG_DEBUG, __VA_ARGS__)

#endif
