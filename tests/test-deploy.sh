#!/bin/bash
# deploy/: every manifest parses; the overlays render (here and, where
# kubectl has kustomize, by it too, identically); every ServiceAccount
# they name exists; no ClusterRole grants secrets or '*'; each sidecar's
# rules are its documented minimum exactly; every container requests
# resources, has a read-only root and a release-tagged image; the
# StorageClasses name Secrets in ${pvc.namespace} only; the RBAC adds up
# to: the cluster-wide controller gets exactly sealvol-tenant in each of
# its tenant namespaces, a per-namespace controller exactly its own, and
# neither can list or watch secrets anywhere; the Containerfiles install
# the package of every library the binaries link (ldd, dpkg); and
# docs/kubernetes.md shows the deploy files as they are.  The checks are
# tests/deploy_check.py.
source "${top_srcdir:-.}/tests/functions.sh"

requires $PY -c 'import yaml'
requires dpkg-query --version
$PY "$top_srcdir/tests/deploy_check.py" "$top_srcdir" "${top_builddir:-.}" \
  || fail "deploy checks failed (above)"

# The node plugin and the controller report the driver name the
# per-namespace overlay gives them, and refuse one the CSI spec does not
# allow.
tmp=$(mktemp -d) && cleanup_fn rm -rf "$tmp"
name=$(grep -ho 'value: tenant-c.csi.sealvol.org' \
         "$top_srcdir/deploy/kubernetes/overlays/per-namespace/node/driver.yaml" | awk '{print $2}')
[ "$name" = tenant-c.csi.sealvol.org ] || fail "per-namespace driver name not found"
CSI_ENDPOINT=unix://$tmp/n.sock SEALVOL_CSI_DRIVER_NAME=$name SEALVOL_CSI_STATE_DIR=$tmp/st \
  SEALVOL_TOPOLOGY_HOST=alpha "${top_builddir:-.}/sealvol-csi-node" 2>"$tmp/log" &
pid=$!
cleanup_fn end_process $pid
for _ in $(seq 50); do [ -S "$tmp/n.sock" ] && break; sleep 0.1; done
$PY "$top_srcdir/scripts/csi-call" "unix://$tmp/n.sock" Identity.GetPluginInfo >"$tmp/info" \
  || fail "GetPluginInfo"
grep -q "\"name\": \"$name\"" "$tmp/info" || fail "node plugin reports $(cat "$tmp/info")"
for prog in sealvol-csi-node "sealvol-csi-controller --config /dev/null"; do
  # shellcheck disable=SC2086
  rc=0
  SEALVOL_CSI_DRIVER_NAME=-bad.name CSI_ENDPOINT=unix://$tmp/x.sock \
    "${top_builddir:-.}"/$prog 2>"$tmp/err" || rc=$?
  [ $rc = 2 ] && grep -q SEALVOL_CSI_DRIVER_NAME "$tmp/err" || fail "$prog took a bad driver name"
done
echo "PASS: deploy"
