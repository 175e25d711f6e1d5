#!/bin/bash
# CSI: the node plugin's processes and set-up: a read-only publish keeps
# nosuid,nodev,noexec; the attach program starts with no blocked signal;
# a storage host that never answers times out; a state directory through
# a symlink, one owned by another uid, an endpoint that is a file.
# Checks: tests/csi_test.py, group "isolation"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=isolation exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
