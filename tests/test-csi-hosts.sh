#!/bin/bash
# sealvol-csi-controller over two storage hosts on loopback (tests/csi-
# controller-setup.sh, twice: two roots, two control APIs, two nbdkit
# ports; one controller with [host a] and [host b]), driven by a real gRPC
# client (tests/csi_e2e.py hosts).  Host a's tenant has [caps] capacity =
# 64M.  GetCapacity per topology segment; CreateVolume with a requirement
# naming b (then a) lands there (accessible_topology, the host's root);
# GetCapacity a drops by the size; with no requirement a 128 MiB volume
# goes to b, the host with room; a requirement of a alone for it is
# RESOURCE_EXHAUSTED; once a is full (GetCapacity 0) a volume preferring a
# goes to b; with b's API stopped, CreateVolume requiring b is
# UNAVAILABLE in under 5 s, and GetCapacity b fails as fast; with a
# listener on b's port that never answers, UNAVAILABLE in under 8 s
# (the host's timeout is 4 s).
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import grpc, grpc_tools'
source "$top_srcdir/tests/csi-controller-setup.sh"
python_stubs "$TMP/py"

start_storage_host a
printf '[caps]\ncapacity = 64M\n' >>"$TMP/a/acme/tenant.conf"
start_storage_host b
API_PID_B=${SERVICE_PIDS[-1]}       # start_storage_host starts the API last
grep -q -- "api serve --listen 127.0.0.1:${API_PORT[b]}" "/proc/$API_PID_B/cmdline" 2>/dev/null ||
    tr '\0' ' ' <"/proc/$API_PID_B/cmdline" | grep -q "api serve --listen 127.0.0.1:${API_PORT[b]}" ||
    fail "pid $API_PID_B is not host b's API"
{ host_section a; host_section b; } >"$TMP/controller.ini"
# A host that is down must not hold a call for long: connect within 2 s.
sed -i 's/^timeout = .*/timeout = 4/' "$TMP/controller.ini"
start_controller "$TMP/controller.ini"

status=0
E2E_TMP=$TMP E2E_CTL="unix://$CTL_SOCK" E2E_PKI=$P \
E2E_HOSTS="a=$TMP/a=${TOKEN[a]} b=$TMP/b=${TOKEN[b]}" E2E_API_PID_b=$API_PID_B E2E_API_PORT_b=${API_PORT[b]} \
SEALVOL=$SEALVOL $PY "$top_srcdir/tests/csi_e2e.py" hosts || status=$?
if [ "$status" != 0 ]; then
    echo "---- controller.log:"; grep -v ControllerGetCapabilities "$TMP/controller.log" | tail -30
    echo "---- a-api.log:"; tail -5 "$TMP/a-api.log"
    echo "---- b-api.log:"; tail -5 "$TMP/b-api.log"
    fail "csi_e2e.py hosts exited $status"
fi
echo "$0: passed"
