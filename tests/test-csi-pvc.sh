#!/bin/bash
# The cluster's part without a cluster (issue 17): two storage hosts on
# loopback (a, b), tenants acme and globex on both, one
# sealvol-csi-controller with both hosts (and a delete-key-file each),
# and two sealvol-csi-node plugins, node-a and node-b
# (SEALVOL_TOPOLOGY_HOST a and b), on sockets of their own.
# tests/csi_pvc.py sends, for each tenant, the calls csi-provisioner,
# kubelet and csi-resizer send for a PVC of a WaitForFirstConsumer
# StorageClass (create, stage, publish, files, stats, controller and node
# expansion with df growing, unpublish, unstage, delete): acme's pod on
# node-a and globex's on node-b, then swapped, each volume landing on the
# host of its pod's node.  Then globex's secrets try every call on acme's
# volume (delete, expand, validate, stage on either node, a create with
# its name, ListVolumes) and none reaches it.
# E2E_PVC_ROUNDS=none runs only the isolation part; E2E_DEPLOY names
# another deploy/kubernetes/base to take the StorageClasses and the
# provisioner's flags from.
# The tenants' Secrets are what `sealvol tenant kube-secret` prints on
# each host, joined per namespace as its manual page says.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import grpc, grpc_tools, yaml'
source "$top_srcdir/tests/csi-controller-setup.sh"
python_stubs "$TMP/py"

TENANTS="acme globex"
start_storage_host a $TENANTS
start_storage_host b $TENANTS
for h in a b; do
    host_section "$h"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMP/$h.delete-key"
    chmod 600 "$TMP/$h.delete-key"
    echo "delete-key-file = $TMP/$h.delete-key"
done >"$TMP/controller.ini"
start_controller "$TMP/controller.ini"
start_node a node-a
NODE_A=$NODE_SOCK
start_node b node-b
NODE_B=$NODE_SOCK

# tenant_secret_yaml HOST TENANT: the Secret sealvol-tenant of namespace
# TENANT that HOST's operator hands out (sealvol tenant kube-secret): the
# tenant's API token there as access-token.HOST, its NBD client
# certificate and key, and the CA that verifies the host.
tenant_secret_yaml () {
    printf '%s\n' "${TOKEN[$1/$2]}" >"$TMP/$1-$2.token"
    "$SEALVOL" --root "$TMP/$1" tenant kube-secret "$2" --namespace "$2" --host "$1" \
        --with-secrets --token-file "$TMP/$1-$2.token" --client-dir "$P/$2" 2>>"$TMP/kube-secret.log" ||
        fail "kube-secret $2 on $1: $(tail -3 "$TMP/kube-secret.log")"
    rm "$TMP/$1-$2.token"
}
for t in $TENANTS; do
    mkdir -p "$TMP/secrets/$t"
    for h in a b; do tenant_secret_yaml "$h" "$t" >"$TMP/secrets/$t/$h.yaml"; done
done

status=0
E2E_TMP=$TMP E2E_CTL="unix://$CTL_SOCK" E2E_PKI=$P SEALVOL=$SEALVOL \
E2E_HOSTS="a=$TMP/a=${TOKEN[a]} b=$TMP/b=${TOKEN[b]}" \
E2E_NODES="node-a=unix://$NODE_A node-b=unix://$NODE_B" \
E2E_SECRETS=$TMP/secrets E2E_DEPLOY=${E2E_DEPLOY:-$top_srcdir/deploy/kubernetes/base} \
E2E_PVC_ROUNDS=${E2E_PVC_ROUNDS:-all} \
    $PY "$top_srcdir/tests/csi_pvc.py" || status=$?
if [ "$status" != 0 ]; then
    echo "---- controller.log:"; grep -v GetCapabilities "$TMP/controller.log" | tail -20
    for n in a b; do echo "---- node-$n.log:"; tail -10 "$TMP/node-node-$n.log"; done
    for h in a b; do echo "---- $h-api.log:"; tail -5 "$TMP/$h-api.log"; done
    fail "csi_pvc.py exited $status"
fi
# No secret of a tenant in any log.
for t in $TENANTS; do
    for h in a b; do
        secret=${TOKEN[$h/$t]#*.}
        ! grep -rqF -- "$secret" "$TMP"/*.log || fail "$t's token for $h is in a log"
    done
done
echo "$0: passed"
