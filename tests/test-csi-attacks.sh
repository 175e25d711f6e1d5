#!/bin/bash
# Issue 14's attacks on the CSI node plugin, each done as the outside
# review did it, by tests/test-csi.sh in its attacks mode (sealvol-attach
# + loop, real nbdkit over TLS on 127.0.0.1, a real gRPC client):
#   break 2: one volume staged from 127.0.0.1:P and from localhost:P under
#            two volume ids must not be mounted twice;
#   break 6: a setuid-root program on a volume, run by nobody, must not
#            get euid 0, nor a device node there open.
# See tests/csi_test.py (attacks) for the checks.
CSI_TEST_CHECKS=attacks exec bash "${top_srcdir:-$(dirname "$0")/..}/tests/test-csi.sh"
