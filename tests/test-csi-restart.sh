#!/bin/bash
# CSI restarts: the plugin exits promptly on SIGTERM with a client
# connected and carries on after a restart; the storage server SIGKILLed
# and restarted under a writer, which sees no error.
# Checks: tests/csi_test.py, group "restart"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=restart exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
