#!/bin/bash
# CSI block access: the device at the target, data written through it
# read back through the storage server and after a restage, read-only
# publish, expansion.
# Checks: tests/csi_test.py, group "block"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=block exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
