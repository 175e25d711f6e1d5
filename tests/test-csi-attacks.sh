#!/bin/bash
# Attacks on the CSI node plugin, each done as an attacker would
# (sealvol-attach + loop, real nbdkit over TLS on 127.0.0.1, a real gRPC
# client):
#   one export staged from 127.0.0.1:P and from localhost:P under two
#   volume ids is never mounted twice;
#   a setuid-root program on a volume, run by nobody, never gets euid 0,
#   nor does a device node there open.
# Checks: tests/csi_test.py, group "attacks"; set-up: tests/test-csi.sh.
CSI_TEST_CHECKS=attacks exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
