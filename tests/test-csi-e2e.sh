#!/bin/bash
# End to end through sealvol-csi-controller and sealvol-csi-node with a
# real gRPC client (tests/csi_e2e.py e2e; Python grpcio, stubs generated
# from csi/csi.proto) against a live storage host (tests/csi-controller-
# setup.sh: the control API over TLS, the tenant's nbdkit over TLS with
# client certificates).  For each cipher and each service type (gp,
# piops): CreateVolume with the StorageClass parameters cipher and
# serviceType (the host has them), NodeStage, NodePublish, a file written
# and fsynced, NodeUnpublish, NodeUnstage, ControllerExpandVolume (32 ->
# 64 MiB), NodeStage and NodePublish again, NodeExpandVolume (the
# filesystem grows), the file intact, unpublish, unstage, DeleteVolume
# (twice): no file of the volume is left in the storage root, and the
# saved data and meta files restored under another key do not decrypt
# (`sealvol volume verify` reports integrity failures).
# E2E_EXPAND=CIPHER/TYPE expands only that volume (default: all).
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import grpc, grpc_tools, nbd'
source "$top_srcdir/tests/csi-controller-setup.sh"
python_stubs "$TMP/py"

start_storage_host a
host_section a >"$TMP/controller.ini"
start_controller "$TMP/controller.ini"
start_node a

status=0
E2E_TMP=$TMP E2E_CTL="unix://$CTL_SOCK" E2E_NODE="unix://$NODE_SOCK" E2E_PKI=$P \
E2E_HOSTS="a=$TMP/a=${TOKEN[a]}" E2E_EXPAND=${E2E_EXPAND:-all} SEALVOL=$SEALVOL \
SEALVOL_PLUGIN=$SEALVOL_PLUGIN \
    $PY "$top_srcdir/tests/csi_e2e.py" e2e || status=$?
if [ "$status" != 0 ]; then
    echo "---- controller.log:"; grep -v ControllerGetCapabilities "$TMP/controller.log" | tail -20
    echo "---- node.log:"; tail -20 "$TMP/node.log"
    echo "---- a-api.log:"; tail -10 "$TMP/a-api.log"
    fail "csi_e2e.py e2e exited $status"
fi
echo "$0: passed"
