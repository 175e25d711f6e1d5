#!/bin/bash
# CSI with fs_type xfs: noatime, ALREADY_EXISTS for ext4, no reformat on
# restage, restage without fs_type, online expansion.
# Checks: tests/csi_test.py, group "xfs"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=xfs exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
