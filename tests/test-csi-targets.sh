#!/bin/bash
# CSI: what the node plugin accepts and touches: volume ids with a newline,
# ports out of range and unsafe mount flags are refused; unpublish leaves
# alone what the plugin did not make; publish refuses targets of the
# wrong kind; non-canonical paths are the same paths; a block target
# flipped read-only or unmounted behind the plugin's back.
# Checks: tests/csi_test.py, group "targets"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=targets exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
