#!/bin/bash
# The CSI mount lifecycle on ext4: stage, publish, write, unpublish,
# unstage, each repeated; stage again with the files intact; read-only
# and reader-only publishes; stats; the status codes of conflicting and
# incomplete requests (csi-sanity's missing fields, unknown volumes).
# Checks: tests/csi_test.py, group "lifecycle"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=lifecycle exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
