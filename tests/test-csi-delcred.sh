#!/bin/bash
# sealvol-csi-controller without the tenant's Secret: a volume created
# with a delete-key-file in the host's section is deleted by DeleteVolume
# with empty secrets after the tenant's token is revoked (its namespace
# and Secret are gone), idempotently, through the volume's own delete
# credential; and a tenant whose tenant.conf has no [serve] attach gets
# FAILED_PRECONDITION naming the host, the tenant and the setting.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import grpc, grpc_tools'
source "$top_srcdir/tests/csi-controller-setup.sh"

start_storage_host alpha
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/delete.key"
echo >>"$TMP/delete.key"
chmod 600 "$TMP/delete.key"
{ host_section alpha; echo "delete-key-file = $TMP/delete.key"; } >"$TMP/controller.ini"
"$SEALVOL" --root "$TMP/alpha" tenant create bravo >/dev/null
BRAVO=$("$SEALVOL" --root "$TMP/alpha" tenant token create bravo)
start_controller "$TMP/controller.ini"

mkdir -p "$TMP/py"
$PY -m grpc_tools.protoc -I"$top_srcdir/csi" -I/usr/include \
    --python_out="$TMP/py" --grpc_python_out="$TMP/py" csi.proto ||
    fail "grpc_tools.protoc could not compile csi/csi.proto"

# rpc METHOD JSON-REQUEST: prints CODE and the response's volume id (or
# the error's message).
rpc () {
    PYTHONPATH=$TMP/py $PY - "$CTL_SOCK" "$@" <<'PYEOF'
import json, sys, grpc
import csi_pb2 as pb, csi_pb2_grpc as g
from google.protobuf import json_format
sock, method, body = sys.argv[1:4]
stub = g.ControllerStub(grpc.insecure_channel("unix://" + sock))
req = getattr(pb, method + "Request")()
json_format.Parse(body, req)
try:
    resp = getattr(stub, method)(req, timeout=60)
    print("OK", getattr(resp, "volume").volume_id if method == "CreateVolume" else "")
except grpc.RpcError as e:
    print(e.code().name, e.details())
PYEOF
}
cap='"volumeCapabilities": [{"mount": {}, "accessMode": {"mode": "SINGLE_NODE_WRITER"}}]'

out=$(rpc CreateVolume "{\"name\": \"pvc-del\", $cap, \"capacityRange\": {\"requiredBytes\": 1048576},
      \"secrets\": {\"access-token\": \"${TOKEN[alpha]}\"}}")
read -r code id <<<"$out"
[ "$code" = OK ] || fail "CreateVolume: $out"
vol=${id##*/}
[ -e "$TMP/alpha/acme/volumes/$vol" ] || fail "no volume $vol on the host"
grep -q '"scope": *"delete"' "$TMP/alpha/acme/tokens.json" || fail "no delete credential registered"

# The tenant's namespace and Secret are gone: its token is revoked.
"$SEALVOL" --root "$TMP/alpha" tenant token revoke acme "${TOKEN[alpha]%.*}" >/dev/null
out=$(rpc DeleteVolume "{\"volumeId\": \"$id\"}")
[ "$out" = "OK " ] || fail "DeleteVolume without secrets: $out"
[ -e "$TMP/alpha/acme/volumes/$vol" ] && fail "DeleteVolume without secrets left $vol"
out=$(rpc DeleteVolume "{\"volumeId\": \"$id\"}")
[ "$out" = "OK " ] || fail "DeleteVolume again: $out"
grep -q "deleted $id with its delete credential" "$TMP/controller.log" ||
    fail "the controller did not say how it deleted"
grep -qF "$(cut -c1-64 "$TMP/delete.key")" "$TMP/controller.log" "$TMP/alpha-api.log" &&
    fail "the delete key is in a log"

# No [serve] attach for tenant bravo: FAILED_PRECONDITION, and why.
out=$(rpc CreateVolume "{\"name\": \"pvc-noattach\", $cap, \"secrets\": {\"access-token\": \"$BRAVO\"}}")
[[ $out == FAILED_PRECONDITION* ]] || fail "no attach: $out"
for w in "host alpha" "tenant bravo" "[serve] attach = HOST:PORT" tenant.conf; do
    [[ $out == *"$w"* ]] || fail "no attach: the message lacks '$w': $out"
done
echo "ok: csi controller delete credential, attach not configured"
