/* sealvol: one place where library errors become one-line messages.
 *
 * The libraries never print.  The host program installs a handler: the
 * CLI prints "sealvol: MESSAGE" on stderr, the plugin calls nbdkit_error.
 * sv_error preserves errno so callers can report and then return -1.
 */
#ifndef SEALVOL_REPORT_H
#define SEALVOL_REPORT_H

typedef void (*sv_error_handler) (const char *msg);

void sv_set_error_handler (sv_error_handler fn);
void sv_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif
