#!/bin/bash
# The layering of the folders and the absence of module cycles hold
# (scripts/check-deps.sh): no folder uses a folder that depends on it, and
# no two modules use each other.
source "${top_srcdir:-.}/tests/functions.sh"

bash "$top_srcdir/scripts/check-deps.sh" "$top_srcdir" || fail "dependency violations (above)"
