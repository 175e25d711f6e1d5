#!/usr/bin/env bash
# test-crash.sh on the RBD store: random SIGKILLs of the gateway under
# stamping writers, the dead gateway's locks broken, every block checked.
CRASH_ROUNDS=${CRASH_ROUNDS:-4} SEALVOL_BACKEND=rbd exec "${top_srcdir:-$(dirname "$0")/..}/tests/test-crash.sh"
