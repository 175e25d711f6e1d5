/* sealvol: crash points for tests.
 *
 * sv_fault_point ("rotate:after-rewrap") ends the process on the spot
 * (_exit, no cleanup, nothing flushed that was not already) when the
 * environment variable SEALVOL_FAULT_POINT names that point.  Compiled in
 * only with ./configure --enable-test-hooks (the test runner's build); in
 * other builds it is an empty inline and the variable is ignored.
 */
#ifndef SEALVOL_FAULT_H
#define SEALVOL_FAULT_H

#ifdef SEALVOL_TEST_HOOKS
void sv_fault_point (const char *name);
#else
static inline void sv_fault_point (const char *name) { (void) name; }
#endif

#endif
