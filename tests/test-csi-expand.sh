#!/bin/bash
# CSI NodeExpandVolume: OUT_OF_RANGE beyond the storage size, idempotent
# at the current size, an ext4 grown online with its files intact.
# Checks: tests/csi_test.py, group "expand"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=expand exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
