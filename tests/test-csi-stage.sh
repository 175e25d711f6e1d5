#!/bin/bash
# CSI NodeStageVolume refusals: a missing export, an untrusted or absent
# certificate, a closed port, bad secrets, context or capability each get
# their status code and leave nothing behind; a PSK tenant stages (a
# wrong PSK is UNAUTHENTICATED), also at paths with a space and a tab.
# Checks: tests/csi_test.py, group "stage"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=stage exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
