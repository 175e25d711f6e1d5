/* sealvol: one place where library errors become one-line messages.
 *
 * The libraries never print.  The host program installs a handler: the
 * CLI prints "sealvol: MESSAGE" on stderr, the plugin calls nbdkit_error.
 * sv_error preserves errno so callers can report and then return -1.
 */
#ifndef SEALVOL_REPORT_H
#define SEALVOL_REPORT_H

#include <stddef.h>

typedef void (*sv_error_handler) (const char *msg);

void sv_set_error_handler (sv_error_handler fn);
void sv_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* Text a client chose (an export name), made safe for a log line, so that
 * a newline in it cannot start a forged line: printable ASCII stays, a
 * backslash becomes \\ and any other byte \xHH.  What does not fit in
 * out (len bytes, at least 8) is cut and "..." marks the cut.  Returns
 * out. */
#define SV_ESCAPED_LEN(n) (4 * (n) + 4)   /* room for n bytes, escaped */
const char *sv_log_escape (const char *in, char *out, size_t len);

#endif
